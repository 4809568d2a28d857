"""The fused CPU compositor: each layer of a 128-row band in one or two numba passes (``render.kernels``).

Why (DEVELOPERS.md, "Rendering on CPU"): a CPU frame is memory-bound, and the torch path makes every step a
pass over full-size float32 temporaries. Here a still layer is one pass (sub-pixel shift + "over"), a fluid one
or two, rain only its covered pixels, and the clamp to bytes is the interleave's own loop. The prepared tensors
are read through zero-copy numpy views made once, when the compositor is built.

Importing this module imports neither torch nor numba; ``KERNELS.get()`` imports (and compiles) the kernels.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from cinealert.render.prepared import STRIP_ROWS, SURFACE_KINDS, Geometry, PreparedLayer, Window

if TYPE_CHECKING:
    from torch import Tensor


class KernelsHandle:
    """The compiled kernels module, loaded on first use; ``None`` where numba is missing or cannot compile.

    Any failure means the torch path, with one ``render.kernels_unavailable`` warning in the log."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tried = False
        self._module: ModuleType | None = None

    def get(self) -> ModuleType | None:
        with self._lock:
            if not self._tried:
                self._module = self._load()
                self._tried = True
            return self._module

    @staticmethod
    def _load() -> ModuleType | None:
        try:
            from cinealert.render import kernels

            kernels.warm()  # compile, or load from NUMBA_CACHE_DIR: the first frame must not pay for it
        except Exception as exc:  # no numba, no compiler, unwritable cache: use torch
            import structlog

            structlog.get_logger().warning(
                "render.kernels_unavailable", error=f"{type(exc).__name__}: {exc}", fallback="torch"
            )
            return None
        return kernels


#: The one handle of this process, a lazily initialised singleton on purpose: numba compiles (or loads from its
#: on-disk cache) per process, not per animator, so every animator shares the loaded kernels; and an operator
#: should see "render.kernels_unavailable" once per process, not once per alert. It is written once (under its
#: lock) and only read after; tests swap in a fresh ``KernelsHandle`` to load again.
KERNELS = KernelsHandle()


def kernels_ready() -> bool:
    """Whether the fused CPU kernels are usable here: numba imported and every kernel compiled (or loaded from
    its on-disk cache), once per process."""
    return KERNELS.get() is not None


@dataclass(frozen=True, slots=True)
class _Views:
    """One prepared layer's tensors as the kernels read them (zero-copy numpy views of contiguous tensors)."""

    tex: npt.NDArray[np.float32]
    canvas: npt.NDArray[np.float32] | None  # the camera canvas (translation-only cameras)
    hwc: npt.NDArray[np.float32] | None  # fluids: the texture the flow moves, channels last (h, w, 4)
    mix: npt.NDArray[np.float32] | None  # fluids: per frame, the splatted share and coverage (N+1, 2, h, w)
    sparse_cols: npt.NDArray[np.int64] | None  # rain sheets: covered pixels' columns and premultiplied RGBA
    sparse_vals: npt.NDArray[np.float32] | None
    need: npt.NDArray[np.bool_] | None  # fluids on a canvas: where the moved colour is needed (``need``)


def need(weight: npt.NDArray[np.float32], sy: int, sx: int) -> npt.NDArray[np.bool_]:
    """Canvas points whose moved colour some moving pixel reads: the fused kernel warps the colour at every
    ``sy``-th row and ``sx``-th column and interpolates between, so a point within ``sy - 1`` rows and ``sx - 1``
    columns of a pixel whose ``weight`` (of the moved part) is not 0. The others are skipped: a photo's water
    or fire fills half or less of its bounding box, which the window covers."""
    import cv2

    moving: npt.NDArray[np.bool_] = np.not_equal(weight, 0)
    if sy == 1 and sx == 1:
        return moving
    box = np.ones((2 * sy - 1, 2 * sx - 1), np.uint8)
    return np.asarray(cv2.dilate(moving.view(np.uint8), box), np.uint8).view(np.bool_)


