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

import math

import numpy as np
from numba import njit

_jit = njit(cache=True, nogil=True, fastmath=True, error_model="numpy")
_step = njit(cache=True, nogil=True, fastmath=True, error_model="numpy", inline="always")

#: footprint weights below this do not claim the z-buffer (a sliver of a near pixel must not hide a far one)
EPS = np.float32(1e-3)


@_step
def _land(i: int, j: int, kk: np.float32, m: int, cx: np.float32, cy: np.float32, ax: np.float32, ay: np.float32,
          s: np.float32, ox: np.float32, oy: np.float32) -> tuple[int, int, np.float32, np.float32]:  # fmt: skip
    # top-left screen pixel of the footprint and the bilinear fractions (pixel centres at +0.5)
    sc = np.float32(1.0) + s * kk
    x = cx + (np.float32(j - m) + np.float32(0.5) - cx) * sc + ax * kk + ox - np.float32(0.5)
    y = cy + (np.float32(i - m) + np.float32(0.5) - cy) * sc + ay * kk + oy - np.float32(0.5)
    fx = math.floor(x)
    fy = math.floor(y)
    return int(fy), int(fx), np.float32(x - fx), np.float32(y - fy)


@_step
def _zmax(z: np.ndarray, y0: int, x0: int, fx: np.float32, fy: np.float32, kk: np.float32, h: int,
          w: int) -> None:  # fmt: skip
    one = np.float32(1.0)
    inside = 0 <= x0 < w - 1 and 0 <= y0 < h - 1  # the common case: no per-corner checks
    for c in range(4):
        y, x = y0 + (c >> 1), x0 + (c & 1)
        if not inside and not (0 <= y < h and 0 <= x < w):
            continue
        wt = (fx if c & 1 else one - fx) * (fy if c >> 1 else one - fy)
        if wt > EPS and kk > z[y, x]:
            z[y, x] = kk


@_step
def _add(acc: np.ndarray, under: np.ndarray, z: np.ndarray, y0: int, x0: int, fx: np.float32, fy: np.float32,
         kk: np.float32, tol: np.float32, r: np.float32, g: np.float32, b: np.float32, h: int,
         w: int) -> None:  # fmt: skip
    one = np.float32(1.0)
    inside = 0 <= x0 < w - 1 and 0 <= y0 < h - 1
    for c in range(4):
        y, x = y0 + (c >> 1), x0 + (c & 1)
        if not inside and not (0 <= y < h and 0 <= x < w):
            continue
        wt = (fx if c & 1 else one - fx) * (fy if c >> 1 else one - fy)
        if kk >= z[y, x] - tol:
            acc[y, x, 0] += wt * r
            acc[y, x, 1] += wt * g
            acc[y, x, 2] += wt * b
            acc[y, x, 3] += wt
        else:
            under[y, x, 0] += wt * r
            under[y, x, 1] += wt * g
            under[y, x, 2] += wt * b
            under[y, x, 3] += wt


@_step
def _mirror(i: int, n: int) -> int:
    # reflect-101 into 0..n-1 (the margin is narrower than the frame)
    if i < 0:
        i = -i
    if i >= n:
        i = 2 * (n - 1) - i
    return min(max(i, 0), n - 1)


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


#: destination rows per band of ``splat_frame``: its z-buffers and accumulators (~1 MB) stay in cache
BAND = 24


@_step
def _span(i: int, kmin: np.float32, kmax: np.float32, m: int, cy: np.float32, ay: np.float32, s: np.float32,
          oy: np.float32) -> tuple[int, int]:  # fmt: skip
    # the screen rows a grid row's footprints can touch: the landing row is linear in nearness, so its extremes
    # are at the row's nearness extremes (one row of slack each side for rounding; the footprint is 2 rows)
    base = np.float32(i - m) + np.float32(0.5) - cy
    ya = cy + base * (np.float32(1.0) + s * kmin) + ay * kmin + oy - np.float32(0.5)
    yb = cy + base * (np.float32(1.0) + s * kmax) + ay * kmax + oy - np.float32(0.5)
    return math.floor(min(ya, yb)) - 1, math.floor(max(ya, yb)) + 2


#: a run of at least this many equal-nearness pixels (with no zoom in the motion) is splatted as a shift
RUN = 4


