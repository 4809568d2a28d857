"""The camera path as the LDI renderer needs it: one linear motion per frame, shared by every pixel.

``render.camera.pose`` is linear in nearness ``k = REF_DEPTH / depth``: a point at depth ``d`` shifts by
``k * (ax, ay)`` and scales about the centre by ``1 + k * s``. So one frame is three numbers (plus the
earthquake shake, which moves every depth alike), and every pixel's own depth gives its own parallax. The
reach figures bound how far apart two pixels of different nearness can drift over the loop: they size the
overscan margin and the depth-edge threshold of ``render.ldi.build``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from cinealert.render.camera import REF_DEPTH, CameraName, pose
from cinealert.render.periodic import shake_offset


@dataclass(frozen=True, slots=True)
class Motion:
    """Screen position of a pixel at ``(x, y)`` (px, centre-relative ``c``) with nearness ``k`` in one frame:
    ``c + (p - c) * (1 + k * s) + k * (ax, ay) + (ox, oy)``."""

    ax: float
    ay: float
    s: float
    ox: float
    oy: float


@dataclass(frozen=True, slots=True)
class CameraPath:
    """Every frame's ``Motion`` for one loop; periodic (frame ``n`` is frame ``0``), so the loop seams."""

    width: int
    height: int
    motions: tuple[Motion, ...]

    @classmethod
    def of(cls, camera: CameraName, amplitude: float, n: int, width: int, height: int,
           shake: float = 0.0) -> CameraPath:  # fmt: skip
        """The path of ``camera`` at ``amplitude`` over ``n`` frames; ``shake`` in px (0: none)."""
        motions = []
        for t in range(n):
            p = pose(camera, amplitude, REF_DEPTH, t, n, height)  # k = 1: the per-unit-nearness motion
            ox, oy = shake_offset(t, n, shake)
            motions.append(Motion(p.dx, p.dy, p.scale - 1.0, ox, oy))
        return cls(width, height, tuple(motions))

    @property
    def still(self) -> bool:
        """No camera motion at all: every pixel stays where it is."""
        return all(m.ax == 0 and m.ay == 0 and m.s == 0 and m.ox == 0 and m.oy == 0 for m in self.motions)

    def reach(self) -> float:
        """Largest screen drift per unit of nearness over the loop (px): two pixels whose nearness differs by
        ``dk`` end at most ``dk * reach()`` px further apart (or closer) than they started."""
        half_diag = math.hypot(self.width, self.height) / 2.0
        return max((math.hypot(m.ax, m.ay) + abs(m.s) * half_diag for m in self.motions), default=0.0)

    def inward(self, k_max: float) -> int:
        """Overscan margin (px): how far a pixel of nearness up to ``k_max`` can move in from beyond the frame
        edge (a dolly's zoom only pushes content outward, so only its shift counts), plus the shake."""
        far = 0.0
        for m in self.motions:
            far = max(far, abs(m.ax) * k_max + abs(m.ox), abs(m.ay) * k_max + abs(m.oy))
        return math.ceil(far) + 2 if far > 0 else 0
