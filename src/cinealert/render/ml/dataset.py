"""The fine-tuning set: BLIP captions of real disaster photos, one JSONL row per image, with its type.

``DIR/<type>/*.png|jpg`` (type = a ``DisasterType`` value such as ``flood`` or ``heavy_snow``). Resumable: images
already in the JSONL are skipped, and each row is flushed and fsynced as it is written, so a killed run loses
at most the caption in progress.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog

from cinealert.cap.model import DisasterType
from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir
from cinealert.render.prompt import DISPLAY_NAME, VOCABULARY, caption_brief

log = structlog.get_logger(__name__)

IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg"})


@dataclass(frozen=True, slots=True)
class DatasetResult:
    added: int
    skipped: int
    failed: int


def disaster_of(folder: str) -> DisasterType | None:
    name = folder.strip().lower().replace("-", "_").replace(" ", "_")
    try:
        return DisasterType(name)
    except ValueError:
        return None


def find_images(root: Path) -> list[tuple[DisasterType, Path]]:
    if not root.is_dir():
        raise FileNotFoundError(f"image folder {root} does not exist")
    found: list[tuple[DisasterType, Path]] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        disaster = disaster_of(folder.name)
        if disaster is None:
            log.warning("dataset_skip_folder", folder=str(folder), reason="not a disaster type name")
            continue
        found += [(disaster, p) for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES]
    return found


def describe(caption: str, disaster: DisasterType) -> str:
    """The caption as a sentence, named by its type when the caption itself does not say which disaster."""
    text = " ".join(caption.split()).strip(" .")
    words = set(text.lower().split())
    if not words & VOCABULARY[disaster]:
        text = f"{DISPLAY_NAME[disaster]} scene, {text}" if text else f"{DISPLAY_NAME[disaster]} scene"
    return text[:1].upper() + text[1:] + "."


def done_images(out: Path) -> set[str]:
    if not out.is_file():
        return set()
    seen: set[str] = set()
    for line in out.read_text(encoding="utf-8").splitlines():
        try:
            seen.add(str(json.loads(line)["image"]))
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a torn last line from a killed run: that image is captioned again
    return seen


class Captioner:
    def __init__(self, path: Path, max_new_tokens: int = 40) -> None:
        tf = lib("transformers")
        model_dir(path, "blip_model_dir")
        self.device = get_device()
        self.processor: Any = tf.BlipProcessor.from_pretrained(path)
        self.model: Any = tf.BlipForConditionalGeneration.from_pretrained(path).to(self.device).eval()
        self.max_new_tokens = max_new_tokens

    def caption(self, image_path: Path) -> str:
        import torch
        from PIL import Image

        with Image.open(image_path) as img:
            rgb = img.convert("RGB")
        inputs = self.processor(images=rgb, return_tensors="pt").to(self.device)
        with torch.inference_mode():
            ids = self.model.generate(
                **inputs, max_new_tokens=self.max_new_tokens, do_sample=False, num_beams=1
            )
        text: str = self.processor.decode(ids[0], skip_special_tokens=True)
        return text


def build_dataset(images: Path, out: Path, captioner: Captioner, *, progress: bool = True) -> DatasetResult:
    from tqdm import tqdm

    todo = find_images(images)
    seen = done_images(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    added = skipped = failed = 0
    with out.open("a", encoding="utf-8") as fh:
        for disaster, path in tqdm(todo, desc="captions", unit="img", disable=not progress):
            rel = path.relative_to(images).as_posix()
            if rel in seen:
                skipped += 1
                continue
            try:
                caption = captioner.caption(path)
            except OSError as exc:  # unreadable or truncated image: logged, the rest goes on
                log.warning("dataset_bad_image", image=rel, error=str(exc))
                failed += 1
                continue
            row = {
                "image": rel,
                "disaster": disaster.value,
                "keywords": caption_brief(disaster, caption).keywords(),
                "caption": caption,
                "description": describe(caption, disaster),
            }
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
            seen.add(rel)
            added += 1
    return DatasetResult(added=added, skipped=skipped, failed=failed)
