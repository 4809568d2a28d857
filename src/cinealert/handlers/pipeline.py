"""Alert -> published broadcast media: the ``Stage`` the daemon calls, and the ``cinealert render`` command.

Order of work, chosen for time-to-first-segment: speech synthesis starts in a worker thread at once; the scene
loop is fetched (usually a cache hit); the first TS segment's video is encoded with the overlay while the
speech is still being synthesised; only then are the audio packets muxed and the segment published. Every
file is published atomically; manifests follow their segments; ``result.json`` is written last, so its
presence means the output is complete (``existing`` relies on it). Any failure removes the partial directory.

Modes: ``burn-in`` draws the overlay into the video of every profile. ``rich-media`` (ATSC 3.0 AEA) reuses the
scene's video, encoded once per scene and cached as fMP4 segments; a segment re-timed for position k is the
same for every alert, so it is kept in the cache and hard-linked into each output. Per alert only audio,
captions, an AEAT and the MPD are made; other profiles in that mode are produced burned-in (they have no AEA).
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import functools
import hashlib
import io
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import structlog

from cinealert.cap.model import Alert, AlertKey, Classification, DisasterType, Info
from cinealert.handlers.stage import Gate, GateClosed, Published, StageCancelled
from cinealert.render.loop import Frame, Loop

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio, Samples, Speaker
    from cinealert.broadcast.dash import TextRef
    from cinealert.broadcast.encode import FragmentedTrack, Profile
    from cinealert.broadcast.publish import OutputDir
    from cinealert.config import Settings
    from cinealert.config.sections import RenderSettings
    from cinealert.render.compose import Overlay

log = structlog.get_logger(__name__)

Mode = Literal["burn-in", "rich-media"]
ProfileName = Literal["atsc1", "atsc3", "hls"]
ALL_PROFILES: tuple[ProfileName, ...] = ("atsc1", "atsc3", "hls")
RESULT = "result.json"
VIDEO_CACHE_VERSION = "1"


class MediaError(RuntimeError):
    """The media stage cannot run (renderer missing, bad request); the message says what to fix."""


class _RungError(MediaError):
    """One part of a ladder rung failed (``part``: scene, overlay, picture, slate, render); a lower one may do."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


class _SpeechError(MediaError):
    """Not even the chimes standing in for speech could be made: no rung would have audio."""


#: The picture of a ladder rung; speech is degraded on its own, so ``no_speech`` has no picture of its own.
_Picture = Literal["loop", "still", "slate"]
_PICTURE_RUNG: dict[str, str] = {"loop": "full", "still": "static", "slate": "slate"}


@dataclass(frozen=True, slots=True)
class LoopInfo:
    loop: Loop
    scene_key: str
    cache_hit: bool = False
    timings_ms: Mapping[str, float] = field(default_factory=dict)


#: ``(disaster, variant, render settings, cancel, picture size or None) -> LoopInfo``
LoopProvider = Callable[
    [DisasterType, int, "RenderSettings", threading.Event, "tuple[int, int] | None"], LoopInfo
]


#: ``(disaster, variant, render settings, picture size) -> HxWx3 uint8``: the scene at rest, for ``static``.
StillProvider = Callable[[DisasterType, int, "RenderSettings", "tuple[int, int]"], Frame]


def default_still_provider(
    disaster: DisasterType, variant: int, settings: RenderSettings, size: tuple[int, int]
) -> Frame:
    """The scene the loop would have animated, composited at rest: no animator, no cache, no torch.

    The scene backend (cheap: ~0.2 s at 320x180, ~3 s at 1080p) is rarely what fails when a loop cannot be had;
    the animator, its kernels or the cache are more often, and the alert then keeps its picture, only still.
    """
    from cinealert.render import build_scene

    return build_scene(disaster, variant, settings, size).image


def default_loop_provider(
    disaster: DisasterType,
    variant: int,
    settings: RenderSettings,
    cancel: threading.Event,
    size: tuple[int, int] | None,
) -> LoopInfo:
    """The scene renderer's cached loop (``cinealert.render.get_loop``); its timings map to scene/animate."""
    from cinealert.render import get_loop

    result = get_loop(disaster, variant, settings, cancel=cancel, size=size)
    raw = {k: float(v) for k, v in dict(result.timings_ms).items()}
    timings = {
        "scene": raw.get("lookup", 0.0) + raw.get("build", 0.0),
        "animate": raw.get("render", 0.0),
    }
    return LoopInfo(result.loop, str(result.scene_key), bool(result.cache_hit), timings)


def variant_for(key: AlertKey, variants: int) -> int:
    """Deterministic per alert (same rule as the renderer), so a redelivered alert gets the same scene."""
    from cinealert.render.service import choose_variant

    return choose_variant(key, variants)


# --- timing -----------------------------------------------------------------------------------------------


class _Clock:
    """One render's timings, and what it has settled so far that later steps and ``result.json`` need."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.ms: dict[str, float] = {}
        self.first_segment: float | None = None
        self.captions: dict[str, dict[str, str]] | None = None  # sidecar captions, once written
        self.speech = _SpeechLog()
        self.shown: list[dict[str, Any]] = []  # the text on screen per page (overlay or slate)

    def add(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0

    def segment_out(self) -> None:
        if self.first_segment is None:
            self.first_segment = (time.perf_counter() - self.started) * 1000.0


@dataclass(slots=True)
class _OverlayRef:
    """The overlay in use; replaced once the speech timing is known (pages then follow the speech)."""

    overlay: Overlay | None


def _frames(loop: Loop, width: int, height: int, ref: _OverlayRef, clock: _Clock) -> Iterator[Frame]:
    """The loop repeated forever, resized if needed, with the overlay (if any) burned in.

    A frame that cannot be had (a cache entry unreadable mid-loop, a frame of the wrong shape) fails the
    picture, not the output's storage: it surfaces as ``_RungError`` wherever the encoder pulls it.
    """
    from PIL import Image

    index = 0
    while True:
        produced = False
        try:
            for frame in loop.frames():
                produced = True
                t = time.perf_counter()
                if frame.shape[:2] != (height, width):
                    frame = np.asarray(
                        Image.fromarray(frame).resize((width, height), Image.Resampling.BILINEAR)
                    )
                overlay = ref.overlay
                out = overlay.apply(frame, index) if overlay is not None else frame
                clock.add("compose", time.perf_counter() - t)
                yield out
                index += 1
        except Exception as exc:
            raise _RungError("picture", f"frame {index} of the picture failed: {_describe(exc)}") from exc
        if not produced:
            raise _RungError("picture", "the scene loop produced no frames")


# --- the ladder ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Source:
    """The picture of one rung and how ``result.json`` names it."""

    info: LoopInfo
    picture: _Picture
    kind: str  # "scene loop" | "still frame" | "plain background" | "slate"
    overlay: bool = True  # burn the overlay in (the slate carries its own text)
    shown: Sequence[dict[str, Any]] = ()
    note: str = ""  # why it is less than asked for (a still that could not be had: a plain background)


def _describe(exc: BaseException, limit: int = 300) -> str:
    """One operator-readable line: the type and message, whitespace collapsed, cut to ``limit``."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fatal(exc: Exception, cancel: threading.Event) -> BaseException | None:
    """What must propagate instead of a step down the ladder: ``exc`` itself, a ``StageCancelled`` standing
    for it, or ``None`` (degrade). Cancellation and a closed gate are no failures; the output's storage failing
    (``PublishError``, disk full anywhere in the chain) is not this alert's fault and no simpler picture would
    fix it (the caller waits for space); missing audio would be missing at every rung."""
    from cinealert.broadcast.encode import EncodeCancelledError
    from cinealert.broadcast.publish import PublishError, disk_full

    if isinstance(exc, StageCancelled | GateClosed):
        return exc
    if isinstance(exc, EncodeCancelledError) or cancel.is_set():
        return StageCancelled(f"render cancelled: {exc}")
    if isinstance(exc, PublishError | _SpeechError) or disk_full(exc):
        return exc
    return None


