"""The daemon as a real subprocess against the real embedded broker, driven by an independent Kafka client.

confluent-kafka (librdkafka) produces the alerts and reads back ``*.media`` and ``*.dead``; the daemon uses
aiokafka, so a bug shared by producer and consumer cannot hide. Each test gets its own topics and group.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cinealert.daemon.broker import EmbeddedBroker, free_port
from conftest import cap_xml

pytestmark = pytest.mark.slow
SENDER = "test@cinealert.example"


# -- helpers ---------------------------------------------------------------------------------------------------
class Topics:
    def __init__(self, broker: EmbeddedBroker, prefix: str) -> None:
        self.alerts, self.media, self.dead = f"{prefix}.alerts", f"{prefix}.media", f"{prefix}.dead"
        for topic in (self.alerts, self.media, self.dead):
            broker.create_topic(topic, 4)


def write_config(
    tmp_path: Path,
    bootstrap: str,
    topics: Topics,
    *,
    delay_s: float = 0.0,
    grace_s: float = 10.0,
    metrics_port: int = 0,
    concurrency: int = 2,
) -> Path:
    config = tmp_path / "cinealert.toml"
    config.write_text(
        f"""
[kafka]
bootstrap = "{bootstrap}"
alerts_topic = "{topics.alerts}"
media_topic = "{topics.media}"
dead_letter_topic = "{topics.dead}"
group_id = "{topics.alerts}-group"
session_timeout_ms = 6000
heartbeat_interval_ms = 1000
reconnect_backoff_initial_s = 0.2
reconnect_backoff_max_s = 1.0
request_timeout_ms = 5000

[handlers]
stage = "summary"
summary_delay_s = {delay_s}
shutdown_grace_s = {grace_s}
concurrency = {concurrency}
dedup_state_dir = "{tmp_path / "state"}"
retry_backoff_s = 0.1

[broadcast]
output_dir = "{tmp_path / "out"}"

[metrics]
enabled = {"true" if metrics_port else "false"}
port = {metrics_port}

[log]
level = "info"
format = "json"
"""
    )
    return config


class Daemon:
    """``python -m cinealert.cli run`` with its log in a file (never a pipe that could fill up and block it)."""

    def __init__(self, config: Path, name: str, extra_env: dict[str, str] | None = None) -> None:
        self.log_path = config.parent / f"{name}.log"
        self.log_file = self.log_path.open("ab")
        env = {
            k: v for k, v in os.environ.items() if not k.startswith(("CINEALERT_", "NOTIFY_", "WATCHDOG_"))
        }
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cinealert.cli", "run", "--config", str(config)],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=env,
        )

    def events(self) -> list[dict[str, Any]]:
        return self.events_of(self.log_path)

    @staticmethod
    def events_of(path: Path) -> list[dict[str, Any]]:
        out = []
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    continue
        return out

    def count(self, event: str) -> int:
        return sum(1 for e in self.events() if e.get("event") == event)

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}:\n{self.tail()}")
            time.sleep(0.1)

    def wait_ready(self, timeout: float = 40) -> None:
        self.wait_for(lambda: self.count("daemon_ready") > 0, timeout, "daemon_ready")

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self.log_file.close()

    def terminate(self, timeout: float) -> int:
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log_file.close()


def produce(bootstrap: str, topic: str, messages: list[tuple[bytes | None, bytes]]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "acks": "all", "enable.idempotence": False})
    for key, value in messages:
        producer.produce(topic, value=value, key=key)
    assert producer.flush(30) == 0


def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout: float = 30
) -> list[tuple[bytes, dict[str, bytes]]]:
    """Every message of ``topic`` from the beginning, reading until ``until(messages)`` holds or timeout."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"reader-{random.randrange(1 << 30)}",
            "enable.auto.commit": False,
            "session.timeout.ms": 6000,
        }
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        messages: list[tuple[bytes, dict[str, bytes]]] = []
        deadline = time.monotonic() + timeout
        while not until(messages) and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is None or msg.error():
                continue
            messages.append((msg.value(), dict(msg.headers() or [])))
        # a short extra read: duplicates that arrive after the condition held must be seen too
        end = time.monotonic() + 1.0
        while time.monotonic() < end:
            msg = consumer.poll(0.1)
            if msg is not None and not msg.error():
                messages.append((msg.value(), dict(msg.headers() or [])))
        return messages
    finally:
        consumer.close()


