"""ATSC 3.0 rich media (A/331 AEA): the scene's clean video from the video cache, the spoken alert, captions,
the disaster pictogram, and the AEAT naming them. Per alert only audio, captions, the AEAT and the MPD are made.
``publish_aea`` (the pictogram, the spoken alert and the AEAT) serves the burned-in ``atsc3`` output too.

The cached video does not depend on the speech, so its segments are published while the speech is being
synthesised (how many are needed is known only then; any written beyond that are removed again).
"""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from cinealert.media.captions import dash_captions, sidecars
from cinealert.media.dash import DashParts, atsc3_profile, publish_dash
from cinealert.media.job import Job
from cinealert.media.outputs import DashOutput, VideoCacheUse
from cinealert.media.videocache import CachedVideo, VideoWriter

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio
    from cinealert.broadcast.dash import TextRef
    from cinealert.broadcast.encode import FragmentedTrack

_AAC_PARTS = 2  # concurrent AAC encodes of one alert's audio (the cores)
#: Cached video segments published ahead of the speech at most (16 s; a bilingual alert runs longer).
_SPECULATIVE_SEGMENTS = 8


class RichMediaWriter:
    """``atsc3`` in ``rich-media`` mode: a clean picture, and the alert as AEA media the receiver presents."""

    def write(self, job: Job) -> DashOutput:
        job = dataclasses.replace(job, profile=atsc3_profile(job.profile, job.settings))
        p = job.profile
        with job.clock.timed("encode"):
            cached = job.videos.get(job.loop, p, job.seg_frames, job.cancel, job.clock)
        writer = VideoWriter(
            job.out, p.name, cached, cached.segment_ticks, job.clock, job.videos.entry(cached.key)
        )
        writer.write(1)
        while not job.audio.done() and writer.written < _SPECULATIVE_SEGMENTS:
            writer.write(writer.written + 1)
        audio, num_frames = job.planned()
        nseg = num_frames // job.seg_frames
        packets, texts = self._audio_and_captions(job, writer, audio, nseg)
        video = _published_video(cached, writer.seg_ticks, nseg)
        parts = DashParts(video=video, audio=audio, num_frames=num_frames, audio_packets=packets, texts=texts)
        return dataclasses.replace(publish_dash(job, parts), video_cache=_cache_use(cached))

    def _audio_and_captions(
        self, job: Job, writer: VideoWriter, audio: AlertAudio, nseg: int
    ) -> tuple[list[Any], list[TextRef]]:
        """AAC in parts split at silent frame boundaries, the fixed lead-in's packets reused: the parts encode
        at once (one thread coordinates) while this thread publishes the rest of the video and the captions."""
        from cinealert.broadcast.audio import lead_in
        from cinealert.broadcast.encode import encode_audio_spliced

        p = job.profile
        encoder = ThreadPoolExecutor(max_workers=1 + _AAC_PARTS, thread_name_prefix="aac")
        with job.clock.timed("encode"):
            packets = encoder.submit(
                encode_audio_spliced, audio.samples, p.audio_codec, p.audio_kbps,
                prefix=lead_in(job.settings.loudness_lkfs), parts=_AAC_PARTS, pool=encoder,
            )  # fmt: skip
            try:
                writer.write(nseg)
                writer.trim(nseg)
                texts = dash_captions(job.out, p.name, audio, job.clock)
                if job.clock.captions is None:
                    sidecars(job.out, audio, job.clock)
                return packets.result(), texts
            finally:
                encoder.shutdown(wait=True)


def _published_video(cached: CachedVideo, seg_ticks: int, nseg: int) -> FragmentedTrack:
    """The video track as published (segment k is cached segment k mod n, re-timed to k * ``seg_ticks``),
    for the MPD: the cached bytes give the sizes for ``@bandwidth``, their samples the durations."""
    from cinealert.broadcast.encode import FragmentedTrack, default_sample_duration, fragment_duration

    video = FragmentedTrack(init=cached.init, timescale=cached.timescale)
    default = default_sample_duration(cached.init)
    durations = [fragment_duration(segment, default) for segment in cached.segments]
    for k in range(nseg):
        video.segments.append(cached.segments[k % len(cached.segments)])  # the same object: no copy
        video.starts.append(k * seg_ticks)
        video.durations.append(durations[k % len(cached.segments)])
    return video


def _cache_use(cached: CachedVideo) -> VideoCacheUse:
    return VideoCacheUse(cached.key, cached.hit, len(cached.segments))
