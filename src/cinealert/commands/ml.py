"""``cinealert prompter dataset|train`` and ``cinealert eval``: the paper's training and evaluation steps."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from cinealert.commands import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from cinealert.config.settings import Settings


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


def cmd_eval(args: argparse.Namespace) -> int:
    """Paint the stills (unless ``--generated``), score them against ``--reference``, write the report."""
    import json

    from cinealert.cap.model import DisasterType
    from cinealert.render.ml.evaluate import evaluate, load_scorers, report_json, report_markdown
    from cinealert.render.ml.runtime import ModelDirError
    from cinealert.render.ml.stills import StillsError, export_stills

    settings = _settings(args)
    if settings is None:
        return EXIT_INVALID
    extra: dict[str, object] = {"reference": str(args.reference)}
    try:
        generated = args.generated
        if generated is None:
            generated = args.out / "stills"
            types = [DisasterType(t) for t in args.types]
            result = export_stills(settings, generated, types, args.count, args.gen_size)
            print(f"stills in {generated}: {result.painted} painted, {result.kept} kept", file=sys.stderr)
            extra |= {"writer_source": result.writer_source, "gen_size": args.gen_size}
        extra["stills"] = str(generated)
        ml = settings.ml
        scorers = load_scorers(
            args.clip or ml.clip_model_dir,
            args.inception or ml.inception_weights,
            args.lpips or ml.lpips_model_dir,
        )
        scorers.clip_text = args.clip_text
        cells = evaluate(generated, args.reference, args.size, scorers)
    except (FileNotFoundError, ModelDirError, StillsError, ValueError) as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    args.out.mkdir(parents=True, exist_ok=True)
    markdown = report_markdown(cells, scorers, args.size)
    (args.out / "table1.md").write_text(markdown, encoding="utf-8")
    report = report_json(cells, scorers, args.size, extra)
    (args.out / "table1.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(markdown, end="")
    return EXIT_OK
