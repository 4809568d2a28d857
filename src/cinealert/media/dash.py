"""MPEG-DASH for ATSC 3.0: HEVC video, AAC audio and IMSC1 captions as fMP4 segments under one MPD.

The video is HEVC, as ATSC 3.0 broadcast (A/341) carries it; ``broadcast.atsc3_video_codec = "h264"`` makes it
H.264 instead, for broadband/OTT players and web browsers (most cannot decode HEVC). ``@codecs`` is read from
the init segment either way (``hvc1...`` from the hvcC, ``avc1.PPCCLL`` from the avcC).

``DashWriter`` burns the overlay in and encodes the video per alert; ``publish_dash`` (shared with the
rich-media writer, which brings cached video instead) adds the audio, the captions, the MPD and the A/331
AEA files, in that order: every segment is durable before the MPD names it.
"""

from __future__ import annotations

import dataclasses
import itertools
import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import TYPE_CHECKING, Any

from cinealert.media.captions import dash_captions, lang_tag
from cinealert.media.job import Job
from cinealert.media.outputs import DashOutput, Segment
from cinealert.media.overlay import with_speech
from cinealert.media.ts import CODEC_NAMES

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio, Utterance
    from cinealert.broadcast.dash import TextRef, TrackRef
    from cinealert.broadcast.encode import FragmentedTrack, Profile
    from cinealert.config.sections import BroadcastSettings


def atsc3_profile(profile: Profile, settings: BroadcastSettings) -> Profile:
    """The ``atsc3`` profile with the configured video codec: HEVC as made, or H.264 with the encoder preset
    the ``hls`` profile uses (``broadcast.atsc3_video_codec``)."""
    from cinealert.broadcast.encode import make_profile

    if settings.atsc3_video_codec != "h264" or not profile.hevc:
        return profile
    h264 = make_profile("hls", size=(profile.width, profile.height))
    return dataclasses.replace(profile, video_codec=h264.video_codec, preset=h264.preset)


@dataclass(frozen=True, slots=True, kw_only=True)
class DashParts:
    """What an MPD is assembled from besides the job: the video already published, and the speech."""

    video: FragmentedTrack  # already published; read here for the MPD (timeline, sizes, init)
    audio: AlertAudio  # padded to ``num_frames``
    num_frames: int
    audio_packets: list[Any] | None = None  # AAC packets already encoded (else encoded here)
    texts: Sequence[TextRef] | None = None  # caption documents already written (else written here)


class DashWriter:
    """``atsc3`` burned in: the overlay on every frame, the video encoded per alert once the speech is known."""

    def write(self, job: Job) -> DashOutput:
        from cinealert.broadcast.encode import encode_fmp4_video

        job = dataclasses.replace(job, profile=atsc3_profile(job.profile, job.settings))
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
    """The audio segments, the captions and the MPD for video already published; the output's description.

    The MPD is written from the files as written: each timeline from the segments' own decode times and
    sample durations, each ``@bandwidth`` from the segments' measured peak rate, each ``@codecs`` from the
    init segment's configuration record."""
    from cinealert.broadcast.audio import language_tracks
    from cinealert.broadcast.dash import mpd
    from cinealert.broadcast.encode import encode_audio, encode_fmp4_audio
    from cinealert.media.aea import publish_aea

    p, clock, audio = job.profile, job.clock, parts.audio
    seg = Fraction(job.seg_frames) / p.fps
    with clock.timed("encode"):
        # One audio track per language (issue 14): the first is the main one and keeps the single-language
        # names; the others are alternates. The mixed programme stays what the AEA's spoken alert carries.
        per_language = language_tracks(
            audio, target_lkfs=job.settings.loudness_lkfs, ceiling_dbtp=job.settings.true_peak_dbtp
        )
        packets = parts.audio_packets
        if packets is None:
            packets = encode_audio(audio.samples, p.audio_codec, p.audio_kbps)
        atracks: list[tuple[str, AlertAudio, FragmentedTrack]] = []
        for i, (language, track_audio) in enumerate(per_language.items() or [("", audio)]):
            own = list(packets) if track_audio is audio else encode_audio(
                track_audio.samples, p.audio_codec, p.audio_kbps
            )  # fmt: skip
            atracks.append(
                (language if i else "", track_audio, encode_fmp4_audio(track_audio.samples, p, seg, own))
            )
    with clock.timed("publish"):
        items = []
        for language, _a, track in atracks:
            stem = f"{p.name}_audio_{lang_tag(language)}" if language else f"{p.name}_audio"
            items += [(f"{stem}_init.mp4", track.init)]
            items += [(f"{stem}_{i:05d}.m4s", data) for i, data in enumerate(track.segments)]
        job.out.write_many(items)
    atrack = atracks[0][2]
    texts = list(parts.texts) if parts.texts is not None else dash_captions(job.out, p.name, audio, clock)
    with clock.timed("publish"):
        utterances = [u for _l, a, _t in atracks for u in a.utterances]
        captions = _caption_tracks(job, parts, utterances)
        tracks = [*_tracks(job, parts, atracks), *captions]
        manifest = mpd(tracks, Fraction(parts.num_frames) / p.fps, seg)
        job.out.commit_dir()  # every segment durable before the MPD names it
        job.out.write("manifest.mpd", manifest, sync_dir=True)
        aea = publish_aea(job, audio, packets)
    seg_s = float(seg)
    ts, off = atrack.timescale, atrack.offset
    return DashOutput(
        mode=job.mode, container="fmp4", video_codec=CODEC_NAMES.get(p.video_codec, p.video_codec),
        audio_codec=p.audio_codec, width=p.width, height=p.height, frame_rate=str(p.fps), manifest="manifest.mpd",
        segments=tuple(Segment(f"{p.name}_video_{i:05d}.m4s", i * seg_s, seg_s)
                       for i in range(len(parts.video.segments))),
        # On the presentation timeline: the first segment's priming frame lies before 0 and is not counted.
        audio_segments=tuple(Segment(f"{p.name}_audio_{i:05d}.m4s", max(0, s - off) / ts,
                                     (s + d - off - max(0, s - off)) / ts)
                             for i, (s, d) in enumerate(zip(atrack.starts, atrack.durations, strict=True))),
        captions=tuple(t.url for t in texts), aea=aea,
    )  # fmt: skip


