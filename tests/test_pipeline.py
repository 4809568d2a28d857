"""MediaStage end to end on small frames: burn-in and rich-media outputs checked with ffprobe/ffmpeg/lxml."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from lxml import etree

from cinealert.cap.model import Alert, AlertKey, Area, Classification, DisasterType, Info, Reference
from cinealert.config import parse
from cinealert.handlers.pipeline import LoopInfo, MediaStage, read_result
from cinealert.handlers.stage import Stage, StageCancelled
from cinealert.render.loop import Loop

W, H = 320, 180
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
AEAT = "{tag:atsc.org,2016:XMLSchemas/ATSC3/Delivery/AEAT/1.0/}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"
FLOOD = Classification(DisasterType.FLOOD, 0.9, "event", "호우")


def loop_frames(n: int = 90) -> list[np.ndarray]:
    x = np.arange(W, dtype=np.int32)[None, :]
    y = np.arange(H, dtype=np.int32)[:, None]
    out = []
    for i in range(n):
        rgb = np.empty((H, W, 3), np.uint8)
        rgb[..., 0] = (x * 2 + 3 * i) % 256
        rgb[..., 1] = 60 + (y * 150 // H) + 0 * x
        rgb[..., 2] = (200 - x // 2 + 0 * y) % 256
        out.append(rgb)
    return out


FRAMES = loop_frames()


def make_alert(
    identifier: str = "KMA-T-1", msg_type: str = "Alert", refs: tuple[Reference, ...] = ()
) -> Alert:
    ko = Info(
        "ko-KR", ("Met",), "호우경보", "Immediate", "Extreme", "Observed",
        event_codes=(("KMA", "HRW"),), expires=NOW + timedelta(hours=6), headline="서울 호우경보",
        instruction="높은 곳으로 대피하십시오.", areas=(Area("서울특별시", geocodes=(("SGC", "11"),)),),
    )  # fmt: skip
    en = Info(
        "en-US", ("Met",), "Heavy Rain Warning", "Immediate", "Extreme", "Observed",
        event_codes=(("KMA", "HRW"),), expires=NOW + timedelta(hours=6), headline="Heavy rain in Seoul",
        instruction="Move to higher ground.", areas=(Area("Seoul", geocodes=(("SGC", "11"),)),),
    )  # fmt: skip
    return Alert(identifier, "kma@example.kr", NOW, "2026-11-26T12:00:00+09:00", "Actual", msg_type, "Public",
                 references=refs, infos=(ko, en))  # fmt: skip


class Provider:
    """A loop provider over real frame arrays; counts calls and can cancel after some frames."""

    def __init__(self, cancel_after: int | None = None, cancel: threading.Event | None = None) -> None:
        self.calls = 0
        self.cancel_after = cancel_after
        self.cancel = cancel

    def __call__(self, brief, settings, cancel, size):  # type: ignore[no-untyped-def]
        self.calls += 1
        assert size == (W, H)

        def source():  # type: ignore[no-untyped-def]
            for i, frame in enumerate(FRAMES):
                if self.cancel_after is not None and i == self.cancel_after:
                    cancel.set()
                yield frame

        return LoopInfo(Loop(W, H, Loop.from_arrays(FRAMES).fps, len(FRAMES), source), "synthetic-flood-0")


def stage(tmp_path: Path, **broadcast) -> MediaStage:  # type: ignore[no-untyped-def]
    settings = parse(
        {
            "broadcast": {"output_dir": str(tmp_path / "out"), **broadcast},
            "render": {"cache_dir": str(tmp_path / "cache")},
        }
    )
    return MediaStage(settings, loop_provider=Provider(), size=(W, H))


def probe(path: Path, *args: str, cwd: Path | None = None) -> dict:  # type: ignore[type-arg]
    out = subprocess.run(["ffprobe", "-v", "error", "-of", "json", *args, str(path)], capture_output=True,
                         text=True, check=True, cwd=cwd)  # fmt: skip
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def decode(directory: Path, name: str, stream: str = "0:v") -> list[str]:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", name, "-map", stream, "-f", "framemd5", "-"],
                         capture_output=True, text=True, check=True, cwd=directory)  # fmt: skip
    return [line for line in out.stdout.splitlines() if line and not line.startswith("#")]


def first_frame(directory: Path, name: str) -> np.ndarray:
    out = subprocess.run(["ffmpeg", "-v", "error", "-i", name, "-frames:v", "1", "-f", "rawvideo", "-pix_fmt",
                          "rgb24", "-"], capture_output=True, check=True, cwd=directory)  # fmt: skip
    return np.frombuffer(out.stdout, np.uint8).reshape(H, W, 3)


@pytest.fixture(scope="module")
def burned(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("burn")
    st = stage(tmp, profiles=["atsc1", "atsc3", "hls"], mode="burn-in")
    published = st.publish(make_alert(), FLOOD, threading.Event())
    return st, published


def test_stage_satisfies_the_protocol(burned) -> None:  # type: ignore[no-untyped-def]
    st, _ = burned
    assert isinstance(st, MediaStage)
    _: Stage = st  # mypy checks the structural match; at run time the methods exist
    for name in ("publish", "existing", "supersede", "withdraw"):
        assert callable(getattr(st, name))


def test_burn_in_result_json_lists_everything(burned) -> None:  # type: ignore[no-untyped-def]
    st, published = burned
    directory = published.directory
    assert directory == st.directory(make_alert().key)
    doc = json.loads((directory / "result.json").read_text())
    assert doc["key"] == {
        "sender": "kma@example.kr",
        "identifier": "KMA-T-1",
        "sent": "2026-11-26T12:00:00+09:00",
    }
    assert (doc["disaster"], doc["mode"], doc["profiles"]) == ("flood", "burn-in", ["atsc1", "atsc3", "hls"])
    for name in doc["files"]:
        assert (directory / name).is_file(), name
    assert sorted(doc["files"]) == sorted(p.name for p in directory.iterdir())
    for key in ("parse", "scene", "animate", "compose", "tts", "encode", "publish", "total", "first_segment"):
        if key == "parse":
            continue  # only the CLI parses
        assert key in doc["timings_ms"], key
    assert 0 < doc["timings_ms"]["first_segment"] < doc["timings_ms"]["total"]
    segs = doc["outputs"]["atsc1"]["segments"]
    assert all(s["duration_s"] == pytest.approx(2.002) for s in segs)
    assert doc["duration_s"] == pytest.approx(len(segs) * 2.002)
    speech_end = doc["audio"]["utterances"][-1]["end_s"]
    assert doc["duration_s"] >= speech_end  # the loop was repeated to cover the whole spoken alert
    assert doc["duration_s"] > len(FRAMES) / 29.97
    assert doc["audio"]["loudness_lkfs"] == pytest.approx(-24.0, abs=0.2)
    assert published.extra["status"] == "published"


def test_burn_in_atsc1_and_hls_segments_probe_right(burned) -> None:  # type: ignore[no-untyped-def]
    _, published = burned
    d = published.directory
    doc = json.loads((d / "result.json").read_text())
    for profile, video_codec, audio_codec in (("atsc1", "mpeg2video", "ac3"), ("hls", "h264", "aac")):
        last = None
        assert doc["outputs"][profile]["video_codec"] == video_codec
        for seg in doc["outputs"][profile]["segments"]:
            streams = {s["codec_type"]: s for s in probe(d / seg["name"], "-show_streams")["streams"]}
            v, a = streams["video"], streams["audio"]
            assert (v["codec_name"], a["codec_name"]) == (video_codec, audio_codec)
            assert (streams["video"]["width"], streams["video"]["height"]) == (W, H)
            start = float(streams["video"]["start_time"])
            if last is not None:
                assert start == pytest.approx(last + 2.002, abs=0.002)
            last = start
    n = len(doc["outputs"]["hls"]["segments"]) * 60
    assert len(decode(d, "hls_master.m3u8")) == n
    assert len(decode(d, "atsc1.m3u8")) == n


def test_burn_in_atsc3_dash_decodes_end_to_end_with_overlay(burned) -> None:  # type: ignore[no-untyped-def]
    _, published = burned
    d = published.directory
    doc = json.loads((d / "result.json").read_text())
    frames = decode(d, "manifest.mpd")
    assert len(frames) == len(doc["outputs"]["atsc3"]["segments"]) * 60
    assert len(decode(d, "manifest.mpd", "0:a")) > 0
    mpd = etree.parse(str(d / "manifest.mpd")).getroot()
    ns = {"m": "urn:mpeg:dash:schema:mpd:2011"}
    texts = mpd.findall(".//m:AdaptationSet[@contentType='text']", ns)
    assert sorted(a.get("lang") for a in texts) == ["en-US", "ko-KR"]
    for aset in texts:  # IMSC1 in fMP4 segments (A/343); tests/test_broadcast_dash.py reads them
        rep = aset.find("m:Representation", ns)
        assert aset.get("mimeType") == "application/mp4" and rep.get("codecs") == "stpp.ttml.im1t"
        assert (d / rep.find("m:SegmentTemplate", ns).get("initialization")).is_file()
    frame = first_frame(d, "manifest.mpd")
    top = slice(0, H // 2)
    assert np.abs(frame[top].astype(int) - FRAMES[0][top].astype(int)).mean() < 12  # picture intact above
    lower = slice(int(H * 0.75), int(H * 0.9))
    assert np.abs(frame[lower].astype(int) - FRAMES[0][lower].astype(int)).mean() > 40  # overlay burned in


def test_captions_published_in_both_formats(burned) -> None:  # type: ignore[no-untyped-def]
    _, published = burned
    d = published.directory
    doc = json.loads((d / "result.json").read_text())
    tracks = doc["audio"]["tracks"]
    assert list(tracks) == list(doc["captions"])
    for lang, files in doc["captions"].items():
        vtt = (d / files["vtt"]).read_text()
        assert vtt.startswith("WEBVTT")
        ttml = etree.parse(str(d / files["ttml"])).getroot()
        ps = ttml.findall(".//{http://www.w3.org/ns/ttml}p")
        first = tracks[lang][0]  # captions follow the language's own track, not the mixed reading
        _h, m, s = ps[0].get("begin").split(":")
        assert float(s) + 60 * int(m) == pytest.approx(first["start_s"], abs=0.002)


def test_existing_supersede_and_withdraw(burned, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    st, published = burned
    key = make_alert().key
    again = st.existing(key)
    assert again is not None and again.directory == published.directory and again.files == published.files
    unknown = AlertKey("x", "y", "z")
    assert st.existing(unknown) is None
    assert st.supersede(unknown, key) is None
    assert st.withdraw(unknown, key) is None

    by = AlertKey("kma@example.kr", "KMA-T-2", "2026-11-26T13:00:00+09:00")
    marker = st.supersede(key, by)
    assert marker is not None and marker.name == "SUPERSEDED.json"
    assert json.loads(marker.read_text())["by"] == str(by)
    index = json.loads((st.settings.broadcast.output_dir / "index.json").read_text())
    assert index[key.slug()]["status"] == "superseded"
    assert st.existing(key).extra["status"] == "superseded"  # type: ignore[union-attr]

    cancel_key = AlertKey("kma@example.kr", "KMA-T-3", "2026-11-26T14:00:00+09:00")
    marker = st.withdraw(key, cancel_key)
    assert marker is not None and marker.name == "WITHDRAWN.json"
    index = json.loads((st.settings.broadcast.output_dir / "index.json").read_text())
    assert index[key.slug()] | {"by": str(cancel_key), "status": "withdrawn"} == index[key.slug()]
    assert "withdrawn" in st.existing(key).extra["markers"]  # type: ignore[union-attr]


def test_rich_media_reuses_cached_video_and_writes_aeat(tmp_path: Path) -> None:
    st = stage(tmp_path, profiles=["atsc3"], mode="rich-media")
    first = st.publish(make_alert(), FLOOD, threading.Event())
    update = make_alert(
        "KMA-T-2", "Update", (Reference("kma@example.kr", "KMA-T-1", "2026-11-26T12:00:00+09:00"),)
    )
    # A fresh stage (new process): the encoded video comes from the disk cache, not from memory.
    st2 = stage(tmp_path, profiles=["atsc3"], mode="rich-media")
    second = st2.publish(update, FLOOD, threading.Event())
    o1 = json.loads((first.directory / "result.json").read_text())["outputs"]["atsc3"]
    o2 = json.loads((second.directory / "result.json").read_text())["outputs"]["atsc3"]
    assert o1["video_cache"]["hit"] is False and o2["video_cache"]["hit"] is True
    assert o1["video_cache"]["key"] == o2["video_cache"]["key"]
    cache_dir = tmp_path / "cache" / "broadcast" / o1["video_cache"]["key"]
    cached = sorted(cache_dir.glob("*.m4s"))
    assert len(cached) == 3  # lcm(90-frame loop, 60-frame segments) = 180 frames = 3 segments
    # Every published video segment carries a cached segment's coded pictures byte for byte (no re-encode).
    mdats = {c.read_bytes()[-2000:] for c in cached}
    for seg in o2["segments"]:
        assert (second.directory / seg["name"]).read_bytes()[-2000:] in mdats
    assert len(o2["segments"]) > len(cached)  # the loop repeats to cover the speech
    # Clean picture: no overlay in rich-media video.
    d = second.directory
    assert len(decode(d, "manifest.mpd")) == len(o2["segments"]) * 60
    frame = first_frame(d, "manifest.mpd")
    assert np.abs(frame.astype(int) - FRAMES[0].astype(int)).mean() < 12

    aeat = etree.parse(str(d / "aeat.xml")).getroot()
    aea = aeat.find(f"{AEAT}AEA")
    assert aea is not None
    assert aea.get("aeaType") == "update"
    assert aea.get("refAEAId") == AlertKey("kma@example.kr", "KMA-T-1", "2026-11-26T12:00:00+09:00").slug()
    assert aea.get("priority") == "4" and aea.get("wakeup") == "true"
    assert aea.get("issuer") == "kma@example.kr" and aea.get("audience") == "public"
    header = aea.find(f"{AEAT}Header")
    assert header.get("effective") and header.get("expires") == "2026-11-26T09:00:00Z"  # type: ignore[union-attr]
    assert header.find(f"{AEAT}EventCode").text == "HRW"  # type: ignore[union-attr]
    assert {e.get(XML_LANG): e.text for e in header.findall(f"{AEAT}EventDesc")} == {  # type: ignore[union-attr]
        "ko-KR": "호우경보", "en-US": "Heavy Rain Warning"}  # fmt: skip
    assert header.find(f"{AEAT}Location").text == "11"  # type: ignore[union-attr]
    texts = {e.get(XML_LANG): e.text for e in aea.findall(f"{AEAT}AEAText")}
    assert texts["ko-KR"].startswith("서울 호우경보") and "higher ground" in texts["en-US"]
    media = aea.findall(f"{AEAT}Media")
    assert {m.get("mediaType") for m in media} >= {"AEAtextAudio", "EventSymbol"}
    for m in media:
        path = d / m.get("url")
        assert path.is_file() and int(m.get("contentLength")) == path.stat().st_size
        assert m.get("contentType") and m.get("mediaDesc")
    spoken = next(m for m in media if m.get("mediaType") == "AEAtextAudio")
    assert probe(d / spoken.get("url"), "-show_streams")["streams"][0]["codec_name"] == "aac"


def test_cancel_between_frames_publishes_nothing(tmp_path: Path) -> None:
    settings = parse({"broadcast": {"output_dir": str(tmp_path / "out"), "profiles": ["atsc1"]},
                      "render": {"cache_dir": str(tmp_path / "cache")}})  # fmt: skip
    cancel = threading.Event()
    st = MediaStage(settings, loop_provider=Provider(cancel_after=20), size=(W, H))
    with pytest.raises(StageCancelled):
        st.publish(make_alert(), FLOOD, cancel)
    assert not st.directory(make_alert().key).exists()
    assert st.existing(make_alert().key) is None


CHILD = r"""
import json, resource, signal, sys, threading
from pathlib import Path
sys.path.insert(0, sys.argv[2])
import test_pipeline as t
from cinealert.broadcast.publish import PublishError
from cinealert.broadcast.audio import EspeakSpeaker
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
st = t.stage(Path(sys.argv[1]), profiles=["atsc1"])
# Real espeak-ng speech, synthesised before the limit (espeak-ng itself would die of SIGXFSZ under it).
espeak = EspeakSpeaker()
said = {}
for info in t.make_alert().infos:
    for text in (info.headline, info.instruction):
        said[(text, info.language)] = espeak.speak(text, info.language)
