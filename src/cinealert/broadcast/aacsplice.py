"""AAC encoded in parallel pieces spliced on digital silence, and raw ADTS AAC (the AEA audio file)."""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import threading
from collections.abc import Iterable
from concurrent.futures import Executor
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from cinealert.broadcast.codec import AUDIO_RATE, EncodeCancelledError, EncodeError, Samples, encode_audio

if TYPE_CHECKING:
    pass

# --- spliced (parallel) AAC encoding --------------------------------------------------------------------------

#: An AAC packet with timestamp ``p`` carries the MDCT window over input samples ``[p, p + 2 * frame)``; the
#: decoder's output for ``[p, p + frame)`` overlap-adds it with the previous packet. Where the input is
#: digitally silent over ``[cut - 2 * frame, cut + frame)`` the packets on both sides of ``cut - frame`` code
#: silence, so packets of two encoders (one fed up to ``cut``, the other from ``cut``) splice there without a
#: seam. A margin of one more frame on each side covers the encoder's transient look-ahead.
_FRAME = 1024  # AAC-LC samples per packet
_SPLICE_BEFORE = 3
_SPLICE_AFTER = 2


def silent_cuts(samples: Samples, frame: int = 1024) -> npt.NDArray[np.int64]:
    """Frame-aligned positions where an AAC encode can be split (see ``_SPLICE_BEFORE``), ascending."""
    n = len(samples)
    nonzero = np.flatnonzero(samples)
    grid = np.arange(frame, n - frame, frame, dtype=np.int64)
    if grid.size == 0:
        return grid
    if nonzero.size == 0:
        return grid[(grid >= _SPLICE_BEFORE * frame) & (grid + _SPLICE_AFTER * frame <= n)]
    # First non-zero sample at or after each grid point's window start; the window is silent if it is past.
    lo = grid - _SPLICE_BEFORE * frame
    hi = grid + _SPLICE_AFTER * frame
    nxt = np.searchsorted(nonzero, lo)
    silent = (
        (lo >= 0) & (hi <= n) & ((nxt >= nonzero.size) | (nonzero[np.minimum(nxt, nonzero.size - 1)] >= hi))
    )
    out: npt.NDArray[np.int64] = grid[silent]
    return out


@dataclass(frozen=True, slots=True)
class _RawPacket:
    data: bytes
    pts: int
    duration: int


def _raw_encode(
    samples: Samples, codec: str, kbps: int, offset: int, first: int, stop: int | None
) -> list[_RawPacket]:
    """Encode ``samples`` (which start at ``offset`` in the programme) and keep the packets whose programme
    timestamp lies in ``[first, stop)``."""
    out: list[_RawPacket] = []
    for packet in encode_audio(samples, codec, kbps):
        pts = int(packet.pts) + offset
        if pts >= first and (stop is None or pts < stop):
            out.append(_RawPacket(bytes(packet), pts, int(packet.duration or 0)))
    return out


@functools.lru_cache(maxsize=8)
def _prefix_packets(key: bytes, prefix: bytes, codec: str, kbps: int, cut: int) -> tuple[_RawPacket, ...]:
    del key  # part of the cache key only
    samples = np.frombuffer(prefix, np.float32)[:cut]
    return tuple(_raw_encode(samples, codec, kbps, 0, -(1 << 62), cut - _FRAME))


def _packets(raw: Iterable[_RawPacket]) -> list[Any]:
    import av

    packets: list[Any] = []
    for item in raw:
        packet = av.Packet(item.data)
        packet.pts = packet.dts = item.pts
        packet.duration = item.duration
        packet.time_base = Fraction(1, AUDIO_RATE)
        packets.append(packet)
    return packets


def encode_audio_spliced(
    samples: Samples,
    codec: str,
    kbps: int = 96,
    *,
    prefix: Samples | None = None,
    parts: int = 2,
    pool: Executor | None = None,
) -> list[Any]:
    """``encode_audio`` split at silent frame boundaries into ``parts`` encodes run on ``pool`` at once.

    ``prefix`` is a fixed opening (the attention tone) that ``samples`` starts with: its packets up to a cut
    inside its own trailing silence are encoded once and reused. Without silent cuts this is one encode.
    Only AAC is spliced (its packets are independent apart from the window overlap); other codecs fall back.
    """
    samples = np.ascontiguousarray(samples, np.float32)
    if codec != "aac" or len(samples) < _FRAME * 8:
        return encode_audio(samples, codec, kbps)
    start = 0
    raw: list[_RawPacket] = []
    if prefix is not None and len(prefix) < len(samples) and np.array_equal(samples[: len(prefix)], prefix):
        inside = silent_cuts(np.ascontiguousarray(prefix, np.float32))
        if inside.size:
            start = int(inside[-1])
            data = np.ascontiguousarray(prefix, np.float32).tobytes()
            digest = hashlib.blake2b(data, digest_size=16).digest()
            raw += _prefix_packets(digest, data, codec, kbps, start)
    cuts = silent_cuts(samples)
    cuts = cuts[cuts > start]
    bounds = [start]
    remaining = len(samples) - start
    for k in range(1, max(1, parts)):
        if cuts.size == 0:
            break
        want = start + remaining * k // parts
        best = int(cuts[np.argmin(np.abs(cuts - want))])
        if best > bounds[-1]:
            bounds.append(best)
    bounds.append(len(samples))
    jobs = []
    for i, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        first = lo - _FRAME if lo > 0 else -(1 << 62)
        stop = None if i == len(bounds) - 2 else hi - _FRAME
        jobs.append((samples[lo:hi], lo, first, stop))
    if pool is None or len(jobs) == 1:
        results = [_raw_encode(chunk, codec, kbps, lo, first, stop) for chunk, lo, first, stop in jobs]
    else:
        futures = [
            pool.submit(_raw_encode, chunk, codec, kbps, lo, first, stop) for chunk, lo, first, stop in jobs
        ]
        results = [f.result() for f in futures]
    for part in results:
        raw += part
    return _packets(raw)


def _check(cancel: threading.Event | None) -> None:
    if cancel is not None and cancel.is_set():
        raise EncodeCancelledError("encode cancelled")


def adts_audio(samples: Samples, kbps: int = 96, packets: list[Any] | None = None) -> bytes:
    """The spoken alert as one ADTS AAC file (the AEAT's ``AEAtextAudio`` medium)."""
    import av

    buf = io.BytesIO()
    try:
        container = av.open(buf, "w", format="adts")
        stream = container.add_stream("aac", rate=AUDIO_RATE)
        stream.layout = "mono"
        stream.bit_rate = kbps * 1000
        for packet in packets if packets is not None else encode_audio(samples, "aac", kbps):
            packet.stream = stream
            container.mux(packet)
        container.close()
    except av.FFmpegError as exc:
        raise EncodeError(f"spoken alert file: {exc}") from exc
    return buf.getvalue()
