"""Layers moved to the device once per (scene, params): textures, fluid flows, sway profiles, camera canvases.

Everything a frame would otherwise recompute is done here, once: the fluids' displacement fields are integrated
for every step of the loop, what does not move is folded into one texture, and under a translation-only camera
(all but the dolly) each layer is resampled once onto a zoomed canvas with a margin, so a frame only slices it at
the layer's offset and blends the sub-pixel remainder (3 lerps instead of a full bilinear gather per layer per
frame). The results are frozen ``render.prepared`` values that both compositors read.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, TypeVar

import numpy as np
import numpy.typing as npt
import torch

from cinealert.render.camera import pose
from cinealert.render.compositor_torch import sample
from cinealert.render.periodic import shake_offset, wraps_per_loop
from cinealert.render.prepared import (
    HALF_KINDS,
    HALF_MIN_HEIGHT,
    SOFT_STEP,
    SURFACE_KINDS,
    SWAY_AT_TOP,
    Canvas,
    FluidMotion,
    Geometry,
    PreparedLayer,
    RenderParams,
    SparseSheet,
)
from cinealert.render.scene import FluidKind, Layer, Scene, layer_for_fluid
from cinealert.render.splat import loop_weights

if TYPE_CHECKING:
    from torch import Tensor

LOWRES_HEIGHT = 96  # displacement fields are integrated at this height (smooth; the mask blend is full-res)

_T = TypeVar("_T")


def prepare_layers(
    scene: Scene, params: RenderParams, device: torch.device, zoom: float, shake: float, workers: int
) -> tuple[Geometry, tuple[PreparedLayer, ...]]:
    """Every layer of ``scene`` prepared for ``params``, and the frame geometry they were placed in.

    Layers are prepared side by side in ``workers`` threads (big torch ops release the GIL)."""
    h, w, n = scene.height, scene.width, int(params.num_frames)
    xs = torch.arange(w, device=device, dtype=torch.float32) + 0.5
    ys = torch.arange(h, device=device, dtype=torch.float32) + 0.5
    geo = Geometry(h, w, n, zoom, device, xs, ys)
    fluid_layer: dict[int, FluidKind] = {}
    for kind in scene.motion:
        idx = layer_for_fluid(scene, kind)
        if idx is not None and not scene.layers[idx].wrap:
            fluid_layer[idx] = kind
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="prepare") if workers > 1 else None

    def each(fn: Callable[[Any], _T], items: Iterable[Any]) -> list[_T]:
        return [fn(item) for item in items] if pool is None else list(pool.map(fn, items))

    try:
        crossfade = params.loop == "crossfade"
        prepared = each(
            lambda i: _prepare(geo, scene, i, fluid_layer.get(i), crossfade), range(len(scene.layers))
        )
        if params.camera != "dolly":
            geo = _with_margin(geo, scene, params, shake, prepared)
            placed = geo
            prepared = each(lambda prep: _prezoom(placed, prep), prepared)
    finally:
        if pool is not None:
            pool.shutdown()
    return geo, tuple(prepared)


def _with_margin(
    geo: Geometry, scene: Scene, params: RenderParams, shake: float, prepared: list[PreparedLayer]
) -> Geometry:
    """``geo`` with the canvas margin that the farthest reach of the nearest layer needs (camera and shake,
    over the whole loop), plus room for the largest sway (swaying layers slide sideways on their canvas)."""
    nearest = min(layer.mean_depth for layer in scene.layers)
    reach_x = reach_y = 0.0
    for t in range(geo.n):
        shx, shy = shake_offset(t, geo.n, shake)
        p = pose(params.camera, params.amplitude, nearest, t, geo.n, geo.h)
        reach_x, reach_y = max(reach_x, abs(p.dx + shx)), max(reach_y, abs(p.dy + shy))
    sway_reach = max((float(q.sway_profile.max()) for q in prepared if q.sway_profile is not None),
                     default=0.0) * geo.zoom  # fmt: skip
    return dataclasses.replace(geo, mx=math.ceil(reach_x + sway_reach) + 2, my=math.ceil(reach_y) + 2)


def _extent(geo: Geometry, scene: Scene, layer: Layer, index: int, kind: FluidKind | None,
            alpha: Tensor) -> tuple[tuple[int, int], tuple[int, int]]:  # fmt: skip
    """Layer-space rows and columns with anything to draw (a volumetric fluid's region counts too)."""
    if layer.wrap or index == 0:
        return (0, geo.h), (0, geo.w)
    occupied = alpha[0] > 0
    if kind is not None and kind not in SURFACE_KINDS:
        occupied = occupied | torch.from_numpy(_region(scene, layer, kind)).to(geo.device)
    rr = torch.nonzero(occupied.any(dim=1)).flatten()
    cc = torch.nonzero(occupied.any(dim=0)).flatten()
    rows = (int(rr[0]), int(rr[-1]) + 1) if len(rr) else (0, 0)
    cols = (int(cc[0]), int(cc[-1]) + 1) if len(cc) else (0, 0)
    return rows, cols


def _prepare(
    geo: Geometry, scene: Scene, index: int, kind: FluidKind | None, crossfade: bool = False
) -> PreparedLayer:
    layer = scene.layers[index]
    rgba = torch.from_numpy(np.ascontiguousarray(layer.rgba)).to(geo.device)
    rgba = rgba.permute(2, 0, 1).float()  # colour stays in 0..255 (saves a pass per frame), alpha in 0..1
    rgba[3:4] /= 255.0
    alpha = rgba[3:4]
    h, w = geo.h, geo.w
    rows, cols = _extent(geo, scene, layer, index, kind, alpha)
    fluid: FluidMotion | None = None
    if kind is None:
        tex = torch.cat([rgba[:3] * alpha, alpha])
        if layer.wrap:
            tex = torch.nn.functional.pad(tex[None], (1, 1, 1, 1), mode="circular")[0]
    else:
        mask = torch.from_numpy(_region(scene, layer, kind).astype(np.float32)).to(geo.device)[None]
        if kind in SURFACE_KINDS:
            tex = torch.cat([rgba[:3], alpha, mask])
        else:
            tex = torch.cat([rgba[:3] * alpha, alpha, mask])
        flows = _integrate(geo, scene.motion[kind], mask[0])
        soft_tex = None
        if h >= HALF_MIN_HEIGHT and (kind not in SURFACE_KINDS or kind in HALF_KINDS):
            # warped at every SOFT_STEP-th px: reading a texture of that density keeps the gathers in cache
            # (a full-size one is read at every other texel) and costs these blurred layers nothing
            size = (max(1, h // SOFT_STEP), max(1, w // SOFT_STEP))
            soft_tex = torch.nn.functional.interpolate(tex[None, :4], size=size, mode="area")[0]
        mix = loop_weights(
            flows, _nearness(layer, flows.shape[2], flows.shape[3], geo.device), crossfade=crossfade
        )
        fluid = FluidMotion(kind, flows, soft_tex, mix)
    scroll, drift_phase = (0, 0), 0.0
    if layer.wrap:
        v = layer.velocity
        if v is None:
            flow = scene.motion.get(layer.fluid) if layer.fluid is not None else None
            v = (float(flow[..., 0].mean()), float(flow[..., 1].mean())) if flow is not None else (0.0, 1.0)
        scroll = wraps_per_loop(v, geo.n, w, h)
        drift_phase = (index * 1.7) % (2 * math.pi)
    sway_profile = None
    if layer.sway > 0:
        occ_rows = torch.nonzero((alpha[0] > 0.5).any(dim=1)).flatten()
        top, base = (int(occ_rows[0]), int(occ_rows[-1])) if len(occ_rows) else (0, h)
        prof = ((base - torch.arange(h, device=geo.device, dtype=torch.float32)) / max(base - top, 1)).clamp(
            0, 1
        )
        sway_profile = prof**2 * layer.sway * SWAY_AT_TOP * h
    return PreparedLayer(
        layer, index, tex, rows, cols, layer.mean_depth, fluid, sway_profile, scroll, drift_phase
    )


def _region(scene: Scene, layer: Layer, kind: FluidKind) -> npt.NDArray[np.bool_]:
    if layer.fluid_mask is not None:
        return layer.fluid_mask
    mask = scene.masks.get(kind)
    if mask is None:
        return np.asarray(layer.rgba[..., 3] > 0)
    return mask


def _nearness(layer: Layer, lh: int, lw: int, device: torch.device) -> Tensor:
    """The layer's nearness (1 / depth) at the displacement fields' resolution: what symmetric splatting's
    softmax ranks points by."""
    depth = layer.depth_map(*layer.rgba.shape[:2])
    near = torch.from_numpy(1.0 / np.maximum(depth, np.float32(1e-3))).to(device)
    return torch.nn.functional.interpolate(near[None, None], size=(lh, lw), mode="area")[0, 0]


def _integrate(geo: Geometry, motion: npt.NDArray[np.float32], mask: Tensor) -> Tensor:
    """Euler-integrate the masked velocity field backward and forward for every step of the loop.

    Returns ``(N + 1, 4, h, w)`` low-resolution displacements in grid units (``[-1, 1]`` spans the frame):
    channels 0-1 trace ``t`` steps back (``p <- p - v(p)``), 2-3 trace ``t`` steps forward.
    """
    fn = torch.nn.functional
    h, w, device = geo.h, geo.w, geo.device
    lh = min(h, LOWRES_HEIGHT)
    lw = max(2, round(w * lh / h))
    v = torch.from_numpy(np.ascontiguousarray(motion)).to(device).permute(2, 0, 1) * mask[None]
    v = fn.interpolate(v[None], size=(lh, lw), mode="area")[0]
    v[0] *= 2.0 / w  # px/frame -> grid units/frame
    v[1] *= 2.0 / h
    gx = (torch.arange(lw, device=device, dtype=torch.float32) + 0.5) * (2.0 / lw) - 1.0
    gy = (torch.arange(lh, device=device, dtype=torch.float32) + 0.5) * (2.0 / lh) - 1.0
    base = torch.empty((lh, lw, 2), device=device)
    base[..., 0] = gx[None, :]
    base[..., 1] = gy[:, None]
    out = torch.zeros((geo.n + 1, 4, lh, lw), device=device)
    # both directions as one batch of two: half the (small, overhead-bound) steps
    pos = base[None].repeat(2, 1, 1, 1)
    sign = torch.tensor([-1.0, 1.0], device=device)[:, None, None, None]
    field = v[None].expand(2, -1, -1, -1)
    for k in range(1, geo.n + 1):
        vel = fn.grid_sample(field, pos, mode="bilinear", padding_mode="border", align_corners=False)
        pos = pos + sign * vel.permute(0, 2, 3, 1)
        pos.clamp_(-1.0, 1.0)
        out[k] = (pos - base).permute(0, 3, 1, 2).reshape(4, lh, lw)
    return out


def _prezoom(geo: Geometry, prep: PreparedLayer) -> PreparedLayer:
    """``prep`` with its canvas (see ``render.prepared.Canvas``)."""
    if prep.layer.wrap:
        return dataclasses.replace(prep, canvas=_tiled(prep))
    h, w, mx, my = geo.h, geo.w, geo.mx, geo.my
    qx = torch.arange(w + 2 * mx, device=geo.device, dtype=torch.float32) + 0.5 - mx
    qy = torch.arange(h + 2 * my, device=geo.device, dtype=torch.float32) + 0.5 - my
    px = w / 2.0 + (qx - w / 2.0) / geo.zoom
    py = h / 2.0 + (qy - h / 2.0) / geo.zoom
    grid = torch.empty((h + 2 * my, w + 2 * mx, 2), device=geo.device)
    grid[..., 0] = (px * (2.0 / w) - 1.0)[None, :]
    grid[..., 1] = (py * (2.0 / h) - 1.0)[:, None]
    ztex = sample(prep.tex, grid)
    if prep.sway_profile is not None:
        # slid row by row each frame: no fixed column extents, never opaque
        return dataclasses.replace(prep, canvas=Canvas(ztex))
    alpha = ztex[3]
    seen = alpha > 0
    zgrid = None
    if prep.fluid is not None:
        zgrid = grid
        rest = ztex
        m = rest[4:5]
        seen = seen | (m[0] > 0)  # outside both the layer and its fluid region a frame adds nothing
        # what does not move is folded once here, so a frame blends with one multiply-add:
        # surface: (rest + (moved - rest) m) a = rest a (1 - m) + moved (m a); volumetric: rest (1 - m) + moved m
        if prep.fluid.kind in SURFACE_KINDS:
            ma = m * rest[3:4]
            ztex = torch.cat([rest[:3] * (rest[3:4] - ma), rest[3:4], ma])
        else:
            ztex = torch.cat([rest[:4] * (1.0 - m), m])
    any_col = seen.any(dim=1)
    first = seen.int().argmax(dim=1)
    last = seen.shape[1] - seen.flip(1).int().argmax(dim=1)
    row_c0 = torch.where(any_col, first, seen.shape[1]).cpu().numpy().astype(np.int64)
    row_c1 = torch.where(any_col, last, 0).cpu().numpy().astype(np.int64)
    row_opaque = None
    if (
        prep.fluid is None
    ):  # a fluid's coverage moves (smoke) or is blended per frame: never treated as opaque
        # >= 1 - 1/1024: what shows through is under a quarter of a grey level before rounding
        row_opaque = (alpha >= 1.0 - 1.0 / 1024).all(dim=1).cpu().numpy()
    return dataclasses.replace(prep, canvas=Canvas(ztex, zgrid, row_c0, row_c1, row_opaque))


def _tiled(prep: PreparedLayer) -> Canvas:
    """A particle sheet tiled 2x2 (it scrolls with wrap-around); a sparse rain sheet keeps its covered pixels."""
    ztex = prep.tex[:, 1:-1, 1:-1].repeat(1, 2, 2).contiguous()
    sparse = None
    if prep.layer.fluid is FluidKind.RAIN and prep.index > 0:  # whole-pixel placement: a sparse "over"
        rows, cols = torch.nonzero(ztex[3] > 0, as_tuple=True)  # row-major order
        if len(rows) < ztex[3].numel() // 8:
            counts = torch.bincount(rows, minlength=ztex.shape[1]).cpu().numpy()
            ptr = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
            sparse = SparseSheet(rows, cols, ztex[:, rows, cols].contiguous(), ptr)
    return Canvas(ztex, sparse=sparse)