class Replay:
    name = "replay"
    def speak(self, text, language):
        return said[(text, language)]
st._speaker = Replay()
resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))  # the second segment does not fit
try:
    st.publish(t.make_alert(), t.FLOOD, threading.Event())
except PublishError as exc:
    print(json.dumps({"error": "PublishError", "msg": str(exc)}))
else:
    print(json.dumps({"error": None}))
"""


def test_disk_full_mid_publish_fails_cleanly(tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-c", CHILD, str(tmp_path), str(Path(__file__).parent)],
                          capture_output=True, text=True, check=True)  # fmt: skip
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["error"] == "PublishError", proc.stderr[-2000:]
    out = tmp_path / "out"
    leftovers = list(out.rglob("*")) if out.exists() else []
    assert leftovers == []
    assert read_result(out / make_alert().key.slug()) is None


def loudness_of(directory: Path, name: str) -> tuple[float, float]:
    import re

    proc = subprocess.run(["ffmpeg", "-hide_banner", "-nostats", "-i", name, "-map", "0:a", "-af",
                           "ebur128=peak=true", "-f", "null", "-"], capture_output=True, text=True, check=True,
                          cwd=directory)  # fmt: skip
    summary = proc.stderr[proc.stderr.rindex("Summary:") :]
    integrated = float(re.search(r"I:\s+(-?[\d.]+) LUFS", summary).group(1))  # type: ignore[union-attr]
    peak = float(re.search(r"Peak:\s+(-?[\d.]+|-inf) dBFS", summary).group(1))  # type: ignore[union-attr]
    return integrated, peak


def test_delivered_audio_meets_a85_after_encoding(burned) -> None:  # type: ignore[no-untyped-def]
    """Measured by FFmpeg on what a receiver decodes: AC-3 in the ATSC 1.0 TS, AAC in DASH and HLS."""
    _, published = burned
    for name in ("atsc1.m3u8", "manifest.mpd", "hls_master.m3u8"):
        integrated, peak = loudness_of(published.directory, name)
        assert -25.0 <= integrated <= -23.0, (name, integrated)
        assert peak <= -2.0 + 0.3, (name, peak)


def test_hls_carries_webvtt_subtitle_renditions_aligned_to_the_ts_clock(burned) -> None:  # type: ignore[no-untyped-def]
    _, published = burned
    d = published.directory
    master = (d / "hls_master.m3u8").read_text()
    renditions = [line for line in master.splitlines() if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert len(renditions) == 2 and 'SUBTITLES="subs"' in master
    first_pts = probe(d / "hls_seg_00000.ts", "-select_streams", "v", "-show_entries", "packet=pts")[
        "packets"
    ][0]
    for line in renditions:
        playlist = d / line.split('URI="')[1].rstrip('"')
        vtt_name = next(x for x in playlist.read_text().splitlines() if x.endswith(".vtt"))
        header = (d / vtt_name).read_text().splitlines()[1]
        assert header == f"X-TIMESTAMP-MAP=MPEGTS:{first_pts['pts']},LOCAL:00:00:00.000"


def test_redelivered_alert_is_not_rendered_twice(tmp_path: Path) -> None:
    st = stage(tmp_path, profiles=["atsc1"])
    provider = st.loop_provider
    results = []

    def go() -> None:
        results.append(st.publish(make_alert(), FLOOD, threading.Event()))

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(results) == 2 and results[0].files == results[1].files
    assert provider.calls == 1  # type: ignore[attr-defined]  # the second worker found the first one's result
    assert all(p.is_file() for p in results[0].files)


def test_media_markers_keep_the_first_cancel(burned) -> None:  # type: ignore[no-untyped-def]
    """One marker layout for every stage: a second Cancel (or a replay) does not rewrite who withdrew it."""
    st, _published = burned
    key = make_alert().key
    first_by = AlertKey("kma@example.kr", "KMA-T-8", "2026-11-26T15:00:00+09:00")
    later_by = AlertKey("kma@example.kr", "KMA-T-9", "2026-11-26T16:00:00+09:00")
    first = st.withdraw(key, first_by)  # (an earlier test may already have withdrawn it: then that one stays)
    assert first is not None
    recorded = json.loads(first.read_text())["by"]
    assert st.withdraw(key, later_by) == first
    assert json.loads(first.read_text())["by"] == recorded != str(later_by)
    index = json.loads((st.settings.broadcast.output_dir / "index.json").read_text())
    assert index[key.slug()]["by"] == recorded
