"""A static MPEG-DASH MPD (ISO/IEC 23009-1, live profile) for fragmented-MP4 tracks plus sidecar captions.

Segment addressing is ``SegmentTemplate`` with ``$Number$`` and an explicit ``SegmentTimeline`` built from the
segments' own ``tfdt`` values, so audio fragments that end on AAC frame boundaries are described exactly.
IMSC1 captions are one adaptation set per language whose representation is the whole TTML document.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

MPD_NS = "urn:mpeg:dash:schema:mpd:2011"
LIVE_PROFILE = "urn:mpeg:dash:profile:isoff-live:2011"


@dataclass(frozen=True, slots=True)
class TrackRef:
    """One fMP4 representation: its template names and its timeline (decode times in ``timescale``)."""

    kind: str  # "video" | "audio"
    rep_id: str
    init: str
    media: str  # e.g. "video_$Number%05d$.m4s"
    timescale: int
    starts: tuple[int, ...]
    total: int  # end of the last segment, same timescale
    codecs: str
    bandwidth: int
    width: int = 0
    height: int = 0
    frame_rate: str = ""
    lang: str = ""


@dataclass(frozen=True, slots=True)
class TextRef:
    lang: str
    url: str
    mime: str = "application/ttml+xml"
    codecs: str = "im1t"


def _duration(seconds: float) -> str:
    return f"PT{seconds:.3f}S"


def _timeline(parent: etree._Element, starts: Sequence[int], total: int) -> None:
    timeline = etree.SubElement(parent, f"{{{MPD_NS}}}SegmentTimeline")
    durations = [b - a for a, b in zip(starts, [*starts[1:], total], strict=True)]
    i = 0
    while i < len(durations):
        run = 0
        while i + run + 1 < len(durations) and durations[i + run + 1] == durations[i]:
            run += 1
        s = etree.SubElement(timeline, f"{{{MPD_NS}}}S", d=str(durations[i]))
        if i == 0 or starts[i] != starts[i - 1] + durations[i - 1]:
            s.set("t", str(starts[i]))
        if run:
            s.set("r", str(run))
        i += run + 1


def mpd(tracks: Sequence[TrackRef], texts: Sequence[TextRef], duration_s: float, segment_s: float) -> bytes:
    root = etree.Element(f"{{{MPD_NS}}}MPD", nsmap={None: MPD_NS})
    root.set("profiles", LIVE_PROFILE)
    root.set("type", "static")
    root.set("mediaPresentationDuration", _duration(duration_s))
    root.set("minBufferTime", _duration(segment_s))
    period = etree.SubElement(root, f"{{{MPD_NS}}}Period", id="0", start="PT0S")
    next_id = 0
    for track in tracks:
        aset = etree.SubElement(period, f"{{{MPD_NS}}}AdaptationSet", id=str(next_id))
        next_id += 1
        aset.set("contentType", track.kind)
        aset.set("mimeType", f"{track.kind}/mp4")
        aset.set("segmentAlignment", "true")
        aset.set("startWithSAP", "1")
        if track.lang:
            aset.set("lang", track.lang)
        rep = etree.SubElement(aset, f"{{{MPD_NS}}}Representation", id=track.rep_id)
        rep.set("codecs", track.codecs)
        rep.set("bandwidth", str(track.bandwidth))
        if track.kind == "video":
            rep.set("width", str(track.width))
            rep.set("height", str(track.height))
            rep.set("frameRate", track.frame_rate)
            rep.set("sar", "1:1")
        else:
            rep.set("audioSamplingRate", str(track.timescale))
            etree.SubElement(
                rep,
                f"{{{MPD_NS}}}AudioChannelConfiguration",
                schemeIdUri="urn:mpeg:dash:23003:3:audio_channel_configuration:2011",
                value="1",
            )
        template = etree.SubElement(rep, f"{{{MPD_NS}}}SegmentTemplate")
        template.set("timescale", str(track.timescale))
        template.set("initialization", track.init)
        template.set("media", track.media)
        template.set("startNumber", "0")
        _timeline(template, track.starts, track.total)
    for text in texts:
        aset = etree.SubElement(period, f"{{{MPD_NS}}}AdaptationSet", id=str(next_id))
        next_id += 1
        # Side-loaded TTML (DASH-IF IOP): identified by mimeType alone; players that only decode segmented
        # media (FFmpeg's dash demuxer) skip it instead of failing on a non-segment file.
        aset.set("mimeType", text.mime)
        aset.set("lang", text.lang)
        etree.SubElement(aset, f"{{{MPD_NS}}}Role", schemeIdUri="urn:mpeg:dash:role:2011", value="caption")
        rep = etree.SubElement(aset, f"{{{MPD_NS}}}Representation", id=f"text_{text.lang}")
        rep.set("bandwidth", "1000")
        rep.set("codecs", text.codecs)
        base = etree.SubElement(rep, f"{{{MPD_NS}}}BaseURL")
        base.text = text.url
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True))