def alerts(prefix: str, n: int) -> list[tuple[bytes, bytes]]:
    return [(SENDER.encode(), cap_xml(f"{prefix}-{i:03d}", headline=f"Flood {i}")) for i in range(n)]


def published_ids(messages: list[tuple[bytes, dict[str, bytes]]]) -> Counter[str]:
    events = [json.loads(value) for value, _headers in messages]
    return Counter(e["key"]["identifier"] for e in events if e["event"] == "published")


def output_dirs(tmp_path: Path) -> list[Path]:
    out = tmp_path / "out"
    return sorted(p for p in out.iterdir() if p.is_dir()) if out.is_dir() else []


def complete_ids(tmp_path: Path) -> set[str]:
    ids = set()
    for d in output_dirs(tmp_path):
        result = d / "result.json"
        if result.is_file():
            ids.add(json.loads(result.read_text())["key"]["identifier"])
    return ids


# -- tests -----------------------------------------------------------------------------------------------------
def test_sigkill_mid_render_loses_nothing_and_duplicates_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """50 alerts streamed in while the daemon is SIGKILLed at least 5 times mid-render."""
    topics = Topics(broker, "kill")
    config = write_config(tmp_path, broker.bootstrap, topics, delay_s=0.25, concurrency=2)
    stream = alerts("K", 50)
    rng = random.Random(7)
    kills = 0
    sent = 0
    run = 0
    while kills < 5:
        batch = stream[sent : sent + 10]
        if batch:
            produce(broker.bootstrap, topics.alerts, batch)
            sent += len(batch)
        daemon = Daemon(config, f"run{run}")
        run += 1
        daemon.wait_ready()
        # let it get into the batch, then kill it while it is rendering
        before = len(complete_ids(tmp_path))
        # kill it while its log shows an alert received and not finished: mid-render by construction, so the
        # test proves recovery from that state on every kill instead of hoping a random sleep lands there
        daemon.wait_for(lambda d=daemon: _in_flight_at_end(d.events()), 30, "an alert in flight")
        time.sleep(rng.uniform(0.0, 0.05))
        daemon.kill()
        kills += 1
        assert len(complete_ids(tmp_path)) >= before
    if sent < len(stream):
        produce(broker.bootstrap, topics.alerts, stream[sent:])
    final = Daemon(config, "final")
    final.wait_ready()
    expected = {f"K-{i:03d}" for i in range(50)}
    final.wait_for(lambda: complete_ids(tmp_path) >= expected, 90, "all 50 outputs")
    media = read_topic(broker.bootstrap, topics.media, lambda m: len(m) >= 50)
    assert final.terminate(30) == 0
    counts = published_ids(media)
    lost = expected - set(counts)
    duplicated = {k: v for k, v in counts.items() if v > 1}
    logs = [Daemon.events_of(p) for p in sorted(tmp_path.glob("*.log"))]
    received = Counter(e["alert"] for log in logs for e in log if e.get("event") == "alert_received")
    replayed = sum(n - 1 for n in received.values())  # deliveries after the first: the kills' replays
    killed_runs = [Daemon.events_of(p) for p in sorted(tmp_path.glob("run*.log"))]  # not the final one
    interrupted = sum(1 for log in killed_runs if _in_flight_at_end(log))
    print(
        f"kill test: alerts=50 kills={kills} killed_mid_render={interrupted} redeliveries={replayed}"
        f" lost={len(lost)} duplicated={len(duplicated)}"
    )
    assert interrupted == kills, "every kill should land while an alert is being rendered"
    assert not lost, f"no announcement for {sorted(lost)}"
    assert not duplicated, f"announced more than once: {duplicated}"
    assert len(output_dirs(tmp_path)) == 50  # one output directory per alert key
    assert complete_ids(tmp_path) == expected


