"""``cinealert send FILE...``: put CAP files on the alerts topic, one message per file, acks=all.

Messages are keyed by the CAP sender when the file parses, so one sender's Alert/Update/Cancel stay in one
partition and in order; unparseable files (hostile samples) are sent unkeyed and as they are, byte for byte.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

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


def cmd_send(args: argparse.Namespace) -> int:
    from cinealert.config import load

    settings = load(getattr(args, "config", None))  # a ConfigError exits 2 in cli.main
    bootstrap = args.bootstrap or settings.kafka.bootstrap
    if bootstrap == "embedded":
        print(
            "send: kafka.bootstrap is 'embedded'; pass --bootstrap HOST:PORT of a running broker",
            file=sys.stderr,
        )
        return 2
    topic = args.topic or settings.kafka.alerts_topic
    missing = [p for p in args.files if not p.is_file()]
    if missing:
        print(f"send: no such file: {', '.join(map(str, missing))}", file=sys.stderr)
        return 2
    try:
        results = asyncio.run(send_files(settings, bootstrap, topic, list(args.files)))
    except (KafkaError, OSError) as exc:
        print(f"send: {bootstrap}: {exc!r}", file=sys.stderr)
        return 1
    for path, partition, offset in results:
        print(f"SENT {path} -> {topic}[{partition}]@{offset}")
    return 0