def _lower(picture: _Picture, exc: Exception) -> _Picture | None:
    """The next rung down after ``picture`` failed with ``exc``: the still shares the overlay, so an overlay
    that cannot be laid out goes straight to the slate; below the slate there is nothing."""
    if picture == "slate":
        return None
    if picture == "still" or (isinstance(exc, _RungError) and exc.part == "overlay"):
        return "slate"
    return "still"


def _reason(picture: _Picture, exc: Exception) -> str:
    if isinstance(exc, _RungError) and exc.part != "render":
        return str(exc)
    return f"the {_PICTURE_RUNG[picture]} picture failed: {_describe(exc)}"


class _SpeechLog:
    """What of the alert's text was spoken and why the rest was not (written from the synthesis threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spoken = 0
        self.unspoken = 0
        self.reasons: list[str] = []

    def said(self) -> None:
        with self._lock:
            self.spoken += 1

    def note(self, reason: str, *, unspoken: int = 0) -> None:
        with self._lock:
            self.unspoken += unspoken
            if reason not in self.reasons:
                self.reasons.append(reason)

    @property
    def degraded(self) -> bool:
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


_CHIME_S = 0.4
_READ_CELLS_PER_S = 15.0  # caption reading speed in half-width cells (a Hangul syllable is two)
_READ_MIN_S, _READ_MAX_S = 2.5, 20.0


def _caption_only(text: str) -> Samples:
    """What a text sounds like without speech: a short chime where it would start, then silence for as long
    as its caption takes to read. ``build_audio`` times, levels and captions it like speech, so the programme
    keeps its loudness, its captions and the overlay's page changes."""
    from cinealert.broadcast.audio import RATE, attention_tone
    from cinealert.broadcast.captions import cells

    flat = " ".join(text[: int(_READ_MAX_S * _READ_CELLS_PER_S) * 8].split())
    seconds = min(_READ_MAX_S, max(_READ_MIN_S, cells(flat) / _READ_CELLS_PER_S))
    chime = attention_tone(_CHIME_S)
    silence = np.zeros(max(0, round(seconds * RATE) - len(chime)), np.float32)
    return np.concatenate([chime, silence])


class _CaptionedSpeaker:
    """The configured speaker, with ``_caption_only`` standing in for every utterance it cannot give: a
    language without a voice (known up front), or the engine failing on one text. Such utterances still get
    captions; the rest of the alert is still spoken."""

    def __init__(self, inner: Speaker | None, voiceless: frozenset[str], speech: _SpeechLog) -> None:
        self.inner = inner
        self.voiceless = voiceless
        self.speech = speech
        self.name = inner.name if inner is not None else "captions-only"

    def speak(self, text: str, language: str) -> Samples:
        if self.inner is None or language in self.voiceless:
            self.speech.note(self._why(language), unspoken=1)
            return _caption_only(text)
        try:
            samples = self.inner.speak(text, language)
        except Exception as exc:  # any engine error: this text is captioned instead (logged once, with why)
            self.speech.note(f"speech failed ({language}): {_describe(exc)}", unspoken=1)
            return _caption_only(text)
        self.speech.said()
        return samples

    def _why(self, language: str) -> str:
        if self.inner is None:
            return "speech unavailable: captions only"
        return f"no {self.inner.name} voice for {language!r}: captioned, not spoken"


# --- the stage ----------------------------------------------------------------------------------------------


