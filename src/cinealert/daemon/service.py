"""The daemon: Kafka in, ``handlers.Processor`` in the middle, announcements and dead letters out.

Guarantees and how they are kept:

* **No alert lost.** Auto-commit is off. An offset is committed only when the message and every earlier message
  of its partition are done (``daemon.offsets``); "done" means the output is durable and announced, or the
  message is dead-lettered with the broker's acknowledgement (acks=all), or deliberately skipped.
* **Effectively once.** A replay after a crash finds the output and its announcement markers
  (``handlers.process``); announcements and dead letters are written in two phases (a pending marker with a
  fence, then a done marker) and a replay that finds only the pending one reads the topic back (``TopicLedger``)
  before sending, so a crash at any point gives neither a lost nor a duplicated message.
* **Bounded work.** ``handlers.concurrency`` messages in flight; fetching waits for a free slot.
* **Broker outages.** Sends and commits are retried with exponential backoff (``kafka.reconnect_backoff_*``) for
  as long as it takes; a probe reports the broker state (``cinealert_broker_up``, logs, sd_notify STATUS).
* **Graceful stop.** SIGTERM/SIGINT: stop fetching, let in-flight work finish for ``handlers.shutdown_grace_s``,
  then set the cancel event (renders stop between frames, nothing half-published), commit, leave the group.

Exceptions::

    KafkaError (aiokafka)  retried with backoff, counted in cinealert_kafka_errors_total{op}
    StageCancelled         shutdown: the message is not committed and will be replayed
    anything else          a bug in a handler: logged with traceback, dead-lettered as "internal", never fatal
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import contextvars
import hashlib
import json
import signal
import ssl
import threading
import time
import zlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRecord, TopicPartition
from aiokafka.abc import ConsumerRebalanceListener
from aiokafka.errors import KafkaError

from cinealert.config import Settings
from cinealert.config.sections import KafkaSettings
from cinealert.daemon.metrics import Metrics
from cinealert.daemon.offsets import PartitionOffsets, Token
from cinealert.daemon.systemd import Notifier
from cinealert.handlers.outbox import Outbox, deliver_once
from cinealert.handlers.process import Outcome, Processor
from cinealert.handlers.retry import Backoff
from cinealert.handlers.stage import Stage, StageCancelled

log = structlog.get_logger("cinealert.daemon")

T = TypeVar("T")
_record: contextvars.ContextVar[ConsumerRecord[bytes, bytes] | None] = contextvars.ContextVar(
    "cinealert_record", default=None
)
PROBE_INTERVAL_S = 2.0
#: Most bytes of a refused message copied into its dead letter: under the 1 MiB producer request and broker message
#: limits (a larger one would fail to send on every retry and block its partition for good); the copy is cut
#: and ``x-cinealert-truncated-from`` / ``x-cinealert-sha256`` describe the original, still on the source topic.
DEAD_LETTER_MAX_BYTES = 960 * 1024


def client_options(k: KafkaSettings, bootstrap: str) -> dict[str, Any]:
    """aiokafka keyword arguments shared by consumer and producer: bootstrap, TLS, SASL, timeouts."""
    opts: dict[str, Any] = {
        "bootstrap_servers": bootstrap,
        "client_id": k.client_id,
        "security_protocol": k.security_protocol,
        "request_timeout_ms": k.request_timeout_ms,
        "retry_backoff_ms": int(k.reconnect_backoff_initial_s * 1000),
        "metadata_max_age_ms": 60_000,
    }
    if k.security_protocol in ("SSL", "SASL_SSL"):
        opts["ssl_context"] = ssl_context(k)
    if k.security_protocol in ("SASL_PLAINTEXT", "SASL_SSL"):
        opts["sasl_mechanism"] = k.sasl_mechanism or "PLAIN"
        opts["sasl_plain_username"] = k.sasl_username
        opts["sasl_plain_password"] = k.sasl_password.get_secret_value() if k.sasl_password else None
    return opts


def ssl_context(k: KafkaSettings) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(k.ssl_cafile) if k.ssl_cafile else None)
    if k.ssl_certfile is not None:
        ctx.load_cert_chain(str(k.ssl_certfile), str(k.ssl_keyfile) if k.ssl_keyfile else None)
    ctx.check_hostname = k.ssl_check_hostname
    return ctx


def _header(value: object) -> bytes:
    return " ".join(str(value).split()).encode("utf-8")[:1024]


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


class Daemon:
    def __init__(
        self,
        settings: Settings,
        *,
        stage: Stage,
        bootstrap: str,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        on_outcome: Callable[[ConsumerRecord[bytes, bytes], Outcome | None], None] | None = None,
        prewarm: Callable[[threading.Event], object] | None = None,
    ) -> None:
        self.settings = settings
        self.prewarm = prewarm
        self.on_outcome = on_outcome  # observers (``cinealert demo``): None outcome = internal error
        self.k = settings.kafka
        self.backoff = Backoff(self.k.reconnect_backoff_initial_s, self.k.reconnect_backoff_max_s)
        self.bootstrap = bootstrap
        self.metrics = metrics or Metrics()
        self.notifier = notifier or Notifier({})
        self.stage = stage
        self.announcer = MediaAnnouncer(self)
        self.dead_letters = TopicLedger(self, self.k.dead_letter_topic)
        self.processor = Processor(
            stage,
            settings.handlers,
            self.announcer,
            self._dead_letter,
            cap=settings.cap,
            broadcast=settings.broadcast,
        )
        self.offsets = PartitionOffsets()
        self.cancel = threading.Event()  # read by render threads between frames
        self._tasks: dict[TopicPartition, set[asyncio.Task[None]]] = {}
        #: Per partition, the in-flight messages that have not yet recorded their tombstones (``PartitionOrder``).
        self._unrecorded: dict[TopicPartition, set[asyncio.Event]] = {}
        self._producer: AIOKafkaProducer | None = None
        self._consumer: AIOKafkaConsumer | None = None
        self._broker_up: bool | None = None
        self._commit_lock: asyncio.Lock | None = None
        self._commit_wake: asyncio.Event | None = None
        self._cancelled: asyncio.Event | None = None
        self._stop: asyncio.Event | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        self._stop = stop
        self._commit_lock = asyncio.Lock()
        self._commit_wake = asyncio.Event()
        self._cancelled = asyncio.Event()
        background: list[asyncio.Task[None]] = [asyncio.create_task(self.notifier.watchdog_loop())]
        try:
            await self._prewarm(stop)
            await asyncio.to_thread(self.prune_dead_letter_markers)
            if not await self._connect(stop):
                return 0
            self.metrics.up.set(1)
            background += [asyncio.create_task(self._committer()), asyncio.create_task(self._probe())]
            self.notifier.ready(f"consuming {self.k.alerts_topic} from {self.bootstrap}")
            log.info(
                "daemon_ready", bootstrap=self.bootstrap, topic=self.k.alerts_topic, group=self.k.group_id
            )
            await self._consume(stop)
            await self._drain()
        finally:
            self.metrics.up.set(0)
            for task in background:
                task.cancel()
            for task in background:
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await self._close()
        log.info("daemon_stopped")
        return 0

    async def _prewarm(self, stop: asyncio.Event) -> None:
        """Fill the scene cache before READY=1 (first alerts then skip the slow render); SIGTERM cancels it."""
        if self.prewarm is None:
            return
        self.notifier.status("prewarming scene cache")
        log.info("prewarming")
        t0 = time.perf_counter()
        work = asyncio.ensure_future(asyncio.to_thread(self.prewarm, self.cancel))
        stopped = asyncio.ensure_future(stop.wait())
        await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if not work.done():
            self.cancel.set()  # the render loop checks it between frames
        try:
            await work
        except Exception as exc:  # a failed prewarm costs latency later, never availability
            log.error("prewarm_failed", error=repr(exc))
            return
        log.info("prewarmed", seconds=round(time.perf_counter() - t0, 3))

    async def _connect(self, stop: asyncio.Event) -> bool:
        """Start producer and consumer, retrying with backoff while the broker is unreachable."""
        delays = self.backoff.delays()
        while not stop.is_set():
            producer = AIOKafkaProducer(
                **client_options(self.k, self.bootstrap), acks="all", enable_idempotence=False, linger_ms=5
            )
            consumer = AIOKafkaConsumer(
                **client_options(self.k, self.bootstrap),
                group_id=self.k.group_id,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                session_timeout_ms=self.k.session_timeout_ms,
                heartbeat_interval_ms=min(self.k.heartbeat_interval_ms, self.k.session_timeout_ms // 3),
                max_poll_interval_ms=self.k.max_poll_interval_ms,
                fetch_max_wait_ms=self.k.fetch_max_wait_ms,
                rebalance_timeout_ms=self.k.rebalance_timeout_ms,
            )
            try:
                await producer.start()
                consumer.subscribe([self.k.alerts_topic], listener=_Rebalance(self))
                await consumer.start()
            except (KafkaError, OSError) as exc:
                self._set_broker(False, repr(exc))
                self.metrics.kafka_errors.labels("connect").inc()
                with contextlib.suppress(Exception):
                    await consumer.stop()
                with contextlib.suppress(Exception):
                    await producer.stop()
                self.notifier.status(f"waiting for Kafka at {self.bootstrap}")
                delay = next(delays)
                log.warning("broker_unreachable", bootstrap=self.bootstrap, retry_in_s=delay, error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)
                continue
            self._producer, self._consumer = producer, consumer
            self._set_broker(True)
            return True
        return False

    async def _close(self) -> None:
        consumer, self._consumer = self._consumer, None
        producer, self._producer = self._producer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 15)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 15)

    # -- consuming -----------------------------------------------------------------------------------------
    async def _consume(self, stop: asyncio.Event) -> None:
        assert self._consumer is not None
        consumer = self._consumer
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
        _record.set(record)
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
                await self._dead_letter(
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
        if self._commit_wake is not None:
            self._commit_wake.set()

    def _count(self, outcome: Outcome, fetched_at: float) -> None:
        m = self.metrics
        for name, seconds in outcome.timings_s.items():
            m.stage_latency.labels(name).observe(seconds)
        if outcome.status == "published":
            m.published.labels(outcome.disaster or "other").inc()
            m.rungs.labels(outcome.rung).inc()
            m.observe_extra(outcome.extra)
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
        for event in outcome.announced:
            m.announcements.labels(event).inc()

    async def _drain(self) -> None:
        """Stop: wait for in-flight alerts up to the grace period, then cancel them; commit what finished."""
        self.notifier.stopping("draining in-flight alerts")
        pending = {t for tasks in self._tasks.values() for t in tasks}
        grace = self.settings.handlers.shutdown_grace_s
        if pending:
            log.info("draining", in_flight=len(pending), grace_s=grace)
            _done, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            log.warning("grace_exceeded_cancelling", in_flight=len(pending))
            self.cancel.set()
            assert self._cancelled is not None
            self._cancelled.set()
            await asyncio.wait(pending, timeout=30)
        await self._commit()

    # -- committing ----------------------------------------------------------------------------------------
    async def _committer(self) -> None:
        assert self._commit_wake is not None
        while True:
            await self._commit_wake.wait()
            self._commit_wake.clear()
            await asyncio.sleep(0.05)  # coalesce completions that land together into one commit
            if not await self._commit():
                await asyncio.sleep(self.k.reconnect_backoff_initial_s)
                self._commit_wake.set()

    async def _commit(self, only: set[TopicPartition] | None = None) -> bool:
        consumer = self._consumer
        if consumer is None or self._commit_lock is None:
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
        await self._commit(only=set(revoked))
        for tp in revoked:
            self.offsets.revoke(tp)
        log.info("partitions_revoked", partitions=sorted(tp.partition for tp in revoked))

    def on_assigned(self, assigned: set[TopicPartition]) -> None:
        for tp in assigned:
            self.offsets.assign(tp)
        log.info("partitions_assigned", partitions=sorted(tp.partition for tp in assigned))

    # -- producing -----------------------------------------------------------------------------------------
    async def send(
        self,
        op: str,
        topic: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        partition: int | None = None,
    ) -> int | None:
        """Send and wait for acks=all, retrying through outages; the offset it got. StageCancelled on shutdown."""
        t0 = time.perf_counter()

        async def once() -> int | None:
            producer = self._producer
            if producer is None:
                raise StageCancelled("producer closed")
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers, partition=partition)
            offset = getattr(meta, "offset", None)
            return int(offset) if offset is not None else None

        offset = await self.retry(op, once)
        self.metrics.stage_latency.labels(op).observe(time.perf_counter() - t0)
        return offset

    async def retry(self, op: str, call: Callable[[], Awaitable[T]]) -> T:
        """``call()`` until it succeeds, backing off through broker outages; StageCancelled on shutdown."""
        delays = self.backoff.delays()
        while True:
            try:
                return await call()
            except (KafkaError, TimeoutError) as exc:
                self.metrics.kafka_errors.labels(op).inc()
                delay = next(delays)
                log.warning("kafka_call_failed", op=op, error=repr(exc), retry_in_s=delay)
                assert self._cancelled is not None
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._cancelled.wait(), delay)
                if self.cancel.is_set():
                    raise StageCancelled(f"{op} not done before shutdown") from exc

    async def _dead_letter(self, data: bytes, label: str, reason: str, stage: str) -> None:
        """Dead-letter ``data`` once, even across a crash and replay (same two-phase markers as announcements,
        in ``<dedup_state_dir>/dead/``, keyed by the message's topic, partition, offset, timestamp and digest)."""
        record = _record.get()
        headers = [
            ("x-cinealert-reason", _header(reason)),
            ("x-cinealert-reason-label", _header(label)),
            ("x-cinealert-stage", _header(stage)),
            ("x-cinealert-at", _header(datetime.now(UTC).isoformat())),
        ]
        key = None
        origin = f"unknown|{time.time_ns()}"
        if record is not None:
            key = record.key
            origin = f"{record.topic}|{record.partition}|{record.offset}|{record.timestamp}"
            headers += [
                ("x-cinealert-topic", _header(record.topic)),
                ("x-cinealert-partition", _header(record.partition)),
                ("x-cinealert-offset", _header(record.offset)),
            ]
        digest = hashlib.sha256(data).hexdigest()
        message_id = hashlib.sha256(f"{origin}|{digest}".encode()).hexdigest()[:32]
        if key is not None and len(key) > 1024:
            key = hashlib.sha256(key).hexdigest().encode()
        if len(data) > DEAD_LETTER_MAX_BYTES:
            headers += [
                ("x-cinealert-truncated-from", _header(len(data))),
                ("x-cinealert-sha256", _header(digest)),
            ]
            data = data[:DEAD_LETTER_MAX_BYTES]
        folder = self.settings.handlers.dedup_state_dir / "dead"
        box = Outbox(folder / f"{message_id}.json", folder / f"{message_id}.pending.json", "dead_letter")
        fence_key = key or message_id.encode()
        await deliver_once(
            box,
            {"id": message_id, "origin": origin, "reason": reason},
            fence=lambda: self.dead_letters.fence(fence_key),
            send=lambda fence: self.dead_letters.send("dead_letter", message_id, data, key, headers, fence),
            delivered=lambda fence: self.dead_letters.delivered(message_id, fence),
            message_id=message_id,
        )

    def prune_dead_letter_markers(self, max_age_s: float = 7 * 86400) -> int:
        """Markers only matter until the offset is committed (seconds); drop week-old ones at start-up."""
        folder = self.settings.handlers.dedup_state_dir / "dead"
        cutoff = time.time() - max_age_s
        removed = 0
        with contextlib.suppress(OSError):
            for path in folder.iterdir():
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed

    # -- broker state --------------------------------------------------------------------------------------
    def _set_broker(self, up: bool, error: str = "") -> None:
        self.metrics.broker_up.set(1 if up else 0)
        if up == self._broker_up:
            return
        self._broker_up = up
        if up:
            log.info("broker_connected", bootstrap=self.bootstrap)
            self.notifier.status(f"consuming {self.k.alerts_topic} from {self.bootstrap}")
        else:
            log.warning("broker_disconnected", bootstrap=self.bootstrap, error=error)
            self.notifier.status(f"Kafka broker {self.bootstrap} unreachable; retrying")

    async def _probe(self) -> None:
        while True:
            producer = self._producer
            if producer is not None:
                try:
                    ok = bool(await asyncio.wait_for(producer.client.force_metadata_update(), 10))
                except (KafkaError, OSError, TimeoutError) as exc:
                    ok = False
                    self._set_broker(False, repr(exc))
                else:
                    self._set_broker(ok, "" if ok else "metadata request failed")
            await asyncio.sleep(PROBE_INTERVAL_S)


class TopicLedger:
    """Sends to one topic that can later answer "did this message (by id) get there?".

    Each message goes to a partition fixed by its key (crc32), carrying its id in ``x-cinealert-event-id``.
    ``fence`` gives that partition and a lower bound for the offset the message will get: the highest offset this
    daemon saw acknowledged there, remembered in ``<dedup_state_dir>/<topic>.offsets.json`` across restarts (a
    later append always lands above it). ``delivered`` reads the partition from the fence for the id.
    """

    def __init__(self, daemon: Daemon, topic: str) -> None:
        self.daemon = daemon
        self.topic = topic
        self.hint_path = daemon.settings.handlers.dedup_state_dir / f"{topic}.offsets.json"
        self._acked: dict[int, int] | None = None

    def _load_hint(self) -> dict[int, int]:
        try:
            raw = json.loads(self.hint_path.read_text(encoding="utf-8"))
            if raw.get("topic") == self.topic:
                return {int(p): int(o) for p, o in raw.get("offsets", {}).items()}
        except (OSError, ValueError, AttributeError, TypeError):
            pass
        return {}

    def _save_hint(self, acked: dict[int, int]) -> None:
        """Best effort, no fsync: a stale hint is still a valid lower bound, a missing one means "from 0"."""
        tmp = self.hint_path.with_name(f".{self.hint_path.name}.{threading.get_ident()}.tmp")
        with contextlib.suppress(OSError):
            self.hint_path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(json.dumps({"topic": self.topic, "offsets": acked}), encoding="utf-8")
            tmp.replace(self.hint_path)

    async def fence(self, key: bytes) -> dict[str, Any]:
        if self._acked is None:
            self._acked = await asyncio.to_thread(self._load_hint)

        async def partitions() -> list[int]:
            producer = self.daemon._producer
            if producer is None:
                raise StageCancelled("producer closed")
            found = await producer.partitions_for(self.topic)
            return sorted(found or [0])

        parts = await self.daemon.retry("metadata", partitions)
        partition = parts[zlib.crc32(key) % len(parts)]
        return {"topic": self.topic, "partition": partition, "from_offset": self._acked.get(partition, 0)}

    async def send(
        self,
        op: str,
        message_id: str,
        value: bytes,
        key: bytes | None,
        headers: list[tuple[str, bytes]],
        fence: Mapping[str, Any],
    ) -> None:
        partition = int(fence["partition"])
        headers = [*headers, ("x-cinealert-event-id", _header(message_id))]
        offset = await self.daemon.send(op, self.topic, value, key, headers, partition=partition)
        if self._acked is not None and offset is not None and offset > self._acked.get(partition, -1):
            self._acked[partition] = offset
            await asyncio.to_thread(self._save_hint, dict(self._acked))

    async def delivered(self, message_id: str, fence: Mapping[str, Any]) -> bool:
        wanted = _header(message_id)
        try:
            tp = TopicPartition(str(fence["topic"]), int(fence["partition"]))
            start = max(0, int(fence.get("from_offset", 0)))
        except (KeyError, TypeError, ValueError):
            return False  # no usable fence (marker unreadable): sending again is the safe side

        async def scan() -> bool:
            consumer = AIOKafkaConsumer(
                **client_options(self.daemon.k, self.daemon.bootstrap),
                enable_auto_commit=False,
                auto_offset_reset="latest",
                fetch_max_wait_ms=100,
            )
            await consumer.start()
            try:
                consumer.assign([tp])
                consumer.seek(tp, start)
                idle = 0
                while idle < 3:
                    batch = await consumer.getmany(tp, timeout_ms=300)
                    records = batch.get(tp, [])
                    if not records:
                        highwater = consumer.highwater(tp)
                        at_end = highwater is not None and await consumer.position(tp) >= highwater
                        idle += 2 if at_end else 1
                        continue
                    idle = 0
                    for record in records:
                        if dict(record.headers or ()).get("x-cinealert-event-id") == wanted:
                            return True
                return False
            finally:
                await consumer.stop()

        t0 = time.perf_counter()
        found = await self.daemon.retry("read_back", scan)
        self.daemon.metrics.stage_latency.labels("read_back").observe(time.perf_counter() - t0)
        return found


class MediaAnnouncer:
    """The ``Announcer`` of ``handlers.process``: JSON events on the media topic, keyed by alert key."""

    def __init__(self, daemon: Daemon) -> None:
        self.ledger = TopicLedger(daemon, daemon.k.media_topic)

    @staticmethod
    def _key(event: Mapping[str, Any]) -> bytes:
        return str(event.get("key_str", "")).encode("utf-8")

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return await self.ledger.fence(self._key(event))

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        value = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = [
            ("x-cinealert-event", _header(event.get("event", ""))),
            ("content-type", b"application/json"),
        ]
        await self.ledger.send(
            "announce", str(event.get("event_id", "")), value, self._key(event), headers, fence
        )

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        return await self.ledger.delivered(str(event.get("event_id", "")), fence)


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, daemon: Daemon) -> None:
        self.daemon = daemon

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self.daemon.on_revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self.daemon.on_assigned(set(assigned))


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