def test_two_daemons_share_the_work_and_survive_one_dying(broker: EmbeddedBroker, tmp_path: Path) -> None:
    topics = Topics(broker, "pair")
    config = write_config(tmp_path, broker.bootstrap, topics, delay_s=0.15, concurrency=2)
    a, b = Daemon(config, "a"), Daemon(config, "b")
    a.wait_ready()
    b.wait_ready()
    # both joined: wait until the group settled with partitions on each member
    for d in (a, b):
        d.wait_for(lambda d=d: _last_assignment(d) not in (None, []), 30, "a partition assignment")
    # keys spread over partitions: one key per alert so every partition gets work
    stream = [(f"k{i}".encode(), cap_xml(f"P-{i:03d}")) for i in range(40)]
    produce(broker.bootstrap, topics.alerts, stream[:20])
    b.wait_for(lambda: b.count("alert_published") >= 2, 30, "b publishing")
    a.wait_for(lambda: a.count("alert_published") >= 2, 30, "a publishing")
    b.kill()
    produce(broker.bootstrap, topics.alerts, stream[20:])
    expected = {f"P-{i:03d}" for i in range(40)}
    a.wait_for(lambda: complete_ids(tmp_path) >= expected, 90, "all 40 outputs after b died")
    media = read_topic(broker.bootstrap, topics.media, lambda m: len(m) >= 40)
    assert a.terminate(30) == 0
    counts = published_ids(media)
    assert set(counts) == expected
    assert all(v == 1 for v in counts.values()), counts
    assert a.count("alert_published") > 0 and b.count("alert_published") > 0
    assert a.count("alert_published") + b.count("alert_published") >= 40


def _in_flight_at_end(events: list[dict[str, Any]]) -> bool:
    """Did the process die with an alert received but not finished (published, duplicate, rejected...)?"""
    started = {(e["partition"], e["offset"]) for e in events if e.get("event") == "alert_received"}
    finished = {
        (e["partition"], e["offset"])
        for e in events
        if e.get("event") in ("alert_published", "alert_already_published", "alert_skipped", "alert_rejected")
        and "offset" in e
    }
    return bool(started - finished)


def _last_assignment(d: Daemon) -> list[int] | None:
    found = [e["partitions"] for e in d.events() if e.get("event") == "partitions_assigned"]
    return found[-1] if found else None


HOSTILE: list[tuple[bytes, str]] = [
    (b"", "size"),
    (b"\xff\xfe<\x00a\x00", "encoding"),
    (
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><alert>&lol2;</alert>',
        "security",
    ),
    (b'<?xml version="1.0"?><!DOCTYPE a SYSTEM "http://evil.example/x.dtd"><alert/>', "security"),
    (b"<alert xmlns='urn:oasis:names:tc:emergency:cap:1.2'><identifier>x", "syntax"),
    (b"<rss/>", "structure"),
]


