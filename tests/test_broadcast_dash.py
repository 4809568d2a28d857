"""ATSC 3.0 DASH output read back like a packager would: the MPD against the files it names.

Each ``atsc3`` render (burn-in and rich-media, a short Cancel and a long bilingual alert) is parsed with the
tests' own MP4 box reader (``dashcheck``), independent of the product's helpers: every ``S@t``/``S@d`` equals
the segment's ``tfdt``/summed ``trun`` durations, no segment starts at or after the presentation end, audio
and video end together, ``@bandwidth`` covers every segment's rate, ``@codecs`` is what the init's
configuration record says, and FFmpeg reads the colour description as BT.709.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from cinealert.broadcast.encode import (
    AUDIO_RATE,
    encode_audio,
    encode_fmp4_audio,
    encode_fmp4_video,
    frames_per_segment,
    make_profile,
)
from cinealert.cap.model import Alert, Area, Classification, DisasterType, Info, Reference
from cinealert.config import parse
from cinealert.handlers.pipeline import LoopInfo, MediaStage
from cinealert.render.loop import Loop
from dashcheck import (
    NS,
    Presentation,
    bandwidth_needed,
    boxes,
    read,
    read_fragment,
    segment_bitrates,
    track_end,
)

W, H = 320, 180
SEG = frames_per_segment(2.002)
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
FLOOD = Classification(DisasterType.FLOOD, 0.9, "event", "flood")
TTML = "{http://www.w3.org/ns/ttml}"
AAC_FRAME = 1024


def _frames(n: int = 60) -> list[np.ndarray]:
    x = np.arange(W, dtype=np.int32)[None, :]
    y = np.arange(H, dtype=np.int32)[:, None]
    out = []
    for i in range(n):
        rgb = np.empty((H, W, 3), np.uint8)
        rgb[..., 0] = (x * 2 + 5 * i) % 256
        rgb[..., 1] = 40 + (y * 170 // H) + 0 * x
        rgb[..., 2] = (220 - x // 2 + 3 * i) % 256
        out.append(rgb)
    return out


FRAMES = _frames()


def _provider(brief, settings, cancel, size):  # type: ignore[no-untyped-def]
    return LoopInfo(
        Loop(W, H, Loop.from_arrays(FRAMES).fps, len(FRAMES), lambda: iter(FRAMES)), "dash-test-0"
    )


def _info(language: str, headline: str, instruction: str) -> Info:
    return Info(
        language, ("Met",), "Flood Warning", "Immediate", "Severe", "Observed",
        event_codes=(("SAME", "FLW"),), expires=NOW + timedelta(hours=3), headline=headline,
        instruction=instruction, areas=(Area("Riverside", geocodes=(("SAME", "006065"),)),),
    )  # fmt: skip


LONG = Alert(
    "DASH-LONG", "dash@example.org", NOW, "2026-11-26T12:00:00+09:00", "Actual", "Alert", "Public",
    infos=(
        _info("ko-KR", "서울 홍수경보", "높은 곳으로 즉시 대피하십시오. 하천 주변에 접근하지 마십시오."),
        _info("en-US", "Flood warning for Riverside",
              "Move to higher ground now. Stay away from rivers and do not drive through flooded roads."),
    ),
)  # fmt: skip
CANCEL = Alert(
    "DASH-CANCEL", "dash@example.org", NOW, "2026-11-26T13:00:00+09:00", "Actual", "Cancel", "Public",
    references=(Reference("dash@example.org", "DASH-LONG", "2026-11-26T12:00:00+09:00"),),
    infos=(_info("en-US", "Cancelled", ""),),
)  # fmt: skip


def _render(root: Path, mode: str, alert: Alert) -> Path:
    settings = parse({
        "broadcast": {"output_dir": str(root / "out"), "profiles": ["atsc3"], "mode": mode},
        "render": {"cache_dir": str(root / "cache")},
    })  # fmt: skip
    stage = MediaStage(settings, loop_provider=_provider, size=(W, H))
    return stage.publish(alert, FLOOD, threading.Event()).directory


CASES = [("burn-in", "long"), ("burn-in", "short"), ("rich-media", "long"), ("rich-media", "short")]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    """Four real renders; the Cancel is rendered after the alert in each mode (rich-media: from the cache)."""
    done = {}
    for mode in ("burn-in", "rich-media"):
        root = tmp_path_factory.mktemp(mode)
        done[(mode, "long")] = _render(root, mode, LONG)
        done[(mode, "short")] = _render(root, mode, CANCEL)
    return done


def _rep(p: Presentation, content: str) -> list:  # type: ignore[type-arg]
    return [r for r in p.reps if r.content == content]


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_mpd_timeline_is_the_files_timeline(outputs, case) -> None:  # type: ignore[no-untyped-def]
    d = outputs[case]
    p = read(d)
    video, audio, texts = _rep(p, "video")[0], _rep(p, "audio")[0], _rep(p, "text")
    for r in [video, *_rep(p, "audio"), *texts]:
        assert r.timescale == r.init.timescale
        assert r.timeline == [(f.decode_time, f.duration) for f in r.fragments], r.rep_id  # S@t/@d == files
        ends = [f.decode_time + f.duration for f in r.fragments]
        assert [f.decode_time for f in r.fragments[1:]] == ends[:-1], r.rep_id  # no gap, no overlap
        assert all(Fraction(t - r.offset, r.timescale) < p.duration for t, _d in r.timeline), r.rep_id
        assert [f.sequence for f in r.fragments] == list(range(1, len(r.fragments) + 1))
    assert p.duration == track_end(video)  # mediaPresentationDuration is the video's own end
    assert abs(track_end(audio) - track_end(video)) <= Fraction(AAC_FRAME, AUDIO_RATE)
    # The audio segments follow the video's boundaries (each starts within one AAC frame after them).
    assert len(audio.fragments) == len(video.fragments)
    for (vt, _vd), (at, _ad) in zip(video.timeline, audio.timeline, strict=True):
        lag = Fraction(at - audio.offset, audio.timescale) - Fraction(vt, video.timescale)
        assert -Fraction(AAC_FRAME, AUDIO_RATE) <= lag < Fraction(AAC_FRAME, AUDIO_RATE)
    # The priming frame is the only thing before the presentation start, and the MPD says so.
    assert audio.offset == AAC_FRAME and audio.fragments[0].durations[0] == AAC_FRAME
    for r in texts:
        assert r.timeline == video.timeline  # captions segmented exactly like the video
    # Every segment file in the folder is named by the MPD, and every one it names exists (read() opened it).
    named = {n for r in p.reps for n in r.names} | {
        t.get("initialization") for t in p.root.iterfind(".//m:SegmentTemplate", NS)
    }
    on_disk = {f.name for f in d.iterdir() if f.suffix in (".m4s", ".mp4") and f.name.startswith("atsc3_")}
    assert on_disk == named


def test_short_cancel_has_no_segment_past_the_end(outputs) -> None:  # type: ignore[no-untyped-def]
    """The case that was broken: a short Cancel got a 1-sample audio segment starting after the end."""
    for mode in ("burn-in", "rich-media"):
        p = read(outputs[(mode, "short")])
        audio = _rep(p, "audio")[0]
        assert len(audio.fragments) == len(_rep(p, "video")[0].fragments) <= 2
        assert min(len(f.durations) for f in audio.fragments) > 40  # no stray one-frame segment


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_declared_bandwidth_covers_every_segment(outputs, case) -> None:  # type: ignore[no-untyped-def]
    p = read(outputs[case])
    assert p.min_buffer > 0
    for r in p.reps:
        rates = segment_bitrates(r)
        assert r.bandwidth >= max(rates), (r.rep_id, r.bandwidth, max(rates))
        assert r.bandwidth >= bandwidth_needed(r, p.min_buffer)
        assert r.bandwidth <= max(rates) * 1.01 + 1000  # declared from the measurement, not a loose guess


def test_mpd_attributes_a_packager_checks(outputs) -> None:  # type: ignore[no-untyped-def]
    for case in CASES:
        d = outputs[case]
        p = read(d)
        root = p.root
        assert root.get("profiles") == "urn:mpeg:dash:profile:isoff-live:2011"
        assert root.get("type") == "static" and root.get("availabilityStartTime") is None
        assert re.fullmatch(r"PT\d+\.\d{3}S", root.get("minBufferTime", ""))
        assert re.fullmatch(r"PT\d+\.\d{3}S", root.get("mediaPresentationDuration", ""))
        for aset in root.iterfind("m:Period/m:AdaptationSet", NS):
            role = aset.find("m:Role", NS)
            assert role is not None and role.get("schemeIdUri") == "urn:mpeg:dash:role:2011"
            kind = aset.get("contentType")
            assert kind in ("video", "audio", "text")
            assert (
                aset.get("mimeType")
                == {"video": "video/mp4", "audio": "audio/mp4", "text": "application/mp4"}[kind]
            )
            expected = {"text": "caption", "video": "main"}.get(kind)
            if (
                kind == "audio"
            ):  # one AdaptationSet per language: the first language main, the others alternate
                first = aset is root.find("m:Period/m:AdaptationSet[@contentType='audio']", NS)
                expected = "main" if first else "alternate"
            assert role.get("value") == expected
            if kind != "video":
                assert re.fullmatch(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*", aset.get("lang", "")), aset.get("lang")
            for rep in aset.iterfind("m:Representation", NS):
                assert rep.find("m:BaseURL", NS) is None  # everything segmented (isoff-live)
                template = rep.find("m:SegmentTemplate", NS)
                assert template is not None and template.get("startNumber") == "0"
                assert re.fullmatch(
                    r"atsc3_[a-z]+(_[A-Za-z-]+)?_\$Number%05d\$\.m4s", template.get("media", "")
                )
        for r in p.reps:
            assert r.codecs == r.init.codecs, r.rep_id  # exactly what the init's configuration record says
            assert r.init.entry == {"video": "hvc1", "audio": "mp4a", "text": "stpp"}[r.content]
        codecs = {r.content: r.codecs for r in p.reps}
        assert codecs["audio"] == "mp4a.40.2" and codecs["text"] == "stpp.ttml.im1t"
        assert re.fullmatch(r"hvc1\.1\.6\.L\d+\.90", codecs["video"])
        # hvc1: parameter sets only in the sample entry, none in band (else it would have to be hev1).
        video = _rep(p, "video")[0]
        data = (d / video.names[0]).read_bytes()
        mdat = next(payload for kind, payload, _e in boxes(data) if kind == b"mdat")
        frag = read_fragment(data)
        pos, nal_types = mdat, []
        while pos < mdat + frag.sizes[0]:
            n = int.from_bytes(data[pos : pos + 4], "big")
            nal_types.append((data[pos + 4] >> 1) & 0x3F)
            pos += 4 + n
        assert not {32, 33, 34} & set(nal_types), nal_types


def test_result_json_states_the_a342_audio_deviation(outputs) -> None:  # type: ignore[no-untyped-def]
    """A/342 wants AC-4 or MPEG-H; the files carry AAC (ffprobe says so), and result.json says it plainly."""
    for case in CASES:
        d = outputs[case]
        doc = json.loads((d / "result.json").read_text())["outputs"]["atsc3"]
        audio = next(
            n for n in sorted(d.iterdir()) if n.name.startswith("atsc3_audio") and n.suffix == ".mp4"
        )
        probed = subprocess.run(
            ["ffprobe", "-v", "error", "-show_entries", "stream=codec_name", "-of", "json", str(audio)],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        streams = json.loads(probed.stdout)["streams"]
        assert [s["codec_name"] for s in streams] == ["aac"], streams  # LC: @codecs mp4a.40.2, checked above
        assert doc["audio_codec"] == "aac"
        assert doc["deviations"] == ["A/342: AAC-LC instead of AC-4/MPEG-H (no open encoder)"]


def _decoded_track(d: Path, rep, tmp: Path) -> np.ndarray:  # type: ignore[no-untyped-def]
    """init + every segment of one audio Representation, decoded by FFmpeg to mono float at AUDIO_RATE."""
    joined = tmp / f"{rep.rep_id}.mp4"
    init_name = re.sub(r"_\d{5}\.m4s$", "_init.mp4", rep.names[0])
    joined.write_bytes(b"".join((d / n).read_bytes() for n in [init_name, *rep.names]))
    pcm = subprocess.run(
        ["ffmpeg", "-v", "error", "-i", str(joined), "-f", "f32le", "-ac", "1", "-ar", str(AUDIO_RATE), "-"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    return np.frombuffer(pcm, "<f4")


def _voiced_s(x: np.ndarray, start_s: float) -> float:
    """Seconds of 50 ms windows after ``start_s`` louder than -45 dBFS RMS (speech, not silence or codec noise)."""
    win = AUDIO_RATE // 20
    y = x[int(start_s * AUDIO_RATE) :]
    y = y[: len(y) // win * win].reshape(-1, win)
    rms = np.sqrt(np.mean(y.astype(np.float64) ** 2, axis=1))
    return float(np.sum(rms > 10 ** (-45 / 20)) * 0.05)


def _vtt_spoken_s(path: Path) -> float:
    total = 0.0
    for a, b in re.findall(r"([\d:.]+) --> ([\d:.]+)", path.read_text()):
        total += float(
            _clock(b if b.count(":") == 2 else "00:" + b) - _clock(a if a.count(":") == 2 else "00:" + a)
        )
    return total


def test_bilingual_audio_is_one_track_per_language(outputs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """Issue 14: the bilingual alert's audio was one ko-KR track with English in it. Now one AdaptationSet per
    language (@lang, Role main/alternate), each decoding (FFmpeg) to speech of its language's length, starting
    after the lead-in, at -24 LKFS (FFmpeg's ebur128), and ending with the video."""
    from test_broadcast_audio import ebur128

    for mode in ("burn-in", "rich-media"):
        d = outputs[(mode, "long")]
        p = read(d)
        audio_sets = p.root.findall("m:Period/m:AdaptationSet[@contentType='audio']", NS)
        assert [a.get("lang") for a in audio_sets] == ["ko-KR", "en-US"]
        assert [a.find("m:Role", NS).get("value") for a in audio_sets] == ["main", "alternate"]
        reps = {r.rep_id: r for r in _rep(p, "audio")}
        assert set(reps) == {"audio", "audio_en-US"}
        video_end = track_end(_rep(p, "video")[0])
        lead = 1.5 + 0.6  # tone + gap (broadcast/audio.py lead_in): speech starts after it on every track
        for rep_id, lang in (("audio", "ko-KR"), ("audio_en-US", "en-US")):
            rep = reps[rep_id]
            assert abs(track_end(rep) - video_end) <= Fraction(AAC_FRAME, AUDIO_RATE)
            x = _decoded_track(d, rep, tmp_path)
            # Speech of this language from the start: the first second after the lead-in is voiced ...
            assert _voiced_s(x[: int((lead + 1.0) * AUDIO_RATE)], lead) > 0.5, (mode, lang)
            # ... and the voiced time is this language's spoken time (its caption cues), not the other's.
            spoken = _vtt_spoken_s(d / f"captions_{lang}.vtt")
            voiced = _voiced_s(x, lead)
            assert 0.6 * spoken <= voiced <= 1.1 * spoken, (mode, lang, voiced, spoken)
            wav = tmp_path / f"{mode}_{lang}.wav"
            subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(AUDIO_RATE), "-ac", "1",
                            "-i", "-", str(wav)], input=x.tobytes(), check=True)  # fmt: skip
            lufs, _peak = ebur128(wav)
            assert abs(lufs + 24) <= 1.0, (mode, lang, lufs)
    # A one-language alert keeps one audio track.
    p = read(outputs[("burn-in", "short")])
    assert [r.rep_id for r in _rep(p, "audio")] == ["audio"]


