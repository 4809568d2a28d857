"""A rendered cinemagraph loop: the hand-off from ``render`` to overlay and encoding.

Frames are produced lazily (from memory, or decoded from the scene cache) so a 2160p loop never has to sit in
memory twice. Every frame is an ``(height, width, 3)`` ``uint8`` RGB, C-contiguous numpy array.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
import numpy.typing as npt

Frame = npt.NDArray[np.uint8]
NTSC_FPS = Fraction(30000, 1001)
#: The named picture sizes (``render.resolution``, ``make_profile``): width, height. Defined here, the one module
#: every layer that handles frames already imports.
RESOLUTIONS: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}


@dataclass(frozen=True, slots=True)
class Loop:
    width: int
    height: int
    fps: Fraction
    num_frames: int
    source: Callable[[], Iterator[Frame]]

    @property
    def duration_s(self) -> float:
        return float(self.num_frames / self.fps)

    def frames(self) -> Iterator[Frame]:
        return self.source()

    @classmethod
    def from_arrays(cls, frames: Sequence[Frame], fps: Fraction = NTSC_FPS) -> Loop:
        if not frames:
            raise ValueError("a loop needs at least one frame")
        height, width = frames[0].shape[:2]
        return cls(width, height, fps, len(frames), lambda: iter(frames))
