"""What each profile writer published, as typed values; ``doc()`` is its entry in ``result.json``'s ``outputs``.

The field order of each ``doc()`` is the document's: ``result.json`` is read by operators and by other tools.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Segment:
    name: str
    start_s: float
    duration_s: float

    def doc(self) -> dict[str, Any]:
        return {"name": self.name, "start_s": self.start_s, "duration_s": self.duration_s}


@dataclass(frozen=True, slots=True, kw_only=True)
class Output:
    """What every profile has: its picture, its codecs and its (video) segments in order."""

    mode: str
    container: str
    video_codec: str
    audio_codec: str
    width: int
    height: int
    frame_rate: str
    segments: tuple[Segment, ...]

    @property
    def end_s(self) -> float:
        last = self.segments[-1]
        return last.start_s + last.duration_s

    def _head(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "container": self.container,
            "video_codec": self.video_codec,
            "audio_codec": self.audio_codec,
            "width": self.width,
            "height": self.height,
            "frame_rate": self.frame_rate,
        }

    def _segments(self) -> list[dict[str, Any]]:
        return [s.doc() for s in self.segments]

    def doc(self) -> dict[str, Any]:
        return {**self._head(), "segments": self._segments()}


@dataclass(frozen=True, slots=True, kw_only=True)
class TsOutput(Output):
    """MPEG-TS segments with the overlay burned in, and their playlists (``hls`` also a master).

    ``peak_bandwidth``/``average_bandwidth`` (bit/s) are measured on the published segments (TS overhead
    included): the peak is the highest single segment's rate, what HLS ``BANDWIDTH`` and a multiplex's
    allocation must cover."""

    media_playlist: str
    master_playlist: str | None = None
    peak_bandwidth: int | None = None
    average_bandwidth: int | None = None

    def doc(self) -> dict[str, Any]:
        doc = {**self._head(), "segments": self._segments(), "media_playlist": self.media_playlist}
        if self.master_playlist is not None:
            doc["master_playlist"] = self.master_playlist
        if self.peak_bandwidth is not None:
            doc["peak_bandwidth_bps"] = self.peak_bandwidth
            doc["average_bandwidth_bps"] = self.average_bandwidth
        return doc


@dataclass(frozen=True, slots=True)
class AeaMedia:
    """The ATSC 3.0 AEA files of a rich-media output (A/331 AEAT and the media it names)."""

    aeat: str
    event_symbol: str
    spoken_alert: str | None  # no AEAtextAudio where nothing could be spoken (chimes only)


@dataclass(frozen=True, slots=True)
class VideoCacheUse:
    """Which cached clean video a rich-media output re-uses, and whether it was there already."""

    key: str
    hit: bool
    segments: int


# A/342 allows only AC-4 or MPEG-H audio in ATSC 3.0; neither has an open encoder (FFmpeg has neither), so
# the ``atsc3`` outputs carry AAC-LC. Said in every such output's ``result.json`` entry so that a station's
# ingest (or an operator) sees it there, not only in the developers' notes.
A342_AAC_DEVIATION = "A/342: AAC-LC instead of AC-4/MPEG-H (no open encoder)"
A342_CODECS = frozenset({"ac-4", "ac4", "mpegh", "mpeg-h"})


@dataclass(frozen=True, slots=True, kw_only=True)
class DashOutput(Output):
    """fMP4 video and audio segments under one MPD, with IMSC1 captions; rich-media adds the AEA files."""

    @property
    def deviations(self) -> tuple[str, ...]:
        """Known departures from the ATSC 3.0 standards, derived from what was encoded (not claimed)."""
        return () if self.audio_codec.lower() in A342_CODECS else (A342_AAC_DEVIATION,)

    manifest: str
    audio_segments: tuple[Segment, ...]
    captions: tuple[str, ...]
    aea: AeaMedia | None = None
    video_cache: VideoCacheUse | None = None

    def doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            **self._head(),
            "manifest": self.manifest,
            "segments": self._segments(),
            "audio_segments": [s.doc() for s in self.audio_segments],
            "captions": list(self.captions),
        }
        if self.deviations:
            doc["deviations"] = list(self.deviations)
        if self.aea is not None:
            doc["aeat"] = self.aea.aeat
            if self.aea.spoken_alert is not None:
                doc["spoken_alert"] = self.aea.spoken_alert
            doc["event_symbol"] = self.aea.event_symbol
        if self.video_cache is not None:
            vc = self.video_cache
            doc["video_cache"] = {"key": vc.key, "hit": vc.hit, "segments": vc.segments}
        return doc
