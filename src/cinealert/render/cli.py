"""``cinealert scene`` and ``cinealert prewarm``: preview one scene, or fill the scene cache."""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path

from cinealert.cap.model import DisasterType

EXIT_OK, EXIT_FAILURE, EXIT_INVALID = 0, 1, 2


def parse_size(value: str) -> tuple[int, int] | None:
    """``720p``/``1080p``/``2160p`` (None: use as a setting) or ``WxH``."""
    from cinealert.render.service import RESOLUTIONS

    if value in RESOLUTIONS:
        return None
    m = re.fullmatch(r"(\d{2,5})x(\d{2,5})", value)
    if not m:
        raise argparse.ArgumentTypeError(
            f"resolution must be one of {', '.join(RESOLUTIONS)} or WxH, got {value!r}"
        )
    return int(m.group(1)), int(m.group(2))


def _render_settings(args: argparse.Namespace):  # type: ignore[no-untyped-def]  # -> (Settings, size)
    from cinealert.config import load

    settings = load(getattr(args, "config", None))
    update: dict[str, object] = {}
    size = None
    if getattr(args, "resolution", None):
        size = parse_size(args.resolution)
        if size is None:
            update["resolution"] = args.resolution
    overrides = (
        ("camera", "camera"), ("amplitude", "camera_amplitude"), ("duration", "duration_s"), ("backend", "backend"),
    )  # fmt: skip
    for arg, key in overrides:
        if getattr(args, arg, None) is not None:
            update[key] = getattr(args, arg)
    if update:
        render = settings.render.model_validate({**settings.render.model_dump(), **update})
        settings = settings.model_copy(update={"render": render})
    return settings, size


def _ml_stand_ins(settings) -> list[str]:  # type: ignore[no-untyped-def]  # settings: Settings
    """The ML stages with no model directory configured (the backend uses its CPU stand-in for each)."""
    ml = settings.ml
    stages = (
        ("prompt writer", ml.prompt_model_dir), ("text-to-image", ml.diffusion_model_dir),
        ("grounding", ml.grounding_model_dir), ("segmentation", ml.sam_model_dir), ("depth", ml.depth_model_dir),
    )  # fmt: skip
    return [name for name, path in stages if path is None]


def cmd_scene(args: argparse.Namespace) -> int:
    from cinealert.config import ConfigError

    try:
        settings, size = _render_settings(args)
    except (ConfigError, ValueError, argparse.ArgumentTypeError) as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_INVALID
    from PIL import Image

    from cinealert.render.backends import BackendError
    from cinealert.render.flash import check_flashes
    from cinealert.render.service import get_loop
    from cinealert.render.sheet import contact_sheet, write_mp4, write_scene_files

    disaster = DisasterType(args.type)
    if settings.render.backend == "ml":
        missing = _ml_stand_ins(settings)
        if missing:
            print(
                f"ml backend: no model directory for {', '.join(missing)} in [ml]; "
                "built-in CPU stand-ins are used for those stages",
                file=sys.stderr,
            )
    t0 = time.perf_counter()
    try:
        result = get_loop(disaster, args.variant, settings, size=size)
    except BackendError as exc:
        print(f"scene backend {settings.render.backend!r} unavailable: {exc}", file=sys.stderr)
        return EXIT_FAILURE
    loop = result.loop
    frames = list(loop.frames())
    from cinealert.render.cache import SCENE, load_scene
    from cinealert.render.service import cache_for

    scene = load_scene(cache_for(settings.render).entry_dir(result.scene_key) / SCENE)
    out: Path = args.out
    files = write_scene_files(scene, out)
    write_mp4(frames, out / "preview.mp4", loop.fps)
    contact_sheet(scene, frames).save(out / "contact.png", optimize=True)
    Image.fromarray(frames[0]).save(out / "frame0.png")
    report = check_flashes(frames, loop.fps)
    print(
        f"{disaster.value} v{args.variant % settings.render.variants} ({settings.render.backend}): "
        f"{loop.width}x{loop.height} "
        f"{loop.num_frames} frames, {'cache hit' if result.cache_hit else 'rendered'} in "
        f"{time.perf_counter() - t0:.1f} s; {len(files) + 3} files in {out}; flash check {report.summary()}"
    )
    return EXIT_OK if report.passed else EXIT_FAILURE


def cmd_prewarm(args: argparse.Namespace) -> int:
    from cinealert.config import ConfigError

    try:
        settings, size = _render_settings(args)
    except (ConfigError, ValueError, argparse.ArgumentTypeError) as exc:
        print(f"invalid: {exc}", file=sys.stderr)
        return EXIT_INVALID
    from cinealert.render.service import cache_for, prewarm

    t0 = time.perf_counter()
    results = prewarm(settings, args.types, progress=True, size=size)
    hits = sum(r.cache_hit for r in results)
    cache = cache_for(settings.render)
    print(
        f"prewarmed {len(results)} loops ({hits} already cached) in {time.perf_counter() - t0:.1f} s; "
        f"cache {cache.size_bytes() / 1e9:.2f} GB of {settings.render.cache_max_bytes / 1e9:.2f} GB "
        f"at {settings.render.cache_dir}"
    )
    return EXIT_OK
