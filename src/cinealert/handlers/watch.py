"""What an onlooker (the operator console) is told as messages go through the ``Processor``, and the gate hook
of manual forwarding; all of it optional, none of it in the way of an alert.

The console keeps no bookkeeping of its own beside these: ``received`` (the parsed alert, from the parse step),
``rendering`` (a channel's stage started on it), ``announced`` (every event put on ``cap.media``, exactly as
sent), ``finished`` (the ``Outcome`` the daemon commits the offset on: skipped and rejected, with the reason)
and the ``Approvals`` listeners (pending, held, approved). A watcher that raises is logged and ignored.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import structlog

from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.handlers.approval import Approvals
from cinealert.handlers.process import Processor
from cinealert.handlers.stage import Gate, Published, Stage

log = structlog.get_logger("cinealert.handlers")


class Watch(Protocol):
    def received(self, alert: Alert) -> None: ...

    def rendering(self, alert: Alert, channel: str) -> None: ...

    def announced(self, event: Mapping[str, Any]) -> None: ...

    def finished(self, partition: int, offset: int, outcome: Any) -> None:
        """``outcome``: the ``handlers.process.Outcome``, or None when the processor raised (dead-lettered)."""
        ...


def safely(what: str, call: Callable[[], object]) -> None:
    try:
        call()
    except Exception as exc:  # the console is an onlooker: its bugs never cost an alert
        log.error("watch_failed", what=what, error=repr(exc))


def watched_parse(inner: Callable[[bytes], Alert], watch: Watch) -> Callable[[bytes], Alert]:
    """The processor's parse step, telling ``watch`` about every alert it parses."""

    def parse(data: bytes) -> Alert:
        alert = inner(data)
        safely("received", lambda: watch.received(alert))
        return alert

    return parse


class WatchedAnnouncer:
    """An ``Announcer`` that shows ``watch`` every event once the broker has it."""

    def __init__(self, inner: Any, watch: Watch) -> None:
        self.inner, self.watch = inner, watch

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        fence: dict[str, Any] = await self.inner.fence(event)
        return fence

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        await self.inner.send(event, fence)
        safely("announced", lambda: self.watch.announced(event))

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        return bool(await self.inner.delivered(event, fence))


class GatedStage:
    """One channel's ``Stage`` with the console's hooks: ``rendering`` when a publish starts, and the approval
    wait (``Approvals.wait``) in front of the processor's gate, so a manual channel's alert is rendered, then
    waits, then takes the key guard and checks its tombstone as any other."""

    def __init__(
        self,
        inner: Stage,
        channel: str,
        *,
        watch: Watch | None,
        approvals: Approvals | None,
        closed: Callable[[AlertKey], bool],
    ) -> None:
        self.inner, self.channel = inner, channel
        self.watch, self.approvals, self.closed = watch, approvals, closed

    def publish(
        self, alert: Alert, classification: Classification, cancel: threading.Event, gate: Gate | None = None
    ) -> Published:
        watch = self.watch
        if watch is not None:
            safely("rendering", lambda: watch.rendering(alert, self.channel))

        def gated() -> None:
            if self.approvals is not None:
                self.approvals.wait(alert, self.channel, cancel, lambda: self.closed(alert.key))
            if gate is not None:
                gate()

        return self.inner.publish(alert, classification, cancel, gated)

    def existing(self, key: AlertKey) -> Published | None:
        return self.inner.existing(key)

    def supersede(self, key: AlertKey, by: AlertKey) -> Path | None:
        return self.inner.supersede(key, by)

    def withdraw(self, key: AlertKey, by: AlertKey) -> Path | None:
        return self.inner.withdraw(key, by)


def install(processor: Processor, watch: Watch | None, approvals: Approvals | None) -> None:
    """Put the console's hooks into a built ``Processor``: each channel's stage gated (``GatedStage``), the
    announcer watched, the parse step watched. The daemon calls it once, before it consumes anything."""
    from dataclasses import replace

    ledger = processor.ledger
    processor.channels = tuple(
        replace(ch, stage=GatedStage(ch.stage, ch.name, watch=watch, approvals=approvals,
                                     closed=lambda key: ledger.lookup(key) is not None))
        for ch in processor.channels
    )  # fmt: skip
    processor.stage = processor.channels[0].stage
    if watch is not None:
        processor.announcer = WatchedAnnouncer(processor.announcer, watch)
        processor.parse = watched_parse(processor.parse, watch)


def observe_both(first: Callable[[Any, Any], None] | None, watch: Watch | None) -> Any:
    """The dispatcher's ``on_outcome``: ``first`` (the demo's), then ``watch.finished``."""
    if watch is None:
        return first

    def observe(record: Any, outcome: Any) -> None:
        if first is not None:
            first(record, outcome)
        safely("finished", lambda: watch.finished(record.partition, record.offset, outcome))

    return observe
