"""A static MPEG-DASH MPD (ISO/IEC 23009-1, ISO BMFF live profile) for fragmented-MP4 tracks.

Every Representation, captions included (IMSC1 in fMP4, ``stpp``, as A/343 carries them), is segmented and
addressed by ``SegmentTemplate`` with ``$Number$`` and an explicit ``SegmentTimeline``. The timeline is the
files' own: each ``S@t`` is the segment's ``tfdt`` and each ``S@d`` the sum of its sample durations, so an
audio track cut on AAC frames is described exactly, not as the video's nominal segment length. The AAC
encoder's priming frame sits before the presentation start and is named by ``@presentationTimeOffset``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from lxml import etree

from cinealert.errors import CinealertError

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"
ROLE_SCHEME = "urn:mpeg:dash:role:2011"
CHANNELS_SCHEME = "urn:mpeg:dash:23003:3:audio_channel_configuration:2011"  # value: the channel count
_MIME = {"video": "video/mp4", "audio": "audio/mp4", "text": "application/mp4"}


class MpdError(ValueError, CinealertError):
    """The tracks cannot be described truthfully (a timeline that does not add up, a segment past the end)."""


@dataclass(frozen=True, slots=True)
class TrackRef:
    """One fMP4 representation: its template names and its timeline as read from its segments.

    ``durations`` are the segments' summed sample durations; without them (older callers) each segment runs
    to the next start and the last to ``total``. ``offset`` is the media time of the presentation start."""

    kind: str  # "video" | "audio" | "text"
    rep_id: str
    init: str
    media: str  # e.g. "video_$Number%05d$.m4s"
    timescale: int
    starts: tuple[int, ...]
    total: int  # end of the last segment, same timescale (used only without ``durations``)
    codecs: str
    bandwidth: int
    width: int = 0
    height: int = 0
    frame_rate: str = ""
    lang: str = ""
    durations: tuple[int, ...] = ()
    offset: int = 0
    role: str = "main"
    channels: int = 1

    def segment_durations(self) -> tuple[int, ...]:
        if self.durations:
            return self.durations
        return tuple(b - a for a, b in zip(self.starts, [*self.starts[1:], self.total], strict=True))


@dataclass(frozen=True, slots=True)
class TextRef:
    """A whole-alert caption document (the AEAT names it; the MPD carries captions as ``stpp`` segments)."""

    lang: str
    url: str
    mime: str = "application/ttml+xml"
    codecs: str = "im1t"


def _duration(seconds: Fraction | float) -> str:
    """``xs:duration`` to the millisecond, rounded up so the stated length never cuts off the last frame."""
    ms = -(-Fraction(seconds) * 1000 // 1)
    return f"PT{ms // 1000}.{ms % 1000:03d}S"


def _timeline(parent: etree._Element, starts: Sequence[int], durations: Sequence[int]) -> None:
    timeline = etree.SubElement(parent, f"{{{MPD_NS}}}SegmentTimeline")
    i = 0
    while i < len(durations):
        run = 0
        while (
            i + run + 1 < len(durations)
            and durations[i + run + 1] == durations[i]
            and starts[i + run + 1] == starts[i + run] + durations[i + run]
        ):
            run += 1
        s = etree.SubElement(timeline, f"{{{MPD_NS}}}S")
        if i == 0 or starts[i] != starts[i - 1] + durations[i - 1]:
            s.set("t", str(starts[i]))
        s.set("d", str(durations[i]))
        if run:
            s.set("r", str(run))
        i += run + 1


def _check(track: TrackRef, durations: Sequence[int], end: Fraction) -> None:
    """What a player relies on: one duration per segment, no gaps or overlaps, and every segment starting
    before the presentation ends (a player would fetch one that starts after it, or stall on it)."""
    if len(durations) != len(track.starts) or not durations:
        raise MpdError(f"{track.rep_id}: {len(track.starts)} segments but {len(durations)} durations")
    for i, (start, duration) in enumerate(zip(track.starts, durations, strict=True)):
        if duration <= 0:
            raise MpdError(f"{track.rep_id}: segment {i} has no duration")
        if i and start != track.starts[i - 1] + durations[i - 1]:
            raise MpdError(f"{track.rep_id}: segment {i} starts at {start}, not where segment {i - 1} ends")
        if Fraction(start - track.offset, track.timescale) >= end:
            raise MpdError(f"{track.rep_id}: segment {i} starts at or after the presentation end")


def mpd(tracks: Sequence[TrackRef], duration_s: Fraction | float, min_buffer_s: Fraction | float) -> bytes:
    """A static MPD (no ``availabilityStartTime``: that is for ``dynamic`` only) of one Period.

    ``min_buffer_s`` with each Representation's ``@bandwidth`` is DASH's delivery promise: the caller
    declares a bandwidth at least the highest per-segment rate, so it holds for any buffer of a segment."""
    end = Fraction(duration_s)
    root = etree.Element(f"{{{MPD_NS}}}MPD", nsmap={None: MPD_NS})
    root.set("profiles", LIVE_PROFILE)
    root.set("type", "static")
    root.set("mediaPresentationDuration", _duration(end))
    root.set("minBufferTime", _duration(min_buffer_s))
    period = etree.SubElement(root, f"{{{MPD_NS}}}Period", id="0", start="PT0S")
    for next_id, track in enumerate(tracks):
        durations = track.segment_durations()
        _check(track, durations, end)
        aset = etree.SubElement(period, f"{{{MPD_NS}}}AdaptationSet", id=str(next_id))
        aset.set("contentType", track.kind)
        aset.set("mimeType", _MIME[track.kind])
        if track.lang:
            aset.set("lang", track.lang)
        aset.set("segmentAlignment", "true")
        aset.set("startWithSAP", "1")
        etree.SubElement(aset, f"{{{MPD_NS}}}Role", schemeIdUri=ROLE_SCHEME, value=track.role)
        rep = etree.SubElement(aset, f"{{{MPD_NS}}}Representation", id=track.rep_id)
        rep.set("codecs", track.codecs)
        rep.set("bandwidth", str(track.bandwidth))
        if track.kind == "video":
            rep.set("width", str(track.width))
            rep.set("height", str(track.height))
            rep.set("frameRate", track.frame_rate)
            rep.set("sar", "1:1")
        elif track.kind == "audio":
            rep.set("audioSamplingRate", str(track.timescale))
            etree.SubElement(
                rep, f"{{{MPD_NS}}}AudioChannelConfiguration", schemeIdUri=CHANNELS_SCHEME,
                value=str(track.channels),
            )  # fmt: skip
        template = etree.SubElement(rep, f"{{{MPD_NS}}}SegmentTemplate")
        template.set("timescale", str(track.timescale))
        if track.offset:
            template.set("presentationTimeOffset", str(track.offset))
        template.set("initialization", track.init)
        template.set("media", track.media)
        template.set("startNumber", "0")
        _timeline(template, track.starts, durations)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
