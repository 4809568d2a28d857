"""The LDI frame of a depth map with no edges, as one backward warp instead of a splat (CPU).

Why: a photo's depth estimate is smooth; where no two neighbours drift apart by ``GAP_PX`` over the loop
(``render.ldi.build``: no depth edge, no back layer), the picture moves as one unbroken surface. Every screen
pixel then shows exactly one point of it, so the z-buffered forward splat (pixel by pixel on a smooth map, the
photo path's slowest step) equals sampling the animated still where that point came from. That point solves
``q = c + (p - c) * (1 + k(p) * s) + k(p) * a + o`` for ``p``: a fixed-point iteration converges because the
surface cannot fold (neighbours drift less than ``GAP_PX`` px, so the map is a contraction by well under 1/2).

The solve runs on a coarse grid of screen points (every ``STEP`` px) and the source position in between is
interpolated bilinearly. Every frame the solve is repeated at the cells' centres, where that interpolation is
worst; a cell whose interpolation misses by more than ``MAX_ERROR_PX`` (a kink or ridge in the depth, e.g. a
horizon) is solved pixel by pixel instead. A frame with too many such cells (a fine relief: the splat is then
faster) or whose solve does not converge is left to the splat: the warp is an exact stand-in where it is used
and nothing where it is not. The colour is sampled by ``cv2.remap`` (bilinear, the frame mirrored past its
edges as the LDI's margin is), which at 1080p costs about a fifth of the per-pixel splat.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cinealert.render.ldi.build import Ldi
from cinealert.render.ldi.path import CameraPath, Motion
from cinealert.render.ldi.steps import _jit, _step

#: screen px between the points the source position is solved at (interpolated in between)
STEP = 8
#: the interpolated source position may miss the solved one by at most this much (px) at any cell centre
MAX_ERROR_PX = 0.05
#: the fixed-point solve stops when a step moves less than this (px); one that has not after MAX_ITERS fails
CONVERGED_PX = 1e-3
MAX_ITERS = 12
#: screen rows whose source positions are filled in and sampled at a time (their maps stay in cache)
BAND = 32
#: the still's colour past its edges: mirrored, as the LDI's margin holds it (``render.ldi.build``)
MIRROR = 4  # cv2.BORDER_REFLECT_101 (cv2 is imported lazily)
#: a frame with more than this share of its cells solved pixel by pixel is left to the splat
MAX_EXACT_SHARE = 0.25


@_step
def _solve(k: np.ndarray, shift: np.float32, cx: np.float32, cy: np.float32, ax: np.float32, ay: np.float32,
           s: np.float32, vx: np.float32, vy: np.float32, eps: np.float32,
           max_iters: int) -> tuple[np.float32, np.float32, bool]:  # fmt: skip
    # the centre-relative source point u of the screen point v (centre- and offset-relative): the fixed point of
    # u = (v - k(u) a) / (1 + k(u) s), k sampled bilinearly on the grid (clamped: replicated past the margin)
    hp, wp = k.shape
    one = np.float32(1.0)
    gxmax, gymax = np.float32(wp - 1) - np.float32(1e-3), np.float32(hp - 1) - np.float32(1e-3)
    ux, uy = vx, vy
    for _ in range(max_iters):
        gx = min(max(ux + cx + shift, np.float32(0.0)), gxmax)
        gy = min(max(uy + cy + shift, np.float32(0.0)), gymax)
        x0, y0 = int(gx), int(gy)
        fx, fy = gx - np.float32(x0), gy - np.float32(y0)
        kk = (k[y0, x0] * (one - fx) + k[y0, x0 + 1] * fx) * (one - fy) + (
            k[y0 + 1, x0] * (one - fx) + k[y0 + 1, x0 + 1] * fx
        ) * fy
        d = one / (one + kk * s)
        nx, ny = (vx - kk * ax) * d, (vy - kk * ay) * d
        moved = max(abs(nx - ux), abs(ny - uy))
        ux, uy = nx, ny
        if moved < eps:
            return ux, uy, True
    return ux, uy, False


@_step
def _source(k: np.ndarray, m: int, cx: float, cy: float, ax: float, ay: float, s: float, ox: float, oy: float,
            x: np.float32, y: np.float32, eps: float,
            max_iters: int) -> tuple[np.float32, np.float32, bool]:  # fmt: skip
    # the source position (frame pixel indices) of screen pixel (x, y) under the motion: ``_solve`` in the
    # centre- and offset-relative terms it iterates in, and back
    half = np.float32(0.5)
    cx32, cy32 = np.float32(cx), np.float32(cy)
    vx, vy = x + half - cx32 - np.float32(ox), y + half - cy32 - np.float32(oy)
    ux, uy, done = _solve(k, np.float32(m) - half, cx32, cy32, np.float32(ax), np.float32(ay), np.float32(s), vx,
                          vy, np.float32(eps), max_iters)  # fmt: skip
    return ux + cx32 - half, uy + cy32 - half, done


@_jit
def solve_grid(k: np.ndarray, m: int, cx: float, cy: float, ax: float, ay: float, s: float, ox: float,
               oy: float, step: int, off: float, dx: np.ndarray, dy: np.ndarray, eps: float,
               max_iters: int) -> bool:  # fmt: skip
    # dx, dy (rows, cols) <- source minus screen position (px, frame pixel indices) of the screen points
    # (off + col * step, off + row * step); k is the LDI's nearness grid (``m`` px of margin). False: some point
    # did not converge.
    for a in range(dx.shape[0]):
        yq = np.float32(off + a * step)
        for b in range(dx.shape[1]):
            xq = np.float32(off + b * step)
            sx, sy, done = _source(k, m, cx, cy, ax, ay, s, ox, oy, xq, yq, eps, max_iters)
            if not done:
                return False
            dx[a, b] = sx - xq
            dy[a, b] = sy - yq
    return True


@_jit
def mark_cells(dx: np.ndarray, dy: np.ndarray, cdx: np.ndarray, cdy: np.ndarray, max_error: float,
               bad: np.ndarray) -> int:  # fmt: skip
    # bad[a, b] <- whether the bilinear interpolation of the cell's corner solutions misses the solution at its
    # centre by more than ``max_error`` px (a kink or ridge in the depth: solve that cell pixel by pixel)
    q = np.float32(0.25)
    lim = np.float32(max_error)
    count = 0
    for a in range(cdx.shape[0]):
        for b in range(cdx.shape[1]):
            ix = (dx[a, b] + dx[a, b + 1] + dx[a + 1, b] + dx[a + 1, b + 1]) * q
            iy = (dy[a, b] + dy[a, b + 1] + dy[a + 1, b] + dy[a + 1, b + 1]) * q
            miss = abs(ix - cdx[a, b]) > lim or abs(iy - cdy[a, b]) > lim
            bad[a, b] = miss
            count += miss
    return count


@_jit
def fill_maps(dx: np.ndarray, dy: np.ndarray, bad: np.ndarray, step: int, k: np.ndarray, m: int, cx: float,
              cy: float, ax: float, ay: float, s: float, ox: float, oy: float, eps: float, max_iters: int,
              y0: int, h: int, mx: np.ndarray, my: np.ndarray) -> bool:  # fmt: skip
    # mx, my (rows, W) <- the source position of every screen pixel of rows y0.. (of h): the grid's offsets
    # interpolated bilinearly, or solved pixel by pixel in a ``bad`` cell. False: a pixel's solve did not converge.
    w = mx.shape[1]
    inv = np.float32(1.0) / np.float32(step)
    cw = dx.shape[1]
    rx = np.empty(cw, np.float32)
    ry = np.empty(cw, np.float32)
    for i in range(min(mx.shape[0], h - y0)):
        y = y0 + i
        a = y // step
        fy = np.float32(y - a * step) * inv
        for b in range(cw):
            rx[b] = dx[a, b] + (dx[a + 1, b] - dx[a, b]) * fy
            ry[b] = dy[a, b] + (dy[a + 1, b] - dy[a, b]) * fy
        yf = np.float32(y)
        rowx, rowy = mx[i], my[i]
        for b in range(cw - 1):
            x0 = b * step
            n = min(step, w - x0)
            if bad[a, b]:
                for u in range(n):
                    sx, sy, done = _source(
                        k, m, cx, cy, ax, ay, s, ox, oy, np.float32(x0 + u), yf, eps, max_iters
                    )
                    if not done:
                        return False
                    rowx[x0 + u] = sx
                    rowy[x0 + u] = sy
                continue
            bx, gx = rx[b], (rx[b + 1] - rx[b]) * inv
            by, gy = ry[b], (ry[b + 1] - ry[b]) * inv
            for u in range(n):
                uf = np.float32(u)
                rowx[x0 + u] = np.float32(x0 + u) + bx + gx * uf
                rowy[x0 + u] = yf + by + gy * uf
    return True


def warm() -> None:
    """Compile (or load from the on-disk cache) the warp's kernels."""
    f32 = np.float32
    k = np.ones((3, 3), f32)
    g = np.zeros((2, 2), f32)
    solve_grid(k, 0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1, 0.0, g, g.copy(), 1e-3, 2)
    bad = np.zeros((1, 1), np.bool_)
    mark_cells(g, g, g[:1, :1].copy(), g[:1, :1].copy(), 0.05, bad)
    fill_maps(g, g.copy(), bad, 1, k, 0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 1e-3, 2, 0, 1, np.zeros((1, 1), f32),
              np.zeros((1, 1), f32))  # fmt: skip


