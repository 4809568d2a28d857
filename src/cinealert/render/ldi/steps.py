"""The numba building blocks both splats share: where a point lands, its footprint, how it claims the z-buffer.

``_step`` functions are inlined into the kernels that call them (``render.ldi.kernels`` for the separate
passes, ``render.ldi.bandsplat`` for the fused one), so both add the same terms in the same order.
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