def test_no_a342_deviation_is_claimed_for_ac4() -> None:
    from cinealert.media.outputs import DashOutput, Segment

    seg = (Segment("v.m4s", 0.0, 2.0),)
    common = {"mode": "burn-in", "container": "fmp4", "video_codec": "hevc", "width": W, "height": H,
              "frame_rate": "30000/1001", "segments": seg, "manifest": "manifest.mpd", "audio_segments": seg,
              "captions": ()}  # fmt: skip
    assert "deviations" not in DashOutput(audio_codec="ac-4", **common).doc()  # type: ignore[arg-type]
    assert DashOutput(audio_codec="aac", **common).doc()["deviations"]  # type: ignore[arg-type]


def test_bilingual_captions_are_imsc1_segments_on_the_track_timeline(outputs) -> None:  # type: ignore[no-untyped-def]
    d = outputs[("burn-in", "long")]
    p = read(d)
    texts = {r.rep_id: r for r in _rep(p, "text")}
    assert set(texts) == {"text_ko-KR", "text_en-US"}
    for r in texts.values():
        lang = r.rep_id.removeprefix("text_")
        said = []
        for name, frag in zip(r.names, r.fragments, strict=True):
            assert len(frag.durations) == 1  # one TTML document per segment
            data = (d / name).read_bytes()
            mdat = next(payload for kind, payload, _e in boxes(data) if kind == b"mdat")
            doc = etree.fromstring(data[mdat : mdat + frag.sizes[0]])
            assert doc.tag == f"{TTML}tt" and doc.get("{http://www.w3.org/XML/1998/namespace}lang") == lang
            lo, hi = (
                Fraction(frag.decode_time, r.timescale),
                Fraction(frag.decode_time + frag.duration, r.timescale),
            )
            for par in doc.iter(f"{TTML}p"):
                begin, end = (_clock(par.get(a, "")) for a in ("begin", "end"))
                # Times on the track timeline (ISO/IEC 14496-30 §5.3), inside this sample's span (ms-rounded).
                assert lo - Fraction(1, 1000) <= begin < end <= hi + Fraction(1, 1000), (name, begin, end)
                said.append("".join(par.itertext()))
        whole = etree.parse(str(d / f"captions_{lang}.ttml")).getroot()
        for par in whole.iter(f"{TTML}p"):
            assert "".join(par.itertext()) in said  # every caption of the alert is in the segments


