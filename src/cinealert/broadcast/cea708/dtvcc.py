"""CEA-708 DTVCC caption services: one service per language of the alert, timed to that language's cues.

The DTVCC transport (CEA-708-E section 5): caption channel packets, each a header byte (``sequence_number``, 2
bits, +1 mod 4 per packet; ``packet_size_code``, 6 bits: the packet is ``2 * code`` bytes, header included)
then service blocks (a header byte: ``service_number`` 3 bits, ``block_size`` 5 bits, at most 31 bytes; service
numbers 7-63 with an extended header byte), a 0x00 null block header padding the packet to an even length.
The packet rides in the ``cc_data`` triplets of the pictures, ``cc_type`` 3 for its first two bytes and 2 for
the rest. Here a packet never spans pictures: each picture whose frame has something due carries one packet
in the DTVCC triplets it has after the 608 ones (18 a picture at 29.97 fps: at most 36 bytes, 8.6 kbit/s).

Each caption (a cue, its lines as in the WebVTT/TTML files) is shown pop-on style with two windows per
service, like 608's two memories: while window ``w`` shows, the next caption is loaded into the other, hidden
one (DefineWindow hidden, ClearWindows, SetPenLocation, SetWindowAttributes, SetPenAttributes, SetPenColor,
the text, CR between lines); at its cue's start DisplayWindows shows it and HideWindows hides the one before,
in one command group in one picture; HideWindows at a cue end followed by a gap; DeleteWindows after the last.
Windows sit at the top of the picture, centred (anchor point top-centre on the 16:9 grid), out of the way of
the burned-in lower third; rows and columns fit the caption; white proportional sans-serif on solid black.

Characters: G0 (ASCII; 0x7F is the music note) and G1 (Latin-1) directly; the G2 typographic set (curly
quotes, ellipsis, bullet, ™, Œ, Š, ...) after EXT1 (0x10). Other characters go as 16-bit codes with the C0
command P16 (0x18, then two bytes), in the national code of the service's language: Korean services carry
Hangul (and the rest of KS X 1001: hanja, CJK punctuation) as KS X 1001 (KS C 5601) code points, the EUC-KR
byte pairs, as Korean terrestrial captioning (TTA, on CEA-708) does, and the PMT's caption service descriptor
says so (``korean_code``). Japanese (JIS X 0208) and Chinese (GB 2312) would take the same P16 route with their
national code, but no broadcast practice for them over CEA-708 is known here, so they are not implemented: a
character no set of its service can carry is replaced by a stand-in (its base letter, ``…`` -> ``...``) or
dropped, and the drops are counted and logged; a language left with no text at all gets no service.
"""

from __future__ import annotations

import textwrap
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from cinealert.broadcast.captions import Cue, cells
from cinealert.broadcast.cea708.cc608 import _STAND_INS, MIN_DISPLAY_S

# --- codes (CEA-708-E section 7) ------------------------------------------------------------------------------

ETX, BS, CR, EXT1, P16 = 0x03, 0x08, 0x0D, 0x10, 0x18
CLW, DSW, HDW, TGW, DLW = 0x88, 0x89, 0x8A, 0x8B, 0x8C
SPA, SPC, SPL, SWA, DF0 = 0x90, 0x91, 0x92, 0x97, 0x98

#: G2 (after EXT1): the characters of the set that G0/G1 lack.
G2: dict[str, int] = {
    "…": 0x25, "Š": 0x2A, "Œ": 0x2C, "█": 0x30, "‘": 0x31, "’": 0x32, "“": 0x33, "”": 0x34, "•": 0x35,
    "™": 0x39, "š": 0x3A, "œ": 0x3C, "℠": 0x3D, "Ÿ": 0x3F, "⅛": 0x76, "⅜": 0x77, "⅝": 0x78, "⅞": 0x79,
    "│": 0x7A, "┐": 0x7B, "└": 0x7C, "─": 0x7D, "┘": 0x7E, "┌": 0x7F,
}  # fmt: skip
MUSIC_NOTE = "♪"  # G0 0x7F

#: Language (primary subtag) -> the Python codec giving the 16-bit national code its service carries with P16.
P16_CODECS = {"ko": "euc_kr"}  # KS X 1001 (KS C 5601), the EUC-KR byte pairs

