"""Every ``cinealert`` command's body: its arguments, what it prints, its exit code.

``cinealert/cli.py`` builds the parser and dispatches here. Commands sit on top of every layer; no library
module imports ``cinealert.commands``. Each command imports what it runs inside its own body, so ``validate``
and ``classify`` never import torch or PyAV. Exit codes: 0 success, 2 invalid input or configuration,
1 runtime failure.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cinealert.config import Settings

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_INVALID = 2


def load_settings(args: argparse.Namespace) -> Settings:
    """Settings from ``--config`` (or ``$CINEALERT_CONFIG``); a ``ConfigError`` exits 2 in ``cli.main``."""
    from cinealert.config import load

    return load(getattr(args, "config", None))