# -- command -------------------------------------------------------------------------------------------------
async def serve_forever(
    settings: Settings,
    *,
    stage: Stage,
    bootstrap: str,
    metrics: Metrics,
    notifier: Notifier,
    prewarm: Callable[[threading.Event], object] | None = None,
) -> int:
    """Run the daemon until SIGTERM/SIGINT."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    daemon = Daemon(
        settings, stage=stage, bootstrap=bootstrap, metrics=metrics, notifier=notifier, prewarm=prewarm
    )
    try:
        return await daemon.run(stop)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


def cmd_run(args: argparse.Namespace) -> int:
    """``cinealert run``: the service. Exit 0 after a graceful stop, 2 on bad configuration, 1 on failure."""
    from cinealert.config import load
    from cinealert.daemon.broker import BrokerError, EmbeddedBroker
    from cinealert.daemon.logging import configure_logging
    from cinealert.daemon.metrics import serve
    from cinealert.handlers.factory import make_stage, prewarm_hook

    settings = load(getattr(args, "config", None))  # a ConfigError exits 2 in cli.main
    configure_logging(settings.log)
    notifier = Notifier()
    metrics = Metrics()
    server = None
    if settings.metrics.enabled:
        try:
            server, port = serve(metrics.registry, settings.metrics.host, settings.metrics.port)
        except OSError as exc:
            log.error(
                "metrics_port_unavailable",
                host=settings.metrics.host,
                port=settings.metrics.port,
                error=str(exc),
            )
            return 1
        log.info("metrics_listening", url=f"http://{settings.metrics.host}:{port}/metrics")
    broker: EmbeddedBroker | None = None
    bootstrap = settings.kafka.bootstrap
    try:
        if bootstrap == "embedded":
            k = settings.kafka
            broker = EmbeddedBroker(
                port=k.embedded_port,
                topics=(k.alerts_topic, k.media_topic, k.dead_letter_topic),
                partitions=k.embedded_partitions,
            )
            try:
                broker.start()
            except BrokerError as exc:
                log.error("embedded_broker_failed", error=str(exc))
                return 1
            bootstrap = broker.bootstrap
        stage = make_stage(settings)
        log.info("stage_selected", stage=type(stage).__name__, output_dir=str(settings.broadcast.output_dir))
        return asyncio.run(
            serve_forever(
                settings,
                stage=stage,
                bootstrap=bootstrap,
                metrics=metrics,
                notifier=notifier,
                prewarm=prewarm_hook(stage, settings),
            )
        )
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.shutdown()
