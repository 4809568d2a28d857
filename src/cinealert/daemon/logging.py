"""structlog set-up: JSON lines for journald/collectors, a console renderer for people at a terminal.

``merge_contextvars`` runs first, so whatever a handler binds with ``structlog.contextvars.bind_contextvars``
(the alert key, the Kafka partition/offset) appears on every event of that alert, including events logged by
library code it calls. Each asyncio task copies the context when it is created, so two alerts processed
concurrently never see each other's keys.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from cinealert.config.sections import LogSettings

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(settings: LogSettings, stream: TextIO | None = None) -> None:
    out = stream if stream is not None else sys.stderr
    fmt = settings.format
    if fmt == "auto":
        fmt = "console" if out.isatty() else "json"
    level = _LEVELS[settings.level]
    processors: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]
    if fmt == "json":
        processors += [structlog.processors.dict_tracebacks, structlog.processors.JSONRenderer()]
    else:
        processors += [structlog.dev.ConsoleRenderer(colors=out.isatty())]
    structlog.configure(
        processors=processors,
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    # Library loggers (aiokafka) go through the standard library: one line each, to the same stream.
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.WARNING) if level < logging.WARNING else level)
    # aiokafka logs every failed reconnect at ERROR; the daemon reports broker state itself.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL if level > logging.DEBUG else logging.DEBUG)
