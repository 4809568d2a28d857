"""Daemon building blocks: offset tracking, sd_notify, metrics endpoint, logging, unit file, deploy files."""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry

from cinealert.config.sections import LogSettings
from cinealert.daemon.metrics import Metrics, serve
from cinealert.daemon.offsets import PartitionOffsets
from cinealert.daemon.systemd import Notifier

ROOT = Path(__file__).resolve().parents[1]


# -- offsets ---------------------------------------------------------------------------------------------------
def test_commit_waits_for_the_lowest_pending_offset() -> None:
    offsets = PartitionOffsets()
    offsets.assign("p0")
    tokens = {o: offsets.start("p0", o) for o in (10, 11, 12)}
    assert offsets.committable("p0") == 10  # nothing done yet: the committed position stays at the first
    assert offsets.done(tokens[12])  # finished out of order
    assert offsets.committable("p0") == 10
    assert offsets.done(tokens[10])
    assert offsets.committable("p0") == 11  # 11 still pending: 12 must not be committed
    offsets.mark_committed("p0", 11)
    assert offsets.committable("p0") is None  # nothing new
    assert offsets.done(tokens[11])
    assert offsets.to_commit() == {"p0": 13}


def test_results_from_a_revoked_assignment_are_ignored() -> None:
    offsets = PartitionOffsets()
    offsets.assign("p1")
    stale = offsets.start("p1", 5)
    assert stale is not None
    offsets.revoke("p1")
    assert offsets.start("p1", 6) is None  # not ours: never dispatched
    offsets.assign("p1")  # ours again, new generation: replays start from the committed offset
    fresh = offsets.start("p1", 5)
    assert fresh is not None
    assert not offsets.done(stale)
    assert offsets.pending("p1") == 1
    assert offsets.done(fresh)
    assert offsets.to_commit() == {"p1": 6}


def test_partitions_are_independent() -> None:
    offsets = PartitionOffsets()
    for p in ("a", "b"):
        offsets.assign(p)
    ta, tb = offsets.start("a", 0), offsets.start("b", 0)
    assert ta is not None and tb is not None
    offsets.done(tb)
    assert offsets.to_commit() == {"a": 0, "b": 1}


# -- sd_notify -------------------------------------------------------------------------------------------------
def _receiver(tmp_path: Path, abstract: bool) -> tuple[socket.socket, str]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    if abstract:
        name = f"cinealert-test-{os.getpid()}-{id(sock)}"
        sock.bind("\0" + name)
        address = "@" + name
    else:
        address = str(tmp_path / "notify.sock")
        sock.bind(address)
    sock.settimeout(2)
    return sock, address


@pytest.mark.parametrize("abstract", [False, True], ids=["path", "abstract"])
def test_sd_notify_sends_datagrams(tmp_path: Path, abstract: bool) -> None:
    sock, address = _receiver(tmp_path, abstract)
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "4000000"})
        assert notifier.enabled and notifier.watchdog_interval_s == 2.0
        assert notifier.ready("consuming cap.alerts")
        assert sock.recv(4096) == b"READY=1\nSTATUS=consuming cap.alerts"
        assert notifier.watchdog()
        assert sock.recv(4096) == b"WATCHDOG=1"
        assert notifier.stopping()
        assert sock.recv(4096) == b"STOPPING=1"


def test_sd_notify_never_blocks_on_a_full_queue(tmp_path: Path) -> None:
    """A manager that stops reading must not freeze the daemon: excess messages are dropped."""
    import threading

    sock, address = _receiver(tmp_path, False)
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": address})
        results: list[bool] = []
        sender = threading.Thread(target=lambda: results.extend(notifier.watchdog() for _ in range(5000)))
        sender.start()
        sender.join(20)
        assert not sender.is_alive(), "sd_notify blocked on a full socket queue"
        assert results[0] and not all(results)  # the first got through, the overflow was dropped
        assert sock.recv(64) == b"WATCHDOG=1"


def test_sd_notify_is_a_no_op_outside_systemd() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.ready()
    assert (
        Notifier({"WATCHDOG_USEC": "1000", "WATCHDOG_PID": "1", "NOTIFY_SOCKET": "/x"}).watchdog_interval_s
        is None
    )