class MediaStage:
    """Implements ``cinealert.handlers.stage.Stage`` on top of render + broadcast."""

    def __init__(
        self,
        settings: Settings,
        *,
        speaker: Speaker | None = None,
        loop_provider: LoopProvider | None = None,
        still_provider: StillProvider | None = None,
        size: tuple[int, int] | None = None,
    ) -> None:
        self.settings = settings
        self._speaker = speaker
        self.loop_provider = loop_provider or default_loop_provider
        self.still_provider = still_provider or default_still_provider
        self.size = size  # picture size override for every profile (tests use small frames)
        self._video_cache: dict[str, _CachedVideo] = {}
        self._cache_lock = threading.Lock()
        self._lock = (
            threading.Lock()
        )  # short critical sections only (the video cache lock is held for encodes)
        self._key_locks: dict[str, threading.Lock] = {}
        self._overlays: dict[tuple[AlertKey, str, int, int], Overlay] = {}

    # Stage protocol ------------------------------------------------------------------------------------------

    def directory(self, key: AlertKey) -> Path:
        return self.settings.broadcast.output_dir / key.slug()

    def publish(
        self, alert: Alert, classification: Classification, cancel: threading.Event, gate: Gate | None = None
    ) -> Published:
        from cinealert.broadcast.publish import update_index

        with self._lock:
            key_lock = self._key_locks.setdefault(alert.key.slug(), threading.Lock())
        # Two workers handed the same alert (a redelivery racing the original) must not clear each other's
        # in-progress directory: the second waits, then finds the first one's result.
        with key_lock:
            done = self.existing(alert.key)
            if done is not None:
                return done
            published = self.render(
                alert, classification, cancel, directory=self.directory(alert.key), gate=gate
            )
        update_index(
            self.settings.broadcast.output_dir,
            alert.key.slug(),
            {
                "key": str(alert.key),
                "status": "published",
                "disaster": published.disaster,
                "rung": published.rung,
                "result": f"{alert.key.slug()}/{RESULT}",
                "updated": datetime.now(UTC).isoformat(),
            },
        )
        return published

    def existing(self, key: AlertKey) -> Published | None:
        return read_result(self.directory(key))

    def supersede(self, key: AlertKey, by: AlertKey) -> Path | None:
        return self._mark(key, by, "SUPERSEDED.json", "superseded")

    def withdraw(self, key: AlertKey, by: AlertKey) -> Path | None:
        return self._mark(key, by, "WITHDRAWN.json", "withdrawn")

    def _mark(self, key: AlertKey, by: AlertKey, marker: str, status: str) -> Path | None:
        from cinealert.broadcast.publish import atomic_write, update_index

        directory = self.directory(key)
        if not (directory / RESULT).is_file():
            return None
        now = datetime.now(UTC).isoformat()
        doc = {"key": str(key), "status": status, "by": str(by), "at": now}
        path = atomic_write(directory / marker, json.dumps(doc, ensure_ascii=False, indent=1).encode())
        update_index(
            self.settings.broadcast.output_dir,
            key.slug(),
            {"key": str(key), "status": status, "by": str(by), "updated": now},
        )
        log.info("media_marked", key=str(key), status=status, by=str(by), marker=str(path))
        return path

    # the work ------------------------------------------------------------------------------------------------

    @property
    def speaker(self) -> Speaker:
        if self._speaker is None:
            from cinealert.broadcast.audio import EspeakSpeaker

            self._speaker = EspeakSpeaker()
        return self._speaker

    def render(
        self,
        alert: Alert,
        classification: Classification,
        cancel: threading.Event,
        *,
        directory: Path,
        mode: Mode | None = None,
        profiles: Sequence[ProfileName] | None = None,
        resolution: str | None = None,
        started: float | None = None,
        timings: Mapping[str, float] | None = None,
        gate: Gate | None = None,
    ) -> Published:
        """Produce and publish every output of ``alert`` into ``directory``; ``result.json`` last, after ``gate``
        (``handlers.stage.Stage.publish``): ``GateClosed`` from it removes the directory like any failure.

        A valid alert always airs, so a render error that a retry would only repeat walks down the ladder
        (``handlers.stage.RUNGS``) instead of failing the alert. Speech that cannot be had (no voice for the
        language, the engine failing) becomes a chime and the caption's reading time (``no_speech``); a scene
        loop that cannot be had, a still frame of the scene or else a plain background under the overlay
        (``static``); an overlay that cannot be laid out, or a static picture failing too, a text slate
        (``slate``). A failed rung's directory is removed before the next one writes. Never degraded, because
        no simpler picture would help or because it is no failure: cancellation (``StageCancelled``), a closed
        gate, errors writing the output (``PublishError``), disk full anywhere in a cause chain, a bad request
        (``MediaError``). Only a failing slate raises (``MediaError``, with every rung's reason).
        """
        from cinealert.broadcast.encode import frames_per_segment, make_profile

        bs = self.settings.broadcast
        clock = _Clock(started if started is not None else time.perf_counter())
        clock.ms.update(timings or {})
        mode = mode or bs.mode
        names: tuple[ProfileName, ...] = tuple(profiles or bs.profiles)
        resolution = resolution or self.settings.render.resolution
        infos = _page_infos(alert, bs.languages)
        disaster = classification.disaster
        seg_frames = frames_per_segment(bs.segment_s)
        try:
            made = [make_profile(name, resolution, size=self.size) for name in names]
        except ValueError as exc:  # a bad request: the same at every rung
            raise MediaError(f"cannot render {alert.key}: {exc}") from exc

        render_settings = self.settings.render
        if resolution != render_settings.resolution and resolution in ("720p", "1080p", "2160p"):
            render_settings = render_settings.model_copy(update={"resolution": resolution})
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts")
        # Burn-in TS: the first segment needs only the lead-in tone, so the video encoder gets the CPU first and
        # speech synthesis runs at a lower priority; elsewhere the speech is on the critical path.
        background = bool(names) and names[0] in ("atsc1", "hls") and mode == "burn-in"
        # One speech for every rung: it does not depend on the picture, and its own failures degrade inside it.
        audio_future = pool.submit(self._speech, alert, infos, cancel, clock, background)
        picture: _Picture = "loop"
        steps: list[str] = []
        try:
            while True:
                try:
                    source = self._source(picture, alert, infos, disaster, render_settings, cancel, clock)
                    if source.note and steps:
                        steps[-1] = f"{steps[-1]}; {source.note}"
                    self._publish_rung(
                        directory, alert, infos, disaster, mode, made, resolution, seg_frames, source,
                        audio_future, clock, cancel, steps, gate,
                    )  # fmt: skip
                    break
                except Exception as exc:
                    fatal = _fatal(exc, cancel)
                    if fatal is exc:
                        raise
                    if fatal is not None:
                        raise fatal from exc
                    reason = _reason(picture, exc)
                    lower = _lower(picture, exc)
                    if lower is None:
                        raise MediaError(
                            f"{alert.key}: every rung failed: {'; '.join([*steps, reason])}"
                        ) from exc
                    log.warning(
                        "media_degraded", key=str(alert.key), rung=_PICTURE_RUNG[lower], failed=picture,
                        reason=reason,
                    )  # fmt: skip
                    steps.append(reason)
                    picture = lower
        finally:
            audio_future.cancel()
            pool.shutdown(wait=True)
        published = read_result(directory)
        if published is None:  # pragma: no cover - we just wrote it
            raise MediaError(f"{directory / RESULT} vanished right after publishing")
        log.info(
            "media_published",
            key=str(alert.key),
            disaster=disaster.value,
            mode=mode,
            profiles=list(names),
            rung=published.rung,
            directory=str(directory),
            first_segment_ms=round(clock.ms["first_segment"], 1),
            total_ms=round(clock.ms["total"], 1),
        )
        return published

    def _source(
        self,
        picture: _Picture,
        alert: Alert,
        infos: Sequence[Info],
        disaster: DisasterType,
        render_settings: RenderSettings,
        cancel: threading.Event,
        clock: _Clock,
    ) -> _Source:
        """The picture of one rung: the scene loop, a still (scene frame or plain background), or the slate."""
        from cinealert.render.service import RESOLUTIONS

        variant = variant_for(alert.key, self.settings.render.variants)
        t = time.perf_counter()
        if picture == "loop":
            try:
                loop_info = self.loop_provider(disaster, variant, render_settings, cancel, self.size)
            except StageCancelled:
                raise
            except Exception as exc:
                if cancel.is_set():
                    raise StageCancelled("render cancelled while building the scene loop") from exc
                raise _RungError("scene", f"the scene loop failed: {_describe(exc)}") from exc
            if loop_info.timings_ms:
                clock.ms.update(loop_info.timings_ms)
            else:
                clock.add("scene", time.perf_counter() - t)
            clock.ms.setdefault("scene", 0.0)
            clock.ms.setdefault("animate", 0.0)
            return _Source(loop_info, "loop", "scene loop")
        width, height = self.size or RESOLUTIONS[render_settings.resolution]
        if picture == "still":
            kind, note = "still frame", ""
            try:
                frame = self._still(disaster, variant, render_settings, width, height)
            except Exception as exc:
                fatal = _fatal(exc, cancel)
                if fatal is exc:
                    raise
                if fatal is not None:
                    raise fatal from exc
                from cinealert.render.slate import plain_background

                kind, note = "plain background", f"no still frame ({_describe(exc)}): a plain background"
                log.warning("media_still_unavailable", key=str(alert.key), error=_describe(exc))
                frame = plain_background(width, height)
            clock.add("scene", time.perf_counter() - t)
            digest = hashlib.sha256(frame.tobytes()).hexdigest()[:16]
            info = LoopInfo(Loop.from_arrays([frame]), f"still-{digest}")
            return _Source(info, "still", kind, note=note)
        try:
            from cinealert.render.slate import slate

            made = slate(alert, infos, width, height, timezone=self.settings.broadcast.timezone)
        except Exception as exc:
            raise _RungError("slate", f"the slate cannot be drawn: {_describe(exc)}") from exc
        clock.add("compose", time.perf_counter() - t)
        digest = hashlib.sha256(made.frame.tobytes()).hexdigest()[:16]
        shown = [{"language": p.language, "band": made.band, "lines": list(p.lines), "expiry": p.expiry}
                 for p in made.pages]  # fmt: skip
        info = LoopInfo(Loop.from_arrays([made.frame]), f"slate-{digest}")
        return _Source(info, "slate", "slate", overlay=False, shown=shown)

    def _still(
        self, disaster: DisasterType, variant: int, settings: RenderSettings, width: int, height: int
    ) -> Frame:
        frame = np.ascontiguousarray(
            self.still_provider(disaster, variant, settings, (width, height)), np.uint8
        )
        if frame.shape != (height, width, 3):
            raise MediaError(f"the still frame is {frame.shape}, expected {(height, width, 3)}")
        return frame

    def _publish_rung(
        self,
        directory: Path,
        alert: Alert,
        infos: Sequence[Info],
        disaster: DisasterType,
        mode: Mode,
        made: Sequence[Profile],
        resolution: str,
        seg_frames: int,
        source: _Source,
        audio_future: Future[AlertAudio],
        clock: _Clock,
        cancel: threading.Event,
        steps: Sequence[str],
        gate: Gate | None,
    ) -> None:
        """Every output of one rung into a fresh ``directory``; on any error the directory is removed."""
        from cinealert.broadcast.encode import EncodeCancelledError
        from cinealert.broadcast.publish import OutputDir, PublishError

        clock.first_segment = None  # of this rung's output; the work of failed rungs stays in the timings
        clock.captions = None
        clock.shown = list(source.shown)
        loop_info = source.info
        names = [profile.name for profile in made]
        outputs: dict[str, Any] = {}
        with OutputDir(directory) as out:
            try:
                for profile in made:
                    if profile.name == "atsc3" and mode == "rich-media":
                        outputs[profile.name] = self._rich_media(
                            out, alert, infos, disaster, profile, seg_frames, loop_info, audio_future, clock,
                            cancel,
                        )  # fmt: skip
                    elif profile.container == "ts":
                        outputs[profile.name] = self._burn_ts(
                            out, alert, infos, disaster, profile, seg_frames, loop_info, audio_future, clock,
                            cancel, burn=source.overlay,
                        )  # fmt: skip
                    else:
                        outputs[profile.name] = self._burn_dash(
                            out, alert, infos, disaster, profile, seg_frames, loop_info, audio_future, clock,
                            cancel, burn=source.overlay,
                        )  # fmt: skip
                audio = audio_future.result()
                captions = clock.captions if clock.captions is not None else self._captions(out, audio, clock)
                clock.ms["total"] = (time.perf_counter() - clock.started) * 1000.0
                clock.ms["first_segment"] = clock.first_segment or clock.ms["total"]
                clock.ms.setdefault("encode", 0.0)
                clock.ms.setdefault("compose", 0.0)
                clock.ms.setdefault("publish", 0.0)
                speech = clock.speech
                degraded = [speech.reason] if speech.degraded else []
                degraded += steps
                rung = _PICTURE_RUNG[source.picture] if source.picture != "loop" else (
                    "no_speech" if speech.degraded else "full"
                )  # fmt: skip
                doc = self._result_doc(
                    alert, disaster, mode, names, resolution, out, outputs, captions, audio, loop_info, clock
                )
                doc["rung"] = rung
                doc["degraded"] = degraded
                doc["picture"] = {"source": source.kind, "pages": clock.shown}
                t = time.perf_counter()
                out.commit_dir()
                if gate is not None:
                    gate()
                out.write(
                    RESULT, json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8"), sync_dir=True
                )
                clock.add("publish", time.perf_counter() - t)
            except EncodeCancelledError as exc:
                raise StageCancelled("render cancelled between frames") from exc
            except OSError as exc:
                if isinstance(exc, PublishError):
                    raise
                # Not the output's storage (OutputDir would call it a PublishError): a render part's error.
                raise _RungError("render", _describe(exc)) from exc

    # speech and captions ---------------------------------------------------------------------------------

    def _speech(
        self,
        alert: Alert,
        infos: Sequence[Info],
        cancel: threading.Event,
        clock: _Clock,
        background: bool = False,
    ) -> AlertAudio:
        """The spoken alert; what cannot be spoken is captioned with a chime instead (``no_speech``), so this
        fails only when cancelled, or when not even that can be made (``_SpeechError``)."""
        from cinealert.broadcast.audio import AudioCancelledError, build_audio

        if background:
            # Linux nice values are per thread; this pool thread (and espeak-ng it starts) yields to the encoder.
            with contextlib.suppress(OSError, AttributeError):
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        t = time.perf_counter()
        texts: list[tuple[str, str, str]] = []
        for info in infos:
            texts.append((info.language, "headline", info.headline or info.event))
            texts.append((info.language, "instruction", info.instruction or ""))
        speech = clock.speech
        bs = self.settings.broadcast
        try:
            speaker = _CaptionedSpeaker(self.speaker, self._voiceless(infos), speech)
            audio = build_audio(
                texts, speaker, target_lkfs=bs.loudness_lkfs, ceiling_dbtp=bs.true_peak_dbtp, cancel=cancel
            )
        except AudioCancelledError as exc:
            raise StageCancelled("speech synthesis cancelled") from exc
        except Exception as exc:  # the assembly itself failed, not one utterance: captions and chimes only
            speech.note(f"speech failed: {_describe(exc)}")
            try:
                audio = build_audio(
                    texts,
                    _CaptionedSpeaker(None, frozenset(), speech),
                    target_lkfs=bs.loudness_lkfs,
                    ceiling_dbtp=bs.true_peak_dbtp,
                    cancel=cancel,
                )
            except AudioCancelledError as exc2:
                raise StageCancelled("speech synthesis cancelled") from exc2
            except Exception as exc2:
                raise _SpeechError(f"no audio can be made for {alert.key}: {_describe(exc2)}") from exc2
        if speech.degraded:
            log.warning("media_degraded", key=str(alert.key), rung="no_speech", reason=speech.reason)
        clock.add("tts", time.perf_counter() - t)
        return audio

    def _voiceless(self, infos: Sequence[Info]) -> frozenset[str]:
        """Languages the speech engine has no voice for, asked once per process where it can say cheaply
        (espeak-ng's voice list); other engines report a missing voice per utterance instead."""
        from cinealert.broadcast.audio import EspeakSpeaker, espeak_has_voice

        speaker = self.speaker
        if not isinstance(speaker, EspeakSpeaker):
            return frozenset()
        return frozenset(i.language for i in infos if espeak_has_voice(i.language, speaker.binary) is False)

    def _plan(self, audio: AlertAudio, seg_frames: int, fps: Fraction) -> tuple[AlertAudio, int]:
        """Whole segments covering the speech; the audio is padded with silence to the same length."""
        from cinealert.broadcast.audio import pad_to

        seg_s = seg_frames / fps
        nseg = max(1, math.ceil(Fraction(round(audio.duration_s * 1000), 1000) / seg_s))
        num_frames = nseg * seg_frames
        return pad_to(audio, float(num_frames / fps)), num_frames

    def _captions(self, out: OutputDir, audio: AlertAudio, clock: _Clock) -> dict[str, dict[str, str]]:
        from cinealert.broadcast.captions import by_language, cues, ttml, webvtt

        files: dict[str, dict[str, str]] = {}
        t = time.perf_counter()
        items: list[tuple[str, bytes]] = []
        for lang, utts in by_language(audio.utterances).items():
            cue_list = cues(utts)
            tag = _lang_tag(lang)
            items.append((f"captions_{tag}.vtt", webvtt(cue_list).encode("utf-8")))
            items.append((f"captions_{tag}.ttml", ttml(cue_list, lang)))
            files[lang] = {"vtt": f"captions_{tag}.vtt", "ttml": f"captions_{tag}.ttml"}
        out.write_many(items)
        clock.add("publish", time.perf_counter() - t)
        clock.captions = files
        return files

    # burn-in ---------------------------------------------------------------------------------------------

    def _overlay(self, alert: Alert, disaster: DisasterType, profile: Profile, clock: _Clock) -> Overlay:
        from cinealert.render.compose import build_overlay

        cache_key = (alert.key, disaster.value, profile.width, profile.height)
        with self._lock:
            cached = self._overlays.get(cache_key)
        if cached is not None:  # laid out once per alert and size (atsc1 and hls share one)
            self._record_shown(alert, cached, clock)
            return cached
        t = time.perf_counter()
        try:
            overlay = build_overlay(
                alert,
                disaster,
                profile.width,
                profile.height,
                fps=float(profile.fps),
                timezone=self.settings.broadcast.timezone,
                languages=self.settings.broadcast.languages,
            )
        except Exception as exc:  # whatever the layout tripped on, the slate (its own text) can still air
            raise _RungError("overlay", f"the overlay cannot be laid out: {_describe(exc)}") from exc
        clock.add("compose", time.perf_counter() - t)
        with self._lock:
            self._overlays[cache_key] = overlay
            while len(self._overlays) > 16:
                self._overlays.pop(next(iter(self._overlays)))
        self._record_shown(alert, overlay, clock)
        return overlay

    def _record_shown(self, alert: Alert, overlay: Overlay, clock: _Clock) -> None:
        """The overlay's text per page for ``result.json``: what viewers read, the expiry as it was shown."""
        from zoneinfo import ZoneInfo

        from cinealert.render.compose import format_expiry

        if clock.shown:
            return
        tz = ZoneInfo(self.settings.broadcast.timezone)
        infos = _page_infos(alert, self.settings.broadcast.languages)
        clock.shown = [
            {
                "language": page.language,
                "lines": list(page.lines),
                "crawl": page.crawl_text,
                "expiry": format_expiry(info.expires or alert.expires, info.language, tz),
            }
            for page, info in zip(overlay.pages, infos, strict=False)
        ]

    def _burn_ts(
        self,
        out: OutputDir,
        alert: Alert,
        infos: Sequence[Info],
        disaster: DisasterType,
        profile: Profile,
        seg_frames: int,
        loop_info: LoopInfo,
        audio_future: Future[AlertAudio],
        clock: _Clock,
        cancel: threading.Event,
        *,
        burn: bool = True,
    ) -> dict[str, Any]:
        from cinealert.broadcast.audio import lead_in
        from cinealert.broadcast.encode import encode_ts, m3u8_master, m3u8_media

        ref = _OverlayRef(self._overlay(alert, disaster, profile, clock) if burn else None)
        frames = _frames(loop_info.loop, profile.width, profile.height, ref, clock)

        def plan() -> tuple[Any, int]:
            audio, num_frames = self._plan(audio_future.result(), seg_frames, profile.fps)
            ref.overlay = _with_speech(ref.overlay, audio)
            return audio.samples, num_frames

        def emit(name: str, data: bytes, duration: float) -> None:
            t = time.perf_counter()
            out.write(name, data, sync_dir=True)  # published: durable before the next segment is encoded
            clock.add("publish", time.perf_counter() - t)
            clock.segment_out()

        t = time.perf_counter()
        compose_before, publish_before = clock.ms.get("compose", 0.0), clock.ms.get("publish", 0.0)
        head = lead_in(self.settings.broadcast.loudness_lkfs)
        segments = encode_ts(
            frames, plan, profile, seg_frames, emit, cancel, prefix=f"{profile.name}_seg_", head=head
        )
        _account_encode(clock, t, compose_before, publish_before)

        t = time.perf_counter()
        out.commit_dir()  # segments durable before any playlist names them
        media_name = f"{profile.name}.m3u8" if profile.name == "atsc1" else f"{profile.name}_media.m3u8"
        out.write(media_name, m3u8_media(segments, self.settings.broadcast.segment_s).encode(), sync_dir=True)
        manifests = {"media_playlist": media_name}
        if profile.name == "hls":
            subtitles = self._hls_subtitles(out, profile, segments, audio_future.result())
            master = m3u8_master(media_name, profile, subtitles)
            out.write(f"{profile.name}_master.m3u8", master.encode(), sync_dir=True)
            manifests["master_playlist"] = f"{profile.name}_master.m3u8"
        clock.add("publish", time.perf_counter() - t)
        return {
            "mode": "burn-in",
            "container": "mpegts",
            "video_codec": "h264",
            "audio_codec": profile.audio_codec,
            "width": profile.width,
            "height": profile.height,
            "frame_rate": str(profile.fps),
            "segments": [
                {"name": s.name, "start_s": s.start_s, "duration_s": s.duration_s} for s in segments
            ],
            **manifests,
        }

    def _hls_subtitles(
        self, out: OutputDir, profile: Profile, segments: Sequence[Any], audio: AlertAudio
    ) -> dict[str, str]:
        """One WebVTT rendition per language (a single-segment subtitle playlist each)."""
        from cinealert.broadcast.captions import by_language, cues, webvtt
        from cinealert.broadcast.encode import TS_OFFSET

        total = sum(s.duration_s for s in segments)
        renditions: dict[str, str] = {}
        for lang, utts in by_language(audio.utterances).items():
            tag = _lang_tag(lang)
            vtt = out.write(f"{profile.name}_subs_{tag}.vtt", webvtt(cues(utts), float(TS_OFFSET)).encode())
            playlist = "\n".join(
                [
                    "#EXTM3U",
                    "#EXT-X-VERSION:3",
                    f"#EXT-X-TARGETDURATION:{math.ceil(total)}",
                    "#EXT-X-MEDIA-SEQUENCE:0",
                    "#EXT-X-PLAYLIST-TYPE:VOD",
                    f"#EXTINF:{total:.3f},",
                    vtt.name,
                    "#EXT-X-ENDLIST",
                    "",
                ]
            )
            name = f"{profile.name}_subs_{tag}.m3u8"
            out.write(name, playlist.encode(), sync_dir=True)
            renditions[lang] = name
        return renditions

    def _burn_dash(
        self,
        out: OutputDir,
        alert: Alert,
        infos: Sequence[Info],
        disaster: DisasterType,
        profile: Profile,
        seg_frames: int,
        loop_info: LoopInfo,
        audio_future: Future[AlertAudio],
        clock: _Clock,
        cancel: threading.Event,
        *,
        burn: bool = True,
    ) -> dict[str, Any]:
        from cinealert.broadcast.encode import encode_fmp4_video

        ref = _OverlayRef(self._overlay(alert, disaster, profile, clock) if burn else None)
        audio, num_frames = self._plan(audio_future.result(), seg_frames, profile.fps)
        ref.overlay = _with_speech(ref.overlay, audio)
        frames = _frames(loop_info.loop, profile.width, profile.height, ref, clock)
        prefix = profile.name

        def on_segment(index: int, init: bytes, data: bytes) -> None:
            t = time.perf_counter()
            if index == 0:
                out.write(f"{prefix}_video_init.mp4", init)
            out.write(f"{prefix}_video_{index:05d}.m4s", data, sync_dir=True)  # durable with the init
            clock.add("publish", time.perf_counter() - t)
            clock.segment_out()

        t = time.perf_counter()
        compose_before, publish_before = clock.ms.get("compose", 0.0), clock.ms.get("publish", 0.0)
        video = encode_fmp4_video(frames, num_frames, profile, seg_frames, on_segment, cancel)
        _account_encode(clock, t, compose_before, publish_before)
        return self._finish_dash(
            out, alert, profile, seg_frames, num_frames, video, audio, clock, "burn-in", disaster
        )

    # rich media --------------------------------------------------------------------------------------------

    def _rich_media(
        self,
        out: OutputDir,
        alert: Alert,
        infos: Sequence[Info],
        disaster: DisasterType,
        profile: Profile,
        seg_frames: int,
        loop_info: LoopInfo,
        audio_future: Future[AlertAudio],
        clock: _Clock,
        cancel: threading.Event,
    ) -> dict[str, Any]:
        from cinealert.broadcast.audio import lead_in
        from cinealert.broadcast.encode import FragmentedTrack, encode_audio_spliced

        t = time.perf_counter()
        cached = self._cached_video(loop_info, profile, seg_frames, cancel, clock)
        clock.add("encode", time.perf_counter() - t)
        seg_ticks = cached.segment_ticks
        # The cached video does not depend on the speech: publish its segments while the speech is synthesised
        # (how many are needed is known only then; any written beyond that are removed again).
        store = self.settings.render.cache_dir / "broadcast" / cached.key
        writer = _VideoWriter(out, profile.name, cached, seg_ticks, clock, store)
        writer.write(1)
        while not audio_future.done() and writer.written < _SPECULATIVE_SEGMENTS:
            writer.write(writer.written + 1)
        audio, num_frames = self._plan(audio_future.result(), seg_frames, profile.fps)
        nseg = num_frames // seg_frames
        # AAC in parts split at silent frame boundaries, the fixed lead-in's packets reused: the parts encode
        # at once (one thread coordinates) while this thread publishes the rest of the video and the captions.
        encoder = ThreadPoolExecutor(max_workers=1 + _AAC_PARTS, thread_name_prefix="aac")
        t_audio = time.perf_counter()
        packets_future = encoder.submit(
            encode_audio_spliced,
            audio.samples,
            profile.audio_codec,
            profile.audio_kbps,
            prefix=lead_in(self.settings.broadcast.loudness_lkfs),
            parts=_AAC_PARTS,
            pool=encoder,
        )
        try:
            writer.write(nseg)
            writer.trim(nseg)
            captions = self._dash_captions(out, profile.name, audio, clock)
            if clock.captions is None:
                self._captions(out, audio, clock)
            severity = alert.infos[0].severity if alert.infos else "Unknown"
            out.write("event_symbol.png", _event_symbol_png(disaster, severity))
            apackets = packets_future.result()
        finally:
            encoder.shutdown(wait=True)
        clock.add("encode", time.perf_counter() - t_audio)
        video = FragmentedTrack(init=cached.init, timescale=cached.timescale)
        for k in range(nseg):
            video.starts.append(k * seg_ticks)
            video.segments.append(b"")  # only counted from here on; the bytes are already published
        result = self._finish_dash(
            out,
            alert,
            profile,
            seg_frames,
            num_frames,
            video,
            audio,
            clock,
            "rich-media",
            disaster,
            apackets,
            captions,
        )
        result["video_cache"] = {"key": cached.key, "hit": cached.hit, "segments": len(cached.segments)}
        return result

    def _dash_captions(self, out: OutputDir, prefix: str, audio: AlertAudio, clock: _Clock) -> list[TextRef]:
        """One IMSC1 document per language, referenced from the MPD."""
        from cinealert.broadcast.captions import by_language, cues, ttml
        from cinealert.broadcast.dash import TextRef

        t = time.perf_counter()
        texts, items = [], []
        for lang, utts in by_language(audio.utterances).items():
            name = f"{prefix}_captions_{_lang_tag(lang)}.ttml"
            items.append((name, ttml(cues(utts), lang)))
            texts.append(TextRef(lang, name))
        out.write_many(items)
        clock.add("publish", time.perf_counter() - t)
        return texts

    def _cached_video(
        self, loop_info: LoopInfo, profile: Profile, seg_frames: int, cancel: threading.Event, clock: _Clock
    ) -> _CachedVideo:
        """The scene's clean video as fMP4 segments: memory, then disk, else encode once and store."""
        from cinealert.broadcast.encode import encode_fmp4_video

        raw = "-".join(
            [
                loop_info.scene_key,
                profile.video_codec,
                f"{profile.width}x{profile.height}",
                str(seg_frames),
                profile.preset,
                VIDEO_CACHE_VERSION,
            ]
        )
        key = hashlib.sha256(raw.encode("utf-8")).hexdigest()[:24]
        with self._cache_lock:
            memory = self._video_cache.get(key)
            if memory is not None:
                return memory
            directory = self.settings.render.cache_dir / "broadcast" / key
            loaded = _CachedVideo.load(directory, key)
            if loaded is None:
                loop = loop_info.loop
                frames_needed = _cache_frames(loop.num_frames, seg_frames)
                ref = _OverlayRef(None)
                frames = _frames(loop, profile.width, profile.height, ref, clock)
                track = encode_fmp4_video(frames, frames_needed, profile, seg_frames, None, cancel)
                loaded = _CachedVideo(key, track.init, track.timescale, tuple(track.segments), False)
                loaded.store(directory)
                log.info(
                    "video_cache_stored", key=key, scene=loop_info.scene_key, segments=len(track.segments)
                )
            self._video_cache[key] = _CachedVideo(key, loaded.init, loaded.timescale, loaded.segments, True)
            if len(self._video_cache) > 8:
                self._video_cache.pop(next(iter(self._video_cache)))
            return loaded

    # DASH + AEAT ---------------------------------------------------------------------------------------------

    def _finish_dash(
        self,
        out: OutputDir,
        alert: Alert,
        profile: Profile,
        seg_frames: int,
        num_frames: int,
        video: FragmentedTrack,
        audio: AlertAudio,
        clock: _Clock,
        mode: str,
        disaster: DisasterType,
        apackets: list[Any] | None = None,
        texts: list[TextRef] | None = None,
    ) -> dict[str, Any]:
        from cinealert.broadcast.aeat import MediaRef, aeat
        from cinealert.broadcast.dash import TrackRef, mpd
        from cinealert.broadcast.encode import adts_audio, encode_audio, encode_fmp4_audio, hevc_codecs

        prefix = profile.name
        t = time.perf_counter()
        if apackets is None:
            apackets = encode_audio(audio.samples, profile.audio_codec, profile.audio_kbps)
        atrack = encode_fmp4_audio(audio.samples, profile, self.settings.broadcast.segment_s, list(apackets))
        clock.add("encode", time.perf_counter() - t)
        t = time.perf_counter()
        items = [(f"{prefix}_audio_init.mp4", atrack.init)]
        items += [(f"{prefix}_audio_{i:05d}.m4s", data) for i, data in enumerate(atrack.segments)]
        # An AEAtextAudio that speaks nothing (only chimes: no voice for any text) is not offered as one.
        spoken = clock.speech.spoken > 0
        if (
            mode == "rich-media"
        ):  # the AEAT's media, durable with the segments before the MPD's directory sync
            if spoken:
                items.append(("spoken_alert.aac", adts_audio(audio.samples, profile.audio_kbps, apackets)))
            if not (out.path / "event_symbol.png").is_file():
                severity = alert.infos[0].severity if alert.infos else "Unknown"
                items.append(("event_symbol.png", _event_symbol_png(disaster, severity)))
        out.write_many(items)
        clock.add("publish", time.perf_counter() - t)
        if texts is None:
            texts = self._dash_captions(out, prefix, audio, clock)
        t = time.perf_counter()
        duration_s = float(num_frames / profile.fps)
        video_total = round(num_frames * video.timescale / profile.fps)
        tracks = [
            TrackRef(
                "video",
                "video",
                f"{prefix}_video_init.mp4",
                f"{prefix}_video_$Number%05d$.m4s",
                video.timescale,
                tuple(video.starts),
                video_total,
                hevc_codecs(profile.height),
                profile.video_kbps * 1000,
                profile.width,
                profile.height,
                f"{profile.fps.numerator}/{profile.fps.denominator}",
            ),
            TrackRef(
                "audio",
                "audio",
                f"{prefix}_audio_init.mp4",
                f"{prefix}_audio_$Number%05d$.m4s",
                atrack.timescale,
                tuple(atrack.starts),
                max(len(audio.samples), atrack.starts[-1] + 1) if atrack.starts else len(audio.samples),
                "mp4a.40.2",
                profile.audio_kbps * 1000,
                lang=_lang_tag(audio.utterances[0].language) if audio.utterances else "",
            ),
        ]
        manifest = mpd(tracks, texts, duration_s, self.settings.broadcast.segment_s)
        out.commit_dir()  # every segment durable before the MPD names it
        out.write("manifest.mpd", manifest, sync_dir=True)
        result: dict[str, Any] = {
            "mode": mode,
            "container": "fmp4",
            "video_codec": "hevc",
            "audio_codec": "aac",
            "width": profile.width,
            "height": profile.height,
            "frame_rate": str(profile.fps),
            "manifest": "manifest.mpd",
            "segments": [
                {
                    "name": f"{prefix}_video_{i:05d}.m4s",
                    "start_s": i * seg_frames / float(profile.fps),
                    "duration_s": seg_frames / float(profile.fps),
                }
                for i in range(len(video.segments))
            ],
            "audio_segments": [
                {
                    "name": f"{prefix}_audio_{i:05d}.m4s",
                    "start_s": s / atrack.timescale,
                    "duration_s": (e - s) / atrack.timescale,
                }
                for i, (s, e) in enumerate(
                    zip(atrack.starts, [*atrack.starts[1:], tracks[1].total], strict=True)
                )
            ],
            "captions": [t.url for t in texts],
        }
        if mode == "rich-media":
            sym = out.path / "event_symbol.png"
            speech = out.path / "spoken_alert.aac"
            mpd_path = out.path / "manifest.mpd"
            media = [
                MediaRef(self._url(out, mpd_path.name), "application/dash+xml", mpd_path.stat().st_size,
                         "Presentation", "alert video with spoken alert and captions (MPEG-DASH)"),
                MediaRef(self._url(out, sym.name), "image/png", sym.stat().st_size, "EventSymbol",
                         "disaster pictogram"),
            ]  # fmt: skip
            if spoken:
                media.insert(1, MediaRef(self._url(out, speech.name), "audio/aac", speech.stat().st_size,
                                         "AEAtextAudio", "spoken alert text"))  # fmt: skip
            for text in texts:
                path = out.path / text.url
                media.append(
                    MediaRef(self._url(out, text.url), "application/ttml+xml", path.stat().st_size,
                             "AEAtextCaptions", "captions (IMSC1)", lang=text.lang)
                )  # fmt: skip
            # Everything it names was renamed before the MPD's directory sync, so the AEAT's own sync suffices.
            out.write(
                "aeat.xml", aeat(alert, media, languages=self.settings.broadcast.languages), sync_dir=True
            )
            result["aeat"] = "aeat.xml"
            if spoken:
                result["spoken_alert"] = speech.name
            result["event_symbol"] = sym.name
        clock.add("publish", time.perf_counter() - t)
        return result

    def _url(self, out: OutputDir, name: str) -> str:
        base = self.settings.broadcast.base_url.rstrip("/")
        return f"{base}/{out.path.name}/{name}" if base else name

    # result --------------------------------------------------------------------------------------------------

    def _result_doc(
        self,
        alert: Alert,
        disaster: DisasterType,
        mode: str,
        names: Sequence[str],
        resolution: str,
        out: OutputDir,
        outputs: Mapping[str, Any],
        captions: Mapping[str, Mapping[str, str]],
        audio: AlertAudio,
        loop_info: LoopInfo,
        clock: _Clock,
    ) -> dict[str, Any]:
        return {
            "status": "complete",
            "key": {"sender": alert.key.sender, "identifier": alert.key.identifier, "sent": alert.key.sent},
            "slug": alert.key.slug(),
            "msg_type": alert.msg_type,
            "disaster": disaster.value,
            "mode": mode,
            "profiles": list(names),
            "resolution": resolution,
            "duration_s": max(
                (o["segments"][-1]["start_s"] + o["segments"][-1]["duration_s"]) for o in outputs.values()
            )
            if outputs
            else audio.duration_s,
            "scene": {
                "key": loop_info.scene_key,
                "cache_hit": loop_info.cache_hit,
                "loop_frames": loop_info.loop.num_frames,
            },
            "audio": {
                "sample_rate": audio.rate,
                "loudness_lkfs": round(audio.loudness_lkfs, 2),
                "true_peak_dbtp": round(audio.true_peak_dbtp, 2),
                "utterances": [
                    {
                        "language": u.language,
                        "kind": u.kind,
                        "text": u.text,
                        "start_s": round(u.start_s, 3),
                        "end_s": round(u.end_s, 3),
                    }
                    for u in audio.utterances
                ],
            },
            "captions": captions,
            "outputs": dict(outputs),
            "files": [*sorted(p.name for p in out.files), RESULT],
            "urls": [self._url(out, p.name) for p in sorted(out.files)]
            if self.settings.broadcast.base_url
            else [],
            "timings_ms": {k: round(v, 1) for k, v in clock.ms.items()},
            "published_at": datetime.now(UTC).isoformat(),
        }