@_step
def _run_depth(z: np.ndarray, y0: int, x0: int, fx: np.float32, fy: np.float32, kk: np.float32, n: int,
               h: int, w: int) -> None:  # fmt: skip
    # ``n`` pixels of one nearness landing at x0, x0 + 1, ...: ``_zmax`` of each, screen pixel by screen pixel
    one = np.float32(1.0)
    for c in range(2):
        y = y0 + c
        if not 0 <= y < h:
            continue
        fyc = fy if c else one - fy
        wa = (one - fx) * fyc > EPS  # the corner of pixel t on x0 + t
        wb = fx * fyc > EPS  # the corner of pixel t - 1 on x0 + t
        if not (wa or wb):
            continue
        a = max(x0 + (0 if wa else 1), 0)
        b = min(x0 + (n if wb else n - 1), w - 1)
        for x in range(a, b + 1):
            if kk > z[y, x]:
                z[y, x] = kk


@_step
def _run_colour(acc: np.ndarray, under: np.ndarray, z: np.ndarray, y0: int, x0: int, fx: np.float32,
                fy: np.float32, kk: np.float32, tol: np.float32, frame: np.ndarray, si: int, cols: np.ndarray,
                j0: int, n: int, h: int, w: int) -> None:  # fmt: skip
    # ``_add`` of ``n`` pixels landing at x0, x0 + 1, ...: each screen pixel takes pixel t - 1's corner, then
    # pixel t's, as the pixel-by-pixel order adds them (a missing corner adds a zero weight)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    t0 = max(0, -x0)
    t1 = min(n, w - 1 - x0)
    for c in range(2):
        y = y0 + c
        if not 0 <= y < h:
            continue
        fyc = fy if c else one - fy
        wa = (one - fx) * fyc
        wb = fx * fyc
        pr, pg, pb = zero, zero, zero  # pixel t - 1
        if t0 >= 1:
            sj = cols[j0 + t0 - 1]
            pr, pg, pb = (
                np.float32(frame[si, sj, 0]),
                np.float32(frame[si, sj, 1]),
                np.float32(frame[si, sj, 2]),
            )
        for t in range(t0, t1 + 1):
            x = x0 + t
            cr, cg, cb = zero, zero, zero
            if t < n:
                sj = cols[j0 + t]
                cr = np.float32(frame[si, sj, 0])
                cg = np.float32(frame[si, sj, 1])
                cb = np.float32(frame[si, sj, 2])
            ua = wa if t < n else zero
            ub = wb if t >= 1 else zero
            if kk >= z[y, x] - tol:
                acc[y, x, 0] = acc[y, x, 0] + ub * pr + ua * cr
                acc[y, x, 1] = acc[y, x, 1] + ub * pg + ua * cg
                acc[y, x, 2] = acc[y, x, 2] + ub * pb + ua * cb
                acc[y, x, 3] = acc[y, x, 3] + ub + ua
            else:
                under[y, x, 0] = under[y, x, 0] + ub * pr + ua * cr
                under[y, x, 1] = under[y, x, 1] + ub * pg + ua * cg
                under[y, x, 2] = under[y, x, 2] + ub * pb + ua * cb
                under[y, x, 3] = under[y, x, 3] + ub + ua
            pr, pg, pb = cr, cg, cb


@_step
def _run_back(under: np.ndarray, zb: np.ndarray, y0: int, x0: int, fx: np.float32, fy: np.float32,
              kk: np.float32, tol: np.float32, rgb: np.ndarray, p0: int, n: int, h: int, w: int) -> None:  # fmt: skip
    # ``_run_colour`` for back points ``p0 ..``, colours from ``rgb``; what a nearer back point hides is dropped
    one = np.float32(1.0)
    zero = np.float32(0.0)
    t0 = max(0, -x0)
    t1 = min(n, w - 1 - x0)
    for c in range(2):
        y = y0 + c
        if not 0 <= y < h:
            continue
        fyc = fy if c else one - fy
        wa = (one - fx) * fyc
        wb = fx * fyc
        pr, pg, pb = zero, zero, zero
        if t0 >= 1:
            q = p0 + t0 - 1
            pr, pg, pb = np.float32(rgb[q, 0]), np.float32(rgb[q, 1]), np.float32(rgb[q, 2])
        for t in range(t0, t1 + 1):
            x = x0 + t
            cr, cg, cb = zero, zero, zero
            if t < n:
                q = p0 + t
                cr, cg, cb = np.float32(rgb[q, 0]), np.float32(rgb[q, 1]), np.float32(rgb[q, 2])
            ua = wa if t < n else zero
            ub = wb if t >= 1 else zero
            if kk >= zb[y, x] - tol:
                under[y, x, 0] = under[y, x, 0] + ub * pr + ua * cr
                under[y, x, 1] = under[y, x, 1] + ub * pg + ua * cg
                under[y, x, 2] = under[y, x, 2] + ub * pb + ua * cb
                under[y, x, 3] = under[y, x, 3] + ub + ua
            pr, pg, pb = cr, cg, cb


