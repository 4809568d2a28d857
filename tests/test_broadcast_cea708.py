"""A/53 captions in the coded video: bit layout here, then real TS files checked with FFmpeg's own parsers
(ffprobe's caption detection, the ``trace_headers`` SEI dump and the ``ccaption_dec`` 608 decoder)."""

from __future__ import annotations

import random
import re
import subprocess
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from cinealert.broadcast.captions import Cue
from cinealert.broadcast.cea708 import (
    EDM,
    ENM,
    EOC,
    RCL,
    CaptionError,
    CaptionInserter,
    CaptionTrack,
    add_emulation_prevention,
    atsc_user_data,
    cc_count_for,
    cc_data,
    choose_language,
    insert_h264_sei,
    insert_mpeg2_user_data,
    odd_parity,
    pac,
    popon_units,
    remove_emulation_prevention,
    sei_t35_nal,
    text_pairs,
    to_608,
)
from cinealert.broadcast.encode import Profile, encode_ts, frames_per_segment, make_profile
from cinealert.render.loop import NTSC_FPS

W, H = 160, 96
SEG = frames_per_segment(2.002)

CUES = [
    Cue("en", 3.4, 4.6, ("Flood warning for Río Grande:", "leave low ground now!")),
    Cue("ko", 3.4, 4.6, ("홍수 경보: 저지대를 떠나십시오",)),
    Cue("en", 4.8, 5.85, ("Go to the café on Ñandú St. ½ mile",)),
]


# --- bit layout -----------------------------------------------------------------------------------------------


def scc(pair: tuple[int, int]) -> str:
    """A pair as the hex word Scenarist SCC files use (parity applied): the industry's own notation."""
    return f"{odd_parity(pair[0]):02x}{odd_parity(pair[1]):02x}"


def test_parity_is_odd_and_keeps_the_code() -> None:
    for code in range(128):
        byte = odd_parity(code)
        assert byte & 0x7F == code
        assert bin(byte).count("1") % 2 == 1
    # Control words as they appear in SCC files.
    assert [scc(RCL), scc(ENM), scc(EOC), scc(EDM)] == ["9420", "94ae", "942f", "942c"]
    assert [scc(pac(14, 0)), scc(pac(15, 0)), scc(pac(15, 4)), scc(pac(1, 0))] == [
        "94d0",
        "9470",
        "94f2",
        "91d0",
    ]


def test_characters_map_to_the_608_sets() -> None:
    assert text_pairs("Hi!") == [[(0x48, 0x69)], [(0x21, 0x00)]]
    assert text_pairs("é") == [[(0x5C, 0x00)]]  # basic set: 0x5C is é, not a backslash
    assert text_pairs("½") == [[(0x11, 0x32)] * 2]  # special: doubled (one unit, sent back to back)
    assert text_pairs("Á") == [[(0x41, 0x00)], [(0x12, 0x20)] * 2]  # extended: replaces its fallback "A"
    assert to_608("Łódź — “now”… Ærø") == "Lódz — “now”... AErø"
    assert to_608("홍수 경보") == ""
    with pytest.raises(CaptionError):
        text_pairs("홍")


def test_language_choice_prefers_english_and_skips_other_scripts() -> None:
    assert choose_language(CUES) == "en"
    ko_es = [Cue("ko", 0, 1, ("홍수 경보",)), Cue("es", 0, 1, ("Alerta de inundación",))]
    assert choose_language(ko_es) == "es"
    assert choose_language(ko_es[:1]) is None
    track = CaptionTrack(ko_es[:1], NTSC_FPS)
    assert track.language is None and track.skipped == ("ko",) and not track.shown
    assert track.pairs(0) == [(0x80, 0x80)]


def test_popon_loading_is_centred_at_the_top() -> None:
    units = popon_units(["ABCD", "ABCDE"])
    assert units[:2] == [[RCL, RCL], [ENM, ENM]]
    # 4 characters: column 14 = PAC indent 12 + TO2; 5 characters: column 13 = indent 12 + TO1.
    assert units[2] == [pac(1, 12)] * 2 and units[3] == [(0x17, 0x22)] * 2
    assert units[6] == [pac(2, 12)] * 2 and units[7] == [(0x17, 0x21)] * 2