def test_hostile_input_broker_outage_and_sigterm(tmp_path: Path) -> None:
    """Dead letters with reasons; the broker dies and comes back; SIGTERM then exits 0 within the grace."""
    port = free_port()
    metrics_port = free_port()
    own = EmbeddedBroker(port=port, topics=(), partitions=4).start()
    try:
        topics = Topics(own, "out")
        config = write_config(tmp_path, own.bootstrap, topics, metrics_port=metrics_port, grace_s=5)
        daemon = Daemon(config, "d")
        daemon.wait_ready()
        # 1. hostile messages between valid ones: each dead-lettered with its reason, the valid ones published
        messages: list[tuple[bytes | None, bytes]] = []
        for i, (data, _label) in enumerate(HOSTILE):
            messages += [(b"h", data), (b"h", cap_xml(f"H-{i}"))]
        produce(own.bootstrap, topics.alerts, messages)
        dead = read_topic(own.bootstrap, topics.dead, lambda m: len(m) >= len(HOSTILE))
        assert sorted(value for value, _h in dead) == sorted(data for data, _l in HOSTILE)
        for value, headers in dead:
            label = next(label for data, label in HOSTILE if data == value)
            assert headers["x-cinealert-reason-label"].decode() == label
            assert headers["x-cinealert-reason"]
            assert headers["x-cinealert-stage"] == b"parse"
            assert headers["x-cinealert-topic"].decode() == topics.alerts
            assert int(headers["x-cinealert-offset"]) >= 0
        daemon.wait_for(
            lambda: complete_ids(tmp_path) >= {f"H-{i}" for i in range(len(HOSTILE))}, 30, "valid"
        )
        assert _metric(metrics_port, 'cinealert_alerts_rejected_total{reason="security"}') == 2.0
        assert _metric(metrics_port, "cinealert_broker_up") == 1.0

        # 2. the broker goes away: the daemon keeps running and says so
        own.kill()
        daemon.wait_for(lambda: daemon.count("broker_disconnected") > 0, 30, "broker_disconnected")
        assert _metric(metrics_port, "cinealert_broker_up") == 0.0
        time.sleep(2)
        assert daemon.proc.poll() is None

        # 3. it comes back on the same port (memory storage: empty): new alerts are processed
        own.start()
        for topic in (topics.alerts, topics.media, topics.dead):
            own.create_topic(topic, 4)
        daemon.wait_for(lambda: daemon.count("broker_connected") > 1, 40, "broker_connected again")
        produce(own.bootstrap, topics.alerts, [(b"r", cap_xml("R-1")), (b"r", cap_xml("R-2"))])
        daemon.wait_for(lambda: complete_ids(tmp_path) >= {"R-1", "R-2"}, 60, "alerts after the outage")
        assert _metric(metrics_port, "cinealert_broker_up") == 1.0

        # 4. SIGTERM: graceful, exit 0, within the grace period
        started = time.monotonic()
        assert daemon.terminate(5 + 15) == 0
        assert time.monotonic() - started < 5 + 15
        assert daemon.count("daemon_stopped") == 1
    finally:
        own.stop()


def test_sigterm_cancels_a_slow_render_and_the_alert_is_replayed(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    topics = Topics(broker, "term")
    config = write_config(tmp_path, broker.bootstrap, topics, delay_s=30.0, grace_s=0.5)
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # stands in for systemd
    notify.bind(str(tmp_path / "notify.sock"))
    env = {"NOTIFY_SOCKET": str(tmp_path / "notify.sock"), "WATCHDOG_USEC": "1000000"}
    daemon = Daemon(config, "slow", extra_env=env)
    daemon.wait_ready()
    produce(broker.bootstrap, topics.alerts, [(b"s", cap_xml("S-1"))])
    daemon.wait_for(lambda: daemon.count("alert_received") == 1, 30, "the slow alert in flight")
    started = time.monotonic()
    assert daemon.terminate(15) == 0
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"stopping took {elapsed:.1f} s with a 0.5 s grace period"
    assert daemon.count("grace_exceeded_cancelling") == 1 and daemon.count("alert_cancelled") == 1
    assert complete_ids(tmp_path) == set()  # nothing half-published
    notify.setblocking(False)
    messages = []
    with contextlib.suppress(BlockingIOError):
        while True:
            messages.append(notify.recv(4096).decode())
    notify.close()
    kinds = [m.split("\n")[0] for m in messages]
    assert "READY=1" in kinds and "STOPPING=1" in kinds and "WATCHDOG=1" in kinds, kinds
    assert kinds.index("READY=1") < kinds.index("STOPPING=1")
    # not committed: a restarted daemon (now fast) gets it again and publishes it
    fast = Daemon(write_config(tmp_path, broker.bootstrap, topics, delay_s=0.0), "fast")
    fast.wait_ready()
    fast.wait_for(lambda: complete_ids(tmp_path) == {"S-1"}, 30, "the replayed alert")
    assert fast.terminate(20) == 0


def _metric(port: int, name: str) -> float | None:
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[-1])
    return None


