"""MPEG-TS with the overlay burned in: ``atsc1`` (ATSC 1.0, AC-3) and ``hls`` (AAC, WebVTT renditions).

For time-to-first-segment the first segment's video is encoded while the speech is still being synthesised:
the encoder asks for the speech (``plan``) only once the first segment's pictures are coded, and each
segment is published durably before the next one is encoded. Playlists follow their segments.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cinealert.media.captions import hls_subtitles
from cinealert.media.job import Job
from cinealert.media.outputs import Segment, TsOutput
from cinealert.media.overlay import with_speech

if TYPE_CHECKING:
    from cinealert.broadcast.encode import SegmentInfo


class TsWriter:
    """``atsc1``: segments and one media playlist, ``atsc1.m3u8``."""

    media_suffix = ".m3u8"

    def write(self, job: Job) -> TsOutput:
        segments = self._encode(job)
        with job.clock.timed("publish"):
            job.out.commit_dir()  # segments durable before any playlist names them
            media, master = self._playlists(job, segments)
        p = job.profile
        return TsOutput(
            mode="burn-in", container="mpegts", video_codec="h264", audio_codec=p.audio_codec, width=p.width,
            height=p.height, frame_rate=str(p.fps), media_playlist=media, master_playlist=master,
            segments=tuple(Segment(s.name, s.start_s, s.duration_s) for s in segments),
        )  # fmt: skip

    def _playlists(self, job: Job, segments: Sequence[SegmentInfo]) -> tuple[str, str | None]:
        from cinealert.broadcast.encode import m3u8_media

        media = f"{job.profile.name}{self.media_suffix}"
        job.out.write(media, m3u8_media(segments, job.settings.segment_s).encode(), sync_dir=True)
        return media, self._master(job, media, segments)

    def _master(self, job: Job, media: str, segments: Sequence[SegmentInfo]) -> str | None:
        return None

    def _encode(self, job: Job) -> list[SegmentInfo]:
        from cinealert.broadcast.audio import lead_in
        from cinealert.broadcast.encode import encode_ts

        ref = job.overlay_ref()
        frames = job.frames(ref)

        def plan() -> tuple[Any, int]:
            audio, num_frames = job.planned()
            ref.overlay = with_speech(ref.overlay, audio)
            return audio.samples, num_frames

        def emit(name: str, data: bytes, duration: float) -> None:
            t = time.perf_counter()
            job.out.write(name, data, sync_dir=True)  # published: durable before the next segment is encoded
            job.clock.add("publish", time.perf_counter() - t)
            job.clock.segment_out()

        p = job.profile
        with job.clock.encoding():
            head = lead_in(job.settings.loudness_lkfs)
            return encode_ts(
                frames, plan, p, job.seg_frames, emit, job.cancel, prefix=f"{p.name}_seg_", head=head
            )


class HlsWriter(TsWriter):
    """``hls``: also a WebVTT rendition per language and a master playlist naming them."""

    media_suffix = "_media.m3u8"

    def _master(self, job: Job, media: str, segments: Sequence[SegmentInfo]) -> str | None:
        from cinealert.broadcast.encode import m3u8_master

        name = job.profile.name
        subtitles = hls_subtitles(job.out, name, segments, job.audio.result())
        master = f"{name}_master.m3u8"
        job.out.write(master, m3u8_master(media, job.profile, subtitles).encode(), sync_dir=True)
        return master