#: Service block payload limit (5-bit ``block_size``) and the largest packet (``packet_size_code`` 0).
BLOCK_MAX = 31
PACKET_MAX = 128
#: A 16:9 window may be 42 columns wide; 15 rows of the 75-row anchor grid.
MAX_COLUMNS = 42
MAX_ROWS = 4
#: Anchor: top-centre (anchor point 1) of a window at the top of the safe title area, horizontally centred on
#: the 16:9 grid (horizontal 0-209).
ANCHOR_POINT = 1
ANCHOR_V = 0
ANCHOR_H = 105


def primary(language: str) -> str:
    return language.strip().lower().replace("_", "-").split("-")[0]


def p16_codec(language: str) -> str | None:
    return P16_CODECS.get(primary(language))


def char_units(ch: str, codec: str | None) -> list[bytes] | None:
    """The DTVCC bytes for one character, or ``None`` when no set of the service has it."""
    code = ord(ch)
    if 0x20 <= code <= 0x7E:
        return [bytes([code])]
    if ch == MUSIC_NOTE:
        return [b"\x7f"]
    if 0xA0 <= code <= 0xFF:
        return [bytes([code])]
    if ch in G2:
        return [bytes([EXT1, G2[ch]])]
    if codec is not None:
        try:
            pair = ch.encode(codec)
        except UnicodeEncodeError:
            pair = b""
        if len(pair) == 2 and pair[0] >= 0xA1 and pair[1] >= 0xA1:
            return [bytes([P16]) + pair]
    return None


def text_units(text: str, language: str) -> tuple[list[bytes], int]:
    """``text`` as DTVCC character units (each one character: a G0/G1 byte, EXT1 + G2, or P16 + two bytes),
    stand-ins for what no set carries, and the number of characters dropped."""
    codec = p16_codec(language)
    units: list[bytes] = []
    dropped = 0
    for ch in text:
        got = char_units(ch, codec)
        if got is None:
            stand_in = _STAND_INS.get(ch)
            if stand_in is None:
                stand_in = "".join(
                    c for c in unicodedata.normalize("NFKD", ch) if not unicodedata.combining(c)
                )
            got = [u for c in stand_in if c != ch for u in (char_units(c, codec) or [])]
            if not got:
                dropped += 1
        units += got
    return units, dropped


def decode_units(units: Sequence[bytes], language: str) -> str:
    """The text of ``text_units`` (what a receiver draws): for tests and logs."""
    codec = p16_codec(language) or "latin-1"
    g2 = {v: k for k, v in G2.items()}
    out = []
    for u in units:
        if u[0] == P16:
            out.append(u[1:].decode(codec))
        elif u[0] == EXT1:
            out.append(g2[u[1]])
        elif u == b"\x7f":
            out.append(MUSIC_NOTE)
        else:
            out.append(u.decode("latin-1"))
    return "".join(out)


# --- commands -------------------------------------------------------------------------------------------------


def define_window(window: int, rows: int, columns: int, *, visible: bool = False) -> bytes:
    """DefineWindow (DF0-DF7): row and column lock on, priority 0, anchored top-centre at the top of the
    picture; window and pen style 0 (the attributes follow explicitly)."""
    if not (0 <= window <= 7 and 1 <= rows <= 15 and 1 <= columns <= MAX_COLUMNS):
        raise ValueError(f"no window {window} of {rows} rows x {columns} columns")
    return bytes([
        DF0 + window,
        (int(visible) << 5) | (1 << 4) | (1 << 3) | 0,  # visible, row lock, column lock, priority
        (0 << 7) | ANCHOR_V,  # relative_positioning 0, anchor vertical
        ANCHOR_H,
        (ANCHOR_POINT << 4) | (rows - 1),
        columns - 1,
        0x00,  # window style 0, pen style 0
    ])  # fmt: skip


#: SetWindowAttributes: solid black fill, no border, no word wrap, left-to-right print, bottom-to-top scroll,
#: centred, snap display effect.
WINDOW_ATTRIBUTES = bytes([SWA, 0x00, 0x00, (0 << 6) | (0 << 4) | (3 << 2) | 2, 0x00])
#: SetPenAttributes: dialog tag, normal offset, standard size; no italics/underline, no edge, proportional
#: sans-serif (font style 4).
PEN_ATTRIBUTES = bytes([SPA, (0 << 4) | (1 << 2) | 1, 4])
#: SetPenColor: white foreground, black background, both solid; edge black.
PEN_COLOR = bytes([SPC, 0x2A, 0x00, 0x00])


