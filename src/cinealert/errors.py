"""The project's one error root (a leaf: it imports nothing from the project).

``CinealertError`` is the base of every error family the project raises on purpose (``CapError``,
``ConfigError``, ``PublishError``, ``EncodeError``, ``MediaError``, ...); each family keeps its standard-library
base too (``ValueError``, ``OSError``, ``RuntimeError``), so existing ``except`` clauses still catch it.

``Cancelled`` is the one thing that is not a failure: every cancellation (``StageCancelled``,
``RenderCancelled``, ``EncodeCancelledError``, ``AudioCancelledError``) derives from it, so a boundary catches
it once instead of listing them. ``GateClosed`` is deliberately not one: a closed gate is a final answer (the
output must never go live, the message is finished and committed), while a cancelled piece of work is not done
and will be done again.
"""

from __future__ import annotations

__all__ = ["Cancelled", "CinealertError"]


class CinealertError(Exception):
    """An error the project raises on purpose, with an operator-actionable message."""


class Cancelled(CinealertError):  # noqa: N818 - a signal, not an error
    """Work stopped because shutdown or a newer decision asked it to; never a failure, never dead-lettered."""
