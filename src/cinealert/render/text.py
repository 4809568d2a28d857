"""Fonts and line breaking for the burned-in overlay.

Korean is set in Noto Sans CJK (Debian ``fonts-noto-cjk``), which also carries Latin, so one face serves every
language we show. Line breaking follows how Korean and English are actually broken on screen: at spaces
between words (eojeol) first; a word wider than the line is split between grapheme clusters (a Hangul
syllable block, or a base character with its combining marks, is never split), and in Latin script the split
is marked with a hyphen.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import unicodedata
from collections.abc import Callable
from pathlib import Path

from PIL import ImageFont, features

KNOWN_FONTS: tuple[tuple[Path, int], ...] = (
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc"), 1),  # index 1 = Noto Sans CJK KR
    (Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 1),
    (Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Bold.ttc"), 1),
)
FONT_QUERY = "Noto Sans CJK KR:style=Bold"


class FontNotFoundError(RuntimeError):
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
    """Code points that belong to the cluster before them: combining marks, ZWJ, variation selectors, V/T jamo."""
    cp = ord(ch)
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Mc"):
        return True
    if ch == _ZWJ or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
        return True
    # Hangul conjoining jamo: medial vowels and final consonants attach to the preceding initial/syllable.
    return 0x1160 <= cp <= 0x11FF or 0xD7B0 <= cp <= 0xD7FF


def graphemes(text: str) -> list[str]:
    """Split into user-perceived characters (simplified UAX #29: enough for Hangul, Latin and marks)."""
    clusters: list[str] = []
    for ch in unicodedata.normalize("NFC", text):
        if clusters and (_extends(ch) or clusters[-1].endswith(_ZWJ)):
            clusters[-1] += ch
        else:
            clusters.append(ch)
    return clusters


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
