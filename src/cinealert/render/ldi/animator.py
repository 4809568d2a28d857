"""The LDI animator: fluids animated in image space as today, then every frame re-projected in 3D.

Why this split: the fluid compositor (``render.animate.Animator``) already makes the moving water, fire and
smoke, sway and particle sheets exactly and seamlessly in image space. Run with the camera at rest (no shake,
no parallax), it gives the animated picture as the still's own pixels; the layered depth image of that still
(``render.ldi.build``) then carries each pixel to where the camera pose puts it for its own depth
(``render.ldi.splat``). So parallax is per pixel (a slope recedes smoothly, not as three rigid cards), the
uncovered parts show inpainted back layers instead of being hidden by a zoom, and the loop stays seamless
because the camera path and the fluids both are periodic.

It has the ``Animator`` interface ``render.animate.render_loop`` drives (``n``, ``h``, ``w``, ``device``,
``frame_into``, ``frame``).
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt
import structlog

from cinealert.render.ldi.build import Inpainter, Ldi, build_ldi
from cinealert.render.ldi.path import CameraPath
from cinealert.render.ldi.splat import NumbaSplat, TorchSplat
from cinealert.render.ldi.warp import SurfaceWarp, is_one_surface
from cinealert.render.prepared import RenderParams
from cinealert.render.scene import Scene

if TYPE_CHECKING:
    import torch
    from torch import Tensor

Parallax = Literal["auto", "bands", "ldi"]
PARALLAX: tuple[Parallax, ...] = ("auto", "bands", "ldi")

log = structlog.get_logger()


def has_depth_map(scene: Scene) -> bool:
    """Whether the scene has per-pixel depth (a photo's depth estimate), not only one depth per layer."""
    for layer in scene.layers:
        if not layer.wrap and isinstance(layer.depth, np.ndarray):
            d = layer.depth
            if float(d.max()) > float(d.min()):
                return True
    return False


def resolve_parallax(parallax: Parallax, scene: Scene) -> Literal["bands", "ldi"]:
    """``auto``: the LDI for scenes with a per-pixel depth map (the photo path), bands for drawn ones, whose
    layers are flat cards anyway and which the bands render fastest (see docs/render-ldi.md for the figures)."""
    if parallax == "auto":
        return "ldi" if has_depth_map(scene) else "bands"
    return parallax


def at_zoom(image: npt.NDArray[Any], zoom: float, nearest: bool) -> npt.NDArray[Any]:
    """``image`` zoomed about the frame centre as the animator zooms layers (pixel centres at +0.5)."""
    import cv2

    if zoom == 1.0:
        return image
    h, w = image.shape[:2]
    cx, cy = w / 2.0 - 0.5, h / 2.0 - 0.5
    mat = np.array([[zoom, 0.0, (1.0 - zoom) * cx], [0.0, zoom, (1.0 - zoom) * cy]], dtype=np.float64)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    return np.asarray(cv2.warpAffine(image, mat, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE))


class LdiAnimator:
    """Prepared once per (scene, params): the image-space animator at rest, the LDI, the splat."""

    def __init__(
        self,
        scene: Scene,
        params: RenderParams,
        device: torch.device | None = None,
        *,
        fused: bool | None = None,
        max_layers: int = 3,
        inpainter: Inpainter | None = None,
        surface_warp: bool = True,
    ) -> None:
        from cinealert.render.animate import Animator

        at_rest = RenderParams("static", 0.0, params.num_frames, shake=False)
        self.n, self.h, self.w = int(params.num_frames), scene.height, scene.width
        shake = scene.shake * self.h / 1080.0 if params.shake else 0.0
        self.path = CameraPath.of(params.camera, params.amplitude, self.n, self.w, self.h, shake)
        zoom = Animator.zoom_for(scene, at_rest)

        def lift() -> Ldi:
            still = at_zoom(scene.image, zoom, nearest=False)
            depth = at_zoom(scene.depth, zoom, nearest=True)
            return build_ldi(np.asarray(still, np.uint8), np.asarray(depth, np.float32), self.path,
                             max_layers=max_layers, inpainter=inpainter)  # fmt: skip

        # the LDI (cv2: dilation, min filters, inpainting) is built while the fluid layers are prepared: that
        # preparation leaves a core idle whenever the scene has fewer fluids than cores
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="ldi-build") as pool:
            lifted = pool.submit(lift)
            self.base = Animator(scene, at_rest, device, fused=fused)
            self.ldi: Ldi = lifted.result()
        self.device = self.base.device
        self.splat: NumbaSplat | TorchSplat
        kernels = _kernels() if self.device.type == "cpu" else None
        #: a depth map with no edge (a photo's smooth estimate) moves as one surface: a backward warp draws it
        #: a few times faster than the splat (``render.ldi.warp``), which stays for any frame the warp declines
        self.warp: SurfaceWarp | None = None
        if kernels is not None:
            self.splat = NumbaSplat(self.ldi, kernels)
            if surface_warp and is_one_surface(self.ldi, self.path):
                self.warp = SurfaceWarp(self.ldi)
        else:
            self.splat = TorchSplat(self.ldi, self.device)
        self._local = threading.local()
        log.debug("render.ldi", layers=self.ldi.layers, back_points=self.ldi.back_points,
                  margin=self.ldi.margin, splat=self.splat.name, warp=self.warp is not None)  # fmt: skip

    @property
    def holes(self) -> int:
        """Pixels nothing landed on, over every frame so far (filled from neighbours; none expected)."""
        return self.splat.holes

    def frame(self, t: int) -> Tensor:
        """Frame ``t`` as a (3, H, W) uint8 tensor on the device."""
        import torch

        if isinstance(self.splat, TorchSplat):
            return self.splat.render(self.base.frame(t), self.path.motions[t % self.n])
        out = torch.empty((self.h, self.w, 3), dtype=torch.uint8)
        self.frame_into(t, out)
        return out.permute(2, 0, 1)

    def frame_into(self, t: int, dst: Tensor) -> None:
        """Render frame ``t`` into ``dst``, an (H, W, 3) uint8 tensor on the device."""
        import torch

        if isinstance(self.splat, TorchSplat):
            dst.copy_(self.frame(t).permute(1, 2, 0))
            return
        # a still the warp samples has 4 channels (the 4th unused: ``cv2.remap`` is twice as fast on 4 as on 3);
        # the fused compositor writes the first 3 of them
        four = self.warp is not None and self.base.fused
        still: npt.NDArray[np.uint8] | None = getattr(self._local, "still", None)
        if still is None:
            still = np.empty((self.h, self.w, 4 if four else 3), dtype=np.uint8)
            self._local.still = still
        self.base.frame_into(t, torch.from_numpy(still))
        m, out = self.path.motions[t % self.n], dst.numpy()
        if self.warp is not None and self.warp.render(still, m, out):
            return
        self.splat.render(np.ascontiguousarray(still[..., :3]) if four else still, m, out)


def ldi_kernels_ready() -> bool:
    """Whether the splat's numba kernels are usable here (compiled, or loaded from their on-disk cache, once
    per process): ``render.service.warm_renderer`` calls it so no alert pays for the compile."""
    return _kernels() is not None


def _kernels() -> ModuleType | None:
    """The compiled splat kernels, or None where numba is missing or cannot compile (then torch ops)."""
    return _KERNELS.get()


class _KernelsHandle:
    """Loaded once per process (numba compiles per process; the warning is logged once)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tried = False
        self._module: ModuleType | None = None

    def get(self) -> ModuleType | None:
        with self._lock:
            if not self._tried:
                self._tried = True
                try:
                    from cinealert.render.ldi import kernels

                    kernels.warm()
                    self._module = kernels
                except Exception as exc:  # no numba, no compiler, unwritable cache: torch ops
                    log.warning("render.ldi_kernels_unavailable", error=f"{type(exc).__name__}: {exc}")
            return self._module


_KERNELS = _KernelsHandle()
