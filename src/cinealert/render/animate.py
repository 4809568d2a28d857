"""Animate a scene into a seamless loop: Eulerian fluid motion + particle sheets + sway + 3D camera (torch).

Fluids (Holynski et al. 2021, "Animating Pictures with Eulerian Motion Fields"): each fluid region has a
constant velocity field ``v``. Euler integration traces where the content at ``x`` came from after ``t`` steps
(``p <- p - v(p)``) and where it will be after ``N - t`` steps (``p <- p + v(p)``); the frame blends the two
samples with weights ``1 - t/N`` and ``t/N`` (symmetric blending), so frame ``N`` equals frame ``0`` and the
clip loops. Velocity is zero outside a region, so trajectories stall at its edge: motion is confined to the
mask exactly. Surface fluids (water, mud, and fire, whose heat pattern rises inside fixed flame shapes) flow
their colour under a fixed silhouette; volumetric ones (smoke, haze) flow colour and coverage together.

Particle sheets (snow, rain, dust) are periodic textures scrolled by a whole number of wraps per loop; sway and
earthquake shake are periodic in the loop too. Then every layer is placed by the camera pose for its depth and
alpha-composited far -> near. Work is confined to each layer's bounding box; tensors stay on one device.
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar, cast

import numpy as np
import numpy.typing as npt

from cinealert.render.camera import CameraName, cover_zoom, max_shift, pose
from cinealert.render.periodic import gust, shake_offset, wraps_per_loop
from cinealert.render.scene import FluidKind, Layer, Scene, layer_for_fluid

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
STRIP_ROWS = 128  # CPU frames are composited in bands this tall (they stay in cache)
SOFT_STEP = 2  # smoke and haze are warped at every 2nd px and upsampled
DISP_STEP = 4  # the smooth displacement field is gathered every 4th px and upsampled
LOWRES_HEIGHT = 96  # displacement fields are integrated at this height (smooth; the mask blend is full-res)


_T = TypeVar("_T")

__all__ = [
    "Animator",
    "RenderCancelled",
    "RenderParams",
    "kernels_ready",
    "render_loop",
    "shake_offset",
    "wraps_per_loop",
]


class RenderCancelled(Exception):  # noqa: N818  # mirrors handlers.StageCancelled
    """Rendering stopped between frames because the cancel event was set."""


@dataclass(frozen=True, slots=True)
class RenderParams:
    camera: CameraName = "circular"
    amplitude: float = 1.0
    num_frames: int = 180
    shake: bool = True


class _Prepared:
    """One layer moved to the device with what each frame needs."""

    def __init__(self, layer: Layer, index: int, tex: Tensor, rows: tuple[int, int], cols: tuple[int, int]):
        self.layer = layer
        self.index = index
        self.tex = tex  # (C, H, W) [straight rgb, alpha, (mask)] or premultiplied
        self.rows = rows
        self.cols = cols
        self.depth = layer.mean_depth
        self.kind: FluidKind | None = None
        self.flows: Tensor | None = None  # low-res integrated displacements, (N+1, 4, h, w)
        # rain sheets: the covered pixels of the tiled canvas (rows, cols, premultiplied RGBA (4, n)) and, per
        # canvas row, where its pixels start in those arrays
        self.sparse: tuple[Tensor, Tensor, Tensor, npt.NDArray[np.int64]] | None = None
        self.soft_tex: Tensor | None = None  # soft fluids: premultiplied RGBA at half size, what warps read
        self.sway_profile: Tensor | None = None  # (H,) 0 at base .. 1 at top
        self.scroll: tuple[int, int] = (0, 0)
        self.drift_phase = 0.0
        # fast path (translation-only cameras): the layer pre-zoomed onto a canvas with a margin, or tiled 2x2
        self.ztex: Tensor | None = None
        self.zgrid: Tensor | None = None  # fluid layers: layer-space grid of every canvas pixel
        # still layers on a canvas: per canvas row, the first and one-past-last column with any alpha, and
        # whether the row is opaque edge to edge (then nothing under it shows: lower layers are skipped there)
        self.row_c0: npt.NDArray[np.int64] | None = None
        self.row_c1: npt.NDArray[np.int64] | None = None
        self.row_opaque: npt.NDArray[np.bool_] | None = None
        self.znp: npt.NDArray[np.float32] | None = None  # ztex as a zero-copy numpy view (fused CPU kernels)
        self.hwc: npt.NDArray[np.float32] | None = None  # fluids: the texture the flow moves, (h, w, 4)


class Animator:
    """Prepared once per (scene, params); ``frames()`` yields ``HxWx3`` uint8 numpy frames lazily."""

    def __init__(
        self,
        scene: Scene,
        params: RenderParams,
        device: torch.device | None = None,
        *,
        fused: bool | None = None,
    ) -> None:
        import torch

        from cinealert.render.device import get_device

        self.torch = torch
        self.scene = scene
        self.params = params
        self.device = device if device is not None else get_device()
        # CPU frames go through the fused kernels (render.kernels) unless told otherwise or they cannot compile
        self.fused = self.device.type == "cpu" and (fused if fused is not None else True) and kernels_ready()
        self.n = int(params.num_frames)
        if self.n < 2:
            raise ValueError("a loop needs at least 2 frames")
        h, w = scene.height, scene.width
        self.h, self.w = h, w
        self.shake = scene.shake * h / 1080.0 if params.shake else 0.0
        nearest = min(layer.mean_depth for layer in scene.layers)
        sx, sy = max_shift(params.camera, params.amplitude, nearest, h)
        sway_px = max((layer.sway for layer in scene.layers), default=0.0) * SWAY_AT_TOP * h
        self.zoom = cover_zoom(w, h, (sx + 1.6 * self.shake + sway_px, sy + 1.6 * self.shake))
        fluid_layer: dict[int, FluidKind] = {}
        for kind in scene.motion:
            idx = layer_for_fluid(scene, kind)
            if idx is not None and not scene.layers[idx].wrap:
                fluid_layer[idx] = kind
        # layers are prepared side by side on CPU (big torch ops release the GIL); one at a time on a GPU
        from cinealert.render.device import cpu_budget

        workers = cpu_budget() if self.device.type == "cpu" else 1
        self._pool = (
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") if workers > 1 else None
        )
        self.prepared = self._map(
            lambda i: self._prepare(i, scene.layers[i], fluid_layer.get(i)), range(len(scene.layers))
        )
        self.xs = torch.arange(w, device=self.device, dtype=torch.float32) + 0.5
        self.ys = torch.arange(h, device=self.device, dtype=torch.float32) + 0.5
        # Translation-only cameras (all but dolly) take the fast path: each layer is resampled once onto a
        # zoomed canvas with a margin, and a frame only slices it at the layer's offset and blends the
        # sub-pixel remainder (3 lerps instead of a full bilinear gather per layer per frame).
        self.fast = params.camera != "dolly"
        if self.fast:
            reach_x = reach_y = 0.0
            for t in range(self.n):
                shx, shy = shake_offset(t, self.n, self.shake)
                p = pose(params.camera, params.amplitude, nearest, t, self.n, h)
                reach_x, reach_y = max(reach_x, abs(p.dx + shx)), max(reach_y, abs(p.dy + shy))
            # swaying layers are slid sideways on their canvas by up to their largest sway: room for that too
            sway_reach = max((float(p.sway_profile.max()) for p in self.prepared if p.sway_profile is not None),
                             default=0.0) * self.zoom  # fmt: skip
            self.mx, self.my = math.ceil(reach_x + sway_reach) + 2, math.ceil(reach_y) + 2
            self._map(self._prezoom, self.prepared)
        if self.fused:
            for prep in self.prepared:
                prep.tex = prep.tex.contiguous()
                if prep.ztex is not None:
                    prep.ztex = prep.ztex.contiguous()
                    prep.znp = prep.ztex.numpy()
                if prep.kind is not None:  # channels last: one 16-byte load per bilinear tap
                    src = prep.soft_tex if prep.soft_tex is not None else prep.tex[:4]
                    prep.hwc = src.permute(1, 2, 0).contiguous().numpy()
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None

    def _map(self, fn: Callable[[Any], _T], items: Iterable[Any]) -> list[_T]:
        if self._pool is None:
            return [fn(item) for item in items]
        return list(self._pool.map(fn, items))

    # ------------------------------------------------------------------------------------------ preparation

    def _prepare(self, index: int, layer: Layer, kind: FluidKind | None) -> _Prepared:
        torch = self.torch
        rgba = torch.from_numpy(np.ascontiguousarray(layer.rgba)).to(self.device)
        rgba = rgba.permute(2, 0, 1).float()  # colour stays in 0..255 (saves a pass per frame), alpha in 0..1
        rgba[3:4] /= 255.0
        alpha = rgba[3:4]
        h, w = self.h, self.w
        if layer.wrap or index == 0:
            rows, cols = (0, h), (0, w)
        else:
            occupied = alpha[0] > 0
            if kind is not None and kind not in SURFACE_KINDS:
                occupied = occupied | torch.from_numpy(self._region(layer, kind)).to(self.device)
            rr = torch.nonzero(occupied.any(dim=1)).flatten()
            cc = torch.nonzero(occupied.any(dim=0)).flatten()
            rows = (int(rr[0]), int(rr[-1]) + 1) if len(rr) else (0, 0)
            cols = (int(cc[0]), int(cc[-1]) + 1) if len(cc) else (0, 0)
        if kind is None:
            tex = torch.cat([rgba[:3] * alpha, alpha])
            if layer.wrap:
                tex = torch.nn.functional.pad(tex[None], (1, 1, 1, 1), mode="circular")[0]
            prep = _Prepared(layer, index, tex, rows, cols)
        else:
            mask = torch.from_numpy(self._region(layer, kind).astype(np.float32)).to(self.device)[None]
            if kind in SURFACE_KINDS:
                tex = torch.cat([rgba[:3], alpha, mask])
            else:
                tex = torch.cat([rgba[:3] * alpha, alpha, mask])
            prep = _Prepared(layer, index, tex, rows, cols)
            prep.kind = kind
            prep.flows = self._integrate(self.scene.motion[kind], mask[0])
            if self.h >= HALF_MIN_HEIGHT and (kind not in SURFACE_KINDS or kind in HALF_KINDS):
                # warped at every SOFT_STEP-th px: reading a texture of that density keeps the gathers in cache
                # (a full-size one is read at every other texel) and costs these blurred layers nothing
                size = (max(1, h // SOFT_STEP), max(1, w // SOFT_STEP))
                prep.soft_tex = torch.nn.functional.interpolate(tex[None, :4], size=size, mode="area")[0]
        if layer.wrap:
            v = layer.velocity
            if v is None:
                flow = self.scene.motion.get(layer.fluid) if layer.fluid is not None else None
                v = (
                    (float(flow[..., 0].mean()), float(flow[..., 1].mean()))
                    if flow is not None
                    else (0.0, 1.0)
                )
            prep.scroll = wraps_per_loop(v, self.n, w, h)
            prep.drift_phase = (index * 1.7) % (2 * math.pi)
        if layer.sway > 0:
            occ_rows = torch.nonzero((alpha[0] > 0.5).any(dim=1)).flatten()
            top, base = (int(occ_rows[0]), int(occ_rows[-1])) if len(occ_rows) else (0, h)
            prof = (
                (base - torch.arange(h, device=self.device, dtype=torch.float32)) / max(base - top, 1)
            ).clamp(0, 1)
            prep.sway_profile = prof**2 * layer.sway * SWAY_AT_TOP * h
        return prep

    def _fluid_step(self, prep: _Prepared, hh: int, ww: int) -> tuple[int, int]:
        """Every how many rows and columns a fluid's moved colour is warped (bilinearly filled in between)."""
        soft = prep.kind not in SURFACE_KINDS or self._half(prep.kind)
        if soft and hh >= 4 * SOFT_STEP and ww >= 4 * SOFT_STEP:
            k = SMOKE_STEP if prep.kind is FluidKind.SMOKE and self.h >= HALF_MIN_HEIGHT else SOFT_STEP
            return k, k
        return 1, (SOFT_STEP if prep.kind in ACROSS_KINDS and self.h >= HALF_MIN_HEIGHT else 1)

    def _half(self, kind: FluidKind | None) -> bool:
        """Whether this fluid's flowing colour is warped at half resolution (see ``HALF_KINDS``)."""
        return kind in HALF_KINDS and self.h >= HALF_MIN_HEIGHT

    def _prezoom(self, prep: _Prepared) -> None:
        torch = self.torch
        h, w, mx, my = self.h, self.w, self.mx, self.my
        if prep.layer.wrap:
            prep.ztex = prep.tex[:, 1:-1, 1:-1].repeat(1, 2, 2).contiguous()
            if prep.layer.fluid is FluidKind.RAIN and prep.index > 0:  # whole-pixel placement: _sparse_over
                rows, cols = torch.nonzero(prep.ztex[3] > 0, as_tuple=True)  # row-major order
                if len(rows) < prep.ztex[3].numel() // 8:
                    counts = torch.bincount(rows, minlength=prep.ztex.shape[1]).cpu().numpy()
                    ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
                    prep.sparse = (rows, cols, prep.ztex[:, rows, cols].contiguous(), ptr)
            return
        qx = torch.arange(w + 2 * mx, device=self.device, dtype=torch.float32) + 0.5 - mx
        qy = torch.arange(h + 2 * my, device=self.device, dtype=torch.float32) + 0.5 - my
        px = w / 2.0 + (qx - w / 2.0) / self.zoom
        py = h / 2.0 + (qy - h / 2.0) / self.zoom
        grid = torch.empty((h + 2 * my, w + 2 * mx, 2), device=self.device)
        grid[..., 0] = (px * (2.0 / w) - 1.0)[None, :]
        grid[..., 1] = (py * (2.0 / h) - 1.0)[:, None]
        prep.ztex = self._sample(prep.tex, grid)
        if prep.sway_profile is not None:
            return  # slid row by row each frame: no fixed column extents, never opaque
        alpha = prep.ztex[3]
        seen = alpha > 0
        if prep.kind is not None:
            prep.zgrid = grid
            rest = prep.ztex
            m = rest[4:5]
            seen = seen | (m[0] > 0)  # outside both the layer and its fluid region a frame adds nothing
            # what does not move is folded once here, so a frame blends with one multiply-add:
            # surface: (rest + (moved - rest) m) a = rest a (1 - m) + moved (m a); volumetric: rest (1 - m) + moved m
            if prep.kind in SURFACE_KINDS:
                ma = m * rest[3:4]
                prep.ztex = torch.cat([rest[:3] * (rest[3:4] - ma), rest[3:4], ma])
            else:
                prep.ztex = torch.cat([rest[:4] * (1.0 - m), m])
        any_col = seen.any(dim=1)
        first = seen.int().argmax(dim=1)
        last = seen.shape[1] - seen.flip(1).int().argmax(dim=1)
        prep.row_c0 = torch.where(any_col, first, seen.shape[1]).cpu().numpy().astype(np.int64)
        prep.row_c1 = torch.where(any_col, last, 0).cpu().numpy().astype(np.int64)
        if prep.kind is not None or prep.sway_profile is not None:
            return  # a fluid's coverage moves (smoke) or is blended per frame: never treated as opaque
        # >= 1 - 1/1024: what shows through is under a quarter of a grey level before rounding
        prep.row_opaque = (alpha >= 1.0 - 1.0 / 1024).all(dim=1).cpu().numpy()

    def _region(self, layer: Layer, kind: FluidKind) -> npt.NDArray[np.bool_]:
        if layer.fluid_mask is not None:
            return layer.fluid_mask
        mask = self.scene.masks.get(kind)
        if mask is None:
            return np.asarray(layer.rgba[..., 3] > 0)
        return mask

    def _integrate(self, motion: npt.NDArray[np.float32], mask: Tensor) -> Tensor:
        """Euler-integrate the masked velocity field backward and forward for every step of the loop.

        Returns ``(N + 1, 4, h, w)`` low-resolution displacements in grid units (``[-1, 1]`` spans the frame):
        channels 0-1 trace ``t`` steps back (``p <- p - v(p)``), 2-3 trace ``t`` steps forward.
        """
        torch = self.torch
        fn = torch.nn.functional
        h, w = self.h, self.w
        lh = min(h, LOWRES_HEIGHT)
        lw = max(2, round(w * lh / h))
        v = torch.from_numpy(np.ascontiguousarray(motion)).to(self.device).permute(2, 0, 1) * mask[None]
        v = fn.interpolate(v[None], size=(lh, lw), mode="area")[0]
        v[0] *= 2.0 / w  # px/frame -> grid units/frame
        v[1] *= 2.0 / h
        gx = (torch.arange(lw, device=self.device, dtype=torch.float32) + 0.5) * (2.0 / lw) - 1.0
        gy = (torch.arange(lh, device=self.device, dtype=torch.float32) + 0.5) * (2.0 / lh) - 1.0
        base = torch.empty((lh, lw, 2), device=self.device)
        base[..., 0] = gx[None, :]
        base[..., 1] = gy[:, None]
        out = torch.zeros((self.n + 1, 4, lh, lw), device=self.device)
        # both directions as one batch of two: half the (small, overhead-bound) steps
        pos = base[None].repeat(2, 1, 1, 1)
        sign = torch.tensor([-1.0, 1.0], device=self.device)[:, None, None, None]
        field = v[None].expand(2, -1, -1, -1)
        for k in range(1, self.n + 1):
            vel = fn.grid_sample(field, pos, mode="bilinear", padding_mode="border", align_corners=False)
            pos = pos + sign * vel.permute(0, 2, 3, 1)
            pos.clamp_(-1.0, 1.0)
            out[k] = (pos - base).permute(0, 3, 1, 2).reshape(4, lh, lw)
        return cast("Tensor", out)

    # ----------------------------------------------------------------------------------------------- frames

    def frames(self, cancel: threading.Event | None = None) -> Iterator[npt.NDArray[np.uint8]]:
        torch = self.torch
        with torch.inference_mode():
            for t in range(self.n):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {t}/{self.n}")
                frame = self.frame(t)
                yield frame.permute(1, 2, 0).contiguous().cpu().numpy()

    def frame(self, t: int) -> Tensor:
        """Frame ``t`` as a (3, H, W) uint8 tensor on the device."""
        out = self.torch.empty((self.h, self.w, 3), dtype=self.torch.uint8, device=self.device)
        self.frame_into(t, out)
        return out.permute(2, 0, 1)

    def frame_into(self, t: int, dst: Tensor) -> None:
        """Render frame ``t`` into ``dst``, an (H, W, 3) uint8 tensor on the device (a numpy frame, on CPU).

        On CPU the frame is composited in bands of ``STRIP_ROWS`` rows: every layer's lerps and blends then work
        on a band that stays in the core's cache instead of streaming full-frame float32 temporaries through
        memory (2-3x faster, measured); the arithmetic per pixel is the same.
        """
        torch = self.torch
        h, w = self.h, self.w
        shx, shy = shake_offset(t, self.n, self.shake)
        cx, cy = w / 2.0, h / 2.0
        windows: list[tuple[_Prepared, float, float, float, int, int, int, int]] = []
        for prep in self.prepared:
            p = pose(self.params.camera, self.params.amplitude, prep.depth, t, self.n, h)
            scale = p.scale * self.zoom
            dx, dy = p.dx + shx, p.dy + shy
            # screen rows/cols this layer can touch
            if prep.layer.wrap or prep.index == 0:
                r0, r1, c0, c1 = 0, h, 0, w
            else:
                r0, r1 = prep.rows
                c0, c1 = prep.cols
                if r1 <= r0 or c1 <= c0:
                    continue
                pad = 2.0 + (float(prep.sway_profile.max()) if prep.sway_profile is not None else 0.0)
                r0 = max(0, math.floor(cy + (r0 - cy) * scale + dy - pad))
                r1 = min(h, math.ceil(cy + (r1 - cy) * scale + dy + pad))
                c0 = max(0, math.floor(cx + (c0 - cx) * scale + dx - pad))
                c1 = min(w, math.ceil(cx + (c1 - cx) * scale + dx + pad))
                if r1 <= r0 or c1 <= c0:
                    continue
            windows.append((prep, dx, dy, scale, r0, r1, c0, c1))
        band = h if self.device.type != "cpu" else STRIP_ROWS
        # the prepared backdrop overwrites every pixel of the band, so it needs no zero fill underneath
        backdrop = bool(windows) and windows[0][0].index == 0 and windows[0][0].ztex is not None
        for s0 in range(0, h, band):
            s1 = min(h, s0 + band)
            first = 0
            for i in range(len(windows) - 1, 0, -1):  # the nearest layer that hides everything in this band
                prep, dx, dy = windows[i][:3]
                if prep.row_opaque is not None:
                    ky = math.floor(self.my - dy)
                    if prep.row_opaque[s0 + ky : s1 + ky + 1].all():
                        first = i
                        break
            if self.fused:
                self._band_fused(t, s0, s1, windows[first:], dst, first == 0 and backdrop)
                continue
            if first == 0 and backdrop:
                out = torch.empty((3, s1 - s0, w), device=self.device)
            else:
                out = torch.zeros((3, s1 - s0, w), device=self.device)
            for prep, dx, dy, scale, b0, b1, c0, c1 in self._in_band(windows[first:], s0, s1):
                self._layer_band(out[:, b0 - s0 : b1 - s0], prep, t, dx, dy, scale, b0, b1, c0, c1)
            out.clamp_(0.0, 255.0)
            if self.device.type == "cpu":
                # one numpy pass per plane rounds (+0.5, then the cast truncates) and interleaves straight into
                # the frame: half the cost of add, cast to uint8 planes, then interleave (measured)
                rows, planes = dst[s0:s1].numpy(), out.numpy()
                for c in range(3):
                    np.add(planes[c], np.float32(0.5), out=rows[..., c], casting="unsafe")
            else:
                dst[s0:s1].copy_(out.add_(0.5).to(torch.uint8).permute(1, 2, 0))

    def _in_band(
        self, windows: list[tuple[_Prepared, float, float, float, int, int, int, int]], s0: int, s1: int
    ) -> Iterator[tuple[_Prepared, float, float, float, int, int, int, int]]:
        """Each layer's window cut to screen rows ``s0:s1`` and to the columns it covers there; empty ones skipped."""
        for prep, dx, dy, scale, r0, r1, c0, c1 in windows:
            b0, b1 = max(r0, s0), min(r1, s1)
            if b1 <= b0:
                continue
            if prep.row_c0 is not None and prep.row_c1 is not None:  # only the columns it covers here
                ky, kx = math.floor(self.my - dy), math.floor(self.mx - dx)
                e0 = int(prep.row_c0[b0 + ky : b1 + ky + 1].min()) - kx - 1
                e1 = int(prep.row_c1[b0 + ky : b1 + ky + 1].max()) - kx + 1
                c0, c1 = max(c0, e0), min(c1, e1)
                if c1 <= c0:
                    continue
            yield prep, dx, dy, scale, b0, b1, c0, c1

    def _band_fused(
        self,
        t: int,
        s0: int,
        s1: int,
        windows: list[tuple[_Prepared, float, float, float, int, int, int, int]],
        dst: Tensor,
        backdrop: bool,
    ) -> None:
        """Screen rows ``s0:s1`` with the fused CPU kernels: one pass per layer, then straight to bytes."""
        from cinealert.render import kernels  # imported (and warmed) by kernels_ready

        out = (
            np.empty((3, s1 - s0, self.w), np.float32)
            if backdrop
            else np.zeros((3, s1 - s0, self.w), np.float32)
        )
        for prep, dx, dy, scale, b0, b1, c0, c1 in self._in_band(windows, s0, s1):
            self._layer_fused(out, b0 - s0, prep, t, dx, dy, scale, b0, b1, c0, c1)
        kernels.to_rgb8(out, dst[s0:s1].numpy())

    def _layer_fused(
        self, out: npt.NDArray[np.float32], o0: int, prep: _Prepared, t: int, dx: float, dy: float, scale: float,
        r0: int, r1: int, c0: int, c1: int,
    ) -> None:  # fmt: skip
        """One layer over screen rows ``r0:r1`` (``out`` row ``o0`` onward), cols ``c0:c1``, fused on CPU."""
        from cinealert.render import kernels

        hh, ww = r1 - r0, c1 - c0
        if prep.ztex is None:  # the dolly: every layer resampled at its own scale each frame
            self._scaled_fused(out, o0, prep, t, dx, dy, scale, r0, r1, c0, c1)
            return
        if prep.sparse is not None:  # a rain sheet's covered pixels, placed whole-pixel (see _sparse_over)
            _, cols, vals, ptr = prep.sparse
            fy, fx = self._wrap_offset(prep, t, dx, dy)
            kernels.sparse_over(
                out, o0, c0, cols.numpy(), vals.numpy(), ptr, r0 + int(fy), c0 + int(fx), hh, ww
            )
            return
        z = prep.znp if prep.znp is not None else prep.ztex.numpy()
        backdrop = prep.index == 0  # nothing under it: its colour only (an opaque sky, or the bottom layer)
        if prep.layer.wrap:
            oy, ox = self._wrap_offset(prep, t, dx, dy)
        else:
            oy, ox = self.my - dy, self.mx - dx  # canvas index of screen pixel 0
        ky = math.floor(oy)
        fy = oy - ky
        if prep.sway_profile is not None and not prep.layer.wrap:
            row_x = self._sway_rows(prep, t, dy, r0, r1 - r0, ox)
            whole = row_x.floor()
            xs = whole.long().numpy() + c0
            fxs = (row_x - whole).numpy()
        else:
            kx = math.floor(ox)
            zy, zx = r0 + ky, c0 + kx  # where the window starts on the layer's canvas
            if prep.kind is not None and not prep.layer.wrap:
                # the animated fluid over exactly the canvas window this band reads (+1 row/col for the lerps)
                assert prep.flows is not None and prep.hwc is not None
                buf = np.empty((4, hh + 1, ww + 1), np.float32)
                kernels.fluid_canvas(
                    buf, z, zy, zx, prep.hwc, prep.flows[t, 0:2].numpy(),
                    prep.flows[self.n - t, 2:4].numpy(), float(self.mx), float(self.my), float(self.zoom),
                    self.w, self.h, t / self.n, prep.kind in SURFACE_KINDS, *self._fluid_step(prep, hh, ww),
                )  # fmt: skip
                z, zy, zx = buf, 0, 0
            xs = np.full(hh, zx, np.int64)
            fxs = np.full(hh, ox - kx, np.float32)
            kernels.over_shifted(out, o0, c0, z, zy, xs, fy, fxs, hh, ww, backdrop)
            return
        kernels.over_shifted(out, o0, c0, z, r0 + ky, xs, fy, fxs, hh, ww, backdrop)

    def _scaled_grid(
        self, prep: _Prepared, t: int, dx: float, dy: float, scale: float, r0: int, r1: int, c0: int, c1: int
    ) -> tuple[Tensor, Tensor, Tensor]:
        """Where the screen window samples a layer under a scaling camera (the dolly), separable: grid x per
        column, grid y per row (``[-1, 1]`` units of the texture, particle sheets wrapped onto their padded
        one), and the layer-space row of each screen row (what a sway profile is indexed by)."""
        torch = self.torch
        h, w = self.h, self.w
        cx, cy = w / 2.0, h / 2.0
        px = cx + (self.xs[c0:c1] - cx - dx) / scale
        py = cy + (self.ys[r0:r1] - cy - dy) / scale
        tex_w, tex_h = w, h
        if prep.layer.wrap:
            kx, ky = prep.scroll
            drift = DRIFT_AT * h * math.sin(2 * math.pi * t / self.n + prep.drift_phase) if kx == 0 else 0.0
            px = torch.remainder(px - (kx * w * t / self.n + drift), w) + 1.0  # +1: 1 px circular pad
            py = torch.remainder(py - ky * h * t / self.n, h) + 1.0
            tex_w, tex_h = w + 2, h + 2
        return px * (2.0 / tex_w) - 1.0, py * (2.0 / tex_h) - 1.0, py

    def _scaled_fused(
        self, out: npt.NDArray[np.float32], o0: int, prep: _Prepared, t: int, dx: float, dy: float, scale: float,
        r0: int, r1: int, c0: int, c1: int,
    ) -> None:  # fmt: skip
        """``_layer_band``'s resampling path (the dolly) with the fused kernels: the same separable grid."""
        from cinealert.render import kernels

        gx, gy, py = self._scaled_grid(prep, t, dx, dy, scale, r0, r1, c0, c1)
        gxs, gys = gx.numpy(), gy.numpy()
        hh, ww = r1 - r0, c1 - c0
        if prep.kind is not None and not prep.layer.wrap:
            assert prep.flows is not None and prep.hwc is not None
            kernels.fluid_scaled(
                out, o0, c0, prep.tex.numpy(), prep.hwc, prep.flows[t, 0:2].numpy(),
                prep.flows[self.n - t, 2:4].numpy(), gxs, gys, t / self.n, prep.kind in SURFACE_KINDS, hh, ww,
            )  # fmt: skip
            return
        row_dx = np.zeros(hh, np.float32)
        if prep.sway_profile is not None:
            rows = prep.sway_profile[py.floor().long().clamp(0, self.h - 1)]
            row_dx = (-rows * (self._gust(t) * 2.0 / self.w)).numpy()
        kernels.over_scaled(out, o0, c0, prep.tex.numpy(), gxs, gys, row_dx, hh, ww)

    def _layer_band(
        self, out: Tensor, prep: _Prepared, t: int, dx: float, dy: float, scale: float,
        r0: int, r1: int, c0: int, c1: int,
    ) -> None:  # fmt: skip
        """Composite one layer over screen rows ``r0:r1``, cols ``c0:c1``; ``out`` holds exactly those rows."""
        torch = self.torch
        h, w = self.h, self.w
        view = out[:, :, c0:c1]
        if prep.ztex is not None:
            if prep.index == 0 and prep.kind is None and not prep.layer.wrap and prep.sway_profile is None:
                # the opaque backdrop: nothing under it to blend, so only its colour, placed straight into out
                self._shifted(prep.ztex[:3], r0, c0, r1 - r0, c1 - c0, self.my - dy, self.mx - dx, out=view)
                return
            if prep.sparse is not None:
                self._sparse_over(view, prep, t, dx, dy, r0, r1, c0, c1)
                return
            layer = self._fast_layer(prep, t, dx, dy, r0, r1, c0, c1)
            if prep.index == 0:
                view.copy_(layer[:3])
                return
            view.addcmul_(view, layer[3:4], value=-1.0).add_(layer[:3])
            return
        gx, gy, py = self._scaled_grid(prep, t, dx, dy, scale, r0, r1, c0, c1)
        grid = torch.empty((r1 - r0, c1 - c0, 2), device=self.device)
        grid[..., 0] = gx[None, :]
        grid[..., 1] = gy[:, None]
        if prep.sway_profile is not None:
            rows = prep.sway_profile[py.floor().long().clamp(0, h - 1)]
            grid[..., 0] -= (rows * (self._gust(t) * 2.0 / w))[:, None]
        fluid = prep.kind is not None
        layer = self._sample_fluid(prep, grid, t) if fluid else self._sample(prep.tex, grid)
        view.addcmul_(view, layer[3:4], value=-1.0).add_(layer[:3])  # over: out*(1-a) + premultiplied

    def _wrap_offset(self, prep: _Prepared, t: int, dx: float, dy: float) -> tuple[float, float]:
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

    def _sparse_over(
        self, view: Tensor, prep: _Prepared, t: int, dx: float, dy: float, r0: int, r1: int, c0: int, c1: int
    ) -> None:
        """A whole-pixel sheet's covered pixels only, composited over ``view`` (screen ``[r0:r1, c0:c1]``).

        A rain sheet covers a few percent of the frame: gathering those pixels, blending and scattering them
        back gives the same values as blending the full-frame sheet, at a fraction of the memory traffic."""
        assert prep.sparse is not None
        rows, cols, vals, ptr = prep.sparse
        fy, fx = self._wrap_offset(prep, t, dx, dy)
        oy, ox = int(fy), int(fx)
        a, b = int(ptr[r0 + oy]), int(ptr[r1 + oy])
        if b <= a:
            return
        cc = cols[a:b] - (c0 + ox)
        keep = (cc >= 0) & (cc < c1 - c0)
        rr, cc, v = rows[a:b][keep] - (r0 + oy), cc[keep], vals[:, a:b][:, keep]
        cur = view[:, rr, cc]
        view[:, rr, cc] = cur.addcmul_(cur, v[3:4], value=-1.0).add_(v[:3])

    def _fast_layer(
        self, prep: _Prepared, t: int, dx: float, dy: float, r0: int, r1: int, c0: int, c1: int
    ) -> Tensor:
        """The layer's premultiplied RGBA over screen window ``[r0:r1, c0:c1]``, from its prepared canvas."""
        assert prep.ztex is not None
        hh, ww = r1 - r0, c1 - c0
        if prep.layer.wrap:
            oy, ox = self._wrap_offset(prep, t, dx, dy)
            return self._shifted(prep.ztex, r0, c0, hh, ww, oy, ox)
        oy, ox = self.my - dy, self.mx - dx  # canvas index of screen pixel 0
        if prep.sway_profile is not None:
            return self._swayed(prep, t, dy, r0, c0, hh, ww, oy, ox)
        if prep.kind is None:
            return self._shifted(prep.ztex, r0, c0, hh, ww, oy, ox)
        ky, kx = math.floor(oy), math.floor(ox)
        buf = self._fluid_canvas(prep, t, r0 + ky, r0 + ky + hh + 1, c0 + kx, c0 + kx + ww + 1)
        return self._shifted(buf, 0, 0, hh, ww, oy - ky, ox - kx)

    def _gust(self, t: int) -> float:
        """Wind strength at frame ``t`` (``render.periodic.gust``)."""
        return gust(t, self.n)

    def _sway_rows(self, prep: _Prepared, t: int, dy: float, r0: int, hh: int, ox: float) -> Tensor:
        """Canvas column of screen column 0 for each screen row ``r0:r0+hh`` of a swaying layer."""
        assert prep.sway_profile is not None
        cy = self.h / 2.0
        py = cy + (self.ys[r0 : r0 + hh] - cy - dy) / self.zoom  # layer rows of the screen rows
        return ox - prep.sway_profile[py.floor().long().clamp(0, self.h - 1)] * (self._gust(t) * self.zoom)

    def _swayed(
        self, prep: _Prepared, t: int, dy: float, r0: int, c0: int, hh: int, ww: int, oy: float, ox: float
    ) -> Tensor:
        """A swaying layer over screen rows ``r0:r0+hh``: each row slid sideways on the canvas by its own sway.

        Rows with the same whole-pixel offset are cut as one slice and lerped with per-row weights, so a frame
        costs three lerps instead of a full bilinear gather (the sway varies slowly down the layer)."""
        torch = self.torch
        assert prep.ztex is not None and prep.sway_profile is not None
        z = prep.ztex
        row_x = self._sway_rows(prep, t, dy, r0, hh, ox)
        whole = row_x.floor()
        frac = (row_x - whole)[None, :, None]
        kxs = whole.long().tolist()
        ky = math.floor(oy)
        fy = oy - ky
        out = torch.empty((z.shape[0], hh, ww), device=self.device)
        i = 0
        while i < hh:
            kx, j = kxs[i], i + 1
            while j < hh and kxs[j] == kx:
                j += 1
            y, x, f = r0 + ky + i, c0 + kx, frac[:, i:j]
            top = torch.lerp(z[:, y : y + j - i, x : x + ww], z[:, y : y + j - i, x + 1 : x + 1 + ww], f)
            low = torch.lerp(
                z[:, y + 1 : y + 1 + j - i, x : x + ww], z[:, y + 1 : y + 1 + j - i, x + 1 : x + 1 + ww], f
            )
            torch.lerp(top, low, fy, out=out[:, i:j])
            i = j
        return cast("Tensor", out)

    def _shifted(
        self, z: Tensor, r0: int, c0: int, hh: int, ww: int, oy: float, ox: float, out: Tensor | None = None
    ) -> Tensor:
        """``z`` sampled at ``[r0 + oy, c0 + ox]`` onward (``hh`` x ``ww``): integer slice + sub-pixel lerps.

        With ``out``, the result is written there (the last pass writes it directly, no extra copy)."""
        torch = self.torch
        ky, kx = math.floor(oy), math.floor(ox)
        fy, fx = oy - ky, ox - kx
        y, x = r0 + ky, c0 + kx
        wy = 1 if fy > 1e-4 else 0  # one extra row when blending vertically
        rows = z[:, y : y + hh + wy, x : x + ww]
        if fx > 1e-4:  # horizontal blend once over hh + 1 rows, then the vertical blend: 2 passes, not 3
            nxt = z[:, y : y + hh + wy, x + 1 : x + 1 + ww]
            if out is not None and not wy:
                return cast("Tensor", torch.lerp(rows, nxt, fx, out=out))
            rows = torch.lerp(rows, nxt, fx)
        if out is None:
            return torch.lerp(rows[:, :hh], rows[:, 1:], fy) if wy else rows
        return torch.lerp(rows[:, :hh], rows[:, 1:], fy, out=out) if wy else out.copy_(rows)

    def _fluid_canvas(self, prep: _Prepared, t: int, y0: int, y1: int, x0: int, x1: int) -> Tensor:
        """The animated fluid layer (premultiplied RGBA) over canvas rows ``y0:y1``, cols ``x0:x1``."""
        torch = self.torch
        assert prep.ztex is not None and prep.zgrid is not None and prep.flows is not None
        want_h, want_w = y1 - y0, x1 - x0
        y1, x1 = min(y1, prep.ztex.shape[1]), min(x1, prep.ztex.shape[2])
        grid = prep.zgrid[y0:y1, x0:x1]
        fixed = prep.ztex[:, y0:y1, x0:x1]  # see _prezoom: [still part, (alpha), weight of the moved part]
        flows = torch.cat([prep.flows[t, 0:2], prep.flows[self.n - t, 2:4]])
        surface = prep.kind in SURFACE_KINDS
        chans = prep.tex[:3] if surface else prep.tex[:4]
        hh, ww = grid.shape[:2]
        # smoke, haze and fire's colour are soft: warped at half resolution from a half-size texture, then
        # upsampled (a quarter of the gathers, and those stay in cache); the blend with the full-size mask keeps
        # the motion confined to it
        soft = (not surface or self._half(prep.kind)) and hh >= 4 * SOFT_STEP and ww >= 4 * SOFT_STEP
        if soft:
            grid = grid[::SOFT_STEP, ::SOFT_STEP].contiguous()
        back, ahead = self._positions(flows, grid)
        if soft and prep.soft_tex is not None:
            chans = prep.soft_tex[: chans.shape[0]]
        a = self._sample(chans, back, "border")
        b = self._sample(chans, ahead, "border")
        moved = a.lerp_(b, t / self.n)
        if soft:
            moved = self._upsample(moved, SOFT_STEP, hh, ww)
        if surface:  # colour flows under the fixed silhouette
            buf = torch.empty((4, hh, ww), device=self.device)
            torch.addcmul(fixed[:3], moved, fixed[4:5], out=buf[:3])
            buf[3:4] = fixed[3:4]
        else:
            buf = torch.addcmul(fixed[:4], moved, fixed[4:5], out=moved)
        if hh < want_h or ww < want_w:  # clipped at the canvas edge: repeat the last row/column
            buf = torch.nn.functional.pad(buf[None], (0, want_w - ww, 0, want_h - hh), mode="replicate")[0]
        return cast("Tensor", buf)

    def _positions(self, flows: Tensor, grid: Tensor) -> tuple[Tensor, Tensor]:
        """Where the two symmetric samples come from: ``grid`` moved by the backward and by the forward
        displacement, each ``(h, w, 2)``.

        The field is smooth (integrated at ``LOWRES_HEIGHT`` rows, ~11 px per cell at 1080p), so it is sampled
        at every ``DISP_STEP``-th grid point and bilinearly upsampled: the same field to within a few hundredths
        of a pixel, at a sixteenth of the gather cost. The grid is affine in the pixel index (a zoom and a
        shift), so the coarse *positions* are upsampled instead of the displacements: bilinear filling is exact
        for the grid part, and no full-resolution grid + displacement pass is left. Past the last coarse row or
        column the grid goes on (extended on its line) while the displacement holds its last value.
        """
        hh, ww = grid.shape[:2]
        k = DISP_STEP
        if hh < 4 * k or ww < 4 * k:
            disp = self._sample(flows, grid, "border").permute(1, 2, 0)
            return grid + disp[..., 0:2], grid + disp[..., 2:4]
        torch = self.torch
        cgrid = grid[::k, ::k].contiguous()
        coarse = self._sample(flows, cgrid, "border")
        ey, ex = int((cgrid.shape[0] - 1) * k < hh - 1), int((cgrid.shape[1] - 1) * k < ww - 1)
        if ey:  # one more coarse row, on the affine grid's line; its displacement repeats the last one's
            cgrid = torch.cat([cgrid, 2 * cgrid[-1:] - cgrid[-2:-1]])
        if ex:
            cgrid = torch.cat([cgrid, 2 * cgrid[:, -1:] - cgrid[:, -2:-1]], dim=1)
        if ey or ex:
            coarse = torch.nn.functional.pad(coarse[None], (0, ex, 0, ey), mode="replicate")[0]
        where = cgrid.permute(2, 0, 1)
        coarse[0:2] += where
        coarse[2:4] += where
        fine = self._upsample(coarse, k, hh, ww).permute(1, 2, 0)
        return fine[..., 0:2], fine[..., 2:4]

    def _upsample(self, coarse: Tensor, k: int, hh: int, ww: int) -> Tensor:
        """``(C, h, w)`` values taken at every ``k``-th point of an ``hh`` x ``ww`` grid, bilinearly filled in
        (coarse sample ``i`` sits at fine index ``i*k``; past the last one the edge repeats).

        Separable: across at the coarse rows only (a ``k``-th of the output), then down as one broadcast lerp
        per block of ``k`` rows, so the full-size output is written in one streaming pass instead of by a
        per-pixel bilinear kernel (the same values to float rounding)."""
        torch = self.torch
        fn = torch.nn.functional
        c, ch, cw = coarse.shape
        rows = fn.interpolate(coarse[None], size=(ch, (cw - 1) * k + 1), mode="bilinear", align_corners=True)
        if rows.shape[3] < ww:
            rows = fn.pad(rows, (0, ww - rows.shape[3], 0, 0), mode="replicate")
        rows = rows[0, :, :, :ww]
        span = (ch - 1) * k
        out = torch.empty((c, max(hh, span + 1), ww), device=self.device)
        if ch > 1:
            weights = torch.arange(k, device=self.device, dtype=torch.float32).div_(k)[None, None, :, None]
            blocks = out[:, :span].view(c, ch - 1, k, ww)
            torch.lerp(rows[:, :-1, None], rows[:, 1:, None], weights, out=blocks)
        out[:, span:] = rows[:, -1:]
        return cast("Tensor", out[:, :hh])

    def _sample(self, tex: Tensor, grid: Tensor, padding: str = "zeros") -> Tensor:
        """Bilinear sample of a (C, H, W) texture on an (h, w, 2) grid in ``[-1, 1]`` units.

        Camera placement pads with zeros (transparent), so a layer that did not cover the frame would show a
        hole, which the cover zoom prevents and the tests check; displaced fluid samples clamp to the edge.
        """
        fn = self.torch.nn.functional
        out: Tensor = fn.grid_sample(
            tex[None], grid[None], mode="bilinear", padding_mode=padding, align_corners=False
        )
        return out[0]

    def _sample_fluid(self, prep: _Prepared, grid: Tensor, t: int) -> Tensor:
        torch = self.torch
        assert prep.flows is not None
        rest = self._sample(prep.tex, grid)  # [colour(3), alpha, mask] at rest
        flows = torch.cat([prep.flows[t, 0:2], prep.flows[self.n - t, 2:4]])
        disp = self._sample(flows, grid, "border").permute(1, 2, 0)
        surface = prep.kind in SURFACE_KINDS
        chans = prep.tex[:3] if surface else prep.tex[:4]
        a = self._sample(chans, grid + disp[..., 0:2], "border")
        b = self._sample(chans, grid + disp[..., 2:4], "border")
        moved = a.lerp_(b, t / self.n)  # symmetric blending: weights 1 - t/N and t/N
        m = rest[4:5]
        if surface:
            rgb = rest[:3].lerp_(moved, m)
            alpha = rest[3:4]
            return cast("Tensor", torch.cat([rgb * alpha, alpha]))
        return rest[:4].lerp_(moved, m)


