"""Daemon throughput and latency with the summary stage (Kafka + parse + policy + durable publish + announce).

Starts the embedded broker and ``cinealert run`` as a subprocess, produces CAP alerts with confluent-kafka and
reads the announcements back from the media topic. Two phases:

* paced: ``--rate`` alerts/s for ``--paced`` alerts -> latency without queueing (received->published as the
  daemon measures it, and send->announcement as a client sees it);
* burst: ``--burst`` alerts at once -> sustained throughput (alerts/s from first send to last announcement).

Usage: .venv/bin/python bench/bench_daemon.py [--paced 200 --rate 20 --burst 2000 --concurrency 4]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition

from cinealert.daemon.broker import EmbeddedBroker

CAP = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">
  <identifier>{ident}</identifier><sender>bench@cinealert.example</sender>
  <sent>2026-11-26T09:00:00+09:00</sent><status>Actual</status><msgType>Alert</msgType><scope>Public</scope>
  <info><language>ko-KR</language><category>Met</category><event>호우경보</event><urgency>Immediate</urgency>
    <severity>Severe</severity><certainty>Observed</certainty><expires>2099-01-01T00:00:00+09:00</expires>
    <headline>호우경보 발령 {ident}</headline><description>하천 범람 위험. 높은 곳으로 대피하십시오.</description>
    <area><areaDesc>서울특별시</areaDesc></area></info>
</alert>
"""


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def summary(name: str, values: list[float]) -> str:
    return (
        f"{name:<28} n={len(values):<5} p50={pct(values, 50):7.1f} p90={pct(values, 90):7.1f} "
        f"p99={pct(values, 99):7.1f} max={max(values, default=float('nan')):7.1f} ms"
    )


class Reader:
    def __init__(self, bootstrap: str, topic: str) -> None:
        self.consumer = Consumer(
            {"bootstrap.servers": bootstrap, "group.id": "bench-reader", "enable.auto.commit": False,
             "session.timeout.ms": 6000, "fetch.wait.max.ms": 10}
        )  # fmt: skip
        parts = self.consumer.list_topics(topic, timeout=10).topics[topic].partitions
        self.consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in parts])
        self.arrived: dict[str, tuple[float, dict[str, object]]] = {}

    def poll_for(self, seconds: float) -> None:
        """Read announcements for ``seconds`` (arrival times are taken as they are read)."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._read(min(0.05, left))

    def poll_until(self, idents: set[str], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not idents <= self.arrived.keys() and time.monotonic() < deadline:
            self._read(0.05)

    def _read(self, timeout: float) -> None:
        for msg in self.consumer.consume(500, timeout):
            if msg.error():
                continue
            event = json.loads(msg.value())
            if event.get("event") == "published":
                self.arrived.setdefault(event["key"]["identifier"], (time.time(), event))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paced", type=int, default=200)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--burst", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=4)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-daemon-"))
    with EmbeddedBroker(topics=("cap.alerts", "cap.media", "cap.dead")) as broker:
        config = work / "c.toml"
        config.write_text(
            f'[kafka]\nbootstrap = "{broker.bootstrap}"\n'
            f'[handlers]\nstage = "summary"\nconcurrency = {args.concurrency}\ndedup_state_dir = "{work}/state"\n'
            f'[broadcast]\noutput_dir = "{work}/out"\n[metrics]\nenabled = false\n[log]\nlevel = "warning"\n'
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("CINEALERT_")}
        log = (work / "daemon.log").open("wb")
        daemon = subprocess.Popen(
            [sys.executable, "-m", "cinealert.cli", "run", "--config", str(config)],
            stdout=log,
            stderr=log,
            env=env,
        )
        try:
            producer = Producer({"bootstrap.servers": broker.bootstrap, "acks": "all", "linger.ms": 2})
            reader = Reader(broker.bootstrap, "cap.media")
            # warm-up: the group join (~3 s) and first imports are not part of any figure
            producer.produce("cap.alerts", CAP.format(ident="warmup").encode(), key=b"w")
            producer.flush(30)
            reader.poll_until({"warmup"}, 60)
            if "warmup" not in reader.arrived:
                print("daemon did not come up; see", work / "daemon.log", file=sys.stderr)
                return 1

            sent_at: dict[str, float] = {}
            idents = [f"paced-{i:05d}" for i in range(args.paced)]
            t0 = time.monotonic()
            for i, ident in enumerate(idents):
                reader.poll_for(t0 + i / args.rate - time.monotonic())
                sent_at[ident] = time.time()
                producer.produce("cap.alerts", CAP.format(ident=ident).encode(), key=ident.encode())
                producer.poll(0)
            producer.flush(30)
            reader.poll_until(set(idents), 60)
            rp = [
                float(reader.arrived[i][1]["timings_ms"]["received_to_published"])
                for i in idents
                if i in reader.arrived
            ]  # type: ignore[index]
            e2e = [(reader.arrived[i][0] - sent_at[i]) * 1000 for i in idents if i in reader.arrived]
            print(
                f"paced phase: {args.paced} alerts at {args.rate:g}/s, concurrency {args.concurrency}, summary stage"
            )
            print(summary("received->published (daemon)", rp))
            print(summary("send->announcement (client)", e2e))

            burst = [f"burst-{i:05d}" for i in range(args.burst)]
            start = time.time()
            for ident in burst:
                producer.produce("cap.alerts", CAP.format(ident=ident).encode(), key=ident.encode())
                producer.poll(0)
            producer.flush(60)
            reader.poll_until(set(burst), 300)
            done = [reader.arrived[i][0] for i in burst if i in reader.arrived]
            elapsed = max(done) - start if done else float("nan")
            print(
                f"burst phase: {len(done)}/{args.burst} published in {elapsed:.2f} s"
                f" -> {len(done) / elapsed:.0f} alerts/s"
            )
            missing = len(idents) + len(burst) - sum(1 for i in [*idents, *burst] if i in reader.arrived)
            print(f"missing announcements: {missing}")
        finally:
            daemon.send_signal(signal.SIGTERM)
            rc = daemon.wait(60)
            log.close()
            print(f"daemon exit code after SIGTERM: {rc}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
