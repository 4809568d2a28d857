"""The media ladder on small frames: a valid alert airs at the best rung its parts allow, checked on what a
receiver decodes (ffprobe/ffmpeg), with real espeak-ng speech, the real scene backend for stills and real fonts.

Each failure is real or injected where the stage already takes it: a language espeak-ng has no voice for, dates
no time zone can hold, a loop provider that raises, a picture too small for the overlay.
"""

from __future__ import annotations

import errno
import json
import subprocess
import threading
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pytest
import structlog
from lxml import etree

from cinealert.broadcast.aeat import aeat
from cinealert.cap import parse_alert
from cinealert.cap.model import Alert, DisasterType
from cinealert.config import parse
from cinealert.handlers.pipeline import (
    LoopInfo,
    MediaError,
    MediaStage,
    default_still_provider,
    read_result,
    variant_for,
)
from cinealert.handlers.process import disk_full
from cinealert.handlers.stage import RUNGS, GateClosed, Published, StageCancelled
from cinealert.render.backends import BackendError
from cinealert.render.labels import format_expiry
from cinealert.render.loop import Loop
from cinealert.render.prompt import SceneBrief
from cinealert.render.slate import plain_background
from conftest import cap_xml
from test_pipeline import AEAT, FLOOD, H, W, decode, first_frame, loudness_of, make_alert, probe

SEG_FRAMES = 60  # 2.002 s at 29.97 fps


class SceneCrash:
    """A loop provider whose renderer fails the same way every time (what the ladder exists for)."""

    def __init__(self, exc: Exception | None = None) -> None:
        self.calls = 0
        self.exc = exc or RuntimeError("animator: fused kernel failed to compile")

    def __call__(self, brief, settings, cancel, size):  # type: ignore[no-untyped-def]
        self.calls += 1
        raise self.exc


