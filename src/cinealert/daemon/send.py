"""``cinealert send FILE...``: put CAP files on the alerts topic, one message per file, acks=all.

Messages are keyed by the CAP sender when the file parses, so one sender's Alert/Update/Cancel stay in one
partition and in order; unparseable files (hostile samples) are sent unkeyed and as they are, byte for byte.
"""

from __future__ import annotations

from pathlib import Path

from aiokafka import AIOKafkaProducer

from cinealert.cap.model import Alert
from cinealert.config import Settings


def _parse(data: bytes, settings: Settings | None = None) -> Alert | None:
    from cinealert.cap import CapError, parse_alert

    try:
        return parse_alert(data, settings=(settings or Settings()).cap)
    except CapError:
        return None


def message_key(data: bytes, settings: Settings) -> bytes | None:
    alert = _parse(data, settings)
    return alert.sender.encode("utf-8") if alert is not None else None


def message_type(data: bytes) -> str | None:
    alert = _parse(data)
    return alert.msg_type if alert is not None else None


async def send_files(
    settings: Settings, bootstrap: str, topic: str, files: list[Path]
) -> list[tuple[Path, int, int]]:
    """Send every file; (path, partition, offset) per file in order."""
    from cinealert.daemon.service import client_options

    producer = AIOKafkaProducer(
        **client_options(settings.kafka, bootstrap), acks="all", enable_idempotence=False, linger_ms=5
    )
    await producer.start()
    try:
        results = []
        for path in files:
            data = path.read_bytes()
            meta = await producer.send_and_wait(topic, data, key=message_key(data, settings))
            results.append((path, int(meta.partition), int(meta.offset)))
        return results
    finally:
        await producer.stop()
