"""Checks ``cinealert eval``'s FID network and LPIPS against the reference packages' own code, same weights.

torch-fidelity and lpips cannot be installed beside this project's torch (both import torchvision), so this
script unpacks their wheels into a temporary folder and imports only the modules that hold the computation:
torch-fidelity's ``feature_extractor_inceptionv3`` through a bare package (its ``__init__`` imports torchvision
for datasets), lpips with a stand-in ``torchvision.models.alexnet`` that hands it our AlexNet trunk (the
weights are the point, not who built the modules) and a stand-in ``scipy.ndimage`` (only its trainer uses it).
Both networks get the same random weights (lpips' own calibrated ``alex.pth`` for the linear layers).

    .venv/bin/pip download --no-deps torch-fidelity==0.4.0 lpips==0.1.4 -d /tmp/wheels
    .venv/bin/python bench/metric_parity.py /tmp/wheels

Measured (2026-12, CPU): Inception pool features max |diff| 3.0e-8 (values up to 0.28), TF1 resize max |diff|
1.8e-3 on the 0..255 scale; LPIPS equal to 1e-8 (0.178966 vs 0.178966, 0.0140892 vs 0.0140892).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import types
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch


def unpack(wheels: Path, name: str, into: Path) -> Path:
    wheel = next(iter(sorted(wheels.glob(f"{name}-*.whl"))), None)
    if wheel is None:
        sys.exit(f"no {name}-*.whl in {wheels}: pip download --no-deps it first")
    with zipfile.ZipFile(wheel) as zf:
        zf.extractall(into / name)
    return into / name


def stub(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    for key, value in attrs.items():
        setattr(module, key, value)
    sys.modules[name] = module
    return module


def inception_parity(root: Path, work: Path) -> None:
    from cinealert.render.ml.inception import InceptionFeatures, fid_inception, tf1_resize

    stub("torch_fidelity", __path__=[str(root / "torch_fidelity")])
    ref_mod = __import__("torch_fidelity.feature_extractor_inceptionv3", fromlist=["x"])
    tfi = __import__("torch_fidelity.interpolate_compat_tensorflow", fromlist=["x"])
    torch.manual_seed(0)
    net = fid_inception()
    for m in net.modules():  # non-trivial batch-norm statistics, so every layer's arithmetic shows
        if isinstance(m, torch.nn.BatchNorm2d):
            m.running_mean.uniform_(-0.1, 0.1)
            m.running_var.uniform_(0.5, 1.5)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.1, 0.1)
    torch.save(net.state_dict(), work / "inception.pth")
    theirs = ref_mod.FeatureExtractorInceptionV3(
        "fid", ["2048"], feature_extractor_weights_path=work / "inception.pth"
    )
    rng = np.random.default_rng(1)
    images = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in ((64, 80), (256, 256), (300, 200))]
    x = torch.from_numpy(images[0].astype(np.float32)).permute(2, 0, 1)[None]
    resized = tfi.interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    print(f"TF1 resize max |diff|: {(tf1_resize(x) - resized).abs().max().item():.2e} (0..255 scale)")
    ours = InceptionFeatures(work / "inception.pth").features(images)
    ref = np.concatenate(
        [theirs(torch.from_numpy(i).permute(2, 0, 1)[None].contiguous())[0].numpy() for i in images]
    )
    print(
        f"Inception pool features max |diff|: {np.abs(ours - ref).max():.2e} (max |value| {np.abs(ref).max():.3f})"
    )


def lpips_parity(root: Path, work: Path) -> None:
    from cinealert.render.ml.lpips import LPIPS, alexnet_features

    torch.manual_seed(0)
    trunk = alexnet_features()
    (work / "lpips").mkdir()
    torch.save({f"features.{k}": v for k, v in trunk.state_dict().items()}, work / "lpips" / "backbone.pth")
    lin = torch.load(root / "lpips" / "weights" / "v0.1" / "alex.pth", map_location="cpu", weights_only=True)
    torch.save(lin, work / "lpips" / "lin.pth")
    models = stub(
        "torchvision.models", alexnet=lambda pretrained=True, **_: types.SimpleNamespace(features=trunk)
    )
    stub("torchvision", models=models)
    stub("scipy", ndimage=stub("scipy.ndimage", zoom=None))
    sys.path.insert(0, str(root))
    import lpips  # type: ignore[import-not-found]

    ref = lpips.LPIPS(net="alex", verbose=False)
    ours = LPIPS(work / "lpips")
    y, x = np.mgrid[0:96, 0:128]
    smooth = np.stack([128 + 90 * np.sin(x / 9 + c) * np.cos(y / 13) for c in range(3)], -1).astype(np.uint8)
    noise = np.random.default_rng(2).integers(0, 256, smooth.shape, dtype=np.uint8)
    for a, b in ((smooth, noise), (smooth, np.roll(smooth, 3, axis=1))):
        ta, tb = (torch.from_numpy(i.astype(np.float32) / 255).permute(2, 0, 1)[None] for i in (a, b))
        print(f"LPIPS ours {ours.distance(a, b):.6f}  lpips {ref(ta, tb, normalize=True).item():.6f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("wheels", type=Path, help="folder with torch_fidelity-*.whl and lpips-*.whl")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        inception_parity(unpack(args.wheels, "torch_fidelity", work / "src"), work)
        lpips_parity(unpack(args.wheels, "lpips", work / "src"), work)


if __name__ == "__main__":
    main()