def window_bits(*windows: int) -> int:
    return sum(1 << w for w in set(windows))


def layout(cue: Cue, language: str) -> tuple[list[list[bytes]], int, int]:
    """The caption's lines as character units (re-wrapped only when a line is wider than a window may be),
    its window size (rows, columns: cells, a wide character counted twice), and the characters dropped."""
    lines: list[str] = []
    for line in cue.lines:
        if cells(line) <= MAX_COLUMNS:
            lines.append(line)
        else:
            width = MAX_COLUMNS if cells(line) == len(line) else MAX_COLUMNS // 2
            lines += textwrap.wrap(line, width, break_on_hyphens=False)
    out: list[list[bytes]] = []
    dropped = 0
    for line in lines[:MAX_ROWS]:
        units, lost = text_units(line, language)
        dropped += lost
        if units:
            out.append(units)
    dropped += sum(len(line) for line in lines[MAX_ROWS:])
    columns = max((cells(decode_units(u, language)) for u in out), default=1)
    return out, dropped, min(MAX_COLUMNS, max(1, columns))


def load_commands(window: int, lines: Sequence[Sequence[bytes]], columns: int) -> list[bytes]:
    """The units loading one caption into hidden ``window``: each a command with its parameters or one
    character, so no unit is split across service blocks."""
    units = [
        define_window(window, len(lines), columns),
        bytes([CLW, window_bits(window)]),
        bytes([SPL, 0, 0]),
        WINDOW_ATTRIBUTES,
        PEN_ATTRIBUTES,
        PEN_COLOR,
    ]
    for i, line in enumerate(lines):
        if i:
            units.append(bytes([CR]))
        units += line
    return units


# --- services and their schedule ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Service:
    number: int  # caption service number, 1-63
    language: str  # the CAP/BCP 47 tag of its cues


@dataclass(frozen=True, slots=True)
class Shown:
    """One caption as a receiver shows it (seconds): from its DisplayWindows to the next one or its hide."""

    service: int
    start_s: float
    end_s: float
    text: str


@dataclass(slots=True)
class _Unit:
    seq: int
    service: int
    data: bytes


@dataclass(slots=True)
class _Frame:
    units: list[_Unit] = field(default_factory=list)


def block_header(service: int, size: int) -> bytes:
    if service < 7:
        return bytes([(service << 5) | size])
    return bytes([(7 << 5) | size, service & 0x3F])


def service_blocks(service: int, units: Sequence[bytes]) -> bytes:
    """Units of one service as service blocks of at most 31 bytes, never splitting a unit."""
    out = bytearray()
    block = bytearray()
    for u in units:
        if len(block) + len(u) > BLOCK_MAX:
            out += block_header(service, len(block)) + block
            block = bytearray()
        block += u
    if block:
        out += block_header(service, len(block)) + block
    return bytes(out)


def packet_body(units: Sequence[_Unit]) -> bytes:
    """The service blocks of one packet: each service's units in their order, services in number order."""
    body = bytearray()
    for service in sorted({u.service for u in units}):
        body += service_blocks(
            service, [u.data for u in sorted(units, key=lambda u: u.seq) if u.service == service]
        )
    return bytes(body)


def packet(sequence: int, body: bytes) -> bytes:
    """A caption channel packet: header, the blocks, a null block header if needed for an even length."""
    data = bytes([0]) + body
    if len(data) % 2:
        data += b"\x00"
    if len(data) > PACKET_MAX:
        raise ValueError(f"caption channel packet of {len(data)} bytes")
    size_code = 0 if len(data) == PACKET_MAX else len(data) // 2
    return bytes([((sequence & 3) << 6) | size_code]) + data[1:]


