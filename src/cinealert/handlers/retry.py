"""The one retry policy: exponential backoff, doubled after each failure and capped.

Broker outages (``kafka.reconnect_backoff_initial_s`` .. ``_max_s``) and a full disk
(``handlers.retry_backoff_s`` .. ``DISK_FULL_RETRY_MAX_S``) wait this way; each caller owns what counts as a
failure and how it waits (a stop event, a cancel flag), only the delays are shared.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float
    max_s: float

    def delays(self) -> Iterator[float]:
        """``initial_s``, then twice the previous delay, never above ``max_s`` (an endless iterator)."""
        delay = self.initial_s
        while True:
            yield delay
            delay = min(delay * 2, self.max_s)