def _mix(flows: Tensor, mix: Tensor | None) -> npt.NDArray[np.float32]:
    """The per-frame blend fields as the kernels read them; without splatted ones, the plain crossfade."""
    if mix is None:
        from cinealert.render.splat import loop_weights

        mix = loop_weights(flows, flows[0, 0], crossfade=True)
    return np.ascontiguousarray(mix.numpy())


def _views(prep: PreparedLayer, geo: Geometry) -> _Views:
    tex = prep.tex.contiguous()
    canvas = prep.canvas
    ztex = canvas.tex.contiguous().numpy() if canvas is not None else None
    hwc = mix = needed = None
    if prep.fluid is not None:  # channels last: one 16-byte load per bilinear tap
        src = prep.fluid.soft_tex if prep.fluid.soft_tex is not None else tex[:4]
        hwc = src.permute(1, 2, 0).contiguous().numpy()
        mix = _mix(prep.fluid.flows, prep.fluid.mix)
        if ztex is not None and not prep.layer.wrap:
            # the widest steps any window of this layer takes (a small one may take 1): a superset suits all
            big = max(geo.h, geo.w)
            needed = need(ztex[4], *geo.fluid_step(prep.fluid.kind, big, big))
    sparse = canvas.sparse if canvas is not None else None
    return _Views(
        tex.numpy(),
        ztex,
        hwc,
        mix,
        sparse.cols.numpy() if sparse is not None else None,
        sparse.vals.numpy() if sparse is not None else None,
        needed,
    )


