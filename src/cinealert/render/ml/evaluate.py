"""``cinealert prompter dataset|train`` and ``cinealert eval``: the paper's training and evaluation steps."""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cinealert.render.scene import RGB

if TYPE_CHECKING:
    from cinealert.config.settings import Settings

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2


def _settings(args: argparse.Namespace) -> Settings | None:
    """Settings from ``--config``; on a problem, says which on stderr and returns ``None`` (exit 2)."""
    from cinealert.config import ConfigError, load

    try:
        return load(getattr(args, "config", None))
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return None


def cmd_prompter_dataset(args: argparse.Namespace) -> int:
    from cinealert.render.ml.dataset import Captioner, build_dataset
    from cinealert.render.ml.runtime import ModelDirError

    settings = _settings(args)
    if settings is None:
        return EXIT_INVALID
    blip = args.blip or settings.ml.blip_model_dir
    if blip is None:
        print("no captioner: pass --blip DIR or set ml.blip_model_dir", file=sys.stderr)
        return EXIT_INVALID
    try:
        captioner = Captioner(blip)
        result = build_dataset(args.images, args.out, captioner, progress=not args.quiet)
    except (ModelDirError, FileNotFoundError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    print(f"{args.out}: {result.added} added, {result.skipped} already there, {result.failed} unreadable")
    return EXIT_OK


def cmd_prompter_train(args: argparse.Namespace) -> int:
    from cinealert.render.ml.runtime import ModelDirError
    from cinealert.render.ml.train import TrainConfig, TrainDataError, train_lora

    settings = _settings(args)
    if settings is None:
        return EXIT_INVALID
    model = args.model or settings.ml.prompt_model_dir
    out = args.out or settings.ml.prompt_adapter_dir
    if model is None or out is None:
        print("pass --model and --out (or set ml.prompt_model_dir / ml.prompt_adapter_dir)", file=sys.stderr)
        return EXIT_INVALID
    config = TrainConfig(
        steps=args.steps,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        rank=args.rank,
        alpha=2 * args.rank,
        seed=args.seed,
        save_every=args.save_every,
    )
    try:
        result = train_lora(args.data, model, out, config, progress=not args.quiet)
    except (ModelDirError, TrainDataError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    resumed = f"resumed at {result.resumed_from}"
    print(f"adapter {result.adapter_dir}: {result.steps} steps ({resumed}), loss {result.final_loss:.4f}")
    return EXIT_OK


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


def cmd_eval(args: argparse.Namespace) -> int:
    from cinealert.render.ml.runtime import ModelDirError

    settings = _settings(args)
    if settings is None:
        return EXIT_INVALID
    clip_dir = args.clip or settings.ml.clip_model_dir
    try:
        rows = evaluate(args.generated, args.reference, args.size, clip_dir)
    except (FileNotFoundError, ModelDirError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    print(format_table(rows))
    notes = ["SSIM: luminance, 11x11 Gaussian window, mean over all (generated, reference) pairs"]
    notes.append(
        "FID, CLIP: "
        + (
            "CLIP image features (CLIP-FID), cosine CLIP score"
            if clip_dir
            else "n/a (set ml.clip_model_dir or --clip)"
        )
    )
    notes.append("LPIPS: n/a (needs AlexNet/VGG LPIPS weights, none available offline)")
    for note in notes:
        print(f"# {note}")
    return EXIT_OK