def _caption_tracks(job: Job, parts: DashParts, utterances: Sequence[Utterance]) -> list[TrackRef]:
    """IMSC1 captions as fMP4 text segments (A/343), one track per language, segmented like the video: each
    segment one TTML document holding the cues of its window, cut to it. The live profile the MPD claims
    wants every Representation segmented; a side-loaded TTML file is not."""
    from cinealert.broadcast.captions import Cue, by_language, cues, ttml
    from cinealert.broadcast.dash import TrackRef
    from cinealert.broadcast.encode import text_track

    p, video = job.profile, parts.video
    ts = video.timescale
    bounds = [*video.starts, video.end]
    refs: list[TrackRef] = []
    # Each language's captions on its own audio track's timeline (``language_tracks``).
    for language, utts in by_language(utterances).items():
        tag = lang_tag(language)
        all_cues = cues(utts)
        documents = []
        for lo, hi in itertools.pairwise(bounds):
            t0, t1 = lo / ts, hi / ts
            window = [Cue(c.language, max(c.start_s, t0), min(c.end_s, t1), c.lines)
                      for c in all_cues if c.start_s < t1 and c.end_s > t0]  # fmt: skip
            documents.append((lo, hi - lo, ttml(window, language)))
        track = text_track(documents, language, ts)
        items = [(f"{p.name}_text_{tag}_init.mp4", track.init)]
        items += [(f"{p.name}_text_{tag}_{i:05d}.m4s", data) for i, data in enumerate(track.segments)]
        job.out.write_many(items)
        refs.append(TrackRef(
            "text", f"text_{tag}", f"{p.name}_text_{tag}_init.mp4", f"{p.name}_text_{tag}_$Number%05d$.m4s", ts,
            tuple(track.starts), track.end, track.codecs(), track.peak_bitrate(), lang=tag,
            durations=tuple(track.durations), role="caption",
        ))  # fmt: skip
    return refs


def _tracks(
    job: Job, parts: DashParts, atracks: Sequence[tuple[str, AlertAudio, FragmentedTrack]]
) -> list[TrackRef]:
    from cinealert.broadcast.dash import TrackRef

    p, video = job.profile, parts.video
    refs = [
        TrackRef(
            "video", "video", f"{p.name}_video_init.mp4", f"{p.name}_video_$Number%05d$.m4s", video.timescale,
            tuple(video.starts), video.end, video.codecs(), video.peak_bitrate(), p.width, p.height,
            f"{p.fps.numerator}/{p.fps.denominator}", durations=tuple(video.durations),
        ),
    ]  # fmt: skip
    for language, track_audio, atrack in atracks:
        utterances = track_audio.utterances
        stem, rep = (f"{p.name}_audio_{lang_tag(language)}", f"audio_{lang_tag(language)}") if language else (
            f"{p.name}_audio", "audio")  # fmt: skip
        refs.append(TrackRef(
            "audio", rep, f"{stem}_init.mp4", f"{stem}_$Number%05d$.m4s", atrack.timescale,
            tuple(atrack.starts), atrack.end, atrack.codecs(), atrack.peak_bitrate(),
            lang=lang_tag(utterances[0].language) if utterances else "", durations=tuple(atrack.durations),
            offset=atrack.offset, role="alternate" if language else "main",
        ))  # fmt: skip
    return refs