@_step
def _zrun_colour(acc: np.ndarray, under: np.ndarray, z: np.ndarray, y0: int, fy: np.float32, kk: np.float32,
                 tol: np.float32, frame: np.ndarray, si: int, cols: np.ndarray, i: int, j0: int, n: int, m: int,
                 cx: np.float32, cy: np.float32, ax: np.float32, ay: np.float32, s: np.float32, ox: np.float32,
                 oy: np.float32, h: int, w: int) -> None:  # fmt: skip
    # ``_add`` of ``n`` pixels of one nearness under a zoom: they land on one row (``y0``, ``fy``) at steadily
    # increasing columns with varying fractions. The two screen pixels the current pixel touches are held in
    # registers (loaded at their first term, stored when the run moves past them), so each is read and written
    # once, its terms added in pixel order as ``_add`` adds them.
    one = np.float32(1.0)
    zero = np.float32(0.0)
    for c in range(2):
        y = y0 + c
        if not 0 <= y < h:
            continue
        fyc = fy if c else one - fy
        col = -(1 << 30)  # the left held pixel's column; the right one is col + 1
        lv = rv = False  # on screen
        ln = rn = False  # within tol of the z-buffer: acc, else under
        l0 = l1 = l2 = l3 = r0 = r1 = r2 = r3 = zero
        for t in range(n):
            _, x0, fx, _ = _land(i, j0 + t, kk, m, cx, cy, ax, ay, s, ox, oy)
            if x0 != col:
                if lv:  # store the left one
                    if ln:
                        acc[y, col, 0], acc[y, col, 1], acc[y, col, 2], acc[y, col, 3] = l0, l1, l2, l3
                    else:
                        under[y, col, 0], under[y, col, 1], under[y, col, 2], under[y, col, 3] = (
                            l0,
                            l1,
                            l2,
                            l3,
                        )
                if x0 == col + 1:  # the right one becomes the left one
                    lv, ln, l0, l1, l2, l3 = rv, rn, r0, r1, r2, r3
                else:
                    if rv:
                        if rn:
                            acc[y, col + 1, 0], acc[y, col + 1, 1] = r0, r1
                            acc[y, col + 1, 2], acc[y, col + 1, 3] = r2, r3
                        else:
                            under[y, col + 1, 0], under[y, col + 1, 1] = r0, r1
                            under[y, col + 1, 2], under[y, col + 1, 3] = r2, r3
                    lv = 0 <= x0 < w
                    if lv:
                        ln = kk >= z[y, x0] - tol
                        if ln:
                            l0, l1, l2, l3 = acc[y, x0, 0], acc[y, x0, 1], acc[y, x0, 2], acc[y, x0, 3]
                        else:
                            l0, l1, l2, l3 = (
                                under[y, x0, 0],
                                under[y, x0, 1],
                                under[y, x0, 2],
                                under[y, x0, 3],
                            )
                col = x0
                xr = x0 + 1
                rv = 0 <= xr < w
                if rv:
                    rn = kk >= z[y, xr] - tol
                    if rn:
                        r0, r1, r2, r3 = acc[y, xr, 0], acc[y, xr, 1], acc[y, xr, 2], acc[y, xr, 3]
                    else:
                        r0, r1, r2, r3 = under[y, xr, 0], under[y, xr, 1], under[y, xr, 2], under[y, xr, 3]
            sj = cols[j0 + t]
            cr, cg, cb = (
                np.float32(frame[si, sj, 0]),
                np.float32(frame[si, sj, 1]),
                np.float32(frame[si, sj, 2]),
            )
            wa = (one - fx) * fyc
            wb = fx * fyc
            l0 += wa * cr
            l1 += wa * cg
            l2 += wa * cb
            l3 += wa
            r0 += wb * cr
            r1 += wb * cg
            r2 += wb * cb
            r3 += wb
        if lv:
            if ln:
                acc[y, col, 0], acc[y, col, 1], acc[y, col, 2], acc[y, col, 3] = l0, l1, l2, l3
            else:
                under[y, col, 0], under[y, col, 1], under[y, col, 2], under[y, col, 3] = l0, l1, l2, l3
        if rv:
            if rn:
                acc[y, col + 1, 0], acc[y, col + 1, 1], acc[y, col + 1, 2], acc[y, col + 1, 3] = (
                    r0,
                    r1,
                    r2,
                    r3,
                )
            else:
                under[y, col + 1, 0], under[y, col + 1, 1] = r0, r1
                under[y, col + 1, 2], under[y, col + 1, 3] = r2, r3


