"""The contract between message handling and media production.

Handlers decide *what* to do with a CAP message (publish, supersede, withdraw, drop); a ``Stage`` does it and
returns only after the result is durable on disk. The daemon commits a Kafka offset only after a ``Stage``
method has returned, which is what makes ingestion at-least-once; ``existing`` makes it effectively-once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from cinealert.cap.model import Alert, AlertKey, Classification


class StageCancelled(Exception):  # noqa: N818 - the contract name other stages already use
    """The work was stopped between frames because the daemon is shutting down; nothing was published."""


class GateClosed(Exception):  # noqa: N818 - a signal like StageCancelled, not an error
    """The publish gate refused: a Cancel or Update got to this alert first, so it must not go live.

    A stage lets it propagate untouched (never retried, never a reason to degrade), after removing what it wrote.
    """


#: Called by a stage immediately before its output goes live (before ``result.json``); raises ``GateClosed``
#: to stop it. When it returns, the caller holds the key's guard until the output is announced.
Gate = Callable[[], None]


@dataclass(frozen=True, slots=True)
class Published:
    key: AlertKey
    disaster: str
    directory: Path
    files: tuple[Path, ...]
    urls: tuple[str, ...] = ()
    duration_s: float = 0.0
    timings_ms: Mapping[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    #: Which rung of the degradation ladder aired (``RUNGS``) and why each higher rung was left (one reason
    #: per step down, operator-readable). A valid alert always airs something; only the last rung may fail.
    rung: str = "full"
    degraded: tuple[str, ...] = ()


#: The degradation ladder, best first: full clip; no speech (tone + overlay + captions); no animation (a
#: static scene frame); a plain text slate. Metrics and announcements use these names.
RUNGS: tuple[str, ...] = ("full", "no_speech", "static", "slate")


class Stage(Protocol):
    def publish(
        self, alert: Alert, classification: Classification, cancel: threading.Event, gate: Gate | None = None
    ) -> Published:
        """Render and durably publish ``alert``; raise ``StageCancelled`` if ``cancel`` is set mid-way.

        ``gate`` is called once, after everything else is durable and right before ``result.json`` is written
        (the moment the output counts as published); ``GateClosed`` from it propagates with nothing left behind.
        An output that already exists is returned without calling the gate (the caller checks it itself).
        """
        ...

    def existing(self, key: AlertKey) -> Published | None:
        """The completed publication of ``key``, if any (a redelivered alert must not be rendered twice)."""
        ...

    def supersede(self, key: AlertKey, by: AlertKey) -> Path | None:
        """Mark the output of ``key`` superseded by ``by`` (CAP Update); the marker path, or None if unknown."""
        ...

    def withdraw(self, key: AlertKey, by: AlertKey) -> Path | None:
        """Withdraw the output of ``key`` because of the Cancel ``by``; the marker path, or None if unknown."""
        ...
