"""A/53 closed captions in the coded video: CEA-608 pop-on captions carried in CEA-708 ``cc_data``.

Why this exists: US broadcast (ATSC 1.0) needs captions inside the video elementary stream, and FFmpeg has no
608/708 encoder while PyAV's frame side data is read-only. So the ``cc_data`` is built here and spliced into
each coded picture as the encoder hands it out:

* H.264 (A/72): an SEI NAL unit (``user_data_registered_itu_t_t35``: country 0xB5, provider 0x0031, ``GA94``,
  type 0x03) placed before the access unit's first slice, with emulation prevention applied.
* MPEG-2 video (A/53 main): picture user data (``0x000001B2`` ``GA94`` 0x03) after the picture header and its
  extensions, before the first slice.

What is carried: one language as CEA-608 CC1 on field 1 (``cc_type`` 0, the "608 compatibility bytes"), in
pop-on mode (RCL/ENM, PACs, text, EOC; EDM when a caption ends before the next one), control codes doubled,
bytes with odd parity, at the 608 rate of one byte pair per 1/29.97 s. The region is the top of the picture
(rows 1-4, centred): the lower third carries the burned-in overlay. Field 2 and the DTVCC (708 service)
slots are present but marked invalid (``cc_valid`` 0), keeping ``cc_count`` at the A/53 rate (20 at 29.97).

Other scripts: 608's character set is Latin only (basic set plus the Spanish/French/Portuguese/German
extended sets). The carried language is English when the alert has it, else the first language whose text is
Latin. Languages in other scripts (Korean, Chinese, Japanese, Arabic, ...) are not carried in the video:
they stay in the WebVTT/TTML sidecars; ``CaptionTrack.skipped`` names them so the caller can log it. A
stray character 608 cannot draw is replaced by its base letter (``ő`` -> ``o``) or typographic stand-in
(``…`` -> ``...``) and dropped when there is none.
"""

from __future__ import annotations

import math
import textwrap
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

import structlog

from cinealert.broadcast.captions import Cue

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


class CaptionError(ValueError):
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

    def cc_data(self, frame: int) -> bytes:
        return cc_data(self.pairs(frame), cc_count_for(self.fps))


# --- A/53 cc_data and its carriage ----------------------------------------------------------------------------


def cc_count_for(fps: Fraction) -> int:
    """A/53 / CEA-708 ``cc_count`` per picture: 600 triplets a second (9600 bit/s DTVCC), 20 at 29.97 fps."""
    return max(2, min(31, round(600 / Fraction(fps))))


def cc_data(field1: Sequence[Pair], cc_count: int) -> bytes:
    """A/53 ``cc_data()``: header, the 608 field-1 triplets (``cc_type`` 0, valid), one invalid field-2
    triplet, then invalid DTVCC triplets up to ``cc_count`` (the constant 708 channel rate)."""
    if len(field1) + 1 > cc_count or cc_count > 31:
        raise CaptionError(f"cc_count {cc_count} cannot hold {len(field1)} field-1 pairs and field 2")
    out = bytearray([0xC0 | cc_count, 0xFF])  # reserved 1, process_cc_data_flag 1, zero 0, cc_count; em_data
    for a, b in field1:
        out += bytes([0xFC, a, b])  # marker 11111, cc_valid 1, cc_type 00 (608 field 1)
    out += bytes([0xF9, 0x80, 0x80])  # cc_valid 0, cc_type 01 (608 field 2): unused
    for _ in range(cc_count - len(field1) - 1):
        out += bytes([0xFA, 0x00, 0x00])  # cc_valid 0, cc_type 10 (DTVCC): padding
    return bytes(out)


def atsc_user_data(cc: bytes) -> bytes:
    """``ATSC_user_data()``: identifier ``GA94``, ``user_data_type_code`` 3, ``cc_data()``, marker bits."""
    return b"GA94\x03" + cc + b"\xff"


def add_emulation_prevention(rbsp: bytes) -> bytes:
    """NAL payload from RBSP: an 0x03 after every two zero bytes that precede a byte <= 3 (H.264 7.4.1)."""
    out = bytearray()
    zeros = 0
    for b in rbsp:
        if zeros >= 2 and b <= 3:
            out.append(3)
            zeros = 0
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def remove_emulation_prevention(payload: bytes) -> bytes:
    out = bytearray()
    zeros = 0
    for b in payload:
        if zeros >= 2 and b == 3:
            zeros = 0
            continue
        out.append(b)
        zeros = zeros + 1 if b == 0 else 0
    return bytes(out)


