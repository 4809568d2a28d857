"""``cinealert eval``'s library: the paper's Table 1 metrics per disaster type over two image folders."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cinealert.render.scene import RGB


@dataclass(frozen=True, slots=True)
class Row:
    disaster: str
    fid: float | None
    clip: float | None
    lpips: float | None
    ssim: float


def load_sets(root: Path, size: int) -> dict[str, list[tuple[Path, RGB]]]:
    """``root/<type>/*.png|jpg`` as RGB arrays resized to ``size`` x ``size`` (metrics compare equal sizes)."""
    from PIL import Image

    from cinealert.render.ml.dataset import IMAGE_SUFFIXES

    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    sets: dict[str, list[tuple[Path, RGB]]] = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = []
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                with Image.open(path) as img:
                    rgb = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
                images.append((path, np.asarray(rgb, dtype=np.uint8)))
        if images:
            sets[folder.name] = images
    return sets


def caption_for(path: Path, disaster: str) -> str:
    """The prompt written beside a generated image (``NAME.txt``), else a plain description of the type."""
    side = path.with_suffix(".txt")
    if side.is_file():
        return side.read_text(encoding="utf-8").strip()
    return f"a photo of a {disaster.replace('_', ' ')} disaster"


def evaluate(generated: Path, reference: Path, size: int, clip_dir: Path | None) -> list[Row]:
    from cinealert.render.ml.metrics import ClipScorer, frechet_distance, set_ssim

    gen, ref = load_sets(generated, size), load_sets(reference, size)
    types = sorted(set(gen) & set(ref))
    if not types:
        raise FileNotFoundError(f"no disaster type folder with images in both {generated} and {reference}")
    scorer = ClipScorer(clip_dir) if clip_dir is not None else None
    rows = []
    for name in types:
        g = [img for _, img in gen[name]]
        r = [img for _, img in ref[name]]
        fid = clip = None
        if scorer is not None:
            clip = scorer.clip_score(g, [caption_for(p, name) for p, _ in gen[name]])
            if len(g) >= 2 and len(r) >= 2:
                fid = frechet_distance(scorer.image_features(g), scorer.image_features(r))
        rows.append(Row(name, fid, clip, None, set_ssim(g, r)))
    return rows


def format_table(rows: list[Row]) -> str:
    def cell(value: float | None, digits: int) -> str:
        return "n/a" if value is None else f"{value:.{digits}f}"

    lines = ["| type | FID | CLIP | LPIPS | SSIM |", "|---|---|---|---|---|"]
    lines += [
        f"| {r.disaster} | {cell(r.fid, 2)} | {cell(r.clip, 3)} | {cell(r.lpips, 3)} | {cell(r.ssim, 3)} |"
        for r in rows
    ]
    return "\n".join(lines)
