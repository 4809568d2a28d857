"""What every recipe draws with: the ``Builder`` (size, seeded RNG, the layers so far), the depth planes and
the time of day a variant picks.

Kept apart from the recipes so that motifs and recipes share one drawing state and one set of depths; the
recipes stay deterministic only while every random draw goes through ``Builder.rng`` in a fixed order.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cinealert.render.draw import F32, Canvas, Color
from cinealert.render.scene import FluidKind, Layer

# depths (larger = farther); the camera moves a layer by 1/depth
SKY, FAR, MID, STRUCT, HAZARD, FORE = 1000.0, 160.0, 55.0, 26.0, 18.0, 7.0


@dataclass
class Builder:
    """State shared while one scene is drawn: size, seeded RNG and the layers collected so far."""

    width: int
    height: int
    rng: np.random.Generator
    variant: int
    layers: list[Layer] = field(default_factory=list)
    motion: dict[FluidKind, F32] = field(default_factory=dict)
    shake: float = 0.0
    #: layers are turned into uint8 RGBA here, off the drawing thread (numpy releases the GIL), when set
    pool: ThreadPoolExecutor | None = None
    pending: list[Future[Layer]] = field(default_factory=list)

    def _append(self, make: Callable[[], Layer]) -> None:
        if self.pool is None:
            self.layers.append(make())
        else:
            self.pending.append(self.pool.submit(make))

    def finish(self) -> None:
        """Collect the layers still being converted, in the order they were added."""
        self.layers.extend(f.result() for f in self.pending)
        self.pending.clear()

    def canvas(self, base: Color = (0.5, 0.5, 0.5)) -> Canvas:
        return Canvas(self.width, self.height, base)

    def add(
        self,
        name: str,
        canvas: Canvas,
        depth: float,
        fluid: FluidKind | None = None,
        fluid_mask: npt.NDArray[Any] | None = None,
        sway: float = 0.0,
    ) -> None:
        mask = None if fluid_mask is None else fluid_mask > 0.5
        self._append(lambda: Layer(name, canvas.rgba(), depth, fluid, mask, wrap=False, sway=sway))

    def grid(self) -> tuple[F32, F32]:
        ys = ((np.arange(self.height, dtype=np.float32) + 0.5) / self.height)[:, None]
        xs = ((np.arange(self.width, dtype=np.float32) + 0.5) / self.width)[None, :]
        return np.broadcast_to(xs, (self.height, self.width)), np.broadcast_to(ys, (self.height, self.width))

    def flow(self, kind: FluidKind, vx: npt.ArrayLike, vy: npt.ArrayLike) -> None:
        """Velocity in px/frame at 1080p; scaled to this resolution."""
        s = self.height / 1080.0
        field_ = np.zeros((self.height, self.width, 2), dtype=np.float32)
        field_[..., 0] = vx
        field_[..., 1] = vy
        self.motion[kind] = field_ * s

    def particles(
        self,
        kind: FluidKind,
        name: str,
        depth: float,
        count: int,
        radius: tuple[float, float],
        color: Color,
        opacity: float,
        velocity: tuple[float, float],
        streak: float = 0.0,
    ) -> None:
        """A periodic particle sheet (snow flakes, rain streaks, dust) that scrolls with wrap-around."""
        c = self.canvas(color)
        sh = c.shapes()
        pos = self.rng.random((count, 2))
        rad = self.rng.uniform(radius[0], radius[1], count)
        vx, vy = velocity
        norm = math.hypot(vx * self.height / self.width, vy) or 1.0
        dx, dy = vx * self.height / self.width / norm, vy / norm
        for (x, y), r in zip(pos, rad, strict=True):
            for ox in (-1.0, 0.0, 1.0):  # draw wrapped copies so the sheet tiles seamlessly
                for oy in (-1.0, 0.0, 1.0):
                    px, py = float(x + ox), float(y + oy)
                    if not (-0.05 < px < 1.05 and -0.1 < py < 1.1):
                        continue
                    if streak > 0:
                        sh.line([(px, py), (px + dx * streak, py + dy * streak)], float(r))
                    else:
                        sh.ellipse(px, py, float(r))
        c.paint(sh.mask(), color, opacity)
        s = self.height / 1080.0
        self._append(lambda: Layer(name, c.rgba(), depth, kind, None, wrap=True, velocity=(vx * s, vy * s)))
        if kind not in self.motion:
            self.flow(kind, vx, vy)


TIMES = ("day", "dusk", "overcast")


def time_of_day(variant: int) -> str:
    return TIMES[variant % len(TIMES)]
