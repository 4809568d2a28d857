"""Animate a scene into a seamless loop: Eulerian fluid motion + particle sheets + sway + 3D camera.

Fluids (Holynski et al. 2021, "Animating Pictures with Eulerian Motion Fields"): each fluid region has a
constant velocity field ``v``. Euler integration traces where the content at ``x`` came from after ``t`` steps
(``p <- p - v(p)``) and where it will be after ``N - t`` steps (``p <- p + v(p)``); the frame blends the two
samples by symmetric splatting (``render.splat``): both point sets are splatted with weights ``1 - t/N`` and
``t/N`` (nearer wins), normalised per pixel, so one fills alone where the other has moved out; frame ``N``
equals frame ``0`` and the clip loops (``RenderParams.loop = "crossfade"``: the plain ``t/N`` blend). Velocity
is zero outside a region, so trajectories stall at its edge: motion is confined to the mask exactly. Surface
fluids (water, mud, and fire, whose heat pattern rises inside fixed flame shapes) flow their colour under a fixed
silhouette; volumetric ones (smoke, haze) flow colour and coverage together.

Particle sheets (snow, rain, dust) are periodic textures scrolled by a whole number of wraps per loop; sway and
earthquake shake are periodic in the loop too. Then every layer is placed by the camera pose for its depth and
alpha-composited far -> near. Work is confined to each layer's bounding box; tensors stay on one device.

Where it lives: this module places the layers for each frame and drives the render (``Animator``,
``render_loop``); ``render.prepare`` builds the frozen per-layer values of ``render.prepared`` once;
``render.periodic`` holds what repeats once per loop (shake, sheet wraps, gusts); ``render.compositor`` picks, once
per animator, the ``BandCompositor`` that turns a band of placed layers into bytes: ``render.compositor_fused``
(numba kernels, CPU) or ``render.compositor_torch`` (CUDA, or a CPU without the kernels).
"""

from __future__ import annotations

import contextlib
import math
import threading
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from cinealert.errors import Cancelled
from cinealert.render.camera import cover_zoom, max_shift, pose
from cinealert.render.compositor_fused import FusedCompositor, kernels_ready
from cinealert.render.periodic import shake_offset, wraps_per_loop
from cinealert.render.prepared import SWAY_AT_TOP, PreparedLayer, RenderParams, Window
from cinealert.render.scene import Scene

if TYPE_CHECKING:
    import torch
    from torch import Tensor

    from cinealert.render.compositor import BandCompositor
    from cinealert.render.ldi import Parallax
    from cinealert.render.ldi.build import Inpainter
    from cinealert.render.prepared import Geometry

__all__ = [
    "Animator",
    "RenderCancelled",
    "RenderParams",
    "kernels_ready",
    "render_loop",
    "shake_offset",
    "wraps_per_loop",
]


class RenderCancelled(Cancelled):  # mirrors handlers.StageCancelled
    """Rendering stopped between frames because the cancel event was set."""


