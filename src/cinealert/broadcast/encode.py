"""Encode and segment with PyAV (FFmpeg's libraries in-process; no ffmpeg subprocess in the product).

* ``ts`` (ATSC 1.0, HLS): every segment is a standalone MPEG-TS starting with a keyframe (IDR / closed-GOP I
  picture) and its own PAT/PMT. One video encoder runs for the whole clip (GOP = segment, no scene cut), so its
  rate buffer (VBV/HRD) holds across segments and no segment gets a refilled buffer's burst; each segment is cut
  from its output at the keyframe and muxed and handed to the publisher the moment its last picture is coded.
  Audio is encoded once for the whole clip and its packets are distributed to the segments by timestamp, so
  AAC/AC-3 priming happens once and timestamps are continuous. ``broadcast.mpegts.TsRewriter`` then makes the
  continuity counters run on across segments and adds the ATSC PMT signalling (``atsc1``).
* ``fmp4`` (ATSC 3.0 DASH): one continuous encoder per representation writes fragmented MP4 into memory; the
  byte stream is cut at top-level boxes into the init segment (``ftyp`` + ``moov``) and media segments
  (``moof`` + ``mdat``), one per GOP (video; keyint = frames per segment, no scene cut) or per segment
  duration (audio). Cached media segments can be re-timed by patching ``tfdt``/``mfhd`` in place, which is how
  rich-media output reuses a scene's video without re-encoding.
"""

from __future__ import annotations

import functools
import hashlib
import io
import itertools
import math
import struct
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import numpy.typing as npt

from cinealert.render.loop import NTSC_FPS, Frame

if TYPE_CHECKING:
    from cinealert.broadcast.cea708 import Captions

RESOLUTIONS: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}
AUDIO_RATE = 48_000
TS_OFFSET = "1.4"
Samples = npt.NDArray[np.float32]

#: Called with (file name, bytes, duration seconds) for each finished segment, in order.
Emit = Callable[[str, bytes, float], None]


class EncodeError(RuntimeError):
    """The encoder or muxer failed; the message names the profile and the stage."""


class EncodeCancelledError(Exception):
    """Stopped between frames because the cancel event was set."""


@dataclass(frozen=True, slots=True)
class Profile:
    name: Literal["atsc1", "atsc3", "hls"]
    container: Literal["ts", "fmp4"]
    video_codec: str
    audio_codec: str
    width: int
    height: int
    fps: Fraction = NTSC_FPS
    preset: str = "veryfast"
    video_kbps: int = 6000
    audio_kbps: int = 96  # mono speech and a two-tone signal: AC-3/AAC-LC at 96 kbit/s is transparent enough

    @property
    def hevc(self) -> bool:
        return self.video_codec == "libx265"


Atsc1Video = Literal["mpeg2", "h264"]

#: ATSC A/53 Part 4 caps the MPEG-2 VBV buffer at 488 x 16384 bits.
MPEG2_MAX_VBV_BITS = 488 * 16384


def mpeg2_kbps(width: int, height: int) -> int:
    """Peak video rate for MPEG-2 MP@HL in a 19.39 Mbit/s ATSC 1.0 channel: 12 Mbit/s at 1080 lines (room for
    the AC-3 audio, PSI and a second service), 8 at 720; smaller (test) pictures in proportion to their area."""
    if height >= 1080:
        return 12_000
    if height >= 720:
        return 8_000
    return max(800, round(8_000 * width * height / (1280 * 720)))


