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
    from cinealert.broadcast.cea708 import Captions

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

    from cinealert.broadcast.cea708 import CaptionInserter
    from cinealert.broadcast.mpegts import iso639_2

    caption_languages = [x for x in (language, *alternate_languages) if x]
    cc = None if captions is None else CaptionInserter(profile.video_codec, profile.fps, caption_languages)
    if cc is not None and captions is not None and not callable(captions):
        cc.load(captions)
    lang = None if language is None else iso639_2(language)
    alt_langs = [iso639_2(a) for a in alternate_languages] if alternates is not None else []
    rewriter = _ts_rewriter(profile, lang, alt_langs, b"" if cc is None else cc.descriptor())

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
