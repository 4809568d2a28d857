"""Alert -> published broadcast media: the ``Stage`` the daemon calls (``cinealert.handlers.stage``).

Order of work, chosen for time-to-first-segment: speech synthesis starts in a worker thread at once; the scene
loop is fetched (usually a cache hit); the first segment's video is encoded with the overlay while the speech
is still being synthesised; only then are the audio packets muxed and the segment published. Every file is
published atomically; manifests follow their segments; ``result.json`` is written last, so its presence means
the output is complete (``existing`` relies on it). Any failure removes the partial directory.

Modes: ``burn-in`` draws the overlay into the video of every profile; ``rich-media`` (ATSC 3.0 AEA) re-uses
the scene's cached clean video (``richmedia``), other profiles in that mode are produced burned-in.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.errors import Cancelled
from cinealert.keylocks import KeyLocks
from cinealert.media.captions import sidecars
from cinealert.media.clock import Clock
from cinealert.media.contract import Gate, Published, StageCancelled
from cinealert.media.errors import MediaError, RungError, describe
from cinealert.media.job import Mode, ProfileName, Request
from cinealert.media.ladder import Picture, aired, descend
from cinealert.media.outputs import Output
from cinealert.media.overlay import Overlays, channel_zone
from cinealert.media.picture import (
    LoopProvider,
    Pictures,
    Source,
    StillProvider,
    default_loop_provider,
    default_still_provider,
)
from cinealert.media.profiles import writer_for
from cinealert.media.result import RESULT, Record, commit_result, index_published, mark, read_result
from cinealert.media.speech import synthesise
from cinealert.media.videocache import VideoCache
from cinealert.objstore import LOCAL, SharedFiles
from cinealert.render.present import Presentation, present

if TYPE_CHECKING:
    from cinealert.broadcast.audio import Speaker
    from cinealert.config import Settings

log = structlog.get_logger(__name__)


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
        files: SharedFiles = LOCAL,
    ) -> None:
        self.settings = settings
        #: where outputs go live: this disk, or also a bucket (``[store]``; ``cinealert.objstore``)
        self.files = files
        self._speaker = speaker
        self.loop_provider = loop_provider or default_loop_provider
        self.still_provider = still_provider or default_still_provider
        self.size = size  # picture size override for every profile (tests use small frames)
        self._overlays = Overlays()
        self._videos = VideoCache(settings.render.cache_dir / "broadcast")
        self._keys: KeyLocks[str] = KeyLocks()

    # Stage protocol ------------------------------------------------------------------------------------------

    def directory(self, key: AlertKey) -> Path:
        return self.settings.broadcast.output_dir / key.slug()

    def publish(
        self, alert: Alert, classification: Classification, cancel: threading.Event, gate: Gate | None = None
    ) -> Published:
        with self._keys.hold(alert.key.slug()):
            done = self.existing(alert.key)
            if done is not None:
                # A crash between result.json and the index left the entry out: a replay puts it back.
                index_published(self.settings.broadcast.output_dir, done)
                return done
            published = self.render(
                alert, classification, cancel, directory=self.directory(alert.key), gate=gate
            )
        index_published(self.settings.broadcast.output_dir, published)
        return published

    def existing(self, key: AlertKey) -> Published | None:
        return read_result(self.directory(key), self.files)

    def supersede(self, key: AlertKey, by: AlertKey) -> Path | None:
        return mark(self.settings.broadcast.output_dir, key, by, "superseded", files=self.files)

    def withdraw(self, key: AlertKey, by: AlertKey) -> Path | None:
        return mark(self.settings.broadcast.output_dir, key, by, "withdrawn", files=self.files)

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

        A render error that a retry would only repeat walks down the ladder (``ladder``, ``contract.RUNGS``)
        instead of failing the alert: speech that cannot be had becomes a chime and the caption's reading time
        (``no_speech``); a scene loop that cannot be had, a still frame of the scene or else a plain background
        under the overlay (``static``); an overlay that cannot be laid out, or a static picture failing too, a
        text slate (``slate``). A failed rung's directory is removed before the next one writes. Never degraded,
        because no simpler picture would help or because it is no failure: cancellation (``StageCancelled``),
        a closed gate, errors writing the output (``PublishError``), disk full anywhere in a cause chain, a bad
        request (``MediaError``). Only a failing slate raises (``MediaError``, with every rung's reason).
        """
        clock = Clock(started if started is not None else time.perf_counter())
        clock.ms.update(timings or {})
        resolution = resolution or self.settings.render.resolution
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="tts") as pool:
            # The speech first (it starts at once); then the pictures, whose renderer may still have to load.
            request = self._request(alert, classification, cancel, clock, mode, profiles, resolution, pool)
            pictures = self._pictures(request.presentation, resolution)

            def attempt(picture: Picture, steps: list[str]) -> None:
                source = pictures.source(picture, cancel, clock)
                if source.note and steps:
                    steps[-1] = f"{steps[-1]}; {source.note}"
                self._publish_rung(directory, request, source, steps, gate)

            try:
                descend(str(alert.key), cancel, attempt)
            finally:
                request.audio.cancel()
        published = read_result(directory)
        if published is None:  # pragma: no cover - we just wrote it
            raise MediaError(f"{directory / RESULT} vanished right after publishing")
        log.info(
            "media_published", key=str(alert.key), disaster=request.disaster.value, mode=request.mode,
            profiles=[p.name for p in request.profiles], rung=published.rung, directory=str(directory),
            first_segment_ms=round(clock.ms["first_segment"], 1), total_ms=round(clock.ms["total"], 1),
        )  # fmt: skip
        return published

    def _named(self, resolution: str) -> str:
        """The picture size as result.json states it: the named one, or ``WxH`` when the stage was given one."""
        return f"{self.size[0]}x{self.size[1]}" if self.size is not None else resolution

    def _pictures(self, presentation: Presentation, resolution: str) -> Pictures:
        """The stage's providers as they are now (tests swap them), at the requested resolution."""
        settings = self.settings
        if resolution != settings.render.resolution and resolution in ("720p", "1080p", "2160p"):
            render = settings.render.model_copy(update={"resolution": resolution})
            settings = settings.model_copy(update={"render": render})
        return Pictures(
            loop=self.loop_provider, still=self.still_provider, size=self.size, settings=settings,
            presentation=presentation,
        )  # fmt: skip

    def _request(
        self, alert: Alert, classification: Classification, cancel: threading.Event, clock: Clock,
        mode: Mode | None, profiles: Sequence[ProfileName] | None, resolution: str, pool: ThreadPoolExecutor,
    ) -> Request:  # fmt: skip
        """The alert's render as every rung shares it; the speech is started here, in ``pool``. The alert crosses
        into ``render`` here, once: ``present`` reads how it looks (pages, expiry, scene, variant, symbol)."""
        from cinealert.broadcast.encode import frames_per_segment, make_profile

        bs = self.settings.broadcast
        mode = mode or bs.mode
        names: tuple[ProfileName, ...] = tuple(profiles or bs.profiles)
        presentation = present(
            alert, classification.disaster, languages=bs.languages, timezone=channel_zone(bs),
            variants=self.settings.render.variants,
        )  # fmt: skip
        infos = presentation.pages
        try:
            made = tuple(
                make_profile(name, resolution, size=self.size, atsc1_video=bs.atsc1_video_codec)
                for name in names
            )
        except ValueError as exc:  # a bad request: the same at every rung
            raise MediaError(f"cannot render {alert.key}: {exc}") from exc
        # Burn-in TS: the first segment needs only the lead-in tone, so the video encoder gets the CPU first and
        # speech synthesis runs at a lower priority; elsewhere the speech is on the critical path.
        background = bool(names) and names[0] in ("atsc1", "hls") and mode == "burn-in"
        # One speech for every rung: it does not depend on the picture, and its own failures degrade inside it.
        audio = pool.submit(synthesise, alert, infos, lambda: self.speaker, bs, cancel, clock, background)
        return Request(
            alert=alert, presentation=presentation, mode=mode, profiles=made,
            resolution=resolution, seg_frames=frames_per_segment(bs.segment_s), audio=audio, clock=clock,
            cancel=cancel, settings=bs, overlays=self._overlays, videos=self._videos,
        )  # fmt: skip

    def _publish_rung(
        self, directory: Path, request: Request, source: Source, steps: Sequence[str], gate: Gate | None
    ) -> None:
        """Every output of one rung into a fresh ``directory``; on any error the directory is removed."""
        from cinealert.broadcast.publish import OutputDir, PublishError

        clock = request.clock
        clock.first_segment = None  # of this rung's output; the work of failed rungs stays in the timings
        clock.captions = None
        clock.shown = list(source.shown)
        with OutputDir(directory) as out:
            try:
                outputs: dict[str, Output] = {}
                for profile in request.profiles:
                    writer = writer_for(request.mode, profile.name)
                    outputs[profile.name] = writer.write(request.job(out, profile, source))
                audio = request.audio.result()
                captions = clock.captions if clock.captions is not None else sidecars(out, audio, clock)
                clock.finish()
                record = self._record(request, source, steps, out.path, out.files, outputs, captions)
                with clock.timed("publish"):
                    out.commit_dir()
                    if gate is not None:
                        gate()
                    commit_result(self.files, out, record.encode())
            except StageCancelled:
                raise
            except Cancelled as exc:  # an encoder, the TTS or the animator stopped for the same cancel
                raise StageCancelled("render cancelled between frames") from exc
            except OSError as exc:
                if isinstance(exc, PublishError):
                    raise
                # Not the output's storage (OutputDir would call it a PublishError): a render part's error.
                raise RungError("render", describe(exc)) from exc

    def _record(
        self, request: Request, source: Source, steps: Sequence[str], directory: Path, files: Sequence[Path],
        outputs: Mapping[str, Output], captions: Mapping[str, Mapping[str, str]],
    ) -> Record:  # fmt: skip
        """What ``result.json`` says: the rung that aired is the picture's, or ``no_speech`` under the full one."""
        speech = request.clock.speech
        rung = aired(source.picture, speech.degraded)
        return Record(
            alert=request.alert, disaster=request.disaster, mode=request.mode,
            profiles=[p.name for p in request.profiles], resolution=self._named(request.resolution), outputs=outputs,
            captions=captions, audio=request.audio.result(), scene=source.info, directory=directory,
            files=list(files), base_url=request.settings.base_url, timings_ms=dict(request.clock.ms), rung=rung,
            degraded=[*([speech.reason] if speech.degraded else []), *steps], picture=source.kind,
            pages=list(request.clock.shown),
        )  # fmt: skip
