"""What handling one message came to (``Outcome``): the daemon counts it, commits, and logs it.

Per channel (``handlers.channels``): ``channels`` says what each taking channel did, ``refused`` which channels'
coverage turned the alert down and why, ``announced_on`` every announcement with its channel and ``extras``
each channel's ``Published.extra`` (the scene cache hit or miss of that channel's render).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from cinealert.cap.model import AlertKey
from cinealert.errors import CinealertError

Status = Literal["published", "duplicate", "withdrawn", "skipped", "rejected"]


class StageFailedError(RuntimeError, CinealertError):
    """The stage raised on every attempt; the alert is dead-lettered with this message."""


@dataclass(slots=True)
class Outcome:
    status: Status
    reason: str = ""
    key: AlertKey | None = None
    disaster: str | None = None
    sent: datetime | None = None
    #: the events announced, in order (``announced_on`` says on which channel)
    announced: list[str] = field(default_factory=list)
    superseded: int = 0
    withdrawn: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)
    rung: str = "full"
    degraded: tuple[str, ...] = ()
    #: per channel that took the alert: "published", "duplicate", or why it did not air there
    channels: dict[str, str] = field(default_factory=dict)
    #: per channel whose coverage did not take the alert: the reason (out_of_area, event_filtered, ...)
    refused: dict[str, str] = field(default_factory=dict)
    #: (event, channel) of every announcement, in the order of ``announced``
    announced_on: list[tuple[str, str]] = field(default_factory=list)
    #: per channel published now: its ``Published.extra``; its rung in ``rungs``
    extras: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    rungs: dict[str, str] = field(default_factory=dict)

    def note(self, event: str, channel: str) -> None:
        """``event`` was announced on ``channel``."""
        self.announced.append(event)
        self.announced_on.append((event, channel))

    def take_announcements(self, other: Outcome) -> None:
        """Add ``other``'s announcements after this one's."""
        self.announced += other.announced
        self.announced_on += other.announced_on

    def after(self, earlier: Outcome) -> Outcome:
        """This outcome, with ``earlier``'s announcements (made before it, for the same message) first."""
        self.announced = earlier.announced + self.announced
        self.announced_on = earlier.announced_on + self.announced_on
        return self


def reject_label(exc: Exception) -> str:
    """A bounded label from the CapError subclass: ``CapSecurityError`` -> ``security``."""
    name = type(exc).__name__
    if name.startswith("Cap") and name.endswith("Error") and len(name) > len("CapError"):
        return name[3:-5].lower()
    return "invalid"