def make_profile(
    name: Literal["atsc1", "atsc3", "hls"],
    resolution: str = "1080p",
    *,
    size: tuple[int, int] | None = None,
    x264_preset: str = "veryfast",
    x265_preset: str = "ultrafast",
    atsc1_video: Atsc1Video = "mpeg2",
) -> Profile:
    """The delivery profile; ``size`` overrides the picture size (tests use small frames).

    ``atsc1_video``: MPEG-2 is ATSC 1.0's main service video (A/53 Part 4), which every ATSC 1.0 receiver
    decodes; H.264 (A/72) only where the station's path carries it."""
    if resolution not in RESOLUTIONS:
        raise ValueError(f"unknown resolution {resolution!r}; expected one of {sorted(RESOLUTIONS)}")
    width, height = size or RESOLUTIONS[resolution]
    if name == "atsc1" and height > 1080 and size is None:
        width, height = RESOLUTIONS["1080p"]  # ATSC 1.0 (A/53) tops out at 1080 lines
    kbps = max(500, round(6000 * width * height / (1920 * 1080)))
    if name == "atsc1":
        if atsc1_video == "mpeg2":
            kbps = mpeg2_kbps(width, height)
            return Profile(name, "ts", "mpeg2video", "ac3", width, height, video_kbps=kbps)
        if atsc1_video != "h264":
            raise ValueError(f"unknown ATSC 1.0 video codec {atsc1_video!r}; expected mpeg2 or h264")
        return Profile(name, "ts", "libx264", "ac3", width, height, preset=x264_preset, video_kbps=kbps)
    if name == "hls":
        return Profile(name, "ts", "libx264", "aac", width, height, preset=x264_preset, video_kbps=kbps)
    if name == "atsc3":
        return Profile(name, "fmp4", "libx265", "aac", width, height, preset=x265_preset, video_kbps=kbps)
    raise ValueError(f"unknown profile {name!r}")


def frames_per_segment(segment_s: float, fps: Fraction = NTSC_FPS) -> int:
    return max(1, round(segment_s * fps))


#: BT.709 colour description (HD), as ``_video_frame`` converts: without it a receiver guesses (often BT.601)
#: and shifts every hue. Limited ("tv") range.
_X264_BT709 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=tv"
_X265_BT709 = "colorprim=bt709:transfer=bt709:colormatrix=bt709:range=limited"


