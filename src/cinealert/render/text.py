"""Fonts and line breaking for the burned-in overlay.

Korean is set in Noto Sans CJK (Debian ``fonts-noto-cjk``), which also carries Latin, so one face serves every
language we show. Line breaking follows how Korean and English are actually broken on screen: at spaces
between words (eojeol) first; a word wider than the line is split between grapheme clusters (a Hangul
syllable block, or a base character with its combining marks, is never split), and in Latin script the split
is marked with a hyphen.

``bounded`` cuts text before any of that: a CAP message may carry up to ``cap.max_bytes`` (1 MiB) of text, far
more than a viewer can read or hear in a clip, and every step after it (shaping, wrapping, drawing, speech)
costs time and memory in proportion to the text. Lengths are counted in display cells, as captions count them
(a Hangul syllable, a CJK ideograph or a wide emoji is two cells, anything else one): a cell is about the same
time to read or to speak in Korean and in English, so one limit serves both languages.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
import unicodedata
from collections.abc import Callable
from pathlib import Path

from PIL import ImageFont, features

from cinealert.errors import CinealertError

KNOWN_FONTS: tuple[tuple[Path, int], ...] = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), 1),  # index 1 = Noto Sans CJK KR
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 1),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"), 1),
)
FONT_QUERY = "Noto Sans CJK KR:style=Bold"


class FontNotFoundError(RuntimeError, CinealertError):
    """No CJK-capable font: Korean would render as empty boxes, so we refuse to render at all."""


@functools.cache
def find_font() -> tuple[Path, int]:
    """Path and face index of the bold Korean Noto Sans CJK face (fontconfig first, then known paths)."""
    if shutil.which("fc-match"):
        try:
            out = subprocess.run(
                ["fc-match", "-f", "%{file}\t%{index}", FONT_QUERY],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
            name, _, face = out.partition("\t")
            path = Path(name)
            if "NotoSansCJK" in path.name and path.is_file():
                return path, int(face or 0)
        except (OSError, subprocess.SubprocessError, ValueError):
            pass
    for path, index in KNOWN_FONTS:
        if path.is_file():
            return path, index
    raise FontNotFoundError(
        "Noto Sans CJK (bold) not found: install the Debian package fonts-noto-cjk "
        "(apt-get install fonts-noto-cjk, or `make setup`); looked for "
        + ", ".join(str(p) for p, _ in KNOWN_FONTS)
    )


def layout_engine() -> ImageFont.Layout:
    """RAQM shapes complex scripts properly; BASIC is enough for precomposed Hangul and Latin."""
    return ImageFont.Layout.RAQM if features.check("raqm") else ImageFont.Layout.BASIC


@functools.lru_cache(maxsize=64)
def font(size: int) -> ImageFont.FreeTypeFont:
    path, index = find_font()
    return ImageFont.truetype(str(path), size=max(6, size), index=index, layout_engine=layout_engine())


def text_width(text: str, face: ImageFont.FreeTypeFont) -> float:
    return float(face.getlength(text))


# --- grapheme clusters --------------------------------------------------------------------------------------

_ZWJ = "\u200d"


def _extends(ch: str) -> bool:
    """Code points that belong to the cluster before them: combining marks, ZWJ, variation selectors, emoji
    skin-tone modifiers, V/T jamo."""
    cp = ord(ch)
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    if ch == _ZWJ or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF or 0x1F3FB <= cp <= 0x1F3FF:
        return True
    # Hangul conjoining jamo: medial vowels and final consonants attach to the preceding initial/syllable.
    return 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF


def _is_regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def graphemes(text: str) -> list[str]:
    """Split into user-perceived characters (simplified UAX #29: enough for Hangul, Latin, marks and emoji;
    regional indicators pair up into flags)."""
    clusters: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if clusters and (
            _extends(ch)
            or clusters[-1].endswith(_ZWJ)
            or (_is_regional(ch) and len(clusters[-1]) == 1 and _is_regional(clusters[-1]))
        ):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


def cluster_cells(cluster: str) -> int:
    """Display cells of one grapheme cluster: 2 for East Asian wide/fullwidth (Hangul, CJK, most emoji)."""
    return 2 if unicodedata.east_asian_width(cluster[0]) in ("W", "F") else 1


# --- bounding ---------------------------------------------------------------------------------------------

ELLIPSIS = "\u2026"
_WORD = re.compile(r"\S+")
#: Code points read per cell allowed: room for a base character with several marks, a ZWJ emoji sequence or a
#: flag, while a cluster stacking thousands of combining marks still cannot make the work unbounded.
_CODEPOINTS_PER_CELL = 8


def bounded(text: str, max_cells: int) -> str:
    """``text`` with whitespace runs (newlines too) collapsed to one space, cut to ``max_cells`` display cells.

    A cut text ends in an ellipsis (counted in the limit; a full stop or comma before it is dropped), after the
    last whole word when one ends in the last third of what fits, else between grapheme clusters (a 600 KB
    "word" without spaces is cut too). The work is bounded by the limit, not by ``text``: words are pulled one
    at a time until the limit is passed, and at most ``8 * max_cells`` code points are ever normalised or split
    into clusters. Text that fits comes back whitespace-collapsed and NFC-normalised, otherwise unchanged.
    """
    if max_cells < 2:
        raise ValueError(f"max_cells must leave room for a character and the ellipsis, got {max_cells}")
    budget = max_cells * _CODEPOINTS_PER_CELL
    words: list[str] = []
    used = 0
    more = False  # text beyond what was read
    for match in _WORD.finditer(text):
        if used >= budget:
            more = True
            break
        start = match.start()
        word = text[start : min(match.end(), start + budget - used)]
        if len(word) < match.end() - start:
            more = True
        words.append(word)
        used += len(word) + 1
    clusters = graphemes(" ".join(words))
    if more:
        clusters.pop()  # the last one may have lost marks at the code-point budget: never show half a cluster
    widths = [cluster_cells(c) for c in clusters]
    if not more and sum(widths) <= max_cells:
        return "".join(clusters)
    room = max_cells - cluster_cells(ELLIPSIS)
    keep, total = 0, 0
    for width in widths:
        if total + width > room:
            break
        total += width
        keep += 1
    for i in range(min(keep, len(clusters) - 1), max(0, keep * 2 // 3) - 1, -1):
        if i > 0 and clusters[i] == " ":
            keep = i  # end on a whole word when that costs at most a third of what fits
            break
    return "".join(clusters[:keep]).rstrip().rstrip(".,;:") + ELLIPSIS  # "residents…", not "residents.…"


def _is_hangul_or_cjk(cluster: str) -> bool:
    cp = ord(cluster[0])
    return (
        0xAC00 <= cp <= 0xD7A3 or 0x1100 <= cp <= 0x11FF or 0x3130 <= cp <= 0x318F or 0x4E00 <= cp <= 0x9FFF
    )


# --- line breaking -----------------------------------------------------------------------------------------


def _split_word(word: str, max_width: float, measure: Callable[[str], float]) -> list[str]:
    """Split one overlong word between grapheme clusters; Latin pieces end in a hyphen, Hangul ones do not."""
    pieces: list[str] = []
    current = ""
    for cluster in graphemes(word):
        candidate = current + cluster
        hyphen = "" if _is_hangul_or_cjk(cluster) else "-"
        if current and measure(candidate + hyphen) > max_width:
            tail_hyphen = "" if _is_hangul_or_cjk(current[-1]) or not cluster.isalnum() else "-"
            pieces.append(current + tail_hyphen)
            current = cluster
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def wrap(text: str, max_width: float, measure: Callable[[str], float]) -> list[str]:
    """Greedy line fill at spaces; words wider than ``max_width`` are split between grapheme clusters."""
    lines: list[str] = []
    current = ""
    for word in unicodedata.normalize("NFC", text).split():
        candidate = f"{current} {word}" if current else word
        if measure(candidate) <= max_width:
            current = candidate
            continue
        if current:
            lines.append(current)
            current = ""
        if measure(word) <= max_width:
            current = word
        else:
            *full, current = _split_word(word, max_width, measure)
            lines.extend(full)
    if current:
        lines.append(current)
    return lines


def fit_lines(text: str, face: ImageFont.FreeTypeFont, max_width: float, max_lines: int) -> list[str] | None:
    """The wrapped lines if they fit in ``max_lines``, else None (the caller moves the text to the crawl)."""
    lines = wrap(text, max_width, lambda s: text_width(s, face))
    return lines if len(lines) <= max_lines else None
