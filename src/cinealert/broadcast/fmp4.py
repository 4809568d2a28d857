"""Fragmented MP4 (CMAF) tracks for DASH: box reading, retiming, @codecs strings, video and audio tracks."""

from __future__ import annotations

import math
import struct
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cinealert.broadcast.aacsplice import _check
from cinealert.broadcast.codec import (
    AUDIO_RATE,
    EncodeError,
    Profile,
    Samples,
    _add_audio_stream,
    _add_video_stream,
    _video_frame,
    encode_audio,
)
from cinealert.render.loop import Frame

if TYPE_CHECKING:
    pass

# --- fragmented MP4 -------------------------------------------------------------------------------------------


def iter_boxes(
    data: bytes | bytearray | memoryview, start: int = 0, end: int | None = None
) -> Iterator[tuple[bytes, int, int, int]]:
    """``(type, box start, payload start, box end)`` of the complete boxes in ``data[start:end]``."""
    end = len(data) if end is None else end
    pos = start
    while pos + 8 <= end:
        size, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if size == 1:
            if pos + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif size == 0:
            size = end - pos
        if size < header or pos + size > end:
            return
        yield bytes(kind), pos, pos + header, pos + size
        pos += size


def _find(
    data: bytes | bytearray, path: tuple[bytes, ...], start: int = 0, end: int | None = None
) -> int | None:
    """Payload offset of the first box at ``path`` (e.g. ``(b'moof', b'traf', b'tfdt')``)."""
    found = _find_box(data, path, start, end)
    return None if found is None else found[0]


def _find_box(
    data: bytes | bytearray, path: tuple[bytes, ...], start: int = 0, end: int | None = None
) -> tuple[int, int] | None:
    """``(payload start, box end)`` of the first box at ``path``."""
    for kind, _b, payload, box_end in iter_boxes(data, start, end):
        if kind == path[0]:
            return (payload, box_end) if len(path) == 1 else _find_box(data, path[1:], payload, box_end)
    return None


def timescale(init: bytes) -> int:
    off = _find(init, (b"moov", b"trak", b"mdia", b"mdhd"))
    if off is None:
        raise EncodeError("init segment has no mdhd")
    version = init[off]
    return int(struct.unpack_from(">I", init, off + (20 if version == 1 else 12))[0])


def tfdt(segment: bytes) -> int:
    off = _find(segment, (b"moof", b"traf", b"tfdt"))
    if off is None:
        raise EncodeError("media segment has no tfdt")
    if segment[off] == 1:
        return int(struct.unpack_from(">Q", segment, off + 4)[0])
    return int(struct.unpack_from(">I", segment, off + 4)[0])


def default_sample_duration(init: bytes) -> int:
    """The init's ``trex`` default, which a fragment's samples take when neither trun nor tfhd gives one."""
    off = _find(init, (b"moov", b"mvex", b"trex"))
    return 0 if off is None else int(struct.unpack_from(">I", init, off + 12)[0])


def fragment_duration(segment: bytes, default: int = 0) -> int:
    """The sum of a media segment's sample durations (ISO/IEC 14496-12 §8.8.7-8.8.8: per sample from
    ``trun``, else ``tfhd``'s default, else ``default`` from the init's ``trex``).

    This, not the nominal segment length, is what the MPD's ``S@d`` must say: a player schedules the next
    segment at ``t + d``, and an audio track ends on an AAC frame, not on a video frame."""
    traf = _find_box(segment, (b"moof", b"traf"))
    if traf is None:
        raise EncodeError("media segment has no traf")
    total = 0
    for kind, _b, off, _e in iter_boxes(segment, *traf):
        if kind == b"tfhd":
            (flags,) = struct.unpack_from(">I", segment, off)
            pos = off + 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
            if flags & 0x08:
                (default,) = struct.unpack_from(">I", segment, pos)
        elif kind == b"trun":
            flags, count = struct.unpack_from(">II", segment, off)
            if not flags & 0x100:
                total += count * default
                continue
            pos = off + 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
            step = 4 * sum(1 for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit)
            total += sum(struct.unpack_from(">I", segment, pos + i * step)[0] for i in range(count))
    return total