# --- helpers ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _CachedVideo:
    key: str
    init: bytes
    timescale: int
    segments: tuple[bytes, ...]
    hit: bool

    @property
    def segment_ticks(self) -> int:
        from cinealert.broadcast.encode import tfdt

        if len(self.segments) > 1:
            return tfdt(self.segments[1]) - tfdt(self.segments[0])
        raise MediaError("a cached video needs at least two segments to know its segment duration")

    @classmethod
    def load(cls, directory: Path, key: str) -> _CachedVideo | None:
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            init = (directory / "init.mp4").read_bytes()
            segments = tuple((directory / f"{i:05d}.m4s").read_bytes() for i in range(int(meta["segments"])))
        except (OSError, ValueError, KeyError):
            return None
        return cls(key, init, int(meta["timescale"]), segments, True)

    def store(self, directory: Path) -> None:
        from cinealert.broadcast.publish import PublishError, atomic_write

        try:
            atomic_write(directory / "init.mp4", self.init)
            for i, data in enumerate(self.segments):
                atomic_write(directory / f"{i:05d}.m4s", data)
            meta = {"segments": len(self.segments), "timescale": self.timescale, "key": self.key}
            atomic_write(directory / "meta.json", json.dumps(meta).encode())  # last: marks the entry complete
        except PublishError as exc:  # the cache is an optimisation: log and carry on with the in-memory copy
            log.warning("video_cache_store_failed", key=self.key, error=str(exc))


