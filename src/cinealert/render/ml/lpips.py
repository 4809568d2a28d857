"""LPIPS (Zhang et al. 2018, v0.1, AlexNet trunk: the ``lpips`` package's default) from local weights.

The ``lpips`` package cannot be used here: it builds its trunk with torchvision (``pretrained_networks.py``),
which cannot sit beside the torch this project pins, and downloads the ImageNet weights at run time. This is
the same computation: inputs scaled to [-1, 1], the package's scaling layer, AlexNet's five ReLU outputs, each
unit-normalised over channels, squared differences weighted by the learned 1x1 layers, averaged over space and
summed. Weights come from one local directory:

- ``backbone.pth``: torchvision's ImageNet AlexNet state dict (``alexnet-owt-7be5be79.pth``; ``features.*`` used);
- ``lin.pth``: the package's calibrated linear layers (``lpips/weights/v0.1/alex.pth`` in the ``lpips`` wheel).

With random or other weights the number is a distance, but not the paper's LPIPS; the report says which files.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cinealert.render.ml.runtime import ModelDirError
from cinealert.render.scene import RGB

if TYPE_CHECKING:
    import torch

CHANNELS = (64, 192, 384, 256, 256)
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)


def alexnet_features() -> Any:
    """AlexNet's convolutional trunk with torchvision's layer indices (so its state dict loads)."""
    from torch import nn

    return nn.Sequential(
        nn.Conv2d(3, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
    )  # fmt: skip


def lin_layers() -> dict[str, Any]:
    """The five 1x1 weightings, keyed as the package's ``lin.pth`` (``lin<k>.model.1.weight``)."""
    import torch

    return {f"lin{k}.model.1.weight": torch.zeros(1, c, 1, 1) for k, c in enumerate(CHANNELS)}


def _load(path: Path) -> dict[str, Any]:
    import torch

    if not path.is_file():
        raise ModelDirError(f"--lpips: {path} is missing")
    state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    return state


class LPIPS:
    """``distance(a, b)``: LPIPS of two uint8 RGB images of one size (lower is more alike)."""

    # The trunk's ReLU outputs LPIPS reads (indices into ``features``): after conv1..conv5.
    TAPS = (1, 4, 7, 9, 11)

    def __init__(self, directory: Path) -> None:
        import torch

        from cinealert.render.device import get_device

        if not directory.is_dir():
            raise ModelDirError(f"--lpips: {directory} is not a directory")
        backbone = {k[len("features.") :]: v for k, v in _load(directory / "backbone.pth").items()
                    if k.startswith("features.")}  # fmt: skip
        lin = _load(directory / "lin.pth")
        self.device = get_device()
        self.trunk = alexnet_features()
        try:
            self.trunk.load_state_dict(backbone, strict=True)
            self.lins = [lin[key].float() for key in lin_layers()]
        except (RuntimeError, KeyError) as exc:
            raise ModelDirError(f"--lpips: {directory} does not hold AlexNet LPIPS weights: {exc}") from exc
        self.trunk = self.trunk.to(self.device).eval().requires_grad_(False)
        self.lins = [w.to(self.device) for w in self.lins]
        self.shift = torch.tensor(SHIFT, device=self.device).view(1, 3, 1, 1)
        self.scale = torch.tensor(SCALE, device=self.device).view(1, 3, 1, 1)

    def _taps(self, image: RGB) -> list[torch.Tensor]:
        import torch

        taps = []
        with torch.inference_mode():
            x = torch.from_numpy(image.astype(np.float32)).permute(2, 0, 1)[None].to(self.device)
            x = (x / 127.5 - 1.0 - self.shift) / self.scale
            for i, layer in enumerate(self.trunk):
                x = layer(x)
                if i in self.TAPS:
                    taps.append(x / (torch.sqrt(torch.sum(x * x, dim=1, keepdim=True)) + 1e-10))
                if i == self.TAPS[-1]:
                    break
        return taps

    def distance(self, a: RGB, b: RGB) -> float:
        if a.shape != b.shape:
            raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
        return self._pair(self._taps(a), self._taps(b))

    def set_distance(self, generated: Sequence[RGB], reference: Sequence[RGB]) -> float:
        """Mean LPIPS over every (generated, reference) pair, as ``set_ssim`` pairs them."""
        if not generated or not reference:
            raise ValueError("LPIPS of an empty set")
        ref_taps = [self._taps(r) for r in reference]
        return float(np.mean([self._pair(self._taps(g), t) for g in generated for t in ref_taps]))

    def _pair(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> float:
        import torch
        from torch.nn import functional

        with torch.inference_mode():
            terms = [
                functional.conv2d((x - y) ** 2, w).mean() for x, y, w in zip(fa, fb, self.lins, strict=True)
            ]
            return float(torch.stack(terms).sum())
