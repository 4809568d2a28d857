"""Numba kernels of the LDI splat (CPU): forward splatting with a z-buffer, one frame per call.

Why this shape: a forward splat scatters, so a frame is rendered by one thread (``nogil``: the loop renders
frames side by side) in a few passes over the over-scanned grid, each in row order so the reads stream.

1. ``front_depth``: every front pixel's bilinear footprint (the 4 screen pixels around where it lands) raises
   the z-buffer to its nearness (larger = nearer).
2. ``front_colour``: the same footprints add ``weight * colour`` where the pixel is within ``tol`` of the
   z-buffer (one surface, blended: no seams inside a surface); farther ones go to an "under" accumulator.
3. ``back_depth`` / ``back_colour``: the back layers' points, z-tested among themselves, into "under" too.
4. ``resolve``: the front's weight (a partly covered edge pixel) is topped up from "under" (what the near
   surface uncovered: the far side or the inpainted back layers), then normalised into bytes. A pixel nothing
   landed on (none expected: the back layers reach as far as any gap opens) takes the colour of its farthest
   filled neighbour, and is counted.

``splat_frame`` does all of it for one band of ``BAND`` screen rows at a time (buffers in cache, none cleared
whole), and splats a run of equal nearness in a row as one shift when the motion has no zoom (under a zoom:
one row, two screen pixels held in registers), adding the same terms in the same order; the separate passes
stay as the reference and for a frame with holes (the fill needs the whole frame's z-buffer).

``cache=True``: compiled once per machine under ``NUMBA_CACHE_DIR``; ``warm()`` compiles before the first frame.
"""

from __future__ import annotations

import numpy as np

from cinealert.render.ldi.bandsplat import BAND, RUN, splat_frame
from cinealert.render.ldi.steps import _add, _jit, _land, _mirror, _zmax

__all__ = [
    "BAND", "RUN", "back_colour", "back_depth", "front_colour", "front_depth", "resolve", "splat_frame", "warm",
]  # fmt: skip


