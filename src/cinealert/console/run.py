"""The daemon with its console: ``cinealert run`` uses this when ``console.enabled`` (and ``cinealert demo
--console``). The console starts after the daemon is built and stops after it, on the daemon's event loop."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import structlog
from aiohttp import web

from cinealert.config import Settings
from cinealert.console.auth import Auth, ConsoleError, load_tokens
from cinealert.console.board import Board
from cinealert.console.web import default_hls_js, make_app
from cinealert.handlers.approval import Approvals
from cinealert.handlers.operator import Operator

if TYPE_CHECKING:
    from cinealert.daemon.metrics import Metrics
    from cinealert.daemon.service import Daemon
    from cinealert.daemon.systemd import Notifier
    from cinealert.handlers.stage import Stage

log = structlog.get_logger("cinealert.console")


class Console:
    """Board, approvals and the web server of one daemon. ``ConsoleAuthError`` without an operator token."""

    def __init__(self, settings: Settings) -> None:
        c = settings.console
        self.settings = c
        self.tokens = load_tokens(c)
        self.board = Board({ch.name: ch.broadcast.output_dir for ch in settings.channel_list()}, c.recent)
        self.approvals: Approvals | None = None
        if c.manual_channels:
            self.approvals = Approvals(c.manual_channels, c.auto_approve_s, c.bypass_severities)
            self.approvals.listeners.append(self.board.approval)
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self, daemon: Daemon) -> str:
        """Serve the console for ``daemon`` (built with ``watch=self.board, approvals=self.approvals``)."""
        c = self.settings
        self.board.bind(asyncio.get_running_loop())
        await asyncio.to_thread(self.board.restore)
        app = make_app(
            self.board, Auth(self.tokens, c.allowed_origins), Operator(daemon.processor, self.approvals),
            self.approvals, hls_js=c.hls_js or default_hls_js(), manual=c.manual_channels,
        )  # fmt: skip
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=2.0)
        await self.runner.setup()
        site = web.TCPSite(self.runner, c.host, c.port)
        try:
            await site.start()
        except OSError as exc:
            await self.stop()
            raise ConsoleError(f"console cannot listen on {c.host}:{c.port}: {exc.strerror}") from exc
        port = self.runner.addresses[0][1]
        host = f"[{c.host}]" if ":" in c.host else c.host
        self.url = f"http://{host}:{port}/"
        log.info("console_listening", url=self.url, manual_channels=list(c.manual_channels))
        return self.url

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


async def serve_with_console(
    settings: Settings,
    *,
    stage: Stage,
    bootstrap: str,
    metrics: Metrics,
    notifier: Notifier,
    prewarm: Callable[[threading.Event], object] | None = None,
) -> int:
    """``daemon.service.serve_forever`` with the console: run until SIGTERM/SIGINT."""
    from cinealert.daemon.service import Daemon, stop_on_signals

    console = Console(settings)
    daemon = Daemon(settings, stage=stage, bootstrap=bootstrap, metrics=metrics, notifier=notifier,
                    prewarm=prewarm, watch=console.board, approvals=console.approvals)  # fmt: skip
    with stop_on_signals() as stop:
        try:
            await console.start(daemon)
            return await daemon.run(stop)
        finally:
            await console.stop()
