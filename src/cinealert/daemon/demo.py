"""The demo's orchestration (``cinealert demo``): embedded broker + daemon + the bundled samples, end to end.

``run_demo`` sends every ``samples/*.xml`` and ``samples/hostile/*`` file, waits until each message is finished
by the daemon (published, skipped by policy, or dead-lettered), and reads the announcements back from the media
topic and the refusals from the dead-letter topic to show they really went out. What it found comes back as a
``DemoRun``; ``cinealert.commands.daemon`` prints the table and turns it into an exit code.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from cinealert.config import Settings
from cinealert.daemon.progress import Progress
from cinealert.errors import CinealertError
from cinealert.handlers.process import Outcome

if TYPE_CHECKING:
    from cinealert.daemon.broker import EmbeddedBroker
    from cinealert.daemon.service import Daemon

_ORDER = {"Alert": 0, "Update": 1, "Cancel": 2}

Sent = list[tuple[Path, int, int]]  # (file, partition, offset) per message, in the order sent
Outcomes = dict[tuple[int, int], Outcome | None]  # (partition, offset) -> what the daemon did; None: a bug


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


@dataclass
class DemoRun:
    """What the demo sent, what the daemon made of each message, and what was read back from the topics."""

    sent: Sent
    outcomes: Outcomes
    announced: int = 0  # announcements the daemon reported
    dead: int = 0  # dead letters the daemon reported
    media_seen: int = 0  # ... of them read back from the media topic
    dead_seen: int = 0  # ... from the dead-letter topic

    @property
    def missing(self) -> list[Path]:
        """Files whose message the daemon never finished."""
        return [p for p, partition, offset in self.sent if (partition, offset) not in self.outcomes]

    @property
    def ok(self) -> bool:
        return not self.missing and self.media_seen >= self.announced and self.dead_seen >= self.dead


@dataclass
class _Tracker:
    """The daemon's outcomes as they come (its ``on_outcome``), and a wait for a set of them."""

    outcomes: Outcomes = field(default_factory=dict)
    progress: asyncio.Event = field(default_factory=asyncio.Event)
    #: the "alerts finished" bar and each sent message's file, once they are sent (``expect``)
    bar: Progress | None = None
    names: dict[tuple[int, int], str] = field(default_factory=dict)

    def expect(self, sent: Sent) -> None:
        """Count the sent messages as they finish, with a bar (outcomes already in are counted at once)."""
        self.names = {(partition, offset): path.name for path, partition, offset in sent}
        self.bar = Progress("alerts finished", len(sent), from_first=True)
        done = [k for k in self.names if k in self.outcomes]
        if done:
            self.bar.step(len(done), "")

    def on_outcome(self, record: ConsumerRecord[bytes, bytes], outcome: Outcome | None) -> None:
        key = (record.partition, record.offset)
        self.outcomes[key] = outcome
        self.progress.set()
        if self.bar is not None and key in self.names:
            what = "internal error" if outcome is None else outcome.status
            self.bar.step(sum(1 for k in self.names if k in self.outcomes), f"{self.names[key]}: {what}")

    async def wait_for(
        self, wanted: set[tuple[int, int]], timeout_s: float, until: Callable[[], bool]
    ) -> None:
        """Until every ``wanted`` message is finished, ``timeout_s`` passed, or ``until()`` says stop."""
        deadline = time.monotonic() + timeout_s
        while not wanted <= self.outcomes.keys() and time.monotonic() < deadline and not until():
            self.progress.clear()
            try:
                await asyncio.wait_for(self.progress.wait(), 1.0)
            except TimeoutError:
                continue


def _start_broker(settings: Settings) -> EmbeddedBroker:
    from cinealert.daemon.broker import EmbeddedBroker

    k = settings.kafka
    broker = EmbeddedBroker(
        port=k.embedded_port,
        topics=(k.alerts_topic, k.media_topic, k.dead_letter_topic),
        partitions=k.embedded_partitions,
    )
    broker.start()  # on this thread: the broker is tied to it (dies with it)
    return broker


class DemoConsole(Protocol):
    """The operator console (``cinealert.console.run.Console``), handed in by the command above this layer."""

    board: Any
    approvals: Any

    async def start(self, daemon: Daemon) -> str: ...

    async def stop(self) -> None: ...


