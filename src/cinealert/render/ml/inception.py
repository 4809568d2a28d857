"""The Inception-v3 that FID is defined on (TensorFlow's 2015-12-05 graph), for ``cinealert eval``.

FID is only comparable to published figures (the paper's Table 1) when computed on this network's 2048-d pool
features: TF1 bilinear resize to 299 x 299 without corner alignment, ``(x - 128) / 128``, and the TF graph's
quirks (average pools that leave padding out of the count; a max pool in the last block's pool branch).
torch-fidelity and torchmetrics implement it, but both import torchvision, which cannot sit beside the torch this
project pins; this module is the same network, written here, whose parameter names match the converted TF weights
(torch-fidelity's ``weights-inception-2015-12-05-6726825d.pth``), loaded strictly from a local file.
Never downloaded: without the file FID is reported as not computed.
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

SIZE = 299
FEATURES = 2048


def _modules() -> Any:
    """The network's classes, built on first use so importing this module does not import torch."""
    import torch
    from torch import nn
    from torch.nn import functional

    class Conv(nn.Module):
        """Convolution (no bias) + batch norm (eps 1e-3, TF's) + ReLU."""

        def __init__(self, cin: int, cout: int, k: int | tuple[int, int], s: int = 1, p: Any = 0) -> None:
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=False)
            self.bn = nn.BatchNorm2d(cout, eps=0.001)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return functional.relu(self.bn(self.conv(x)))

    def avg(x: torch.Tensor) -> torch.Tensor:
        return functional.avg_pool2d(
            x, 3, stride=1, padding=1, count_include_pad=False
        )  # TF leaves padding out

    class A(nn.Module):
        def __init__(self, cin: int, pool: int) -> None:
            super().__init__()
            self.branch1x1 = Conv(cin, 64, 1)
            self.branch5x5_1, self.branch5x5_2 = Conv(cin, 48, 1), Conv(48, 64, 5, p=2)
            self.branch3x3dbl_1 = Conv(cin, 64, 1)
            self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, p=1), Conv(96, 96, 3, p=1)
            self.branch_pool = Conv(cin, pool, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b5 = self.branch5x5_2(self.branch5x5_1(x))
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(avg(x))], 1)

    class B(nn.Module):
        def __init__(self, cin: int) -> None:
            super().__init__()
            self.branch3x3 = Conv(cin, 384, 3, s=2)
            self.branch3x3dbl_1 = Conv(cin, 64, 1)
            self.branch3x3dbl_2, self.branch3x3dbl_3 = Conv(64, 96, 3, p=1), Conv(96, 96, 3, s=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
            return torch.cat([self.branch3x3(x), b3, functional.max_pool2d(x, 3, stride=2)], 1)

    class C(nn.Module):
        def __init__(self, cin: int, c7: int) -> None:
            super().__init__()
            row: dict[str, Any] = {"k": (1, 7), "p": (0, 3)}
            col: dict[str, Any] = {"k": (7, 1), "p": (3, 0)}
            self.branch1x1 = Conv(cin, 192, 1)
            self.branch7x7_1 = Conv(cin, c7, 1)
            self.branch7x7_2, self.branch7x7_3 = Conv(c7, c7, **row), Conv(c7, 192, **col)
            self.branch7x7dbl_1 = Conv(cin, c7, 1)
            self.branch7x7dbl_2, self.branch7x7dbl_3 = Conv(c7, c7, **col), Conv(c7, c7, **row)
            self.branch7x7dbl_4, self.branch7x7dbl_5 = Conv(c7, c7, **col), Conv(c7, 192, **row)
            self.branch_pool = Conv(cin, 192, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
            d = x
            for i in range(1, 6):
                d = getattr(self, f"branch7x7dbl_{i}")(d)
            return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(avg(x))], 1)

    class D(nn.Module):
        def __init__(self, cin: int) -> None:
            super().__init__()
            self.branch3x3_1, self.branch3x3_2 = Conv(cin, 192, 1), Conv(192, 320, 3, s=2)
            self.branch7x7x3_1 = Conv(cin, 192, 1)
            self.branch7x7x3_2 = Conv(192, 192, (1, 7), p=(0, 3))
            self.branch7x7x3_3 = Conv(192, 192, (7, 1), p=(3, 0))
            self.branch7x7x3_4 = Conv(192, 192, 3, s=2)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            b3 = self.branch3x3_2(self.branch3x3_1(x))
            b7 = x
            for i in range(1, 5):
                b7 = getattr(self, f"branch7x7x3_{i}")(b7)
            return torch.cat([b3, b7, functional.max_pool2d(x, 3, stride=2)], 1)

    class E(nn.Module):
        def __init__(self, cin: int, max_pool: bool) -> None:
            super().__init__()
            self.max_pool = max_pool  # the graph's last block pools by max, the one before by average
            self.branch1x1 = Conv(cin, 320, 1)
            self.branch3x3_1 = Conv(cin, 384, 1)
            self.branch3x3_2a = Conv(384, 384, (1, 3), p=(0, 1))
            self.branch3x3_2b = Conv(384, 384, (3, 1), p=(1, 0))
            self.branch3x3dbl_1, self.branch3x3dbl_2 = Conv(cin, 448, 1), Conv(448, 384, 3, p=1)
            self.branch3x3dbl_3a = Conv(384, 384, (1, 3), p=(0, 1))
            self.branch3x3dbl_3b = Conv(384, 384, (3, 1), p=(1, 0))
            self.branch_pool = Conv(cin, 192, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            s = self.branch3x3_1(x)
            b3 = torch.cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], 1)
            d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
            bd = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
            pooled = functional.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else avg(x)
            return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)

    class FIDInception(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.Conv2d_1a_3x3 = Conv(3, 32, 3, s=2)
            self.Conv2d_2a_3x3 = Conv(32, 32, 3)
            self.Conv2d_2b_3x3 = Conv(32, 64, 3, p=1)
            self.Conv2d_3b_1x1 = Conv(64, 80, 1)
            self.Conv2d_4a_3x3 = Conv(80, 192, 3)
            self.Mixed_5b, self.Mixed_5c, self.Mixed_5d = A(192, 32), A(256, 64), A(288, 64)
            self.Mixed_6a = B(288)
            self.Mixed_6b, self.Mixed_6c = C(768, 128), C(768, 160)
            self.Mixed_6d, self.Mixed_6e = C(768, 160), C(768, 192)
            self.Mixed_7a, self.Mixed_7b, self.Mixed_7c = D(768), E(1280, False), E(2048, True)
            self.fc = nn.Linear(FEATURES, 1008)  # the graph's 1008 logits; loaded, not used by FID

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            """uint8-range float ``N x 3 x 299 x 299`` -> ``N x 2048`` pool features."""
            x = (x - 128.0) / 128.0
            x = self.Conv2d_2b_3x3(self.Conv2d_2a_3x3(self.Conv2d_1a_3x3(x)))
            x = functional.max_pool2d(x, 3, stride=2)
            x = functional.max_pool2d(self.Conv2d_4a_3x3(self.Conv2d_3b_1x1(x)), 3, stride=2)
            for name in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c"):
                x = getattr(self, f"Mixed_{name}")(x)
            return torch.flatten(functional.adaptive_avg_pool2d(x, 1), 1)

    return FIDInception


def fid_inception() -> Any:
    """A randomly initialised network (``.eval()``): what a weights file is loaded into; tests save one."""
    return _modules()().eval()


def tf1_resize(images: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """Bilinear resize as TensorFlow 1.x does it without corner alignment (source = dest * in/out, no half-pixel
    offset), which the FID reference applies before the network."""
    import torch

    def axis(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        lo = torch.floor(src).long().clamp(max=n_in - 1)
        hi = (lo + 1).clamp(max=n_in - 1)
        return lo, hi, (src - lo).to(images.dtype)

    y0, y1, fy = axis(images.shape[2])
    x0, x1, fx = axis(images.shape[3])
    top = images[:, :, y0] * (1 - fy)[:, None] + images[:, :, y1] * fy[:, None]
    return top[..., x0] * (1 - fx) + top[..., x1] * fx


class InceptionFeatures:
    """FID's Inception-v3 loaded from a local weights file (a state dict: ``.pth`` or ``.safetensors``)."""

    def __init__(self, path: Path, *, batch: int = 16) -> None:
        import torch

        from cinealert.render.device import get_device

        if not path.is_file():
            raise ModelDirError(f"--inception: {path} is not a file (FID's Inception-v3 state dict)")
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            state = load_file(str(path))
        else:
            state = torch.load(path, map_location="cpu", weights_only=True)
        self.device = get_device()
        net = fid_inception()
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ModelDirError(f"--inception: {path} is not FID's Inception-v3: {exc}") from exc
        self.net = net.to(self.device).requires_grad_(False)
        self.batch = batch

    def features(self, images: Sequence[RGB]) -> np.ndarray:
        """``N x 2048`` float64 pool features of uint8 RGB images of any size."""
        import torch

        out = []
        with torch.inference_mode():
            for start in range(0, len(images), self.batch):
                chunk = [
                    tf1_resize(torch.from_numpy(i.astype(np.float32)).permute(2, 0, 1)[None])
                    for i in images[start : start + self.batch]
                ]
                x = torch.cat(chunk).to(self.device)
                out.append(self.net(x).double().cpu().numpy())
        return np.concatenate(out, axis=0)
