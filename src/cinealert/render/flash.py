"""Photosensitive-seizure check of a clip: general flashes and red flashes (WCAG 2.x SC 2.3.1, ITU-R BT.1702).

General flash: a pair of opposing changes in relative luminance of at least 10 % of the maximum, where the
darker state is below 0.80, over a combined area of at least 341x256 px at 1024x768 (one 10° visual field,
~11.1 % of the screen; we count the whole screen, which is stricter than any single field). Red flash: a pair of
opposing changes in saturated red (``R/(R+G+B) >= 0.8``) of at least 20 in ``(R-G-B) x 320`` units. A clip passes
when no one-second window holds more than three of either.

Per pixel, a *transition* is a monotonic run of luminance that meets the threshold; a frame holds a screen-level
transition when transitions of one direction end there (±1 frame) over the area threshold. Two opposing
screen-level transitions make one flash. Frames are block-averaged to ~160 px high first (fast, and it is the
area, not single pixels, that matters).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

AREA_FRACTION = (341 * 256) / (1024 * 768)
LUMA_DELTA = 0.10
DARK_LIMIT = 0.80
RED_DELTA = 20.0
MAX_PER_SECOND = 3.0
WORK_HEIGHT = 160


@dataclass(frozen=True, slots=True)
class FlashReport:
    passed: bool
    max_flashes_per_s: float
    max_red_flashes_per_s: float
    #: frames where a screen-level general / red transition ends
    flash_frames: tuple[int, ...]
    red_frames: tuple[int, ...]
    #: first frame of the worst one-second window
    worst_window_start: int
    num_frames: int

    def summary(self) -> str:
        verdict = "PASS" if self.passed else "FAIL"
        return (
            f"{verdict}: max {self.max_flashes_per_s:.1f} general and {self.max_red_flashes_per_s:.1f} red "
            f"flashes/s (limit {MAX_PER_SECOND:g}) over {self.num_frames} frames"
        )


def _linear(srgb: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return np.where(srgb <= 0.04045, srgb / 12.92, ((srgb + 0.055) / 1.055) ** 2.4).astype(np.float32)


def _reduce(frame: npt.NDArray[np.uint8]) -> npt.NDArray[np.float32]:
    h, w = frame.shape[:2]
    k = max(1, h // WORK_HEIGHT)
    hh, ww = (h // k) * k, (w // k) * k
    f = frame[:hh, :ww, :3].astype(np.float32) / 255.0
    if k == 1:
        return f
    reduced: npt.NDArray[np.float32] = (
        f.reshape(hh // k, k, ww // k, k, 3).mean(axis=(1, 3)).astype(np.float32)
    )
    return reduced


class _Runs:
    """Per-pixel monotonic runs of one signal; reports where a qualifying transition just ended."""

    def __init__(self, first: npt.NDArray[np.float32], delta: float, dark: float | None, eps: float) -> None:
        self.start = first.copy()
        self.prev = first.copy()
        self.dir = np.zeros(first.shape, dtype=np.int8)
        self.delta, self.dark, self.eps = delta, dark, eps

    def step(self, value: npt.NDArray[np.float32]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        d = value - self.prev
        sign = np.where(d > self.eps, 1, np.where(d < -self.eps, -1, 0)).astype(np.int8)
        reverse = (sign != 0) & (self.dir != 0) & (sign != self.dir)
        ended_up, ended_down = self._qualifies(reverse)
        # a reversing pixel starts a new run from the previous value
        self.start = np.where(reverse | (self.dir == 0), self.prev, self.start)
        self.dir = np.where(sign != 0, sign, self.dir)
        self.prev = value
        return ended_up, ended_down

    def _qualifies(self, at: npt.NDArray[np.bool_]) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        change = self.prev - self.start
        ok = at & (np.abs(change) >= self.delta)
        if self.dark is not None:
            ok &= np.minimum(self.prev, self.start) < self.dark
        return ok & (change > 0), ok & (change < 0)

    def finish(self) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
        return self._qualifies(self.dir != 0)


def _events(ups: list[float], downs: list[float]) -> list[tuple[int, int]]:
    """Screen-level transitions (frame, direction), one per direction run of consecutive frames."""
    events: list[tuple[int, int]] = []
    n = len(ups)
    for direction, areas in ((1, ups), (-1, downs)):
        # ±1 frame tolerance: pixels of one flash may end their runs a frame apart
        smoothed = [sum(areas[max(0, i - 1) : min(n, i + 2)]) for i in range(n)]
        i = 0
        while i < n:
            if smoothed[i] >= AREA_FRACTION:
                j = i
                while j + 1 < n and smoothed[j + 1] >= AREA_FRACTION:
                    j += 1
                best = max(range(i, j + 1), key=lambda k: areas[k])
                events.append((best, direction))
                i = j + 1
            else:
                i += 1
    events.sort()
    return events


def _rate(events: list[tuple[int, int]], window: int) -> tuple[float, int]:
    """Most flashes (pairs of opposing transitions) in any ``window`` frames, and where that window starts."""
    best, start = 0.0, 0
    frames = [f for f, _ in events]
    for i, f0 in enumerate(frames):
        inside = [d for f, d in events[i:] if f < f0 + window]
        opposing = sum(1 for a, b in itertools.pairwise(inside) if a != b)
        flashes = (opposing + 1) / 2 if opposing else 0.0
        if flashes > best:
            best, start = flashes, f0
    return best, start


def check_flashes(frames: Iterable[npt.NDArray[np.uint8]], fps: Fraction | float) -> FlashReport:
    """Scan ``frames`` (HxWx3 uint8 RGB) once; memory stays at a few reduced frames."""
    luma_runs: _Runs | None = None
    red_runs: _Runs | None = None
    ups: list[float] = []
    downs: list[float] = []
    red_ups: list[float] = []
    red_downs: list[float] = []
    n = 0
    for frame in frames:
        f = _reduce(frame)
        lin = _linear(f)
        luma = (0.2126 * lin[..., 0] + 0.7152 * lin[..., 1] + 0.0722 * lin[..., 2]).astype(np.float32)
        total = f.sum(axis=-1)
        saturated = f[..., 0] >= 0.8 * np.maximum(total, 1e-6)
        red = np.where(saturated, np.maximum(f[..., 0] - f[..., 1] - f[..., 2], 0.0) * 320.0, 0.0).astype(
            np.float32
        )
        if luma_runs is None or red_runs is None:
            luma_runs = _Runs(luma, LUMA_DELTA, DARK_LIMIT, 0.002)
            red_runs = _Runs(red, RED_DELTA, None, 0.5)
            for lst in (ups, downs, red_ups, red_downs):
                lst.append(0.0)
        else:
            up, down = luma_runs.step(luma)
            ups.append(float(up.mean()))
            downs.append(float(down.mean()))
            rup, rdown = red_runs.step(red)
            red_ups.append(float(rup.mean()))
            red_downs.append(float(rdown.mean()))
        n += 1
    if luma_runs is None or red_runs is None:
        return FlashReport(True, 0.0, 0.0, (), (), 0, 0)
    up, down = luma_runs.finish()
    ups[-1] += float(up.mean())
    downs[-1] += float(down.mean())
    rup, rdown = red_runs.finish()
    red_ups[-1] += float(rup.mean())
    red_downs[-1] += float(rdown.mean())
    window = max(1, round(float(fps)))
    general = _events(ups, downs)
    reds = _events(red_ups, red_downs)
    g_rate, g_start = _rate(general, window)
    r_rate, r_start = _rate(reds, window)
    return FlashReport(
        passed=g_rate <= MAX_PER_SECOND and r_rate <= MAX_PER_SECOND,
        max_flashes_per_s=g_rate,
        max_red_flashes_per_s=r_rate,
        flash_frames=tuple(f for f, _ in general),
        red_frames=tuple(f for f, _ in reds),
        worst_window_start=g_start if g_rate >= r_rate else r_start,
        num_frames=n,
    )