def _clock(value: str) -> Fraction:
    h, m, s = value.split(":")
    return Fraction(int(h) * 3600 + int(m) * 60) + Fraction(s)


def test_colour_is_signalled_bt709(outputs) -> None:  # type: ignore[no-untyped-def]
    for case in CASES:
        d = outputs[case]
        probe = subprocess.run(
            ["ffprobe", "-v", "error", "-select_streams", "v", "-show_entries",
             "stream=color_primaries,color_transfer,color_space,color_range", "-of", "json", "manifest.mpd"],
            capture_output=True, text=True, check=True, cwd=d,
        )  # fmt: skip
        stream = json.loads(probe.stdout)["streams"][0]
        assert (stream["color_primaries"], stream["color_transfer"], stream["color_space"]) == ("bt709",) * 3
        assert stream["color_range"] == "tv"
        colr = read(d).reps[0].init.colr
        assert colr is not None and colr[:4] == b"nclx"
        assert (int.from_bytes(colr[4:6], "big"), int.from_bytes(colr[6:8], "big"), int.from_bytes(colr[8:10], "big"),
                colr[10] >> 7) == (1, 1, 1, 0)  # fmt: skip


def test_pictures_are_converted_as_signalled(tmp_path: Path) -> None:
    """BT.709 signalled must be BT.709 converted (``encode._video_frame``): a saturated colour comes back
    within a few levels (converted with swscale's default BT.601 matrix it comes back as (212, 62, 47))."""
    profile = make_profile("atsc3", "1080p", size=(W, H))
    red = np.full((H, W, 3), (200, 50, 50), np.uint8)
    video = encode_fmp4_video([red] * SEG, SEG, profile, SEG)
    path = tmp_path / "red.mp4"
    path.write_bytes(video.init + b"".join(video.segments))
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1", "-f", "rawvideo",
                          "-pix_fmt", "rgb24", "-"], capture_output=True, check=True)  # fmt: skip
    rgb = np.frombuffer(out.stdout, np.uint8).reshape(H, W, 3)[H // 4 : -H // 4, W // 4 : -W // 4]
    assert np.abs(rgb.astype(int) - (200, 50, 50)).max() <= 4


def test_audio_segments_follow_boundaries_and_end_with_the_programme(tmp_path: Path) -> None:
    """encode_fmp4_audio on its own: the lengths that used to leave a stray segment past the end."""
    profile = make_profile("atsc3", "1080p", size=(W, H))
    seg = Fraction(SEG * 1001, 30000)
    step = seg * AUDIO_RATE
    for nseg in (1, 2, 3):
        n = int(nseg * step)
        t = np.arange(n) / AUDIO_RATE
        samples = (0.1 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
        track = encode_fmp4_audio(samples, profile, seg, encode_audio(samples, "aac"))
        frags = [read_fragment(s) for s in track.segments]
        assert len(frags) == nseg
        assert [f.decode_time for f in frags] == track.starts and [
            f.duration for f in frags
        ] == track.durations
        assert sum(f.duration for f in frags) == n + AAC_FRAME == track.end  # priming + programme, no padding
        for k, f in enumerate(frags):
            start = f.decode_time - track.offset
            assert (k == 0 and start == -AAC_FRAME) or k * step <= start < k * step + AAC_FRAME
            assert f.sequence == k + 1
        assert frags[-1].durations[-1] == n - (n // AAC_FRAME) * AAC_FRAME or n % AAC_FRAME == 0


AEAT_NS = "{tag:atsc.org,2016:XMLSchemas/ATSC3/Delivery/AEAT/1.0/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


@pytest.mark.parametrize("case", CASES, ids=["-".join(c) for c in CASES])
def test_aeat_is_what_an_a331_receiver_parses(outputs, case) -> None:  # type: ignore[no-untyped-def]
    """Written in burn-in mode too; A/331's namespace, xml:lang, at most one EventCode, schema Location
    types, only the three Media types, each naming a file of the stated size."""
    d = outputs[case]
    root = etree.parse(str(d / "aeat.xml")).getroot()
    assert root.tag == f"{AEAT_NS}AEAT"
    (aea,) = root.findall(f"{AEAT_NS}AEA")
    assert re.fullmatch(r"[A-Za-z0-9._-]{1,62}", aea.get("aeaId", "")) and aea.get("aeaId", "-")[-1] != "-"
    assert aea.get("aeaType") == ("cancel" if case[1] == "short" else "alert")
    header = aea.find(f"{AEAT_NS}Header")
    assert header is not None
    assert len(header.findall(f"{AEAT_NS}EventCode")) <= 1
    assert [(e.get("type"), e.text) for e in header.findall(f"{AEAT_NS}EventCode")] == [("SAME", "FLW")]
    assert [(e.get("type"), e.text) for e in header.findall(f"{AEAT_NS}Location")] == [("FIPS", "006065")]
    for element in aea.iter(f"{AEAT_NS}EventDesc", f"{AEAT_NS}AEAText"):
        assert element.get(XML_LANG) and element.get("lang") is None
    media = aea.findall(f"{AEAT_NS}Media")
    assert {m.get("mediaType") for m in media} == {"AEAtextAudio", "EventSymbol"}
    for m in media:
        assert int(m.get("contentLength", "-1")) == (d / m.get("url", "")).stat().st_size
    doc = json.loads((d / "result.json").read_text())["outputs"]["atsc3"]
    assert doc["aeat"] == "aeat.xml" and doc["event_symbol"] == "event_symbol.png"


def test_aea_ids_of_long_identifiers_stay_valid_and_distinct() -> None:
    from cinealert.broadcast.aeat import aea_id
    from cinealert.cap.model import AlertKey

    base = "urn:oid:2.49.0.1.840.0." + "7f3c2a61b0d94c1e8a5d2f6b9c0e1a23" * 2
    ids = {aea_id(AlertKey("w-nws.webmaster@noaa.gov", base + suffix, "2026-11-25T14:42:00-05:00"))
           for suffix in ("-1", "-2", ".001.1")}  # fmt: skip
    assert len(ids) == 3
    for value in ids:
        assert len(value) <= 62 and re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9]", value)


def test_aeat_media_urls_are_absolute_with_a_base_url(tmp_path: Path) -> None:
    settings = parse({
        "broadcast": {"output_dir": str(tmp_path / "out"), "profiles": ["atsc3"], "mode": "burn-in",
                      "base_url": "https://alerts.example.org/media/"},
        "render": {"cache_dir": str(tmp_path / "cache")},
    })  # fmt: skip
    d = (
        MediaStage(settings, loop_provider=_provider, size=(W, H))
        .publish(CANCEL, FLOOD, threading.Event())
        .directory
    )
    root = etree.parse(str(d / "aeat.xml")).getroot()
    for m in root.iter(f"{AEAT_NS}Media"):
        assert m.get("url") == f"https://alerts.example.org/media/{d.name}/{Path(m.get('url', '')).name}"


def test_cached_clean_video_is_re_encoded_when_the_encoder_settings_change(tmp_path: Path) -> None:
    """A rich-media cache entry encoded under other rate-buffer/colour settings is not reused (entries from
    before the BT.709 signalling would otherwise keep airing pictures without it)."""
    import dataclasses
    import time

    from cinealert.media.clock import Clock
    from cinealert.media.videocache import VideoCache

    cache = VideoCache(tmp_path)
    profile = make_profile("atsc3", "1080p", size=(W, H))
    info = _provider(None, None, None, (W, H))
    first = cache.get(info, profile, SEG, threading.Event(), Clock(time.perf_counter()))
    again = cache.get(info, profile, SEG, threading.Event(), Clock(time.perf_counter()))
    other = dataclasses.replace(profile, video_kbps=profile.video_kbps + 100)
    changed = cache.get(info, other, SEG, threading.Event(), Clock(time.perf_counter()))
    assert first.key == again.key and again.hit
    assert changed.key != first.key and not changed.hit
