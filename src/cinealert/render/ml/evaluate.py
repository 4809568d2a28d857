"""``cinealert eval``'s library: the paper's Table 1 (FID, CLIP score, LPIPS, SSIM per disaster type and model).

Generated stills are read from ``GEN/<column>/<type>/*.png`` (``stills.export_stills`` writes the ``sd`` and
``writer`` columns; any other column, e.g. images from another model, is scored the same way) and compared with
real photos in ``REF/<type>/*.png``. A flat ``GEN/<type>/`` is one column named ``generated``.

- FID: Fréchet distance of Inception-v3 pool features (``inception.py``, TF's FID network, weights from a file)
  between the generated and the reference set of a type; at least 2 images each, and biased upwards at small
  sets (the paper had ~200 photos per type), so compare columns at equal counts.
- CLIP score: mean cosine of each still with the prompt it was painted from (``NNN.txt``; CLIP's 77 tokens),
  or, with ``clip_text = "type"``, with one text per type (``a photo of a flood``) for every column alike.
- LPIPS (``lpips.py``, AlexNet v0.1) and SSIM (``metrics.ssim``): mean over every (generated, reference) pair,
  both at ``size`` x ``size``.

A metric whose weights are not given is not computed; the report names it and why (``Scorers.missing``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from cinealert.cap.model import DisasterType
from cinealert.render.scene import RGB

if TYPE_CHECKING:
    from cinealert.render.ml.inception import InceptionFeatures
    from cinealert.render.ml.lpips import LPIPS
    from cinealert.render.ml.metrics import ClipScorer

COLUMN_ORDER = ("dalle", "sd", "writer")  # the paper's order; other columns follow by name
METRICS = ("fid", "clip", "lpips", "ssim")


@dataclass(frozen=True, slots=True)
class Cell:
    disaster: str
    column: str
    generated: int
    reference: int
    fid: float | None
    clip: float | None
    lpips: float | None
    ssim: float
    why_not: dict[str, str] = field(default_factory=dict)  # metric -> reason, for this cell only


@dataclass(slots=True)
class Scorers:
    """The loaded metric models; ``missing`` says, per metric, why it is not computed."""

    clip: ClipScorer | None = None
    inception: InceptionFeatures | None = None
    lpips: LPIPS | None = None
    missing: dict[str, str] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    clip_text: str = "prompt"  # "prompt": each still's own prompt; "type": "a photo of a <type>" for all


def load_scorers(clip_dir: Path | None, inception: Path | None, lpips_dir: Path | None) -> Scorers:
    """Load what is given (a bad path raises ``ModelDirError``); say why each absent metric is absent."""
    scorers = Scorers()
    if clip_dir is None:
        scorers.missing["clip"] = "no CLIP model: set ml.clip_model_dir or pass --clip DIR"
    else:
        from cinealert.render.ml.metrics import ClipScorer

        scorers.clip = ClipScorer(clip_dir)
        scorers.sources["clip"] = str(clip_dir)
    if inception is None:
        scorers.missing["fid"] = (
            "no Inception-v3 weights: set ml.inception_weights or pass --inception FILE (FID's TF Inception "
            "as a torch state dict, e.g. weights-inception-2015-12-05-6726825d.pth); none is downloaded"
        )
    else:
        from cinealert.render.ml.inception import InceptionFeatures

        scorers.inception = InceptionFeatures(inception)
        scorers.sources["fid"] = str(inception)
    if lpips_dir is None:
        scorers.missing["lpips"] = (
            "no LPIPS weights: set ml.lpips_model_dir or pass --lpips DIR holding backbone.pth (torchvision's "
            "ImageNet AlexNet) and lin.pth (lpips v0.1 alex.pth); the lpips package needs torchvision and "
            "downloads at run time"
        )
    else:
        from cinealert.render.ml.lpips import LPIPS

        scorers.lpips = LPIPS(lpips_dir)
        scorers.sources["lpips"] = str(lpips_dir)
    return scorers


def _images(folder: Path, size: int) -> list[tuple[Path, RGB]]:
    from PIL import Image

    from cinealert.render.ml.dataset import IMAGE_SUFFIXES

    images = []
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            with Image.open(path) as img:
                rgb = img.convert("RGB").resize((size, size), Image.Resampling.BICUBIC)
            images.append((path, np.asarray(rgb, dtype=np.uint8)))
    return images


def load_sets(root: Path, size: int) -> dict[str, list[tuple[Path, RGB]]]:
    """``root/<type>/*.png|jpg`` as RGB arrays resized to ``size`` x ``size`` (metrics compare equal sizes)."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    sets = {}
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        images = _images(folder, size)
        if images:
            sets[folder.name] = images
    return sets


def load_columns(root: Path, size: int) -> dict[str, dict[str, list[tuple[Path, RGB]]]]:
    """``root/<column>/<type>/`` per column, in the paper's order; a flat ``root/<type>/`` is one column."""
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a directory")
    kinds = {d.value for d in DisasterType}
    folders = [p for p in root.iterdir() if p.is_dir()]
    if folders and all(p.name in kinds for p in folders):
        return {"generated": load_sets(root, size)}
    rank = {name: i for i, name in enumerate(COLUMN_ORDER)}
    names = sorted((p.name for p in folders), key=lambda n: (rank.get(n, len(rank)), n))
    columns = {name: load_sets(root / name, size) for name in names}
    return {name: sets for name, sets in columns.items() if sets}


def type_text(disaster: str) -> str:
    return f"a photo of a {disaster.replace('_', ' ')}"


def caption_for(path: Path, disaster: str) -> str:
    """The prompt written beside a generated image (``NAME.txt``), else the type's plain text."""
    side = path.with_suffix(".txt")
    if side.is_file():
        return side.read_text(encoding="utf-8").strip()
    return type_text(disaster)


def score_cell(
    name: str, column: str, gen: list[tuple[Path, RGB]], ref: list[RGB], ref_feats: Any, scorers: Scorers
) -> Cell:
    """One (type, column) cell; ``ref_feats`` are the reference set's Inception features (or ``None``)."""
    from cinealert.render.ml.metrics import frechet_distance, set_ssim

    images = [img for _, img in gen]
    why: dict[str, str] = {}
    fid = clip = lpips = None
    if scorers.inception is not None:
        if len(images) >= 2 and len(ref) >= 2:
            fid = frechet_distance(scorers.inception.features(images), ref_feats)
        else:
            why["fid"] = f"needs at least 2 images per set (generated {len(images)}, reference {len(ref)})"
    if scorers.clip is not None:
        by_prompt = scorers.clip_text == "prompt"
        texts = [caption_for(p, name) if by_prompt else type_text(name) for p, _ in gen]
        clip = scorers.clip.clip_score(images, texts)
    if scorers.lpips is not None:
        lpips = scorers.lpips.set_distance(images, ref)
    return Cell(name, column, len(images), len(ref), fid, clip, lpips, set_ssim(images, ref), why)


def evaluate(generated: Path, reference: Path, size: int, scorers: Scorers) -> list[Cell]:
    """Every (type, column) with images on both sides, types in name order, columns in the paper's."""
    columns, ref = load_columns(generated, size), load_sets(reference, size)
    types = sorted({t for sets in columns.values() for t in sets} & set(ref))
    if not types:
        raise FileNotFoundError(f"no disaster type folder with images in both {generated} and {reference}")
    cells = []
    for name in types:
        ref_images = [img for _, img in ref[name]]
        feats = None
        if scorers.inception is not None and len(ref_images) >= 2:
            feats = scorers.inception.features(ref_images)
        for column, sets in columns.items():
            if name in sets:
                cells.append(score_cell(name, column, sets[name], ref_images, feats, scorers))
    return cells


def _cell(value: float | None, digits: int) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def format_table(cells: list[Cell]) -> str:
    """The paper's layout: one row per type, each metric's cell ``SD / writer`` (columns in the row's order)."""
    lines = ["| type | model | FID | CLIP | LPIPS | SSIM |", "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(c.disaster for c in cells):
        row = [c for c in cells if c.disaster == name]
        parts = [" / ".join(c.column for c in row)]
        for metric, digits in (("fid", 2), ("clip", 3), ("lpips", 3), ("ssim", 3)):
            parts.append(" / ".join(_cell(getattr(c, metric), digits) for c in row))
        lines.append(f"| {name} | " + " | ".join(parts) + " |")
    return "\n".join(lines)


def metric_notes(scorers: Scorers, size: int) -> dict[str, str]:
    """How each metric was computed, or why it was not."""
    how = {
        "fid": "Inception-v3 (TF FID graph) pool-3 features, TF1 bilinear resize to 299",
        "clip": "mean cosine of each still with "
        + ("its prompt" if scorers.clip_text == "prompt" else "'a photo of a <type>'")
        + " (CLIP image and text features)",
        "lpips": f"AlexNet LPIPS v0.1, mean over all (generated, reference) pairs at {size}x{size}",
        "ssim": f"luminance, 11x11 Gaussian window, mean over all (generated, reference) pairs at {size}x{size}",
    }
    notes = {}
    for metric in METRICS:
        if metric in scorers.missing:
            notes[metric] = f"not computed: {scorers.missing[metric]}"
        else:
            source = scorers.sources.get(metric)
            notes[metric] = how[metric] + (f" ({source})" if source else "")
    return notes


def report_json(cells: list[Cell], scorers: Scorers, size: int, extra: dict[str, Any]) -> dict[str, Any]:
    return {
        "size": size,
        "columns": list(dict.fromkeys(c.column for c in cells)),
        "types": list(dict.fromkeys(c.disaster for c in cells)),
        "metrics": {
            m: {"computed": m not in scorers.missing, "note": n}
            for m, n in metric_notes(scorers, size).items()
        },
        "cells": [asdict(c) for c in cells],
        **extra,
    }


def report_markdown(cells: list[Cell], scorers: Scorers, size: int, title: str = "Table 1") -> str:
    lines = [
        f"# {title}",
        "",
        format_table(cells),
        "",
        "FID and LPIPS: lower is better; CLIP and SSIM: higher.",
        "",
    ]
    lines += [f"- {m.upper()}: {note}" for m, note in metric_notes(scorers, size).items()]
    lines += [
        f"- {c.disaster} / {c.column}: {m.upper()} {why}" for c in cells for m, why in c.why_not.items()
    ]
    counts = ", ".join(f"{c.disaster}/{c.column} {c.generated} vs {c.reference}" for c in cells)
    lines += [f"- images (generated vs reference): {counts}"]
    return "\n".join(lines) + "\n"
