"""Command line: ``cinealert run|demo|send|broker|render|scene|prewarm|validate|classify|route|validate-config|...``.

Each command imports its stage lazily, so ``validate`` and ``classify`` never import torch or PyAV.
Exit codes: 0 success, 2 invalid input or configuration, 1 runtime failure.

This module is the parser and the dispatch; every command's body is in ``cinealert.commands``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from cinealert.commands import EXIT_INVALID, cap, config, daemon, media, ml

Command = Callable[[argparse.Namespace], int]
Add = Callable[..., argparse.ArgumentParser]

HAZARDS = ["flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake", "other"]


def _config_arg(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", type=Path, default=None, help="TOML settings file ($CINEALERT_CONFIG)")


def _adder(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> Add:
    def add(name: str, func: Command, help_text: str, config: bool = True) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        if config:
            _config_arg(p)
        p.set_defaults(func=func)
        return p

    return add


def _add_config_commands(add: Add) -> None:
    p = add(
        "validate-config",
        config.cmd_validate_config,
        "check a settings file; every problem with its key path",
        False,
    )
    p.add_argument("file", type=Path, nargs="?", default=None)
    add("config-example", config.cmd_config_example, "print the documented example settings file", False)


def _add_cap_commands(add: Add) -> None:
    p = add("validate", cap.cmd_validate, "validate CAP files: one line per file, exit 2 if any is invalid")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--profile", action="store_true", help="also print IPAWS-style profile warnings")
    p = add("classify", cap.cmd_classify, "classify a CAP alert to a disaster type")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true")
    p = add(
        "route",
        cap.cmd_route,
        "would this alert air on this station ([coverage]), and why; exit 0 either way",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--json", action="store_true")


def _add_render_command(add: Add) -> None:
    """Overlay, speech, captions, ATSC 1.0/3.0 and HLS segments (``cinealert.media``)."""
    p = add("render", media.cmd_render, "render a CAP alert to broadcast media")
    p.add_argument("file", type=Path, metavar="FILE", help="CAP alert XML")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="output directory (result.json last)"
    )
    p.add_argument("--mode", choices=("burn-in", "rich-media"), default=None, help="default: broadcast.mode")
    p.add_argument("--profile", choices=("atsc1", "atsc3", "hls", "all"), default=None)
    p.add_argument(
        "--resolution", default=None, help="720p, 1080p, 2160p or WxH (default: render.resolution)"
    )
    p.add_argument("--duration", type=float, default=None, metavar="S", help="scene loop seconds")


def _add_daemon_commands(add: Add) -> None:
    add("run", daemon.cmd_run, "the daemon: Kafka in, media and events out")
    p = add("send", daemon.cmd_send, "send CAP files to the alerts topic")
    p.add_argument("files", type=Path, nargs="+", metavar="FILE")
    p.add_argument("--bootstrap", default=None, help="host:port (default: kafka.bootstrap)")
    p.add_argument("--topic", default=None, help="default: kafka.alerts_topic")
    p = add("demo", daemon.cmd_demo, "embedded broker + daemon + bundled samples")
    p.add_argument("--samples", type=Path, default=None, help="*.xml and hostile/* (default: samples)")
    p.add_argument("--stage", choices=("media", "summary"), default=None, help="override handlers.stage")
    p.add_argument("--output-dir", type=Path, default=None, help="default: <output_dir>/demo/<time>")
    p.add_argument("--timeout", type=float, default=1800.0, help="seconds to wait for the daemon")
    p.add_argument("--verbose", action="store_true", help="show the daemon's log")
    p.add_argument("--quick", action="store_true", help="720p, 2 s loops, 1 variant: a fast preview")
    p.add_argument(
        "--console", action="store_true", help="keep the operator console up after the table, until Ctrl-C"
    )
    p.add_argument("--no-console", action="store_true", help="no operator console during the demo")
    p = add("broker", daemon.cmd_broker, "run the embedded Kafka broker alone")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=None, help="default: kafka.embedded_port (0 = free port)")
    p.add_argument("--port-file", type=Path, default=None, help="write the bound port here")


def _add_scene_commands(add: Add) -> None:
    """Scenes and the scene cache."""
    p = add("scene", media.cmd_scene, "render a scene: layers, masks, MP4, sheet")
    p.add_argument("type", choices=HAZARDS, metavar="TYPE", help=", ".join(HAZARDS))
    p.add_argument("--variant", type=int, default=0)
    p.add_argument("--camera", choices=("static", "circular", "up-down", "dolly"), default=None)
    p.add_argument("--amplitude", type=float, default=None, help="camera amplitude 0..2 (default: settings)")
    p.add_argument("--resolution", default=None, help="720p, 1080p, 2160p or WxH (default: settings)")
    p.add_argument("--duration", type=float, default=None, help="loop seconds (default: render.duration_s)")
    p.add_argument(
        "--backend",
        choices=("procedural", "ml"),
        default=None,
        help="scene backend (default: render.backend)",
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p = add("prewarm", media.cmd_prewarm, "fill the scene cache (progress bar)")
    p.add_argument("--types", nargs="+", choices=HAZARDS, default=None, help="default: render.prewarm")
    p.add_argument("--resolution", default=None, help="720p, 1080p, 2160p or WxH (default: settings)")


def _add_ml_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser], add: Add) -> None:
    """The ML pipeline: prompt-writer training and evaluation."""
    prompter = sub.add_parser("prompter", help="build the prompt writer's dataset and train its LoRA adapter")
    psub = prompter.add_subparsers(dest="prompter_command", required=True, metavar="STEP")
    p = psub.add_parser("dataset", help="caption DIR/<type>/*.png|jpg with BLIP into a JSONL (resumable)")
    _config_arg(p)
    p.add_argument("--images", type=Path, required=True, metavar="DIR")
    p.add_argument("--out", type=Path, required=True, metavar="JSONL")
    p.add_argument("--blip", type=Path, default=None, metavar="DIR", help="default: ml.blip_model_dir")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=ml.cmd_prompter_dataset)
    p = psub.add_parser("train", help="fine-tune a causal LM with LoRA on a dataset JSONL (resumable)")
    _config_arg(p)
    p.add_argument("--data", type=Path, required=True, metavar="JSONL")
    p.add_argument("--model", type=Path, default=None, metavar="DIR", help="default: ml.prompt_model_dir")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="default: ml.prompt_adapter_dir")
    p.add_argument("--steps", type=int, default=200)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--lr", type=float, default=2e-4)
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--rank", type=int, default=8)
    p.add_argument(
        "--save-every", type=int, default=50, help="checkpoint (adapter + optimizer) every N steps"
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=ml.cmd_prompter_train)
    p = add(
        "eval", ml.cmd_eval, "the paper's Table 1: FID, CLIP, LPIPS, SSIM per type, plain SD vs the writer"
    )
    p.add_argument(
        "--reference", type=Path, required=True, metavar="DIR", help="real photos: DIR/<type>/*.png"
    )
    p.add_argument("--out", type=Path, required=True, metavar="DIR", help="table1.md, table1.json, stills/")
    p.add_argument(
        "--generated",
        type=Path,
        default=None,
        metavar="DIR",
        help="score DIR/<column>/<type>/*.png instead of painting stills (with NNN.txt prompts beside them)",
    )
    p.add_argument("--types", nargs="+", choices=HAZARDS, default=HAZARDS[:-1], help="types to paint")
    p.add_argument("--count", type=int, default=8, help="stills per type and column")
    p.add_argument("--gen-size", type=int, default=512, help="paint stills at SIZE x SIZE (multiple of 8)")
    p.add_argument("--clip", type=Path, default=None, metavar="DIR", help="default: ml.clip_model_dir")
    p.add_argument(
        "--clip-text",
        choices=("prompt", "type"),
        default="prompt",
        help="CLIP score against each still's prompt, or 'a photo of a <type>' for every column",
    )
    p.add_argument(
        "--inception", type=Path, default=None, metavar="FILE", help="default: ml.inception_weights"
    )
    p.add_argument("--lpips", type=Path, default=None, metavar="DIR", help="default: ml.lpips_model_dir")
    p.add_argument("--size", type=int, default=256, help="images are compared at SIZE x SIZE")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cinealert", description=__doc__.splitlines()[0] if __doc__ else None
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add = _adder(sub)
    _add_config_commands(add)
    _add_cap_commands(add)
    _add_render_command(add)
    _add_daemon_commands(add)
    _add_scene_commands(add)
    _add_ml_commands(sub, add)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from cinealert.config import ConfigError

    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except ConfigError as exc:  # every command: unusable settings are an operator error, exit 2
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
