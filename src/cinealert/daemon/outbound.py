"""What the daemon sends, each exactly once across crashes: announcements (media topic) and dead letters.

``TopicLedger`` sends to one topic so that a replay can later ask "did message X get there?" (the fence and
read-back half of ``handlers.outbox``); ``MediaAnnouncer`` and ``DeadLetters`` put the messages on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import threading
import time
import zlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition

from cinealert.daemon.kafka import Sender, client_options, current_record, header
from cinealert.durable import disk_full
from cinealert.handlers.outbox import Outbox, deliver_once
from cinealert.handlers.stage import StageCancelled
from cinealert.objstore import LOCAL, SharedFiles

log = structlog.get_logger("cinealert.daemon")

#: Most bytes of a refused message copied into its dead letter: under the 1 MiB producer request and broker message
#: limits (a larger one would fail to send on every retry and block its partition for good); the copy is cut
#: and ``x-cinealert-truncated-from`` / ``x-cinealert-sha256`` describe the original, still on the source topic.
DEAD_LETTER_MAX_BYTES = 960 * 1024


class TopicLedger:
    """Sends to one topic that can later answer "did this message (by id) get there?".

    Each message goes to a partition fixed by its key (crc32), carrying its id in ``x-cinealert-event-id``.
    ``fence`` gives that partition and a lower bound for the offset the message will get: the highest offset this
    daemon saw acknowledged there, remembered in ``<dedup_state_dir>/<topic>.offsets.json`` across restarts (a
    later append always lands above it). ``delivered`` reads the partition from the fence for the id.
    """

    def __init__(self, sender: Sender, topic: str, state_dir: Path) -> None:
        self.sender = sender
        self.topic = topic
        self.hint_path = state_dir / f"{topic}.offsets.json"
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
        parts = await self.sender.partitions(self.topic)
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
        headers = [*headers, ("x-cinealert-event-id", header(message_id))]
        offset = await self.sender.send(op, self.topic, value, key, headers, partition=partition)
        if self._acked is not None and offset is not None and offset > self._acked.get(partition, -1):
            self._acked[partition] = offset
            await asyncio.to_thread(self._save_hint, dict(self._acked))

    async def delivered(self, message_id: str, fence: Mapping[str, Any]) -> bool:
        wanted = header(message_id)
        try:
            tp = TopicPartition(str(fence["topic"]), int(fence["partition"]))
            start = max(0, int(fence.get("from_offset", 0)))
        except (KeyError, TypeError, ValueError):
            return False  # no usable fence (marker unreadable): sending again is the safe side

        async def scan() -> bool:
            consumer = AIOKafkaConsumer(
                **client_options(self.sender.k, self.sender.bootstrap),
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
        found = await self.sender.retry("read_back", scan)
        self.sender.metrics.stage_latency.labels("read_back").observe(time.perf_counter() - t0)
        return found


class MediaAnnouncer:
    """The ``Announcer`` of ``handlers.process``: JSON events on the media topic, keyed by alert key."""

    def __init__(self, sender: Sender, state_dir: Path) -> None:
        self.ledger = TopicLedger(sender, sender.k.media_topic, state_dir)

    @staticmethod
    def _key(event: Mapping[str, Any]) -> bytes:
        return str(event.get("key_str", "")).encode("utf-8")

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return await self.ledger.fence(self._key(event))

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        value = json.dumps(event, ensure_ascii=False).encode("utf-8")
        headers = [
            ("x-cinealert-event", header(event.get("event", ""))),
            ("content-type", b"application/json"),
        ]
        await self.ledger.send(
            "announce", str(event.get("event_id", "")), value, self._key(event), headers, fence
        )

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        return await self.ledger.delivered(str(event.get("event_id", "")), fence)


class DeadLetters:
    """``handlers.process.DeadLetter``: the refused message with its reason in headers, once per consumed record
    (markers in ``<dedup_state_dir>/dead/``, keyed by its topic, partition, offset, timestamp and digest)."""

    def __init__(self, sender: Sender, state_dir: Path, files: SharedFiles = LOCAL) -> None:
        self.ledger = TopicLedger(sender, sender.k.dead_letter_topic, state_dir)
        self.folder = state_dir / "dead"
        self.files = files  # with a bucket, a replay on another machine finds the markers: dead-lettered once

    async def __call__(self, data: bytes, label: str, reason: str, stage: str) -> None:
        """Dead-letter ``data`` once, even across a crash and replay (same two-phase markers as announcements,
        in ``<dedup_state_dir>/dead/``, keyed by the message's topic, partition, offset, timestamp and digest)."""
        record = current_record.get()
        headers = [
            ("x-cinealert-reason", header(reason)),
            ("x-cinealert-reason-label", header(label)),
            ("x-cinealert-stage", header(stage)),
            ("x-cinealert-at", header(datetime.now(UTC).isoformat())),
        ]
        key = None
        origin = f"unknown|{time.time_ns()}"
        if record is not None:
            key = record.key
            origin = f"{record.topic}|{record.partition}|{record.offset}|{record.timestamp}"
            headers += [
                ("x-cinealert-topic", header(record.topic)),
                ("x-cinealert-partition", header(record.partition)),
                ("x-cinealert-offset", header(record.offset)),
            ]
        digest = hashlib.sha256(data).hexdigest()
        message_id = hashlib.sha256(f"{origin}|{digest}".encode()).hexdigest()[:32]
        if key is not None and len(key) > 1024:
            key = hashlib.sha256(key).hexdigest().encode()
        if len(data) > DEAD_LETTER_MAX_BYTES:
            headers += [
                ("x-cinealert-truncated-from", header(len(data))),
                ("x-cinealert-sha256", header(digest)),
            ]
            data = data[:DEAD_LETTER_MAX_BYTES]
        folder = self.folder
        box = Outbox(
            folder / f"{message_id}.json", folder / f"{message_id}.pending.json", "dead_letter", self.files
        )
        fence_key = key or message_id.encode()
        sender = self.ledger.sender
        delays = sender.backoff.delays()
        while True:
            try:
                await deliver_once(
                    box,
                    {"id": message_id, "origin": origin, "reason": reason},
                    fence=lambda: self.ledger.fence(fence_key),
                    send=lambda fence: self.ledger.send("dead_letter", message_id, data, key, headers, fence),
                    delivered=lambda fence: self.ledger.delivered(message_id, fence),
                    message_id=message_id,
                )
            except OSError as exc:
                # A full disk under the markers: the message must still be dead-lettered (its offset waits
                # for it), so wait for room like every other write instead of failing the task.
                if not disk_full(exc):
                    raise
                delay = next(delays)
                log.error("dead_letter_disk_full", error=str(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                if sender.cancel.is_set():
                    raise StageCancelled("dead letter not written before shutdown: disk full") from exc
            else:
                return

    def prune(self, max_age_s: float = 7 * 86400) -> int:
        """Markers only matter until the offset is committed (seconds); drop week-old ones at start-up."""
        folder = self.folder
        cutoff = time.time() - max_age_s
        removed = 0
        with contextlib.suppress(OSError):
            for path in folder.iterdir():
                with contextlib.suppress(OSError):
                    if path.stat().st_mtime < cutoff:
                        path.unlink()
                        removed += 1
        return removed