def test_cc_data_header_and_padding() -> None:
    assert cc_count_for(NTSC_FPS) == 20
    assert cc_count_for(Fraction(60000, 1001)) == 10
    assert cc_count_for(Fraction(25)) == 24
    data = cc_data([(0x94, 0x20)], 20)
    assert len(data) == 2 + 3 * 20
    assert data[0] == 0b1101_0100  # reserved 1, process_cc_data_flag 1, zero 0, cc_count 20
    assert data[1] == 0xFF  # em_data
    assert data[2:5] == bytes([0xFC, 0x94, 0x20])  # cc_valid 1, cc_type 0: 608 field 1
    assert data[5:8] == bytes([0xF9, 0x80, 0x80])  # field 2 present but not valid
    assert data[8:] == bytes([0xFA, 0, 0]) * 18  # DTVCC padding
    user = atsc_user_data(data)
    assert user[:5] == b"GA94\x03" and user[-1] == 0xFF
    with pytest.raises(CaptionError):
        cc_data([(0x80, 0x80)] * 20, 20)


def test_emulation_prevention_round_trip() -> None:
    assert add_emulation_prevention(b"\x00\x00\x00") == b"\x00\x00\x03\x00"
    assert add_emulation_prevention(b"\x00\x00\x01\x00\x00\x02") == b"\x00\x00\x03\x01\x00\x00\x03\x02"
    assert add_emulation_prevention(b"\x00\x00\x04\x00\x00") == b"\x00\x00\x04\x00\x00"
    assert add_emulation_prevention(b"\x00\x00\x03") == b"\x00\x00\x03\x03"
    rng = random.Random(7)
    for _ in range(200):
        raw = bytes(rng.choice((0, 0, 0, 1, 2, 3, 0x80, 0xFF)) for _ in range(rng.randrange(1, 64)))
        coded = add_emulation_prevention(raw)
        assert not re.search(rb"\x00\x00[\x00-\x02]", coded)
        assert not re.search(rb"\x00\x00\x03(?![\x00-\x03])", coded)
        assert remove_emulation_prevention(coded) == raw


def parse_sei(nal: bytes) -> list[tuple[int, bytes]]:
    """(payload type, payload) of each message in an SEI NAL unit (start code included)."""
    assert nal[:5] == b"\x00\x00\x00\x01\x06"
    rbsp = remove_emulation_prevention(nal[5:])
    out, pos = [], 0
    while rbsp[pos] != 0x80:
        values = []
        for _ in range(2):
            value = 0
            while rbsp[pos] == 0xFF:
                value, pos = value + 255, pos + 1
            values.append(value + rbsp[pos])
            pos += 1
        kind, size = values
        out.append((kind, rbsp[pos : pos + size]))
        pos += size
    assert pos == len(rbsp) - 1
    return out


