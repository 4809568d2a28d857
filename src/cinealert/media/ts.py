"""MPEG-TS with the overlay burned in: ``atsc1`` (ATSC 1.0: MPEG-2 or H.264, AC-3, A/53 captions) and ``hls``
(H.264, AAC, WebVTT renditions).

For time-to-first-segment the first segment's video is encoded while the speech is still being synthesised:
the encoder asks for the speech (``plan``) only once the first segment's pictures are coded, and each
segment is published durably before the next one is encoded. Playlists follow their segments.

Captions in the video (CEA-608 in A/53 ``cc_data``) only for ``atsc1``, where US broadcast requires them: the
``hls`` rendition has WebVTT renditions in every language instead, and its master says ``CLOSED-CAPTIONS=NONE``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from cinealert.media.captions import hls_subtitles, lang_tag, language_timed
from cinealert.media.job import Job
from cinealert.media.outputs import Segment, TsOutput
from cinealert.media.overlay import with_speech

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio
    from cinealert.broadcast.captions import Cue
    from cinealert.broadcast.encode import SegmentInfo


#: Encoder -> the codec name ffprobe reports, as ``result.json`` names it.
CODEC_NAMES = {"libx264": "h264", "mpeg2video": "mpeg2video", "libx265": "hevc"}


class TsWriter:
    """``atsc1``: segments and one media playlist, ``atsc1.m3u8``."""

    media_suffix = ".m3u8"
    #: A/53 captions in the video (``atsc1`` only: see the module docstring).
    captions_in_video = True
    #: One audio PID per language in the TS (``broadcast.audio.language_tracks``). Not for ``hls``: hls.js plays
    #: only the first audio PID of a TS, so there the other languages are audio-only renditions.
    audio_per_language = True

    def write(self, job: Job) -> TsOutput:
        segments = self._encode(job)
        with job.clock.timed("publish"):
            job.out.commit_dir()  # segments durable before any playlist names them
            media, master = self._playlists(job, segments)
        from cinealert.broadcast.encode import ts_bandwidth

        p = job.profile
        peak, average = ts_bandwidth(segments)
        return TsOutput(
            mode="burn-in", container="mpegts", video_codec=CODEC_NAMES.get(p.video_codec, p.video_codec),
            audio_codec=p.audio_codec, width=p.width, height=p.height, frame_rate=str(p.fps),
            media_playlist=media, master_playlist=master, peak_bandwidth=peak, average_bandwidth=average,
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

        languages = _languages(job)
        alternates = languages[1:] if self.audio_per_language else []
        tracks: dict[str, Any] = {}

        def plan() -> tuple[Any, int]:
            audio, num_frames = job.planned()
            ref.overlay = with_speech(ref.overlay, audio)  # the pages follow the first language, read first
            if len(languages) < 2:
                return audio.samples, num_frames
            tracks.update(_tracks(job, audio))
            return tracks.get(languages[0], audio).samples, num_frames

        def alternate_tracks() -> list[Any]:
            return [tracks.get(lang, tracks[""]).samples for lang in alternates]

        def emit(name: str, data: bytes, duration: float) -> None:
            t = time.perf_counter()
            job.out.write(name, data, sync_dir=True)  # published: durable before the next segment is encoded
            job.clock.add("publish", time.perf_counter() - t)
            job.clock.segment_out()

        def captions() -> list[Cue]:
            from cinealert.broadcast.captions import cues

            # Called right after plan(): the speech is there. Each language on its own track's timing.
            return cues(language_timed(job.audio.result()))

        p = job.profile
        with job.clock.encoding():
            head = lead_in(job.settings.loudness_lkfs)
            return encode_ts(
                frames, plan, p, job.seg_frames, emit, job.cancel, prefix=f"{p.name}_seg_", head=head,
                captions=captions if self.captions_in_video else None,
                loudness_lkfs=job.settings.loudness_lkfs, language=job.infos[0].language if job.infos else None,
                alternate_languages=alternates, alternates=alternate_tracks if alternates else None,
            )  # fmt: skip


def _languages(job: Job) -> list[str]:
    return list(dict.fromkeys(i.language for i in job.infos))


def _tracks(job: Job, audio: AlertAudio) -> dict[str, AlertAudio]:
    """Each language's own programme; ``""`` the mixed one, for a language with nothing spoken of its own."""
    from cinealert.broadcast.audio import language_tracks

    s = job.settings
    tracks = language_tracks(audio, target_lkfs=s.loudness_lkfs, ceiling_dbtp=s.true_peak_dbtp)
    tracks[""] = audio
    return tracks


