"""One LDI frame: the animated still (camera at rest) re-projected through the layered depth image.

Two implementations of the same splat (``render.ldi.kernels`` explains the passes): ``NumbaSplat`` on CPU
(numpy arrays, per-thread scratch buffers, one frame per thread; the passes fused per band of rows by
``kernels.splat_frame``) and ``TorchSplat`` on CUDA (``scatter_reduce``
for the z-buffer, ``index_add_`` for the colours; the LDI moved to the device once, frames stay there).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from types import ModuleType
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from cinealert.render.ldi.build import Ldi
from cinealert.render.ldi.path import Motion

if TYPE_CHECKING:
    import torch
    from torch import Tensor


@dataclass
class _Scratch:
    """Per-frame buffers: z-buffers ``(rows, W)``, accumulators ``(rows, W, 4)``, front and back."""

    z: npt.NDArray[np.float32]
    zb: npt.NDArray[np.float32]
    acc: npt.NDArray[np.float32]
    under: npt.NDArray[np.float32]
    spill: npt.NDArray[np.float32]

    @classmethod
    def of(cls, rows: int, w: int) -> _Scratch:
        f32 = np.float32
        return cls(np.empty((rows, w), f32), np.empty((rows, w), f32), np.empty((rows, w, 4), f32),
                   np.empty((rows, w, 4), f32), np.empty((rows, w, 4), f32))  # fmt: skip

    @classmethod
    def band(cls, rows: int, w: int) -> _Scratch:
        """Buffers as ``kernels.splat_frame`` takes them, clear (z-buffers at -1, accumulators at 0): it leaves
        them so after every frame."""
        sc = cls.of(rows, w)
        sc.z.fill(-1.0)
        sc.zb.fill(-1.0)
        sc.acc.fill(0.0)
        sc.under.fill(0.0)
        return sc


def back_runs(ldi: Ldi) -> npt.NDArray[np.int64]:
    """Where each run of back points starts (neighbours in one grid row, same layer, same nearness), then the
    point count: a run lands as one shift of a row when the motion has no zoom."""
    y, x, k = ldi.back_y, ldi.back_x, ldi.back_k
    cut = (y[1:] != y[:-1]) | (x[1:] != x[:-1] + 1) | (k[1:] != k[:-1])
    return np.concatenate([[0], np.flatnonzero(cut) + 1, [k.shape[0]]]).astype(np.int64)


class NumbaSplat:
    """The CPU splat; ``holes`` counts the pixels nothing landed on, over every frame rendered (tests, logs)."""

    name = "numba"

    def __init__(self, ldi: Ldi, kernels: ModuleType) -> None:
        self.ldi = ldi
        self.kernels = kernels
        self._local = threading.local()
        self._lock = threading.Lock()
        self.holes = 0
        # each grid row's nearness range: which bands of screen rows its footprints can reach
        self.kmin = np.ascontiguousarray(ldi.k.min(axis=1))
        self.kmax = np.ascontiguousarray(ldi.k.max(axis=1))
        self.runs = back_runs(ldi)

    def _scratch(self, whole: bool = False) -> _Scratch:
        """This thread's buffers: one band of rows for ``kernels.splat_frame``, or the whole frame (``whole``,
        the separate passes, only for a frame with holes)."""
        name = "whole" if whole else "band"
        scratch: _Scratch | None = getattr(self._local, name, None)
        if scratch is None:
            rows = self.ldi.height if whole else int(self.kernels.BAND)
            scratch = _Scratch.of(rows, self.ldi.width) if whole else _Scratch.band(rows, self.ldi.width)
            setattr(self._local, name, scratch)
        return scratch

    def render(self, frame: npt.NDArray[np.uint8], m: Motion, out: npt.NDArray[np.uint8]) -> int:
        """``frame`` (``HxWx3``, the animated still) seen from motion ``m``, into ``out``; returns the holes."""
        ldi, kn = self.ldi, self.kernels
        h, w, mg = ldi.height, ldi.width, ldi.margin
        cx, cy = w / 2.0, h / 2.0
        sc = self._scratch()
        holes = int(kn.splat_frame(frame, ldi.k, self.kmin, self.kmax, ldi.back_y, ldi.back_x, ldi.back_k,
                                   ldi.back_rgb, self.runs, mg, cx, cy, m.ax, m.ay, m.s, m.ox, m.oy, ldi.tol, sc.z,
                                   sc.zb, sc.acc, sc.under, sc.spill, out))  # fmt: skip
        if holes == 0:
            return 0
        # rare (none expected): the separate passes, whose z-buffer of the whole frame fills the holes
        return self.render_passes(frame, m, out)

    def render_passes(self, frame: npt.NDArray[np.uint8], m: Motion, out: npt.NDArray[np.uint8]) -> int:
        """``render`` by the separate whole-frame passes (``kernels.front_depth`` .. ``resolve``): the reference
        the fused kernel matches, and what fills a frame's holes."""
        ldi, kn = self.ldi, self.kernels
        h, w, mg = ldi.height, ldi.width, ldi.margin
        cx, cy = w / 2.0, h / 2.0
        sc = self._scratch(whole=True)
        sc.z.fill(-1.0)
        sc.zb.fill(-1.0)
        sc.acc.fill(0.0)
        sc.under.fill(0.0)
        kn.front_depth(ldi.k, mg, h, w, cx, cy, m.ax, m.ay, m.s, m.ox, m.oy, sc.z)
        kn.front_colour(
            frame, ldi.k, mg, cx, cy, m.ax, m.ay, m.s, m.ox, m.oy, ldi.tol, sc.z, sc.acc, sc.under
        )
        if ldi.back_points:
            kn.back_depth(ldi.back_y, ldi.back_x, ldi.back_k, mg, h, w, cx, cy, m.ax, m.ay, m.s, m.ox, m.oy,
                          sc.zb)  # fmt: skip
            kn.back_colour(ldi.back_y, ldi.back_x, ldi.back_k, ldi.back_rgb, mg, h, w, cx, cy, m.ax, m.ay, m.s,
                           m.ox, m.oy, ldi.tol, sc.zb, sc.under, sc.spill)  # fmt: skip
        holes = int(kn.resolve(sc.acc, sc.under, sc.z, sc.zb, out))
        if holes:
            with self._lock:
                self.holes += holes
        return holes