@pytest.mark.parametrize("size", [3, 254, 255, 256, 600])
def test_sei_payload_size_coding(size: int) -> None:
    user = bytes((i * 37) % 256 for i in range(size - 3))  # zeros and small bytes included
    nal = sei_t35_nal(user)
    assert parse_sei(nal) == [(4, b"\xb5\x00\x31" + user)]
    size_bytes = nal[6 : 6 + size // 255 + 1]
    assert size_bytes == b"\xff" * (size // 255) + bytes([size % 255])
    assert b"\x00\x00\x01" not in nal[4:]


def test_sei_goes_before_the_first_slice() -> None:
    sps, pps = b"\x00\x00\x00\x01\x67\x64\x00\x0a", b"\x00\x00\x00\x01\x68\xee"
    x264_sei, idr = b"\x00\x00\x01\x06\x05\x01\x80", b"\x00\x00\x01\x65\x88\x84"
    sei = sei_t35_nal(atsc_user_data(cc_data([(0x80, 0x80)], 20)))
    assert insert_h264_sei(sps + pps + x264_sei + idr, sei) == sps + pps + x264_sei + sei + idr
    slice_ = b"\x00\x00\x00\x01\x41\x9a"
    assert insert_h264_sei(slice_, sei) == sei + slice_
    with pytest.raises(CaptionError):
        insert_h264_sei(sps + pps, sei)


def test_mpeg2_user_data_after_the_picture_header() -> None:
    seq, gop = b"\x00\x00\x01\xb3\x0a\x00", b"\x00\x00\x01\xb8\x00\x08"
    pic, ext, slice_ = b"\x00\x00\x01\x00\x00\x0f", b"\x00\x00\x01\xb5\x8f\xff", b"\x00\x00\x01\x01\x12"
    user = atsc_user_data(cc_data([(0x80, 0x80)], 20))
    out = insert_mpeg2_user_data(seq + gop + pic + ext + slice_, user)
    assert out == seq + gop + pic + ext + b"\x00\x00\x01\xb2" + user + slice_
    with pytest.raises(CaptionError):
        insert_mpeg2_user_data(seq + gop + pic + ext, user)
    with pytest.raises(CaptionError):
        insert_mpeg2_user_data(pic + slice_, b"GA94\x03\x00\x00\x01")


def test_schedule_meets_cue_starts_and_never_touches_coded_frames() -> None:
    track = CaptionTrack(CUES, NTSC_FPS, first_frame=60)
    assert track.language == "en" and track.skipped == ("ko",)
    assert [s.lines for s in track.shown] == [
        ("Flood warning for Río Grande:", "leave low ground now!"),
        ("Go to the café on Ñandú St. ½", "mile"),
    ]
    # Loaded ahead (from frame 60, 2.0 s), each caption appears on its cue's start frame and goes at its end.
    for shown, cue in zip(track.shown, (CUES[0], CUES[2]), strict=True):
        assert abs(shown.start_s - cue.start_s) < 1 / 29.97
        assert abs(shown.end_s - cue.end_s) < 1 / 29.97
    assert all(track.pairs(f) == [(0x80, 0x80)] for f in range(60))
    assert track.pairs(60) == [(0x94, 0x20)]  # RCL starts the load at once
    # A cue too close to the start cannot be loaded in time: it appears late, never early, and stays 1 s.
    late = CaptionTrack([Cue("en", 0.1, 0.5, ("A long line of caption text here",))], NTSC_FPS)
    assert 0.5 < late.shown[0].start_s < 1.5 and late.shown[0].end_s - late.shown[0].start_s >= 0.99


def test_inserter_refuses_codecs_without_a53_carriage() -> None:
    with pytest.raises(CaptionError):
        CaptionInserter("libx265", NTSC_FPS)


# --- real streams, real tools ---------------------------------------------------------------------------------


def frames(n: int):  # type: ignore[no-untyped-def]
    x = np.arange(W, dtype=np.int32)[None, :]
    for i in range(n):
        rgb = np.zeros((H, W, 3), np.uint8)
        rgb[..., 0] = (x + 4 * i) % 256
        yield rgb


def tone(seconds: float) -> np.ndarray:
    t = np.arange(int(seconds * 48000)) / 48000
    return (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def encode(tmp_path: Path, profile: Profile, n: int, **kwargs: object) -> Path:
    """Encode ``n`` frames as TS segments the way the pipeline does (lead-in first) and join them."""
    segments: list[bytes] = []
    head = tone(2.1)  # covers segment 0: it is published before plan() runs
    audio = np.concatenate([head, tone(n / 29.97 - 2.1)])
    encode_ts(
        frames(n), lambda: (audio, n), profile, SEG, lambda _n, data, _d: segments.append(data),
        head=head, **kwargs,  # type: ignore[arg-type]
    )  # fmt: skip
    path = tmp_path / f"{profile.video_codec}.ts"
    path.write_bytes(b"".join(segments))
    return path


def probe_captions(path: Path) -> str:
    # ffprobe 5.1 reports closed_captions from its own decoder: it has to decode the frames (-count_frames).
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-count_frames",
         "-show_entries", "stream=closed_captions", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    return out.split()[0].strip(",")


def decode_608(path: Path) -> list[tuple[float, float, str]]:
    """FFmpeg's own CEA-608 decoder (lavfi ``movie`` with ``subcc``) as SubRip: (start, end, text)."""
    srt = subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"movie={path}[out0+subcc]", "-map", "0:1", "-f", "srt", "-"],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def seconds(ts: str) -> float:
        h, m, s = ts.replace(",", ".").split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    out = []
    for block in srt.strip().split("\n\n"):
        lines = block.splitlines()
        start, end = lines[1].split(" --> ")
        text = re.sub(r"<[^>]+>|\{\\an\d\}", "", "\n".join(lines[2:])).replace("\\h", " ")
        out.append((seconds(start), seconds(end), "\n".join(line.strip() for line in text.splitlines())))
    return out


def test_h264_ts_carries_608_captions_ffmpeg_decodes(tmp_path: Path) -> None:
    profile = make_profile("atsc1", size=(W, H), atsc1_video="h264")
    n = 3 * SEG
    (tmp_path / "bare").mkdir()
    bare = encode(tmp_path / "bare", profile, 2 * SEG)
    assert probe_captions(bare) == "0"
    # As the pipeline does it: the cues come from the speech, so they are handed over lazily.
    path = encode(tmp_path, profile, n, captions=lambda: CUES)
    assert probe_captions(path) == "1"
    info = subprocess.run(["ffmpeg", "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    assert "Closed Captions" in info
    track = CaptionTrack(CUES, NTSC_FPS, first_frame=SEG)
    decoded = decode_608(path)
    assert [text for _s, _e, text in decoded] == [
        "Flood warning for Río Grande:\nleave low ground now!",
        "Go to the café on Ñandú St. ½\nmile",
    ]
    for (start, end, _text), shown in zip(decoded, track.shown, strict=True):
        assert start == pytest.approx(shown.start_s, abs=0.002)
        assert end == pytest.approx(shown.end_s, abs=0.002)
    # FFmpeg's H.264 header parser sees one A/53 SEI per picture, before the slice, every picture the same size.
    trace = subprocess.run(
        ["ffmpeg", "-v", "trace", "-i", str(path), "-map", "0:v", "-c", "copy", "-bsf:v", "trace_headers",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    ).stderr  # fmt: skip
    nals = " ".join(re.findall(r"nal_unit_type\s+[01]+ = (\d+)", trace))
    pictures = nals[nals.index("9 ") :].split("9 ")[1:]  # the TS muxer starts each access unit with an AUD
    assert len(pictures) == n
    # SPS, PPS on keyframes, x264's own SEI (version; HRD buffering period and picture timing); ours always last
    # before the slice.
    assert all(re.fullmatch(r"(7 8 )?(6 )+[15] ?", p) for p in pictures), pictures[:3]
    assert trace.count("itu_t_t35_country_code                               10110101 = 181") == n
    assert "rror" not in "\n".join(line for line in trace.splitlines() if "trace_headers" in line)


def test_mpeg2_ts_carries_608_captions_ffmpeg_decodes(tmp_path: Path) -> None:
    profile = Profile("atsc1", "ts", "mpeg2video", "ac3", W, H, video_kbps=800)
    n = 3 * SEG
    path = encode(tmp_path, profile, n, captions=CUES)
    assert subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries", "stream=codec_name", "-of", "csv=p=0",
         str(path)], capture_output=True, text=True, check=True,
    ).stdout.split()[0].strip(",") == "mpeg2video"  # fmt: skip
    assert probe_captions(path) == "1"
    assert [text for _s, _e, text in decode_608(path)] == [
        "Flood warning for Río Grande:\nleave low ground now!",
        "Go to the café on Ñandú St. ½\nmile",
    ]
