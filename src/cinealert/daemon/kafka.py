"""Kafka plumbing shared by both sides of the daemon: client options, headers, the record in hand, the producer.

``Sender`` is the one way anything leaves the daemon: acks=all, retried through broker outages with the one
backoff (``handlers.retry``) for as long as it takes, until shutdown turns the wait into ``StageCancelled``.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ssl
import threading
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import structlog
from aiokafka import AIOKafkaProducer, ConsumerRecord
from aiokafka.errors import KafkaError

from cinealert.config.sections import KafkaSettings
from cinealert.daemon.metrics import Metrics
from cinealert.handlers.retry import Backoff
from cinealert.handlers.stage import StageCancelled

log = structlog.get_logger("cinealert.daemon")

T = TypeVar("T")
#: The consumed record being handled by this task (dead letters copy its topic, partition and offset).
current_record: contextvars.ContextVar[ConsumerRecord[bytes, bytes] | None] = contextvars.ContextVar(
    "cinealert_record", default=None
)


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


def header(value: object) -> bytes:
    """A header value: one line, whitespace collapsed, at most 1 KiB."""
    return " ".join(str(value).split()).encode("utf-8")[:1024]


class Sender:
    """The producer side: ``send`` and ``retry`` through outages, ``partitions`` of a topic."""

    def __init__(self, k: KafkaSettings, bootstrap: str, metrics: Metrics, cancel: threading.Event) -> None:
        self.k = k
        self.bootstrap = bootstrap
        self.metrics = metrics
        self.cancel = cancel  # set at shutdown once the grace period is over
        self.backoff = Backoff(k.reconnect_backoff_initial_s, k.reconnect_backoff_max_s)
        self.producer: AIOKafkaProducer | None = None
        self.woken = asyncio.Event()  # wakes retries waiting out a backoff when ``cancel`` is set

    def new_producer(self) -> AIOKafkaProducer:
        return AIOKafkaProducer(
            **client_options(self.k, self.bootstrap), acks="all", enable_idempotence=False, linger_ms=5
        )

    def abort(self) -> None:
        """Shutdown past the grace period: every waiting retry gives up with ``StageCancelled``."""
        self.cancel.set()
        self.woken.set()

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
            producer = self._producer()
            meta = await producer.send_and_wait(topic, value, key=key, headers=headers, partition=partition)
            offset = getattr(meta, "offset", None)
            return int(offset) if offset is not None else None

        offset = await self.retry(op, once)
        self.metrics.stage_latency.labels(op).observe(time.perf_counter() - t0)
        return offset

    async def partitions(self, topic: str) -> list[int]:
        async def once() -> list[int]:
            found = await self._producer().partitions_for(topic)
            return sorted(found or [0])

        return await self.retry("metadata", once)

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
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.woken.wait(), delay)
                if self.cancel.is_set():
                    raise StageCancelled(f"{op} not done before shutdown") from exc

    def _producer(self) -> AIOKafkaProducer:
        if self.producer is None:
            raise StageCancelled("producer closed")
        return self.producer
