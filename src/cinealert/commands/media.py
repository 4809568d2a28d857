"""``cinealert render`` (one alert to every output), ``cinealert scene`` and ``cinealert prewarm`` (scenes and
the scene cache).

``render`` exits 0 when a rung aired (a lower one says why in ``degraded``); 2 on bad input, configuration or
request; 1 only when not even the slate could be published, with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cinealert.commands import EXIT_FAILURE, EXIT_INVALID, EXIT_OK
from cinealert.errors import CinealertError

if TYPE_CHECKING:
    from cinealert.cap.model import Alert
    from cinealert.config import Settings
    from cinealert.media.job import ProfileName

_NAMED = ("720p", "1080p", "2160p")


class _Refused(CinealertError):  # noqa: N818 - a refusal with its message, not an error
    """Bad input or request: printed to stderr, exit 2."""


# --- render ---------------------------------------------------------------------------------------------------


def _load(args: argparse.Namespace) -> tuple[Settings, Alert]:
    from cinealert.cap import CapError, parse_alert
    from cinealert.config import ConfigError, load

    try:
        settings = load(getattr(args, "config", None))
        raw = args.file.read_bytes()[: settings.cap.max_bytes + 1]
        return settings, parse_alert(raw, settings=settings.cap)
    except ConfigError as exc:
        raise _Refused(str(exc)) from exc
    except OSError as exc:
        raise _Refused(f"INVALID {args.file}: cannot read file: {exc.strerror or exc}") from exc
    except CapError as exc:
        raise _Refused(f"INVALID {args.file}: {exc.reason}") from exc


def _with_duration(settings: Settings, duration: float | None) -> Settings:
    if duration is None:
        return settings
    if not 0 < duration <= 120:
        raise _Refused("--duration must be in (0, 120] seconds")
    return settings.model_copy(update={"render": settings.render.model_copy(update={"duration_s": duration})})


def _picture(resolution: str | None) -> tuple[str | None, tuple[int, int] | None]:
    """``--resolution``: a named one, or ``WxH`` (rendered as 1080p settings at that exact size)."""
    if resolution is None or resolution in _NAMED:
        return resolution, None
    try:
        w, h = (int(v) for v in resolution.lower().split("x"))
    except ValueError:
        raise _Refused(f"--resolution must be 720p, 1080p, 2160p or WxH, got {resolution!r}") from None
    if not (16 <= w <= 7680 and 16 <= h <= 4320 and w % 2 == 0 and h % 2 == 0):
        raise _Refused(f"--resolution {resolution}: even sizes from 16x16 to 7680x4320 only")
    return "1080p", (w, h)


def _check_out(out: Path) -> None:
    from cinealert.media.result import RESULT

    if out.exists() and any(out.iterdir()) and not (out / RESULT).is_file():
        raise _Refused(f"refusing to overwrite {out}: it is not empty and holds no {RESULT}")


def cmd_render(args: argparse.Namespace) -> int:
    """``cinealert render FILE --out DIR``: every output and DIR/result.json; exit 2 on bad input.

    A valid alert exits 0 with the rung that aired (a lower one says why in ``degraded``); 1 only when not even
    the slate could be published, with a one-line reason.
    """
    started = time.perf_counter()
    from cinealert.cap import classify
    from cinealert.media.errors import describe
    from cinealert.media.job import ALL_PROFILES
    from cinealert.media.stage import MediaStage

    try:
        settings, alert = _load(args)
        parse_ms = (time.perf_counter() - started) * 1000.0
        classification = classify(alert)
        settings = _with_duration(settings, args.duration)
        out: Path = args.out
        _check_out(out)
        profiles: tuple[ProfileName, ...] | None
        profiles = ALL_PROFILES if args.profile == "all" else (args.profile,) if args.profile else None
        resolution, size = _picture(args.resolution)
    except _Refused as exc:
        print(exc, file=sys.stderr)
        return EXIT_INVALID
    stage = MediaStage(settings, size=size)
    try:
        published = stage.render(
            alert, classification, threading.Event(), directory=out, mode=args.mode, profiles=profiles,
            resolution=resolution, started=started, timings={"parse": parse_ms},
        )  # fmt: skip
    except Exception as exc:  # the slate failed too, or storage, or cancel: one line, no traceback
        print(f"ERROR {args.file}: {describe(exc, 2000)}", file=sys.stderr)
        return EXIT_FAILURE
    print(json.dumps({"directory": str(published.directory), "files": len(published.files),
                      "rung": published.rung, "degraded": list(published.degraded),
                      "timings_ms": published.timings_ms}, ensure_ascii=False))  # fmt: skip
    return EXIT_OK


# --- scene, prewarm -------------------------------------------------------------------------------------------


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


def _render_settings(args: argparse.Namespace) -> tuple[Settings, tuple[int, int] | None]:
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


def _ml_stand_ins(settings: Settings) -> list[str]:
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

    from cinealert.cap.model import DisasterType
    from cinealert.render.backends import BackendError
    from cinealert.render.cache import SCENE, load_scene
    from cinealert.render.flash import check_flashes
    from cinealert.render.service import cache_for, get_loop
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