def kernels_ready() -> bool:
    """Whether the fused CPU kernels are usable here: numba imported and every kernel compiled (or loaded from
    its on-disk cache), once per process. Any failure means the torch path, with one warning in the log."""
    global _kernels_state
    with _threads_lock:
        if _kernels_state is None:
            try:
                from cinealert.render import kernels

                kernels.warm()
                _kernels_state = True
            except Exception as exc:  # no numba, no compiler, unwritable cache: use torch
                import structlog

                structlog.get_logger().warning(
                    "render.kernels_unavailable", error=f"{type(exc).__name__}: {exc}", fallback="torch"
                )
                _kernels_state = False
        return _kernels_state


_kernels_state: bool | None = None
_threads_lock = threading.Lock()
_threads_users = 0
_threads_before = 0


@contextlib.contextmanager
def _one_thread_per_op(device: torch.device) -> Iterator[None]:
    """Frames render in parallel worker threads instead: intra-op OpenMP threads spin-wait, and on a busy
    two-core host that made 2-thread ops 6-12x slower than 1-thread ops (measured). Reference-counted, so
    two concurrent renders restore the process setting only when the last one ends."""
    import torch

    global _threads_users, _threads_before
    if device.type != "cpu":
        yield
        return
    with _threads_lock:
        if _threads_users == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _threads_users += 1
    try:
        yield
    finally:
        with _threads_lock:
            _threads_users -= 1
            if _threads_users == 0:
                torch.set_num_threads(_threads_before)


