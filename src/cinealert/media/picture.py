"""The picture of each ladder rung: the scene loop, a still (scene frame or plain background), or the slate.

The scene comes through providers so tests and benchmarks can hand in frames of their own; the defaults are
the renderer's cached loop and the scene at rest. Which scene, and the slate's text, come from the render's
``Presentation``; everything taken from ``render`` comes through ``render.present``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import structlog

from cinealert.cap.model import AlertKey
from cinealert.media.clock import Clock
from cinealert.media.contract import StageCancelled
from cinealert.media.errors import MediaError, RungError, describe
from cinealert.media.ladder import Picture, raise_if_fatal
from cinealert.render.loop import Frame, Loop
from cinealert.render.present import (
    RESOLUTIONS,
    Presentation,
    SceneBrief,
    build_scene,
    choose_variant,
    get_loop,
    plain_background,
)

if TYPE_CHECKING:
    from cinealert.config import Settings

log = structlog.get_logger(__name__)


@dataclass(frozen=True, slots=True)
class LoopInfo:
    loop: Loop
    scene_key: str
    cache_hit: bool = False
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    painted_by: Mapping[str, str] = field(default_factory=dict)  # the scene backend and its stages
    prompt: str = ""  # the text-to-image prompt the scene was painted from (ML backend), else empty


#: ``(brief, settings, cancel, picture size or None) -> LoopInfo``: the scene ``brief`` asks for (its disaster,
#: variant and the alert's words: ``Presentation.brief``). The whole ``Settings``, not only ``[render]``: the ML
#: scene backend reads its model directories from ``[ml]`` (a provider handed only ``[render]`` once made the
#: daemon air the built-in stand-ins while ``[ml]`` named every model).
LoopProvider = Callable[[SceneBrief, "Settings", threading.Event, "tuple[int, int] | None"], LoopInfo]

#: ``(brief, settings, picture size) -> HxWx3 uint8``: the scene at rest, for ``static``.
StillProvider = Callable[[SceneBrief, "Settings", "tuple[int, int]"], Frame]


def default_still_provider(brief: SceneBrief, settings: Settings, size: tuple[int, int]) -> Frame:
    """The scene the loop would have animated, composited at rest: no animator, no cache, no torch.

    The scene backend (cheap: ~0.2 s at 320x180, ~3 s at 1080p) is rarely what fails when a loop cannot be had;
    the animator, its kernels or the cache are more often, and the alert then keeps its picture, only still.
    """
    return build_scene(brief.disaster, brief.variant, settings, size, brief).image


def default_loop_provider(
    brief: SceneBrief, settings: Settings, cancel: threading.Event, size: tuple[int, int] | None
) -> LoopInfo:
    """The scene renderer's cached loop (``cinealert.render.get_loop``); its timings map to scene/animate."""
    result = get_loop(brief.disaster, brief.variant, settings, cancel=cancel, size=size, brief=brief)
    raw = {k: float(v) for k, v in dict(result.timings_ms).items()}
    timings = {
        "scene": raw.get("lookup", 0.0) + raw.get("build", 0.0),
        "animate": raw.get("render", 0.0),
    }
    return LoopInfo(
        result.loop, str(result.scene_key), bool(result.cache_hit), timings, result.painted_by, result.prompt
    )


def variant_for(key: AlertKey, variants: int) -> int:
    """Deterministic per alert (same rule as the renderer), so a redelivered alert gets the same scene."""
    return choose_variant(key, variants)


@dataclass(frozen=True, slots=True)
class Source:
    """The picture of one rung and how ``result.json`` names it."""

    info: LoopInfo
    picture: Picture
    kind: str  # "scene loop" | "still frame" | "plain background" | "slate"
    overlay: bool = True  # burn the overlay in (the slate carries its own text)
    shown: Sequence[dict[str, Any]] = ()
    note: str = ""  # why it is less than asked for (a still that could not be had: a plain background)


@dataclass(frozen=True, slots=True, kw_only=True)
class Pictures:
    """Where one render's pictures come from (the stage's providers, read when the render starts)."""

    loop: LoopProvider
    still: StillProvider
    size: tuple[int, int] | None
    settings: Settings  # whole: [render] for the loop, [ml] for the ML scene backend
    presentation: Presentation  # the scene and its variant, the slate's text

    def source(self, picture: Picture, cancel: threading.Event, clock: Clock) -> Source:
        if picture == "loop":
            return self._loop(cancel, clock)
        if picture == "still":
            return self._still(cancel, clock)
        return self._slate(clock)

    @property
    def dimensions(self) -> tuple[int, int]:
        return self.size or RESOLUTIONS[self.settings.render.resolution]

    def _loop(self, cancel: threading.Event, clock: Clock) -> Source:
        t = time.perf_counter()
        look = self.presentation
        try:
            info = self.loop(look.brief, self.settings, cancel, self.size)
        except StageCancelled:
            raise
        except Exception as exc:
            if cancel.is_set():
                raise StageCancelled("render cancelled while building the scene loop") from exc
            raise RungError("scene", f"the scene loop failed: {describe(exc)}") from exc
        if info.timings_ms:
            clock.ms.update(info.timings_ms)
        else:
            clock.add("scene", time.perf_counter() - t)
        clock.ms.setdefault("scene", 0.0)
        clock.ms.setdefault("animate", 0.0)
        return Source(info, "loop", "scene loop")

    def _still(self, cancel: threading.Event, clock: Clock) -> Source:
        """A frame of the scene at rest; where even that fails (the scene backend itself), a plain background."""
        width, height = self.dimensions
        t = time.perf_counter()
        kind, note = "still frame", ""
        try:
            frame = self._scene_at_rest(width, height)
        except Exception as exc:
            raise_if_fatal(exc, cancel)
            kind, note = "plain background", f"no still frame ({describe(exc)}): a plain background"
            log.warning("media_still_unavailable", key=str(self.presentation.alert.key), error=describe(exc))
            frame = plain_background(width, height)
        clock.add("scene", time.perf_counter() - t)
        digest = hashlib.sha256(frame.tobytes()).hexdigest()[:16]
        return Source(LoopInfo(Loop.from_arrays([frame]), f"still-{digest}"), "still", kind, note=note)

    def _scene_at_rest(self, width: int, height: int) -> Frame:
        look = self.presentation
        frame = np.ascontiguousarray(self.still(look.brief, self.settings, (width, height)), np.uint8)
        if frame.shape != (height, width, 3):
            raise MediaError(f"the still frame is {frame.shape}, expected {(height, width, 3)}")
        return frame

    def _slate(self, clock: Clock) -> Source:
        width, height = self.dimensions
        t = time.perf_counter()
        try:
            made = self.presentation.slate(width, height)
        except Exception as exc:
            raise RungError("slate", f"the slate cannot be drawn: {describe(exc)}") from exc
        clock.add("compose", time.perf_counter() - t)
        digest = hashlib.sha256(made.frame.tobytes()).hexdigest()[:16]
        shown = [{"language": p.language, "band": made.band, "lines": list(p.lines), "expiry": p.expiry}
                 for p in made.pages]  # fmt: skip
        info = LoopInfo(Loop.from_arrays([made.frame]), f"slate-{digest}")
        return Source(info, "slate", "slate", overlay=False, shown=shown)
