"""Captions of the spoken alert: WebVTT and IMSC1 (TTML text profile), one file per language.

Cues follow the speech exactly (utterance start/end from the TTS output). A long utterance is split into cues
of at most two short lines, timed in proportion to their length, so a caption never holds a paragraph. The
caption region sits at the top of the picture: the lower third carries the burned-in overlay.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

from lxml import etree

from cinealert.broadcast.audio import Utterance
from cinealert.render.text import wrap

LINE_CELLS = 37  # CEA-608/708 style line length in half-width cells (a Hangul syllable is two)
TTML_NS = "http://www.w3.org/ns/ttml"
TTS_NS = "http://www.w3.org/ns/ttml#styling"
TTP_NS = "http://www.w3.org/ns/ttml#parameter"
XML_NS = "http://www.w3.org/XML/1998/namespace"
IMSC1_TEXT_PROFILE = "http://www.w3.org/ns/ttml/profile/imsc1/text"


@dataclass(frozen=True, slots=True)
class Cue:
    language: str
    start_s: float
    end_s: float
    lines: tuple[str, ...]


def cells(text: str) -> int:
    return sum(2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1 for ch in text)


def cues(utterances: Sequence[Utterance], max_lines: int = 2) -> list[Cue]:
    out: list[Cue] = []
    for utt in utterances:
        lines = wrap(utt.text, LINE_CELLS, lambda s: float(cells(s)))
        groups = [tuple(lines[i : i + max_lines]) for i in range(0, len(lines), max_lines)]
        weights = [max(1, sum(cells(line) for line in g)) for g in groups]
        total = sum(weights)
        t = utt.start_s
        for group, weight in zip(groups, weights, strict=True):
            end = t + (utt.end_s - utt.start_s) * weight / total
            out.append(Cue(utt.language, t, end, group))
            t = end
    return out


def _ts(seconds: float) -> str:
    ms = round(seconds * 1000)
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def webvtt(cue_list: Sequence[Cue], mpegts_offset_s: float | None = None) -> str:
    """WebVTT; with ``mpegts_offset_s`` it carries the HLS ``X-TIMESTAMP-MAP`` tying cue time 0 to the
    MPEG-TS timestamp of the first video frame."""
    header = "WEBVTT"
    if mpegts_offset_s is not None:
        header += f"\nX-TIMESTAMP-MAP=MPEGTS:{round(mpegts_offset_s * 90000)},LOCAL:00:00:00.000"
    parts = [header, ""]
    for i, cue in enumerate(cue_list, 1):
        text = "\n".join(line.replace("-->", "->") for line in cue.lines)
        parts += [str(i), f"{_ts(cue.start_s)} --> {_ts(cue.end_s)} line:10% align:center", text, ""]
    return "\n".join(parts)


def ttml(cue_list: Sequence[Cue], language: str) -> bytes:
    nsmap = {None: TTML_NS, "tts": TTS_NS, "ttp": TTP_NS}
    tt = etree.Element(f"{{{TTML_NS}}}tt", nsmap=nsmap)
    tt.set(f"{{{XML_NS}}}lang", language)
    tt.set(f"{{{TTP_NS}}}profile", IMSC1_TEXT_PROFILE)
    tt.set(f"{{{TTP_NS}}}timeBase", "media")
    tt.set(f"{{{TTP_NS}}}cellResolution", "32 15")
    head = etree.SubElement(tt, f"{{{TTML_NS}}}head")
    styling = etree.SubElement(head, f"{{{TTML_NS}}}styling")
    style = etree.SubElement(styling, f"{{{TTML_NS}}}style")
    style.set(f"{{{XML_NS}}}id", "caption")
    for key, value in (
        ("color", "#FFFFFF"),
        ("backgroundColor", "#000000E0"),
        ("fontFamily", "proportionalSansSerif"),
        ("fontSize", "100%"),
        ("textAlign", "center"),
        ("lineHeight", "125%"),
    ):
        style.set(f"{{{TTS_NS}}}{key}", value)
    layout = etree.SubElement(head, f"{{{TTML_NS}}}layout")
    region = etree.SubElement(layout, f"{{{TTML_NS}}}region")
    region.set(f"{{{XML_NS}}}id", "top")
    region.set(f"{{{TTS_NS}}}origin", "10% 5%")
    region.set(f"{{{TTS_NS}}}extent", "80% 20%")
    region.set(f"{{{TTS_NS}}}displayAlign", "before")
    body = etree.SubElement(tt, f"{{{TTML_NS}}}body", style="caption", region="top")
    div = etree.SubElement(body, f"{{{TTML_NS}}}div")
    for cue in cue_list:
        p = etree.SubElement(div, f"{{{TTML_NS}}}p", begin=_ts(cue.start_s), end=_ts(cue.end_s))
        p.set(f"{{{XML_NS}}}lang", cue.language)
        p.text = cue.lines[0]
        for line in cue.lines[1:]:
            br = etree.SubElement(p, f"{{{TTML_NS}}}br")
            br.tail = line
    return bytes(etree.tostring(tt, xml_declaration=True, encoding="UTF-8", pretty_print=True))


def by_language(utterances: Sequence[Utterance]) -> dict[str, list[Utterance]]:
    groups: dict[str, list[Utterance]] = {}
    for utt in utterances:
        groups.setdefault(utt.language, []).append(utt)
    return groups
