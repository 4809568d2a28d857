"""render: layered disaster scenes, Eulerian fluid motion, 3D camera, scene cache.

Public API (importing it does not import torch; rendering does, on first use)::

    from cinealert.render import get_loop, choose_variant, prewarm
    result = get_loop(DisasterType.FLOOD, choose_variant(alert.key, settings.render.variants), settings)
    result.loop            # Loop: width, height, fps, num_frames, frames() -> HxWx3 uint8
    result.cache_hit, result.timings_ms, result.scene_key

How an alert looks (its pages, expiry, pictogram, overlay, slate) is ``present`` (``render.present``): the one
entry ``media`` takes into ``render`` per alert.
"""

from cinealert.render.animate import RenderCancelled
from cinealert.render.backends import BackendError, SceneBackend, get_backend, register_backend
from cinealert.render.loop import NTSC_FPS, RESOLUTIONS, Loop
from cinealert.render.present import Presentation, present
from cinealert.render.scene import FluidKind, Layer, Scene, SceneError
from cinealert.render.service import (
    LoopResult,
    build_scene,
    choose_variant,
    get_loop,
    num_frames,
    prewarm,
)

__all__ = [
    "NTSC_FPS",
    "RESOLUTIONS",
    "BackendError",
    "FluidKind",
    "Layer",
    "Loop",
    "LoopResult",
    "Presentation",
    "RenderCancelled",
    "Scene",
    "SceneBackend",
    "SceneError",
    "build_scene",
    "choose_variant",
    "get_backend",
    "get_loop",
    "num_frames",
    "present",
    "prewarm",
    "register_backend",
]
