"""``cinealert render FILE --out DIR``: one alert to every output and ``DIR/result.json``.

Exit codes: 0 a rung aired (a lower one says why in ``degraded``); 2 bad input, configuration or request;
1 only when not even the slate could be published, with a one-line reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cinealert.media.errors import describe
from cinealert.media.job import ALL_PROFILES, ProfileName
from cinealert.media.result import RESULT

if TYPE_CHECKING:
    from cinealert.cap.model import Alert
    from cinealert.config import Settings

_NAMED = ("720p", "1080p", "2160p")


class _Refused(Exception):  # noqa: N818 - a refusal with its message, not an error
    """Bad input or request: printed to stderr, exit 2."""


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
    if out.exists() and any(out.iterdir()) and not (out / RESULT).is_file():
        raise _Refused(f"refusing to overwrite {out}: it is not empty and holds no {RESULT}")


def cmd_render(args: argparse.Namespace) -> int:
    """``cinealert render FILE --out DIR``: every output and DIR/result.json; exit 2 on bad input.

    A valid alert exits 0 with the rung that aired (a lower one says why in ``degraded``); 1 only when not even
    the slate could be published, with a one-line reason.
    """
    started = time.perf_counter()
    from cinealert.cap import classify
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
        return 2
    stage = MediaStage(settings, size=size)
    try:
        published = stage.render(
            alert, classification, threading.Event(), directory=out, mode=args.mode, profiles=profiles,
            resolution=resolution, started=started, timings={"parse": parse_ms},
        )  # fmt: skip
    except Exception as exc:  # the slate failed too, or storage, or cancel: one line, no traceback
        print(f"ERROR {args.file}: {describe(exc, 2000)}", file=sys.stderr)
        return 1
    print(json.dumps({"directory": str(published.directory), "files": len(published.files),
                      "rung": published.rung, "degraded": list(published.degraded),
                      "timings_ms": published.timings_ms}, ensure_ascii=False))  # fmt: skip
    return 0