class TorchSplat:
    """The same splat in torch ops on the animator's device (CUDA); the LDI is moved there once."""

    name = "torch"

    def __init__(self, ldi: Ldi, device: torch.device) -> None:
        import torch

        self.ldi = ldi
        self.device = device
        self.holes = 0
        self._lock = threading.Lock()
        h, w, mg = ldi.height, ldi.width, ldi.margin
        hp, wp = ldi.k.shape
        ii = torch.arange(hp, device=device)
        jj = torch.arange(wp, device=device)
        gy, gx = torch.meshgrid(ii, jj, indexing="ij")
        self.fx = (gx - mg).float().flatten() + 0.5
        self.fy = (gy - mg).float().flatten() + 0.5
        self.fk = torch.from_numpy(ldi.k).to(device).flatten()
        # the frame pixel each grid pixel shows (mirrored into the margin, as the still was)
        sy = (gy - mg).abs()
        sy = torch.where(sy >= h, 2 * (h - 1) - sy, sy).clamp(0, h - 1)
        sx = (gx - mg).abs()
        sx = torch.where(sx >= w, 2 * (w - 1) - sx, sx).clamp(0, w - 1)
        self.src = (sy * w + sx).flatten()
        self.bx = torch.from_numpy(ldi.back_x).to(device).float() - mg + 0.5
        self.by = torch.from_numpy(ldi.back_y).to(device).float() - mg + 0.5
        self.bk = torch.from_numpy(ldi.back_k).to(device)
        self.brgb = torch.from_numpy(ldi.back_rgb).to(device).float()

    def _footprint(self, x: Tensor, y: Tensor, k: Tensor, m: Motion) -> tuple[Tensor, Tensor, Tensor]:
        """Per point and footprint corner (4N): screen pixel index, bilinear weight, and the point it came from;
        corners off screen are dropped."""
        import torch

        ldi = self.ldi
        h, w = ldi.height, ldi.width
        cx, cy = w / 2.0, h / 2.0
        sc = 1.0 + m.s * k
        sx = cx + (x - cx) * sc + m.ax * k + m.ox - 0.5
        sy = cy + (y - cy) * sc + m.ay * k + m.oy - 0.5
        x0, y0 = sx.floor(), sy.floor()
        fx, fy = sx - x0, sy - y0
        x0l, y0l = x0.long(), y0.long()
        xs = torch.stack([x0l, x0l + 1, x0l, x0l + 1])
        ys = torch.stack([y0l, y0l, y0l + 1, y0l + 1])
        wt = torch.stack([(1 - fx) * (1 - fy), fx * (1 - fy), (1 - fx) * fy, fx * fy])
        keep = (xs >= 0) & (xs < w) & (ys >= 0) & (ys < h) & (wt > 0)
        point = torch.arange(k.shape[0], device=k.device).expand(4, -1)
        return (ys * w + xs)[keep], wt[keep], point[keep]

    def _layer(self, x: Tensor, y: Tensor, k: Tensor, rgb: Tensor, m: Motion) -> tuple[Tensor, Tensor]:
        """One splat: z-buffer, then colour + weight of what is within ``tol`` of it (``acc``) and of the
        rest (``rest``), each ``(H*W, 4)``."""
        import torch

        ldi = self.ldi
        n = ldi.height * ldi.width
        idx, wt, point = self._footprint(x, y, k, m)
        kk = k[point]
        z = torch.full((n,), -1.0, device=self.device)
        claim = wt > 1e-3
        z.scatter_reduce_(0, idx[claim], kk[claim], reduce="amax")
        vals = torch.cat([rgb[point] * wt[:, None], wt[:, None]], dim=1)
        near = kk >= z[idx] - ldi.tol
        acc = torch.zeros((n, 4), device=self.device)
        rest = torch.zeros((n, 4), device=self.device)
        acc.index_add_(0, idx[near], vals[near])
        rest.index_add_(0, idx[~near], vals[~near])
        return acc, rest

    def render(self, frame: Tensor, m: Motion) -> Tensor:
        """``frame`` (``3xHxW`` uint8 on the device) seen from motion ``m``: a ``3xHxW`` uint8 tensor."""
        import torch

        ldi = self.ldi
        h, w = ldi.height, ldi.width
        colours = frame.reshape(3, -1).t().float()[self.src]
        acc, under = self._layer(self.fx, self.fy, self.fk, colours, m)
        if ldi.back_points:
            back, _ = self._layer(self.bx, self.by, self.bk, self.brgb, m)
            under = under + back
        wf, wu = acc[:, 3:], under[:, 3:]
        take = torch.where(
            wu > 0, (1 - wf).clamp(min=0).minimum(wu) / wu.clamp(min=1e-12), torch.zeros_like(wu)
        )
        col = acc[:, :3] + under[:, :3] * take
        total = wf + wu * take
        filled = total[:, 0] > 0
        out = torch.where(filled[:, None], col / total.clamp(min=1e-12), torch.zeros_like(col))
        holes = int((~filled).sum())
        img = out.t().reshape(1, 3, h, w)
        if holes:
            with self._lock:
                self.holes += holes
            mask = filled.float().reshape(1, 1, h, w)
            for _ in range(64):  # grow filled neighbours into the holes (none expected; see the kernels)
                s = torch.nn.functional.avg_pool2d(img * mask, 3, 1, 1)
                c = torch.nn.functional.avg_pool2d(mask, 3, 1, 1)
                grow = (mask == 0) & (c > 0)
                img = torch.where(grow, s / c.clamp(min=1e-12), img)
                mask = torch.where(grow, torch.ones_like(mask), mask)
                if bool(mask.all()):
                    break
        return (img[0] + 0.5).clamp(0, 255).to(torch.uint8)