def is_one_surface(ldi: Ldi, path: CameraPath) -> bool:
    """Whether no two neighbours of the LDI drift ``GAP_PX`` apart over ``path`` (no depth edge: the warp
    applies, frame by frame subject to its check)."""
    if ldi.back_points:
        return False
    if path.reach() == 0:
        return True
    k = ldi.k
    across = float(np.abs(np.diff(k, axis=1)).max(initial=0.0))
    down = float(np.abs(np.diff(k, axis=0)).max(initial=0.0))
    return max(across, down) <= ldi.tol


@dataclass(frozen=True, slots=True)
class _Buffers:
    """One thread's: the grid's and the cell centres' offsets, the cells solved exactly, the full-size maps."""

    dx: npt.NDArray[np.float32]
    dy: npt.NDArray[np.float32]
    cdx: npt.NDArray[np.float32]
    cdy: npt.NDArray[np.float32]
    bad: npt.NDArray[np.bool_]
    mx: npt.NDArray[np.float32]
    my: npt.NDArray[np.float32]
    band4: npt.NDArray[np.uint8]  # a band sampled from a 4-channel still, before its 4th channel is dropped

    @classmethod
    def of(cls, rows: int, cols: int, h: int, w: int) -> _Buffers:
        f32 = np.float32
        grid, centres = (rows, cols), (rows - 1, cols - 1)
        rows_ = min(BAND, h)
        return cls(np.empty(grid, f32), np.empty(grid, f32), np.empty(centres, f32), np.empty(centres, f32),
                   np.empty(centres, np.bool_), np.empty((rows_, w), f32), np.empty((rows_, w), f32),
                   np.empty((rows_, w, 4), np.uint8))  # fmt: skip


