"""The contract between message handling and media production.

Handlers decide *what* to do with a CAP message (publish, supersede, withdraw, drop); a ``Stage`` does it and
returns only after the result is durable on disk. The daemon commits a Kafka offset only after a ``Stage``
method has returned, which is what makes ingestion at-least-once; ``existing`` makes it effectively-once.
What a stage returns and raises (``Published``, ``StageCancelled``, ``GateClosed``, ``Gate``, ``RUNGS``) is
defined in ``cinealert.media.contract``, below this package, so the media stage can use it; it is re-exported.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Protocol

from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.media.contract import RUNGS, Gate, GateClosed, Published, StageCancelled

__all__ = ["RUNGS", "Gate", "GateClosed", "Published", "Stage", "StageCancelled"]


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
