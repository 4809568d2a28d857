"""The one error root: every cancellation is a ``Cancelled``, every error family a ``CinealertError``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import cinealert.errors
from cinealert.broadcast.audio import AudioCancelledError, TTSError
from cinealert.broadcast.codec import EncodeCancelledError, EncodeError
from cinealert.cap import CapError
from cinealert.config import ConfigError
from cinealert.durable import PublishError
from cinealert.errors import Cancelled, CinealertError
from cinealert.media.contract import GateClosed, StageCancelled
from cinealert.media.errors import MediaError
from cinealert.render.animate import RenderCancelled


@pytest.mark.parametrize("cls", [StageCancelled, RenderCancelled, EncodeCancelledError, AudioCancelledError])
def test_every_cancellation_is_cancelled(cls: type[Exception]) -> None:
    assert issubclass(cls, Cancelled)
    assert issubclass(cls, CinealertError)


def test_a_closed_gate_is_no_cancellation() -> None:
    """A final answer (never goes live, committed), not unfinished work to be done again."""
    assert issubclass(GateClosed, CinealertError)
    assert not issubclass(GateClosed, Cancelled)


@pytest.mark.parametrize(
    ("cls", "base"),
    [(CapError, ValueError), (PublishError, OSError), (EncodeError, RuntimeError), (TTSError, RuntimeError),
     (MediaError, RuntimeError), (ConfigError, Exception)],
)  # fmt: skip
def test_families_keep_their_standard_base(cls: type[Exception], base: type[Exception]) -> None:
    assert issubclass(cls, CinealertError)
    assert issubclass(cls, base)
    assert not issubclass(cls, Cancelled)


def test_publish_error_is_still_an_oserror_with_errno() -> None:
    exc = PublishError(28, "No space left on device")
    assert exc.errno == 28
    assert exc.strerror == "No space left on device"


def test_errors_is_a_leaf() -> None:
    tree = ast.parse(Path(cinealert.errors.__file__).read_text(encoding="utf-8"))
    imported = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    imported += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    assert not [m for m in imported if m.startswith("cinealert")]


def test_every_exception_the_project_defines_is_under_the_root() -> None:
    """A new error family must join the root (callers catch ``CinealertError``/``Cancelled`` once)."""
    import importlib
    import inspect
    import pkgutil

    import cinealert

    outside = []
    for mod in pkgutil.walk_packages(cinealert.__path__, "cinealert."):
        module = importlib.import_module(mod.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, BaseException) and obj.__module__ == mod.name
                    and not issubclass(obj, CinealertError)):  # fmt: skip
                outside.append(f"{mod.name}.{name}")
    assert outside == []
