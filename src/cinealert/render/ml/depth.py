"""Depth of a photo: DPT when configured, else a prior from image cues.

Both give *nearness* in [0, 1] (1 = nearest), the form DPT predicts (relative inverse depth); ``to_metres``
maps it to the scene model's metres-like depth (larger = farther) linearly in inverse depth, which is how
parallax behaves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
import structlog

from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir
from cinealert.render.scene import RGB, Depth

log = structlog.get_logger(__name__)

F32 = npt.NDArray[np.float32]
NEAR_M = 6.0
FAR_M = 400.0


class DepthEstimator(Protocol):
    name: str

    def nearness(self, image: RGB) -> F32: ...


def _normalise(values: np.ndarray) -> F32 | None:
    lo, hi = np.percentile(values, [2.0, 98.0])
    if not np.isfinite(hi - lo) or hi - lo < 1e-6 * max(1.0, abs(float(hi))):
        return None
    return np.asarray(np.clip((values - lo) / (hi - lo), 0.0, 1.0), dtype=np.float32)


def _smooth(values: np.ndarray, size: int) -> np.ndarray:
    import cv2

    return np.asarray(cv2.blur(values.astype(np.float32), (size, size)))


def prior_nearness(image: RGB) -> F32:
    """Ground plane below, sky above, haze far: a vertical ramp corrected by saturation and brightness.

    Aerial perspective makes far things paler and less saturated; near things keep their colour and contrast.
    The cue map is blurred hard so layers come out as coherent bands, not speckle.
    """
    h, w = image.shape[:2]
    rgb = image.astype(np.float32) / 255.0
    value = rgb.max(axis=-1)
    sat = np.where(value > 0, (value - rgb.min(axis=-1)) / np.maximum(value, 1e-6), 0.0)
    ramp = np.broadcast_to(np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None], (h, w))
    cue = 0.65 * ramp + 0.2 * sat + 0.15 * (1.0 - value)
    cue = _smooth(cue, max(3, (min(h, w) // 12) | 1))
    out = _normalise(cue)
    return out if out is not None else ramp.astype(np.float32)


class PriorDepth:
    name = "prior"

    def nearness(self, image: RGB) -> F32:
        return prior_nearness(image)


class DPTDepth:
    """DPT (``DPTForDepthEstimation``) from a local directory; falls back to the prior on a flat prediction."""

    name = "dpt"

    def __init__(self, path: Path) -> None:
        tf = lib("transformers")

        model_dir(path, "depth_model_dir")
        self.device = get_device()
        self.processor: Any = tf.AutoImageProcessor.from_pretrained(path)
        self.model: Any = tf.DPTForDepthEstimation.from_pretrained(path).to(self.device).eval()

    def raw(self, image: RGB) -> F32:
        """DPT's relative inverse depth, resized to the image (bicubic, as the reference post-processing)."""
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        inputs = self.processor(images=Image.fromarray(image), return_tensors="pt").to(self.device)
        with torch.inference_mode():
            predicted = self.model(**inputs).predicted_depth
        resized = torch.nn.functional.interpolate(
            predicted.float().unsqueeze(1), size=(h, w), mode="bicubic", align_corners=False
        )
        return resized[0, 0].cpu().numpy().astype(np.float32)

    def nearness(self, image: RGB) -> F32:
        out = _normalise(self.raw(image))
        if out is None:
            log.warning("depth_flat", estimator=self.name, action="using the depth prior")
            return prior_nearness(image)
        return out


def to_metres(nearness: F32, near: float = NEAR_M, far: float = FAR_M) -> Depth:
    inverse = 1.0 / far + nearness.astype(np.float32) * (1.0 / near - 1.0 / far)
    return (1.0 / inverse).astype(np.float32)


def make_depth(ml: Any) -> DepthEstimator:
    return DPTDepth(ml.depth_model_dir) if ml.depth_model_dir is not None else PriorDepth()