def video_options(profile: Profile, gop: int) -> dict[str, str]:
    """Encoder options (FFmpeg AVOptions, also valid as ``ffmpeg -KEY:v VALUE``): GOP = segment, no scene cut,
    a VBV/HRD rate buffer bounding the peak rate, BT.709 colour description."""
    if profile.video_codec == "mpeg2video":
        # Main profile @ High level (4/4; numbers, not names, so FFmpeg 5's CLI takes them too), closed GOP =
        # segment, no B pictures (nothing to reorder across a cut; a sequence header with every I picture is
        # FFmpeg's default), VBR up to the peak rate in an A/53-sized VBV buffer. The non-linear quantiser scale
        # (MP@HL allows it) gives the rate control coarser steps for pictures the peak rate cannot otherwise hold.
        rate = profile.video_kbps * 1000
        return {
            "b": str(rate * 3 // 4), "maxrate": str(rate), "bufsize": str(min(rate // 2, MPEG2_MAX_VBV_BITS)),
            "g": str(gop), "bf": "0", "flags": "+cgop", "sc_threshold": "1000000000", "profile": "4", "level": "4",
            "non_linear_quant": "1", "qmax": "28",  # FFmpeg's non-linear scale stops at 28
            "color_primaries": "bt709", "color_trc": "bt709", "colorspace": "bt709", "color_range": "tv",
        }  # fmt: skip
    vbv = f"vbv-maxrate={profile.video_kbps}:vbv-bufsize={profile.video_kbps}"
    if profile.hevc:
        params = (
            f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:open-gop=0:{vbv}:crf=26:{_X265_BT709}"
            ":log-level=error"
        )
        return {"preset": profile.preset, "tune": "zerolatency", "x265-params": params}
    params = (
        f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:open-gop=0:{vbv}:nal-hrd=vbr:crf=23"
        f":repeat-headers=1:forced-idr=1:{_X264_BT709}"
    )
    return {"preset": profile.preset, "tune": "zerolatency", "x264-params": params}


def _add_video_stream(container: Any, profile: Profile, gop: int) -> Any:
    stream = container.add_stream(profile.video_codec, rate=profile.fps)
    stream.width, stream.height, stream.pix_fmt = profile.width, profile.height, "yuv420p"
    stream.time_base = 1 / profile.fps
    stream.codec_context.time_base = 1 / profile.fps
    stream.codec_context.options = video_options(profile, gop)
    if profile.hevc:
        stream.codec_tag = "hvc1"
    return stream


def _add_audio_stream(container: Any, profile: Profile) -> Any:
    stream = container.add_stream(profile.audio_codec, rate=AUDIO_RATE)
    stream.layout = "mono"
    stream.bit_rate = profile.audio_kbps * 1000
    return stream


def _video_frame(arr: Frame, pts: int, profile: Profile, key: bool = False) -> Any:
    """The picture in 4:2:0 converted with the BT.709 matrix to limited range: what the colour description in
    ``video_options`` says (PyAV's implicit conversion would use BT.601). ``key`` forces an I picture."""
    import av

    if arr.shape != (profile.height, profile.width, 3):
        raise EncodeError(
            f"{profile.name}: frame {arr.shape} does not match {profile.height}x{profile.width}x3"
        )
    rgb = av.VideoFrame.from_ndarray(arr, format="rgb24")
    frame = rgb.reformat(format="yuv420p", dst_colorspace="ITU709", dst_color_range="MPEG")
    frame.pts = pts
    frame.time_base = 1 / profile.fps
    if key:
        frame.pict_type = av.video.frame.PictureType.I
    return frame


def dialnorm_for(loudness_lkfs: float) -> int:
    """AC-3 ``dialnorm`` for a programme normalised to ``loudness_lkfs``: the receiver attenuates by
    31 + dialnorm dB, so it must say the programme's real loudness (A/85); the field holds -31..-1."""
    return max(-31, min(-1, round(loudness_lkfs)))


class AudioEncoder:
    """One continuous audio encoder fed in pieces: priming happens once, packets carry the true timeline."""

    def __init__(self, codec: str, kbps: int = 96, dialnorm: int | None = None) -> None:
        """``dialnorm`` (AC-3/E-AC-3 only; ``dialnorm_for``): FFmpeg's default, -31, would label the programme
        7 dB quieter than a -24 LKFS mix is, and receivers would play it that much too loud."""
        import av

        ctx: Any = av.CodecContext.create(codec, "w")
        ctx.sample_rate, ctx.layout, ctx.format = AUDIO_RATE, "mono", "fltp"
        ctx.bit_rate = kbps * 1000
        ctx.time_base = Fraction(1, AUDIO_RATE)
        if codec == "aac":
            # Speech, not music: the fast coder without PNS/TNS is ~2x quicker and indistinguishable here.
            ctx.options = {"aac_coder": "fast", "aac_pns": "0", "aac_tns": "0"}
        elif codec in ("ac3", "eac3") and dialnorm is not None:
            ctx.options = {"dialnorm": str(dialnorm_for(dialnorm))}
        ctx.open()
        self._ctx = ctx
        self._size: int = ctx.frame_size or 1024
        self._pending = np.zeros(0, np.float32)
        self._pts = 0

    def _encode(self, chunk: Samples) -> list[Any]:
        import av

        frame = av.AudioFrame.from_ndarray(chunk[None, :], format="fltp", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = AUDIO_RATE, self._pts, Fraction(1, AUDIO_RATE)
        self._pts += len(chunk)
        return list(self._ctx.encode(frame))

    def feed(self, samples: Samples) -> list[Any]:
        data = np.concatenate([self._pending, np.asarray(samples, np.float32)])
        packets: list[Any] = []
        whole = len(data) // self._size * self._size
        for start in range(0, whole, self._size):
            packets += self._encode(np.ascontiguousarray(data[start : start + self._size]))
        self._pending = data[whole:]
        return packets

    def finish(self) -> list[Any]:
        packets: list[Any] = []
        if len(self._pending):
            chunk = np.concatenate([self._pending, np.zeros(self._size - len(self._pending), np.float32)])
            packets += self._encode(chunk)
            self._pending = np.zeros(0, np.float32)
        packets += list(self._ctx.encode(None))
        return packets


def encode_audio(samples: Samples, codec: str, kbps: int = 96) -> list[Any]:
    """The whole clip's audio packets (time base 1/48000), priming included exactly once."""
    encoder = AudioEncoder(codec, kbps)
    return encoder.feed(samples) + encoder.finish()


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


# --- MPEG-TS --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SegmentInfo:
    name: str
    start_s: float
    duration_s: float
    size: int


class _ClipVideo:
    """The one video encoder of a clip. Segment starts are forced I pictures (IDR for H.264) on top of the fixed
    GOP, so a segment always opens with a keyframe even if an encoder counted differently."""

    def __init__(self, profile: Profile, gop: int) -> None:
        import av

        if profile.width % 2 or profile.height % 2:
            # x264 refuses these; FFmpeg's MPEG-2 encoder would take them and code a picture no receiver expects.
            size = f"{profile.width}x{profile.height}"
            raise EncodeError(f"{profile.name}: {size}: 4:2:0 video needs even dimensions")
        ctx: Any = av.CodecContext.create(profile.video_codec, "w")
        ctx.width, ctx.height, ctx.pix_fmt = profile.width, profile.height, "yuv420p"
        ctx.time_base = 1 / profile.fps
        ctx.framerate = profile.fps
        ctx.sample_aspect_ratio = Fraction(1, 1)
        ctx.options = video_options(profile, gop)
        ctx.open()
        self._ctx = ctx
        self._profile = profile
        self._gop = gop

    def encode(self, arr: Frame, index: int) -> list[Any]:
        frame = _video_frame(arr, index, self._profile, key=index % self._gop == 0)
        return list(self._ctx.encode(frame))

    def flush(self) -> list[Any]:
        return list(self._ctx.encode(None))


def _ts_rewriter(profile: Profile, language: str | None, alternates: Sequence[str | None] = ()) -> Any:
    """The packet rewriter of a clip: continuity for every profile; ATSC signalling (no SDT, AC-3 registration
    and audio descriptors, one per audio PID with its language) for ``atsc1``."""
    from cinealert.broadcast.mpegts import SDT_PID, STREAM_TYPE_AC3, TsRewriter, ac3_descriptors

    if profile.name != "atsc1":
        return TsRewriter()
    extra: dict[int, bytes | Sequence[bytes]] = {}
    if profile.audio_codec == "ac3":
        extra[STREAM_TYPE_AC3] = [
            ac3_descriptors(profile.audio_kbps, 1, lang) for lang in [language, *alternates]
        ]
    return TsRewriter(drop_pids=frozenset({SDT_PID}), es_descriptors=extra)


def encode_ts(
    frames: Iterable[Frame],
    plan: Callable[[], tuple[Samples, int]],
    profile: Profile,
    seg_frames: int,
    emit: Emit,
    cancel: threading.Event | None = None,
    prefix: str = "seg_",
    head: Samples | None = None,
    captions: Captions | None = None,
    *,
    loudness_lkfs: float | None = None,
    language: str | None = None,
    alternate_languages: Sequence[str] = (),
    alternates: Callable[[], Sequence[Samples]] | None = None,
) -> list[SegmentInfo]:
    """Standalone TS segments of ``seg_frames`` frames each, each emitted as soon as it is complete.

    ``plan()`` returns ``(audio samples, total frames)`` (a whole number of segments). ``head`` is the start of
    that audio when it is known early (the attention tone): segments it covers are muxed and published
    without waiting for ``plan()``, so speech synthesis runs while the first segments encode. The full audio
    must begin with ``head`` and be longer than it.

    ``captions`` puts A/53 closed captions (CEA-608 in ``cc_data``, ``broadcast.cea708``) into every picture:
    cues on the programme clock, or a callable returning them, called right after ``plan()`` (the cues come
    from the speech); segments already emitted by then (the lead-in) carry null caption data.

    ``loudness_lkfs``: the target the audio was normalised to, stated as AC-3 ``dialnorm``. ``language``: the
    audio's language (a CAP/BCP 47 tag), signalled in the PMT (ISO 639 descriptor; for ``atsc1`` also in the
    ATSC AC-3 audio descriptor).

    ``alternate_languages``/``alternates``: further audio tracks, one PID each after the main one, in that
    order, each with its language signalled the same way; ``alternates()`` (called right after ``plan()``)
    returns their samples, each beginning with ``head`` and as long as the main audio.
    """
    import av

    from cinealert.broadcast.cea708 import CaptionInserter
    from cinealert.broadcast.mpegts import iso639_2

    cc = None if captions is None else CaptionInserter(profile.video_codec, profile.fps)
    if cc is not None and captions is not None and not callable(captions):
        cc.load(captions)
    lang = None if language is None else iso639_2(language)
    alt_langs = [iso639_2(a) for a in alternate_languages] if alternates is not None else []
    rewriter = _ts_rewriter(profile, lang, alt_langs)

    frame_iter: Iterator[Frame] = iter(frames)
    out: list[SegmentInfo] = []
    video = _ClipVideo(profile, seg_frames)
    coded: list[Any] = []  # pictures coded but not yet muxed
    fed = 0
    dialnorm = None if loudness_lkfs is None else dialnorm_for(loudness_lkfs)
    encoder = AudioEncoder(profile.audio_codec, profile.audio_kbps, dialnorm)
    head_len = 0 if head is None else len(head)
    apackets: list[Any] = encoder.feed(head) if head is not None else []
    alt_encoders = [AudioEncoder(profile.audio_codec, profile.audio_kbps, dialnorm) for _ in alt_langs]
    alt_packets: list[list[Any]] = [e.feed(head) if head is not None else [] for e in alt_encoders]
    alt_pos = [0 for _ in alt_langs]
    planned = False
    num_frames = 0
    nseg = 1
    apos = 0
    k = 0

    def feed() -> None:
        nonlocal fed
        _check(cancel)
        try:
            arr = next(frame_iter)
        except StopIteration:
            raise EncodeError(f"{profile.name}: frame source ended at frame {fed}") from None
        try:
            coded.extend(video.encode(arr, fed))
        except av.FFmpegError as exc:
            raise EncodeError(f"{profile.name}: video frame {fed}: {exc}") from exc
        fed += 1

    while not planned or k < nseg:
        first = k * seg_frames
        last = first + seg_frames if not planned else min(num_frames, first + seg_frames)
        while fed < last:
            feed()
        t_end = Fraction(last) / profile.fps
        covered = bool(apackets) and Fraction(apackets[-1].pts + apackets[-1].duration, AUDIO_RATE) >= t_end
        if not planned and not covered:
            samples, num_frames = plan()
            planned = True
            if num_frames < last or len(samples) <= head_len:
                raise EncodeError(f"{profile.name}: audio plan shorter than what is already encoded")
            if head is not None and not np.array_equal(samples[:head_len], head):
                raise EncodeError(f"{profile.name}: the audio does not start with the announced lead-in")
            apackets += encoder.feed(samples[head_len:]) + encoder.finish()
            if alternates is not None:
                alt_samples = list(alternates())
                if len(alt_samples) != len(alt_langs):
                    raise EncodeError(
                        f"{profile.name}: {len(alt_samples)} alternate tracks for {len(alt_langs)}"
                    )
                for enc, packets, track in zip(alt_encoders, alt_packets, alt_samples, strict=True):
                    if len(track) != len(samples) or (
                        head is not None and not np.array_equal(track[:head_len], head)
                    ):
                        raise EncodeError(
                            f"{profile.name}: an alternate audio track does not match the main one"
                        )
                    packets += enc.feed(track[head_len:]) + enc.finish()
            nseg = math.ceil(num_frames / seg_frames)
            if cc is not None and callable(captions):
                cc.load(captions(), first_frame=first)
        is_last = planned and k == nseg - 1
        if is_last:
            coded += video.flush()
        # An encoder with a reorder delay (MPEG-2) hands a segment's last picture out with the next one's first.
        while sum(1 for p in coded if p.pts < last) < last - first:
            if is_last:
                raise EncodeError(f"{profile.name}: the video encoder lost pictures of segment {k}")
            feed()
        pictures = [p for p in coded if p.pts < last]
        coded = [p for p in coded if p.pts >= last]
        buf = io.BytesIO()
        try:
            # A constant offset (FFmpeg's customary 1.4 s mux delay) keeps the audio priming packet's negative
            # timestamp positive, so no segment gets shifted on its own and timestamps stay continuous.
            container = av.open(buf, "w", format="mpegts", options={"output_ts_offset": TS_OFFSET})
            vstream = container.add_mux_stream(
                profile.video_codec, rate=profile.fps, width=profile.width, height=profile.height
            )
            vstream.time_base = 1 / profile.fps
            astream = _add_audio_stream(container, profile)
            if lang is not None:
                astream.metadata["language"] = lang  # FFmpeg writes the ISO 639 language descriptor
            alt_streams = []
            for alt_lang in alt_langs:
                stream = _add_audio_stream(container, profile)
                stream.metadata["language"] = alt_lang
                alt_streams.append(stream)
            for packet in pictures:
                packet.stream = vstream
                container.mux(cc.rewrite(packet) if cc is not None else packet)
            # Audio packets starting before this segment's end (the last segment takes the rest).
            while apos < len(apackets) and (is_last or Fraction(apackets[apos].pts, AUDIO_RATE) < t_end):
                packet = apackets[apos]
                packet.stream = astream
                container.mux(packet)
                apos += 1
            for i, (stream, packets) in enumerate(zip(alt_streams, alt_packets, strict=True)):
                while alt_pos[i] < len(packets) and (
                    is_last or Fraction(packets[alt_pos[i]].pts, AUDIO_RATE) < t_end
                ):
                    packet = packets[alt_pos[i]]
                    packet.stream = stream
                    container.mux(packet)
                    alt_pos[i] += 1
            container.close()
        except av.FFmpegError as exc:
            raise EncodeError(f"{profile.name}: segment {k}: {exc}") from exc
        name = f"{prefix}{k:05d}.ts"
        data = rewriter.segment(buf.getvalue())
        duration = float((last - first) / profile.fps)
        emit(name, data, duration)
        out.append(SegmentInfo(name, float(first / profile.fps), duration, len(data)))
        k += 1
    return out


def encode_audio_ts(
    samples: Samples,
    profile: Profile,
    segments: Sequence[SegmentInfo],
    prefix: str,
    *,
    language: str | None = None,
) -> list[tuple[SegmentInfo, bytes]]:
    """An audio-only TS rendition (HLS ``EXT-X-MEDIA:TYPE=AUDIO``) cut at the video's segment boundaries, on
    the same clock as ``encode_ts`` (same offset, packets split at the same ends), continuity across segments.
    """
    import av

    from cinealert.broadcast.mpegts import TsRewriter, iso639_2

    encoder = AudioEncoder(profile.audio_codec, profile.audio_kbps)
    packets = encoder.feed(samples) + encoder.finish()
    rewriter = TsRewriter()
    out: list[tuple[SegmentInfo, bytes]] = []
    pos = 0
    for k, seg in enumerate(segments):
        is_last = k == len(segments) - 1
        t_end = Fraction(round((seg.start_s + seg.duration_s) * AUDIO_RATE), AUDIO_RATE)
        buf = io.BytesIO()
        try:
            container = av.open(buf, "w", format="mpegts", options={"output_ts_offset": TS_OFFSET})
            stream = _add_audio_stream(container, profile)
            if language is not None:
                stream.metadata["language"] = iso639_2(language)
            while pos < len(packets) and (is_last or Fraction(packets[pos].pts, AUDIO_RATE) < t_end):
                packet = packets[pos]
                packet.stream = stream
                container.mux(packet)
                pos += 1
            container.close()
        except av.FFmpegError as exc:
            raise EncodeError(f"{profile.name}: audio segment {k}: {exc}") from exc
        data = rewriter.segment(buf.getvalue())
        name = f"{prefix}{k:05d}.ts"
        out.append((SegmentInfo(name, seg.start_s, seg.duration_s, len(data)), data))
    return out


def m3u8_media(segments: Iterable[SegmentInfo], target_s: float) -> str:
    segs = list(segments)
    target = math.ceil(max([target_s, *(s.duration_s for s in segs)]))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for seg in segs:
        lines += [f"#EXTINF:{seg.duration_s:.3f},", seg.name]
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def ts_bandwidth(segments: Iterable[SegmentInfo]) -> tuple[int, int]:
    """``(peak, average)`` bit/s of the segments as published (TS overhead included): HLS ``BANDWIDTH`` must be
    at least every segment's own rate (bytes * 8 / duration), ``AVERAGE-BANDWIDTH`` the whole clip's."""
    segs = list(segments)
    if not segs:
        raise ValueError("no segments to measure")
    peak = max(math.ceil(s.size * 8 / s.duration_s) for s in segs)
    average = math.ceil(sum(s.size for s in segs) * 8 / sum(s.duration_s for s in segs))
    return peak, average


def m3u8_master(
    media: str,
    profile: Profile,
    subtitles: dict[str, str] | None = None,
    *,
    segments: Iterable[SegmentInfo],
    closed_captions: bool = False,
    audio: Sequence[tuple[str, str | None]] = (),
) -> str:
    """The master playlist of one rendition; its bandwidth figures are measured from ``segments``.

    ``closed_captions``: the video carries CEA-608 CC1 (``INSTREAM-ID="CC1"``); otherwise ``NONE`` tells the
    player not to look for any."""
    peak, average = ts_bandwidth(segments)
    codecs = "avc1.640028,mp4a.40.2" if profile.audio_codec == "aac" else "avc1.640028,ac-3"
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    sub_attr = ""
    for lang, uri in (subtitles or {}).items():
        lines.append(
            f'#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="{lang}",LANGUAGE="{lang}",'
            f'AUTOSELECT=YES,DEFAULT=NO,URI="{uri}"'
        )
        sub_attr = ',SUBTITLES="subs"'
    audio_attr = ""
    for i, (lang, audio_uri) in enumerate(audio):
        default = "YES" if i == 0 else "NO"
        uri_attr = f',URI="{audio_uri}"' if audio_uri is not None else ""
        lines.append(
            f'#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="{lang}",LANGUAGE="{lang}",'
            f"AUTOSELECT=YES,DEFAULT={default}{uri_attr}"
        )
        audio_attr = ',AUDIO="aud"'
    cc_attr = ',CLOSED-CAPTIONS="cc"' if closed_captions else ",CLOSED-CAPTIONS=NONE"
    if closed_captions:
        lines.append(
            '#EXT-X-MEDIA:TYPE=CLOSED-CAPTIONS,GROUP-ID="cc",NAME="CC1",INSTREAM-ID="CC1",AUTOSELECT=YES,DEFAULT=NO'
        )
    lines.append(
        f"#EXT-X-STREAM-INF:BANDWIDTH={peak},AVERAGE-BANDWIDTH={average},RESOLUTION={profile.width}x{profile.height},"
        f'FRAME-RATE={float(profile.fps):.3f},CODECS="{codecs}"{audio_attr}{sub_attr}{cc_attr}'
    )
    lines.append(media)
    return "\n".join(lines) + "\n"


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


# --- IMSC1 captions in fMP4 (ISO/IEC 14496-30 ``stpp``) ----------------------------------------------------------

_TTML_NS = "http://www.w3.org/ns/ttml"
#: BCP 47 primary subtags to the ISO 639-2/T code ``mdhd`` holds (the full tag goes into ``elng``).
_ISO639_2 = {"en": "eng", "ko": "kor", "es": "spa", "fr": "fra", "ja": "jpn", "zh": "zho", "de": "deu",
             "vi": "vie", "tl": "tgl", "ru": "rus", "ar": "ara", "pt": "por", "it": "ita", "hi": "hin"}  # fmt: skip


def _box(kind: bytes, *parts: bytes) -> bytes:
    body = b"".join(parts)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def _full_box(kind: bytes, version: int, flags: int, *parts: bytes) -> bytes:
    return _box(kind, struct.pack(">I", version << 24 | flags), *parts)


_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)


def _mdhd_language(tag: str) -> int:
    code = _ISO639_2.get(tag.split("-")[0].lower(), "und")
    return sum((ord(ch) - 0x60) << shift for ch, shift in zip(code, (10, 5, 0), strict=True))


def text_init(language: str, timescale_: int) -> bytes:
    """The init segment of an IMSC1 text track: a ``subt`` handler, an ``stpp`` sample entry naming the TTML
    namespace and ``codecs=im1t`` (A/343 captions; DASH-IF ``stpp.ttml.im1t``), the language in ``mdhd``
    (ISO 639-2) and in full in ``elng``."""
    stpp = _box(
        b"stpp",
        bytes(6), struct.pack(">H", 1),  # SampleEntry: reserved, data_reference_index
        _TTML_NS.encode() + b"\0", b"\0", b"\0",  # namespace, schema_location, auxiliary_mime_types
        _full_box(b"mime", 0, 0, b"application/ttml+xml;codecs=im1t" + b"\0"),
    )  # fmt: skip
    stbl = _box(
        b"stbl",
        _full_box(b"stsd", 0, 0, struct.pack(">I", 1), stpp),
        _full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        _full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        _full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = _box(b"dinf", _full_box(b"dref", 0, 0, struct.pack(">I", 1), _full_box(b"url ", 0, 1)))
    minf = _box(b"minf", _full_box(b"sthd", 0, 0), dinf, stbl)
    mdia = _box(
        b"mdia",
        _full_box(b"mdhd", 0, 0, struct.pack(">IIIIHH", 0, 0, timescale_, 0, _mdhd_language(language), 0)),
        _full_box(b"hdlr", 0, 0, struct.pack(">I4s12x", 0, b"subt"), b"cinealert captions\0"),
        _full_box(b"elng", 0, 0, language.encode("ascii", "replace") + b"\0"),
        minf,
    )
    tkhd = _full_box(b"tkhd", 0, 3, struct.pack(">IIIII8xhhh2x", 0, 0, 1, 0, 0, 0, 0, 0), _MATRIX, bytes(8))
    mvhd = _full_box(b"mvhd", 0, 0, struct.pack(">IIIIIH10x", 0, 0, timescale_, 0, 0x10000, 0x100), _MATRIX,
                     bytes(24), struct.pack(">I", 2))  # fmt: skip
    trex = _full_box(b"trex", 0, 0, struct.pack(">5I", 1, 1, 0, 0, 0))
    moov = _box(b"moov", mvhd, _box(b"trak", tkhd, mdia), _box(b"mvex", trex))
    return _box(b"ftyp", b"iso6", struct.pack(">I", 0), b"iso6dash") + moov


def text_segment(document: bytes, decode_time: int, duration: int, sequence: int) -> bytes:
    """One media segment holding one TTML document as its one sample (a sync sample, per ``trex``)."""

    def moof(data_offset: int) -> bytes:
        traf = _box(
            b"traf",
            _full_box(b"tfhd", 0, 0x020000, struct.pack(">I", 1)),  # default-base-is-moof, track 1
            _full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time)),
            _full_box(b"trun", 0, 0x000301, struct.pack(">IiII", 1, data_offset, duration, len(document))),
        )
        return _box(b"moof", _full_box(b"mfhd", 0, 0, struct.pack(">I", sequence)), traf)

    size = len(moof(0))
    return moof(size + 8) + _box(b"mdat", document)


def text_track(
    documents: Iterable[tuple[int, int, bytes]], language: str, timescale_: int
) -> FragmentedTrack:
    """An IMSC1 text track from ``(start, duration, TTML document)`` in ``timescale_`` units (the video's,
    so its segments share the video's boundaries exactly), one segment each. Times inside each document are
    on the track's timeline (ISO/IEC 14496-30 §5.3), not relative to the sample."""
    track = FragmentedTrack(init=text_init(language, timescale_), timescale=timescale_)
    for k, (start, duration, document) in enumerate(documents):
        track.add(text_segment(document, start, duration, k + 1))
    return track


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