_AAC_PARTS = 2  # concurrent AAC encodes of one alert's audio (the cores)
#: Cached video segments published ahead of the speech at most (16 s; a bilingual alert runs longer).
_SPECULATIVE_SEGMENTS = 8


class _VideoWriter:
    """Publishes re-timed cached video segments in order; the first one (with the init) made durable at once.

    A re-timed segment depends only on the scene's video and its position, not on the alert, so it is kept
    in the video cache's ``timeline`` folder (written durably once) and published by hard link: no bytes
    are copied or synced per alert. Where linking fails (another file system) the bytes are written.
    """

    def __init__(
        self,
        out: OutputDir,
        prefix: str,
        cached: _CachedVideo,
        seg_ticks: int,
        clock: _Clock,
        store: Path | None = None,
    ) -> None:
        self.out, self.prefix, self.cached, self.seg_ticks, self.clock = out, prefix, cached, seg_ticks, clock
        self.store = store
        self.written = 0

    def _publish(self, name: str, cache_name: str, make: Callable[[], bytes]) -> None:
        from cinealert.broadcast.publish import atomic_write

        if self.store is not None:
            source = self.store / cache_name
            try:
                if not source.is_file():
                    atomic_write(source, make())
                try:
                    self.out.link(name, source)
                except OSError as exc:
                    if exc.errno != errno.EMLINK:
                        raise
                    atomic_write(source, make())  # the file system's link limit: a fresh inode takes over
                    self.out.link(name, source)
            except OSError as exc:
                log.info("video_link_unavailable", store=str(self.store), error=str(exc))
                self.store = None  # write the bytes from now on
            else:
                return
        self.out.write(name, make())

    def write(self, upto: int) -> None:
        from cinealert.broadcast.encode import retime

        t = time.perf_counter()
        for k in range(self.written, upto):
            if k == 0:
                self._publish(f"{self.prefix}_video_init.mp4", "init.mp4", lambda: self.cached.init)
            segment = self.cached.segments[k % len(self.cached.segments)]
            self._publish(
                f"{self.prefix}_video_{k:05d}.m4s",
                f"timeline/{k:05d}.m4s",
                functools.partial(retime, segment, k * self.seg_ticks, k + 1),
            )
            if k == 0:
                self.out.commit_dir()  # the first segment is published durably before anything else
                self.clock.segment_out()
            self.written = k + 1
        self.clock.add("publish", time.perf_counter() - t)

    def trim(self, keep: int) -> None:
        """Remove segments written beyond ``keep`` (the speech turned out shorter than speculated)."""
        for k in range(keep, self.written):
            self.out.discard(f"{self.prefix}_video_{k:05d}.m4s")
        self.written = min(self.written, keep)


