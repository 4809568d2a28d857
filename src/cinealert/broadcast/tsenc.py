"""MPEG-TS segments from one video encoder per clip (ATSC 1.0 / HLS), their playlists and declared rates."""

from __future__ import annotations

import io
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import numpy as np

from cinealert.broadcast.aacsplice import _check
from cinealert.broadcast.codec import (
    AUDIO_RATE,
    TS_OFFSET,
    AudioEncoder,
    Emit,
    EncodeError,
    Profile,
    Samples,
    _add_audio_stream,
    _video_frame,
    dialnorm_for,
    video_options,
)
from cinealert.render.loop import Frame

if TYPE_CHECKING:
    from cinealert.broadcast.cea708 import CaptionInserter, Captions

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


def _ts_rewriter(
    profile: Profile, language: str | None, alternates: Sequence[str | None] = (), video: bytes = b""
) -> Any:
    """The packet rewriter of a clip: continuity for every profile; ATSC signalling (no SDT, AC-3 registration
    and audio descriptors, one per audio PID with its language; ``video``: the video's descriptors, the
    caption service descriptor) for ``atsc1``."""
    from cinealert.broadcast.mpegts import (
        SDT_PID,
        STREAM_TYPE_AC3,
        VIDEO_STREAM_TYPES,
        TsRewriter,
        ac3_descriptors,
    )

    if profile.name != "atsc1":
        return TsRewriter()
    extra: dict[int, bytes | Sequence[bytes]] = {}
    if profile.audio_codec == "ac3":
        extra[STREAM_TYPE_AC3] = [
            ac3_descriptors(profile.audio_kbps, 1, lang) for lang in [language, *alternates]
        ]
    if video and profile.video_codec in VIDEO_STREAM_TYPES:
        extra[VIDEO_STREAM_TYPES[profile.video_codec]] = video
    return TsRewriter(drop_pids=frozenset({SDT_PID}), es_descriptors=extra)


class _ClipAudio:
    """The audio tracks of a clip (the main one, then the alternates): their packets as encoded so far and how
    many of each are muxed. Packets are muxed by start time into the segment they start in."""

    def __init__(self, profile: Profile, dialnorm: int | None, head: Samples | None, alternates: int) -> None:
        self._profile = profile
        self._head = head
        self.head_len = 0 if head is None else len(head)
        main = AudioEncoder(profile.audio_codec, profile.audio_kbps, dialnorm)
        main_packets: list[Any] = main.feed(head) if head is not None else []
        alts = [AudioEncoder(profile.audio_codec, profile.audio_kbps, dialnorm) for _ in range(alternates)]
        alt_packets: list[list[Any]] = [e.feed(head) if head is not None else [] for e in alts]
        self._encoders = [main, *alts]
        self._packets = [main_packets, *alt_packets]
        self._muxed = [0 for _ in self._packets]

    def covers(self, t_end: Fraction) -> bool:
        """Whether the main track's packets already reach ``t_end`` (the lead-in covers the segment)."""
        packets = self._packets[0]
        return bool(packets) and Fraction(packets[-1].pts + packets[-1].duration, AUDIO_RATE) >= t_end

    def _starts_with_head(self, samples: Samples) -> bool:
        return self._head is None or bool(np.array_equal(samples[: self.head_len], self._head))

    def complete(self, samples: Samples, alternates: Callable[[], Sequence[Samples]] | None) -> None:
        """The rest of every track after the lead-in, then the encoders' tails."""
        name = self._profile.name
        if not self._starts_with_head(samples):
            raise EncodeError(f"{name}: the audio does not start with the announced lead-in")
        self._packets[0] += self._encoders[0].feed(samples[self.head_len :]) + self._encoders[0].finish()
        if alternates is None:
            return
        alt_samples = list(alternates())
        wanted = len(self._encoders) - 1
        if len(alt_samples) != wanted:
            raise EncodeError(f"{name}: {len(alt_samples)} alternate tracks for {wanted}")
        for enc, packets, track in zip(self._encoders[1:], self._packets[1:], alt_samples, strict=True):
            if len(track) != len(samples) or not self._starts_with_head(track):
                raise EncodeError(f"{name}: an alternate audio track does not match the main one")
            packets += enc.feed(track[self.head_len :]) + enc.finish()

    def mux(self, container: Any, streams: Sequence[Any], t_end: Fraction, is_last: bool) -> None:
        """Each track's packets starting before ``t_end`` (the last segment takes the rest) into its stream."""
        for i, (stream, packets) in enumerate(zip(streams, self._packets, strict=True)):
            while self._muxed[i] < len(packets) and (
                is_last or Fraction(packets[self._muxed[i]].pts, AUDIO_RATE) < t_end
            ):
                packet = packets[self._muxed[i]]
                packet.stream = stream
                container.mux(packet)
                self._muxed[i] += 1


