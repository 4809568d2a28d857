"""3D camera paths over a layered scene: per-layer shift and scale from depth (parallax ∝ 1/depth).

Every path is periodic in the loop length, so the camera returns to where it started. ``cover_zoom`` gives the
one zoom applied to all layers that keeps the farthest, opaque layer covering the frame at the largest shift any
layer reaches (camera plus earthquake shake): a layered scene never shows a hole at any amplitude.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

CameraName = Literal["static", "circular", "up-down", "dolly"]
CAMERAS: tuple[CameraName, ...] = ("static", "circular", "up-down", "dolly")

#: layers at this depth move by ``SHIFT_AT_REF`` of the frame height per unit amplitude
REF_DEPTH = 7.0
SHIFT_AT_REF = 0.012
DOLLY_AT_REF = 0.035


@dataclass(frozen=True, slots=True)
class Pose:
    """Screen transform of one layer at one frame: ``screen = c + (p - c) * scale + (dx, dy)`` in px."""

    dx: float
    dy: float
    scale: float


def pose(camera: CameraName, amplitude: float, depth: float, t: int, n: int, height: int) -> Pose:
    """The pose of a layer at ``depth`` in frame ``t`` of ``n`` for a frame ``height`` px tall."""
    if camera == "static" or amplitude <= 0:
        return Pose(0.0, 0.0, 1.0)
    k = REF_DEPTH / max(depth, 1e-3)
    r = SHIFT_AT_REF * height * amplitude * k
    th = 2.0 * math.pi * t / n
    if camera == "circular":
        return Pose(r * math.sin(th), r * 0.6 * (1.0 - math.cos(th)) - r * 0.6, 1.0)
    if camera == "up-down":
        return Pose(0.0, r * math.sin(th), 1.0)
    if camera == "dolly":
        # dolly in and back out: near layers grow faster than far ones, plus a slight rise
        ease = 0.5 * (1.0 - math.cos(th))
        return Pose(0.0, -0.3 * r * ease, 1.0 + DOLLY_AT_REF * amplitude * k * ease)
    raise ValueError(f"unknown camera path {camera!r}; known: {', '.join(CAMERAS)}")


def max_shift(camera: CameraName, amplitude: float, nearest_depth: float, height: int) -> tuple[float, float]:
    """Upper bound of |dx|, |dy| over a loop for the nearest layer (the one that moves most)."""
    if camera == "static" or amplitude <= 0:
        return (0.0, 0.0)
    r = SHIFT_AT_REF * height * amplitude * REF_DEPTH / max(nearest_depth, 1e-3)
    return {"circular": (r, 1.2 * r), "up-down": (0.0, r), "dolly": (0.0, 0.3 * r)}[camera]


def cover_zoom(width: int, height: int, shift: tuple[float, float]) -> float:
    """Zoom about the centre so a full-frame layer shifted by up to ``shift`` px still covers the frame."""
    sx, sy = shift
    if sx <= 0 and sy <= 0:
        return 1.0
    return max(1.0 + 2.0 * (sx + 1.0) / width, 1.0 + 2.0 * (sy + 1.0) / height)
