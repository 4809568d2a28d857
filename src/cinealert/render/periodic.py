"""Everything that repeats once per loop besides the camera: earthquake shake, particle-sheet wraps, sway gusts.

Each is periodic in the loop length (or zero at both ends of it), so frame ``N`` equals frame ``0`` and the clip
seams. Plain floats, no torch: the preparation (canvas margins) and both compositors read the same numbers.
"""

from __future__ import annotations

import math

#: earthquake shake bursts: (start as a fraction of the loop, decay time as a fraction, relative strength)
SHAKE_BURSTS = ((0.06, 0.07, 1.0), (0.52, 0.06, 0.7))
SWAY_CYCLES = 3  # gusts per loop


def shake_offset(t: int, n: int, strength: float) -> tuple[float, float]:
    """Decaying bursts of shaking, zero at the loop seam (both ends), px."""
    if strength <= 0:
        return (0.0, 0.0)
    u = t / n
    dx = dy = 0.0
    for start, decay, rel in SHAKE_BURSTS:
        if u < start:
            continue
        env = rel * math.exp(-(u - start) / decay) * math.sin(math.pi * min(1.0, (u - start) / 0.01) / 2)
        ph = (u - start) * n
        dx += env * (math.sin(ph * 2.1) + 0.5 * math.sin(ph * 3.7 + 1.0))
        dy += env * (math.sin(ph * 2.9 + 0.5) + 0.4 * math.sin(ph * 5.3))
    seam = math.sin(math.pi * u) ** 0.25  # forces 0 at u = 0 and u = 1
    return (strength * dx * seam / 1.5, strength * dy * seam / 1.5)


def wraps_per_loop(velocity: tuple[float, float], n: int, width: int, height: int) -> tuple[int, int]:
    """Nearest whole number of wraps per loop (at least one along the main axis), so a sheet loops exactly."""
    vx, vy = velocity
    kx, ky = round(vx * n / width), round(vy * n / height)
    if kx == 0 and ky == 0 and (vx or vy):
        if abs(vy) * width >= abs(vx) * height:
            ky = 1 if vy > 0 else -1
        else:
            kx = 1 if vx > 0 else -1
    return kx, ky


def gust(t: int, n: int) -> float:
    """Wind strength at frame ``t``: SWAY_CYCLES gusts per loop, periodic in it."""
    g = math.sin(2 * math.pi * SWAY_CYCLES * t / n)
    return g * (0.6 + 0.4 * math.sin(2 * math.pi * t / n + 0.7))
