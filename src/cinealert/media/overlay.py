"""The text overlay of a burned-in picture: laid out once per alert and size, applied frame by frame.

The overlay is built before the speech is known, so the first segment can be encoded while the speech is still
being synthesised; ``with_speech`` then makes its pages follow the spoken headlines (``OverlayRef``). What it
says comes from the render's ``Presentation`` (``render.present``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cinealert.cap.model import AlertKey
from cinealert.media.clock import Clock
from cinealert.media.errors import RungError, describe
from cinealert.render.loop import Frame, Loop
from cinealert.render.present import Presentation, retimed

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio
    from cinealert.config.sections import BroadcastSettings
    from cinealert.render.compose import Overlay

#: Overlays kept per stage: an alert's profiles share one per picture size; a few alerts at a time are in flight.
_KEEP = 16


@dataclass(slots=True)
class OverlayRef:
    """The overlay in use; replaced once the speech timing is known (pages then follow the speech)."""

    overlay: Overlay | None


def frames(loop: Loop, width: int, height: int, ref: OverlayRef, clock: Clock) -> Iterator[Frame]:
    """The loop repeated forever, resized if needed, with the overlay (if any) burned in.

    A frame that cannot be had (a cache entry unreadable mid-loop, a frame of the wrong shape) fails the
    picture, not the output's storage: it surfaces as ``RungError`` wherever the encoder pulls it.
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
            raise RungError("picture", f"frame {index} of the picture failed: {describe(exc)}") from exc
        if not produced:
            raise RungError("picture", "the scene loop produced no frames")


def with_speech(overlay: Overlay | None, audio: AlertAudio) -> Overlay | None:
    if overlay is None:
        return None
    return retimed(overlay, [(u.language, u.start_s) for u in audio.utterances if u.kind == "headline"])


def channel_zone(settings: BroadcastSettings) -> str | None:
    """``broadcast.timezone`` where the configuration set it, ``None`` where it is only the default.

    The default (Asia/Seoul) names no channel's real zone: a US alert shown in KST misleads everyone, so an
    unset zone lets each alert's expiry be shown at its own offset (``render.compose.format_expiry``).
    """
    return settings.timezone if "timezone" in settings.model_fields_set else None


class Overlays:
    """The overlays laid out so far, by alert and picture size (atsc1 and hls share one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._made: dict[tuple[AlertKey, str, int, int], Overlay] = {}

    def get(self, presentation: Presentation, size: tuple[int, int], fps: float, clock: Clock) -> Overlay:
        """The overlay for ``size``; an overlay that cannot be laid out is a ``RungError`` (the slate can air)."""
        key = (presentation.alert.key, presentation.disaster.value, *size)
        with self._lock:
            overlay = self._made.get(key)
        if overlay is None:
            t = time.perf_counter()
            try:
                overlay = presentation.overlay(size[0], size[1], fps)
            except Exception as exc:  # whatever the layout tripped on, the slate (its own text) can still air
                raise RungError("overlay", f"the overlay cannot be laid out: {describe(exc)}") from exc
            clock.add("compose", time.perf_counter() - t)
            with self._lock:
                self._made[key] = overlay
                while len(self._made) > _KEEP:
                    self._made.pop(next(iter(self._made)))
        _record_shown(presentation, overlay, clock)
        return overlay


def _record_shown(presentation: Presentation, overlay: Overlay, clock: Clock) -> None:
    """The overlay's text per page for ``result.json``: what viewers read, the expiry as it was shown."""
    if clock.shown:
        return
    clock.shown = [
        {"language": page.language, "lines": list(page.lines), "crawl": page.crawl_text, "expiry": expiry}
        for page, expiry in zip(overlay.pages, presentation.expiry, strict=False)
    ]
