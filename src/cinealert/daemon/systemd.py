"""A tiny sd_notify(3) client: ``READY=1``, ``STATUS=``, ``WATCHDOG=1``, ``STOPPING=1`` over ``$NOTIFY_SOCKET``.

No libsystemd binding needed: the protocol is one AF_UNIX datagram per message. A socket path starting with
``@`` names an abstract socket (leading NUL byte). Outside systemd (no ``$NOTIFY_SOCKET``) every call is a
no-op, so the daemon runs the same under a terminal, Docker, or tests.
"""

from __future__ import annotations

import asyncio
import os
import socket
from collections.abc import Mapping

import structlog

log = structlog.get_logger("cinealert.systemd")


class Notifier:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        raw = env.get("NOTIFY_SOCKET", "")
        self.address: str | None = None
        if raw.startswith("@"):
            self.address = "\0" + raw[1:]
        elif raw.startswith("/"):
            self.address = raw
        self.watchdog_interval_s: float | None = None
        self._failing = False
        usec = env.get("WATCHDOG_USEC", "")
        pid = env.get("WATCHDOG_PID", "")
        if usec.isdigit() and int(usec) > 0 and (not pid or pid == str(os.getpid())):
            self.watchdog_interval_s = int(usec) / 1_000_000 / 2

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def notify(self, *fields: str) -> bool:
        """Send ``fields`` (``"READY=1"``, ``"STATUS=..."``) as one datagram; False when not under systemd."""
        if self.address is None:
            return False
        payload = "\n".join(fields).encode("utf-8")
        try:
            # Never block the event loop: a full receive queue (a stalled manager) drops the message instead.
            with socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            ) as sock:
                sock.connect(self.address)
                sock.send(payload)
        except OSError as exc:
            if not self._failing:  # one warning per outage, not one per watchdog ping
                log.warning("sd_notify_failed", error=str(exc), message=fields[0] if fields else "")
            self._failing = True
            return False
        self._failing = False
        return True

    def ready(self, status: str = "") -> bool:
        return self.notify("READY=1", *([f"STATUS={status}"] if status else []))

    def status(self, text: str) -> bool:
        return self.notify(f"STATUS={text}")

    def stopping(self, status: str = "") -> bool:
        return self.notify("STOPPING=1", *([f"STATUS={status}"] if status else []))

    def watchdog(self) -> bool:
        return self.notify("WATCHDOG=1")

    async def watchdog_loop(self) -> None:
        """Ping at half of ``WATCHDOG_USEC`` while the event loop runs; a hung loop stops the pings."""
        if self.watchdog_interval_s is None or not self.enabled:
            return
        while True:
            self.watchdog()
            await asyncio.sleep(self.watchdog_interval_s)
