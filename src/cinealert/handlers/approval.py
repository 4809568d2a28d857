"""Manual forwarding: on a channel in ``console.manual_channels`` an alert waits for an operator before it airs.

The wait sits in the stage's publish gate (``handlers.watch.GatedStage``), *before* the key guard is taken: the
output is rendered and on disk but ``result.json`` is not written, nothing is announced, and a Cancel or Update
arriving meanwhile records its tombstone as usual (the wait sees it at once and lets the gate refuse the alert,
so it never airs). What ends the wait:

* an operator's Approve (``approve``) -> the gate goes on, the alert is published and announced;
* ``auto_approve_s`` passing without a Hold -> it airs by itself (``auto_approved``); an operator's Hold stops
  that clock until Approve or Withdraw;
* a severity in ``bypass_severities`` -> no wait at all (``bypass``);
* a tombstone for the key (a CAP Cancel/Update, or the console's Withdraw, which writes one) -> ``closed``;
* shutdown -> ``StageCancelled``: nothing published, the message is replayed after the restart and waits again
  (the scene loop is cached, so only the encode is repeated).

Kafka offsets: the waiting alert's message is in flight, so neither its offset nor any later offset of its
partition is committed while it waits (``daemon.offsets``), and it holds one of ``handlers.concurrency`` slots;
``console.auto_approve_s`` is kept below ``kafka.max_poll_interval_ms`` so the consumer polls again before the
group would drop it. A crash while waiting replays the message: no alert is lost, none airs unapproved.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import structlog

from cinealert.cap.model import Alert, AlertKey
from cinealert.handlers.stage import StageCancelled

log = structlog.get_logger("cinealert.handlers")

Decision = Literal["auto", "bypass", "approved", "auto_approved", "closed"]
SEVERITY_ORDER = ("Extreme", "Severe", "Moderate", "Minor", "Unknown")
POLL_S = 0.2
DECIDED_KEPT = 1024


def severity_of(alert: Alert) -> str:
    """The gravest ``<severity>`` of the alert's ``<info>`` blocks (``Unknown`` without one)."""
    found = {info.severity for info in alert.infos}
    return next((s for s in SEVERITY_ORDER if s in found), "Unknown")


@dataclass
class Waiting:
    """One alert waiting on one channel."""

    key: AlertKey
    channel: str
    severity: str
    since: str  # ISO time it started waiting
    deadline: float  # monotonic; ignored while held
    held_by: str | None = None
    decision: Decision | None = None
    operator: str | None = None
    wake: threading.Event = field(default_factory=threading.Event)

    @staticmethod
    def _at(in_s: float) -> str:
        return (datetime.now(UTC) + timedelta(seconds=max(0.0, in_s))).isoformat(timespec="seconds")

    def doc(self, now: float) -> dict[str, Any]:
        return {
            "key": str(self.key),
            "slug": self.key.slug(),
            "channel": self.channel,
            "severity": self.severity,
            "since": self.since,
            "held_by": self.held_by,
            "auto_approve_in_s": None if self.held_by else max(0.0, round(self.deadline - now, 1)),
            "auto_approve_at": None if self.held_by else self._at(self.deadline - now),
        }


Listener = Callable[[str, dict[str, Any]], None]  # (what happened, the waiting alert's doc)


class Approvals:
    """The alerts waiting for an operator, shared by the stage threads (``wait``) and the console (the rest)."""

    def __init__(
        self,
        channels: Iterable[str],
        auto_approve_s: float,
        bypass: Iterable[str] = ("Extreme",),
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.channels = frozenset(channels)
        self.auto_approve_s = auto_approve_s
        self.bypass = frozenset(bypass)
        self.clock = clock
        self.listeners: list[Listener] = []
        self._waiting: dict[tuple[str, str], Waiting] = {}  # (slug, channel)
        self._decided: dict[tuple[str, str], Decision] = {}  # approvals kept for a retried attempt (bounded)
        self._lock = threading.Lock()

    def manual(self, channel: str) -> bool:
        return channel in self.channels

    def _tell(self, what: str, waiting: Waiting) -> None:
        doc = waiting.doc(self.clock())
        for listener in self.listeners:
            try:
                listener(what, doc)
            except Exception as exc:  # a console bug must never stop an alert
                log.error("approval_listener_failed", error=repr(exc))

    def wait(
        self, alert: Alert, channel: str, cancel: threading.Event, closed: Callable[[], bool]
    ) -> Decision:
        """Block (a stage thread) until the alert may go on to the gate; see the module docstring."""
        if not self.manual(channel):
            return "auto"
        slot = (alert.key.slug(), channel)
        with self._lock:
            earlier = self._decided.get(slot)
        if earlier is not None:  # a retried attempt (the stage failed after the gate): decided already
            return earlier
        severity = severity_of(alert)
        if severity in self.bypass:
            log.info("approval_bypassed", channel=channel, severity=severity)
            return "bypass"
        waiting = Waiting(alert.key, channel, severity, datetime.now(UTC).isoformat(),
                          self.clock() + self.auto_approve_s)  # fmt: skip
        with self._lock:
            self._waiting[slot] = waiting
        log.info("approval_waiting", channel=channel, severity=severity, auto_approve_s=self.auto_approve_s)
        self._tell("pending", waiting)
        try:
            while True:
                if cancel.is_set():
                    raise StageCancelled("shutdown while waiting for approval")
                if closed():
                    waiting.decision = "closed"
                elif (
                    waiting.held_by is None and self.clock() >= waiting.deadline and waiting.decision is None
                ):
                    waiting.decision = "auto_approved"
                if waiting.decision is not None:
                    break
                waiting.wake.wait(POLL_S)
                waiting.wake.clear()
        finally:
            with self._lock:
                self._waiting.pop(slot, None)
                if waiting.decision in ("approved", "auto_approved"):
                    self._decided[slot] = waiting.decision
                    while len(self._decided) > DECIDED_KEPT:
                        self._decided.pop(next(iter(self._decided)))
        log.info("approval_decided", channel=channel, decision=waiting.decision, operator=waiting.operator)
        self._tell(waiting.decision, waiting)
        return waiting.decision

    def _find(self, slug: str, channel: str) -> Waiting | None:
        with self._lock:
            return self._waiting.get((slug, channel))

    def approve(self, slug: str, channel: str, operator: str) -> bool:
        waiting = self._find(slug, channel)
        if waiting is None or waiting.decision is not None:
            return False
        waiting.operator, waiting.decision = operator, "approved"
        waiting.wake.set()
        return True

    def hold(self, slug: str, channel: str, operator: str) -> bool:
        """Stop the auto-approve clock: the alert waits until Approve or Withdraw."""
        waiting = self._find(slug, channel)
        if waiting is None or waiting.decision is not None:
            return False
        waiting.held_by = operator
        self._tell("held", waiting)
        return True

    def poke(self, slug: str) -> None:
        """Wake the waits of ``slug`` at once (a tombstone was just written for it)."""
        with self._lock:
            found = [w for (s, _c), w in self._waiting.items() if s == slug]
        for waiting in found:
            waiting.wake.set()

    def pending(self) -> list[dict[str, Any]]:
        now = self.clock()
        with self._lock:
            return [w.doc(now) for w in self._waiting.values()]
