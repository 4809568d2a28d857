"""MPEG-DASH for ATSC 3.0: HEVC video and AAC audio as fMP4 segments under one MPD, IMSC1 captions.

``DashWriter`` burns the overlay in and encodes the video per alert; ``publish_dash`` (shared with the
rich-media writer, which brings cached video instead) adds the audio, the captions and the MPD, in that order:
every segment is durable before the MPD names it.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cinealert.media.captions import dash_captions, lang_tag
from cinealert.media.job import Job
from cinealert.media.outputs import DashOutput, Segment
from cinealert.media.overlay import with_speech

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio
    from cinealert.broadcast.dash import TextRef, TrackRef
    from cinealert.broadcast.encode import FragmentedTrack


@dataclass(frozen=True, slots=True, kw_only=True)
class DashParts:
    """What an MPD is assembled from besides the job: the video already published, and the speech."""

    video: FragmentedTrack  # its segments are published; only their count and start times are read here
    audio: AlertAudio  # padded to ``num_frames``
    num_frames: int
    audio_packets: list[Any] | None = None  # AAC packets already encoded (else encoded here)
    texts: Sequence[TextRef] | None = None  # caption documents already written (else written here)
    extra: Sequence[tuple[str, bytes]] = ()  # more files the MPD's directory sync must make durable


class DashWriter:
    """``atsc3`` burned in: the overlay on every frame, the video encoded per alert once the speech is known."""

    def write(self, job: Job) -> DashOutput:
        from cinealert.broadcast.encode import encode_fmp4_video

        ref = job.overlay_ref()
        audio, num_frames = job.planned()
        ref.overlay = with_speech(ref.overlay, audio)
        frames = job.frames(ref)
        prefix = job.profile.name

        def on_segment(index: int, init: bytes, data: bytes) -> None:
            t = time.perf_counter()
            if index == 0:
                job.out.write(f"{prefix}_video_init.mp4", init)
            job.out.write(f"{prefix}_video_{index:05d}.m4s", data, sync_dir=True)  # durable with the init
            job.clock.add("publish", time.perf_counter() - t)
            job.clock.segment_out()

        with job.clock.encoding():
            video = encode_fmp4_video(frames, num_frames, job.profile, job.seg_frames, on_segment, job.cancel)
        return publish_dash(job, DashParts(video=video, audio=audio, num_frames=num_frames))


def publish_dash(job: Job, parts: DashParts) -> DashOutput:
    """The audio segments, the captions and the MPD for video already published; the output's description."""
    from cinealert.broadcast.dash import mpd
    from cinealert.broadcast.encode import encode_audio, encode_fmp4_audio

    p, clock, audio = job.profile, job.clock, parts.audio
    with clock.timed("encode"):
        packets = parts.audio_packets
        if packets is None:
            packets = encode_audio(audio.samples, p.audio_codec, p.audio_kbps)
        atrack = encode_fmp4_audio(audio.samples, p, job.settings.segment_s, list(packets))
    with clock.timed("publish"):
        items = [(f"{p.name}_audio_init.mp4", atrack.init)]
        items += [(f"{p.name}_audio_{i:05d}.m4s", data) for i, data in enumerate(atrack.segments)]
        job.out.write_many([*items, *parts.extra])
    texts = list(parts.texts) if parts.texts is not None else dash_captions(job.out, p.name, audio, clock)
    with clock.timed("publish"):
        tracks = _tracks(job, parts, atrack)
        manifest = mpd(tracks, texts, float(parts.num_frames / p.fps), job.settings.segment_s)
        job.out.commit_dir()  # every segment durable before the MPD names it
        job.out.write("manifest.mpd", manifest, sync_dir=True)
    seg_s = job.seg_frames / float(p.fps)
    audio_ends = [*atrack.starts[1:], tracks[1].total]
    return DashOutput(
        mode=job.mode, container="fmp4", video_codec="hevc", audio_codec="aac", width=p.width, height=p.height,
        frame_rate=str(p.fps), manifest="manifest.mpd",
        segments=tuple(Segment(f"{p.name}_video_{i:05d}.m4s", i * job.seg_frames / float(p.fps), seg_s)
                       for i in range(len(parts.video.segments))),
        audio_segments=tuple(Segment(f"{p.name}_audio_{i:05d}.m4s", s / atrack.timescale, (e - s) / atrack.timescale)
                             for i, (s, e) in enumerate(zip(atrack.starts, audio_ends, strict=True))),
        captions=tuple(t.url for t in texts),
    )  # fmt: skip


def _tracks(job: Job, parts: DashParts, atrack: FragmentedTrack) -> list[TrackRef]:
    from cinealert.broadcast.dash import TrackRef
    from cinealert.broadcast.encode import hevc_codecs

    p, video, samples = job.profile, parts.video, parts.audio.samples
    utterances = parts.audio.utterances
    return [
        TrackRef(
            "video", "video", f"{p.name}_video_init.mp4", f"{p.name}_video_$Number%05d$.m4s", video.timescale,
            tuple(video.starts), round(parts.num_frames * video.timescale / p.fps), hevc_codecs(p.height),
            p.video_kbps * 1000, p.width, p.height, f"{p.fps.numerator}/{p.fps.denominator}",
        ),
        TrackRef(
            "audio", "audio", f"{p.name}_audio_init.mp4", f"{p.name}_audio_$Number%05d$.m4s", atrack.timescale,
            tuple(atrack.starts),
            max(len(samples), atrack.starts[-1] + 1) if atrack.starts else len(samples),
            "mp4a.40.2", p.audio_kbps * 1000, lang=lang_tag(utterances[0].language) if utterances else "",
        ),
    ]  # fmt: skip
