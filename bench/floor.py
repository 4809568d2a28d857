"""The floor for burn-in latency: a bare encode of frames already in memory, nothing else.

Same encoder and settings as the atsc1 profile (``make_profile``/``video_options``: MPEG-2 by default, GOP,
VBV) and the same cut as ``encode_ts``: one encoder for the clip, each segment a standalone MPEG-TS muxed as
soon as its pictures are coded (MPEG-2 hands a picture out one frame late, so a segment waits for the next
one's first frame, as in ``encode_ts``). No overlay, no audio, no file writes: the least any burn-in path can
take for the same frames. Used by ``bench_broadcast.py`` and ``suite.py``.
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

    from cinealert.broadcast.encode import _ClipVideo, make_profile

    profile = make_profile("atsc1", resolution)
    done: list[float] = []
    t = time.perf_counter()
    video = _ClipVideo(profile, seg_frames)
    coded: list[av.Packet] = []
    index = 0
    for first in range(0, total_frames, seg_frames):
        last = min(total_frames, first + seg_frames)
        while sum(1 for p in coded if p.pts < last) < last - first:
            if index < total_frames:
                coded += video.encode(frames[index % len(frames)], index)
                index += 1
            else:
                coded += video.flush()
        pictures = [p for p in coded if p.pts < last]
        coded = [p for p in coded if p.pts >= last]
        buf = io.BytesIO()
        container = av.open(buf, "w", format="mpegts")
        stream = container.add_mux_stream(
            profile.video_codec, rate=profile.fps, width=profile.width, height=profile.height
        )
        stream.time_base = 1 / profile.fps
        for packet in pictures:
            packet.stream = stream
            container.mux(packet)
        container.close()
        done.append((time.perf_counter() - t) * 1000)
    return done


def floor_first_segment(frames: Sequence[np.ndarray]) -> float:
    """Milliseconds to encode ``frames`` (one segment's worth) as one 1080p atsc1 segment."""
    return encode_segments(frames, len(frames), "1080p", len(frames))[0]