def _sei_number(value: int) -> bytes:
    """SEI payload type / size: 0xFF per 255, then the rest."""
    return b"\xff" * (value // 255) + bytes([value % 255])


def sei_t35_nal(user_data: bytes) -> bytes:
    """An H.264 SEI NAL unit (with 4-byte start code) holding one ``user_data_registered_itu_t_t35``
    message (payload type 4): country 0xB5 (USA), provider 0x0031 (ATSC), then ``user_data``."""
    payload = b"\xb5\x00\x31" + user_data
    rbsp = _sei_number(4) + _sei_number(len(payload)) + payload + b"\x80"  # rbsp_trailing_bits
    return b"\x00\x00\x00\x01\x06" + add_emulation_prevention(rbsp)


def start_codes(data: bytes) -> Iterator[int]:
    """Offsets of the ``00 00 01`` start code prefixes in an Annex B / MPEG-2 byte stream."""
    pos = data.find(b"\x00\x00\x01")
    while pos >= 0:
        yield pos
        pos = data.find(b"\x00\x00\x01", pos + 3)


def _with_zero_byte(data: bytes, prefix: int) -> int:
    return prefix - 1 if prefix > 0 and data[prefix - 1] == 0 else prefix


def insert_h264_sei(access_unit: bytes, sei_nal: bytes) -> bytes:
    """The access unit with ``sei_nal`` before its first VCL NAL unit (after AUD, SPS, PPS and any encoder SEI,
    so a buffering-period SEI stays first, as H.264 7.4.1.2.3 requires)."""
    for prefix in start_codes(access_unit):
        if prefix + 3 < len(access_unit) and 1 <= access_unit[prefix + 3] & 0x1F <= 5:
            at = _with_zero_byte(access_unit, prefix)
            return access_unit[:at] + sei_nal + access_unit[at:]
    raise CaptionError("H.264 access unit has no slice NAL unit to put the caption SEI before")


def insert_mpeg2_user_data(picture: bytes, user_data: bytes) -> bytes:
    """The coded picture with ``00 00 01 B2`` + ``user_data`` after the picture header and its extensions,
    before the first slice (ISO/IEC 13818-2 ``extension_and_user_data(2)``)."""
    if b"\x00\x00\x01" in user_data:
        raise CaptionError("MPEG-2 user data would emulate a start code")
    seen_picture = False
    for prefix in start_codes(picture):
        code = picture[prefix + 3] if prefix + 3 < len(picture) else -1
        if code == 0x00:
            seen_picture = True
        elif seen_picture and 0x01 <= code <= 0xAF:
            return picture[:prefix] + b"\x00\x00\x01\xb2" + user_data + picture[prefix:]
    raise CaptionError("MPEG-2 packet has no picture header followed by a slice")


# --- the encoder hook -----------------------------------------------------------------------------------------

_H264 = ("libx264", "h264", "libopenh264")
_MPEG2 = ("mpeg2video",)

Captions = Sequence[Cue] | Callable[[], Sequence[Cue]]


class CaptionInserter:
    """Rewrites each coded video packet with its picture's ``cc_data`` (before muxing).

    Every picture carries ``cc_data`` (null pairs when no caption is due), so the caption channel has its
    constant rate and a receiver detects it from the first picture. Until ``load()`` is called the pictures
    carry only null pairs: the speech (and so the cues) may not exist yet when the first segment is coded.
    """

    def __init__(self, codec: str, fps: Fraction) -> None:
        if codec not in _H264 + _MPEG2:
            raise CaptionError(f"no A/53 caption carriage for video codec {codec!r} (H.264 and MPEG-2 only)")
        self.codec = codec
        self.fps = Fraction(fps)
        self.track: CaptionTrack | None = None
        self._empty = cc_data([(0x80, 0x80)], cc_count_for(self.fps))

    def load(
        self, cue_list: Sequence[Cue], first_frame: int = 0, language: str | None = None
    ) -> CaptionTrack:
        track = CaptionTrack(cue_list, self.fps, first_frame=first_frame, language=language)
        log.info(
            "broadcast.cea608_captions", language=track.language, captions=len(track.shown),
            not_carried=",".join(track.skipped) or None, first_frame=first_frame,
        )  # fmt: skip
        self.track = track
        return track

    def cc_data(self, frame: int) -> bytes:
        return self._empty if self.track is None else self.track.cc_data(frame)

    def insert(self, data: bytes, frame: int) -> bytes:
        user_data = atsc_user_data(self.cc_data(frame))
        if self.codec in _MPEG2:
            return insert_mpeg2_user_data(data, user_data)
        return insert_h264_sei(data, sei_t35_nal(user_data))

    def rewrite(self, packet: Any) -> Any:
        """A new ``av.Packet`` with the caption data in, same timing, flags and stream."""
        import av

        if packet.pts is None or packet.time_base is None:
            raise CaptionError("video packet has no timestamp to match captions to")
        frame = round(packet.pts * packet.time_base * self.fps)
        out = av.Packet(self.insert(bytes(packet), frame))
        out.pts, out.dts, out.duration = packet.pts, packet.dts, packet.duration
        out.time_base = packet.time_base
        out.is_keyframe = packet.is_keyframe
        out.stream = packet.stream
        return out
