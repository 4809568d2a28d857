"""What a ``Processor`` is given: where announcements go, how a message waits for its partition, how bytes
become an alert. The daemon implements them against Kafka; ``cinealert render`` and tests use the defaults."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from cinealert.cap.model import Alert, Classification
from cinealert.config.sections import CapSettings

__all__ = ["Announcer", "ClassifyFn", "DeadLetter", "Ordering", "ParseFn", "Unordered", "default_classify",
           "default_parse"]  # fmt: skip


class Announcer(Protocol):
    """Where announcements go (the daemon: the media topic). ``fence`` and ``delivered`` make resends exact."""

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """JSON-able facts recorded before sending, enough for ``delivered`` to find the event later."""
        ...

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        """Deliver ``event``; return only once it is durably accepted."""
        ...

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        """Whether an event with ``event["event_id"]`` was delivered at or after ``fence``."""
        ...


class Ordering(Protocol):
    """How a message waits for the earlier messages of its partition (the daemon implements it per record)."""

    def recorded(self) -> None:
        """This message's tombstones (if any) are durable, or it has none: later messages may go ahead."""
        ...

    async def earlier_recorded(self) -> None:
        """Return once every earlier message of the partition has called ``recorded``."""
        ...


class Unordered:
    """No partition to wait for (``cinealert render``, tests driving ``handle`` directly)."""

    def recorded(self) -> None:
        return None

    async def earlier_recorded(self) -> None:
        return None


DeadLetter = Callable[[bytes, str, str, str], Awaitable[None]]  # (data, reason label, reason text, stage)
ParseFn = Callable[[bytes], Alert]
ClassifyFn = Callable[[Alert], Classification]


def default_parse(cap: CapSettings) -> ParseFn:
    from cinealert.cap import parse_alert

    def parse(data: bytes) -> Alert:
        return parse_alert(data, settings=cap)

    return parse


def default_classify() -> ClassifyFn:
    from cinealert.cap import classify

    return classify
