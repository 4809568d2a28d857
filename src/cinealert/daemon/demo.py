"""``cinealert demo``: embedded broker + daemon + the bundled samples, end to end, in one command.

It sends every ``samples/*.xml`` and ``samples/hostile/*`` file, waits until each message is finished by the
daemon (published, skipped by policy, or dead-lettered), reads the announcements back from the media topic and
the refusals from the dead-letter topic to show they really went out, prints a table, and exits 0 only if
every message was accounted for and every announcement/dead letter arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from cinealert.config import Settings
from cinealert.handlers.process import Outcome

_ORDER = {"Alert": 0, "Update": 1, "Cancel": 2}


def _rank(path: Path) -> int:
    """Alerts first, then Updates, then Cancels: the order a real feed has them in."""
    from cinealert.daemon.send import message_type

    return _ORDER.get(message_type(path.read_bytes()) or "", 0)


def sample_files(root: Path) -> list[Path]:
    files = sorted((p for p in root.glob("*.xml") if p.is_file()), key=lambda p: (_rank(p), p.name))
    hostile = root / "hostile"
    if hostile.is_dir():
        files += sorted(p for p in hostile.iterdir() if p.is_file() and not p.name.startswith("."))
    return files


def default_samples() -> Path:
    here = Path.cwd() / "samples"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[3] / "samples"


async def count_topic(bootstrap: str, settings: Settings, topic: str, want: int, timeout_s: float) -> int:
    """Messages on ``topic`` read from the beginning (no group), stopping at ``want`` or ``timeout_s``."""
    from cinealert.daemon.service import client_options

    consumer = AIOKafkaConsumer(**client_options(settings.kafka, bootstrap), enable_auto_commit=False)
    await consumer.start()
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        if not parts:
            await consumer._client.force_metadata_update()  # the topic may be new to this client
            parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return 0
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        seen = 0
        deadline = time.monotonic() + timeout_s
        while seen < want and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=200)
            seen += sum(len(v) for v in batch.values())
        return seen
    finally:
        await consumer.stop()


async def run_demo(settings: Settings, files: list[Path], timeout_s: float, root: Path) -> int:
    from cinealert.daemon.broker import EmbeddedBroker
    from cinealert.daemon.metrics import Metrics, serve
    from cinealert.daemon.send import send_files
    from cinealert.daemon.service import Daemon
    from cinealert.daemon.systemd import Notifier
    from cinealert.handlers.factory import make_stage, prewarm_hook

    k = settings.kafka
    broker = EmbeddedBroker(
        port=k.embedded_port,
        topics=(k.alerts_topic, k.media_topic, k.dead_letter_topic),
        partitions=k.embedded_partitions,
    )
    broker.start()  # on this thread: the broker is tied to it (dies with it)
    metrics = Metrics()
    server, port = serve(metrics.registry, settings.metrics.host, 0)
    outcomes: dict[tuple[int, int], Outcome | None] = {}
    progress = asyncio.Event()

    def on_outcome(record: ConsumerRecord[bytes, bytes], outcome: Outcome | None) -> None:
        outcomes[(record.partition, record.offset)] = outcome
        progress.set()

    stage = make_stage(settings)
    print(
        f"broker {broker.bootstrap}; stage {type(stage).__name__}; metrics http://{settings.metrics.host}:{port}/"
    )
    # Prewarm before consuming, as `cinealert run` does by default: the scenes are rendered one after another
    # while nothing else runs. Without it every cold scene was rendered while other alerts were being encoded,
    # and a cold 1080p render (~1 GB, heavy snow ~1.4 GB) on top of two encoders made the demo's 4.5 GB peak.
    prewarm = prewarm_hook(stage, settings)
    if prewarm is not None:
        loops = len(settings.render.prewarm) * settings.render.variants
        print(f"prewarming the scene cache first: {loops} loops (cached ones are reused) ...", flush=True)
    daemon = Daemon(
        settings,
        stage=stage,
        bootstrap=broker.bootstrap,
        metrics=metrics,
        notifier=Notifier({}),
        on_outcome=on_outcome,
        prewarm=prewarm,
    )
    stop = asyncio.Event()
    interrupted = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, interrupted.set)
    task = asyncio.create_task(daemon.run(stop))
    try:
        sent = await send_files(settings, broker.bootstrap, k.alerts_topic, files)
        print(f"sent {len(sent)} sample(s) to {k.alerts_topic}; waiting for the daemon ...", flush=True)
        wanted = {(partition, offset) for _p, partition, offset in sent}
        deadline = time.monotonic() + timeout_s
        while (
            not wanted <= outcomes.keys()
            and time.monotonic() < deadline
            and not task.done()
            and not interrupted.is_set()
        ):
            progress.clear()
            try:
                await asyncio.wait_for(progress.wait(), 1.0)
            except TimeoutError:
                continue
        announced = sum(len(o.announced) for o in outcomes.values() if o is not None)
        dead = sum(1 for o in outcomes.values() if o is None or o.status == "rejected")
        media_seen = await count_topic(broker.bootstrap, settings, k.media_topic, announced, 10)
        dead_seen = await count_topic(broker.bootstrap, settings, k.dead_letter_topic, dead, 10)
    finally:
        stop.set()
        await task
        server.shutdown()
        broker.stop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    _print_table(sent, outcomes, stage_dir=settings.broadcast.output_dir, root=root)
    missing = [p for p, partition, offset in sent if (partition, offset) not in outcomes]
    print(
        f"\n{len(sent)} sent, {len(sent) - len(missing)} finished; "
        f"{media_seen}/{announced} announcements on {k.media_topic}, {dead_seen}/{dead} on {k.dead_letter_topic}"
    )
    print(f"outputs under {settings.broadcast.output_dir.resolve()}")
    ok = not missing and media_seen >= announced and dead_seen >= dead
    if missing:
        print(f"NOT FINISHED: {', '.join(str(p) for p in missing)}", file=sys.stderr)
        print(
            "(renders are slow on this machine? try `cinealert demo --quick` or a larger --timeout)",
            file=sys.stderr,
        )
    return 0 if ok else 1


def _name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _print_table(
    sent: list[tuple[Path, int, int]],
    outcomes: dict[tuple[int, int], Outcome | None],
    stage_dir: Path,
    root: Path,
) -> None:
    rows = [("FILE", "RESULT", "DETAIL", "OUTPUT")]
    for path, partition, offset in sent:
        key = (partition, offset)
        if key not in outcomes:
            rows.append((_name(path, root), "unfinished", "", ""))
            continue
        o = outcomes[key]
        if o is None:
            rows.append((_name(path, root), "rejected", "internal error", ""))
            continue
        detail = o.disaster or o.reason
        if o.superseded:
            detail += f" (superseded {o.superseded})"
        if o.withdrawn:
            detail += f" (withdrew {o.withdrawn})"
        output = str(stage_dir / o.key.slug()) if o.key and o.status in ("published", "duplicate") else ""
        rows.append((_name(path, root), o.status, detail, output))
    widths = [max(len(r[i]) for r in rows) for i in range(3)]
    for row in rows:
        print("  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3])


def cmd_demo(args: argparse.Namespace) -> int:
    from cinealert.config import load
    from cinealert.daemon.logging import configure_logging

    settings = load(getattr(args, "config", None))  # a ConfigError exits 2 in cli.main
    if args.stage:
        settings = settings.model_copy(
            update={"handlers": settings.handlers.model_copy(update={"stage": args.stage})}
        )
    if args.quick:
        # A preview: 720p, short loops, one variant per disaster. Same code paths, a fraction of the CPU.
        render = settings.render.model_copy(update={"resolution": "720p", "duration_s": 2.0, "variants": 1})
        settings = settings.model_copy(update={"render": render})
    # A fresh folder per run, so every run renders (a reused one would only report "duplicate").
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    out = args.output_dir or settings.broadcast.output_dir / "demo" / stamp
    state = settings.handlers.dedup_state_dir / "demo" / stamp
    settings = settings.model_copy(
        update={
            "broadcast": settings.broadcast.model_copy(update={"output_dir": out}),
            "handlers": settings.handlers.model_copy(update={"dedup_state_dir": state}),
        }
    )
    configure_logging(
        settings.log.model_copy(update={"level": "error"}) if not args.verbose else settings.log
    )
    root = args.samples or default_samples()
    files = sample_files(root)
    if not files:
        print(f"demo: no samples in {root}", file=sys.stderr)
        return 2
    return asyncio.run(run_demo(settings, files, args.timeout, root))