async def test_watchdog_loop_pings(tmp_path: Path) -> None:
    import asyncio

    sock, address = _receiver(tmp_path, False)
    sock.setblocking(False)
    with sock:
        notifier = Notifier({"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "100000"})  # ping every 50 ms
        task = asyncio.create_task(notifier.watchdog_loop())
        loop = asyncio.get_running_loop()
        pings = [await asyncio.wait_for(loop.sock_recv(sock, 64), 2) for _ in range(3)]
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert pings == [b"WATCHDOG=1"] * 3


# -- metrics ---------------------------------------------------------------------------------------------------
def test_metrics_are_served_from_the_injected_registry() -> None:
    metrics = Metrics(CollectorRegistry(), channels=("seoul", "us-east"))
    metrics.consumed.inc(3)
    metrics.rejected.labels("security").inc()
    metrics.observe_extra({"cache_hit": True}, "seoul")
    metrics.observe_extra({"cache_hits": 2, "cache_misses": 1}, "seoul")
    metrics.observe_extra({"scene": {"cache_hit": False}}, "us-east")
    metrics.e2e_latency.labels("received").observe(0.3)
    server, port = serve(metrics.registry, "127.0.0.1", 0)
    try:
        body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    finally:
        server.shutdown()
    assert "cinealert_alerts_consumed_total 3.0" in body
    assert 'cinealert_alerts_rejected_total{reason="security"} 1.0' in body
    assert 'cinealert_cache_hits_total{channel="seoul"} 3.0' in body
    assert 'cinealert_cache_misses_total{channel="seoul"} 1.0' in body
    assert 'cinealert_cache_misses_total{channel="us-east"} 1.0' in body
    # every channel's rung and cache series exist before its first alert (a rate() alert sees the first one)
    for channel in ("seoul", "us-east"):
        assert f'cinealert_alerts_rung_total{{channel="{channel}",rung="slate"}} 0.0' in body
        assert f'cinealert_cache_hits_total{{channel="{channel}"}}' in body
    assert 'channel="default"' not in body  # the daemon's channels, not the implicit one
    assert 'cinealert_end_to_end_latency_seconds_count{origin="received"} 1.0' in body
    assert "python_gc_objects_collected_total" not in body  # a fresh registry, not the global one


# -- logging ---------------------------------------------------------------------------------------------------
def test_json_logs_carry_the_bound_alert_key() -> None:
    import logging

    import structlog

    from cinealert.daemon.logging import configure_logging

    out = io.StringIO()
    root = logging.getLogger()
    saved = (root.handlers[:], root.level, logging.getLogger("aiokafka").level)
    configure_logging(LogSettings(format="auto"), stream=out)  # not a TTY -> JSON
    try:
        with structlog.contextvars.bound_contextvars(alert="s,id-1,t"):
            structlog.get_logger("t").info("alert_published", disaster="flood")
        structlog.get_logger("t").debug("hidden")
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
    finally:
        structlog.reset_defaults()
        root.handlers[:], level, kafka_level = saved
        root.setLevel(level)
        logging.getLogger("aiokafka").setLevel(kafka_level)
    assert len(lines) == 1
    assert lines[0]["event"] == "alert_published"
    assert lines[0]["alert"] == "s,id-1,t"
    assert lines[0]["level"] == "info"


# -- systemd unit, deploy files ----------------------------------------------------------------------------------
SYSTEMD_ANALYZE = shutil.which("systemd-analyze")


@pytest.mark.skipif(SYSTEMD_ANALYZE is None, reason="systemd-analyze is not installed")
def test_unit_file_verifies_and_is_hardened(tmp_path: Path) -> None:
    unit = (ROOT / "systemd" / "cinealert.service").read_text()
    assert "Type=notify" in unit and "WatchdogSec=" in unit and "LoadCredential=kafka.sasl_password" in unit
    # verify insists that ExecStart exists: point it at this checkout's entry point for the check.
    entry = Path(sys.executable).with_name("cinealert")
    local = tmp_path / "cinealert.service"
    local.write_text(unit.replace("/opt/cinealert/.venv/bin/cinealert", str(entry)))
    verify = subprocess.run(
        [SYSTEMD_ANALYZE, "verify", str(local)], capture_output=True, text=True, timeout=60
    )
    assert verify.returncode == 0, verify.stderr
    security = subprocess.run(
        [SYSTEMD_ANALYZE, "security", "--offline=true", str(ROOT / "systemd" / "cinealert.service")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    overall = [line for line in security.stdout.splitlines() if "Overall exposure level" in line]
    assert overall, security.stdout + security.stderr
    score = float(overall[0].split(":")[1].split()[0])
    assert score <= 2.5, overall[0]


def test_prometheus_rules_reference_real_metrics() -> None:
    doc = yaml.safe_load((ROOT / "deploy" / "prometheus-rules.yml").read_text())
    rules = [rule for group in doc["groups"] for rule in group["rules"]]
    alerts = {r["alert"] for r in rules if "alert" in r}
    assert {"CinealertNoAlertProcessed", "CinealertHighRejectRate", "CinealertLatencySLO"} <= alerts
    exposed = _exposed_names()
    for rule in rules:
        assert set(rule) <= {"alert", "record", "expr", "for", "labels", "annotations"}
        for name in _metric_names(rule["expr"]):
            assert name in exposed, f"{name} in {rule.get('alert') or rule.get('record')} is not exported"
    promtool = shutil.which("promtool")
    if promtool:
        check = subprocess.run(
            [promtool, "check", "rules", str(ROOT / "deploy" / "prometheus-rules.yml")],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_grafana_dashboard_queries_real_metrics() -> None:
    dash = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    titles = " ".join(p["title"].lower() for p in dash["panels"])
    for topic in ("latency", "throughput", "errors", "cache"):
        assert topic in titles
    exposed = _exposed_names()
    for panel in dash["panels"]:
        for target in panel["targets"]:
            for name in _metric_names(target["expr"]):
                assert name in exposed, f"{name} in panel {panel['title']!r} is not exported"


def test_grafana_dashboard_splits_by_channel(tmp_path: Path) -> None:
    """A $channel variable over the daemon's channels; every query of a per-channel metric honours it; every
    query is valid PromQL (promtool checks them as recording rules, $channel replaced by its "All" value)."""
    dash = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    (variable,) = [v for v in dash["templating"]["list"] if v["name"] == "channel"]
    assert variable["includeAll"] and variable["allValue"] == ".*"
    assert "label_values(cinealert_" in variable["definition"] and ", channel)" in variable["definition"]
    per_channel = _channel_labelled()
    assert {"cinealert_alerts_published", "cinealert_channel_skipped", "cinealert_cache_hits"} <= per_channel
    exprs = [(panel["title"], t["expr"]) for panel in dash["panels"] for t in panel["targets"]]
    filtered = 0
    for title, expr in exprs:
        for name in _metric_names(expr):
            family = name.removesuffix("_total")
            if family in per_channel:
                assert f'{name}{{channel=~"$channel"' in expr, f"{name} in {title!r} ignores $channel"
                filtered += 1
    assert filtered >= 8
    titles = [title.lower() for title, _ in exprs]
    assert any("routing per channel" in t for t in titles)
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.skip("promtool not installed (make setup installs prometheus)")
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:query_{i}", "expr": expr.replace("$channel", ".*")}
        for i, (_title, expr) in enumerate(exprs)
    ]}]}  # fmt: skip
    path = tmp_path / "dashboard-rules.yml"
    path.write_text(yaml.safe_dump(rules))
    check = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert check.returncode == 0, check.stdout + check.stderr


def _channel_labelled() -> set[str]:
    """The metric families that carry a ``channel`` label (prometheus_client keeps the names it was given)."""
    metrics = Metrics(CollectorRegistry())
    return {m._name for m in vars(metrics).values() if "channel" in getattr(m, "_labelnames", ())}


def _exposed_names() -> set[str]:
    metrics = Metrics(CollectorRegistry())
    names: set[str] = set()
    for family in metrics.registry.collect():
        for sample in family.samples:
            names.add(sample.name)
        names.add(family.name)
        if family.type == "counter":
            names.add(family.name + "_total")
        if family.type == "histogram":
            names.update(family.name + s for s in ("_bucket", "_sum", "_count"))
    return names


def _metric_names(expr: str) -> set[str]:
    import re

    return set(re.findall(r"\bcinealert_[a-z_]+\b", expr))


# -- prewarm before READY ----------------------------------------------------------------------------------------
async def test_prewarm_runs_before_ready_and_sigterm_cancels_it(tmp_path: Path) -> None:
    import asyncio
    import threading

    from cinealert.config import parse
    from cinealert.daemon.service import Daemon
    from cinealert.handlers.factory import make_stage, prewarm_hook
    from cinealert.handlers.summary_stage import SummaryStage

    settings = parse({"handlers": {"stage": "summary"}, "broadcast": {"output_dir": str(tmp_path)}})
    stage = make_stage(settings)
    assert isinstance(stage, SummaryStage) and prewarm_hook(stage, settings) is None  # nothing to warm
    media_like = object()  # any non-summary stage: the render cache is warmed through render.service.prewarm
    assert callable(prewarm_hook(media_like, parse({})))  # type: ignore[arg-type]
    assert prewarm_hook(media_like, parse({"render": {"prewarm_before_ready": False}})) is None  # type: ignore[arg-type]

    seen: list[str] = []

    def slow_prewarm(cancel: threading.Event) -> None:
        seen.append("started")
        if cancel.wait(30):  # a render loop checks this between frames
            seen.append("cancelled")

    daemon = Daemon(settings, stage=stage, bootstrap="127.0.0.1:9", prewarm=slow_prewarm)
    stop = asyncio.Event()
    asyncio.get_running_loop().call_later(0.3, stop.set)
    await asyncio.wait_for(daemon._prewarm(stop), 10)
    assert seen == ["started", "cancelled"]


def test_backoff_doubles_and_caps() -> None:
    from itertools import islice

    from cinealert.handlers.retry import Backoff

    assert list(islice(Backoff(0.25, 1.5).delays(), 6)) == [0.25, 0.5, 1.0, 1.5, 1.5, 1.5]
