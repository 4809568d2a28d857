"""The animator's values: layers prepared once on the device, the loop's frame geometry, one frame's windows.

Why frozen values: preparation (``render.prepare``) is the only code that builds per-layer tensors; the two
compositors only read them, from two render threads at once, so nothing may be cached into a layer after it is
built. The placement maths both compositors need (where a sheet or a swaying row sits, the dolly's grid, a
window cut to a band) lives on ``Geometry`` here, written once, so the torch and the fused path cannot drift.

Importing this module does not import torch (tensors are only annotated here).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import numpy as np
import numpy.typing as npt

from cinealert.render.camera import CameraName
from cinealert.render.periodic import gust
from cinealert.render.scene import FluidKind, Layer

if TYPE_CHECKING:
    import torch
    from torch import Tensor

SURFACE_KINDS = frozenset({FluidKind.WATER, FluidKind.MUD, FluidKind.FIRE})
#: surface fluids whose flowing colour is smooth (fire's heat noise, under a 2 px blurred core) and moves fast:
#: their colour is warped at every SOFT_STEP-th px, while the silhouette and the still part stay full-size
#: (at 1080p vs full size: mean 0.03 levels, over 2 levels on 0.1-0.3% of values, max 13; half the cost)
HALF_KINDS = frozenset({FluidKind.FIRE, FluidKind.MUD})
#: surface fluids whose detail runs across the frame (water's highlights are horizontal streaks): on the fused CPU
#: path their colour is warped at every SOFT_STEP-th column, every row (1080p vs every px: mean 0.02 levels, over 2
#: levels on 0.13% of values; a third less time for the flood water)
ACROSS_KINDS = frozenset({FluidKind.WATER})
#: smoke's plume is blurred over ~4% of the frame height: on the fused CPU path at >= 1080p its moved colour is
#: warped at every 4th px (vs every 2nd: mean 0.01 levels, max 2; the wildfire frame a third faster)
SMOKE_STEP = 4
#: below this height drawn detail is too few px wide for half-size textures (the flames' blur is under 2 px, the
#: heat haze's ripples a few px): fire is warped at full size, and smoke and haze read the full-size texture
HALF_MIN_HEIGHT = 1080
SWAY_AT_TOP = 0.014  # of frame height, at sway = 1
DRIFT_AT = 0.01  # sideways drift of particle sheets, of frame height
SOFT_STEP = 2  # smoke and haze are warped at every 2nd px and upsampled
STRIP_ROWS = (
    128  # CPU frames are composited in bands this tall (a band of every layer stays in the core's cache)
)


@dataclass(frozen=True, slots=True)
class RenderParams:
    """How a scene is animated: camera path and amplitude, loop length in frames, earthquake shake on/off."""

    camera: CameraName = "circular"
    amplitude: float = 1.0
    num_frames: int = 180
    shake: bool = True
    #: how a fluid's two integrations are blended into a loop: symmetric splatting (``render.splat``), or the
    #: plain uniform crossfade (weights ``1 - t/N``, ``t/N`` everywhere; kept to measure against)
    loop: Literal["splat", "crossfade"] = "splat"


@dataclass(frozen=True, slots=True)
class FluidMotion:
    """What makes a fluid layer move (its texture holds ``[colour, alpha, mask]``)."""

    kind: FluidKind
    flows: Tensor  # low-res integrated displacements, (N+1, 4, h, w): 0-1 traced back, 2-3 traced ahead
    soft_tex: (
        Tensor | None
    )  # premultiplied RGBA at half size (soft fluids at >= HALF_MIN_HEIGHT): what warps read
    #: per frame, low-res (N+1, 2, h, w): the share of the sample traced ahead, and the coverage that scales both
    #: displacements (``render.splat.loop_weights``: symmetric splatting's normalised weights)
    mix: Tensor | None = None


@dataclass(frozen=True, slots=True)
class SparseSheet:
    """A rain sheet's covered pixels on its tiled canvas, in row-major order: rows, cols, premultiplied RGBA
    ``(4, n)``, and per canvas row where its pixels start in those arrays (``ptr[r]:ptr[r + 1]``)."""

    rows: Tensor
    cols: Tensor
    vals: Tensor
    ptr: npt.NDArray[np.int64]


@dataclass(frozen=True, slots=True)
class Canvas:
    """A layer resampled once for a translation-only camera (all but the dolly): pre-zoomed onto a canvas with
    a margin (``Geometry.mx``/``my``), or a particle sheet tiled 2x2, so a frame only slices it at the layer's
    offset and blends the sub-pixel remainder.

    Fluids keep their still part folded in (``[still colour, (alpha), weight of the moved part]``) and the
    layer-space grid of every canvas pixel. Still layers keep, per canvas row, the first and one-past-last column
    with any alpha, and whether the row is opaque edge to edge (then nothing under it shows: lower layers are
    skipped there)."""

    tex: Tensor
    grid: Tensor | None = None
    row_c0: npt.NDArray[np.int64] | None = None
    row_c1: npt.NDArray[np.int64] | None = None
    row_opaque: npt.NDArray[np.bool_] | None = None
    sparse: SparseSheet | None = None


@dataclass(frozen=True, slots=True)
class PreparedLayer:
    """One scene layer on the device with what every frame needs; built by ``render.prepare``, then read-only."""

    layer: Layer
    index: int
    tex: Tensor  # (C, H, W) [straight rgb, alpha, mask] for surface fluids, else premultiplied (+ mask)
    rows: tuple[int, int]  # layer-space rows and columns with anything to draw
    cols: tuple[int, int]
    depth: float  # the layer's mean depth (the camera moves it by this)
    fluid: FluidMotion | None = None
    sway_profile: Tensor | None = None  # (H,) px of sway at full gust, 0 at the base
    scroll: tuple[int, int] = (0, 0)  # particle sheets: whole wraps per loop (x, y)
    drift_phase: float = 0.0
    canvas: Canvas | None = None  # None under the dolly: resampled at its own scale each frame

    @property
    def kind(self) -> FluidKind | None:
        return self.fluid.kind if self.fluid is not None else None


@dataclass(frozen=True, slots=True)
class Window:
    """Where one layer sits in one frame (camera shift ``dx``, ``dy`` and ``scale``, shake included) and the
    screen rectangle it can touch: rows ``r0:r1``, cols ``c0:c1``."""

    prep: PreparedLayer
    dx: float
    dy: float
    scale: float
    r0: int
    r1: int
    c0: int
    c1: int


@dataclass(frozen=True, slots=True)
class Geometry:
    """The loop's frame: size, loop length, the one cover zoom, the device, and the canvas margin of the
    translation-only cameras (0 under the dolly). ``xs``/``ys`` are the pixel centres of the screen."""

    h: int
    w: int
    n: int
    zoom: float
    device: torch.device
    xs: Tensor
    ys: Tensor
    mx: int = 0
    my: int = 0

    def half(self, kind: FluidKind | None) -> bool:
        """Whether this fluid's flowing colour is warped at half resolution (see ``HALF_KINDS``)."""
        return kind in HALF_KINDS and self.h >= HALF_MIN_HEIGHT

    def fluid_step(self, kind: FluidKind | None, hh: int, ww: int) -> tuple[int, int]:
        """Every how many rows and columns a fluid's moved colour is warped (bilinearly filled in between), on
        the fused path."""
        soft = kind not in SURFACE_KINDS or self.half(kind)
        if soft and hh >= 4 * SOFT_STEP and ww >= 4 * SOFT_STEP:
            k = SMOKE_STEP if kind is FluidKind.SMOKE and self.h >= HALF_MIN_HEIGHT else SOFT_STEP
            return k, k
        return 1, (SOFT_STEP if kind in ACROSS_KINDS and self.h >= HALF_MIN_HEIGHT else 1)

    def wrap_offset(self, prep: PreparedLayer, t: int, dx: float, dy: float) -> tuple[float, float]:
        """Canvas row and column of screen pixel (0, 0) for a particle sheet (on its 2x2 tiled canvas)."""
        kx, ky = prep.scroll
        drift = DRIFT_AT * self.h * math.sin(2 * math.pi * t / self.n + prep.drift_phase) if kx == 0 else 0.0
        ox = (-(kx * self.w * t / self.n + drift + dx)) % self.w
        oy = (-(ky * self.h * t / self.n + dy)) % self.h
        if prep.layer.fluid is FluidKind.RAIN:
            # rain streaks fall several px a frame: whole-pixel placement is invisible there, keeps them
            # crisp (no half-px smear every other frame) and saves both lerps of a full-frame sheet
            ox, oy = float(round(ox) % self.w), float(round(oy) % self.h)
        return oy, ox

    def sway_rows(self, prep: PreparedLayer, t: int, dy: float, r0: int, hh: int, ox: float) -> Tensor:
        """Canvas column of screen column 0 for each screen row ``r0:r0+hh`` of a swaying layer."""
        assert prep.sway_profile is not None
        cy = self.h / 2.0
        py = cy + (self.ys[r0 : r0 + hh] - cy - dy) / self.zoom  # layer rows of the screen rows
        return ox - prep.sway_profile[py.floor().long().clamp(0, self.h - 1)] * (gust(t, self.n) * self.zoom)

    def scaled_grid(self, win: Window, t: int) -> tuple[Tensor, Tensor, Tensor]:
        """Where the screen window samples a layer under a scaling camera (the dolly), separable: grid x per
        column, grid y per row (``[-1, 1]`` units of the texture, particle sheets wrapped onto their padded
        one), and the layer-space row of each screen row (what a sway profile is indexed by)."""
        h, w = self.h, self.w
        cx, cy = w / 2.0, h / 2.0
        px = cx + (self.xs[win.c0 : win.c1] - cx - win.dx) / win.scale
        py = cy + (self.ys[win.r0 : win.r1] - cy - win.dy) / win.scale
        tex_w, tex_h = w, h
        prep = win.prep
        if prep.layer.wrap:
            kx, ky = prep.scroll
            drift = DRIFT_AT * h * math.sin(2 * math.pi * t / self.n + prep.drift_phase) if kx == 0 else 0.0
            px = (px - (kx * w * t / self.n + drift)).remainder(w) + 1.0  # +1: 1 px circular pad
            py = (py - ky * h * t / self.n).remainder(h) + 1.0
            tex_w, tex_h = w + 2, h + 2
        return px * (2.0 / tex_w) - 1.0, py * (2.0 / tex_h) - 1.0, py

    def sway_dx(self, prep: PreparedLayer, py: Tensor, t: int) -> Tensor:
        """A swaying layer's shift in grid units for each layer-space row ``py`` (the dolly's sway)."""
        assert prep.sway_profile is not None
        rows = prep.sway_profile[py.floor().long().clamp(0, self.h - 1)]
        return rows * (gust(t, self.n) * 2.0 / self.w)

    def in_band(self, windows: Iterable[Window], s0: int, s1: int) -> Iterator[Window]:
        """Each layer's window cut to screen rows ``s0:s1`` and to the columns it covers there; empty ones
        skipped."""
        for win in windows:
            b0, b1 = max(win.r0, s0), min(win.r1, s1)
            if b1 <= b0:
                continue
            c0, c1 = win.c0, win.c1
            canvas = win.prep.canvas
            if canvas is not None and canvas.row_c0 is not None and canvas.row_c1 is not None:
                ky, kx = math.floor(self.my - win.dy), math.floor(self.mx - win.dx)
                e0 = int(canvas.row_c0[b0 + ky : b1 + ky + 1].min()) - kx - 1
                e1 = int(canvas.row_c1[b0 + ky : b1 + ky + 1].max()) - kx + 1
                c0, c1 = max(c0, e0), min(c1, e1)
                if c1 <= c0:
                    continue
            yield Window(win.prep, win.dx, win.dy, win.scale, b0, b1, c0, c1)