class HlsWriter(TsWriter):
    """``hls``: also a WebVTT rendition per language and a master playlist naming them."""

    media_suffix = "_media.m3u8"
    captions_in_video = False
    audio_per_language = False

    def _master(self, job: Job, media: str, segments: Sequence[SegmentInfo]) -> str | None:
        from cinealert.broadcast.encode import m3u8_master
        from cinealert.broadcast.tscodecs import codecs_attribute

        name = job.profile.name
        planned, _num_frames = job.planned()
        tracks = _tracks(job, planned)
        # Each language's subtitles on its own audio rendition's timing (as DASH's caption segments).
        timed = replace(
            planned, utterances=tuple(u for lang, t in tracks.items() if lang for u in t.utterances)
        )
        subtitles = hls_subtitles(job.out, name, segments, timed)
        audio, extra, firsts = self._audio_renditions(job, segments, tracks)
        # BANDWIDTH covers the main segments plus the largest alternate audio segment at the same position.
        declared = [replace(seg, size=seg.size + more) for seg, more in zip(segments, extra, strict=True)]
        # CODECS from the segments as muxed: the main one's video and audio, then the audio renditions'.
        codecs = codecs_attribute([(job.out.path / segments[0].name).read_bytes(), *firsts])
        master = f"{name}_master.m3u8"
        playlist = m3u8_master(
            media, job.profile, subtitles, segments=declared, codecs=codecs,
            closed_captions=self.captions_in_video, audio=audio,
        )  # fmt: skip
        job.out.write(master, playlist.encode(), sync_dir=True)
        return master

    def _audio_renditions(
        self, job: Job, segments: Sequence[SegmentInfo], tracks: dict[str, AlertAudio]
    ) -> tuple[list[tuple[str, str | None]], list[int], list[bytes]]:
        """A bilingual alert: the first language's audio is the one muxed in the main segments (an
        ``EXT-X-MEDIA`` without ``URI``), every other language an audio-only TS rendition on the same segment
        boundaries (hls.js switches between them; it would play only the first of several audio PIDs).

        Also each rendition's first segment, for ``CODECS``."""
        from cinealert.broadcast.encode import encode_audio_ts, m3u8_media

        languages = _languages(job)
        extra = [0] * len(segments)
        if len(languages) < 2:
            return [], extra, []
        name = job.profile.name
        out: list[tuple[str, str | None]] = [(lang_tag(languages[0]), None)]
        playlists: list[tuple[str, bytes]] = []
        firsts: list[bytes] = []
        for lang in languages[1:]:
            tag = lang_tag(lang)
            cut = encode_audio_ts(
                tracks.get(lang, tracks[""]).samples,
                job.profile,
                segments,
                f"{name}_audio_{tag}_",
                language=lang,
            )
            job.out.write_many([(info.name, data) for info, data in cut])
            firsts.append(cut[0][1])
            extra = [max(e, info.size) for e, (info, _d) in zip(extra, cut, strict=True)]
            uri = f"{name}_audio_{tag}.m3u8"
            playlists.append((uri, m3u8_media([info for info, _d in cut], job.settings.segment_s).encode()))
            out.append((tag, uri))
        job.out.commit_dir()  # the audio segments durable before their playlists name them
        for uri, text in playlists:
            job.out.write(uri, text, sync_dir=True)
        return out, extra, firsts