class DtvccTrack:
    """The DTVCC services of a programme, scheduled per video frame into at most ``triplets`` cc_data triplets
    a picture (one caption channel packet a picture). Nothing is placed before ``first_frame``."""

    def __init__(
        self,
        services: Sequence[Service],
        cue_list: Sequence[Cue],
        fps: Fraction,
        triplets: int,
        *,
        first_frame: int = 0,
    ) -> None:
        self.fps = Fraction(fps)
        self.capacity = 2 * triplets  # bytes a packet may have
        self.first_frame = first_frame
        self.shown: list[Shown] = []
        self.dropped: dict[int, int] = {}
        self.services: list[Service] = []
        self._frames: dict[int, _Frame] = {}
        self._seq = 0
        # Loads may leave room in every packet for the services' timed commands (DisplayWindows + HideWindows
        # in a block of its own: 5 bytes), so a show lands on its frame even while another service loads.
        self._load_limit = max(self.capacity - 5 * len(services), min(self.capacity, 10))
        for service in services:
            cues = sorted((c for c in cue_list if c.language == service.language), key=lambda c: c.start_s)
            if self._schedule(service, cues):
                self.services.append(service)
        self._packets: dict[int, bytes] = {}
        for n, frame in enumerate(sorted(self._frames)):
            self._packets[frame] = packet(n, packet_body(self._frames[frame].units))

    def _frame_of(self, seconds: float) -> int:
        return round(seconds * self.fps)

    def _fits(self, frame: int, unit: _Unit, limit: int) -> bool:
        units = self._frames[frame].units if frame in self._frames else []
        size = 1 + len(packet_body([*units, unit]))
        return size + size % 2 <= limit

    def _place(self, data: bytes, service: int, earliest: int, *, load: bool = False) -> int:
        """Put one unit in the first frame at or after ``earliest`` with room; that frame."""
        self._seq += 1
        unit = _Unit(self._seq, service, data)
        frame = max(earliest, self.first_frame)
        while not self._fits(frame, unit, self._load_limit if load else self.capacity):
            frame += 1
        self._frames.setdefault(frame, _Frame()).units.append(unit)
        return frame

    def _place_all(self, units: Sequence[bytes], service: int, earliest: int) -> int:
        frame = earliest
        for data in units:
            frame = self._place(data, service, frame, load=True)
        return frame

    def _schedule(self, service: Service, cues: Sequence[Cue]) -> bool:
        captions = []
        dropped = 0
        for cue in cues:
            lines, lost, columns = layout(cue, service.language)
            dropped += lost
            if lines:
                captions.append((cue, lines, columns))
        self.dropped[service.number] = dropped
        if not captions:
            return False
        number = service.number
        min_display = round(MIN_DISPLAY_S * self.fps)
        load_from = self.first_frame
        shown: list[tuple[int, int, str]] = []  # (show frame, end frame, text)
        showing = False  # the previous caption is still up (no hide sent): the next show hides it
        for i, (cue, lines, columns) in enumerate(captions):
            window = i % 2
            loaded = self._place_all(load_commands(window, lines, columns), number, load_from)
            command = bytes([DSW, window_bits(window)])
            if showing:
                command += bytes([HDW, window_bits(1 - window)])
            show = self._place(command, number, max(loaded, self._frame_of(cue.start_s)))
            if showing:
                shown[-1] = (shown[-1][0], show, shown[-1][2])
            end = max(self._frame_of(cue.end_s), show + min_display)
            text = "\n".join(decode_units(line, service.language) for line in lines)
            shown.append((show, end, text))
            showing = False
            if i + 1 == len(captions):
                shown[-1] = (show, self._place(bytes([DLW, window_bits(0, 1)]), number, end), text)
            elif self._frame_of(captions[i + 1][0].start_s) > end:
                shown[-1] = (show, self._place(bytes([HDW, window_bits(window)]), number, end), text)
            else:
                showing = True
            load_from = show
        for start, end, text in shown:
            self.shown.append(Shown(number, float(start / self.fps), float(end / self.fps), text))
        return True

    def triplets(self, frame: int) -> list[tuple[int, int, int]]:
        """The valid DTVCC triplets (``cc_type`` 3 then 2, the two bytes) of picture ``frame``."""
        data = self._packets.get(frame)
        if data is None:
            return []
        return [(3 if i == 0 else 2, data[i], data[i + 1]) for i in range(0, len(data), 2)]

    def bytes_sent(self) -> int:
        return sum(len(p) for p in self._packets.values())