@_jit
def splat_frame(frame: np.ndarray, k: np.ndarray, kmin: np.ndarray, kmax: np.ndarray, ys: np.ndarray,
                xs: np.ndarray, ks: np.ndarray, rgb: np.ndarray, runs: np.ndarray, m: int, cx: float, cy: float,
                ax: float, ay: float, s: float, ox: float, oy: float, tol: float, z: np.ndarray, zb: np.ndarray,
                acc: np.ndarray, under: np.ndarray, spill: np.ndarray, out: np.ndarray) -> int:  # fmt: skip
    """The passes above fused, one band of ``BAND`` screen rows at a time (``z``, ``zb``: ``BAND x W``; ``acc``,
    ``under``, ``spill``: ``BAND x W x 4``), so the buffers stay in cache and are never cleared whole. Each band
    takes the grid rows (``kmin``/``kmax``: each row's nearness range) and back points whose footprints can
    reach it, in their order, so every sum adds the same terms in the same order as the separate passes.
    Returns the pixels nothing landed on; when not 0, ``out`` is incomplete (the caller renders the frame with
    the separate passes, which fill the holes from the whole frame's z-buffer)."""
    h, w = frame.shape[0], frame.shape[1]
    hp, wp = k.shape
    cx32, cy32, ax32, ay32 = np.float32(cx), np.float32(cy), np.float32(ax), np.float32(ay)
    s32, ox32, oy32, tol32 = np.float32(s), np.float32(ox), np.float32(oy), np.float32(tol)
    nb = (h + BAND - 1) // BAND
    lo = np.empty(hp, np.int64)
    hi = np.empty(hp, np.int64)
    for i in range(hp):
        lo[i], hi[i] = _span(i, kmin[i], kmax[i], m, cy32, ay32, s32, oy32)
    # back points bucketed by band in runs (``runs``: where each run of equal-nearness neighbours in a row
    # starts, then the count), in order; a run near a band boundary goes to both
    nr = runs.shape[0] - 1
    first = np.empty(nr, np.int64)
    last = np.empty(nr, np.int64)
    start = np.zeros(nb + 1, np.int64)
    for ri in range(nr):
        kk = ks[runs[ri]]
        top, bottom = _span(ys[runs[ri]], kk, kk, m, cy32, ay32, s32, oy32)
        first[ri], last[ri] = max(top, 0) // BAND, min(bottom, h - 1) // BAND
        for q in range(first[ri], last[ri] + 1):
            start[q + 1] += 1
    for q in range(nb):
        start[q + 1] += start[q]
    fill = start[:nb].copy()
    order = np.empty(start[nb], np.int64)
    for ri in range(nr):
        for q in range(first[ri], last[ri] + 1):
            order[fill[q]] = ri
            fill[q] += 1
    # no zoom: a run of equal nearness lands as a whole-pixel shift of the row with one bilinear fraction
    shift = s32 == np.float32(0.0)
    cols = np.empty(wp, np.int64)
    for j in range(wp):
        cols[j] = _mirror(j - m, w)
    holes = 0
    half = np.float32(0.5)
    for band in range(nb):
        y_top = band * BAND
        bh = min(BAND, h - y_top)
        z[:bh].fill(np.float32(-1.0))
        zb[:bh].fill(np.float32(-1.0))
        acc[:bh].fill(np.float32(0.0))
        under[:bh].fill(np.float32(0.0))
        for i in range(hp):
            if hi[i] < y_top or lo[i] >= y_top + bh:
                continue
            j = 0
            while j < wp:
                kk = k[i, j]
                e = j + 1
                while e < wp and k[i, e] == kk:
                    e += 1
                y0, x0, fx, fy = _land(i, j, kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top  # the band's own rows
                if e - j >= RUN:
                    if shift and -1 <= y0 < bh and x0 + e - j >= 0 and x0 < w:
                        _run_depth(z, y0, x0, fx, fy, kk, e - j, bh, w)
                    elif not shift and -1 <= y0 < bh:  # a zoom: one row, pixel by pixel
                        for jj in range(j, e):
                            y0, x0, fx, fy = _land(i, jj, kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                            y0 -= y_top
                            if not (x0 < -1 or x0 >= w):
                                _zmax(z, y0, x0, fx, fy, kk, bh, w)
                    j = e
                    continue
                if not (x0 < -1 or x0 >= w or y0 < -1 or y0 >= bh):
                    _zmax(z, y0, x0, fx, fy, kk, bh, w)
                j += 1
        for i in range(hp):
            if hi[i] < y_top or lo[i] >= y_top + bh:
                continue
            si = _mirror(i - m, h)
            j = 0
            while j < wp:
                kk = k[i, j]
                e = j + 1
                while e < wp and k[i, e] == kk:
                    e += 1
                y0, x0, fx, fy = _land(i, j, kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top  # the band's own rows
                if e - j >= RUN:
                    if shift and -1 <= y0 < bh and x0 + e - j >= 0 and x0 < w:
                        _run_colour(
                            acc, under, z, y0, x0, fx, fy, kk, tol32, frame, si, cols, j, e - j, bh, w
                        )
                    elif not shift and -1 <= y0 < bh:
                        _zrun_colour(acc, under, z, y0, fy, kk, tol32, frame, si, cols, i, j, e - j, m, cx32, cy32,
                                     ax32, ay32, s32, ox32, oy32, bh, w)  # fmt: skip
                    j = e
                    continue
                if not (x0 < -1 or x0 >= w or y0 < -1 or y0 >= bh):
                    sj = cols[j]
                    r = np.float32(frame[si, sj, 0])
                    g = np.float32(frame[si, sj, 1])
                    b = np.float32(frame[si, sj, 2])
                    _add(acc, under, z, y0, x0, fx, fy, kk, tol32, r, g, b, bh, w)
                j += 1
        for q in range(start[band], start[band + 1]):
            p0, p1 = runs[order[q]], runs[order[q] + 1]
            kk = ks[p0]
            if shift:
                y0, x0, fx, fy = _land(ys[p0], xs[p0], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top
                if -1 <= y0 < bh and x0 + p1 - p0 >= 0 and x0 < w:
                    _run_depth(zb, y0, x0, fx, fy, kk, p1 - p0, bh, w)
                continue
            for p in range(p0, p1):
                y0, x0, fx, fy = _land(ys[p], xs[p], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top
                if not (x0 < -1 or x0 >= w or y0 < -1 or y0 >= bh):
                    _zmax(zb, y0, x0, fx, fy, kk, bh, w)
        for q in range(start[band], start[band + 1]):
            p0, p1 = runs[order[q]], runs[order[q] + 1]
            kk = ks[p0]
            if shift:
                y0, x0, fx, fy = _land(ys[p0], xs[p0], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top
                if -1 <= y0 < bh and x0 + p1 - p0 >= 0 and x0 < w:
                    _run_back(under, zb, y0, x0, fx, fy, kk, tol32, rgb, p0, p1 - p0, bh, w)
                continue
            for p in range(p0, p1):
                y0, x0, fx, fy = _land(ys[p], xs[p], kk, m, cx32, cy32, ax32, ay32, s32, ox32, oy32)
                y0 -= y_top
                if not (x0 < -1 or x0 >= w or y0 < -1 or y0 >= bh):
                    r, g, b = np.float32(rgb[p, 0]), np.float32(rgb[p, 1]), np.float32(rgb[p, 2])
                    _add(under, spill, zb, y0, x0, fx, fy, kk, tol32, r, g, b, bh, w)
        for y in range(bh):
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
                if total > np.float32(0.0):
                    inv = np.float32(1.0) / total
                    out[y_top + y, x, 0] = np.uint8(
                        min(max(r * inv + half, np.float32(0.0)), np.float32(255.0))
                    )
                    out[y_top + y, x, 1] = np.uint8(
                        min(max(g * inv + half, np.float32(0.0)), np.float32(255.0))
                    )
                    out[y_top + y, x, 2] = np.uint8(
                        min(max(b * inv + half, np.float32(0.0)), np.float32(255.0))
                    )
                else:
                    holes += 1
    return holes


def warm() -> None:
    """Compile (or load from the on-disk cache) every kernel now: the first frame must not pay for it."""
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
