"""Symmetric splatting (Holynski et al. 2021, sec. 3.3): how the two integrations of a fluid are blended per pixel.

Frame ``t`` of an ``N``-frame loop shows the still image moved ``t`` steps forward along the flow and, for the
loop to close, the same image moved ``N - t`` steps backward. The paper forward-splats the points of both
(softmax splatting: each point's weight is ``alpha * exp(Z)``, ``alpha = 1 - t/N`` for the forward set and
``t/N`` for the backward one, ``Z`` nearer-is-larger, so a nearer point wins where two land together), then
normalises by the summed weights. Where one direction leaves a hole (the band upstream of a region that its
content has flowed out of), the other one fills it alone; where both leave one, the still shows through.

How it is done here: the points are the low-resolution cells of the integrated displacement field (``96`` rows,
``render.prepare.LOWRES_HEIGHT``), splatted bilinearly once per frame at preparation, each set's sums then
spread over a few cells (``SMOOTH``) before normalising: at this grid a cell that one set's taps happen to miss
(a converging or shearing flow) would otherwise go to the other set alone, a square of other content one cell
(11 px at 1080p) wide. What the splat gives per
cell is kept as two small fields per frame: the normalised share of the backward set (``mix``) and the coverage
(1 where some direction covers the cell as densely as the still does, falling to 0 in a hole of both). The
colours themselves are then read by the compositors' backward gathers of the same trajectories (inverse warps:
the colour a forward splat would put there, where the map is one-to-one), blended with ``mix`` instead of the old
uniform ``t/N``, their displacement scaled by the coverage (a hole shows the still). Splatting every colour
pixel instead would add a scatter per source pixel per frame plus a normalising pass, on a 1080p flood that
already spends most of its 10 s budget (not measured); the weights are what differs from the crossfade, so only
they are splatted.

At ``t = 0`` the backward set has weight 0 and the forward one sits at rest (coverage 1, mix 0); at ``t = N`` the
reverse, with the same zero displacement: frame ``N`` equals frame ``0`` exactly and the loop seams.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt
import torch

if TYPE_CHECKING:
    from torch import Tensor

#: softmax temperature of the depth term: a point nearer by the region's whole nearness range weighs e^1 times
#: more where it lands together with a farther one (the paper's Z; 3D cinemagraphy splats by depth likewise)
NEARER_WINS = 1.0
#: the splat's spread (binomial taps, cells): each set's weights are summed over this neighbourhood before the
#: normalisation, a wider kernel than the bilinear taps' (the paper splats at full resolution, where one missed
#: pixel is invisible; here one missed cell is 11 px at 1080p)
SMOOTH = (1.0, 4.0, 6.0, 4.0, 1.0)
#: frames splatted per batch (bounds the temporaries: 2 sets x chunk x cells x 4 taps)
CHUNK = 24


def _splat(pos: Tensor, weights: tuple[Tensor, ...], lh: int, lw: int) -> tuple[Tensor, ...]:
    """Bilinear forward splat: ``pos`` (B, P, 2) cell coordinates (x, y; cell centre = index), each of
    ``weights`` (B, P) -> (B, lh * lw) summed weights; taps outside the grid are dropped. The taps are found
    once for every weight set (the same points)."""
    b = pos.shape[0]
    x, y = pos[..., 0], pos[..., 1]
    x0, y0 = x.floor(), y.floor()
    fx, fy = x - x0, y - y0
    x0i, y0i = x0.long(), y0.long()
    outs = tuple(torch.zeros((b, lh * lw), device=pos.device) for _ in weights)
    offset = (torch.arange(b, device=pos.device) * (lh * lw))[:, None]
    zero = torch.zeros((), device=pos.device)
    for dy, wy in ((0, 1.0 - fy), (1, fy)):
        for dx, wx in ((0, 1.0 - fx), (1, fx)):
            xi, yi = x0i + dx, y0i + dy
            inside = (xi >= 0) & (xi < lw) & (yi >= 0) & (yi < lh)
            idx = (offset + yi.clamp(0, lh - 1) * lw + xi.clamp(0, lw - 1)).reshape(-1)
            for out, weight in zip(outs, weights, strict=True):
                w = torch.where(inside, weight * wx * wy, zero)
                out.view(-1).index_add_(0, idx, w.reshape(-1))
    return outs


def _smooth(field: Tensor, lh: int, lw: int) -> Tensor:
    """``(B, lh * lw)`` splatted sums, spread by the separable binomial ``SMOOTH`` (edges replicated).

    As sums of shifted slices, not ``conv2d``: a 1x5 single-channel convolution on one intra-op thread took
    ~30 ms per chunk (most of a fluid's preparation, measured), the slices ~1 ms."""
    k = torch.tensor(SMOOTH, dtype=torch.float32)
    taps = [float(v) for v in k / k.sum()]
    r = len(SMOOTH) // 2
    x = field.view(-1, lh, lw)
    for dim, n in ((2, lw), (1, lh)):
        first, last = x.narrow(dim, 0, 1), x.narrow(dim, n - 1, 1)
        padded = torch.cat([first] * r + [x] + [last] * r, dim=dim)
        x = padded.narrow(dim, 0, n) * taps[0]
        for i in range(1, len(taps)):
            x.add_(padded.narrow(dim, i, n), alpha=taps[i])
    return x.reshape(field.shape)


def loop_weights(flows: Tensor, nearness: Tensor, *, crossfade: bool = False) -> Tensor:
    """Per-frame blend fields of a fluid, ``(N + 1, 2, lh, lw)``: channel 0 the backward set's share (the weight
    of the sample traced ``N - t`` steps ahead), channel 1 the coverage.

    ``flows`` is ``render.prepare._integrate``'s ``(N + 1, 4, lh, lw)`` (grid units: 0-1 traced back ``t``
    steps, 2-3 traced ahead ``t`` steps); ``nearness`` ``(lh, lw)``, larger = nearer, any scale (normalised here
    over the cells that move). ``crossfade``: the plain blend (share ``t/N`` everywhere, coverage 1), kept to
    measure against."""
    n1, _, lh, lw = flows.shape
    n = n1 - 1
    device = flows.device
    out = torch.empty((n1, 2, lh, lw), device=device)
    ts = torch.arange(n1, device=device, dtype=torch.float32)
    if crossfade:
        out[:, 0] = (ts / n)[:, None, None]
        out[:, 1] = 1.0
        return out
    moving = (flows[n].abs().amax(dim=0) > 0) | (flows[n // 2].abs().amax(dim=0) > 0)
    z = nearness.float()
    if bool(moving.any()):
        lo, hi = float(z[moving].min()), float(z[moving].max())
        z = (z - lo) / max(hi - lo, 1e-6)
    else:
        z = torch.zeros_like(z)
    softz = torch.exp(NEARER_WINS * z.clamp(-1.0, 2.0)).reshape(-1)
    cy, cx = torch.meshgrid(
        torch.arange(lh, device=device, dtype=torch.float32),
        torch.arange(lw, device=device, dtype=torch.float32),
        indexing="ij",
    )
    cells = torch.stack([cx, cy], dim=-1).reshape(1, -1, 2)
    scale = torch.tensor([lw / 2.0, lh / 2.0], device=device)  # grid units -> cells
    inference = torch.is_inference_mode_enabled()  # thread-local: the pool's threads take the caller's

    def chunk(s: int) -> None:
        with torch.inference_mode(inference):
            _chunk(s)

    def _chunk(s: int) -> None:
        e = min(n1, s + CHUNK)
        t = ts[s:e]
        # the forward set: moved t steps ahead; the backward set: moved N - t steps back
        fwd = flows[s:e, 2:4].permute(0, 2, 3, 1).reshape(e - s, -1, 2)
        bwd = flows[n - e + 1 : n - s + 1, 0:2].flip(0).permute(0, 2, 3, 1).reshape(e - s, -1, 2)
        pos = torch.cat([cells + fwd * scale, cells + bwd * scale])
        alpha = torch.cat([1.0 - t / n, t / n])[:, None]
        ones = torch.ones((2 * (e - s), lh * lw), device=device)
        dens, soft = _splat(pos, (ones, alpha * softz[None, :]), lh, lw)
        # normalised over a few cells, not per cell: a cell that one set happens to miss between its neighbours'
        # taps (a stretching or shearing field) would otherwise flip alone to the other set (a cell-sized square)
        soft = _smooth(soft, lh, lw)
        dens = _smooth(dens, lh, lw)
        wf, wb = soft[: e - s], soft[e - s :]
        total = wf + wb
        share = torch.where(total > 1e-6, wb / total.clamp_min(1e-6), (t / n)[:, None].expand_as(total))
        df = torch.where((t < n)[:, None], dens[: e - s], torch.zeros((), device=device))
        db = torch.where((t > 0)[:, None], dens[e - s :], torch.zeros((), device=device))
        out[s:e, 0] = share.reshape(e - s, lh, lw)
        # covered: some set lands at least half as densely as at rest (a stretching flow thins it, a hole empties it)
        out[s:e, 1] = (torch.maximum(df, db) * 2.0).clamp(0.0, 1.0).reshape(e - s, lh, lw)

    # the chunks are independent (each writes its own frames of ``out``): on CPU two at a time, torch leaves the
    # GIL in its ops (a fluid's preparation is most of an animator's, and on the cold path)
    starts = range(0, n1, CHUNK)
    if device.type == "cpu" and len(starts) > 1:
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="loop-weights") as pool:
            list(pool.map(chunk, starts))
    else:
        for s in starts:
            chunk(s)
    # the seam, exactly: at rest the forward set alone (t = 0) and the backward set alone (t = N)
    out[0, 0], out[0, 1], out[n, 0], out[n, 1] = 0.0, 1.0, 1.0, 1.0
    return out


def sharpness(frame: npt.NDArray[np.uint8], region: npt.NDArray[np.bool_]) -> float:
    """Variance of the Laplacian of the frame's luma inside ``region`` (a ghosting measure: two half-weighted
    copies of a texture blended together have about half the Laplacian variance of one)."""
    luma = frame.astype(np.float32) @ np.asarray([0.299, 0.587, 0.114], np.float32)
    lap = np.zeros_like(luma)
    lap[1:-1, 1:-1] = (
        luma[:-2, 1:-1] + luma[2:, 1:-1] + luma[1:-1, :-2] + luma[1:-1, 2:] - 4.0 * luma[1:-1, 1:-1]
    )
    return float(lap[region].var())