class Animator:
    """Prepared once per (scene, params); ``frames()`` yields ``HxWx3`` uint8 numpy frames lazily.

    The layers are prepared once (``render.prepare``: frozen ``PreparedLayer`` values) and the compositor is
    chosen once (``render.compositor``); a frame places every layer for frame ``t`` (a ``Window`` each), cuts
    the frame into the compositor's bands, and skips, per band, the layers an opaque nearer one hides.
    """

    def __init__(
        self,
        scene: Scene,
        params: RenderParams,
        device: torch.device | None = None,
        *,
        fused: bool | None = None,
    ) -> None:
        from cinealert.render.compositor import choose_compositor
        from cinealert.render.device import cpu_budget, get_device
        from cinealert.render.prepare import prepare_layers

        self.scene = scene
        self.params = params
        self.device = device if device is not None else get_device()
        self.n = int(params.num_frames)
        if self.n < 2:
            raise ValueError("a loop needs at least 2 frames")
        h, w = scene.height, scene.width
        self.h, self.w = h, w
        self.shake = scene.shake * h / 1080.0 if params.shake else 0.0
        self.zoom = self.zoom_for(scene, params)
        # layers are prepared side by side on CPU (big torch ops release the GIL); one at a time on a GPU
        workers = cpu_budget() if self.device.type == "cpu" else 1
        self.geo: Geometry
        self.prepared: tuple[PreparedLayer, ...]
        self.geo, self.prepared = prepare_layers(scene, params, self.device, self.zoom, self.shake, workers)
        # CPU frames go through the fused kernels (render.kernels) unless told otherwise or they cannot compile
        self.compositor: BandCompositor = choose_compositor(self.geo, self.prepared, fused)
        # a camera at rest (the LDI's fluid frames): the still layers under the lowest moving one never change,
        # so each band's composite of them is kept (per band: the layers it covers) instead of redone per frame
        at_rest = (params.camera == "static" or params.amplitude <= 0) and self.shake == 0
        self._under: dict[tuple[int, tuple[int, ...]], npt.NDArray[np.float32]] | None = (
            {} if at_rest and isinstance(self.compositor, FusedCompositor) else None
        )

    @staticmethod
    def zoom_for(scene: Scene, params: RenderParams) -> float:
        """The cover zoom an animator of ``scene`` for ``params`` renders at: enough that no camera shift, shake
        or sway pulls in a blank edge."""
        h, w = scene.height, scene.width
        shake = scene.shake * h / 1080.0 if params.shake else 0.0
        nearest = min(layer.mean_depth for layer in scene.layers)
        sx, sy = max_shift(params.camera, params.amplitude, nearest, h)
        sway_px = max((layer.sway for layer in scene.layers), default=0.0) * SWAY_AT_TOP * h
        return cover_zoom(w, h, (sx + 1.6 * shake + sway_px, sy + 1.6 * shake))

    @property
    def fused(self) -> bool:
        """Whether frames go through the fused CPU kernels (else through torch ops)."""
        return self.compositor.name == "fused"

    def frames(self, cancel: threading.Event | None = None) -> Iterator[npt.NDArray[np.uint8]]:
        import torch

        with torch.inference_mode():
            for t in range(self.n):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {t}/{self.n}")
                frame = self.frame(t)
                yield frame.permute(1, 2, 0).contiguous().cpu().numpy()

    def frame(self, t: int) -> Tensor:
        """Frame ``t`` as a (3, H, W) uint8 tensor on the device."""
        import torch

        out = torch.empty((self.h, self.w, 3), dtype=torch.uint8, device=self.device)
        self.frame_into(t, out)
        return out.permute(2, 0, 1)

    def frame_into(self, t: int, dst: Tensor) -> None:
        """Render frame ``t`` into ``dst``, an (H, W, 3) uint8 tensor on the device (a numpy frame, on CPU; on
        the fused path it may be (H, W, 4), whose 4th channel is left as it was: the LDI warp's still).

        The frame is composited in the compositor's bands (``STRIP_ROWS`` rows on CPU): every layer's work then
        stays in the core's cache instead of streaming full-frame float32 temporaries through memory (2-3x
        faster, measured); the arithmetic per pixel is the same. Per band, layers that an opaque nearer one
        hides there are skipped.
        """
        windows = self.windows(t)
        rows = self.compositor.band_rows
        # the prepared backdrop overwrites every pixel of the band, so it needs no zero fill underneath
        backdrop = bool(windows) and windows[0].prep.index == 0 and windows[0].prep.canvas is not None
        for s0 in range(0, self.h, rows):
            s1 = min(self.h, s0 + rows)
            first = self._first_shown(windows, s0, s1)
            shown = windows[first:]
            still = _still_prefix(shown) if self._under is not None else 0
            if still < 2:  # one layer: its pass costs about what copying its composite would
                self.compositor.band(t, s0, s1, shown, dst, first == 0 and backdrop)
                continue
            self._band_over_still(t, s0, s1, shown, still, dst, first == 0 and backdrop)

    def _band_over_still(self, t: int, s0: int, s1: int, shown: list[Window], still: int, dst: Tensor,
                         backdrop: bool) -> None:  # fmt: skip
        """A band of a frame at rest: ``shown[still:]`` over the kept composite of the ``still`` layers under
        them (made on first use; two threads making it at once make the same values)."""
        assert self._under is not None and isinstance(self.compositor, FusedCompositor)
        key = (s0, tuple(win.prep.index for win in shown[:still]))
        under = self._under.get(key)
        if under is None:
            under = self.compositor.composite(t, s0, s1, shown[:still], backdrop)
            self._under[key] = under
        self.compositor.band(t, s0, s1, shown[still:], dst, False, under)

    def windows(self, t: int) -> list[Window]:
        """Every layer placed for frame ``t`` (camera pose for its depth, plus the shake), far -> near, with the
        screen rows and columns it can touch; layers with nothing on screen are left out."""
        h, w = self.h, self.w
        shx, shy = shake_offset(t, self.n, self.shake)
        cx, cy = w / 2.0, h / 2.0
        windows: list[Window] = []
        for prep in self.prepared:
            p = pose(self.params.camera, self.params.amplitude, prep.depth, t, self.n, h)
            scale = p.scale * self.zoom
            dx, dy = p.dx + shx, p.dy + shy
            if prep.layer.wrap or prep.index == 0:
                windows.append(Window(prep, dx, dy, scale, 0, h, 0, w))
                continue
            r0, r1 = prep.rows
            c0, c1 = prep.cols
            if r1 <= r0 or c1 <= c0:
                continue
            pad = 2.0 + (float(prep.sway_profile.max()) if prep.sway_profile is not None else 0.0)
            r0 = max(0, math.floor(cy + (r0 - cy) * scale + dy - pad))
            r1 = min(h, math.ceil(cy + (r1 - cy) * scale + dy + pad))
            c0 = max(0, math.floor(cx + (c0 - cx) * scale + dx - pad))
            c1 = min(w, math.ceil(cx + (c1 - cx) * scale + dx + pad))
            if r1 > r0 and c1 > c0:
                windows.append(Window(prep, dx, dy, scale, r0, r1, c0, c1))
        return windows

    def _first_shown(self, windows: list[Window], s0: int, s1: int) -> int:
        """Index of the nearest window that hides everything under it in screen rows ``s0:s1`` (0: none)."""
        for i in range(len(windows) - 1, 0, -1):
            win = windows[i]
            canvas = win.prep.canvas
            if canvas is not None and canvas.row_opaque is not None:
                ky = math.floor(self.geo.my - win.dy)
                if canvas.row_opaque[s0 + ky : s1 + ky + 1].all():
                    return i
        return 0