@functools.lru_cache(maxsize=64)
def _event_symbol_png(disaster: DisasterType, severity: str) -> bytes:
    """The AEAT ``EventSymbol``: the overlay's pictogram in the severity colours, drawn once per pair."""
    from cinealert.render.compose import severity_style
    from cinealert.render.pictogram import pictogram

    band_bg, band_fg = severity_style(severity)
    buf = io.BytesIO()
    pictogram(disaster, 256, (*band_fg, 255), (*band_bg, 255)).save(buf, format="PNG")
    return buf.getvalue()


def _cache_frames(loop_frames: int, seg_frames: int) -> int:
    """Frames to encode so the cached segments loop seamlessly: a common multiple when it is small enough,
    else whole segments covering one loop (with at least two segments, so the segment duration is known)."""
    lcm = loop_frames * seg_frames // math.gcd(loop_frames, seg_frames)
    frames = (
        lcm if lcm <= 4 * max(loop_frames, seg_frames) else math.ceil(loop_frames / seg_frames) * seg_frames
    )
    return max(frames, 2 * seg_frames)


def _account_encode(clock: _Clock, t: float, compose_before: float, publish_before: float) -> None:
    """Encode time = wall time of the encode loop minus the compose and publish work done inside it."""
    wall = (time.perf_counter() - t) * 1000.0
    inner = (clock.ms.get("compose", 0.0) - compose_before) + (clock.ms.get("publish", 0.0) - publish_before)
    clock.ms["encode"] = clock.ms.get("encode", 0.0) + max(0.0, wall - inner)


