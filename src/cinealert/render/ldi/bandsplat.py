"""The fused LDI splat (CPU): every pass of ``render.ldi.kernels`` for one band of ``BAND`` screen rows at a time.

Its buffers stay in cache and none is cleared whole; a run of equal nearness in a row splats as one whole-pixel
shift when the motion has no zoom (under a zoom: one row, two screen pixels held in registers). It adds the same
terms in the same order as the separate passes, which stay the reference and serve a frame with holes.
"""

from __future__ import annotations

import math

import numpy as np

from cinealert.render.ldi.steps import EPS, _add, _jit, _land, _mirror, _step, _zmax

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
    # pixel t's, as the pixel-by-pixel order adds them (a missing corner adds a zero weight). Both screen rows
    # in one sweep: each source pixel is read once and its horizontal blend made once, then weighted by the
    # row's fraction (``fy * (fx * a)`` where ``_add`` takes ``(fx * fy) * a``: float rounding, not levels)
    one = np.float32(1.0)
    zero = np.float32(0.0)
    t0 = max(0, -x0)
    t1 = min(n, w - 1 - x0)
    w0, w1 = one - fy, fy
    top, bottom = 0 <= y0 < h, 0 <= y0 + 1 < h
    gx = one - fx
    pr, pg, pb = zero, zero, zero  # pixel t - 1
    if t0 >= 1:
        sj = cols[j0 + t0 - 1]
        pr, pg, pb = np.float32(frame[si, sj, 0]), np.float32(frame[si, sj, 1]), np.float32(frame[si, sj, 2])
    for t in range(t0, t1 + 1):
        x = x0 + t
        cr, cg, cb = zero, zero, zero
        if t < n:
            sj = cols[j0 + t]
            cr, cg, cb = (
                np.float32(frame[si, sj, 0]),
                np.float32(frame[si, sj, 1]),
                np.float32(frame[si, sj, 2]),
            )
        ua = gx if t < n else zero
        ub = fx if t >= 1 else zero
        hr, hg, hb, hw = ub * pr + ua * cr, ub * pg + ua * cg, ub * pb + ua * cb, ub + ua
        for c in range(2):
            if not (bottom if c else top):
                continue
            y = y0 + c
            wy = w1 if c else w0
            dst = acc if kk >= z[y, x] - tol else under
            dst[y, x, 0] += wy * hr
            dst[y, x, 1] += wy * hg
            dst[y, x, 2] += wy * hb
            dst[y, x, 3] += wy * hw
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
    ``under``, ``spill``: ``BAND x W x 4``), so the buffers stay in cache and are never cleared whole: they come
    in clear (``z``, ``zb`` at -1, ``acc``, ``under`` at 0, as ``render.ldi.splat._Scratch.band`` makes them) and
    each pixel is cleared again as the resolve reads it (no separate pass over the buffers per band). Each band
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
                total = wf
                r, g, b = acc[y, x, 0], acc[y, x, 1], acc[y, x, 2]
                acc[y, x, 0] = acc[y, x, 1] = acc[y, x, 2] = acc[y, x, 3] = np.float32(0.0)
                z[y, x] = np.float32(-1.0)
                wu = under[y, x, 3]
                if wu > np.float32(0.0):
                    if wf < np.float32(1.0):
                        take = min(wu, np.float32(1.0) - wf) / wu
                        r += under[y, x, 0] * take
                        g += under[y, x, 1] * take
                        b += under[y, x, 2] * take
                        total += wu * take
                    under[y, x, 0] = under[y, x, 1] = under[y, x, 2] = under[y, x, 3] = np.float32(0.0)
                zb[y, x] = np.float32(-1.0)
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
