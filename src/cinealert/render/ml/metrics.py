"""Scores: mask IoU per fluid kind (ML masks against the procedural backend's exact ones), and the paper's
image-set metrics: SSIM, the Fréchet distance (FID on ``inception.py``'s features) and the CLIP score (when a
CLIP model is configured). LPIPS is ``lpips.py``.

SSIM and the Fréchet distance are numpy; only the CLIP features need torch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir
from cinealert.render.scene import RGB, FluidKind, Mask

F64 = npt.NDArray[np.float64]


def iou(pred: Mask, truth: Mask) -> float:
    """Intersection over union; two empty masks agree perfectly (1.0)."""
    if pred.shape != truth.shape:
        raise ValueError(f"mask shapes differ: {pred.shape} vs {truth.shape}")
    union = np.count_nonzero(pred | truth)
    if union == 0:
        return 1.0
    return float(np.count_nonzero(pred & truth) / union)


def iou_per_kind(pred: Mapping[FluidKind, Mask], truth: Mapping[FluidKind, Mask]) -> dict[FluidKind, float]:
    """IoU for every kind in either set; a kind one side lacks counts as an empty mask there."""
    out: dict[FluidKind, float] = {}
    for kind in sorted(set(pred) | set(truth)):
        ref = truth.get(kind)
        got = pred.get(kind)
        shape = (ref if ref is not None else got).shape  # type: ignore[union-attr]
        empty = np.zeros(shape, dtype=np.bool_)
        out[kind] = iou(got if got is not None else empty, ref if ref is not None else empty)
    return out


def _gaussian(size: int = 11, sigma: float = 1.5) -> F64:
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x**2) / (2 * sigma**2))
    return np.asarray(g / g.sum(), dtype=np.float64)


def _filter(img: F64, kernel: F64) -> F64:
    """Separable 'valid' filtering (as the reference SSIM implementation does)."""
    rows = sliding_window_view(img, kernel.size, axis=0) @ kernel
    return np.asarray(sliding_window_view(rows, kernel.size, axis=1) @ kernel)


def _gray(image: RGB) -> F64:
    rgb = image.astype(np.float64)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


def ssim(a: RGB, b: RGB) -> float:
    """Structural similarity (Wang et al. 2004) on luminance, Gaussian window 11 / sigma 1.5, 8-bit range."""
    if a.shape != b.shape:
        raise ValueError(f"image shapes differ: {a.shape} vs {b.shape}")
    x, y = _gray(a), _gray(b)
    if min(x.shape) < 11:
        raise ValueError("SSIM needs images of at least 11x11 pixels")
    k = _gaussian()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = _filter(x, k), _filter(y, k)
    sxx = _filter(x * x, k) - mx * mx
    syy = _filter(y * y, k) - my * my
    sxy = _filter(x * y, k) - mx * my
    num = (2 * mx * my + c1) * (2 * sxy + c2)
    den = (mx * mx + my * my + c1) * (sxx + syy + c2)
    return float(np.mean(num / den))


def set_ssim(generated: Sequence[RGB], reference: Sequence[RGB]) -> float:
    """Mean SSIM over every (generated, reference) pair; images must already share one size."""
    if not generated or not reference:
        raise ValueError("SSIM of an empty set")
    return float(np.mean([ssim(g, r) for g in generated for r in reference]))


def frechet_distance(a: F64, b: F64) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (rows = samples), as FID defines it.

    ``Tr(sqrt(S1 S2))`` is computed as the sum of square roots of the eigenvalues of ``sqrt(S1) S2 sqrt(S1)``
    (symmetric PSD, so ``eigh`` is stable and no scipy is needed).
    """
    if a.shape[0] < 2 or b.shape[0] < 2:
        raise ValueError("FID needs at least two images per set")
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T
    middle = np.linalg.eigvalsh(root1 @ s2 @ root1)
    trace_sqrt = float(np.sqrt(np.clip(middle, 0.0, None)).sum())
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2.0 * trace_sqrt)


class ClipScorer:
    """CLIP image/text embeddings from a local directory: the CLIP score."""

    def __init__(self, path: Path) -> None:
        tf = lib("transformers")

        model_dir(path, "clip_model_dir")
        self.device = get_device()
        self.processor: Any = tf.CLIPProcessor.from_pretrained(path)
        self.model: Any = tf.CLIPModel.from_pretrained(path).to(self.device).eval()

    def image_features(self, images: Sequence[RGB]) -> F64:
        import torch
        from PIL import Image

        inputs = self.processor(images=[Image.fromarray(i) for i in images], return_tensors="pt").to(
            self.device
        )
        with torch.inference_mode():
            feats = self.model.get_image_features(**inputs)
        feats = getattr(feats, "pooler_output", feats)
        return np.asarray(feats.float().cpu().numpy(), dtype=np.float64)

    def text_features(self, texts: Sequence[str]) -> F64:
        import torch

        inputs = self.processor(text=list(texts), return_tensors="pt", padding=True, truncation=True).to(
            self.device
        )
        with torch.inference_mode():
            feats = self.model.get_text_features(**inputs)
        feats = getattr(feats, "pooler_output", feats)
        return np.asarray(feats.float().cpu().numpy(), dtype=np.float64)

    def clip_score(self, images: Sequence[RGB], texts: Sequence[str]) -> float:
        """Mean cosine similarity of each image with its text (the paper reports it unscaled, ~0.3)."""
        im = self.image_features(images)
        tx = self.text_features(texts)
        im /= np.linalg.norm(im, axis=1, keepdims=True)
        tx /= np.linalg.norm(tx, axis=1, keepdims=True)
        return float(np.mean(np.sum(im * tx, axis=1)))
