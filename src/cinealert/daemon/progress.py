"""Progress lines for long waits (``cinealert demo``): a bar, ``done/total``, what just finished, an estimate.

A fresh machine spends minutes prewarming scenes before the first alert is read; without a sign of life the
demo looked hung. ``Progress`` turns each step into one line; on a terminal the line is redrawn in place
(``\\r``), elsewhere (a pipe, CI logs) every step is its own line. The estimate is the mean time per step so
far times the steps left: crude, but it moves the right way and is honest about being an estimate (``~``).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 20


def eta_text(seconds: float) -> str:
    """``~45s``, ``~3m05s``, ``~1h02m``: short enough for one terminal line."""
    s = max(0, round(seconds))
    if s < 60:
        return f"~{s}s"
    if s < 3600:
        return f"~{s // 60}m{s % 60:02d}s"
    return f"~{s // 3600}h{s % 3600 // 60:02d}m"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = width if total <= 0 else min(width, done * width // total)
    return "[" + "#" * filled + "." * (width - filled) + "]"


class Progress:
    """One task's progress (``what``: "scenes built", "alerts finished"), thread-safe, printed as it moves."""

    def __init__(
        self,
        what: str,
        total: int,
        *,
        out: TextIO | None = None,
        clock: Callable[[], float] = time.monotonic,
        tty: bool | None = None,
        from_first: bool = False,
    ) -> None:
        self.what, self.total = what, total
        #: time the estimate from the first step, not from the start: the demo's alerts wait for the prewarm
        #: before any of them is read, and counting that wait made the first estimates ten times too long
        self.from_first = from_first
        self._first: float | None = None
        self.out = out if out is not None else sys.stdout
        self.clock = clock
        self.tty = self.out.isatty() if tty is None else tty
        self.started = clock()
        self.done = 0
        self._lock = threading.Lock()

    def line(self, done: int, label: str = "") -> str:
        """The line for ``done`` steps of ``total``; the estimate once a step has finished."""
        now = self.clock()
        elapsed = now - self.started
        text = f"{bar(done, self.total)} {self.what} {done}/{self.total}"
        if label:
            text += f" ({label})"
        if self.from_first and self._first is not None and 1 < done < self.total:
            text += f", {eta_text((now - self._first) / (done - 1) * (self.total - done))} left"
        elif not self.from_first and 0 < done < self.total:
            text += f", {eta_text(elapsed / done * (self.total - done))} left"
        elif done >= self.total:
            text += f", done in {eta_text(elapsed)[1:]}"
        return text

    def step(self, done: int | None = None, label: str = "") -> None:
        """``done`` steps finished (or one more); print the line."""
        with self._lock:
            self.done = self.done + 1 if done is None else done
            if self._first is None and self.done > 0:
                self._first = self.clock()
            text = self.line(self.done, label)
            if self.tty:
                end = "\n" if self.done >= self.total else ""
                self.out.write("\r\x1b[2K" + text + end)
            else:
                self.out.write(text + "\n")
            self.out.flush()

    def prewarm_callback(self) -> Callable[[int, int, str], None]:
        """The ``progress`` callable ``render.service.prewarm`` takes: ``(done, total, label)``."""

        def report(done: int, total: int, label: str) -> None:
            self.total = total
            self.step(done, label)

        return report
