"""Caption files from the speech's timing: sidecars for every output, IMSC1 for DASH, WebVTT renditions for HLS.

Captions follow the audio (``AlertAudio.utterances``), not the overlay: they say what is heard, when it is.
Each language's captions (sidecars, DASH IMSC1, the ``atsc1`` CEA-608/708 in the video) follow that language's
own audio track (``broadcast.audio.language_tracks``), not the mixed reading: ``language_timed``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from cinealert.media.clock import Clock

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio, Utterance
    from cinealert.broadcast.dash import TextRef
    from cinealert.broadcast.encode import SegmentInfo
    from cinealert.broadcast.publish import OutputDir


def language_timed(audio: AlertAudio, gap_s: float = 0.35) -> list[Utterance]:
    """Every utterance timed as on its own language's track: ``language_tracks``'s layout (the lead-in, then
    that language's utterances one after another with ``gap_s`` between), computed without building and
    normalising the tracks. A single-language alert keeps its times."""
    languages = list(dict.fromkeys(u.language for u in audio.utterances))
    if len(languages) <= 1:
        return list(audio.utterances)
    from cinealert.broadcast.audio import Utterance

    rate, head = audio.rate, audio.head_samples
    room = len(audio.samples) - head
    gap = round(gap_s * rate)
    cursor = dict.fromkeys(languages, 0)
    out = []
    for u in audio.utterances:
        a, b = round(u.start_s * rate), round(u.end_s * rate)
        n = min(len(audio.samples[a:b]), room - cursor[u.language])
        start = (head + cursor[u.language]) / rate
        out.append(Utterance(u.language, u.kind, u.text, start, start + n / rate))
        cursor[u.language] += n + gap
    return out


def lang_tag(language: str) -> str:
    """A language as it may stand in a file name (and in an MPD's ``lang``)."""
    return "".join(ch for ch in language if ch.isalnum() or ch == "-") or "und"


def sidecars(out: OutputDir, audio: AlertAudio, clock: Clock) -> dict[str, dict[str, str]]:
    """``captions_<lang>.vtt`` and ``.ttml`` per language, once per output directory (``clock.captions``),
    each on its language's own track's timing."""
    from cinealert.broadcast.captions import by_language, cues, ttml, webvtt

    files: dict[str, dict[str, str]] = {}
    t = time.perf_counter()
    items: list[tuple[str, bytes]] = []
    for lang, utts in by_language(language_timed(audio)).items():
        cue_list = cues(utts)
        tag = lang_tag(lang)
        items.append((f"captions_{tag}.vtt", webvtt(cue_list).encode("utf-8")))
        items.append((f"captions_{tag}.ttml", ttml(cue_list, lang)))
        files[lang] = {"vtt": f"captions_{tag}.vtt", "ttml": f"captions_{tag}.ttml"}
    out.write_many(items)
    clock.add("publish", time.perf_counter() - t)
    clock.captions = files
    return files


def dash_captions(out: OutputDir, prefix: str, audio: AlertAudio, clock: Clock) -> list[TextRef]:
    """One IMSC1 document per language, referenced from the MPD, on its language's own track's timing."""
    from cinealert.broadcast.captions import by_language, cues, ttml
    from cinealert.broadcast.dash import TextRef

    t = time.perf_counter()
    texts, items = [], []
    for lang, utts in by_language(language_timed(audio)).items():
        name = f"{prefix}_captions_{lang_tag(lang)}.ttml"
        items.append((name, ttml(cues(utts), lang)))
        texts.append(TextRef(lang, name))
    out.write_many(items)
    clock.add("publish", time.perf_counter() - t)
    return texts


def hls_subtitles(
    out: OutputDir, prefix: str, segments: Sequence[SegmentInfo], audio: AlertAudio
) -> dict[str, str]:
    """One WebVTT rendition per language (a single-segment subtitle playlist each), on the TS clock and on
    its language's own audio rendition's timing."""
    from cinealert.broadcast.captions import by_language, cues, webvtt
    from cinealert.broadcast.encode import TS_OFFSET

    total = sum(s.duration_s for s in segments)
    renditions: dict[str, str] = {}
    for lang, utts in by_language(language_timed(audio)).items():
        tag = lang_tag(lang)
        vtt = out.write(f"{prefix}_subs_{tag}.vtt", webvtt(cues(utts), float(TS_OFFSET)).encode())
        playlist = "\n".join(
            [
                "#EXTM3U",
                "#EXT-X-VERSION:3",
                f"#EXT-X-TARGETDURATION:{math.ceil(total)}",
                "#EXT-X-MEDIA-SEQUENCE:0",
                "#EXT-X-PLAYLIST-TYPE:VOD",
                f"#EXTINF:{total:.3f},",
                vtt.name,
                "#EXT-X-ENDLIST",
                "",
            ]
        )
        name = f"{prefix}_subs_{tag}.m3u8"
        out.write(name, playlist.encode(), sync_dir=True)
        renditions[lang] = name
    return renditions
