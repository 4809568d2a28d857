"""``cinealert run``, ``demo``, ``send`` and ``broker``: the daemon, its end-to-end demo and its tools."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinealert.commands import EXIT_FAILURE, EXIT_INVALID, EXIT_OK, load_settings
from cinealert.errors import CinealertError

if TYPE_CHECKING:
    from cinealert.config import Settings
    from cinealert.daemon.broker import EmbeddedBroker
    from cinealert.daemon.demo import DemoRun
    from cinealert.daemon.metrics import Metrics


# --- run ------------------------------------------------------------------------------------------------------


class _StartFailed(CinealertError):  # noqa: N818 - logged where it happened; the command exits 1
    """A listener or the embedded broker could not start."""


def _metrics_server(settings: Settings, metrics: Metrics) -> Any:
    """The exposition server (``server.shutdown()`` stops it), or None when metrics are off."""
    import structlog

    from cinealert.daemon.metrics import serve

    if not settings.metrics.enabled:
        return None
    log = structlog.get_logger("cinealert.daemon")
    host, port = settings.metrics.host, settings.metrics.port
    try:
        server, bound = serve(metrics.registry, host, port)
    except OSError as exc:
        log.error("metrics_port_unavailable", host=host, port=port, error=str(exc))
        raise _StartFailed from exc
    log.info("metrics_listening", url=f"http://{host}:{bound}/metrics")
    return server


def _embedded_broker(settings: Settings) -> EmbeddedBroker:
    import structlog

    from cinealert.daemon.broker import BrokerError, EmbeddedBroker

    k = settings.kafka
    broker = EmbeddedBroker(
        port=k.embedded_port,
        topics=(k.alerts_topic, k.media_topic, k.dead_letter_topic),
        partitions=k.embedded_partitions,
    )
    try:
        broker.start()
    except BrokerError as exc:
        structlog.get_logger("cinealert.daemon").error("embedded_broker_failed", error=str(exc))
        raise _StartFailed from exc
    return broker


def cmd_run(args: argparse.Namespace) -> int:
    """``cinealert run``: the service. Exit 0 after a graceful stop, 2 on bad configuration, 1 on failure."""
    import asyncio

    import structlog

    from cinealert.daemon.logging import configure_logging
    from cinealert.daemon.metrics import Metrics
    from cinealert.daemon.service import serve_forever
    from cinealert.daemon.systemd import Notifier
    from cinealert.handlers.factory import make_stage, prewarm_hook
    from cinealert.objstore import StoreConfigError

    settings = load_settings(args)
    configure_logging(settings.log)
    notifier = Notifier()
    metrics = Metrics(channels=[channel.name for channel in settings.channel_list()])
    try:
        server = _metrics_server(settings, metrics)
    except _StartFailed:
        return EXIT_FAILURE
    broker: EmbeddedBroker | None = None
    bootstrap = settings.kafka.bootstrap
    console_errors: tuple[type[Exception], ...] = ()
    try:
        if bootstrap == "embedded":
            broker = _embedded_broker(settings)
            bootstrap = broker.bootstrap
        stage = make_stage(settings)
        structlog.get_logger("cinealert.daemon").info(
            "stage_selected", stage=type(stage).__name__, output_dir=str(settings.broadcast.output_dir)
        )
        serve = serve_forever
        if settings.console.enabled:  # the operator console (``cinealert.console``) beside the daemon
            from cinealert.console.auth import ConsoleError
            from cinealert.console.run import serve_with_console as serve

            console_errors = (ConsoleError,)
        return asyncio.run(
            serve(
                settings, stage=stage, bootstrap=bootstrap, metrics=metrics, notifier=notifier,
                prewarm=prewarm_hook(stage, settings),
            )
        )  # fmt: skip
    except _StartFailed:
        return EXIT_FAILURE
    except console_errors as exc:  # the console's token or listener: a configuration problem, said plainly
        structlog.get_logger("cinealert.daemon").error("console_failed", error=str(exc))
        return EXIT_INVALID
    except StoreConfigError as exc:  # [store]: a bucket that ignores conditional writes
        structlog.get_logger("cinealert.daemon").error("store_unusable", error=str(exc))
        return EXIT_INVALID
    finally:
        if broker is not None:
            broker.stop()
        if server is not None:
            server.shutdown()


# --- demo -----------------------------------------------------------------------------------------------------


def _demo_settings(settings: Settings, args: argparse.Namespace) -> Settings:
    """``--stage``, ``--quick``, and a fresh output and state folder per run."""
    from datetime import UTC, datetime

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
    return settings.model_copy(
        update={
            "broadcast": settings.broadcast.model_copy(update={"output_dir": out}),
            "handlers": settings.handlers.model_copy(update={"dedup_state_dir": state}),
        }
    )


def _name(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def _print_table(run: DemoRun, stage_dir: Path, root: Path) -> None:
    rows = [("FILE", "RESULT", "DETAIL", "OUTPUT")]
    for path, partition, offset in run.sent:
        key = (partition, offset)
        if key not in run.outcomes:
            rows.append((_name(path, root), "unfinished", "", ""))
            continue
        o = run.outcomes[key]
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


def _report(run: DemoRun, settings: Settings, root: Path) -> int:
    """The table and the totals; exit 0 only if every message was finished and every announcement and dead
    letter was read back."""
    k = settings.kafka
    _print_table(run, stage_dir=settings.broadcast.output_dir, root=root)
    missing = run.missing
    print(
        f"\n{len(run.sent)} sent, {len(run.sent) - len(missing)} finished; "
        f"{run.media_seen}/{run.announced} announcements on {k.media_topic}, "
        f"{run.dead_seen}/{run.dead} on {k.dead_letter_topic}"
    )
    print(f"outputs under {settings.broadcast.output_dir.resolve()}")
    if missing:
        print(f"NOT FINISHED: {', '.join(str(p) for p in missing)}", file=sys.stderr)
        print(
            "(renders are slow on this machine? try `cinealert demo --quick` or a larger --timeout)",
            file=sys.stderr,
        )
    return EXIT_OK if run.ok else EXIT_FAILURE


def cmd_demo(args: argparse.Namespace) -> int:
    """``cinealert demo``: embedded broker + daemon + the bundled samples; a table of what happened to each."""
    import asyncio

    from cinealert.daemon.demo import default_samples, run_demo, sample_files
    from cinealert.daemon.logging import configure_logging

    settings = _demo_settings(load_settings(args), args)
    configure_logging(
        settings.log.model_copy(update={"level": "error"}) if not args.verbose else settings.log
    )
    root = args.samples or default_samples()
    files = sample_files(root)
    if not files:
        print(f"demo: no samples in {root}", file=sys.stderr)
        return EXIT_INVALID
    keep = bool(getattr(args, "console", False))
    console: Any = None
    if keep or not getattr(args, "no_console", False):
        settings, console, token = _demo_console(settings, explicit=keep)
        if console is None and keep:
            return EXIT_INVALID
        if console is not None:
            print(
                f"console: sign in with the token {token}" if token else "console: sign in with console.token"
            )
    codes: list[int] = []
    run = asyncio.run(run_demo(settings, files, args.timeout, console=console, keep_console=keep,
                               report=lambda r: codes.append(_report(r, settings, root))))  # fmt: skip
    return codes[0] if codes else _report(run, settings, root)


def _demo_console(settings: Settings, explicit: bool) -> tuple[Settings, Any, str]:
    """The demo's console: 127.0.0.1 unless configured, on a free port unless ``console.port`` is set; without a
    configured token one is made up for this run and printed (it dies with the demo). It cannot start: said
    on stderr, and the demo goes on without it unless it was asked for (``--console``)."""
    import secrets

    from pydantic import SecretStr

    from cinealert.console.auth import ConsoleError
    from cinealert.console.run import Console

    token = ""
    update: dict[str, Any] = {"enabled": True}
    if "port" not in settings.console.model_fields_set:
        update["port"] = 0
    if settings.console.token is None and settings.console.token_file is None:
        token = secrets.token_urlsafe(18)
        update["token"] = SecretStr(f"demo:{token}")
    settings = settings.model_copy(update={"console": settings.console.model_copy(update=update)})
    try:
        return settings, Console(settings), token
    except ConsoleError as exc:
        print(f"demo: {exc}{'' if explicit else ' (the demo goes on without the console)'}", file=sys.stderr)
        return settings, None, token


# --- send, broker ---------------------------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace) -> int:
    """``cinealert send FILE...``: one message per file on the alerts topic (``daemon.send``), acks=all."""
    import asyncio

    from aiokafka.errors import KafkaError

    from cinealert.daemon.send import send_files

    settings = load_settings(args)
    bootstrap = args.bootstrap or settings.kafka.bootstrap
    if bootstrap == "embedded":
        print(
            "send: kafka.bootstrap is 'embedded'; pass --bootstrap HOST:PORT of a running broker",
            file=sys.stderr,
        )
        return EXIT_INVALID
    topic = args.topic or settings.kafka.alerts_topic
    missing = [p for p in args.files if not p.is_file()]
    if missing:
        print(f"send: no such file: {', '.join(map(str, missing))}", file=sys.stderr)
        return EXIT_INVALID
    try:
        results = asyncio.run(send_files(settings, bootstrap, topic, list(args.files)))
    except (KafkaError, OSError) as exc:
        print(f"send: {bootstrap}: {exc!r}", file=sys.stderr)
        return EXIT_FAILURE
    for path, partition, offset in results:
        print(f"SENT {path} -> {topic}[{partition}]@{offset}")
    return EXIT_OK


def cmd_broker(args: argparse.Namespace) -> int:
    """``cinealert broker``: run the embedded broker in the foreground until SIGINT/SIGTERM."""
    import signal
    import threading

    import structlog

    from cinealert.daemon.broker import BrokerError, EmbeddedBroker
    from cinealert.daemon.logging import configure_logging

    log = structlog.get_logger("cinealert.broker")
    settings = load_settings(args)
    configure_logging(settings.log)
    k = settings.kafka
    port = args.port if args.port is not None else k.embedded_port
    broker = EmbeddedBroker(
        port=port,
        host=args.host,
        topics=(k.alerts_topic, k.media_topic, k.dead_letter_topic),
        partitions=k.embedded_partitions,
    )
    stopping = threading.Event()

    def _stop(_sig: int, _frame: object) -> None:
        stopping.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    try:
        broker.start()
    except BrokerError as exc:
        log.error("broker_failed", error=str(exc))
        return EXIT_FAILURE
    print(f"broker listening on {broker.bootstrap} (memory storage; Ctrl-C stops it)", flush=True)
    if args.port_file is not None:
        Path(args.port_file).write_text(f"{broker.port}\n", encoding="utf-8")
    try:
        while not stopping.wait(0.5):
            if not broker.running:
                log.error("broker_exited")
                return EXIT_FAILURE
    finally:
        broker.stop()
    return EXIT_OK
