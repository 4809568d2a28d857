"""The consuming side: fetch, dispatch to the ``Processor`` with bounded concurrency, commit in order.

* An offset is committed only when the message and every earlier message of its partition are done
  (``daemon.offsets``): output durable and announced, dead-lettered with the broker's ack, or deliberately skipped.
* ``handlers.concurrency`` messages in flight; fetching waits for a free slot.
* Within a partition a message publishes only after every earlier one has recorded its Cancel/Update
  tombstones (``PartitionOrder``).
* On a rebalance the in-flight work of revoked partitions finishes (within the rebalance timeout) and is committed.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from cinealert.config import Settings
from cinealert.daemon.kafka import current_record
from cinealert.daemon.metrics import Metrics
from cinealert.daemon.offsets import PartitionOffsets, Token
from cinealert.handlers.process import DeadLetter, Outcome, Processor
from cinealert.handlers.retry import Backoff
from cinealert.handlers.stage import StageCancelled

log = structlog.get_logger("cinealert.daemon")

OutcomeObserver = Callable[[ConsumerRecord[bytes, bytes], Outcome | None], None]


class PartitionOrder:
    """``handlers.process.Ordering`` for one record: it may publish once every earlier in-flight record of its
    partition has recorded its tombstones (a parse away), so a Cancel produced just before its Alert wins
    whatever ``handlers.concurrency`` is, without making anyone wait for an earlier render."""

    def __init__(self, unrecorded: set[asyncio.Event]) -> None:
        self._unrecorded = unrecorded
        self._earlier = tuple(unrecorded)
        self._mine = asyncio.Event()
        unrecorded.add(self._mine)

    def recorded(self) -> None:
        self._mine.set()
        self._unrecorded.discard(self._mine)

    async def earlier_recorded(self) -> None:
        for event in self._earlier:
            await event.wait()


class Dispatcher:
    """Fetches from the alerts topic, runs each record through the processor, commits what is done."""

    def __init__(
        self,
        settings: Settings,
        processor: Processor,
        dead_letter: DeadLetter,
        metrics: Metrics,
        cancel: threading.Event,
        backoff: Backoff,
        on_outcome: OutcomeObserver | None = None,
    ) -> None:
        self.settings = settings
        self.k = settings.kafka
        self.processor = processor
        self.dead_letter = dead_letter
        self.metrics = metrics
        self.cancel = cancel
        self.on_outcome = on_outcome  # observers (``cinealert demo``): None outcome = internal error
        self.backoff = backoff  # the Sender's: one policy for every wait on the broker
        self.offsets = PartitionOffsets()
        self.consumer: AIOKafkaConsumer | None = None
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        #: Per partition, the in-flight messages that have not yet recorded their tombstones (``PartitionOrder``).
        self._unrecorded: dict[TopicPartition, set[asyncio.Event]] = {}
        self._commit_lock = asyncio.Lock()
        self._commit_wake = asyncio.Event()

    def listener(self) -> ConsumerRebalanceListener:
        return _Rebalance(self)

    def in_flight(self) -> set[asyncio.Task[None]]:
        return {t for tasks in self._tasks.values() for t in tasks}

    # -- consuming -----------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Fetch and dispatch until ``stop``; undispatched records stay uncommitted and are replayed."""
        assert self.consumer is not None
        consumer = self.consumer
        slots = asyncio.Semaphore(self.settings.handlers.concurrency)
        batch_size = self.settings.handlers.concurrency * 2
        delays = self.backoff.delays()
        while not stop.is_set():
            try:
                batch = await consumer.getmany(timeout_ms=500, max_records=batch_size)
                delays = self.backoff.delays()
            except KafkaError as exc:
                self.metrics.kafka_errors.labels("fetch").inc()
                delay = next(delays)
                log.warning("fetch_failed", error=repr(exc), retry_in_s=delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            fetched_at = time.time()
            for tp, records in batch.items():
                for record in records:
                    if not await _acquire(slots, stop):
                        return  # stopping: undispatched records stay uncommitted and are replayed
                    token = self.offsets.start(tp, record.offset)
                    if token is None:  # partition revoked while we waited for a slot
                        slots.release()
                        continue
                    order = PartitionOrder(self._unrecorded.setdefault(tp, set()))
                    task = asyncio.create_task(self._one(record, token, fetched_at, order, slots))
                    self._tasks.setdefault(tp, set()).add(task)
                    task.add_done_callback(self._tasks[tp].discard)

    async def _one(
        self,
        record: ConsumerRecord[bytes, bytes],
        token: Token,
        fetched_at: float,
        order: PartitionOrder,
        slots: asyncio.Semaphore,
    ) -> None:
        current_record.set(record)
        structlog.contextvars.bind_contextvars(partition=record.partition, offset=record.offset)
        self.metrics.consumed.inc()
        self.metrics.in_flight.inc()

        t0 = time.perf_counter()
        try:
            outcome = await self.processor.handle(
                record.value or b"", received_at=fetched_at, cancel=self.cancel, order=order
            )
            log.info(
                "message_done",
                status=outcome.status,
                reason=outcome.reason or None,
                rung=outcome.rung if outcome.status == "published" else None,
                announced=outcome.announced,
                channels=outcome.channels or None,
                refused=outcome.refused or None,
            )
            try:
                self._count(outcome, fetched_at)
            except Exception:  # the alert is done and announced: a metrics bug must not dead-letter it
                log.exception("metrics_failed")
        except StageCancelled as exc:
            log.info("alert_cancelled", reason=str(exc))
            return
        except Exception as exc:
            log.exception("alert_crashed")
            try:
                await self.dead_letter(
                    record.value or b"", "internal", f"{type(exc).__name__}: {exc}", "daemon"
                )
            except StageCancelled:
                return
            self.metrics.rejected.labels("internal").inc()
            outcome = None
        finally:
            order.recorded()  # however it ended, later messages must not wait for it
            self.metrics.stage_latency.labels("total").observe(time.perf_counter() - t0)
            self.metrics.in_flight.dec()
            slots.release()
        self.offsets.done(token)
        self.metrics.success()
        if self.on_outcome is not None:
            self.on_outcome(record, outcome)
        self._commit_wake.set()

    def _count(self, outcome: Outcome, fetched_at: float) -> None:
        m = self.metrics
        for name, seconds in outcome.timings_s.items():
            m.stage_latency.labels(name).observe(seconds)
        if outcome.status == "published":
            for channel, status in outcome.channels.items():
                if status == "published":
                    m.published.labels(outcome.disaster or "other", channel).inc()
                    m.rungs.labels(outcome.rungs.get(channel, outcome.rung), channel).inc()
                    m.observe_extra(outcome.extras.get(channel, {}), channel)
            m.e2e_latency.labels("received").observe(max(0.0, time.time() - fetched_at))
            if outcome.sent is not None:
                sent = outcome.sent if outcome.sent.tzinfo else outcome.sent.replace(tzinfo=UTC)
                m.e2e_latency.labels("sent").observe(max(0.0, (datetime.now(UTC) - sent).total_seconds()))
        elif outcome.status == "duplicate":
            m.duplicates.inc()
        elif outcome.status == "rejected":
            m.rejected.labels(outcome.reason).inc()
        elif outcome.status == "skipped":
            m.skipped.labels(outcome.reason).inc()
        if outcome.superseded:
            m.superseded.inc(outcome.superseded)
        if outcome.withdrawn:
            m.withdrawn.inc(outcome.withdrawn)
        for event, channel in outcome.announced_on:
            m.announcements.labels(event, channel).inc()
        for channel, reason in outcome.refused.items():
            m.channel_skipped.labels(channel, reason).inc()

    async def drain(self, abort: Callable[[], None]) -> None:
        """Stop: wait for in-flight alerts up to the grace period, then ``abort`` them; commit what finished."""
        pending = self.in_flight()
        grace = self.settings.handlers.shutdown_grace_s
        if pending:
            log.info("draining", in_flight=len(pending), grace_s=grace)
            _done, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            log.warning("grace_exceeded_cancelling", in_flight=len(pending))
            abort()
            await asyncio.wait(pending, timeout=30)
        await self.commit()

    # -- committing ----------------------------------------------------------------------------------------
    async def committer(self) -> None:
        """Commit soon after completions (coalesced), retrying failed commits; runs until cancelled."""
        while True:
            await self._commit_wake.wait()
            self._commit_wake.clear()
            await asyncio.sleep(0.05)  # coalesce completions that land together into one commit
            if not await self.commit():
                await asyncio.sleep(self.k.reconnect_backoff_initial_s)
                self._commit_wake.set()

    async def commit(self, only: set[TopicPartition] | None = None) -> bool:
        consumer = self.consumer
        if consumer is None:
            return True
        async with self._commit_lock:
            offsets = {
                tp: off
                for tp, off in self.offsets.to_commit().items()
                if isinstance(tp, TopicPartition) and (only is None or tp in only)
            }
            if not offsets:
                return True
            t0 = time.perf_counter()
            try:
                await consumer.commit(offsets)
            except KafkaError as exc:
                self.metrics.kafka_errors.labels("commit").inc()
                log.warning(
                    "commit_failed", error=repr(exc), offsets={str(tp): o for tp, o in offsets.items()}
                )
                return False
            self.metrics.stage_latency.labels("commit").observe(time.perf_counter() - t0)
            for tp, off in offsets.items():
                self.offsets.mark_committed(tp, off)
            self.metrics.committed.inc()
            log.debug("committed", offsets={f"{tp.topic}/{tp.partition}": o for tp, o in offsets.items()})
            return True

    async def on_revoked(self, revoked: set[TopicPartition]) -> None:
        pending = {t for tp in revoked for t in self._tasks.get(tp, ())}
        if pending:
            log.info("rebalance_waiting", in_flight=len(pending))
            # Finish what we started before the partitions move (no double render); stay inside the rebalance
            # timeout or the group drops us. Whatever is still running then is replayed by the new owner.
            await asyncio.wait(pending, timeout=0.8 * self.k.rebalance_timeout_ms / 1000)
        await self.commit(only=set(revoked))
        for tp in revoked:
            self.offsets.revoke(tp)
        log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self.offsets.assign(tp)
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, dispatcher: Dispatcher) -> None:
        self.dispatcher = dispatcher

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.dispatcher.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.dispatcher.on_assigned(set(assigned))


async def _acquire(slots: asyncio.Semaphore, stop: asyncio.Event) -> bool:
    """Take a slot, or give up when ``stop`` is set first."""
    if stop.is_set():
        return False
    acquire = asyncio.ensure_future(slots.acquire())
    stopped = asyncio.ensure_future(stop.wait())
    done, _ = await asyncio.wait({acquire, stopped}, return_when=asyncio.FIRST_COMPLETED)
    stopped.cancel()
    if acquire in done:
        if stop.is_set():
            slots.release()
            return False
        return True
    acquire.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await acquire
    if acquire.done() and not acquire.cancelled():
        slots.release()
    return False
