"""From raw Kafka bytes to a durable output and its announcement, effectively once per alert key.

Per message: parse (refusals go to the dead-letter topic with the reason), apply policy (``handlers.policy``),
then per msgType:

* Alert  -> ``stage.existing(key)`` or ``stage.publish``; announce ``published`` unless already announced.
* Update -> the same for the new alert, then ``stage.supersede`` each referenced output; announce ``superseded``.
* Cancel -> ``stage.withdraw`` each referenced output; announce ``withdrawn`` (no new clip).

Ordering (``handlers.references``): the outcome of a set of Alerts, Updates and Cancels does not depend on the
order they arrive in, on ``handlers.concurrency``, or on how many daemons share the state directory. A Cancel or
Update first writes a tombstone per referenced key, before anything else; an alert checks its tombstone under
the key's guard at the moment it would go live (the stage's publish gate) and keeps the guard until
``published`` is announced; withdrawing and superseding take the same guard. So a cancelled alert is never
announced as published, a late original of an Update is never published (its supersession is announced), and
``withdrawn`` never precedes ``published``. Within a partition, a message waits for every earlier message to
have recorded its tombstones (``Ordering``; a parse, milliseconds) before it publishes, so Cancel-then-Alert
skips the render altogether. Only references from the same sender and never to the message itself count.

Idempotence: the daemon commits an offset only after ``handle`` returns, so a crash replays messages. A replay
finds the output through ``stage.existing`` (no second render) and its announcement state in the two markers of
``handlers.outbox`` next to the output (``ANNOUNCING.<event>.<digest>.json`` before sending, with a fence from
the ``Announcer``; ``ANNOUNCED.<event>.<digest>.json`` once acknowledged): neither a lost nor a duplicate
announcement, whenever the process dies. Dead letters use the same outbox.

Channels (``handlers.channels``): each alert is routed per channel and published into every channel that takes
it, one after the other (the second finds the scene in the shared cache), each under the key's guard as above;
tombstones are per alert key (one ledger), and a Cancel or Update withdraws or supersedes on every channel.
``handle`` returns, so the offset can be committed, only once every taking channel's output is durable and
announced. An alert no channel takes is skipped (``out_of_area``) before anything renders.

Errors::

    StageCancelled   shutdown mid-render: nothing published, the offset is not committed (replayed later)
    StageFailedError      the stage kept failing after ``handlers.max_attempts``: dead-lettered, offset committed
    disk full        (ENOSPC/EDQUOT anywhere in the cause chain) not the alert's fault and not a reason to drop
                     it: retried with backoff, without spending attempts, until space returns or shutdown
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog

from cinealert.cap.coverage import Coverage
from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.config.sections import BroadcastSettings, CapSettings, CoverageSettings, HandlerSettings
from cinealert.config.settings import DEFAULT_CHANNEL
from cinealert.durable import disk_full
from cinealert.handlers.channels import ChannelStage
from cinealert.handlers.events import EventType, announced_marker, build_event
from cinealert.handlers.outbox import Outbox, deliver_once
from cinealert.handlers.outcome import Outcome, StageFailedError, Status, reject_label
from cinealert.handlers.policy import SUPERSEDING_SKIPS, Decision, decide_channels, render_decision
from cinealert.handlers.ports import (
    Announcer,
    ClassifyFn,
    DeadLetter,
    Ordering,
    ParseFn,
    Unordered,
    default_classify,
    default_parse,
)
from cinealert.handlers.references import KeyGuard, ReferenceLedger, Tombstone, Tombstoned, usable
from cinealert.handlers.retry import Backoff
from cinealert.handlers.stage import GateClosed, Published, Stage, StageCancelled
from cinealert.keylocks import AsyncKeyLocks
from cinealert.objstore import LOCAL, S3Files, SharedFiles

__all__ = [
    "Announcer", "DeadLetter", "Ordering", "Outcome", "Processor", "StageFailedError", "Status", "disk_full",
    "reject_label",
]  # fmt: skip

log = structlog.get_logger("cinealert.handlers")

T = TypeVar("T")
DISK_FULL_RETRY_MAX_S = 10.0


class Processor:
    def __init__(
        self,
        stage: Stage,
        handlers: HandlerSettings,
        announcer: Announcer,
        dead_letter: DeadLetter,
        *,
        cap: CapSettings | None = None,
        broadcast: BroadcastSettings | None = None,
        parse: ParseFn | None = None,
        classify: ClassifyFn | None = None,
        coverage: CoverageSettings | Coverage | None = None,
        channels: Sequence[ChannelStage] | None = None,
        files: SharedFiles = LOCAL,
        lease_s: float = 15.0,
    ) -> None:
        #: every channel; without ``channels``, the one "default" of ``stage``, ``broadcast`` and ``coverage``
        self.channels: tuple[ChannelStage, ...] = tuple(channels or ()) or (
            ChannelStage.build(DEFAULT_CHANNEL, stage, broadcast, coverage),
        )
        names = [ch.name for ch in self.channels]
        if len(set(names)) != len(names):
            raise ValueError(f"channel names repeat: {names}")
        self.stage = self.channels[0].stage
        self.coverage = self.channels[0].coverage
        self.settings = handlers
        self.broadcast = self.channels[0].broadcast
        self.announcer = announcer
        self.dead_letter = dead_letter
        self.parse = parse or default_parse(cap or CapSettings())
        self.classify = classify or default_classify()
        #: tombstones and announcement markers: this disk, or a bucket (``[store]``, issue 17) with lease guards
        self.files = files
        self.ledger = ReferenceLedger(handlers.dedup_state_dir, files)
        if isinstance(files, S3Files):
            from cinealert.handlers.leases import LeaseLedger

            self.ledger = LeaseLedger(handlers.dedup_state_dir, files, lease_s)
        #: Announcement markers of alerts that never got an output directory (superseded before publishing).
        self.unpublished_dir = self.channels[0].unpublished_dir(handlers.dedup_state_dir)
        self._locks: AsyncKeyLocks[AlertKey] = AsyncKeyLocks()

    # -- entry point ---------------------------------------------------------------------------------------
    async def handle(
        self,
        data: bytes,
        *,
        received_at: float,
        cancel: threading.Event,
        order: Ordering | None = None,
    ) -> Outcome:
        """Process one message; returns once every effect is durable. Raises ``StageCancelled`` only."""
        order = order or Unordered()
        t0 = time.perf_counter()
        try:
            intake = await self._intake(data)
        finally:
            order.recorded()  # tombstones are down (or there are none): later messages may publish
        if isinstance(intake, Outcome):
            return intake
        alert, decision, refs, takes = intake
        parse_s = time.perf_counter() - t0
        if decision.action == "skip":
            outcome = Outcome("skipped", decision.reason, key=alert.key, sent=alert.sent)
            if alert.msg_type == "Update" and refs:
                # An expired (or info-less) Update still says its originals are replaced: they must not air.
                outcome = await self._retry_disk_full(cancel, lambda: self._supersede(alert, refs, cancel))
                outcome.status, outcome.reason = "skipped", decision.reason
            outcome.refused = dict(decision.refused)
            return outcome
        await order.earlier_recorded()
        # What earlier attempts did survives a disk-full retry: a channel published by the first attempt is
        # reported published (not a duplicate), and its announcement counted, when the retry finds its output.
        progress = Outcome("duplicate", key=alert.key, sent=alert.sent)
        try:
            async with self._locks.hold(alert.key):
                if decision.action == "cancel":
                    outcome = await self._retry_disk_full(cancel, lambda: self.withdraw(alert, refs))
                else:
                    outcome = await self._retry_disk_full(
                        cancel, lambda: self._publish(alert, refs, received_at, cancel, takes, progress)
                    )
        except StageFailedError as exc:
            log.error("alert_failed", error=str(exc))
            await self.dead_letter(data, "stage_error", str(exc), "render")
            return Outcome("rejected", "stage_error", key=alert.key, sent=alert.sent)
        outcome.timings_s["parse"] = parse_s
        outcome.refused = dict(decision.refused)
        return outcome

    async def _intake(
        self, data: bytes
    ) -> Outcome | tuple[Alert, Decision, list[AlertKey], list[ChannelStage]]:
        """Parse, decide and write this message's tombstones: everything later messages must wait for."""
        try:
            alert = await asyncio.to_thread(self.parse, data)
        except Exception as exc:
            label, reason = reject_label(exc), str(getattr(exc, "reason", "") or exc) or type(exc).__name__
            if not hasattr(exc, "reason"):
                label = "parser_crash"  # not a CapError: a parser bug, still never fatal
                log.error("parse_crashed", error=repr(exc))
            log.warning("alert_rejected", reason=reason, label=label)
            await self.dead_letter(data, label, reason, "parse")
            return Outcome("rejected", label)
        structlog.contextvars.bind_contextvars(alert=str(alert.key), msg_type=alert.msg_type)
        log.info("alert_received", status=alert.status)
        coverages = [(ch.name, ch.coverage) for ch in self.channels]
        decision, taking = decide_channels(alert, self.settings, datetime.now(UTC), coverages)
        takes = [self.channels[i] for i in taking]
        if len(self.channels) > 1 and decision.action in ("publish", "update"):
            log.info("alert_routed", channels=[ch.name for ch in takes])
        if decision.action == "skip" and not (
            alert.msg_type == "Update" and decision.reason in SUPERSEDING_SKIPS
        ):
            log.info(
                "alert_skipped", reason=decision.reason, status=alert.status, detail=decision.detail or None
            )
            skipped = Outcome("skipped", decision.reason, key=alert.key, sent=alert.sent)
            skipped.refused = dict(decision.refused)
            return skipped
        refs: list[AlertKey] = []
        if alert.msg_type in ("Update", "Cancel"):
            refs, ignored = usable(alert)
            for ref, why in ignored:
                log.warning("reference_ignored", reference=str(ref), reason=why)
            kind: Literal["cancel", "update"] = "cancel" if alert.msg_type == "Cancel" else "update"
            for ref in refs:
                # A tombstone must be written, full disk or shutdown alike: wait for room, never give up.
                record = functools.partial(asyncio.to_thread, self.ledger.record, kind, ref, alert.key)
                await self._retry_disk_full(threading.Event(), record)
            if decision.action == "cancel" and not refs:
                log.info("alert_skipped", reason="no_usable_reference")
                return Outcome("skipped", "no_usable_reference", key=alert.key, sent=alert.sent)
        if decision.action == "skip":
            log.info(
                "alert_skipped", reason=decision.reason, status=alert.status, detail=decision.detail or None
            )
        return alert, decision, refs, takes

    async def _retry_disk_full(self, cancel: threading.Event, step: Callable[[], Awaitable[T]]) -> T:
        """Run ``step``; on a full disk start it over once there is room (every step is idempotent)."""
        delays = Backoff(max(self.settings.retry_backoff_s, 0.1), DISK_FULL_RETRY_MAX_S).delays()
        while True:
            try:
                return await step()
            except (StageFailedError, StageCancelled):
                raise
            except Exception as exc:
                if not disk_full(exc):
                    raise
                delay = next(delays)
                log.error("output_disk_full", error=str(exc), retry_in_s=round(delay, 3))
                await _pause(delay, cancel, "waiting for disk space", exc)

    # -- msgType handlers ----------------------------------------------------------------------------------
    async def _publish(
        self,
        alert: Alert,
        refs: list[AlertKey],
        received_at: float,
        cancel: threading.Event,
        takes: Sequence[ChannelStage],
        progress: Outcome | None = None,
    ) -> Outcome:
        """Publish on every taking channel; ``progress`` (kept across disk-full retries) collects the result."""
        key = alert.key
        outcome = progress if progress is not None else Outcome("duplicate", key=key, sent=alert.sent)
        tombstone = await asyncio.to_thread(self.ledger.lookup, key)
        if tombstone is not None:
            return (await self._suppressed(alert, tombstone, takes)).after(outcome)
        classification = await asyncio.to_thread(self.classify, alert)
        skip = render_decision(classification, self.settings)
        if skip is not None:
            log.info("alert_skipped", reason=skip.reason)
            return Outcome("skipped", skip.reason, key=key, sent=alert.sent)
        outcome.disaster = classification.disaster.value
        for index, channel in enumerate(takes):
            found = await self._publish_on(channel, alert, classification, received_at, cancel, outcome)
            if found is not None:
                # A Cancel or Update got there first: this channel and the ones after it do not air the alert.
                later = await self._suppressed(alert, found, takes[index:])
                if not any(v in ("published", "duplicate") for v in outcome.channels.values()):
                    return later.after(outcome)
                outcome.take_announcements(later)
                break
        if "published" in outcome.channels.values():
            outcome.status = "published"
        if alert.msg_type == "Update" and refs:
            done = await self._supersede(alert, refs, cancel)
            outcome.superseded = done.superseded
            outcome.take_announcements(done)
        return outcome

    async def _publish_on(
        self,
        channel: ChannelStage,
        alert: Alert,
        classification: Classification,
        received_at: float,
        cancel: threading.Event,
        outcome: Outcome,
    ) -> Tombstone | None:
        """Publish ``alert`` on one channel and announce it there; the tombstone if it may not go live."""
        key = alert.key
        extra_timings: dict[str, float] = {}
        published = await asyncio.to_thread(channel.stage.existing, key)
        held: list[KeyGuard] = []
        try:
            if published is not None:
                if outcome.channels.get(channel.name) != "published":  # else: by an earlier attempt of ours
                    outcome.channels[channel.name] = "duplicate"
                log.info("alert_already_published", directory=str(published.directory), channel=channel.name)
                held.append(await asyncio.to_thread(self.ledger.acquire, key, cancel))
                tombstone = await asyncio.to_thread(self.ledger.lookup, key)
                if tombstone is not None:  # a replay of an output that a Cancel/Update has since acted on
                    del outcome.channels[channel.name]
                    return tombstone
            else:

                def gate() -> None:
                    while held:  # a retried attempt: the guard of the failed one is still ours
                        held.pop().release()
                    held.append(self.ledger.gate(key, cancel))

                t0 = time.perf_counter()
                try:
                    published = await self._attempts(
                        "publish", cancel, channel.stage.publish, alert, classification, cancel, gate
                    )
                except Tombstoned as exc:
                    return exc.tombstone
                outcome.channels[channel.name] = "published"
                outcome.extras[channel.name], outcome.rungs[channel.name] = published.extra, published.rung
                render_key = "render" if "render" not in outcome.timings_s else f"render_{channel.name}"
                outcome.timings_s[render_key] = time.perf_counter() - t0
                if "published" not in list(outcome.channels.values())[:-1]:  # the first channel's output
                    outcome.extra = published.extra
                    outcome.rung, outcome.degraded = published.rung, tuple(published.degraded)
                extra_timings["received_to_published"] = (time.time() - received_at) * 1000
                log.info(
                    "alert_published",
                    disaster=published.disaster,
                    directory=str(published.directory),
                    rung=published.rung,
                    channel=channel.name,
                )
            # Still under the guard: a Cancel arriving now withdraws after this announcement, never before.
            if await self._announce_once(
                channel,
                "published",
                published.directory,
                key,
                key,
                alert,
                published,
                classification,
                extra_timings,
            ):
                outcome.note("published", channel.name)
        finally:
            while held:  # a lease guard's release is a request to the bucket: off the event loop
                await asyncio.to_thread(held.pop().release)
        return None

    async def _supersede(self, alert: Alert, refs: list[AlertKey], cancel: threading.Event) -> Outcome:
        """Mark each live referenced output superseded, on every channel (tombstones keep the others off air)."""
        outcome = Outcome("published", key=alert.key, sent=alert.sent)
        for ref in refs:
            async with self.ledger.guard(ref):
                for channel in self.channels:
                    marker = await self._attempts(
                        "supersede", cancel, channel.stage.supersede, ref, alert.key
                    )
                    if marker is None:
                        log.info("supersede_unknown_reference", reference=str(ref), channel=channel.name)
                        continue
                    outcome.superseded += 1
                    if await self._announce_once(
                        channel, "superseded", marker.parent, ref, alert.key, alert, None, None, {}
                    ):
                        outcome.note("superseded", channel.name)
        return outcome

    async def withdraw(self, alert: Alert, refs: list[AlertKey]) -> Outcome:
        """``refs`` withdrawn on every channel for the Cancel ``alert``: public because the console's Withdraw
        must take the very path a CAP Cancel takes (same markers, same announcement)."""
        outcome = Outcome("withdrawn", key=alert.key, sent=alert.sent)
        never_cancel = threading.Event()  # withdrawing is a marker write: always finish it
        for ref in refs:
            async with self.ledger.guard(ref):
                for channel in self.channels:
                    marker = await self._attempts(
                        "withdraw", never_cancel, channel.stage.withdraw, ref, alert.key
                    )
                    if marker is None:
                        # Not published (yet): the tombstone written on intake keeps a late original off air.
                        log.info("withdraw_unknown_reference", reference=str(ref), channel=channel.name)
                        continue
                    outcome.withdrawn += 1
                    outcome.channels[channel.name] = "withdrawn"
                    if await self._announce_once(
                        channel, "withdrawn", marker.parent, ref, alert.key, alert, None, None, {}
                    ):
                        outcome.note("withdrawn", channel.name)
        if not outcome.withdrawn:
            outcome.status, outcome.reason = "skipped", "unknown_reference"
        return outcome

    async def _suppressed(
        self, alert: Alert, tombstone: Tombstone, channels: Sequence[ChannelStage]
    ) -> Outcome:
        """The alert lost to a Cancel or Update that got there first: it does not air on ``channels``.

        Superseded: the supersession is announced per channel (consumers learn the original is replaced, from
        the state directory since there is no output). Cancelled: nothing is announced; an output of an earlier
        run, if any, is withdrawn by the Cancel itself under the same guard.
        """
        if tombstone.kind == "cancel":
            log.info("alert_skipped", reason="cancelled_before_publish", by=str(tombstone.by))
            outcome = Outcome("skipped", "cancelled_before_publish", key=alert.key, sent=alert.sent)
            outcome.channels = {ch.name: outcome.reason for ch in channels}
            return outcome
        log.info("alert_skipped", reason="superseded_before_publish", by=str(tombstone.by))
        outcome = Outcome("skipped", "superseded_before_publish", key=alert.key, sent=alert.sent)
        for channel in channels:
            outcome.channels[channel.name] = outcome.reason
            directory = channel.unpublished_dir(self.settings.dedup_state_dir) / alert.key.slug()
            if await self._announce_once(
                channel, "superseded", directory, alert.key, tombstone.by, alert, None, None, {}
            ):
                outcome.note("superseded", channel.name)
        return outcome

    # -- helpers -------------------------------------------------------------------------------------------
    async def _attempts(self, what: str, cancel: threading.Event, func: Callable[..., T], *args: Any) -> T:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await asyncio.to_thread(func, *args)
            except (StageCancelled, GateClosed):
                raise
            except Exception as exc:
                if disk_full(exc):
                    raise  # not this alert's fault: ``handle`` waits for space without spending attempts
                log.warning("stage_failed", call=what, attempt=attempt, of=attempts, error=repr(exc))
                if attempt == attempts:
                    raise StageFailedError(
                        f"{what} failed {attempts} times: {type(exc).__name__}: {exc}"
                    ) from exc
                await _pause(
                    self.settings.retry_backoff_s * attempt, cancel, f"{what} cancelled during retry", exc
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _announce_once(
        self,
        channel: ChannelStage,
        event: EventType,
        directory: Path,
        key: AlertKey,
        by: AlertKey,
        alert: Alert,
        published: Published | None,
        classification: Classification | None,
        timings: Mapping[str, float],
    ) -> bool:
        doc = build_event(
            event,
            key,
            by,
            alert,
            published,
            classification,
            directory,
            timings,
            channel.broadcast,
            channel.name,
        )
        box = Outbox(
            announced_marker(directory, event, by),
            announced_marker(directory, event, by, phase="ANNOUNCING"),
            "announcement",
            self.files,
        )
        return await deliver_once(
            box,
            doc,
            fence=lambda: self.announcer.fence(doc),
            send=lambda fence: self.announcer.send(doc, fence),
            delivered=lambda fence: self.announcer.delivered(doc, fence),
            announced=event,
            event_id=doc["event_id"],
        )


async def _pause(seconds: float, cancel: threading.Event, why: str, exc: BaseException) -> None:
    """Sleep ``seconds``, waking every 0.1 s to raise ``StageCancelled(why)`` once ``cancel`` is set."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancel.is_set():
            raise StageCancelled(why) from exc
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