class SurfaceWarp:
    """The warp of one LDI (see the module doc); ``warped`` and ``splatted`` count the frames each way went."""

    def __init__(self, ldi: Ldi) -> None:
        self.ldi = ldi
        h, w = ldi.height, ldi.width
        self.rows, self.cols = (h - 1) // STEP + 2, (w - 1) // STEP + 2
        self._local = threading.local()
        self._lock = threading.Lock()
        self.warped = 0
        self.declined = 0
        self.exact_cells = 0  # cells solved pixel by pixel, over every frame warped

    def _buffers(self) -> _Buffers:
        bufs: _Buffers | None = getattr(self._local, "bufs", None)
        if bufs is None:
            bufs = _Buffers.of(self.rows, self.cols, self.ldi.height, self.ldi.width)
            self._local.bufs = bufs
        return bufs

    def render(self, frame: npt.NDArray[np.uint8], m: Motion, out: npt.NDArray[np.uint8]) -> bool:
        """``frame`` (the animated still, ``HxWx3``, or ``HxWx4`` with the 4th channel ignored: ``cv2.remap``
        samples 4 channels twice as fast as 3) seen from motion ``m``, into ``out`` (``HxWx3``); False where the
        splat must draw this frame (``out`` untouched when the grid's check fails, part written in the rare case
        that a pixel's own solve does not converge)."""
        import cv2

        if m.ax == 0 and m.ay == 0 and m.s == 0 and m.ox == 0 and m.oy == 0:
            out[...] = frame[..., :3]
            self._count(True)
            return True
        ldi = self.ldi
        b = self._buffers()
        dx, dy, cdx, cdy, bad, mx, my = b.dx, b.dy, b.cdx, b.cdy, b.bad, b.mx, b.my
        cx, cy = ldi.width / 2.0, ldi.height / 2.0
        motion = (ldi.k, ldi.margin, cx, cy, m.ax, m.ay, m.s, m.ox, m.oy)
        ok = solve_grid(*motion, STEP, 0.0, dx, dy, CONVERGED_PX, MAX_ITERS) and solve_grid(
            *motion, STEP, STEP / 2.0, cdx, cdy, CONVERGED_PX, MAX_ITERS
        )
        # cells solved pixel by pixel cost ~10x an interpolated one: past a share of them the splat is faster
        exact = mark_cells(dx, dy, cdx, cdy, MAX_ERROR_PX, bad) if ok else 0
        ok = ok and exact <= MAX_EXACT_SHARE * bad.size
        if not ok:
            self._count(False)
            return False
        # a band of rows at a time: its maps stay in cache between being written and read
        h = ldi.height
        for y0 in range(0, h, BAND):
            y1 = min(y0 + BAND, h)
            if not fill_maps(dx, dy, bad, STEP, *motion, CONVERGED_PX, MAX_ITERS, y0, h, mx, my):
                self._count(False)
                return False
            rows = y1 - y0
            if frame.shape[2] == 3:
                cv2.remap(frame, mx[:rows], my[:rows], cv2.INTER_LINEAR, dst=out[y0:y1], borderMode=MIRROR)
            else:
                band = b.band4[:rows]
                cv2.remap(frame, mx[:rows], my[:rows], cv2.INTER_LINEAR, dst=band, borderMode=MIRROR)
                cv2.cvtColor(band, cv2.COLOR_BGRA2BGR, dst=out[y0:y1])  # drops the 4th channel, nothing else
        self._count(True, exact)
        return True

    def _count(self, warped: bool, exact: int = 0) -> None:
        with self._lock:
            if warped:
                self.warped += 1
                self.exact_cells += exact
            else:
                self.declined += 1
