"""One render's timings, and what it has settled so far that later steps and ``result.json`` need."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from typing import Any


class SpeechLog:
    """What of the alert's text was spoken and why the rest was not (written from the synthesis threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.spoken = 0
        self.unspoken = 0
        self.reasons: list[str] = []

    def said(self) -> None:
        with self._lock:
            self.spoken += 1

    def note(self, reason: str, *, unspoken: int = 0) -> None:
        with self._lock:
            self.unspoken += unspoken
            if reason not in self.reasons:
                self.reasons.append(reason)

    @property
    def degraded(self) -> bool:
        return bool(self.reasons)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)


class Clock:
    """Milliseconds per step (``result.json``'s ``timings_ms``), summed over rungs, plus the rung's state."""

    def __init__(self, started: float) -> None:
        self.started = started
        self.ms: dict[str, float] = {}
        self.first_segment: float | None = None
        self.captions: dict[str, dict[str, str]] | None = None  # sidecar captions, once written
        self.speech = SpeechLog()
        self.shown: list[dict[str, Any]] = []  # the text on screen per page (overlay or slate)

    def add(self, name: str, seconds: float) -> None:
        self.ms[name] = self.ms.get(name, 0.0) + seconds * 1000.0

    def segment_out(self) -> None:
        if self.first_segment is None:
            self.first_segment = (time.perf_counter() - self.started) * 1000.0

    @contextlib.contextmanager
    def timed(self, name: str) -> Iterator[None]:
        t = time.perf_counter()
        yield  # not counted when the step fails: a failed rung's partial work is in the next step's time
        self.add(name, time.perf_counter() - t)

    @contextlib.contextmanager
    def encoding(self) -> Iterator[None]:
        """Encode time = wall time of an encode loop minus the compose and publish work done inside it."""
        t = time.perf_counter()
        compose_before, publish_before = self.ms.get("compose", 0.0), self.ms.get("publish", 0.0)
        yield
        wall = (time.perf_counter() - t) * 1000.0
        inner = (self.ms.get("compose", 0.0) - compose_before) + (
            self.ms.get("publish", 0.0) - publish_before
        )
        self.ms["encode"] = self.ms.get("encode", 0.0) + max(0.0, wall - inner)

    def finish(self) -> None:
        """The totals ``result.json`` always carries, taken when the rung's outputs are all written."""
        self.ms["total"] = (time.perf_counter() - self.started) * 1000.0
        self.ms["first_segment"] = self.first_segment or self.ms["total"]
        for name in ("encode", "compose", "publish"):
            self.ms.setdefault(name, 0.0)