def retime(segment: bytes, base_decode_time: int, sequence: int) -> bytes:
    """A copy of a media segment with a new ``tfdt`` and ``mfhd`` sequence number (no re-encode)."""
    out = bytearray(segment)
    off = _find(out, (b"moof", b"traf", b"tfdt"))
    seq = _find(out, (b"moof", b"mfhd"))
    if off is None or seq is None:
        raise EncodeError("media segment has no tfdt/mfhd to re-time")
    if out[off] == 1:
        struct.pack_into(">Q", out, off + 4, base_decode_time)
    else:
        if base_decode_time >= 1 << 32:
            raise EncodeError("decode time overflows a version-0 tfdt")
        struct.pack_into(">I", out, off + 4, base_decode_time)
    struct.pack_into(">I", out, seq + 4, sequence)
    return bytes(out)


def _hevc_codecs(entry: str, rec: bytes) -> str:
    """ISO/IEC 14496-15 Annex E.3 from the ``hvcC`` record (which carries the SPS's profile_tier_level)."""
    space = ("", "A", "B", "C")[rec[1] >> 6]
    tier = "H" if rec[1] & 0x20 else "L"
    (compat,) = struct.unpack_from(">I", rec, 2)
    reversed_compat = int(f"{compat:032b}"[::-1], 2)
    constraints = list(rec[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [entry, f"{space}{rec[1] & 0x1F}", f"{reversed_compat:X}", f"{tier}{rec[12]}"]
    return ".".join(parts + [f"{c:X}" for c in constraints])


def _es_descriptors(data: bytes) -> dict[int, bytes]:
    """ISO/IEC 14496-1 descriptors by tag, the ES and DecoderConfig descriptors' children included."""
    found: dict[int, bytes] = {}
    pos = 0
    while pos < len(data):
        tag, size, pos = data[pos], 0, pos + 1
        while pos < len(data):
            byte, pos = data[pos], pos + 1
            size = size << 7 | (byte & 0x7F)
            if not byte & 0x80:
                break
        body = data[pos : pos + size]
        found.setdefault(tag, body)
        fixed = {3: 3, 4: 13}.get(tag)  # ES_ID + flags (no optional fields from FFmpeg); the config's fields
        if fixed is not None:
            for child, value in _es_descriptors(body[fixed:]).items():
                found.setdefault(child, value)
        pos += size
    return found


def codecs_string(init: bytes) -> str:
    """The RFC 6381 ``codecs`` value of an init segment's one track, read from what the muxer wrote
    (``hvcC``/``avcC``/``esds``): an MPD that guesses the level from the picture height says L93 for a
    320x180 stream that x265 coded as level 2 (L60), and a player that trusts it may refuse the stream."""
    stsd = _find_box(init, (b"moov", b"trak", b"mdia", b"minf", b"stbl", b"stsd"))
    if stsd is None:
        raise EncodeError("init segment has no stsd")
    for kind, _b, payload, end in iter_boxes(init, stsd[0] + 8, stsd[1]):
        entry = kind.decode("ascii", "replace")
        if kind in (b"hvc1", b"hev1"):
            record = _find_box(init, (b"hvcC",), payload + 78, end)
            if record is not None:
                return _hevc_codecs(entry, bytes(init[record[0] : record[1]]))
        elif kind in (b"avc1", b"avc3"):
            record = _find_box(init, (b"avcC",), payload + 78, end)
            if record is not None:
                return f"{entry}.{bytes(init[record[0] + 1 : record[0] + 4]).hex().upper()}"
        elif kind == b"mp4a":
            esds = _find_box(init, (b"esds",), payload + 28, end)
            if esds is not None:
                desc = _es_descriptors(bytes(init[esds[0] + 4 : esds[1]]))
                if 4 in desc and 5 in desc:
                    return f"mp4a.{desc[4][0]:02x}.{desc[5][0] >> 3}"
        elif kind == b"stpp":
            pos = payload + 8  # after reserved + data_reference_index: namespace, schema, mime types
            for _ in range(3):
                pos = init.index(b"\0", pos, end) + 1
            mime = _find_box(init, (b"mime",), pos, end)
            im1t = mime is not None and b"codecs=im1t" in bytes(init[mime[0] : mime[1]])
            return "stpp.ttml.im1t" if im1t else "stpp"
        raise EncodeError(f"cannot derive a codecs string from sample entry {entry!r}")
    raise EncodeError("init segment has no sample entry")


class _FragmentSplitter:
    """A write-only file object for the mp4 muxer that hands out the init and each complete fragment."""

    def __init__(self, on_init: Callable[[bytes], None], on_fragment: Callable[[bytes], None]) -> None:
        self._buf = bytearray()
        self._on_init = on_init
        self._on_fragment = on_fragment
        self._init_done = False
        self._frag_start = 0

    def write(self, data: bytes) -> int:
        self._buf += data
        self._drain()
        return len(data)

    def flush(self) -> None:
        return None

    def _drain(self) -> None:
        consumed = 0
        for kind, start, _payload, end in iter_boxes(self._buf):
            if not self._init_done:
                if kind == b"moov":
                    self._on_init(bytes(self._buf[:end]))
                    self._init_done = True
                    consumed = end
                continue
            if kind == b"mdat":
                self._on_fragment(bytes(self._buf[consumed:end]))
                consumed = end
            elif kind == b"mfra":
                consumed = end
            del start
        if consumed:
            del self._buf[:consumed]


@dataclass(slots=True)
class FragmentedTrack:
    """What a fragmented encode produced: init segment, media segments, their decode times and durations.

    ``durations`` are read back from each segment's ``trun`` (what a player will schedule by), and
    ``offset`` is the media time at which the presentation starts (the AAC encoder's priming, which the
    MPD states as ``presentationTimeOffset``)."""

    init: bytes = b""
    timescale: int = 0
    segments: list[bytes] = field(default_factory=list)
    starts: list[int] = field(default_factory=list)
    durations: list[int] = field(default_factory=list)
    offset: int = 0

    @property
    def end(self) -> int:
        """Media time where the last sample ends."""
        return self.starts[-1] + self.durations[-1] if self.starts else self.offset

    def add(self, segment: bytes) -> None:
        self.segments.append(segment)
        self.starts.append(tfdt(segment))
        self.durations.append(fragment_duration(segment, default_sample_duration(self.init)))

    def peak_bitrate(self) -> int:
        """The highest per-segment bit rate (whole file bytes over its duration), rounded up: a declared
        ``@bandwidth`` at least this high holds for every segment whatever ``minBufferTime`` a player uses."""
        peak = 0
        for data, duration in zip(self.segments, self.durations, strict=True):
            if duration > 0:
                peak = max(peak, -(-len(data) * 8 * self.timescale // duration))
        return peak

    def codecs(self) -> str:
        return codecs_string(self.init)


def _open_fmp4(splitter: _FragmentSplitter, movflags: str, extra: dict[str, str] | None = None) -> Any:
    import av

    options = {"movflags": movflags, "flush_packets": "1", **(extra or {})}
    return av.open(splitter, "w", format="mp4", options=options)


def _track_splitter(
    track: FragmentedTrack, on_segment: Callable[[int, bytes, bytes], None] | None = None
) -> _FragmentSplitter:
    """A splitter that fills ``track`` (init, segments, their start times and durations) as the muxer writes."""

    def on_init(data: bytes) -> None:
        track.init = data

    def on_fragment(data: bytes) -> None:
        track.add(data)
        if on_segment is not None:
            on_segment(len(track.segments) - 1, track.init, data)

    return _FragmentSplitter(on_init, on_fragment)


def _signal_bt709(stream: Any) -> None:
    """BT.709, limited range, on the codec context: the mp4 muxer writes it as the sample entry's ``colr`` box
    (nclx 1/1/1), which players read before any SPS; FFmpeg's libx265/libx264 wrappers also put it into the
    VUI (as ``video_options`` does). It describes what ``_video_frame`` converts to."""
    ctx = stream.codec_context
    ctx.color_primaries, ctx.color_trc, ctx.colorspace, ctx.color_range = 1, 1, 1, 1  # BT.709, MPEG range


def _bt709(frame: Any) -> Any:
    """The picture as 4:2:0 in BT.709, limited range, whatever ``_video_frame`` handed over: left to the
    encoder, PyAV converts RGB with swscale's default BT.601 matrix, and a stream signalled BT.709 then
    decodes (200, 50, 50) as (212, 62, 47)."""
    if frame.format.name == "yuv420p":
        return frame
    out = frame.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    out.pts, out.time_base = frame.pts, frame.time_base
    return out


def encode_fmp4_video(
    frames: Iterable[Frame],
    num_frames: int,
    profile: Profile,
    seg_frames: int,
    on_segment: Callable[[int, bytes, bytes], None] | None = None,
    cancel: threading.Event | None = None,
) -> FragmentedTrack:
    """One GOP per fragment; ``on_segment(index, init, segment)`` fires as each fragment completes.

    One encoder for the whole clip (its VBV buffer carries over from segment to segment, so no segment
    starts with a refilled buffer), while each fragment is still published the moment its GOP is coded."""
    import av

    track = FragmentedTrack()
    splitter = _track_splitter(track, on_segment)
    try:
        container = _open_fmp4(splitter, "frag_keyframe+empty_moov+default_base_moof+skip_trailer")
        stream = _add_video_stream(container, profile, seg_frames)
        _signal_bt709(stream)
        for index, arr in enumerate(frames):
            if index >= num_frames:
                break
            _check(cancel)
            for packet in stream.encode(_bt709(_video_frame(arr, index, profile))):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
        container.close()
    except av.FFmpegError as exc:
        raise EncodeError(f"{profile.name}: video fMP4: {exc}") from exc
    if not track.init:
        raise EncodeError(f"{profile.name}: the muxer wrote no init segment")
    track.timescale = timescale(track.init)
    return track


def _audio_fragment(profile: Profile, packets: list[Any]) -> tuple[bytes, bytes]:
    """``(init, fragment)`` of one muxer run over ``packets``: one moof + mdat whatever their duration."""
    import av

    got = FragmentedTrack()
    container = _open_fmp4(_track_splitter(got), "empty_moov+default_base_moof+skip_trailer")
    stream = _add_audio_stream(container, profile)
    for item in packets:
        packet = av.Packet(bytes(item))
        packet.pts = packet.dts = int(item.pts)
        packet.duration = int(item.duration)
        packet.time_base = Fraction(1, AUDIO_RATE)
        packet.stream = stream
        container.mux(packet)
    container.close()
    if len(got.segments) != 1:
        raise EncodeError(f"{profile.name}: audio fMP4: {len(got.segments)} fragments where one was muxed")
    return got.init, got.segments[0]


def encode_fmp4_audio(
    samples: Samples, profile: Profile, segment_s: float | Fraction, packets: list[Any] | None = None
) -> FragmentedTrack:
    """Audio fragmented MP4 whose segment k holds the AAC frames that start in ``[k, k + 1) * segment_s``.

    So the audio segments follow the video's boundaries (never more than one frame after them) instead of
    drifting by whole frames, and no segment starts past the end. The encoder's priming frame goes first
    at media time 0 and ``offset`` says where the programme starts (the MPD's ``presentationTimeOffset``);
    the last frame's duration is cut to the programme's end, so the track ends with ``samples``, not with
    the padding of its last AAC frame. Each segment is muxed on its own and re-timed (FFmpeg's muxer cuts
    fragments by duration only, which cannot follow boundaries that fall between frames)."""
    import av

    if packets is None:
        packets = encode_audio(samples, profile.audio_codec, profile.audio_kbps)
    end = len(samples)
    packets = [p for p in packets if int(p.pts) < end]
    if not packets:
        raise EncodeError(f"{profile.name}: audio fMP4: no audio packets")
    priming = max(0, -int(packets[0].pts))
    step = Fraction(segment_s) * AUDIO_RATE
    nseg = max(1, math.ceil(Fraction(end) / step - Fraction(1, 1000)))
    groups: list[list[Any]] = [[] for _ in range(nseg)]
    for packet in packets:
        k = min(nseg - 1, max(0, math.floor(int(packet.pts) / step)))
        groups[k].append(packet)
    track = FragmentedTrack(offset=priming)
    try:
        for k, group in enumerate(groups):
            if not group:
                raise EncodeError(f"{profile.name}: audio segment {k} would be empty (segment < one frame)")
            last = group[-1]
            if k == nseg - 1 and int(last.pts) + int(last.duration) > end:
                trimmed = av.Packet(bytes(last))
                trimmed.pts = trimmed.dts = int(last.pts)
                trimmed.duration = end - int(last.pts)
                group = [*group[:-1], trimmed]
            init, fragment = _audio_fragment(profile, group)
            if not track.init:
                track.init = init
            track.add(retime(fragment, int(group[0].pts) + priming, k + 1))
    except av.FFmpegError as exc:
        raise EncodeError(f"{profile.name}: audio fMP4: {exc}") from exc
    track.timescale = timescale(track.init)
    return track
