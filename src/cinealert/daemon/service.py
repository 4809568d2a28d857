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

Layout: ``daemon.consumer`` (fetch, dispatch, commit), ``daemon.kafka`` (client options, the ``Sender``),
``daemon.outbound`` (announcements and dead letters, each once); this module wires them and runs the lifecycle.

Exceptions::

    KafkaError (aiokafka)  retried with backoff, counted in cinealert_kafka_errors_total{op}
    StageCancelled         shutdown: the message is not committed and will be replayed
    anything else          a bug in a handler: logged with traceback, dead-lettered as "internal", never fatal
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
import time
from collections.abc import Callable, Iterator

import structlog
from aiokafka import AIOKafkaConsumer
from aiokafka.errors import KafkaError

from cinealert.config import Settings
from cinealert.daemon.consumer import Dispatcher, OutcomeObserver
from cinealert.daemon.kafka import Sender, client_options
from cinealert.daemon.metrics import Metrics
from cinealert.daemon.outbound import DeadLetters, MediaAnnouncer
from cinealert.daemon.systemd import Notifier
from cinealert.handlers.approval import Approvals
from cinealert.handlers.factory import channel_stages
from cinealert.handlers.process import Processor
from cinealert.handlers.stage import Stage
from cinealert.handlers.watch import Watch, install, observe_both
from cinealert.objstore import check_store, shared_files

__all__ = ["Daemon", "client_options", "serve_forever", "stop_on_signals"]

log = structlog.get_logger("cinealert.daemon")

PROBE_INTERVAL_S = 2.0


class Daemon:
    """Wires Kafka (``Sender``, ``Dispatcher``), the ``Processor``, metrics and systemd; owns the lifecycle."""

    def __init__(
        self,
        settings: Settings,
        *,
        stage: Stage,
        bootstrap: str,
        metrics: Metrics | None = None,
        notifier: Notifier | None = None,
        on_outcome: OutcomeObserver | None = None,
        prewarm: Callable[[threading.Event], object] | None = None,
        watch: Watch | None = None,
        approvals: Approvals | None = None,
    ) -> None:
        self.settings = settings
        self.prewarm = prewarm
        self.k = settings.kafka
        self.bootstrap = bootstrap
        self.metrics = metrics or Metrics(channels=[channel.name for channel in settings.channel_list()])
        self.notifier = notifier or Notifier({})
        self.stage = stage
        self.cancel = threading.Event()  # read by render threads between frames
        state = settings.handlers.dedup_state_dir
        self.sender = Sender(self.k, bootstrap, self.metrics, self.cancel)
        self.announcer = MediaAnnouncer(self.sender, state)
        #: this disk, or the bucket every daemon of the group shares ([store]): markers, tombstones, outputs
        self.files = shared_files(settings)
        self.dead_letters = DeadLetters(self.sender, state, self.files)
        # One stage per channel ([channels]), each like ``stage``; without [channels], ``stage`` itself.
        self.processor = Processor(
            stage,
            settings.handlers,
            self.announcer,
            self.dead_letters,
            cap=settings.cap,
            channels=channel_stages(settings, stage),
            files=self.files,
            lease_s=settings.store.lease_s,
        )
        if watch is not None or approvals is not None:  # the operator console (``cinealert.console``)
            install(self.processor, watch, approvals)
            on_outcome = observe_both(on_outcome, watch)
        self.dispatcher = Dispatcher(
            settings,
            self.processor,
            self.dead_letters,
            self.metrics,
            self.cancel,
            self.sender.backoff,
            on_outcome,
        )
        self._broker_up: bool | None = None

    # -- lifecycle -----------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> int:
        background: list[asyncio.Task[None]] = [asyncio.create_task(self.notifier.watchdog_loop())]
        try:
            await asyncio.to_thread(check_store, self.files)  # a bucket ignoring conditional writes: refuse
            await self._prewarm(stop)
            await asyncio.to_thread(self.dead_letters.prune)
            if not await self._connect(stop):
                return 0
            self.metrics.up.set(1)
            background += [
                asyncio.create_task(self.dispatcher.committer()),
                asyncio.create_task(self._probe()),
            ]
            self.notifier.ready(f"consuming {self.k.alerts_topic} from {self.bootstrap}")
            log.info(
                "daemon_ready", bootstrap=self.bootstrap, topic=self.k.alerts_topic, group=self.k.group_id
            )
            await self.dispatcher.run(stop)
            self.notifier.stopping("draining in-flight alerts")
            await self.dispatcher.drain(self.sender.abort)
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
        delays = self.sender.backoff.delays()
        while not stop.is_set():
            producer = self.sender.new_producer()
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
                consumer.subscribe([self.k.alerts_topic], listener=self.dispatcher.listener())
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
            self.sender.producer, self.dispatcher.consumer = producer, consumer
            self._set_broker(True)
            return True
        return False

    async def _close(self) -> None:
        consumer, self.dispatcher.consumer = self.dispatcher.consumer, None
        producer, self.sender.producer = self.sender.producer, None
        if consumer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(consumer.stop(), 15)
        if producer is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(producer.stop(), 15)

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
            producer = self.sender.producer
            if producer is not None:
                try:
                    ok = bool(await asyncio.wait_for(producer.client.force_metadata_update(), 10))
                except (KafkaError, OSError, TimeoutError) as exc:
                    ok = False
                    self._set_broker(False, repr(exc))
                else:
                    self._set_broker(ok, "" if ok else "metadata request failed")
            await asyncio.sleep(PROBE_INTERVAL_S)


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
    daemon = Daemon(
        settings, stage=stage, bootstrap=bootstrap, metrics=metrics, notifier=notifier, prewarm=prewarm
    )
    with stop_on_signals() as stop:
        return await daemon.run(stop)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[asyncio.Event]:
    """An event SIGTERM/SIGINT set while the block runs (the running loop's handlers, removed after)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        yield stop
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
