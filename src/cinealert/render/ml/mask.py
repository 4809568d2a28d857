"""Fluid masks: which pixels of a photo should move, per fluid kind.

The paper's LangSAM recipe: GroundingDINO finds boxes for a text query of fluid words, SAM cuts a mask inside
each box, and the masks of one kind are united. Without those weights a classical colour/texture segmenter
stands in, so the ML backend still produces masks (coarser ones) on a machine with no models at all.
Why this is not the ``lang-sam`` package, and which local directories either accepts: ``docs/ml.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import structlog

from cinealert.cap.model import DisasterType
from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir
from cinealert.render.scene import RGB, FluidKind, Mask

log = structlog.get_logger(__name__)

#: GroundingDINO queries per kind: lower-case phrases, each ended by a dot (the model's phrase separator).
FLUID_QUERIES: dict[FluidKind, str] = {
    FluidKind.WATER: "water. river. flood.",
    FluidKind.FIRE: "fire. flame.",
    FluidKind.SMOKE: "smoke.",
    FluidKind.SNOW: "snow.",
    FluidKind.RAIN: "rain.",
    FluidKind.MUD: "mud.",
    FluidKind.DUST: "dust.",
    FluidKind.HAZE: "haze. fog.",
}

#: Which kinds a photo of each disaster is searched for (the paper queries fluid words per type).
DISASTER_FLUIDS: dict[DisasterType, tuple[FluidKind, ...]] = {
    DisasterType.FLOOD: (FluidKind.WATER,),
    DisasterType.LANDSLIDE: (FluidKind.MUD,),
    DisasterType.DROUGHT: (FluidKind.HAZE,),
    DisasterType.WILDFIRE: (FluidKind.FIRE, FluidKind.SMOKE),
    DisasterType.HEAVY_SNOW: (),  # lying snow stays still; falling snow is a particle sheet
    DisasterType.TYPHOON: (FluidKind.WATER,),
    DisasterType.EARTHQUAKE: (FluidKind.SMOKE,),
    DisasterType.OTHER: (FluidKind.HAZE,),
}


class Masker(Protocol):
    name: str

    def masks(self, image: RGB, kinds: tuple[FluidKind, ...]) -> dict[FluidKind, Mask]: ...


@dataclass(frozen=True, slots=True)
class Box:
    x0: float
    y0: float
    x1: float
    y1: float
    score: float


class GroundedSamMasker:
    """GroundingDINO boxes from the kind's query, SAM masks inside them, united per kind."""

    name = "grounded-sam"

    def __init__(
        self,
        grounding_dir: Path,
        sam_dir: Path,
        *,
        box_threshold: float = 0.3,
        text_threshold: float = 0.25,
        mask_threshold: float = 0.0,
    ) -> None:
        tf = lib("transformers")

        model_dir(grounding_dir, "grounding_model_dir")
        model_dir(sam_dir, "sam_model_dir")
        self.device = get_device()
        self.gd_processor: Any = tf.AutoProcessor.from_pretrained(grounding_dir)
        self.gd_model: Any = (
            tf.GroundingDinoForObjectDetection.from_pretrained(grounding_dir).to(self.device).eval()
        )
        self.sam_processor: Any = tf.SamProcessor.from_pretrained(sam_dir)
        self.sam_model: Any = tf.SamModel.from_pretrained(sam_dir).to(self.device).eval()
        self.box_threshold = box_threshold
        self.text_threshold = text_threshold
        self.mask_threshold = mask_threshold

    def boxes(self, image: RGB, query: str) -> list[Box]:
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        pil = Image.fromarray(image)
        inputs = self.gd_processor(images=pil, text=query, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            outputs = self.gd_model(**inputs)
        result = self.gd_processor.post_process_grounded_object_detection(
            outputs,
            inputs["input_ids"],
            threshold=self.box_threshold,
            text_threshold=self.text_threshold,
            target_sizes=[(h, w)],
        )[0]
        found = []
        for (x0, y0, x1, y1), score in zip(result["boxes"].tolist(), result["scores"].tolist(), strict=True):
            x0, x1 = max(0.0, min(x0, x1)), min(float(w), max(x0, x1))
            y0, y1 = max(0.0, min(y0, y1)), min(float(h), max(y0, y1))
            if x1 - x0 >= 1 and y1 - y0 >= 1:
                found.append(Box(x0, y0, x1, y1, float(score)))
        return found

    def segment(self, image: RGB, boxes: list[Box]) -> Mask:
        import torch
        from PIL import Image

        h, w = image.shape[:2]
        union = np.zeros((h, w), dtype=np.bool_)
        if not boxes:
            return union
        inputs = self.sam_processor(
            images=Image.fromarray(image),
            input_boxes=[[[b.x0, b.y0, b.x1, b.y1] for b in boxes]],
            return_tensors="pt",
        ).to(self.device)
        with torch.inference_mode():
            outputs = self.sam_model(**inputs, multimask_output=False)
        masks = self.sam_processor.image_processor.post_process_masks(
            outputs.pred_masks.float().cpu(),
            inputs["original_sizes"].cpu(),
            inputs["reshaped_input_sizes"].cpu(),
            mask_threshold=self.mask_threshold,
        )[0]
        for per_box in masks:  # (boxes, 1, H, W)
            union |= per_box[0].numpy().astype(np.bool_)
        return union

    def masks(self, image: RGB, kinds: tuple[FluidKind, ...]) -> dict[FluidKind, Mask]:
        out: dict[FluidKind, Mask] = {}
        for kind in kinds:
            boxes = self.boxes(image, FLUID_QUERIES[kind])
            out[kind] = self.segment(image, boxes)
            log.debug("fluid_mask", kind=kind.value, boxes=len(boxes), fraction=float(out[kind].mean()))
        return out


def _hsv(image: RGB) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hue in degrees [0, 360), saturation and value in [0, 1]."""
    rgb = image.astype(np.float32) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    v = rgb.max(axis=-1)
    c = v - rgb.min(axis=-1)
    s = np.where(v > 0, c / np.maximum(v, 1e-6), 0.0)
    safe = np.maximum(c, 1e-6)
    h = np.where(v == r, ((g - b) / safe) % 6.0, np.where(v == g, (b - r) / safe + 2.0, (r - g) / safe + 4.0))
    return np.where(c > 0, h * 60.0, 0.0), s, v


def _texture(value: np.ndarray, size: int) -> np.ndarray:
    """Local standard deviation of brightness: water and smoke are smooth, foliage and rubble are busy."""
    import cv2

    k = (size, size)
    mean = cv2.blur(value, k)
    sq = cv2.blur(value * value, k)
    return np.asarray(np.sqrt(np.maximum(sq - mean * mean, 0.0)))


def _vertical_edges(value: np.ndarray, size: int) -> np.ndarray:
    """Local mean of the horizontal brightness gradient beyond the vertical one: walls, posts and trunks stand
    upright (strong left-right changes); a water surface is streaked horizontally."""
    import cv2

    gx = np.abs(cv2.Sobel(value, cv2.CV_32F, 1, 0, ksize=3))
    gy = np.abs(cv2.Sobel(value, cv2.CV_32F, 0, 1, ksize=3))
    return np.asarray(cv2.blur(gx - 0.5 * gy, (size, size)))


def _clean(mask: np.ndarray, size: int) -> Mask:
    """Open then close, so speckles vanish and regions are solid."""
    import cv2

    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)
    m = cv2.morphologyEx(m, cv2.MORPH_CLOSE, kernel)
    return m.astype(np.bool_)


class ClassicalMasker:
    """Colour/texture rules per kind, for when no GroundingDINO/SAM weights are configured.

    Coarse by design: it only has to find the obvious fluid region (a brown or blue sheet below the horizon,
    saturated orange flames, grey smoke above them, white snow cover), which is what a cinemagraph animates.
    """

    name = "classical"

    def masks(self, image: RGB, kinds: tuple[FluidKind, ...]) -> dict[FluidKind, Mask]:
        h, w = image.shape[:2]
        hue, sat, val = _hsv(image)
        tex = _texture(val, max(3, (min(h, w) // 48) | 1))
        rows = np.broadcast_to(np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None], (h, w))
        size = max(3, (min(h, w) // 60) | 1)
        warm = ((hue < 50) | (hue > 340)) & (sat > 0.5)
        fire = warm & (val > 0.65)
        vegetation = (hue > 70) & (hue < 170) & (sat > 0.15)
        below = rows > 0.45
        upright = _vertical_edges(val, max(3, (min(h, w) // 40) | 1)) > 0.025
        rules: dict[FluidKind, np.ndarray] = {
            # grey, blue or brown sheets below the horizon that are not vegetation
            FluidKind.WATER: below
            & ~vegetation
            & ~upright
            & (val > 0.15)
            & (val < 0.9)
            & (
                (sat < 0.15)
                | ((hue > 170) & (hue < 250) & (sat < 0.6))
                | ((hue >= 15) & (hue < 50) & (sat < 0.6))
            ),
            FluidKind.MUD: (hue >= 10)
            & (hue < 50)
            & (sat > 0.25)
            & (sat < 0.85)
            & (val > 0.12)
            & (val < 0.7)
            & (rows > 0.3),
            FluidKind.FIRE: fire,
            # smooth, duller than flames, above the ground
            FluidKind.SMOKE: (sat < 0.55) & (val > 0.35) & (val < 0.85) & (tex < 0.06) & (rows < 0.5) & ~fire,
            FluidKind.SNOW: (sat < 0.18) & (val > 0.78) & (rows > 0.3),
            FluidKind.HAZE: (val > 0.72) & (sat < 0.75) & (tex < 0.04) & (rows < 0.7),
            FluidKind.DUST: (sat < 0.45) & (hue >= 20) & (hue < 60) & (val > 0.4) & (rows < 0.8),
            FluidKind.RAIN: np.ones((h, w), dtype=np.bool_),  # rain falls over the whole frame
        }
        return {kind: _clean(rules[kind], size) for kind in kinds}


def make_masker(ml: Any) -> Masker:
    """GroundedSAM when both model dirs are set, else the classical segmenter (``ml`` is ``MLSettings``)."""
    if ml.grounding_model_dir is not None and ml.sam_model_dir is not None:
        return GroundedSamMasker(
            ml.grounding_model_dir,
            ml.sam_model_dir,
            box_threshold=ml.box_threshold,
            text_threshold=ml.text_threshold,
            mask_threshold=ml.mask_threshold,
        )
    return ClassicalMasker()
