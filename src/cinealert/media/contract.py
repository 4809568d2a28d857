"""What a stage hands back to message handling, and the two signals that stop it.

They live here, below ``handlers``, because the media stage raises and returns them and must not import
``handlers``; ``cinealert.handlers.stage`` re-exports them next to the ``Stage`` protocol.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cinealert.cap.model import AlertKey
from cinealert.errors import Cancelled, CinealertError


class StageCancelled(Cancelled):
    """The work was stopped between frames because the daemon is shutting down; nothing was published."""


class GateClosed(CinealertError):  # noqa: N818 - a final answer, not an error; not a Cancelled (errors.py)
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
