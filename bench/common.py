"""Shared pieces of the daemon-level benches and drills (``bench/suite.py``, ``bench/drill.py``).

A ``cinealert run`` subprocess with its JSON log in a file, a TOML config writer, a confluent-kafka producer
that reports where each message landed, a reader that keeps every record of a topic, peak-RSS sampling from
/proc and percentiles. confluent-kafka (librdkafka) is the independent client: the daemon uses aiokafka.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

REPO = Path(__file__).resolve().parents[1]
#: Log events that end the handling of a consumed message (the daemon logs them with partition/offset).
FINISHED_EVENTS = ("alert_published", "alert_already_published", "alert_skipped", "alert_rejected")


def clean_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The caller's environment without settings that would change the daemon under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CINEALERT_", "NOTIFY_", "WATCHDOG_"))}
    env.update(extra or {})
    return env


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {value!r}")


def write_config(path: Path, sections: Mapping[str, Mapping[str, object]]) -> Path:
    """A ``cinealert.toml`` from ``{section: {key: value}}``."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {toml_value(value)}" for key, value in values.items()]
        lines.append("")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def read_events(path: Path) -> list[dict[str, Any]]:
    """The JSON log lines of a daemon log (other lines, e.g. a traceback, are skipped)."""
    out = []
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        return []
    for line in text.splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except ValueError:
                continue
    return out


def in_flight_at_end(events: Sequence[Mapping[str, Any]]) -> bool:
    """Did the log end with a message received (parsed) but not finished: a kill that landed mid-render?"""
    started = {(e["partition"], e["offset"]) for e in events if e.get("event") == "alert_received"}
    finished = {
        (e["partition"], e["offset"]) for e in events if e.get("event") in FINISHED_EVENTS and "offset" in e
    }
    return bool(started - finished)


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident set size (VmHWM) of a live process, in MiB; None once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


class DaemonProcess:
    """``python -m cinealert.cli run --config X`` with its log in a file (never a pipe that could fill up).

    A sampler thread keeps the highest VmHWM seen, so the peak survives the process (even a SIGKILL)."""

    def __init__(self, config: Path, log_path: Path, extra_env: Mapping[str, str] | None = None) -> None:
        self.log_path = log_path
        self.log_file = log_path.open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cinealert.cli", "run", "--config", str(config)],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            env=clean_env(extra_env),
            cwd=REPO,
        )
        self.peak_rss_mb = 0.0
        self._sampler = threading.Thread(target=self._sample, daemon=True)
        self._sampler.start()

    def _sample(self) -> None:
        while self.proc.poll() is None:
            mb = vm_hwm_mb(self.proc.pid)
            if mb is not None:
                self.peak_rss_mb = max(self.peak_rss_mb, mb)
            time.sleep(0.2)

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def events(self) -> list[dict[str, Any]]:
        return read_events(self.log_path)

    def count(self, event: str) -> int:
        return sum(1 for e in self.events() if e.get("event") == event)

    def tail(self, n: int = 30) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])

    def wait_for(self, predicate: Callable[[], bool], timeout: float, what: str, poll_s: float = 0.1) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"daemon exited ({self.proc.returncode}) waiting for {what}:\n{self.tail()}"
                )
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}:\n{self.tail()}")
            time.sleep(poll_s)

    def wait_count(self, event: str, at_least: int, timeout: float) -> None:
        """Wait until the log holds ``at_least`` events named ``event``."""
        self.wait_for(lambda: self.count(event) >= at_least, timeout, f"{at_least} x {event}", poll_s=0.1)

    def in_flight(self) -> bool:
        """Whether the log now shows a message received and not finished."""
        return in_flight_at_end(self.events())

    def wait_ready(self, timeout: float = 300) -> None:
        self.wait_for(lambda: self.count("daemon_ready") > 0, timeout, "daemon_ready", poll_s=0.2)

    def kill(self) -> None:
        """SIGKILL: no drain, no commit, no leaving the group."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        self._sampler.join(1)
        self.log_file.close()

    def terminate(self, timeout: float = 60) -> int:
        """SIGTERM and wait for the graceful stop; SIGKILL if it overruns. The exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)
        finally:
            self._sampler.join(1)
            self.log_file.close()


def producer(bootstrap: str, **extra: object) -> Producer:
    conf: dict[str, object] = {
        "bootstrap.servers": bootstrap,
        "acks": "all",
        "enable.idempotence": False,
        "linger.ms": 2,
    }
    conf.update(extra)
    return Producer(conf)


def produce(
    bootstrap: str,
    topic: str,
    messages: Iterable[tuple[bytes | None, bytes]],
    *,
    max_message_bytes: int = 4 * 1024 * 1024,
    timeout_s: float = 60,
) -> list[tuple[int, int]]:
    """Send ``(key, value)`` pairs with acks=all; the (partition, offset) each landed at, in order."""
    where: dict[int, tuple[int, int]] = {}
    errors: list[str] = []
    prod = producer(bootstrap, **{"message.max.bytes": max_message_bytes})
    count = 0
    for i, (key, value) in enumerate(messages):

        def report(err: Any, msg: Any, i: int = i) -> None:
            if err is not None:
                errors.append(str(err))
            else:
                where[i] = (msg.partition(), msg.offset())

        prod.produce(topic, value=value, key=key, on_delivery=report)
        prod.poll(0)
        count = i + 1
    left = prod.flush(timeout_s)
    if left or errors or len(where) != count:
        raise RuntimeError(f"produce to {topic}: {left} not flushed, errors {errors[:3]}")
    return [where[i] for i in range(count)]


@dataclass(slots=True)
class Record:
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] = field(default_factory=dict)

    def json(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.value)
        return doc


class TopicReader:
    """Every record of a topic from the beginning (all partitions, no group offsets), read incrementally."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.topic = topic
        self.consumer = Consumer(
            {
                "bootstrap.servers": bootstrap,
                "group.id": f"reader-{random.randrange(1 << 30)}",
                "enable.auto.commit": False,
                "session.timeout.ms": 6000,
                "fetch.wait.max.ms": 50,
                "fetch.message.max.bytes": 8 * 1024 * 1024,
            }
        )
        parts = self.consumer.list_topics(topic, timeout=30).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.records: list[Record] = []

    def poll(self, seconds: float) -> int:
        """Read for ``seconds``; how many new records arrived."""
        before = len(self.records)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            for msg in self.consumer.consume(500, min(0.1, left)):
                if msg.error():
                    continue
                raw: Any = msg.headers() or []
                headers = {str(k): bytes(v or b"") for k, v in raw}
                key: Any = msg.key()
                record = Record(
                    int(msg.partition() or 0), int(msg.offset() or 0), key, msg.value() or b"", headers
                )
                self.records.append(record)
        return len(self.records) - before

    def until(self, predicate: Callable[[list[Record]], bool], timeout: float, settle_s: float = 1.0) -> bool:
        """Read until ``predicate(records)`` holds (then ``settle_s`` more, to see late duplicates)."""
        deadline = time.monotonic() + timeout
        while not predicate(self.records):
            if time.monotonic() > deadline:
                return False
            self.poll(0.2)
        self.poll(settle_s)
        return True

    def close(self) -> None:
        self.consumer.close()


def pct(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile by nearest rank (NaN for no values)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]