class _ClipPictures:
    """The clip's frames through its one video encoder: coded pictures wait here until their segment is muxed."""

    def __init__(
        self, frames: Iterable[Frame], profile: Profile, seg_frames: int, cancel: threading.Event | None
    ):
        self._frames: Iterator[Frame] = iter(frames)
        self._profile = profile
        self._cancel = cancel
        self._video = _ClipVideo(profile, seg_frames)
        self._coded: list[Any] = []  # pictures coded but not yet muxed
        self.fed = 0

    def feed(self) -> None:
        """One more frame into the encoder (a cancel point)."""
        import av

        _check(self._cancel)
        try:
            arr = next(self._frames)
        except StopIteration:
            raise EncodeError(f"{self._profile.name}: frame source ended at frame {self.fed}") from None
        try:
            self._coded.extend(self._video.encode(arr, self.fed))
        except av.FFmpegError as exc:
            raise EncodeError(f"{self._profile.name}: video frame {self.fed}: {exc}") from exc
        self.fed += 1

    def feed_until(self, last: int) -> None:
        while self.fed < last:
            self.feed()

    def segment(self, k: int, first: int, last: int, is_last: bool) -> list[Any]:
        """The coded pictures ``first`` to ``last`` (segment ``k``); the encoder is flushed for the last one."""
        if is_last:
            self._coded += self._video.flush()
        # An encoder with a reorder delay (MPEG-2) hands a segment's last picture out with the next one's first.
        while sum(1 for p in self._coded if p.pts < last) < last - first:
            if is_last:
                raise EncodeError(f"{self._profile.name}: the video encoder lost pictures of segment {k}")
            self.feed()
        pictures = [p for p in self._coded if p.pts < last]
        self._coded = [p for p in self._coded if p.pts >= last]
        return pictures


def _mux_segment(
    profile: Profile,
    pictures: Sequence[Any],
    audio: _ClipAudio,
    languages: tuple[str | None, Sequence[str]],
    cc: CaptionInserter | None,
    t_end: Fraction,
    is_last: bool,
) -> bytes:
    """One standalone TS segment: its pictures (captions in), then the audio packets that start in it."""
    import av

    lang, alt_langs = languages
    buf = io.BytesIO()
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
    streams = [astream]
    for alt_lang in alt_langs:
        stream = _add_audio_stream(container, profile)
        stream.metadata["language"] = alt_lang
        streams.append(stream)
    for packet in pictures:
        packet.stream = vstream
        container.mux(cc.rewrite(packet) if cc is not None else packet)
    audio.mux(container, streams, t_end, is_last)
    container.close()
    return buf.getvalue()


def _caption_inserter(
    profile: Profile, captions: Captions | None, languages: Sequence[str]
) -> CaptionInserter | None:
    """The clip's caption inserter; cues given as a list are loaded now, a callable's after ``plan()``."""
    from cinealert.broadcast.cea708 import CaptionInserter

    cc = None if captions is None else CaptionInserter(profile.video_codec, profile.fps, languages)
    if cc is not None and captions is not None and not callable(captions):
        cc.load(captions)
    return cc


def _planned_audio(
    profile: Profile,
    plan: Callable[[], tuple[Samples, int]],
    alternates: Callable[[], Sequence[Samples]] | None,
    audio: _ClipAudio,
    encoded: int,
) -> int:
    """``plan()``'s audio into every track; the clip's frame count (``encoded`` frames are already coded)."""
    samples, num_frames = plan()
    if num_frames < encoded or len(samples) <= audio.head_len:
        raise EncodeError(f"{profile.name}: audio plan shorter than what is already encoded")
    audio.complete(samples, alternates)
    return num_frames


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

    ``captions`` puts A/53 closed captions (CEA-608 CC1 and CEA-708 services in ``cc_data``,
    ``broadcast.cea708``; ``atsc1``: their caption service descriptor in the PMT) into every picture:
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

    from cinealert.broadcast.mpegts import iso639_2

    cc = _caption_inserter(profile, captions, [x for x in (language, *alternate_languages) if x])
    lang = None if language is None else iso639_2(language)
    alt_langs = [iso639_2(a) for a in alternate_languages] if alternates is not None else []
    rewriter = _ts_rewriter(profile, lang, alt_langs, b"" if cc is None else cc.descriptor())

    out: list[SegmentInfo] = []
    video = _ClipPictures(frames, profile, seg_frames, cancel)
    dialnorm = None if loudness_lkfs is None else dialnorm_for(loudness_lkfs)
    audio = _ClipAudio(profile, dialnorm, head, len(alt_langs))
    planned = False
    num_frames = 0
    nseg = 1
    k = 0
    while not planned or k < nseg:
        first = k * seg_frames
        last = first + seg_frames if not planned else min(num_frames, first + seg_frames)
        video.feed_until(last)
        t_end = Fraction(last) / profile.fps
        if not planned and not audio.covers(t_end):
            num_frames = _planned_audio(profile, plan, alternates, audio, last)
            planned = True
            nseg = math.ceil(num_frames / seg_frames)
            if cc is not None and callable(captions):
                cc.load(captions(), first_frame=first)
        is_last = planned and k == nseg - 1
        pictures = video.segment(k, first, last, is_last)
        try:
            muxed = _mux_segment(profile, pictures, audio, (lang, alt_langs), cc, t_end, is_last)
        except av.FFmpegError as exc:
            raise EncodeError(f"{profile.name}: segment {k}: {exc}") from exc
        name = f"{prefix}{k:05d}.ts"
        data = rewriter.segment(muxed)
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
    codecs: str,
    closed_captions: bool = False,
    audio: Sequence[tuple[str, str | None]] = (),
) -> str:
    """The master playlist of one rendition; its bandwidth figures are measured from ``segments``.

    ``codecs``: the ``CODECS`` value, read from the segments as muxed (``broadcast.tscodecs``), the audio
    renditions' included. ``closed_captions``: the video carries CEA-608 CC1 (``INSTREAM-ID="CC1"``);
    otherwise ``NONE`` tells the player not to look for any."""
    peak, average = ts_bandwidth(segments)
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