def _still_prefix(windows: list[Window]) -> int:
    """How many of ``windows`` (far -> near) from the farthest on neither flow, sway nor scroll: with the camera
    at rest they composite to the same pixels every frame."""
    for i, win in enumerate(windows):
        prep = win.prep
        if prep.fluid is not None or prep.layer.wrap or prep.sway_profile is not None:
            return i
    return len(windows)


class _IntraOpThreads:
    """Reference-counted ``torch.set_num_threads(1)`` while renders run.

    Frames render in parallel worker threads instead: intra-op OpenMP threads spin-wait, and on a busy
    two-core host that made 2-thread ops 6-12x slower than 1-thread ops (measured). Counted, so two
    concurrent renders restore the process setting only when the last one ends."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._users = 0
        self._before = 0

    @contextlib.contextmanager
    def __call__(self, device: torch.device) -> Iterator[None]:
        import torch

        if device.type != "cpu":
            yield
            return
        with self._lock:
            if self._users == 0:
                self._before = torch.get_num_threads()
                torch.set_num_threads(1)
            self._users += 1
        try:
            yield
        finally:
            with self._lock:
                self._users -= 1
                if self._users == 0:
                    torch.set_num_threads(self._before)


#: One per process on purpose: torch's intra-op thread count is itself process-wide, so the count of renders
#: holding it at 1 must be too (a per-render counter would let one render restore it under another).
_one_thread_per_op = _IntraOpThreads()


def render_loop(
    scene: Scene,
    params: RenderParams,
    *,
    out: Any = None,
    cancel: threading.Event | None = None,
    workers: int | None = None,
    parallax: Parallax = "bands",
    inpainter: Inpainter | None = None,
) -> Any:
    """All frames into ``out`` (anything that takes ``out[t] = frame``: an ``(N, H, W, 3)`` uint8 array or
    memory map, or the cache's compressing sink, which then runs in the worker threads too) or a new array.

    On CPU, ``workers`` threads (default: the CPUs this process may use) each render whole frames; torch
    releases the GIL inside ops, so this scales without oversubscribing the cores.

    ``parallax`` picks the 3D step: ``bands`` places each layer by its median depth (``Animator``), ``ldi``
    re-projects the animated picture per pixel through a layered depth image (``render.ldi.LdiAnimator``),
    ``auto`` takes the LDI for scenes with a per-pixel depth map (``render.ldi.resolve_parallax``). The LDI's
    back layers are filled by ``inpainter`` (the scene backend's model, ``ml.inpaint_model_dir``) or Telea.
    """
    import torch

    from cinealert.render.device import cpu_budget, get_device
    from cinealert.render.ldi import LdiAnimator, resolve_parallax

    device = get_device()
    with _one_thread_per_op(
        device
    ):  # preparation too: spin-waiting intra-op threads made it 5x slower under load
        anim: Animator | LdiAnimator
        if resolve_parallax(parallax, scene) == "ldi":
            anim = LdiAnimator(scene, params, device, inpainter=inpainter)
        else:
            anim = Animator(scene, params, device)
    if out is None:
        out = np.empty((params.num_frames, scene.height, scene.width, 3), dtype=np.uint8)
    target = out
    n_workers = workers or (cpu_budget() if anim.device.type == "cpu" else 1)

    def one(t: int) -> None:
        with torch.inference_mode():
            if anim.device.type == "cpu":  # straight into a numpy frame: no (3, H, W) detour, no extra copy
                frame = np.empty((anim.h, anim.w, 3), dtype=np.uint8)
                anim.frame_into(t, torch.from_numpy(frame))
                target[t] = frame
            else:
                target[t] = anim.frame(t).permute(1, 2, 0).cpu().numpy()

    with _one_thread_per_op(anim.device):
        if n_workers <= 1:
            for t in range(anim.n):
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {t}/{anim.n}")
                one(t)
            return out
        # a sliding window of twice the workers' frames in flight (not batches waited for whole: a batch's
        # last frame left the other threads idle), so the sink holds only a handful of frames out of order
        with ThreadPoolExecutor(max_workers=n_workers, thread_name_prefix="render") as pool:
            pending: deque[Future[None]] = deque()
            for t in range(anim.n):
                if len(pending) >= n_workers * 2:
                    pending.popleft().result()
                if cancel is not None and cancel.is_set():
                    raise RenderCancelled(f"render cancelled at frame {t}/{anim.n}")
                pending.append(pool.submit(one, t))
            for future in pending:
                future.result()
    return out
