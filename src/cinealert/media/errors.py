"""The media stage's own errors, and the one-line description every reason and log line uses."""

from __future__ import annotations

from cinealert.errors import CinealertError


class MediaError(RuntimeError, CinealertError):
    """The media stage cannot run (renderer missing, bad request); the message says what to fix."""


class RungError(MediaError):
    """One part of a ladder rung failed (``part``: scene, overlay, picture, slate, render); a lower one may do."""

    def __init__(self, part: str, message: str) -> None:
        super().__init__(message)
        self.part = part


class SpeechError(MediaError):
    """Not even the chimes standing in for speech could be made: no rung would have audio."""


def describe(exc: BaseException, limit: int = 300) -> str:
    """One operator-readable line: the type and message, whitespace collapsed, cut to ``limit``."""
    text = " ".join(f"{type(exc).__name__}: {exc}".split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
