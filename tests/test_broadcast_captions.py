"""Captions: IMSC1 TTML parsed with lxml, WebVTT with a small independent parser, both timed to the speech."""

from __future__ import annotations

import itertools
import re

from lxml import etree

from cinealert.broadcast.audio import Utterance
from cinealert.broadcast.captions import IMSC1_TEXT_PROFILE, cells, cues, ttml, webvtt

UTTS = [
    Utterance("ko-KR", "headline", "제주도 태풍경보 발효", 2.0, 4.5),
    Utterance(
        "ko-KR",
        "instruction",
        "해안가 접근을 금지하고 실내에 머무르십시오. 저지대 주민은 대피소로 이동하고 창문에서 멀리 떨어지십시오.",
        4.85,
        12.0,
    ),
]
TTML = "{http://www.w3.org/ns/ttml}"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"


def parse_vtt(text: str) -> list[tuple[float, float, str]]:
    def secs(stamp: str) -> float:
        h, m, s = stamp.split(":")
        return int(h) * 3600 + int(m) * 60 + float(s)

    assert text.startswith("WEBVTT\n")
    out = []
    for block in text.strip().split("\n\n")[1:]:
        lines = block.split("\n")
        timing = next(i for i, line in enumerate(lines) if "-->" in line)
        m = re.match(r"(\d\d:\d\d:\d\d\.\d{3}) --> (\d\d:\d\d:\d\d\.\d{3})", lines[timing])
        assert m, lines[timing]
        out.append((secs(m.group(1)), secs(m.group(2)), "\n".join(lines[timing + 1 :])))
    return out


def test_cues_cover_each_utterance_exactly_with_short_lines() -> None:
    cue_list = cues(UTTS)
    assert cue_list[0].start_s == 2.0 and cue_list[0].end_s == 4.5
    instr = [c for c in cue_list if c.start_s >= 4.85]
    assert len(instr) >= 2  # a long utterance is split, never a paragraph on screen
    assert instr[0].start_s == 4.85
    assert abs(instr[-1].end_s - 12.0) < 1e-9
    for a, b in itertools.pairwise(instr):
        assert abs(a.end_s - b.start_s) < 1e-9
    for cue in cue_list:
        assert 1 <= len(cue.lines) <= 2
        assert all(cells(line) <= 37 for line in cue.lines)
    spoken = " ".join(u.text for u in UTTS).split()
    shown = " ".join(line for c in cue_list for line in c.lines).split()
    assert shown == spoken


def test_webvtt_parses_and_matches_the_cues() -> None:
    cue_list = cues(UTTS)
    parsed = parse_vtt(webvtt(cue_list))
    assert len(parsed) == len(cue_list)
    for (start, end, text), cue in zip(parsed, cue_list, strict=True):
        assert abs(start - cue.start_s) < 0.001 and abs(end - cue.end_s) < 0.001
        assert text == "\n".join(cue.lines)


def test_ttml_is_imsc1_text_profile_and_matches_the_vtt() -> None:
    cue_list = cues(UTTS)
    doc = etree.fromstring(ttml(cue_list, "ko-KR"))
    assert doc.tag == f"{TTML}tt"
    assert doc.get("{http://www.w3.org/ns/ttml#parameter}profile") == IMSC1_TEXT_PROFILE
    assert doc.get(XML_LANG) == "ko-KR"
    regions = doc.findall(f"{TTML}head/{TTML}layout/{TTML}region")
    assert (
        regions and regions[0].get("{http://www.w3.org/ns/ttml#styling}origin") == "10% 5%"
    )  # top, clear of overlay
    ps = doc.findall(f".//{TTML}p")
    vtt = parse_vtt(webvtt(cue_list))
    assert len(ps) == len(vtt)
    for p, (start, end, text) in zip(ps, vtt, strict=True):
        assert p.get("begin") == f"00:00:{start:06.3f}"
        assert p.get("end") == f"00:00:{end:06.3f}"
        assert p.get(XML_LANG) == "ko-KR"
        assert "\n".join(p.itertext()) == text  # <br/> splits lines exactly like the VTT