@contextlib.asynccontextmanager
async def live_daemon(broker: EmbeddedBroker, tmp_path: Path, kafka: dict[str, Any]) -> AsyncIterator[Any]:
    """A daemon wired to the real broker with a started producer, not consuming: for calling its announce and
    dead-letter paths directly."""

    from aiokafka import AIOKafkaProducer

    from cinealert.config import parse
    from cinealert.daemon.service import Daemon as Service
    from cinealert.daemon.service import client_options
    from cinealert.handlers.summary_stage import SummaryStage

    settings = parse(
        {
            "kafka": {"bootstrap": broker.bootstrap, **kafka},
            "handlers": {"dedup_state_dir": str(tmp_path / "state")},
        }
    )
    service = Service(settings, stage=SummaryStage(tmp_path / "out"), bootstrap=broker.bootstrap)
    producer = AIOKafkaProducer(**client_options(settings.kafka, broker.bootstrap), acks="all")
    await producer.start()
    service.sender.producer = producer
    try:
        yield service
    finally:
        await producer.stop()


async def test_read_back_keeps_announcements_and_dead_letters_single(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The replay check against the real broker: an event sent after the fence is found, others are not."""
    import asyncio

    topics = Topics(broker, "readback")
    kafka = {"media_topic": topics.media, "dead_letter_topic": topics.dead}
    async with live_daemon(broker, tmp_path, kafka) as service:
        announcer = service.announcer
        first = {"event": "published", "event_id": "e-1", "key_str": "s,a,t"}
        same_partition = {"event": "published", "event_id": "e-2", "key_str": "s,a,t"}
        fence1 = await announcer.fence(first)
        assert fence1["from_offset"] == 0
        assert not await announcer.delivered(first, fence1)  # not sent yet
        await announcer.send(first, fence1)
        assert await announcer.delivered(first, fence1)
        fence2 = await announcer.fence(same_partition)
        assert fence2["partition"] == fence1["partition"] and fence2["from_offset"] >= 0
        assert not await announcer.delivered(same_partition, fence2)
        await announcer.send(same_partition, fence2)
        assert await announcer.delivered(same_partition, fence2)
        assert not await announcer.delivered(first, {**fence2, "from_offset": fence2["from_offset"] + 1})
        hint = json.loads((tmp_path / "state" / f"{topics.media}.offsets.json").read_text())
        assert hint["topic"] == topics.media and str(fence1["partition"]) in hint["offsets"]

        # dead letters: once per consumed message, also when the daemon died between send and marker
        from aiokafka import ConsumerRecord

        from cinealert.daemon.kafka import current_record as _record

        def record(offset: int) -> ConsumerRecord[bytes, bytes]:
            return ConsumerRecord(
                topics.alerts, 0, offset, 1_700_000_000_000 + offset, 0, b"k", b"<x", None, 1, 2, ()
            )

        dead_dir = tmp_path / "state" / "dead"
        _record.set(record(7))
        await service.dead_letters(b"<x", "syntax", "not XML", "parse")
        await service.dead_letters(b"<x", "syntax", "not XML", "parse")  # replay: marker says done
        (done,) = [p for p in dead_dir.iterdir() if not p.name.endswith(".pending.json")]
        done.unlink()  # as if the daemon died after the broker's ack, before writing the marker
        fence = {**await service.dead_letters.ledger.fence(b"k"), "from_offset": 0}
        done.with_name(done.name.replace(".json", ".pending.json")).write_text(json.dumps({"fence": fence}))
        await service.dead_letters(b"<x", "syntax", "not XML", "parse")  # finds it on the topic: no resend
        _record.set(record(8))
        await service.dead_letters(b"<x", "syntax", "not XML", "parse")  # another message, same bytes: sent
        dead = await asyncio.to_thread(read_topic, broker.bootstrap, topics.dead, lambda m: len(m) >= 3, 5)
        assert sorted(int(h["x-cinealert-offset"]) for _v, h in dead) == [7, 8]


def test_send_command_keys_by_sender_and_keeps_bytes(broker: EmbeddedBroker, tmp_path: Path) -> None:
    topics = Topics(broker, "send")
    good, bad = tmp_path / "good.xml", tmp_path / "bad.xml"
    good.write_bytes(cap_xml("SEND-1", sender="kma@korea.kr"))
    bad.write_bytes(b"\x00not xml at all")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEALERT_")}
    command = [sys.executable, "-m", "cinealert.cli", "send", str(good), str(bad)]
    proc = subprocess.run(
        [*command, "--bootstrap", broker.bootstrap, "--topic", topics.alerts],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("SENT ") == 2
    consumer = Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": "send-check", "session.timeout.ms": 6000}
    )
    try:
        parts = consumer.list_topics(topics.alerts, timeout=10).topics[topics.alerts].partitions
        consumer.assign([TopicPartition(topics.alerts, p, OFFSET_BEGINNING) for p in parts])
        got: dict[bytes, bytes | None] = {}
        deadline = time.monotonic() + 20
        while len(got) < 2 and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error():
                got[msg.value()] = msg.key()
    finally:
        consumer.close()
    assert got == {good.read_bytes(): b"kma@korea.kr", bad.read_bytes(): None}
    missing = subprocess.run(
        [
            sys.executable,
            "-m",
            "cinealert.cli",
            "send",
            str(tmp_path / "nope.xml"),
            "--bootstrap",
            broker.bootstrap,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert missing.returncode == 2 and "no such file" in missing.stderr


async def test_oversized_message_is_dead_lettered_truncated_not_retried_forever(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """A refused message over the producer's 1 MiB request limit used to fail to send on every retry, blocking
    its partition for good; its dead letter now carries the first bytes and the original's size and digest."""
    import asyncio
    import hashlib

    from aiokafka import ConsumerRecord

    from cinealert.daemon.kafka import current_record as _record
    from cinealert.daemon.outbound import DEAD_LETTER_MAX_BYTES

    topics = Topics(broker, "oversize")
    data = b"<alert>" + b"x" * (1024 * 1024 + 100) + b"</alert>"
    async with live_daemon(broker, tmp_path, {"dead_letter_topic": topics.dead}) as service:
        _record.set(
            ConsumerRecord(topics.alerts, 2, 41, 1_700_000_000_000, 0, b"k" * 5000, data, None, 1, 1, ())
        )
        await asyncio.wait_for(service.dead_letters(data, "size", "too large", "parse"), 30)
        dead = await asyncio.to_thread(read_topic, broker.bootstrap, topics.dead, lambda m: len(m) >= 1, 10)
    assert len(dead) == 1
    value, headers = dead[0]
    assert value == data[:DEAD_LETTER_MAX_BYTES]
    assert int(headers["x-cinealert-truncated-from"]) == len(data)
    assert headers["x-cinealert-sha256"].decode() == hashlib.sha256(data).hexdigest()
    assert (headers["x-cinealert-partition"], headers["x-cinealert-offset"]) == (b"2", b"41")


async def test_dead_letter_waits_out_a_full_disk_instead_of_failing_its_task(
    broker: EmbeddedBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The dead letter's marker write hits ENOSPC twice (a fault injected at the one durable-write call): the
    dead letter is still sent, once, instead of the task failing and its partition's offset never committing."""
    import asyncio
    import errno

    from aiokafka import ConsumerRecord

    import cinealert.objstore as outbox  # the outbox writes its markers through objstore.LOCAL (atomic_write)
    from cinealert.broadcast.publish import PublishError
    from cinealert.daemon.kafka import current_record

    real_write = outbox.atomic_write
    failures = {"left": 2}

    def full_then_fine(path: Path, data: bytes) -> Path:
        if failures["left"]:
            failures["left"] -= 1
            raise PublishError(errno.ENOSPC, f"cannot publish {path}: No space left on device")
        return real_write(path, data)

    monkeypatch.setattr(outbox, "atomic_write", full_then_fine)
    topics = Topics(broker, "deadfull")
    kafka = {"dead_letter_topic": topics.dead, "reconnect_backoff_initial_s": 0.05}
    async with live_daemon(broker, tmp_path, kafka) as service:
        current_record.set(
            ConsumerRecord(topics.alerts, 1, 5, 1_700_000_000_000, 0, b"k", b"<x", None, 1, 2, ())
        )
        await asyncio.wait_for(service.dead_letters(b"<x", "syntax", "not XML", "parse"), 30)
        dead = await asyncio.to_thread(read_topic, broker.bootstrap, topics.dead, lambda m: len(m) >= 1, 5)
    assert failures["left"] == 0
    assert [h["x-cinealert-offset"] for _v, h in dead] == [b"5"]