class Stills:
    """The real still provider, counted."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, brief, settings, size):  # type: ignore[no-untyped-def]
        self.calls += 1
        return default_still_provider(brief, settings, size)


def make_stage(
    tmp_path: Path, provider: Any, *, size: tuple[int, int] = (W, H), **broadcast: Any
) -> MediaStage:
    settings = parse(
        {
            "broadcast": {"output_dir": str(tmp_path / "out"), "profiles": ["atsc1"], **broadcast},
            "render": {"cache_dir": str(tmp_path / "cache")},
        }
    )
    return MediaStage(settings, loop_provider=provider, still_provider=Stills(), size=size)


def working_loop(size: tuple[int, int] = (W, H)) -> Any:
    frames = [np.full((size[1], size[0], 3), (40 + 4 * i, 90, 160), np.uint8) for i in range(30)]

    def provider(brief, settings, cancel, size_):  # type: ignore[no-untyped-def]
        return LoopInfo(Loop.from_arrays(frames), "synthetic-ladder")

    return provider


def alert_from(**fields: Any) -> Alert:
    return parse_alert(cap_xml(fields.pop("identifier", "LADDER-1"), **fields))


def check_playable(published: Published, playlist: str = "atsc1.m3u8") -> dict[str, Any]:
    """result.json agrees with Published, and the playlist decodes end to end: every frame, audio present."""
    d = published.directory
    doc: dict[str, Any] = json.loads((d / "result.json").read_text())
    assert doc["rung"] in RUNGS and doc["rung"] == published.rung
    assert tuple(doc["degraded"]) == published.degraded
    again = read_result(d)  # what a replay or a redelivery reads back
    assert again is not None and (again.rung, again.degraded) == (published.rung, published.degraded)
    assert sorted(doc["files"]) == sorted(p.name for p in d.iterdir())
    segments = doc["outputs"]["atsc1"]["segments"]
    assert len(decode(d, playlist)) == len(segments) * SEG_FRAMES
    assert len(decode(d, playlist, "0:a")) > 0
    duration = float(probe(d / playlist, "-show_format", cwd=d)["format"]["duration"])
    assert duration == pytest.approx(doc["duration_s"], abs=0.1)
    assert doc["duration_s"] >= max((u["end_s"] for u in doc["audio"]["utterances"]), default=0.0)
    integrated, peak = loudness_of(d, playlist)
    assert -25.0 <= integrated <= -23.0 and peak <= -1.7, (integrated, peak)
    return doc


def test_missing_voice_airs_without_speech_but_with_tone_captions_and_loudness(tmp_path: Path) -> None:
    alert = alert_from(language="xx-ZZ", headline="Flash flood warning for the river valley")
    st = make_stage(tmp_path, working_loop())
    with structlog.testing.capture_logs() as logs:
        published = st.publish(alert, FLOOD, threading.Event())
    assert published.rung == "no_speech"
    assert len(published.degraded) == 1 and "'xx-ZZ'" in published.degraded[0]
    doc = check_playable(published)
    assert doc["picture"]["source"] == "scene loop"
    # The text is still captioned, timed like speech: a chime at each utterance, then its reading time.
    utterances = doc["audio"]["utterances"]
    assert [u["language"] for u in utterances] == ["xx-ZZ"]
    assert utterances[0]["end_s"] - utterances[0]["start_s"] >= 2.5
    vtt = (published.directory / doc["captions"]["xx-ZZ"]["vtt"]).read_text()
    assert "Flash flood warning" in vtt
    degraded = [e for e in logs if e["event"] == "media_degraded"]
    assert [e["rung"] for e in degraded] == ["no_speech"]
    index = json.loads((st.settings.broadcast.output_dir / "index.json").read_text())
    assert index[alert.key.slug()]["rung"] == "no_speech"


def test_dates_past_what_a_zone_holds_air_full_as_written(tmp_path: Path) -> None:
    alert = alert_from(sent="0001-01-01T00:00:00+00:00", expires="9999-12-31T23:59:59+00:00")
    st = make_stage(tmp_path, working_loop(), profiles=["atsc1", "atsc3"], mode="rich-media")
    published = st.publish(alert, FLOOD, threading.Event())
    assert (published.rung, published.degraded) == ("full", ())
    doc = check_playable(published)
    # No zone configured: the overlay shows the expiry at the alert's own offset, as it wrote it.
    shown = doc["picture"]["pages"]
    assert [p["expiry"] for p in shown] == ["until 31 Dec 9999 23:59 UTC+00:00"]
    # A channel in Seoul: 9 hours past year 9999's last second, so the ISO text the alert wrote is shown.
    tz = ZoneInfo(st.settings.broadcast.timezone)
    assert format_expiry(alert.expires, "ko-KR", tz) == "9999-12-31T23:59:59+00:00 까지"
    # The AEAT is valid A/331: xs:dateTime with four-digit years.
    d = published.directory
    header = etree.parse(str(d / "aeat.xml")).getroot().find(f"{AEAT}AEA/{AEAT}Header")
    assert header is not None
    assert header.get("effective") == "0001-01-01T00:00:00Z"
    assert header.get("expires") == "9999-12-31T23:59:59Z"
    assert len(decode(d, "manifest.mpd")) == len(doc["outputs"]["atsc3"]["segments"]) * SEG_FRAMES


def test_aeat_gives_a_date_utc_cannot_hold_as_written() -> None:
    """Year 1 at +09:00 is before year 1 in UTC: the AEAT carries the CAP literal, still an xs:dateTime."""
    alert = alert_from(sent="0001-01-01T00:00:00+09:00", expires="9999-12-31T23:59:59-05:00")
    header = etree.fromstring(aeat(alert, [])).find(f"{AEAT}AEA/{AEAT}Header")
    assert header is not None
    assert header.get("effective") == "0001-01-01T00:00:00+09:00"
    assert header.get("expires") == "9999-12-31T23:59:59-05:00"


def test_failing_scene_airs_a_still_frame_with_overlay_and_speech(tmp_path: Path) -> None:
    crash = SceneCrash()
    st = make_stage(tmp_path, crash)
    with structlog.testing.capture_logs() as logs:
        published = st.publish(make_alert(), FLOOD, threading.Event())
    assert published.rung == "static" and crash.calls == 1
    assert len(published.degraded) == 1 and "kernel failed to compile" in published.degraded[0]
    doc = check_playable(published)
    assert doc["picture"]["source"] == "still frame"
    assert [p["language"] for p in doc["picture"]["pages"]] == ["ko-KR", "en-US"]  # the overlay was burned in
    assert {u["kind"] for u in doc["audio"]["utterances"]} == {"headline", "instruction"}  # spoken
    # What aired above the overlay is the scene at rest, from the real backend.
    variant = variant_for(make_alert().key, st.settings.render.variants)
    still = default_still_provider(SceneBrief(DisasterType.FLOOD, variant), st.settings, (W, H))
    frame = first_frame(published.directory, "atsc1.m3u8")
    top = slice(0, H // 2)
    assert np.abs(frame[top].astype(int) - still[top].astype(int)).mean() < 12
    assert [(e["rung"], e["failed"]) for e in logs if e["event"] == "media_degraded"] == [("static", "loop")]


def test_no_still_frame_either_airs_a_plain_background_under_the_overlay(tmp_path: Path) -> None:
    """The scene backend itself fails (so the still it would give too): still ``static``, on a background."""
    st = make_stage(tmp_path, SceneCrash())

    def no_backend(brief, settings, size):  # type: ignore[no-untyped-def]
        raise BackendError("scene backend 'ml' cannot be loaded: model directory missing")

    st.still_provider = no_backend
    published = st.publish(make_alert(), FLOOD, threading.Event())
    assert published.rung == "static"
    assert len(published.degraded) == 1
    assert "scene loop failed" in published.degraded[0] and "model directory missing" in published.degraded[0]
    doc = check_playable(published)
    assert doc["picture"]["source"] == "plain background"
    frame = first_frame(published.directory, "atsc1.m3u8")
    top = slice(0, H // 2)
    assert np.abs(frame[top].astype(int) - plain_background(W, H)[top].astype(int)).mean() < 6
    # The overlay is on it: its severity band (Extreme: dark red) crosses the lower third.
    rows = frame[H * 2 // 3 :].astype(int).mean(axis=1)
    assert ((rows[:, 0] > 120) & (rows[:, 1] < 60)).any(), rows


def test_failing_static_too_airs_the_slate(tmp_path: Path) -> None:
    """A 64x36 picture holds no overlay (the still and the clip need one); the slate sets its own text.

    Rich-media ATSC 3.0 comes first and needs no overlay, so the static rung publishes its video before the
    burned-in ATSC 1.0 fails: the slate rung must start from an empty directory, not on top of those files.
    """
    size = (64, 36)
    st = make_stage(tmp_path, SceneCrash(), size=size, profiles=["atsc3", "atsc1"], mode="rich-media")
    alert = alert_from(headline="Flash flood warning")
    published = st.publish(alert, FLOOD, threading.Event())
    assert published.rung == "slate"
    assert len(published.degraded) == 2
    assert "scene loop failed" in published.degraded[0]
    assert "overlay cannot be laid out" in published.degraded[1]
    assert st.still_provider.calls == 1  # type: ignore[attr-defined]
    d = published.directory
    video = next(
        s for s in probe(d / "atsc1_seg_00000.ts", "-show_streams")["streams"] if s["codec_type"] == "video"
    )
    assert (video["width"], video["height"]) == size
    doc = check_playable(published)  # also: no file in the directory that result.json does not list
    assert doc["picture"]["source"] == "slate"
    page = doc["picture"]["pages"][0]
    assert " ".join(page["lines"]).replace("…", "").split()[0] == "Flash"
    assert page["expiry"].startswith("until ")
    assert {u["kind"] for u in doc["audio"]["utterances"]} == {"headline"}  # spoken: speech still works
    # Both presentations show the slate: its band in the severity colour (Severe: orange) tops the picture.
    for playlist in ("atsc1.m3u8", "manifest.mpd"):
        raw = subprocess.run(["ffmpeg", "-v", "error", "-i", playlist, "-frames:v", "1", "-f", "rawvideo",
                              "-pix_fmt", "rgb24", "-"], capture_output=True, check=True, cwd=d).stdout  # fmt: skip
        band = np.frombuffer(raw, np.uint8).reshape(size[1], size[0], 3)[:2].reshape(-1, 3).mean(axis=0)
        assert band[0] > 180 and band[2] < 90, (playlist, band)
    assert len(decode(d, "manifest.mpd")) == len(doc["outputs"]["atsc3"]["segments"]) * SEG_FRAMES


def test_cancellation_and_a_closed_gate_are_never_degraded(tmp_path: Path) -> None:
    alert = make_alert()
    # Shutdown mid-encode: the loop provider sets the cancel event after 20 frames.
    cancel = threading.Event()

    def cancelling(brief, settings, c, size):  # type: ignore[no-untyped-def]
        frames = [np.zeros((H, W, 3), np.uint8)] * 90

        def source():  # type: ignore[no-untyped-def]
            for i, frame in enumerate(frames):
                if i == 20:
                    c.set()
                yield frame

        return LoopInfo(Loop(W, H, Loop.from_arrays(frames).fps, len(frames), source), "cancelling")

    st = make_stage(tmp_path, cancelling)
    with structlog.testing.capture_logs() as logs, pytest.raises(StageCancelled):
        st.publish(alert, FLOOD, cancel)
    # A loop provider that itself reports the shutdown.
    st2 = make_stage(tmp_path, SceneCrash(StageCancelled("shutting down")))
    with structlog.testing.capture_logs() as logs2, pytest.raises(StageCancelled):
        st2.publish(alert, FLOOD, threading.Event())
    # The publish gate refusing (a Cancel got there first) is no render failure either.
    st3 = make_stage(tmp_path, working_loop())

    def closed() -> None:
        raise GateClosed("cancelled by a later Cancel")

    with structlog.testing.capture_logs() as logs3, pytest.raises(GateClosed):
        st3.publish(alert, FLOOD, threading.Event(), closed)
    for stage_, events in ((st, logs), (st2, logs2), (st3, logs3)):
        assert stage_.still_provider.calls == 0  # type: ignore[attr-defined]
        assert not [e for e in events if e["event"] == "media_degraded"]
        assert not stage_.directory(alert.key).exists()
        assert stage_.existing(alert.key) is None


def test_disk_full_is_not_degraded(tmp_path: Path) -> None:
    """The scene cache cannot be written: the caller waits for space, the alert does not air a lesser rung."""
    full = SceneCrash(OSError(errno.ENOSPC, "No space left on device"))
    st = make_stage(tmp_path, full)
    with pytest.raises(Exception) as caught:
        st.publish(make_alert(), FLOOD, threading.Event())
    assert disk_full(caught.value)
    assert st.still_provider.calls == 0  # type: ignore[attr-defined]
    assert st.existing(make_alert().key) is None


def test_when_even_the_slate_fails_publish_raises_with_every_reason(tmp_path: Path) -> None:
    """Scene, still and slate all fail: the scene renderer crashes, and an odd picture width (the CLI refuses
    one, a library caller may not) is taken by no 4:2:0 encoder, whatever the picture. Nothing is left."""
    st = make_stage(tmp_path, SceneCrash(), size=(63, 36))
    with pytest.raises(MediaError) as caught:
        st.publish(make_alert(), FLOOD, threading.Event())
    message = str(caught.value)
    assert "every rung failed" in message and "scene loop failed" in message
    assert "overlay cannot be laid out" in message and "slate picture failed: EncodeError" in message
    assert not st.directory(make_alert().key).exists()