def _with_speech(overlay: Overlay | None, audio: AlertAudio) -> Overlay | None:
    if overlay is None:
        return None
    from cinealert.render.compose import with_schedule

    return with_schedule(overlay, [(u.language, u.start_s) for u in audio.utterances if u.kind == "headline"])


def _lang_tag(language: str) -> str:
    return "".join(ch for ch in language if ch.isalnum() or ch == "-") or "und"


def _page_infos(alert: Alert, languages: Sequence[str]) -> list[Info]:
    from cinealert.render.compose import page_languages

    return page_languages(alert, languages)


def read_result(directory: Path) -> Published | None:
    """The completed publication in ``directory`` (``result.json`` present), with its marker status."""
    try:
        doc = json.loads((directory / RESULT).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    key = AlertKey(doc["key"]["sender"], doc["key"]["identifier"], doc["key"]["sent"])
    status = "published"
    markers = {}
    for marker, name in (("WITHDRAWN.json", "withdrawn"), ("SUPERSEDED.json", "superseded")):
        path = directory / marker
        if path.is_file():
            markers[name] = str(path)
            status = name if status == "published" else status
    return Published(
        key=key,
        disaster=str(doc["disaster"]),
        directory=directory,
        files=tuple(directory / name for name in doc["files"]),
        urls=tuple(doc.get("urls", ())),
        duration_s=float(doc["duration_s"]),
        timings_ms=dict(doc["timings_ms"]),
        rung=str(doc.get("rung", "full")),  # results written before the ladder aired the full clip
        degraded=tuple(str(r) for r in doc.get("degraded", ())),
        extra={
            "status": status,
            "markers": markers,
            "mode": doc["mode"],
            "profiles": doc["profiles"],
            "outputs": doc["outputs"],
            "scene": doc["scene"],
            "cache_hit": bool(doc["scene"]["cache_hit"]),
            "first_segment_ms": doc["timings_ms"].get("first_segment"),
        },
    )


# --- CLI --------------------------------------------------------------------------------------------------------


def cmd_render(args: argparse.Namespace) -> int:
    """``cinealert render FILE --out DIR``: every output and DIR/result.json; exit 2 on bad input.

    A valid alert exits 0 with the rung that aired (a lower one says why in ``degraded``); 1 only when not even
    the slate could be published, with a one-line reason.
    """
    started = time.perf_counter()
    from cinealert.cap import CapError, classify, parse_alert
    from cinealert.config import ConfigError, load

    try:
        settings = load(getattr(args, "config", None))
        raw = args.file.read_bytes()[: settings.cap.max_bytes + 1]
        alert = parse_alert(raw, settings=settings.cap)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"INVALID {args.file}: cannot read file: {exc.strerror or exc}", file=sys.stderr)
        return 2
    except CapError as exc:
        print(f"INVALID {args.file}: {exc.reason}", file=sys.stderr)
        return 2
    parse_ms = (time.perf_counter() - started) * 1000.0
    classification = classify(alert)
    if args.duration is not None:
        if not 0 < args.duration <= 120:
            print("--duration must be in (0, 120] seconds", file=sys.stderr)
            return 2
        settings = settings.model_copy(
            update={"render": settings.render.model_copy(update={"duration_s": args.duration})}
        )
    out: Path = args.out
    if out.exists() and any(out.iterdir()) and not (out / RESULT).is_file():
        print(f"refusing to overwrite {out}: it is not empty and holds no {RESULT}", file=sys.stderr)
        return 2
    profiles: tuple[ProfileName, ...] | None
    profiles = ALL_PROFILES if args.profile == "all" else (args.profile,) if args.profile else None
    resolution, size = args.resolution, None
    if resolution is not None and resolution not in ("720p", "1080p", "2160p"):
        try:
            w, h = (int(v) for v in resolution.lower().split("x"))
        except ValueError:
            print(f"--resolution must be 720p, 1080p, 2160p or WxH, got {resolution!r}", file=sys.stderr)
            return 2
        if not (16 <= w <= 7680 and 16 <= h <= 4320 and w % 2 == 0 and h % 2 == 0):
            print(f"--resolution {resolution}: even sizes from 16x16 to 7680x4320 only", file=sys.stderr)
            return 2
        resolution, size = "1080p", (w, h)
    stage = MediaStage(settings, size=size)
    try:
        published = stage.render(
            alert,
            classification,
            threading.Event(),
            directory=out,
            mode=args.mode,
            profiles=profiles,
            resolution=resolution,
            started=started,
            timings={"parse": parse_ms},
        )
    except Exception as exc:  # the slate failed too, or storage, or cancel: one line, no traceback
        print(f"ERROR {args.file}: {_describe(exc, 2000)}", file=sys.stderr)
        return 1
    print(json.dumps({"directory": str(published.directory), "files": len(published.files),
                      "rung": published.rung, "degraded": list(published.degraded),
                      "timings_ms": published.timings_ms}, ensure_ascii=False))  # fmt: skip
    return 0
