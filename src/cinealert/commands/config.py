"""``cinealert validate-config`` and ``cinealert config-example``."""

from __future__ import annotations

import argparse
import sys

from cinealert.commands import EXIT_INVALID, EXIT_OK


def cmd_validate_config(args: argparse.Namespace) -> int:
    from cinealert.config import ConfigError, load

    try:
        settings = load(args.file)
        from cinealert.cap.coverage import Coverage

        Coverage.from_settings(settings.coverage)  # the area file's GeoJSON is only read here
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{exc.source}: {problem}", file=sys.stderr)
        return EXIT_INVALID
    print(f"OK {args.file or 'defaults'}")
    return EXIT_OK


def cmd_config_example(args: argparse.Namespace) -> int:
    from cinealert.config.example import render_example

    sys.stdout.write(render_example())
    return EXIT_OK
