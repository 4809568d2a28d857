"""An English alert through ``MediaStage.render`` to ``atsc1`` and ``hls``, checked as a station's ingest would:
A/53 captions FFmpeg decodes back to the headline, MPEG-2 + AC-3 with dialnorm at the loudness target and the
language in the PMT, one continuous transport stream across the segments, declared bandwidth >= every segment."""

from __future__ import annotations

import json
import re
import subprocess
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from cinealert.cap.model import Alert, Area, Classification, DisasterType, Info
from cinealert.config import parse
from cinealert.media.picture import LoopInfo
from cinealert.media.stage import MediaStage
from cinealert.render.loop import Loop
from tsreader import ac3_frames, continuity_errors, parse_pmt, pes_payloads, sections

W, H = 320, 180
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
HEADLINE = "Flash flood warning for Rock Creek"


def loop_frames(n: int = 60) -> list[np.ndarray]:
    x = np.arange(W, dtype=np.int32)[None, :]
    y = np.arange(H, dtype=np.int32)[:, None]
    return [
        np.stack(
            [(x * 2 + 3 * i) % 256 + 0 * y, 60 + y * 150 // H + 0 * x, (200 - x // 2 + 0 * y) % 256], -1
        ).astype(np.uint8)
        for i in range(n)
    ]


FRAMES = loop_frames()


def provider(brief, settings, cancel, size):  # type: ignore[no-untyped-def]
    def source():  # type: ignore[no-untyped-def]
        yield from FRAMES

    return LoopInfo(Loop(W, H, Loop.from_arrays(FRAMES).fps, len(FRAMES), source), "synthetic-flood-0")


def english_alert() -> Alert:
    info = Info(
        "en-US", ("Met",), "Flash Flood Warning", "Immediate", "Severe", "Likely",
        event_codes=(("SAME", "FFW"),), expires=NOW + timedelta(hours=6), headline=HEADLINE,
        instruction="Move to higher ground now.", areas=(Area("Montgomery County", geocodes=(("SAME", "024031"),)),),
    )  # fmt: skip
    return Alert("NWS-T-1", "w-nws@noaa.gov", NOW, "2026-11-26T03:00:00+00:00", "Actual", "Alert", "Public",
                 infos=(info,))  # fmt: skip


@pytest.fixture(scope="module")
def rendered(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("p3ts")
    settings = parse({
        "broadcast": {"output_dir": str(tmp / "out"), "profiles": ["atsc1", "hls"], "languages": ["en"]},
        "render": {"cache_dir": str(tmp / "cache")},
    })  # fmt: skip
    stage = MediaStage(settings, loop_provider=provider, size=(W, H))
    alert = english_alert()
    stage.render(alert, Classification(DisasterType.FLOOD, 0.9, "event", "flood"), threading.Event(),
                 directory=tmp / "out" / alert.key.slug())  # fmt: skip
    return tmp / "out" / alert.key.slug()


def run(*argv: str, cwd: Path | None = None) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=True, cwd=cwd).stdout


def test_atsc1_carries_a53_captions_of_the_headline(rendered: Path) -> None:
    doc = json.loads((rendered / "result.json").read_text())
    segs = [s["name"] for s in doc["outputs"]["atsc1"]["segments"]]
    joined = rendered / "atsc1_joined.ts"
    joined.write_bytes(b"".join((rendered / name).read_bytes() for name in segs))
    closed = run("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                 "stream=closed_captions", "-of", "csv=p=0", str(joined))  # fmt: skip
    assert closed.split()[0].strip(",") == "1"
    srt = run("ffmpeg", "-v", "error", "-f", "lavfi", "-i", f"movie={joined}[out0+subcc]", "-map", "0:1",
              "-f", "srt", "-")  # fmt: skip
    lines = [line for line in srt.splitlines() if not re.match(r"^\d+$|^\d\d:", line)]
    text = " ".join(re.sub(r"<[^>]+>|\{\\an\d\}", "", line).replace("\\h", " ") for line in lines)
    assert HEADLINE in " ".join(text.split())
    assert "higher ground" in text
    # The HLS rendition has WebVTT renditions instead, and says so.
    master = (rendered / "hls_master.m3u8").read_text()
    assert "CLOSED-CAPTIONS=NONE" in master
    hls_closed = run("ffprobe", "-v", "error", "-select_streams", "v", "-count_frames", "-show_entries",
                     "stream=closed_captions", "-of", "csv=p=0", str(rendered / "hls_seg_00001.ts"))  # fmt: skip
    assert hls_closed.split()[0].strip(",") == "0"


def test_atsc1_output_is_what_the_station_ingest_expects(rendered: Path) -> None:
    doc = json.loads((rendered / "result.json").read_text())
    out = doc["outputs"]["atsc1"]
    assert (out["video_codec"], out["audio_codec"]) == ("mpeg2video", "ac3")
    assert doc["outputs"]["hls"]["video_codec"] == "h264"
    data = b"".join((rendered / s["name"]).read_bytes() for s in out["segments"])
    assert continuity_errors(data) == []
    pmt = parse_pmt(sections(data, 0x1000)[0])
    ac3 = next(s for s in pmt.streams if s.stream_type == 0x81)
    assert ac3.descriptor(0x0A) == b"eng\x00" and ac3.descriptor(0x05) == b"AC-3"
    assert {f.dialnorm for f in ac3_frames(b"".join(pes_payloads(data, ac3.pid)))} == {24}  # -24 LKFS
    # Declared bandwidth: measured on the published segments, never below any one of them.
    for name in ("atsc1", "hls"):
        o = doc["outputs"][name]
        rates = [(rendered / s["name"]).stat().st_size * 8 / s["duration_s"] for s in o["segments"]]
        assert max(rates) <= o["peak_bandwidth_bps"] < max(rates) + 1
        assert o["average_bandwidth_bps"] == pytest.approx(sum(rates) / len(rates), rel=1e-3)
    master = (rendered / "hls_master.m3u8").read_text()
    assert f"BANDWIDTH={doc['outputs']['hls']['peak_bandwidth_bps']}," in master
    assert f"AVERAGE-BANDWIDTH={doc['outputs']['hls']['average_bandwidth_bps']}," in master


def bilingual_alert() -> Alert:
    def info(language: str, headline: str, instruction: str) -> Info:
        return Info(
            language, ("Met",), "Typhoon Warning", "Immediate", "Severe", "Likely", expires=NOW + timedelta(hours=6),
            headline=headline, instruction=instruction, areas=(Area("Jeju"),),
        )  # fmt: skip

    return Alert(
        "KMA-T-2", "kma@example.kr", NOW, "2026-11-26T12:00:00+09:00", "Actual", "Alert", "Public",
        infos=(
            info("ko-KR", "제주도 태풍경보", "해안가 접근을 금지하고 실내에 머무르십시오."),
            info("en-US", "Typhoon warning for Jeju", "Stay indoors and away from the coast until further notice."),
        ),
    )  # fmt: skip


@pytest.fixture(scope="module")
def bilingual(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("p3ts2")
    settings = parse({
        "broadcast": {"output_dir": str(tmp / "out"), "profiles": ["atsc1", "hls"], "languages": ["ko", "en"]},
        "render": {"cache_dir": str(tmp / "cache")},
    })  # fmt: skip
    alert = bilingual_alert()
    MediaStage(settings, loop_provider=provider, size=(W, H)).render(
        alert, Classification(DisasterType.TYPHOON, 0.9, "event", "typhoon"), threading.Event(),
        directory=tmp / "out" / alert.key.slug(),
    )  # fmt: skip
    return tmp / "out" / alert.key.slug()


def _voiced_s(x: np.ndarray, rate: int, start_s: float) -> float:
    """Seconds of 50 ms windows after ``start_s`` louder than -45 dBFS RMS."""
    win = rate // 20
    y = x[int(start_s * rate) :]
    y = y[: len(y) // win * win].reshape(-1, win)
    return float(np.sum(np.sqrt(np.mean(y.astype(np.float64) ** 2, axis=1)) > 10 ** (-45 / 20)) * 0.05)


def _vtt_spoken_s(path: Path) -> float:
    def secs(v: str) -> float:
        parts = [float(p) for p in v.split(":")]
        return sum(p * 60**i for i, p in enumerate(reversed(parts)))

    return sum(secs(b) - secs(a) for a, b in re.findall(r"([\d:.]+) --> ([\d:.]+)", path.read_text()))


def test_atsc1_has_one_audio_pid_per_language(bilingual: Path, tmp_path: Path) -> None:
    """Issue 14: the bilingual alert had one AC-3 track labelled kor with the English read after the Korean.
    Now one AC-3 PID per language, each with its ISO 639 and AC-3 audio descriptor language (our PMT parser),
    tagged so by ffprobe, each decoding to its own language's speech from the start at -24 LUFS (ebur128)."""

    doc = json.loads((bilingual / "result.json").read_text())
    data = b"".join((bilingual / s["name"]).read_bytes() for s in doc["outputs"]["atsc1"]["segments"])
    assert continuity_errors(data) == []
    pmt = parse_pmt(sections(data, 0x1000)[0])
    ac3 = [s for s in pmt.streams if s.stream_type == 0x81]
    assert [s.descriptor(0x0A) for s in ac3] == [b"kor\x00", b"eng\x00"]
    for stream, code in zip(ac3, (b"kor", b"eng"), strict=True):
        body = stream.descriptor(0x81)
        assert body is not None
        textlen = body[5] >> 1
        assert body[7 + textlen : 10 + textlen] == code  # the AC-3 audio descriptor's own language field
        assert {f.dialnorm for f in ac3_frames(b"".join(pes_payloads(data, stream.pid)))} == {24}
    joined = tmp_path / "joined.ts"
    joined.write_bytes(data)
    probed = json.loads(run("ffprobe", "-v", "error", "-select_streams", "a", "-show_entries",
                            "stream=index,codec_name:stream_tags=language", "-of", "json", str(joined)))  # fmt: skip
    streams = probed["streams"]
    assert [(s["codec_name"], s["tags"]["language"]) for s in streams] == [("ac3", "kor"), ("ac3", "eng")]
    for n, lang in enumerate(("ko-KR", "en-US")):
        _check_track(bilingual, joined, f"0:a:{n}", lang, tmp_path)


def _check_track(folder: Path, media: Path, mapping: str, lang: str, tmp_path: Path) -> None:
    """The audio ``mapping`` of ``media``, decoded by FFmpeg: speech from just after the lead-in, as long as
    ``lang``'s captions (not the whole bilingual reading), at -24 LUFS by FFmpeg's ebur128."""
    from test_broadcast_audio import ebur128

    lead = 1.5 + 0.6  # tone + gap: speech starts after it on every track
    rate = 48000
    pcm = subprocess.run(["ffmpeg", "-v", "error", "-i", str(media), "-map", mapping, "-f", "f32le",
                          "-ac", "1", "-ar", str(rate), "-"], capture_output=True, check=True).stdout  # fmt: skip
    x = np.frombuffer(pcm, "<f4")
    assert _voiced_s(x[: int((lead + 1.0) * rate)], rate, lead) > 0.5, lang  # speech from the start
    spoken, voiced = _vtt_spoken_s(folder / f"captions_{lang}.vtt"), _voiced_s(x, rate, lead)
    assert 0.6 * spoken <= voiced <= 1.1 * spoken, (lang, voiced, spoken)  # its own language's length
    wav = tmp_path / f"{media.stem}_{lang}.wav"
    run("ffmpeg", "-v", "error", "-y", "-i", str(media), "-map", mapping, str(wav))
    lufs, _peak = ebur128(wav)
    assert abs(lufs + 24) <= 1.0, (lang, lufs)


def test_hls_has_an_audio_rendition_per_language(bilingual: Path, tmp_path: Path) -> None:
    """HLS: EXT-X-MEDIA TYPE=AUDIO per language (the first muxed in the main segments, the default; the others
    audio-only TS renditions on the same segment boundaries), each carrying its own language's speech."""
    master = (bilingual / "hls_master.m3u8").read_text()
    media = [dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', line.split(":", 1)[1]))
             for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:TYPE=AUDIO")]  # fmt: skip
    assert [(m["LANGUAGE"], m["GROUP-ID"], m["DEFAULT"], m["AUTOSELECT"]) for m in media] == [
        ('"ko-KR"', '"aud"', "YES", "YES"),
        ('"en-US"', '"aud"', "NO", "YES"),
    ]
    assert "URI" not in media[0] and media[1]["URI"] == '"hls_audio_en-US.m3u8"'
    assert all(m.get("NAME") for m in media)
    stream_inf = next(line for line in master.splitlines() if line.startswith("#EXT-X-STREAM-INF"))
    assert 'AUDIO="aud"' in stream_inf
    main = (bilingual / "hls_media.m3u8").read_text()
    alt = (bilingual / "hls_audio_en-US.m3u8").read_text()
    durations = [re.findall(r"#EXTINF:([\d.]+),", text) for text in (main, alt)]
    assert durations[0] == durations[1]  # same boundaries: the player switches at any segment
    names = {key: [line for line in text.splitlines() if line.endswith(".ts")] for key, text in
             (("main", main), ("alt", alt))}  # fmt: skip
    joined = {}
    for key, files in names.items():
        joined[key] = tmp_path / f"hls_{key}.ts"
        joined[key].write_bytes(b"".join((bilingual / f).read_bytes() for f in files))
        assert continuity_errors(joined[key].read_bytes()) == []
    probed = json.loads(
        run(
            "ffprobe",
            "-v",
            "error",
            "-show_entries",
            "stream=codec_type,codec_name:stream_tags=language",
            "-of",
            "json",
            str(joined["alt"]),
        )
    )
    assert [(s["codec_type"], s["codec_name"], s["tags"]["language"]) for s in probed["streams"]] == [
        ("audio", "aac", "eng")
    ]  # fmt: skip
    # BANDWIDTH covers the main segment plus the alternate audio segment at each position, measured on disk.
    both = [
        ((bilingual / m).stat().st_size + (bilingual / a).stat().st_size) * 8 / float(d)
        for m, a, d in zip(names["main"], names["alt"], durations[0], strict=True)
    ]
    declared = int(re.search(r"[:,]BANDWIDTH=(\d+)", stream_inf).group(1))  # type: ignore[union-attr]
    assert max(both) * 0.999 <= declared <= max(both) * 1.01 + 1
    # Each language's subtitles follow its own audio: both start right after the lead-in, where each speaks.
    firsts = [
        re.search(r"([\d:.]+) -->", (bilingual / f"hls_subs_{t}.vtt").read_text()) for t in ("ko-KR", "en-US")
    ]
    assert firsts[0] is not None and firsts[1] is not None
    assert firsts[0].group(1) == firsts[1].group(1)
    listed = set(json.loads((bilingual / "result.json").read_text())["files"])
    assert {"hls_audio_en-US.m3u8", *names["alt"]} <= listed  # result.json lists the rendition
    _check_track(bilingual, joined["main"], "0:a:0", "ko-KR", tmp_path)
    _check_track(bilingual, joined["alt"], "0:a:0", "en-US", tmp_path)


def test_hls_subtitles_follow_each_language_rendition(bilingual: Path) -> None:
    """Each WebVTT rendition is timed to its language's own audio rendition (result.json ``audio.tracks``),
    LOCAL 0 mapped to the TS clock's start, not to the mixed reading where English came after the Korean."""
    doc = json.loads((bilingual / "result.json").read_text())
    tracks = doc["audio"]["tracks"]
    assert list(tracks) == ["ko-KR", "en-US"]
    for lang, utts in tracks.items():
        vtt = (bilingual / f"hls_subs_{lang}.vtt").read_text()
        assert "X-TIMESTAMP-MAP=MPEGTS:126000,LOCAL:00:00:00.000" in vtt  # TS_OFFSET 1.4 s
        cues = [(_vtt_seconds(a), _vtt_seconds(b)) for a, b in re.findall(r"([\d:.]+) --> ([\d:.]+)", vtt)]
        assert cues == [pytest.approx((u["start_s"], u["end_s"]), abs=0.002) for u in utts], lang
        assert utts[0]["start_s"] < 2.5  # each track starts right after the lead-in


def _vtt_seconds(v: str) -> float:
    parts = [float(p) for p in v.split(":")]
    return sum(p * 60**i for i, p in enumerate(reversed(parts)))
