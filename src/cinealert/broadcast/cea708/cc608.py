"""CEA-608 CC1 pop-on captions, the "608 compatibility bytes" of A/53 ``cc_data`` (``cc_type`` 0, field 1).

Pop-on mode (RCL/ENM, PACs, text, EOC; EDM when a caption ends before the next one), control codes doubled,
bytes with odd parity, at the 608 rate of one byte pair per 1/29.97 s. The region is the top of the picture
(rows 1-4, centred): the lower third carries the burned-in overlay. 608's character set is Latin only (basic
set plus the Spanish/French/Portuguese/German extended sets): a stray character 608 cannot draw is replaced by
its base letter (``ő`` -> ``o``) or typographic stand-in (``…`` -> ``...``) and dropped when there is none.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from fractions import Fraction

import structlog

from cinealert.broadcast.captions import Cue
from cinealert.errors import CinealertError

log = structlog.get_logger(__name__)

#: CEA-608 carries one byte pair per field per NTSC frame, whatever the video frame rate.
CC608_RATE = Fraction(30000, 1001)
#: Screen geometry of a 608 caption: 15 rows of 32 columns.
COLUMNS = 32
MAX_ROWS = 4
TOP_ROW = 1
#: A caption stays on screen at least this long, even when it could only be loaded late.
MIN_DISPLAY_S = 1.0

Pair = tuple[int, int]

# --- CEA-608 codes (channel 1 on field 1: data channel 1) -----------------------------------------------------

RCL: Pair = (0x14, 0x20)  # resume caption loading: pop-on mode
EDM: Pair = (0x14, 0x2C)  # erase displayed memory
ENM: Pair = (0x14, 0x2E)  # erase non-displayed memory
EOC: Pair = (0x14, 0x2F)  # end of caption: swap memories, the loaded caption appears
NULL: Pair = (0x00, 0x00)

#: Row -> (first byte, second-byte base) of a preamble address code (CEA-608 Table 53, channel 1).
_PAC_ROWS: dict[int, Pair] = {
    1: (0x11, 0x40), 2: (0x11, 0x60), 3: (0x12, 0x40), 4: (0x12, 0x60), 5: (0x15, 0x40),
    6: (0x15, 0x60), 7: (0x16, 0x40), 8: (0x16, 0x60), 9: (0x17, 0x40), 10: (0x17, 0x60),
    11: (0x10, 0x40), 12: (0x13, 0x40), 13: (0x13, 0x60), 14: (0x14, 0x40), 15: (0x14, 0x60),
}  # fmt: skip

#: The basic set is ASCII except for these code points.
_BASIC_SWAPS = {
    0x2A: "á", 0x5C: "é", 0x5E: "í", 0x5F: "ó", 0x60: "ú", 0x7B: "ç", 0x7C: "÷", 0x7D: "Ñ", 0x7E: "ñ", 0x7F: "█",
}  # fmt: skip
BASIC: dict[str, int] = {chr(b): b for b in range(0x20, 0x80) if b not in _BASIC_SWAPS}
BASIC.update({ch: b for b, ch in _BASIC_SWAPS.items()})

#: Special characters (``0x11 0x30-0x3F``): drawn in their own cell, no backspace.
SPECIAL: dict[str, Pair] = {
    ch: (0x11, 0x30 + i) for i, ch in enumerate("®°½¿™¢£♪à\u00a0èâêîôû") if ch != "\u00a0"
}
#: Extended characters (``0x12``/``0x13`` ``0x20-0x3F``): each replaces the basic character sent just before
#: it, which is what a receiver without the extended sets shows instead.
_EXT_12 = "ÁÉÓÚÜü‘¡*’—©℠•“”ÀÂÇÈÊËëÎÏïÔÙùÛ«»"
_EXT_13 = "ÃãÍÌìÒòÕõ{}\\^_¦~ÄäÖöß¥¤|ÅåØø┌┐└┘"
EXTENDED: dict[str, Pair] = {ch: (0x12, 0x20 + i) for i, ch in enumerate(_EXT_12)}
EXTENDED.update({ch: (0x13, 0x20 + i) for i, ch in enumerate(_EXT_13)})
#: The basic character shown by receivers that lack the extended sets.
_EXT_FALLBACK = {
    "‘": "'", "’": "'", "—": "-", "“": '"', "”": '"', "«": '"', "»": '"', "¡": "!", "©": "c", "℠": "s", "•": ".",
    "{": "(", "}": ")", "\\": "/", "^": "'", "_": "-", "¦": "!", "~": "-", "|": "!", "¥": "Y", "¤": "$",
    "┌": "+", "┐": "+", "└": "+", "┘": "+", "ß": "s", "Ø": "O", "ø": "o", "*": ".",
}  # fmt: skip
#: Typography with no 608 code: a close stand-in.
_STAND_INS = {
    "–": "-", "‐": "-", "‑": "-", "−": "-", "…": "...", "′": "'", "″": '"', "„": '"', "‚": "'", "·": ".",
    "Æ": "AE", "æ": "ae", "Œ": "OE", "œ": "oe", "Ł": "L", "ł": "l", "Đ": "D", "đ": "d", "ı": "i", "Þ": "Th",
    "þ": "th", "ð": "d", "\u00a0": " ", "\t": " ", "\n": " ", "\r": " ", "\u3000": " ",
}  # fmt: skip


class CaptionError(ValueError, CinealertError):
    """Caption data cannot be built or placed (unsupported codec, malformed coded picture)."""


def odd_parity(byte: int) -> int:
    """The 7-bit code with bit 7 set so the byte has an odd number of ones (608 line-21 parity)."""
    byte &= 0x7F
    return byte | (0x80 if bin(byte).count("1") % 2 == 0 else 0)


def representable(ch: str) -> bool:
    return ch in BASIC or ch in SPECIAL or ch in EXTENDED


def to_608(text: str) -> str:
    """``text`` with every character 608 can draw kept, others replaced by a stand-in or dropped."""
    out: list[str] = []
    for ch in text:
        if representable(ch):
            out.append(ch)
        elif ch in _STAND_INS:
            out.append(_STAND_INS[ch])
        else:
            base = "".join(c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c))
            out.append("".join(c for c in base if representable(c)))
    return " ".join("".join(out).split())


def latin_share(text: str) -> float:
    """Share of the letters in ``text`` that 608 can show (itself or its base letter): 1.0 for English."""
    letters = [ch for ch in text if ch.isalpha()]
    if not letters:
        return 1.0
    return sum(1 for ch in letters if to_608(ch)) / len(letters)


def text_pairs(line: str) -> list[list[Pair]]:
    """Transmission units for one line of 608-representable text: basic characters two to a pair; special and
    extended characters as doubled control-style pairs (an extended one after its basic fallback)."""
    units: list[list[Pair]] = []
    pending: list[int] = []

    def flush() -> None:
        if pending:
            units.append([(pending[0], pending[1] if len(pending) > 1 else 0)])
            pending.clear()

    for ch in line:
        if ch in BASIC:
            pending.append(BASIC[ch])
            if len(pending) == 2:
                flush()
        elif ch in SPECIAL:
            flush()
            units.append([SPECIAL[ch]] * 2)
        elif ch in EXTENDED:
            pending.append(BASIC[_EXT_FALLBACK.get(ch, unicodedata.normalize("NFKD", ch)[0])])
            flush()
            units.append([EXTENDED[ch]] * 2)
        else:
            raise CaptionError(f"character {ch!r} is not in the CEA-608 set; pass the text through to_608()")
    flush()
    return units


def pac(row: int, indent: int) -> Pair:
    """Preamble address code: white text on ``row`` (1-15), cursor at column ``indent`` (multiple of 4)."""
    if row not in _PAC_ROWS or indent % 4 or not 0 <= indent <= 28:
        raise CaptionError(f"no preamble address code for row {row}, indent {indent}")
    hi, base = _PAC_ROWS[row]
    return hi, base + 0x10 + indent // 2


def popon_units(lines: Sequence[str], top_row: int = TOP_ROW) -> list[list[Pair]]:
    """Loading of one pop-on caption into non-displayed memory, each line centred (PAC indent plus tab
    offset). The caption appears only with the EOC that follows."""
    units: list[list[Pair]] = [[RCL, RCL], [ENM, ENM]]
    for i, line in enumerate(lines):
        column = (COLUMNS - len(line)) // 2
        units.append([pac(top_row + i, column // 4 * 4)] * 2)
        if column % 4:
            units.append([(0x17, 0x20 + column % 4)] * 2)  # TO1-TO3
        units += text_pairs(line)
    return units


def pages(cue: Cue) -> list[tuple[float, float, list[str]]]:
    """The cue as 608 captions of at most ``MAX_ROWS`` lines of 32 columns, timed in proportion to length."""
    text = to_608(" ".join(cue.lines))
    if not text:
        return []
    lines = textwrap.wrap(text, COLUMNS, break_on_hyphens=False)
    groups = [lines[i : i + MAX_ROWS] for i in range(0, len(lines), MAX_ROWS)]
    weights = [sum(len(line) for line in g) for g in groups]
    out: list[tuple[float, float, list[str]]] = []
    t = cue.start_s
    for group, weight in zip(groups, weights, strict=True):
        end = t + (cue.end_s - cue.start_s) * weight / sum(weights)
        out.append((t, end, group))
        t = end
    return out


def choose_language(cue_list: Sequence[Cue], language: str | None = None) -> str | None:
    """The language carried in 608: ``language`` if given, else English if present, else the first Latin one."""
    langs = list(dict.fromkeys(c.language for c in cue_list))
    if language is not None:
        return language if language in langs else None
    latin = [
        lang
        for lang in langs
        if latin_share(" ".join(" ".join(c.lines) for c in cue_list if c.language == lang)) >= 0.9
    ]
    english = [lang for lang in latin if lang.lower().split("-")[0] in ("en", "eng")]
    chosen = english or latin
    return chosen[0] if chosen else None


class _Slots:
    """608 byte-pair slots (one per 1/29.97 s) and what each carries."""

    def __init__(self) -> None:
        self.used: dict[int, Pair] = {}

    def place(self, unit: list[Pair], earliest: int) -> int:
        """Put ``unit`` in the first run of free consecutive slots at or after ``earliest``; its first slot."""
        s = earliest
        while any(s + i in self.used for i in range(len(unit))):
            s += 1
        for i, pair in enumerate(unit):
            self.used[s + i] = pair
        return s

    def place_all(self, units: Iterable[list[Pair]], earliest: int) -> int:
        """Place units in order; the slot after the last one."""
        s = earliest
        for unit in units:
            s = self.place(unit, s) + len(unit)
        return s


@dataclass(frozen=True, slots=True)
class Shown:
    """One 608 caption as scheduled: when it appears and disappears on a receiver (seconds)."""

    start_s: float
    end_s: float
    lines: tuple[str, ...]


class CaptionTrack:
    """Field-1 CEA-608 data for a programme, looked up per video frame.

    Loading starts as early as possible (right after the previous caption appeared), so each EOC can land on
    its cue's start; a caption that cannot be loaded in time appears late rather than being cut. Nothing is
    placed before ``first_frame``: frames already encoded cannot be changed.
    """

    def __init__(
        self,
        cue_list: Sequence[Cue],
        fps: Fraction,
        *,
        first_frame: int = 0,
        language: str | None = None,
    ) -> None:
        self.fps = Fraction(fps)
        self.language = choose_language(cue_list, language)
        self.skipped = tuple(
            lang for lang in dict.fromkeys(c.language for c in cue_list) if lang != self.language
        )
        self._slots = _Slots()
        self.shown: list[Shown] = []
        chosen = sorted((c for c in cue_list if c.language == self.language), key=lambda c: c.start_s)
        self._schedule([page for cue in chosen for page in pages(cue)], self._first_slot(first_frame))

    def _first_slot(self, frame: int) -> int:
        return math.floor(frame * CC608_RATE / self.fps)

    def _schedule(self, captions: list[tuple[float, float, list[str]]], cursor: int) -> None:
        slots = self._slots
        min_display = round(MIN_DISPLAY_S * CC608_RATE)
        prev_end: int | None = None
        appear: list[tuple[int, tuple[str, ...]]] = []
        for start_s, end_s, lines in captions:
            start = max(cursor, round(start_s * CC608_RATE))
            if prev_end is not None and prev_end < start:
                slots.place([EDM, EDM], prev_end)  # a gap: clear the screen when the previous cue ends
            loaded = slots.place_all(popon_units(lines), cursor)
            shown = slots.place([EOC, EOC], max(start, loaded))
            cursor = shown + 2
            prev_end = max(round(end_s * CC608_RATE), shown + min_display)
            appear.append((shown, tuple(lines)))
        if prev_end is not None:
            slots.place([EDM, EDM], prev_end)
        # What a receiver shows: each caption from its EOC to the next EDM or EOC.
        clears = sorted(
            s for s, pair in slots.used.items() if pair in (EDM, EOC) and slots.used.get(s - 1) != pair
        )
        for shown, text in appear:
            end = next(s for s in clears if s > shown)
            self.shown.append(Shown(float(shown / CC608_RATE), float(end / CC608_RATE), text))

    def pairs(self, frame: int) -> list[Pair]:
        """The 608 byte pairs (parity applied) sent with video frame ``frame``: one per frame at 29.97 fps."""
        lo, hi = self._first_slot(frame), self._first_slot(frame + 1)
        return [
            (odd_parity(a), odd_parity(b)) for a, b in (self._slots.used.get(s, NULL) for s in range(lo, hi))
        ]