class FusedCompositor:
    """``BandCompositor`` over the fused numba kernels (CPU only); keeps no per-frame state."""

    name = "fused"
    band_rows = STRIP_ROWS

    def __init__(self, geo: Geometry, layers: Sequence[PreparedLayer], kernels: ModuleType) -> None:
        self.geo = geo
        self.k = kernels
        self._views = tuple(_views(prep, geo) for prep in layers)  # indexed by the layer's index

    def band(
        self, t: int, s0: int, s1: int, windows: Sequence[Window], dst: Tensor, backdrop: bool,
        under: npt.NDArray[np.float32] | None = None,
    ) -> None:  # fmt: skip
        """Screen rows ``s0:s1`` of frame ``t`` into ``dst`` (H, W, 3 bytes): one pass per layer, then straight
        to bytes; ``backdrop``: the first window covers every pixel of the band (no zero fill needed);
        ``under``: what lies under ``windows`` there (``composite`` of the layers below, which never change)."""
        out = under.copy() if under is not None else self.composite(t, s0, s1, windows, backdrop)
        if under is not None:
            for win in self.geo.in_band(windows, s0, s1):
                self._layer(out, win.r0 - s0, win, t)
        self.k.to_rgb8(out, dst[s0:s1].numpy())

    def composite(
        self, t: int, s0: int, s1: int, windows: Sequence[Window], backdrop: bool
    ) -> npt.NDArray[np.float32]:
        """Rows ``s0:s1`` of ``windows`` over each other, premultiplied float ``(3, rows, W)``, before bytes."""
        shape = (3, s1 - s0, self.geo.w)
        out = np.empty(shape, np.float32) if backdrop else np.zeros(shape, np.float32)
        for win in self.geo.in_band(windows, s0, s1):
            self._layer(out, win.r0 - s0, win, t)
        return out

    def _layer(self, out: npt.NDArray[np.float32], o0: int, win: Window, t: int) -> None:
        """One layer over its window (``out`` row ``o0`` onward)."""
        prep, geo = win.prep, self.geo
        views = self._views[prep.index]
        if views.canvas is None:  # the dolly: every layer resampled at its own scale each frame
            self._scaled(out, o0, views, win, t)
            return
        if views.sparse_cols is not None:  # a rain sheet's covered pixels, placed whole-pixel
            assert prep.canvas is not None and prep.canvas.sparse is not None
            fy, fx = geo.wrap_offset(prep, t, win.dx, win.dy)
            self.k.sparse_over(
                out, o0, win.c0, views.sparse_cols, views.sparse_vals, prep.canvas.sparse.ptr,
                win.r0 + int(fy), win.c0 + int(fx), win.r1 - win.r0, win.c1 - win.c0,
            )  # fmt: skip
            return
        if prep.layer.wrap:
            oy, ox = geo.wrap_offset(prep, t, win.dx, win.dy)
        else:
            oy, ox = geo.my - win.dy, geo.mx - win.dx  # canvas index of screen pixel 0
        if prep.sway_profile is not None and not prep.layer.wrap:
            self._swayed(out, o0, views.canvas, win, t, oy, ox)
        else:
            self._shifted(out, o0, views, win, t, oy, ox)

    def _swayed(
        self, out: npt.NDArray[np.float32], o0: int, z: npt.NDArray[np.float32], win: Window, t: int,
        oy: float, ox: float,
    ) -> None:  # fmt: skip
        """A swaying layer: each screen row read from its own canvas column (its sway at this frame)."""
        hh, ww = win.r1 - win.r0, win.c1 - win.c0
        ky = math.floor(oy)
        row_x = self.geo.sway_rows(win.prep, t, win.dy, win.r0, hh, ox)
        whole = row_x.floor()
        xs = whole.long().numpy() + win.c0
        fxs = (row_x - whole).numpy()
        backdrop = win.prep.index == 0  # nothing under it: its colour only
        self.k.over_shifted(out, o0, win.c0, z, win.r0 + ky, xs, oy - ky, fxs, hh, ww, backdrop)

    def _shifted(
        self, out: npt.NDArray[np.float32], o0: int, views: _Views, win: Window, t: int, oy: float, ox: float
    ) -> None:
        """A layer slid by a sub-pixel offset on its canvas; a fluid's canvas window is animated first."""
        prep = win.prep
        assert views.canvas is not None
        hh, ww = win.r1 - win.r0, win.c1 - win.c0
        ky, kx = math.floor(oy), math.floor(ox)
        z, zy, zx = views.canvas, win.r0 + ky, win.c0 + kx  # where the window starts on the layer's canvas
        if prep.fluid is not None and not prep.layer.wrap:
            # the animated fluid over exactly the canvas window this band reads (+1 row/col for the lerps)
            fluid, geo = prep.fluid, self.geo
            assert views.mix is not None and views.need is not None
            buf = np.empty((4, hh + 1, ww + 1), np.float32)
            self.k.fluid_canvas(
                buf, z, zy, zx, views.hwc, fluid.flows[t, 0:2].numpy(), fluid.flows[geo.n - t, 2:4].numpy(),
                views.mix[t], float(geo.mx), float(geo.my), float(geo.zoom), geo.w, geo.h,
                fluid.kind in SURFACE_KINDS, *geo.fluid_step(fluid.kind, hh, ww), views.need,
            )  # fmt: skip
            z, zy, zx = buf, 0, 0
        xs = np.full(hh, zx, np.int64)
        fxs = np.full(hh, ox - kx, np.float32)
        backdrop = prep.index == 0  # nothing under it: its colour only (an opaque sky, or the bottom layer)
        self.k.over_shifted(out, o0, win.c0, z, zy, xs, oy - ky, fxs, hh, ww, backdrop)

    def _scaled(self, out: npt.NDArray[np.float32], o0: int, views: _Views, win: Window, t: int) -> None:
        """The dolly: the torch path's separable resampling grid, each layer in one kernel pass."""
        prep, geo = win.prep, self.geo
        gx, gy, py = geo.scaled_grid(win, t)
        gxs, gys = gx.numpy(), gy.numpy()
        hh, ww = win.r1 - win.r0, win.c1 - win.c0
        if prep.fluid is not None and not prep.layer.wrap:
            fluid = prep.fluid
            assert views.mix is not None
            self.k.fluid_scaled(
                out, o0, win.c0, views.tex, views.hwc, fluid.flows[t, 0:2].numpy(),
                fluid.flows[geo.n - t, 2:4].numpy(), views.mix[t], gxs, gys, fluid.kind in SURFACE_KINDS, hh, ww,
            )  # fmt: skip
            return
        row_dx = np.zeros(hh, np.float32)
        if prep.sway_profile is not None:
            row_dx = (-geo.sway_dx(prep, py, t)).numpy()
        self.k.over_scaled(out, o0, win.c0, views.tex, gxs, gys, row_dx, hh, ww)
