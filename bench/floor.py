"""The floor for burn-in latency: a bare libx264 encode of frames already in memory, nothing else.

Same encoder settings as the atsc1 profile (``make_profile``/``_add_video_stream``: preset, tune, GOP, VBV) and
the same cut as ``encode_ts``: each segment a standalone MPEG-TS with a fresh encoder. No overlay, no audio, no
file writes: the least any burn-in path can take for the same frames. Used by ``bench_broadcast.py`` and
``suite.py``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Sequence

import numpy as np


def encode_segments(
    frames: Sequence[np.ndarray], total_frames: int, resolution: str = "1080p", seg_frames: int = 60
) -> list[float]:
    """Encode ``total_frames`` frames (cycling through ``frames``) in segments of ``seg_frames``.

    Returns the milliseconds from the start at which each segment was complete (the first entry is the
    first-segment floor, the last the whole-clip floor)."""
    import av

    from cinealert.broadcast.encode import _add_video_stream, make_profile

    profile = make_profile("atsc1", resolution)
    done: list[float] = []
    t = time.perf_counter()
    for first in range(0, total_frames, seg_frames):
        buf = io.BytesIO()
        container = av.open(buf, "w", format="mpegts")
        stream = _add_video_stream(container, profile, seg_frames)
        for i in range(first, min(total_frames, first + seg_frames)):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="rgb24")
            frame.pts = i
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
        done.append((time.perf_counter() - t) * 1000)
    return done


def floor_first_segment(frames: Sequence[np.ndarray]) -> float:
    """Milliseconds to encode ``frames`` (one segment's worth) as one 1080p atsc1 segment."""
    return encode_segments(frames, len(frames), "1080p", len(frames))[0]
