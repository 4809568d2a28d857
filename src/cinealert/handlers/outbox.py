"""Send one message exactly once across crashes: the one outbox protocol, for announcements and dead letters.

A send to Kafka and a file write cannot be one atomic step, so each message gets two durable markers:

1. ``pending`` is written *before* sending, holding the message and a fence from the channel (where it will
   land and an offset no later than where it can land);
2. ``done`` after the broker acknowledged it (acks=all); then ``pending`` is removed.

A replay that finds ``done`` sends nothing. One that finds only ``pending`` (the process died in between) asks
the channel whether the message is already there, from the fence on, and sends only if not. So a crash at any
instant gives neither a lost nor a duplicated message (if the broker itself loses the topic, it is sent again,
which is what a consumer needs then).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import structlog

from cinealert.objstore import LOCAL, SharedFiles, StoreError

log = structlog.get_logger("cinealert.handlers")

Fence = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Outbox:
    """The two markers of one message, and the name its log events carry (``announcement``, ``dead_letter``)."""

    done: Path
    pending: Path
    what: str
    #: where the markers live: this disk, or a bucket every daemon of the group sees (``cinealert.objstore``)
    files: SharedFiles = field(default=LOCAL)

    def read(self, path: Path) -> dict[str, Any] | None:
        """A marker; None if absent, ``{}`` if unreadable (as ``durable.read_json``)."""
        try:
            data = self.files.read(path)
        except StoreError:
            raise
        except OSError:
            return {}
        if data is None:
            return None
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError:
            return {}
        return doc if isinstance(doc, dict) else {}


async def deliver_once(
    box: Outbox,
    doc: Mapping[str, Any],
    *,
    fence: Callable[[], Awaitable[dict[str, Any]]],
    send: Callable[[Fence], Awaitable[None]],
    delivered: Callable[[Fence], Awaitable[bool]],
    **log_fields: Any,
) -> bool:
    """Deliver the message described by ``doc`` unless it already was; True when this call sent it.

    ``doc`` is what the markers record (JSON-able); the caller's ``send`` carries the message itself.
    """
    if await asyncio.to_thread(box.files.read, box.done) is not None:
        log.info(f"{box.what}_already_sent", **log_fields)
        return False
    previous = await asyncio.to_thread(box.read, box.pending)
    if previous is not None:
        if await delivered(previous.get("fence") or {}):
            log.info(f"{box.what}_found_after_restart", **log_fields)
            recorded = previous.get("doc") or previous.get("event") or doc  # "event": markers of 0.1
            await asyncio.to_thread(box.files.put, box.done, dumps(recorded))
            await asyncio.to_thread(box.files.remove, box.pending)
            return False
        log.info(f"{box.what}_not_found_after_restart", **log_fields)
    where = await fence()
    await asyncio.to_thread(box.files.put, box.pending, dumps({"doc": doc, "fence": where}))
    await send(where)
    await asyncio.to_thread(box.files.put, box.done, dumps(doc))
    await asyncio.to_thread(box.files.remove, box.pending)  # ``done`` wins from here on
    return True


def dumps(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")