def render_loop(
    scene: Scene,
    params: RenderParams,
    *,
    out: Any = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
) -> Any:
    """All frames into ``out`` (anything that takes ``out[t] = frame``: an ``(N, H, W, 3)`` uint8 array or
    memory map, or the cache's compressing sink, which then runs in the worker threads too) or a new array.

    On CPU, ``workers`` threads (default: the CPUs this process may use) each render whole frames; torch
    releases the GIL inside ops, so this scales without oversubscribing the cores.
    """
    import torch

    from cinealert.render.device import cpu_budget, get_device

    device = get_device()
    with _one_thread_per_op(
        device
    ):  # preparation too: spin-waiting intra-op threads made it 5x slower under load
        anim = Animator(scene, params, device)
    if out is None:
        out = np.empty((params.num_frames, scene.height, scene.width, 3), dtype=np.uint8)
    target = out
    n_workers = workers or (cpu_budget() if anim.device.type == "cpu" else 1)

    def one(t: int) -> None:
        with torch.inference_mode():
            if anim.device.type == "cpu":  # straight into a numpy frame: no (3, H, W) detour, no extra copy
                frame = np.empty((anim.h, anim.w, 3), dtype=np.uint8)
                anim.frame_into(t, torch.from_numpy(frame))
                target[t] = frame
            else:
                target[t] = anim.frame(t).permute(1, 2, 0).cpu().numpy()

    with _one_thread_per_op(anim.device):
        if n_workers <= 1:
            for t in range(anim.n):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {t}/{anim.n}")
                one(t)
            return out
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="render") as pool:
            for start in range(0, anim.n, n_workers * 2):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {start}/{anim.n}")
                for future in [pool.submit(one, t) for t in range(start, min(anim.n, start + n_workers * 2))]:
                    future.result()
    return out