@_jit
def front_depth(k: np.ndarray, m: int, h: int, w: int, cx: float, cy: float, ax: float, ay: float, s: float,
                ox: float, oy: float, z: np.ndarray) -> None:  # fmt: skip
    hp, wp = k.shape
    cx32, cy32, ax32, ay32 = np.float32(cx), np.float32(cy), np.float32(ax), np.float32(ay)
    s32, ox32, oy32 = np.float32(s), np.float32(ox), np.float32(oy)
    for i in range(hp):
        for j in range(wp):
            kk = k[i, j]
            y0, x0, fx, fy = _land(i, j, kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
            if x0 < -1 or x0 >= w or y0 < -1 or y0 >= h:
                continue
            _zmax(z, y0, x0, fx, fy, kk, h, w)


@_jit
def front_colour(frame: np.ndarray, k: np.ndarray, m: int, cx: float, cy: float, ax: float, ay: float,
                 s: float, ox: float, oy: float, tol: float, z: np.ndarray, acc: np.ndarray,
                 under: np.ndarray) -> None:  # fmt: skip
    h, w = frame.shape[0], frame.shape[1]
    hp, wp = k.shape
    cx32, cy32, ax32, ay32 = np.float32(cx), np.float32(cy), np.float32(ax), np.float32(ay)
    s32, ox32, oy32, tol32 = np.float32(s), np.float32(ox), np.float32(oy), np.float32(tol)
    for i in range(hp):
        si = _mirror(i - m, h)
        for j in range(wp):
            kk = k[i, j]
            y0, x0, fx, fy = _land(i, j, kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
            if x0 < -1 or x0 >= w or y0 < -1 or y0 >= h:
                continue
            sj = _mirror(j - m, w)
            r = np.float32(frame[si, sj, 0])
            g = np.float32(frame[si, sj, 1])
            b = np.float32(frame[si, sj, 2])
            _add(acc, under, z, y0, x0, fx, fy, kk, tol32, r, g, b, h, w)


@_jit
def back_depth(ys: np.ndarray, xs: np.ndarray, ks: np.ndarray, m: int, h: int, w: int, cx: float, cy: float,
               ax: float, ay: float, s: float, ox: float, oy: float, zb: np.ndarray) -> None:  # fmt: skip
    cx32, cy32, ax32, ay32 = np.float32(cx), np.float32(cy), np.float32(ax), np.float32(ay)
    s32, ox32, oy32 = np.float32(s), np.float32(ox), np.float32(oy)
    for p in range(ks.shape[0]):
        kk = ks[p]
        y0, x0, fx, fy = _land(ys[p], xs[p], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
        if x0 < -1 or x0 >= w or y0 < -1 or y0 >= h:
            continue
        _zmax(zb, y0, x0, fx, fy, kk, h, w)


@_jit
def back_colour(ys: np.ndarray, xs: np.ndarray, ks: np.ndarray, rgb: np.ndarray, m: int, h: int, w: int,
                cx: float, cy: float, ax: float, ay: float, s: float, ox: float, oy: float, tol: float,
                zb: np.ndarray, under: np.ndarray, spill: np.ndarray) -> None:  # fmt: skip
    cx32, cy32, ax32, ay32 = np.float32(cx), np.float32(cy), np.float32(ax), np.float32(ay)
    s32, ox32, oy32, tol32 = np.float32(s), np.float32(ox), np.float32(oy), np.float32(tol)
    for p in range(ks.shape[0]):
        kk = ks[p]
        y0, x0, fx, fy = _land(ys[p], xs[p], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
        if x0 < -1 or x0 >= w or y0 < -1 or y0 >= h:
            continue
        r, g, b = np.float32(rgb[p, 0]), np.float32(rgb[p, 1]), np.float32(rgb[p, 2])
        # a back point hidden by a nearer back point goes to ``spill``, which is never read
        _add(under, spill, zb, y0, x0, fx, fy, kk, tol32, r, g, b, h, w)


@_jit
def resolve(acc: np.ndarray, under: np.ndarray, z: np.ndarray, zb: np.ndarray, out: np.ndarray) -> int:
    """Bytes into ``out``; returns how many pixels nothing landed on (filled from their farthest neighbour)."""
    h, w = out.shape[0], out.shape[1]
    holes = 0
    half = np.float32(0.5)
    for y in range(h):
        for x in range(w):
            wf = acc[y, x, 3]
            wu = under[y, x, 3]
            total = wf
            r, g, b = acc[y, x, 0], acc[y, x, 1], acc[y, x, 2]
            if wf < np.float32(1.0) and wu > np.float32(0.0):
                take = min(wu, np.float32(1.0) - wf) / wu
                r += under[y, x, 0] * take
                g += under[y, x, 1] * take
                b += under[y, x, 2] * take
                total += wu * take
                if wf <= np.float32(0.0):
                    z[y, x] = zb[y, x]
            if total > np.float32(0.0):
                inv = np.float32(1.0) / total
                out[y, x, 0] = np.uint8(min(max(r * inv + half, np.float32(0.0)), np.float32(255.0)))
                out[y, x, 1] = np.uint8(min(max(g * inv + half, np.float32(0.0)), np.float32(255.0)))
                out[y, x, 2] = np.uint8(min(max(b * inv + half, np.float32(0.0)), np.float32(255.0)))
            else:
                holes += 1
                z[y, x] = np.float32(np.inf)  # marks the hole for the fill below
    if holes == 0:
        return 0
    for _ in range(64):  # grow the farthest filled neighbour into each hole, one ring a pass
        left = 0
        for y in range(h):
            for x in range(w):
                if z[y, x] != np.float32(np.inf):
                    continue
                best = np.float32(np.inf)
                by, bx = -1, -1
                for dy in range(-1, 2):
                    for dx in range(-1, 2):
                        yy, xx = y + dy, x + dx
                        if 0 <= yy < h and 0 <= xx < w and z[yy, xx] < best and z[yy, xx] > np.float32(-1.0):
                            best = z[yy, xx]
                            by, bx = yy, xx
                if by < 0:
                    left += 1
                    continue
                out[y, x, 0] = out[by, bx, 0]
                out[y, x, 1] = out[by, bx, 1]
                out[y, x, 2] = out[by, bx, 2]
                z[y, x] = np.float32(-2.0) - best  # filled this pass: not a source until the next one
        for y in range(h):
            for x in range(w):
                if z[y, x] < np.float32(-1.0):
                    z[y, x] = np.float32(-2.0) - z[y, x]
        if left == 0:
            break
    return holes


def warm() -> None:
    """Compile (or load from the on-disk cache) every kernel now: the first frame must not pay for it."""
    from cinealert.render.ldi import warp

    warp.warm()
    f32 = np.float32
    k = np.ones((3, 3), f32)
    z = np.zeros((2, 2), f32)
    acc = np.zeros((2, 2, 4), f32)
    front_depth(k, 0, 2, 2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, z)
    front_colour(
        np.zeros((2, 2, 3), np.uint8), k, 0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, z, acc, acc.copy()
    )
    ints = np.zeros(1, np.int32)
    ks = np.ones(1, f32)
    back_depth(ints, ints, ks, 0, 2, 2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, z)
    back_colour(ints, ints, ks, np.zeros((1, 3), np.uint8), 0, 2, 2, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, z,
                acc.copy(), acc.copy())  # fmt: skip
    resolve(acc, acc.copy(), z, z.copy(), np.zeros((2, 2, 3), np.uint8))
    kmin = k.min(axis=1)
    runs = np.array([0, 1], np.int64)
    splat_frame(np.zeros((2, 2, 3), np.uint8), k, kmin, kmin, ints, ints, ks, np.zeros((1, 3), np.uint8), runs, 0, 1.0,
                1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, z, z.copy(), acc, acc.copy(), acc.copy(),
                np.zeros((2, 2, 3), np.uint8))  # fmt: skip
