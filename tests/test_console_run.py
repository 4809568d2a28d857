"""``cinealert run`` with ``[console] enabled``: a real subprocess on the embedded broker serves the console (the
token from ``$CREDENTIALS_DIRECTORY/console.token``), lists a produced alert, and stops cleanly on SIGTERM;
without a token it refuses to start (exit 2) instead of serving an open console."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Producer

from cinealert.daemon.broker import EmbeddedBroker, free_port
from conftest import cap_xml

pytestmark = pytest.mark.slow
TOKEN = "run-test-token-0123456789"


def _config(tmp_path: Path, bootstrap: str, prefix: str, port: int) -> Path:
    config = tmp_path / "cinealert.toml"
    config.write_text(f"""
[kafka]
bootstrap = "{bootstrap}"
alerts_topic = "{prefix}.alerts"
media_topic = "{prefix}.media"
dead_letter_topic = "{prefix}.dead"
group_id = "{prefix}-group"

[handlers]
stage = "summary"
dedup_state_dir = "{tmp_path / "state"}"

[broadcast]
output_dir = "{tmp_path / "out"}"

[metrics]
enabled = false

[console]
enabled = true
port = {port}

[log]
format = "json"
""")
    return config


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CINEALERT_", "CREDENTIALS_", "NOTIFY_"))}
    env.update(extra)
    return env


def _get(url: str, token: str | None) -> tuple[int, Any]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, None


def test_run_without_a_token_refuses_to_start(tmp_path: Path) -> None:
    config = _config(tmp_path, "127.0.0.1:9", "none", free_port())
    proc = subprocess.run([sys.executable, "-m", "cinealert.cli", "run", "--config", str(config)],
                          capture_output=True, text=True, timeout=60, env=_env())  # fmt: skip
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert "console_failed" in proc.stdout + proc.stderr and "console.token" in proc.stdout + proc.stderr


def test_run_serves_the_console(broker: EmbeddedBroker, tmp_path: Path) -> None:
    prefix = f"run-console-{os.getpid()}"
    for suffix in ("alerts", "media", "dead"):
        broker.create_topic(f"{prefix}.{suffix}", 2)
    port = free_port()
    config = _config(tmp_path, broker.bootstrap, prefix, port)
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "console.token").write_text(f"night-shift:{TOKEN}\n")
    log = (tmp_path / "run.log").open("wb")
    command = [sys.executable, "-m", "cinealert.cli", "run", "--config", str(config)]
    proc = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=_env(CREDENTIALS_DIRECTORY=str(creds))
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                status, _ = _get(f"{base}/api/alerts", None)
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() < deadline and proc.poll() is None, (tmp_path / "run.log").read_text()
                time.sleep(0.2)
        assert status == 401  # up, and closed to strangers
        producer = Producer({"bootstrap.servers": broker.bootstrap})
        producer.produce(f"{prefix}.alerts", cap_xml("RUN-CONSOLE-1", headline="Levee breach downstream"))
        producer.flush(10)
        while True:
            status, doc = _get(f"{base}/api/alerts", TOKEN)
            assert status == 200
            states = {a["key"]["identifier"]: a["state"] for a in doc["alerts"] if a.get("key")}
            if states.get("RUN-CONSOLE-1") == "published":
                break
            assert time.monotonic() < deadline, doc
            time.sleep(0.2)
        session = _get(f"{base}/api/session", TOKEN)[1]
        assert session["operator"] == "night-shift" and session["channels"] == ["default"]
    finally:
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(60)
        log.close()
    assert code == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert "console_listening" in (tmp_path / "run.log").read_text()


def test_demo_shows_its_alerts_in_the_console(tmp_path: Path) -> None:
    """``cinealert demo --console`` (summary stage): the console's URL and token are printed, the API lists every
    sample the daemon finished, and the console stays up after the table until SIGINT (exit 0)."""
    samples = Path(__file__).resolve().parents[1] / "samples"
    command = [sys.executable, "-m", "cinealert.cli", "demo", "--console", "--stage", "summary",
               "--output-dir", str(tmp_path / "out"), "--samples", str(samples), "--timeout", "120"]  # fmt: skip
    out_path = tmp_path / "demo.out"
    with out_path.open("wb") as out:
        proc = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=_env())
    try:
        deadline = time.monotonic() + 180
        while "the console stays up" not in out_path.read_text():
            assert time.monotonic() < deadline and proc.poll() is None, out_path.read_text()[-3000:]
            time.sleep(0.2)
        text = out_path.read_text()
        token = text.split("sign in with the token ", 1)[1].split()[0]
        url = text.split("console http", 1)[1].split()[0]
        status, doc = _get(f"http{url}api/alerts", token)
        sent = int(text.split("sent ", 1)[1].split()[0])
        assert status == 200 and len(doc["alerts"]) == sent, doc
        states = {a["state"] for a in doc["alerts"]}
        assert {"published", "skipped", "rejected", "superseded", "withdrawn"} <= states, states
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(60)
    assert code == 0, out_path.read_text()[-3000:]
