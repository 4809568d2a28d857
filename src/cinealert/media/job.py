"""The values handed down one render: the ``Request`` (one alert, the same at every rung) and the ``Job`` (the
request narrowed to one output profile of one rung), which is all a ``profiles.ProfileWriter`` needs. How the
alert looks is the request's ``Presentation`` (``render.present``), read once per render."""

from __future__ import annotations

import dataclasses
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cinealert.cap.model import Alert, DisasterType, Info
from cinealert.media.clock import Clock
from cinealert.media.overlay import OverlayRef, Overlays, frames
from cinealert.media.picture import LoopInfo, Source
from cinealert.media.result import public_url
from cinealert.media.speech import plan
from cinealert.media.videocache import VideoCache
from cinealert.render.loop import Frame
from cinealert.render.present import Presentation

if TYPE_CHECKING:
    from collections.abc import Iterator

    from cinealert.broadcast.audio import AlertAudio
    from cinealert.broadcast.encode import Profile
    from cinealert.broadcast.publish import OutputDir
    from cinealert.config.sections import BroadcastSettings

Mode = Literal["burn-in", "rich-media"]
ProfileName = Literal["atsc1", "atsc3", "hls"]
ALL_PROFILES: tuple[ProfileName, ...] = ("atsc1", "atsc3", "hls")


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    """One alert's render: everything that is the same at every rung of the ladder and for every profile."""

    alert: Alert
    presentation: Presentation  # how the alert looks: pages, overlay, slate, event symbol
    mode: Mode
    profiles: tuple[Profile, ...]
    resolution: str
    seg_frames: int
    audio: Future[AlertAudio]  # a future: the first segments are encoded while it is still being synthesised
    clock: Clock
    cancel: threading.Event
    settings: BroadcastSettings
    overlays: Overlays
    videos: VideoCache

    @property
    def infos(self) -> tuple[Info, ...]:
        """The pages, in the configured language order."""
        return self.presentation.pages

    @property
    def disaster(self) -> DisasterType:
        return self.presentation.disaster

    def job(self, out: OutputDir, profile: Profile, source: Source) -> Job:
        shared = {f.name: getattr(self, f.name) for f in dataclasses.fields(Request)}
        return Job(**shared, out=out, profile=profile, loop=source.info, burn=source.overlay)


@dataclass(frozen=True, slots=True, kw_only=True)
class Job(Request):
    """The request narrowed to one profile of one rung: where to write and what to show."""

    out: OutputDir
    profile: Profile
    loop: LoopInfo
    burn: bool  # burn the overlay in (the slate carries its own text)

    def overlay_ref(self) -> OverlayRef:
        """The overlay to burn in (none for the slate), laid out now; ``with_speech`` retimes it later."""
        if not self.burn:
            return OverlayRef(None)
        p = self.profile
        overlay = self.overlays.get(self.presentation, (p.width, p.height), float(p.fps), self.clock)
        return OverlayRef(overlay)

    def frames(self, ref: OverlayRef) -> Iterator[Frame]:
        return frames(self.loop.loop, self.profile.width, self.profile.height, ref, self.clock)

    def planned(self) -> tuple[AlertAudio, int]:
        """The speech (waited for) padded to whole segments, and the frames those segments hold."""
        return plan(self.audio.result(), self.seg_frames, self.profile.fps)

    def url(self, name: str) -> str:
        return public_url(self.settings.base_url, self.out.path, name)
