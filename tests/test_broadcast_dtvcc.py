"""CEA-708 DTVCC services: the code sets, the transport (packets, blocks), the schedule, the PMT's caption
service descriptor, then real TS files (H.264 SEI and MPEG-2 user data) read back by the tests' own 708 reader
(``dtvccreader``) and, for CC1, by FFmpeg's 608 decoder."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from cinealert.broadcast.captions import Cue
from cinealert.broadcast.cea708 import CaptionInserter, DtvccTrack, Service, dtvcc_triplets, plan_services
from cinealert.broadcast.cea708.dtvcc import (
    BLOCK_MAX,
    decode_units,
    layout,
    packet,
    service_blocks,
    text_units,
)
from cinealert.broadcast.encode import Profile, make_profile
from cinealert.broadcast.mpegts import CaptionServiceEntry
from cinealert.broadcast.mpegts import caption_service_descriptor as build_descriptor
from cinealert.render.loop import NTSC_FPS
from dtvccreader import caption_service_descriptor, read_dtvcc
from test_broadcast_cea708 import SEG, H, W, decode_608, encode
from tsreader import parse_pmt, sections

CUES = [
    Cue("ko", 2.5, 3.6, ("홍수 경보: 저지대를 떠나십시오",)),
    Cue("en", 2.5, 3.6, ("Flood warning for Río Grande:", "leave low ground “now”…")),
    Cue("ko", 3.9, 5.2, ("한강 주변 산책로 이용을 자제하십시오",)),
    Cue("en", 3.7, 5.5, ("Go to the café on Ñandú St. ½ mile",)),
]


def test_characters_take_g0_g1_g2_and_p16() -> None:
    units, dropped = text_units("Aé…♪", "en")
    assert units == [b"A", b"\xe9", b"\x10\x25", b"\x7f"] and dropped == 0
    # Korean: KS X 1001 code points (EUC-KR byte pairs) after P16 (0x18); ASCII stays G0.
    units, dropped = text_units("홍수 A", "ko-KR")
    assert units == [b"\x18\xc8\xab", b"\x18\xbc\xf6", b" ", b"A"] and dropped == 0
    assert decode_units(units, "ko-KR") == "홍수 A"
    # Hangul in a service without a national code, an emoji, a syllable outside KS X 1001: dropped, counted.
    assert text_units("홍수", "en") == ([], 2)
    assert text_units("가😀", "ko") == ([b"\x18\xb0\xa1"], 1)
    assert text_units("똠", "ko") == ([], 1)  # not among KS X 1001's 2,350 syllables
    assert text_units("Łódź", "en")[0] == [b"L", b"\xf3", b"d", b"z"]  # stand-ins, then base letters


def test_packets_and_service_blocks() -> None:
    units = [b"\x98" + bytes(6)] * 6  # 42 bytes of 7-byte commands: never split across blocks
    blocks = service_blocks(2, units)
    assert blocks[0] == (2 << 5) | 28 and blocks[29] == (2 << 5) | 14 and len(blocks) == 44
    assert service_blocks(9, [b"A"]) == bytes([(7 << 5) | 1, 9]) + b"A"  # extended service number
    p = packet(5, b"\x21A")  # sequence mod 4, size code: 2 bytes a unit, header included, padded even
    assert p == bytes([(1 << 6) | 2]) + b"\x21A\x00"
    assert packet(0, bytes(127))[0] == 0  # 128 bytes: size code 0
    assert BLOCK_MAX == 31


def test_plan_and_descriptor() -> None:
    plan = plan_services(["ko-KR", "en-US"])
    assert plan.cc1 == "en-US" and [(s.number, s.language) for s in plan.services] == [
        (1, "en-US"),
        (2, "ko-KR"),
    ]
    entries = caption_service_descriptor(plan.descriptor()[2:])
    assert plan.descriptor()[0] == 0x86
    assert entries == [
        {"language": "eng", "digital_cc": False, "line21_field": 0, "easy_reader": False, "wide": True,
         "korean_code": 1},
        {"language": "eng", "digital_cc": True, "service": 1, "easy_reader": False, "wide": True, "korean_code": 1},
        {"language": "kor", "digital_cc": True, "service": 2, "easy_reader": False, "wide": True, "korean_code": 0},
    ]  # fmt: skip
    korean = plan_services(["ko"])
    assert korean.cc1 is None and [s.language for s in korean.services] == ["ko"]
    japanese = plan_services(["ja-JP", "en"])
    assert [s.language for s in japanese.services] == ["en"] and japanese.not_carried == ("ja-JP",)
    assert plan_services(["ja"]).descriptor() == b""
    with pytest.raises(ValueError):
        build_descriptor([CaptionServiceEntry("eng", True, service=64)])


def test_schedule_meets_cue_times_within_the_channel_budget() -> None:
    services = [Service(1, "en"), Service(2, "ko")]
    per_picture = dtvcc_triplets(NTSC_FPS)
    assert per_picture == 18 and dtvcc_triplets(Fraction(60000, 1001)) == 8
    track = DtvccTrack(services, CUES, NTSC_FPS, per_picture, first_frame=30)
    assert all(not track.triplets(f) for f in range(30))  # frames already coded are never touched
    sizes = [len(track.triplets(f)) for f in range(400)]
    assert max(sizes) <= per_picture
    frame = 1 / 29.97
    for service, lang in ((1, "en"), (2, "ko")):
        shown = [s for s in track.shown if s.service == service]
        cues = [c for c in CUES if c.language == lang]
        assert [s.text for s in shown] == ["\n".join(c.lines) for c in cues]
        for s, c in zip(shown, cues, strict=True):
            assert abs(s.start_s - c.start_s) <= frame + 1e-9, (service, s, c)
    # 608-only cc_data keeps its size with DTVCC in: cc_count 20 at 29.97.
    ins = CaptionInserter("libx264", NTSC_FPS, ["en"])
    ins.load(CUES)
    assert {len(ins.cc_data(f)) for f in range(200)} == {2 + 3 * 20}
    lines, dropped, columns = layout(Cue("ko", 0, 1, ("홍수 경보",)), "ko")
    assert columns == 9 and dropped == 0 and len(lines) == 1  # a Hangul syllable takes two columns


@pytest.mark.parametrize("codec", ["h264", "mpeg2video"])
def test_ts_services_decode_to_the_cues(tmp_path: Path, codec: str) -> None:
    profile = (
        make_profile("atsc1", size=(W, H), atsc1_video="h264")
        if codec == "h264"
        else Profile("atsc1", "ts", "mpeg2video", "ac3", W, H, video_kbps=800)
    )
    n = 3 * SEG
    path = encode(tmp_path, profile, n, captions=lambda: CUES, language="ko", alternate_languages=["en"],
                  alternates=None)  # fmt: skip
    data = path.read_bytes()
    services, pkts, length = read_dtvcc(data, {1: None, 2: "euc_kr"})
    assert set(services) == {1, 2}
    frame = 1 / 29.97
    # Cues handed over lazily after the first segment: the load starts at SEG; shows within a frame of the cue.
    for number, lang in ((1, "en"), (2, "ko")):
        got = services[number].captions(length)
        cues = [c for c in CUES if c.language == lang]
        assert [text for _s, _e, text in got] == ["\n".join(c.lines) for c in cues], number
        for (start, end, _t), cue in zip(got, cues, strict=True):
            assert abs(start - cue.start_s) <= frame + 1e-6, (number, start, cue)
            assert abs(end - cue.end_s) <= frame + 1e-6 or end >= cue.start_s + 1.0 - 1e-6, (number, end, cue)
        for w in services[number].defines:  # at the top, centred, sized to the text
            assert w.anchor == (1, 0, 105) and w.rows <= 2 and w.columns <= 42 and not w.visible
    assert pkts[0].time_s >= SEG * 1001 / 30000 - 1e-6
    peak = max(len(p.data) + 1 for p in pkts) * 8 * 29.97
    assert (
        0 < sum(len(p.data) + 1 for p in pkts) * 8 / length < peak <= 18 * 16 * 29.97
    )  # beside the 608 pairs
    # The PMT names CC1 and both services on the video stream.
    pmt = parse_pmt(sections(data, 0x1000)[0])
    video = next(s for s in pmt.streams if s.stream_type in (0x02, 0x1B))
    body = video.descriptor(0x86)
    assert body is not None
    assert [(e["language"], e["digital_cc"], e.get("service")) for e in caption_service_descriptor(body)] == [
        ("eng", False, None), ("eng", True, 1), ("kor", True, 2),
    ]  # fmt: skip
    # FFmpeg's 608 decoder still reads CC1 (the English cues) with the DTVCC packets beside it.
    assert [text for _s, _e, text in decode_608(path)] == [
        "Flood warning for Río Grande:\nleave low ground “now”...",
        "Go to the café on Ñandú St. ½\nmile",
    ]
