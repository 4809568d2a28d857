"""Lift a still and its depth map into a layered depth image (Shih et al. 2020, "3D Photography using
Context-aware Layered Depth Inpainting", in its classical form).

Why layers: a camera move uncovers what a nearer surface hid. The front layer is every pixel of the picture at
its own depth; behind each depth edge, on the near side, the LDI holds one or more back layers whose colour
and depth are filled in from the far side, so a splatted frame shows plausible pixels where the near surface
moved away (never a hole, never a zoom).

What counts as an edge comes from the camera path, not a fixed threshold: two neighbours whose nearness
differs by ``dk`` drift ``dk * reach`` px apart over the loop (``render.ldi.path``); a gap under ``GAP_PX``
is covered by the splat's bilinear footprint, so only wider ones are edges. A back layer then reaches as far
into the near side as the widest gap the loop can open (the nearness span times the reach). Its depth is the
farthest nearness within that reach (a min filter: the gap is always backed by something at least as far as
the far side, so the back points never run ahead of the far edge and leave a crack), its colour is Telea
inpainting of the layer in front of it with the near side as the hole (or, when the scene's backend has one, an
inpainting model's: ``build_ldi(inpainter=...)``). Each further layer repeats this behind
the edges of the one before (where a min-filter plateau steps), up to ``max_layers`` in all.

The picture is also over-scanned: a margin as wide as the farthest inward move of the path (colour mirrored,
depth repeated), so the frame edge never pulls in a blank strip either.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cinealert.render.camera import REF_DEPTH
from cinealert.render.ldi.path import CameraPath

F32 = npt.NDArray[np.float32]
U8 = npt.NDArray[np.uint8]
I32 = npt.NDArray[np.int32]

#: neighbours drifting apart by less than this (px, over the whole loop) stay one surface: the bilinear splat
#: footprint (two px wide) bridges it, so no back layer is needed there
GAP_PX = 0.5
#: a back layer reaches at most this fraction of the frame height into the near side (bounds the min filter)
MAX_REACH = 0.25
#: Telea inpainting runs at most this many px on the long side (it is O(hole area x radius^2)), then upsampled
INPAINT_MAX_SIDE = 768
INPAINT_RADIUS = 5

#: fills ``hole`` of an image and leaves every other pixel as it was: ``inpaint`` (Telea) by default, or a
#: learned inpainter (``render.ml.inpaint.ModelInpainter``, ``ml.inpaint_model_dir``) handed in by the backend
Inpainter = Callable[[npt.NDArray[np.uint8], npt.NDArray[np.bool_]], npt.NDArray[np.uint8]]


@dataclass(frozen=True, slots=True, eq=False)
class Ldi:
    """A layered depth image on an over-scanned grid ``margin`` px wider than the frame on every side.

    ``k`` is the front layer's nearness (``REF_DEPTH / depth``) for every grid pixel; its colour is the frame
    being re-projected (animated per frame), mirrored into the margin. The back layers are a flat list of
    points (grid row, grid column, nearness, still colour), far layers after near ones. ``tol`` is the nearness
    difference below which two samples landing on one screen pixel are one surface (blended, not z-tested)."""

    width: int
    height: int
    margin: int
    k: F32
    back_y: I32
    back_x: I32
    back_k: F32
    back_rgb: U8
    tol: float
    layers: int

    @property
    def back_points(self) -> int:
        return int(self.back_k.shape[0])


def nearness(depth: F32) -> F32:
    """``REF_DEPTH / depth``: what the camera shift is proportional to (1 at the reference depth)."""
    return (np.float32(REF_DEPTH) / np.maximum(depth, np.float32(1e-3))).astype(np.float32)


def inpaint(image: U8, hole: npt.NDArray[np.bool_], *, max_side: int = INPAINT_MAX_SIDE) -> U8:
    """``image`` with ``hole`` filled by Telea inpainting at most ``max_side`` px, known pixels untouched."""
    import cv2

    if not hole.any():
        return image
    h, w = hole.shape
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image
    mask = hole.astype(np.uint8)
    if scale < 1:
        mask = (np.asarray(cv2.resize(mask, (sw, sh), interpolation=cv2.INTER_AREA)) > 0).astype(np.uint8)
    mask = np.asarray(
        cv2.dilate(mask, np.ones((3, 3), np.uint8)), np.uint8
    )  # the resize blends hole colours in
    filled = np.asarray(cv2.inpaint(np.ascontiguousarray(small), mask, INPAINT_RADIUS, cv2.INPAINT_TELEA))
    if scale < 1:
        filled = np.asarray(cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR), np.uint8)
    out = image.copy()
    out[hole] = filled[hole]
    return out


def near_side(k: F32, tol: float) -> npt.NDArray[np.bool_]:
    """Pixels with a 4-neighbour farther by more than ``tol``: the near side of a depth edge."""
    out = np.zeros(k.shape, dtype=np.bool_)
    out[:, 1:] |= k[:, 1:] - k[:, :-1] > tol
    out[:, :-1] |= k[:, :-1] - k[:, 1:] > tol
    out[1:, :] |= k[1:, :] - k[:-1, :] > tol
    out[:-1, :] |= k[:-1, :] - k[1:, :] > tol
    return out


def build_ldi(
    still: U8, depth: F32, path: CameraPath, *, max_layers: int = 3, inpainter: Inpainter | None = None
) -> Ldi:
    """The LDI of ``still`` (``HxWx3`` uint8, as the frame shows it at rest) with ``depth`` (``HxW``, larger =
    farther) for the loop's camera ``path``: front layer plus up to ``max_layers - 1`` back layers, whose colour
    ``inpainter`` fills (default: Telea, ``inpaint``)."""
    import cv2

    h, w = depth.shape
    # the near side of an edge grows by one px: an anti-aliased rim (the near colour blended into the far)
    # then moves with the near surface instead of staying behind as a ghost outline
    k = np.asarray(cv2.dilate(nearness(depth), np.ones((3, 3), np.uint8)), np.float32)
    reach = path.reach()
    margin = path.inward(float(k.max()))
    kp = np.asarray(cv2.copyMakeBorder(k, margin, margin, margin, margin, cv2.BORDER_REPLICATE), np.float32)
    mirror = cv2.BORDER_REFLECT_101
    rgb = np.asarray(
        cv2.copyMakeBorder(np.ascontiguousarray(still), margin, margin, margin, margin, mirror), np.uint8
    )
    tol = GAP_PX / reach if reach > 0 else math.inf
    ys: list[I32] = []
    xs: list[I32] = []
    ks: list[F32] = []
    cols: list[U8] = []
    layers = 1
    cur_k, cur_rgb = kp, rgb
    inside: npt.NDArray[np.bool_] | None = None  # where the previous back layer is
    for _ in range(max_layers - 1):
        if not math.isfinite(tol):
            break
        edges = near_side(cur_k, tol)
        if inside is not None:
            # behind a back layer only its own steps matter: its inner rim is never uncovered (it reaches as
            # far as the widest gap the loop opens)
            edges &= cv2.erode(inside.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
        if not edges.any():
            break
        span = float(cur_k.max() - cur_k.min()) * reach
        r = math.ceil(min(span, MAX_REACH * h)) + 2
        kernel = cv2.getStructuringElement(cv2.MORPH_RECT, (2 * r + 1, 2 * r + 1))
        k_far = np.asarray(cv2.erode(cur_k, kernel), np.float32)  # the farthest nearness within reach
        zone = (cv2.dilate(edges.astype(np.uint8), kernel) > 0) & (cur_k - k_far > tol)
        if not zone.any():
            break
        filled = (inpainter or inpaint)(cur_rgb, zone)
        zy, zx = np.nonzero(zone)
        ys.append(zy.astype(np.int32))
        xs.append(zx.astype(np.int32))
        ks.append(k_far[zone].astype(np.float32))
        cols.append(filled[zone])
        cur_k = np.where(zone, k_far, cur_k).astype(np.float32)
        cur_rgb = filled
        inside = zone
        layers += 1

    def cat(
        parts: list[npt.NDArray[np.generic]], dtype: type[np.generic], shape: tuple[int, ...]
    ) -> npt.NDArray[np.generic]:
        return np.ascontiguousarray(np.concatenate(parts)) if parts else np.zeros(shape, dtype=dtype)

    return Ldi(
        width=w,
        height=h,
        margin=margin,
        k=np.ascontiguousarray(kp),
        back_y=np.ascontiguousarray(np.concatenate(ys) if ys else np.zeros(0, np.int32)),
        back_x=np.ascontiguousarray(np.concatenate(xs) if xs else np.zeros(0, np.int32)),
        back_k=np.ascontiguousarray(np.concatenate(ks) if ks else np.zeros(0, np.float32)),
        back_rgb=np.ascontiguousarray(np.concatenate(cols) if cols else np.zeros((0, 3), np.uint8)),
        tol=float(tol) if math.isfinite(tol) else 0.0,
        layers=layers,
    )
