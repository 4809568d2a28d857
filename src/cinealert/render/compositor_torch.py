"""The torch compositor: every layer placed by tensor ops (slices + sub-pixel lerps, ``grid_sample`` warps).

The path of a CUDA device (whole-frame bands) and of a CPU without the fused kernels (128-row bands that stay in
cache). Every step is a pass over a float32 temporary, so on CPU it is memory-bound; the fused compositor
(``render.compositor_fused``) does the same maths in one or two passes per layer instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch

from cinealert.render.prepared import (
    SOFT_STEP,
    STRIP_ROWS,
    SURFACE_KINDS,
    Canvas,
    FluidMotion,
    Geometry,
    PreparedLayer,
    SparseSheet,
    Window,
)

if TYPE_CHECKING:
    from torch import Tensor

DISP_STEP = 4  # the smooth displacement field is gathered every 4th px and upsampled


def sample(tex: Tensor, grid: Tensor, padding: str = "zeros") -> Tensor:
    """Bilinear sample of a (C, H, W) texture on an (h, w, 2) grid in ``[-1, 1]`` units.

    Camera placement pads with zeros (transparent), so a layer that did not cover the frame would show a
    hole, which the cover zoom prevents and the tests check; displaced fluid samples clamp to the edge.
    """
    out: Tensor = torch.nn.functional.grid_sample(
        tex[None], grid[None], mode="bilinear", padding_mode=padding, align_corners=False
    )
    return out[0]


class TorchCompositor:
    """``BandCompositor`` made of torch ops; reads the prepared layers, keeps no per-frame state."""

    name = "torch"

    def __init__(self, geo: Geometry) -> None:
        self.geo = geo
        self.device = geo.device
        # on CPU, bands that stay in the core's cache instead of streaming full-frame float32 temporaries
        # through memory (2-3x faster, measured); a GPU takes the frame in one band
        self.band_rows = STRIP_ROWS if geo.device.type == "cpu" else geo.h

    def band(self, t: int, s0: int, s1: int, windows: Sequence[Window], dst: Tensor, backdrop: bool) -> None:
        """Screen rows ``s0:s1`` of frame ``t`` into ``dst`` (H, W, 3 bytes); ``backdrop``: the first window
        covers every pixel of the band (no zero fill needed)."""
        w = self.geo.w
        if backdrop:
            out = torch.empty((3, s1 - s0, w), device=self.device)
        else:
            out = torch.zeros((3, s1 - s0, w), device=self.device)
        for win in self.geo.in_band(windows, s0, s1):
            self._layer(out[:, win.r0 - s0 : win.r1 - s0], win, t)
        out.clamp_(0.0, 255.0)
        if self.device.type == "cpu":
            # one numpy pass per plane rounds (+0.5, then the cast truncates) and interleaves straight into
            # the frame: half the cost of add, cast to uint8 planes, then interleave (measured)
            rows, planes = dst[s0:s1].numpy(), out.numpy()
            for c in range(3):
                np.add(planes[c], np.float32(0.5), out=rows[..., c], casting="unsafe")
        else:
            dst[s0:s1].copy_(out.add_(0.5).to(torch.uint8).permute(1, 2, 0))

    def _layer(self, out: Tensor, win: Window, t: int) -> None:
        """Composite one layer over its window; ``out`` holds exactly the window's screen rows."""
        prep, geo = win.prep, self.geo
        r0, r1, c0, c1 = win.r0, win.r1, win.c0, win.c1
        view = out[:, :, c0:c1]
        canvas = prep.canvas
        if canvas is not None:
            if prep.index == 0 and prep.fluid is None and not prep.layer.wrap and prep.sway_profile is None:
                # the opaque backdrop: nothing under it to blend, so only its colour, placed straight into out
                self._shifted(
                    canvas.tex[:3], r0, c0, r1 - r0, c1 - c0, geo.my - win.dy, geo.mx - win.dx, out=view
                )
                return
            if canvas.sparse is not None:
                self._sparse_over(view, canvas.sparse, win, t)
                return
            layer = self._fast_layer(canvas, win, t)
            if prep.index == 0:
                view.copy_(layer[:3])
                return
            view.addcmul_(view, layer[3:4], value=-1.0).add_(layer[:3])
            return
        gx, gy, py = geo.scaled_grid(win, t)
        grid = torch.empty((r1 - r0, c1 - c0, 2), device=self.device)
        grid[..., 0] = gx[None, :]
        grid[..., 1] = gy[:, None]
        if prep.sway_profile is not None:
            grid[..., 0] -= geo.sway_dx(prep, py, t)[:, None]
        layer = self._sample_fluid(prep, grid, t) if prep.fluid is not None else sample(prep.tex, grid)
        view.addcmul_(view, layer[3:4], value=-1.0).add_(layer[:3])  # over: out*(1-a) + premultiplied

    def _sparse_over(self, view: Tensor, sheet: SparseSheet, win: Window, t: int) -> None:
        """A whole-pixel sheet's covered pixels only, composited over ``view`` (the window's screen pixels).

        A rain sheet covers a few percent of the frame: gathering those pixels, blending and scattering them
        back gives the same values as blending the full-frame sheet, at a fraction of the memory traffic."""
        fy, fx = self.geo.wrap_offset(win.prep, t, win.dx, win.dy)
        oy, ox = int(fy), int(fx)
        a, b = int(sheet.ptr[win.r0 + oy]), int(sheet.ptr[win.r1 + oy])
        if b <= a:
            return
        cc = sheet.cols[a:b] - (win.c0 + ox)
        keep = (cc >= 0) & (cc < win.c1 - win.c0)
        rr, cc, v = sheet.rows[a:b][keep] - (win.r0 + oy), cc[keep], sheet.vals[:, a:b][:, keep]
        cur = view[:, rr, cc]
        view[:, rr, cc] = cur.addcmul_(cur, v[3:4], value=-1.0).add_(v[:3])

    def _fast_layer(self, canvas: Canvas, win: Window, t: int) -> Tensor:
        """The layer's premultiplied RGBA over the screen window, from its prepared canvas."""
        prep, geo = win.prep, self.geo
        r0, c0, hh, ww = win.r0, win.c0, win.r1 - win.r0, win.c1 - win.c0
        if prep.layer.wrap:
            oy, ox = geo.wrap_offset(prep, t, win.dx, win.dy)
            return self._shifted(canvas.tex, r0, c0, hh, ww, oy, ox)
        oy, ox = geo.my - win.dy, geo.mx - win.dx  # canvas index of screen pixel 0
        if prep.sway_profile is not None:
            return self._swayed(canvas.tex, win, t, oy, ox)
        if prep.fluid is None:
            return self._shifted(canvas.tex, r0, c0, hh, ww, oy, ox)
        ky, kx = math.floor(oy), math.floor(ox)
        buf = self._fluid_canvas(prep, canvas, t, r0 + ky, r0 + ky + hh + 1, c0 + kx, c0 + kx + ww + 1)
        return self._shifted(buf, 0, 0, hh, ww, oy - ky, ox - kx)

    def _swayed(self, z: Tensor, win: Window, t: int, oy: float, ox: float) -> Tensor:
        """A swaying layer (canvas ``z``) over the window: each row slid sideways on the canvas by its own sway.

        Rows with the same whole-pixel offset are cut as one slice and lerped with per-row weights, so a frame
        costs three lerps instead of a full bilinear gather (the sway varies slowly down the layer)."""
        r0, c0, hh, ww = win.r0, win.c0, win.r1 - win.r0, win.c1 - win.c0
        row_x = self.geo.sway_rows(win.prep, t, win.dy, r0, hh, ox)
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
        return out

    def _shifted(
        self, z: Tensor, r0: int, c0: int, hh: int, ww: int, oy: float, ox: float, out: Tensor | None = None
    ) -> Tensor:
        """``z`` sampled at ``[r0 + oy, c0 + ox]`` onward (``hh`` x ``ww``): integer slice + sub-pixel lerps.

        With ``out``, the result is written there (the last pass writes it directly, no extra copy)."""
        ky, kx = math.floor(oy), math.floor(ox)
        fy, fx = oy - ky, ox - kx
        y, x = r0 + ky, c0 + kx
        wy = 1 if fy > 1e-4 else 0  # one extra row when blending vertically
        rows = z[:, y : y + hh + wy, x : x + ww]
        if fx > 1e-4:  # horizontal blend once over hh + 1 rows, then the vertical blend: 2 passes, not 3
            nxt = z[:, y : y + hh + wy, x + 1 : x + 1 + ww]
            if out is not None and not wy:
                return torch.lerp(rows, nxt, fx, out=out)
            rows = torch.lerp(rows, nxt, fx)
        if out is None:
            return torch.lerp(rows[:, :hh], rows[:, 1:], fy) if wy else rows
        return torch.lerp(rows[:, :hh], rows[:, 1:], fy, out=out) if wy else out.copy_(rows)

    def _fluid_canvas(
        self, prep: PreparedLayer, canvas: Canvas, t: int, y0: int, y1: int, x0: int, x1: int
    ) -> Tensor:
        """The animated fluid layer (premultiplied RGBA) over canvas rows ``y0:y1``, cols ``x0:x1``."""
        fluid = prep.fluid
        assert fluid is not None and canvas.grid is not None
        want_h, want_w = y1 - y0, x1 - x0
        y1, x1 = min(y1, canvas.tex.shape[1]), min(x1, canvas.tex.shape[2])
        grid = canvas.grid[y0:y1, x0:x1]
        fixed = canvas.tex[:, y0:y1, x0:x1]  # [still part, (alpha), weight of the moved part]
        flows = self._flows(fluid, t)
        surface = fluid.kind in SURFACE_KINDS
        chans = prep.tex[:3] if surface else prep.tex[:4]
        hh, ww = grid.shape[:2]
        # smoke, haze and fire's colour are soft: warped at half resolution from a half-size texture, then
        # upsampled (a quarter of the gathers, and those stay in cache); the blend with the full-size mask keeps
        # the motion confined to it
        soft = (not surface or self.geo.half(fluid.kind)) and hh >= 4 * SOFT_STEP and ww >= 4 * SOFT_STEP
        if soft:
            grid = grid[::SOFT_STEP, ::SOFT_STEP].contiguous()
        back, ahead, share = self._positions(flows, grid)
        if soft and fluid.soft_tex is not None:
            chans = fluid.soft_tex[: chans.shape[0]]
        a = sample(chans, back, "border")
        b = sample(chans, ahead, "border")
        moved = a.lerp_(b, share[None])  # symmetric splatting's normalised shares (render.splat)
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
        return buf

    def _flows(self, fluid: FluidMotion, t: int) -> Tensor:
        """Frame ``t``'s low-res fields, ``(6, h, w)``: traced back ``t`` steps, traced ahead ``N - t`` steps,
        the ahead sample's share and the coverage (``render.splat``; the plain crossfade without them)."""
        n = self.geo.n
        if fluid.mix is None:
            mix = torch.empty_like(fluid.flows[t, 0:2])
            mix[0], mix[1] = t / n, 1.0
        else:
            mix = fluid.mix[t]
        return torch.cat([fluid.flows[t, 0:2], fluid.flows[n - t, 2:4], mix])

    def _positions(self, flows: Tensor, grid: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Where the two symmetric samples come from: ``grid`` moved by the backward and by the forward
        displacement (each scaled by the coverage), each ``(h, w, 2)``, and the ahead sample's share ``(h, w)``.

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
            disp = sample(flows, grid, "border").permute(1, 2, 0)
            cov = disp[..., 5:6]
            return grid + disp[..., 0:2] * cov, grid + disp[..., 2:4] * cov, disp[..., 4]
        cgrid = grid[::k, ::k].contiguous()
        coarse = sample(flows, cgrid, "border")
        coarse = torch.cat([coarse[0:4] * coarse[5:6], coarse[4:5]])
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
        return fine[..., 0:2], fine[..., 2:4], fine[..., 4]

    def _upsample(self, coarse: Tensor, k: int, hh: int, ww: int) -> Tensor:
        """``(C, h, w)`` values taken at every ``k``-th point of an ``hh`` x ``ww`` grid, bilinearly filled in
        (coarse sample ``i`` sits at fine index ``i*k``; past the last one the edge repeats).

        Separable: across at the coarse rows only (a ``k``-th of the output), then down as one broadcast lerp
        per block of ``k`` rows, so the full-size output is written in one streaming pass instead of by a
        per-pixel bilinear kernel (the same values to float rounding)."""
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
        return out[:, :hh]

    def _sample_fluid(self, prep: PreparedLayer, grid: Tensor, t: int) -> Tensor:
        """A fluid layer resampled at its own scale (the dolly): at rest, then the symmetric warp blended in."""
        fluid = prep.fluid
        assert fluid is not None
        rest = sample(prep.tex, grid)  # [colour(3), alpha, mask] at rest
        disp = sample(self._flows(fluid, t), grid, "border").permute(1, 2, 0)
        surface = fluid.kind in SURFACE_KINDS
        chans = prep.tex[:3] if surface else prep.tex[:4]
        cov = disp[..., 5:6]
        a = sample(chans, grid + disp[..., 0:2] * cov, "border")
        b = sample(chans, grid + disp[..., 2:4] * cov, "border")
        moved = a.lerp_(b, disp[..., 4][None])  # symmetric splatting's normalised shares (render.splat)
        m = rest[4:5]
        if surface:
            rgb = rest[:3].lerp_(moved, m)
            alpha = rest[3:4]
            return torch.cat([rgb * alpha, alpha])
        return rest[:4].lerp_(moved, m)