def _make_daemon(
    settings: Settings,
    bootstrap: str,
    tracker: _Tracker,
    say: Callable[[str], None],
    console: DemoConsole | None = None,
) -> tuple[Daemon, Callable[[], None]]:
    """The daemon on ``bootstrap`` with metrics on a free port; returns it and the metrics server's shutdown."""
    from cinealert.daemon.metrics import Metrics, serve
    from cinealert.daemon.service import Daemon
    from cinealert.daemon.systemd import Notifier
    from cinealert.handlers.factory import make_stage, prewarm_hook

    metrics = Metrics(channels=[channel.name for channel in settings.channel_list()])
    server, port = serve(metrics.registry, settings.metrics.host, 0)
    stage = make_stage(settings)
    say(f"broker {bootstrap}; stage {type(stage).__name__}; metrics http://{settings.metrics.host}:{port}/")
    # Prewarm before consuming, as `cinealert run` does by default: the scenes are rendered one after another
    # while nothing else runs. Without it every cold scene was rendered while other alerts were being encoded,
    # and a cold 1080p render (~1 GB, heavy snow ~1.4 GB) on top of two encoders made the demo's 4.5 GB peak.
    loops = len(settings.render.prewarm) * settings.render.variants
    prewarm = prewarm_hook(stage, settings, Progress("scenes built", loops).prewarm_callback())
    if prewarm is not None:
        say(f"prewarming the scene cache first: {loops} loops (cached ones are reused) ...")
    daemon = Daemon(
        settings,
        stage=stage,
        bootstrap=bootstrap,
        metrics=metrics,
        notifier=Notifier({}),
        on_outcome=tracker.on_outcome,
        prewarm=prewarm,
        watch=console.board if console is not None else None,
        approvals=console.approvals if console is not None else None,
    )
    return daemon, server.shutdown


@contextlib.contextmanager
def _interruptible(loop: asyncio.AbstractEventLoop) -> Iterator[asyncio.Event]:
    """An event SIGTERM/SIGINT set while the block runs (the demo then stops waiting and reports)."""
    interrupted = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, interrupted.set)
    try:
        yield interrupted
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)


async def _exchange(
    settings: Settings,
    bootstrap: str,
    files: list[Path],
    tracker: _Tracker,
    timeout_s: float,
    stop_waiting: Callable[[], bool],
    say: Callable[[str], None],
) -> DemoRun:
    """Send the files, wait for the daemon to finish them, read the announcements and dead letters back."""
    from cinealert.daemon.send import send_files

    k = settings.kafka
    sent = await send_files(settings, bootstrap, k.alerts_topic, files)
    say(f"sent {len(sent)} sample(s) to {k.alerts_topic}; waiting for the daemon ...")
    tracker.expect(sent)
    await tracker.wait_for({(partition, offset) for _p, partition, offset in sent}, timeout_s, stop_waiting)
    run = DemoRun(sent, tracker.outcomes)
    run.announced = sum(len(o.announced) for o in run.outcomes.values() if o is not None)
    run.dead = sum(1 for o in run.outcomes.values() if o is None or o.status == "rejected")
    run.media_seen = await count_topic(bootstrap, settings, k.media_topic, run.announced, 10)
    run.dead_seen = await count_topic(bootstrap, settings, k.dead_letter_topic, run.dead, 10)
    return run


async def _serve(console: DemoConsole, daemon: Daemon, say: Callable[[str], None]) -> bool:
    """Start the console; one that cannot (its port taken) is said and the demo goes on without it."""
    try:
        say(f"console {await console.start(daemon)} (shows each alert as the daemon gets to it)")
    except CinealertError as exc:
        say(f"console not started: {exc}")
        return False
    return True


def _say(line: str) -> None:
    print(line, flush=True)


async def run_demo(
    settings: Settings,
    files: list[Path],
    timeout_s: float,
    say: Callable[[str], None] = _say,
    console: DemoConsole | None = None,
    report: Callable[[DemoRun], object] | None = None,
    keep_console: bool = False,
) -> DemoRun:
    """Broker, daemon and the samples; stops the daemon and the broker before it returns. ``report`` (when
    given) is called with the result before they stop.

    With ``console``, the console is served while the demo runs (its URL said first: a cold run renders for
    minutes, and the page shows each alert as it goes); with ``keep_console`` it stays up after the report,
    until SIGINT/SIGTERM, so the demo's alerts can be looked at afterwards."""
    broker = _start_broker(settings)
    tracker = _Tracker()
    daemon, stop_metrics = _make_daemon(settings, broker.bootstrap, tracker, say, console)
    stop = asyncio.Event()
    with _interruptible(asyncio.get_running_loop()) as interrupted:
        task = asyncio.create_task(daemon.run(stop))
        try:
            serving = console is not None and await _serve(console, daemon, say)
            run = await _exchange(
                settings, broker.bootstrap, files, tracker, timeout_s,
                lambda: task.done() or interrupted.is_set(), say,
            )  # fmt: skip
            if report is not None:
                report(run)
            if serving and keep_console and not interrupted.is_set():
                say("the console stays up with the demo's alerts; Ctrl-C stops the demo")
                await interrupted.wait()
            return run
        finally:
            stop.set()
            await task
            if console is not None:
                await console.stop()
            stop_metrics()
            broker.stop()
