"""Burned-in alert overlay: a lower-third plate with severity band, pictogram, headline, instruction, area,
expiry time and a crawl for what does not fit.

Everything text-related is rendered once per alert (one static RGBA page per language), stored premultiplied in
8.8 fixed point, so the per-frame cost is a single integer alpha blend over the plate rows plus the crawl's
window. The crawl is drawn in tiles of ``_CRAWL_TILE`` columns as they scroll into view and kept in a small LRU
cache, so its memory follows the picture width, never the text's. The plate stays inside the 90 % title-safe
area and never above two thirds of the picture height; text colours are chosen for a WCAG contrast ratio >= 7:1
against their plate.

What is drawn is bounded first (``render.text.bounded``, in display cells: a Hangul syllable is two, a Latin
letter one; cut on a word or grapheme boundary with "…"). A CAP message may carry up to 1 MiB of text; a
viewer reads a crawl at about 8 cells a second (150 px/s at 1080p over ~18 px per cell). The full text stays in
the CAP message (and in the rich-media AEAT); this is only what is shown:

* headline ``HEADLINE_CELLS`` = 160: the CAP 1.2 guidance for headlines (two lines on the plate, the rest
  in the crawl);
* instruction ``INSTRUCTION_CELLS`` = 240: ~30 s of crawl, about as long as a long clip (every sample
  alert's instruction fits: the longest is 155);
* area ``AREA_CELLS`` = 160 and event ``EVENT_CELLS`` = 64 (the severity band ellipsizes it to its width).

The crawl thus holds at most ~580 cells (about 70 s per pass) however long the message. Speech is cut shorter
(``broadcast.audio.SPOKEN_CELLS``: 120 and 160), since the clip lasts as long as the speech.

Pages switch with the speech: while the Korean utterance plays the Korean page is on screen, and so on.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from cinealert.cap.model import Alert, DisasterType, Info
from cinealert.render.loop import Frame, Loop
from cinealert.render.pictogram import pictogram
from cinealert.render.text import ELLIPSIS, bounded, fit_lines, font, graphemes, text_width, wrap

RGB = tuple[int, int, int]

#: CAP severity -> (band colour, band text colour). Text/band pairs all have a contrast ratio >= 7:1.
SEVERITY_COLORS: dict[str, tuple[RGB, RGB]] = {
    "Extreme": ((170, 0, 0), (255, 255, 255)),
    "Severe": ((255, 140, 0), (0, 0, 0)),
    "Moderate": ((255, 214, 0), (0, 0, 0)),
    "Minor": ((55, 71, 79), (255, 255, 255)),
    "Unknown": ((55, 71, 79), (255, 255, 255)),
}
PLATE_RGB: RGB = (10, 10, 12)
#: Opaque by default: the best legibility (emergency text must read over fire, snow or glare alike), and the
#: per-frame work becomes a straight copy of the pre-rendered rows. Lower it for a translucent plate.
PLATE_ALPHA = 255
HEADLINE_RGB: RGB = (255, 255, 255)
INSTRUCTION_RGB: RGB = (255, 236, 150)
DETAIL_RGB: RGB = (220, 228, 236)

SEVERITY_LABELS: dict[str, dict[str, str]] = {
    "ko": {"Extreme": "위급", "Severe": "긴급", "Moderate": "주의", "Minor": "안내", "Unknown": "알림"},
    "en": {
        "Extreme": "EXTREME",
        "Severe": "SEVERE",
        "Moderate": "MODERATE",
        "Minor": "MINOR",
        "Unknown": "ALERT",
    },
}
_UNTIL = {"ko": "{t} 까지", "en": "until {t}"}
_AREA = {"ko": "지역: {a}", "en": "Area: {a}"}

#: Layout in units of picture height / 1080.
_PAD = 12
_BAND_H, _BAND_FONT = 50, 32
_HEAD_FONT, _HEAD_LINE = 64, 76
_INSTR_FONT, _INSTR_LINE = 40, 52
_AREA_FONT, _AREA_LINE = 32, 42
_CRAWL_FONT, _CRAWL_H = 36, 54
_CRAWL_PX_PER_S = 150.0
TITLE_SAFE = 0.05  # 90 % title-safe area: 5 % margin each side

#: Limits on what is drawn, in display cells (see the module docstring for why these numbers).
HEADLINE_CELLS = 160
INSTRUCTION_CELLS = 240
AREA_CELLS = 160
EVENT_CELLS = 64
_CRAWL_TILE = 256  # crawl columns drawn and cached together: a few per frame width
_CRAWL_RUN = 16  # grapheme clusters per drawn piece of a word longer than that
_CRAWL_CONTEXT = 3  # clusters either side of a cut measured together to place the next piece


class OverlayError(ValueError):
    """The alert cannot be laid out (no info block, or a picture too small to hold legible text)."""


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour given in 0..255."""

    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def severity_style(severity: str) -> tuple[RGB, RGB]:
    return SEVERITY_COLORS.get(severity, SEVERITY_COLORS["Unknown"])


def _lang_key(language: str) -> str:
    return "ko" if language.lower().startswith("ko") else "en"


#: The band colour of a Cancel: a calm green, not a severity colour, so an all-clear never reads as a warning.
#: White on it has a contrast ratio of 7.3:1 (``contrast_ratio``), like the severity pairs.
ALL_CLEAR_COLORS: tuple[RGB, RGB] = ((0, 100, 45), (255, 255, 255))
#: The band tag of an Update / a Cancel, by language (English for languages not listed).
MSG_TAGS: dict[str, dict[str, str]] = {
    "Update": {"ko": "갱신", "ja": "更新", "en": "UPDATED"},
    "Cancel": {"ko": "해제", "ja": "解除", "en": "CANCELLED"},
}
#: A language without a region subtag whose country is nonetheless plain (for naming a zone abbreviation).
_LANGUAGE_COUNTRY = {"ko": "KR", "ja": "JP"}


def band_style(alert: Alert, severity: str) -> tuple[RGB, RGB]:
    """The band colours: the severity's, or the all-clear green for a Cancel (whatever severity it repeats)."""
    return ALL_CLEAR_COLORS if alert.msg_type == "Cancel" else severity_style(severity)


def band_label(alert: Alert, info: Info) -> str:
    """What the band starts with: the severity word, or for an Update / a Cancel its tag first.

    An Update otherwise looks exactly like a new alert, and a Cancel like a warning still in force; the tag is
    the one thing that tells the viewer. A Cancel drops the severity word (it no longer applies).
    """
    lang = _lang_key(info.language)
    severity = SEVERITY_LABELS[lang].get(info.severity, SEVERITY_LABELS[lang]["Unknown"])
    tags = MSG_TAGS.get(alert.msg_type)
    if tags is None:
        return severity
    primary = info.language.lower().split("-")[0]
    tag = tags.get(primary, tags["en"])
    return tag if alert.msg_type == "Cancel" else f"{tag} · {severity}"


@functools.cache
def _country_zones(country: str) -> tuple[str, ...]:
    """The IANA zones of a country, from the system's ``zone.tab`` (none where it cannot be read)."""
    for base in TZPATH:
        path = Path(base) / "zone.tab"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        return tuple(
            parts[2] for parts in (line.split("\t") for line in lines)
            if len(parts) >= 3 and parts[0] == country
        )  # fmt: skip
    return ()


def _country(language: str) -> str:
    parts = language.replace("_", "-").split("-")
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            return part.upper()
    return _LANGUAGE_COUNTRY.get(parts[0].lower(), "")


def _abbreviation(when: datetime, language: str) -> str:
    """The zone abbreviation of ``when``'s offset, if exactly one is in use there then; else ``""``.

    "There" is the country of the info's language tag (``en-US`` -> US, ``ko`` -> KR): at -05:00 on a winter
    day every US zone at that offset says EST, on a summer day CDT; at -07:00 in summer Phoenix (MST) and Los
    Angeles (PDT) share the offset, so no name is given. Numeric names (``+03``) do not count as names.
    """
    offset = when.utcoffset()
    names: set[str] = set()
    for name in _country_zones(_country(language)):
        try:
            local = when.astimezone(ZoneInfo(name))
        except (OverflowError, ValueError, OSError):
            continue
        abbr = local.tzname() or ""
        if local.utcoffset() == offset and abbr.isalpha():
            names.add(abbr)
    return names.pop() if len(names) == 1 else ""


def _utc_offset(when: datetime) -> str:
    offset = when.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_expiry(
    expires: datetime | None, language: str, tz: ZoneInfo | None, *, now: datetime | None = None
) -> str:
    """The expiry in the time the alert's area keeps, named so a viewer anywhere reads it right.

    The rule (issue 14: a US alert shown in KST, the default zone, misleads everyone):

    * ``tz`` is the channel's ``broadcast.timezone`` only where it was set explicitly (``None`` otherwise).
      It is used when its UTC offset at that instant equals the offset the alert wrote (``-05:00`` in
      ``expires``): the channel's own zone then names the time (``KST``, ``EST``).
    * Otherwise the expiry is shown at the alert's own offset, as the issuer wrote it (a viewer of a US
      alert on a Korean channel reads the US time the alert speaks of), named by the abbreviation in use at that
      offset in the country of the info's language if exactly one is (``_abbreviation``), else ``UTC-05:00``.
      A ``Z``/``+00:00`` expiry with no country name reads ``UTC+00:00``.
    * The year is shown when it is not the current year in the zone shown (``now``: the present, for tests).

    CAP allows any year: ``9999-12-31T23:59:59+00:00`` ("until further notice") is past what a ``datetime``
    can hold once moved to +09:00, and ``0001-01-01`` before it to a zone west of UTC. Such an alert is valid
    and must air, so the expiry is then printed in ISO 8601 with the alert's own offset (what the CAP text said,
    ``-00:00`` aside) instead of failing the overlay.
    """
    if expires is None:
        return ""
    lang = _lang_key(language)
    try:
        local = expires
        name = ""
        if tz is not None:
            moved = expires.astimezone(tz)
            if moved.utcoffset() == expires.utcoffset():
                local, name = moved, moved.tzname() or ""
        if not name:
            name = _abbreviation(expires, language) or _utc_offset(expires)
        current = (now or datetime.now(UTC)).astimezone(local.tzinfo)
        if lang == "ko":
            year = f"{local.year}년 " if local.year != current.year else ""
            stamp = f"{year}{local.month}월 {local.day}일 {local:%H:%M} {name}"
        else:
            year = f" {local.year}" if local.year != current.year else ""
            stamp = f"{local.day} {local:%b}{year} {local:%H:%M} {name}"
    except (OverflowError, ValueError):
        stamp = expires.isoformat()
    return _UNTIL[lang].format(t=stamp.strip())


@dataclass(frozen=True, slots=True, eq=False)
class _Block:
    """A premultiplied RGBA region in 8.8 fixed point: ``out = (src * inv + premul) >> 8``."""

    y0: int
    x0: int
    premul: npt.NDArray[np.uint16]  # h x w x 3
    inv: npt.NDArray[np.uint16]  # h x w x 1
    opaque: npt.NDArray[np.uint8] | None = None  # h x w x 3 when every pixel has alpha 255: a plain copy

    @classmethod
    def from_rgba(cls, rgba: npt.NDArray[np.uint8], y0: int, x0: int) -> _Block:
        a = rgba[..., 3:4].astype(np.uint16)
        a256 = a + (a >> 7)  # 0..256, exact at both ends
        premul = rgba[..., :3].astype(np.uint16) * a256
        opaque = np.ascontiguousarray(rgba[..., :3]) if bool((rgba[..., 3] == 255).all()) else None
        return cls(y0, x0, premul, (256 - a256).astype(np.uint16), opaque)

    @property
    def shape(self) -> tuple[int, int]:
        h, w = self.inv.shape[:2]
        return int(h), int(w)

    def blend(self, out: Frame) -> None:
        h, w = self.shape
        region = out[self.y0 : self.y0 + h, self.x0 : self.x0 + w]
        if self.opaque is not None:
            region[...] = self.opaque
            return
        acc = region * self.inv
        acc += self.premul
        acc >>= 8
        region[...] = acc


@dataclass(frozen=True, slots=True)
class _Piece:
    """A run of the crawl text drawn on its own: ``x`` is its pen position in the whole line's layout."""

    x: float
    width: float
    text: str


class _Crawl:
    """The crawl: a line of text plus a gap (one period) scrolling right to left through a window.

    The period is drawn in tiles of ``_CRAWL_TILE`` columns when they scroll into view, each from the few
    pieces (words, or chunks of a very long word) that reach into it, and kept in an LRU cache of a few window
    widths (two readers, e.g. two profiles sharing the overlay, each keep their tiles). A strip as wide as the
    text cost 7 GB for a 625 KB message; the tiles cost ~2 MB at 1080p (16 of 256 x 54 pixels) for any text.
    """

    __slots__ = (
        "_lock",
        "_starts",
        "_tiles",
        "capacity",
        "face",
        "height",
        "period_px",
        "pieces",
        "px_per_frame",
        "reach",
        "tiles_rendered",
        "window_w",
        "x0",
        "y0",
    )

    def __init__(
        self,
        pieces: Sequence[_Piece],
        face: ImageFont.FreeTypeFont,
        *,
        y0: int,
        x0: int,
        height: int,
        window_w: int,
        period_px: int,
        px_per_frame: float,
    ) -> None:
        self.pieces = tuple(pieces)
        self.face = face
        self.y0, self.x0, self.height = y0, x0, height
        self.window_w, self.period_px, self.px_per_frame = window_w, period_px, px_per_frame
        self._starts = [p.x for p in self.pieces]
        # A piece's ink may overhang its advance box (bearings, marks); reach further than any piece is wide.
        self.reach = max((p.width for p in self.pieces), default=0.0) + face.size
        self.capacity = 2 * (math.ceil(window_w / _CRAWL_TILE) + 1)
        self._tiles: OrderedDict[int, _Block] = OrderedDict()
        self._lock = threading.Lock()
        self.tiles_rendered = 0

    @property
    def cached_tiles(self) -> tuple[_Block, ...]:
        with self._lock:
            return tuple(self._tiles.values())

    def _draw_tile(self, k: int) -> _Block:
        c0 = k * _CRAWL_TILE
        w = min(_CRAWL_TILE, self.period_px - c0)
        img = Image.new("RGBA", (w, self.height), (*PLATE_RGB, PLATE_ALPHA))
        draw = ImageDraw.Draw(img)
        lo = bisect.bisect_left(self._starts, c0 - self.reach)
        hi = bisect.bisect_right(self._starts, c0 + w + self.face.size)
        for piece in self.pieces[lo:hi]:
            draw.text(
                (piece.x - c0, self.height / 2),
                piece.text,
                font=self.face,
                fill=(*DETAIL_RGB, 255),
                anchor="lm",
            )
        self.tiles_rendered += 1
        return _Block.from_rgba(np.asarray(img), 0, 0)

    def _tile(self, k: int) -> _Block:
        with self._lock:
            tile = self._tiles.get(k)
            if tile is None:
                tile = self._draw_tile(k)
                self._tiles[k] = tile
                while len(self._tiles) > self.capacity:
                    self._tiles.popitem(last=False)
            else:
                self._tiles.move_to_end(k)
            return tile

    def blend(self, out: Frame, index: int) -> None:
        offset = int(index * self.px_per_frame) % self.period_px
        done = 0
        while done < self.window_w:
            col = (offset + done) % self.period_px
            k, start = divmod(col, _CRAWL_TILE)
            tile = self._tile(k)
            n = min(self.window_w - done, tile.shape[1] - start)
            cols = slice(start, start + n)
            opaque = None if tile.opaque is None else tile.opaque[:, cols]
            _Block(self.y0, self.x0 + done, tile.premul[:, cols], tile.inv[:, cols], opaque).blend(out)
            done += n


@dataclass(frozen=True, slots=True, eq=False)
class Page:
    language: str
    block: _Block
    crawl: _Crawl | None
    headline_px: int
    lines: tuple[str, ...]
    crawl_text: str


@dataclass(frozen=True, slots=True, eq=False)
class Overlay:
    """Per-alert overlay: pages per language and a schedule of which page is on screen from which frame."""

    width: int
    height: int
    fps: float
    pages: tuple[Page, ...]
    schedule: tuple[tuple[int, int], ...]  # (first frame, page index), sorted

    @property
    def top(self) -> int:
        """First row any page touches (the plate's top edge)."""
        return min(p.block.y0 for p in self.pages)

    def page_at(self, index: int) -> Page:
        pos = bisect.bisect_right(self.schedule, (index, len(self.pages))) - 1
        return self.pages[self.schedule[max(0, pos)][1]]

    def apply(self, frame: Frame, index: int) -> Frame:
        """A new frame with the overlay burned in; ``frame`` itself is never modified (loops reuse arrays)."""
        if frame.shape != (self.height, self.width, 3):
            raise OverlayError(
                f"frame is {frame.shape}, overlay was laid out for {self.height}x{self.width}x3"
            )
        out = frame.copy()
        page = self.page_at(index)
        page.block.blend(out)
        if page.crawl is not None:
            page.crawl.blend(out, index)
        return out

    def rgba(self, index: int) -> npt.NDArray[np.uint8]:
        """The full-canvas RGBA overlay at ``index`` (for tests and screenshots; not used per frame)."""
        black = np.zeros((self.height, self.width, 3), np.uint8)
        white = np.full_like(black, 255)
        on_black = self.apply(black, index).astype(np.int32)
        on_white = self.apply(white, index).astype(np.int32)
        alpha = 255 - (on_white - on_black).max(axis=2)
        rgba = np.zeros((self.height, self.width, 4), np.uint8)
        rgba[..., 3] = np.clip(alpha, 0, 255)
        safe = np.maximum(alpha, 1)[..., None]
        rgba[..., :3] = np.clip(on_black * 255 // safe, 0, 255)
        return rgba


def ellipsize(text: str, face: ImageFont.FreeTypeFont, max_width: float, *, more: bool = False) -> str:
    """``text`` cut at a grapheme boundary with an ellipsis so that it fits ``max_width``; with ``more`` (the
    text goes on elsewhere) the ellipsis is there even when ``text`` itself fits.

    Binary search over the clusters: a logarithmic number of measurements, where cutting one cluster at a time
    measured the line once per cluster removed.
    """
    if more and text_width(text.rstrip() + ELLIPSIS, face) <= max_width:
        return text.rstrip() + ELLIPSIS
    if not more and text_width(text, face) <= max_width:
        return text
    clusters = graphemes(text)
    lo, hi = 0, len(clusters)  # the first lo clusters fit with the ellipsis; all of them do not
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if text_width("".join(clusters[:mid]) + ELLIPSIS, face) <= max_width:
            lo = mid
        else:
            hi = mid
    return "".join(clusters[:lo]).rstrip() + ELLIPSIS


def _is_rtl(text: str) -> bool:
    return any(unicodedata.bidirectional(ch) in ("R", "AL") for ch in text)


def _crawl_pieces(text: str, face: ImageFont.FreeTypeFont) -> list[_Piece]:
    """``text`` as pieces placed where the whole line's layout puts them, so tiles need only nearby pieces.

    Pieces are words with their trailing spaces (a word longer than ``_CRAWL_RUN`` clusters is cut into chunks
    of that many). A piece is placed after the previous one's advance, corrected by what shaping the text
    across the cut adds (kerning, and the wider space Noto CJK sets between Hangul words): the difference
    between measuring the clusters either side of the cut together and apart. Right-to-left text needs the
    whole line's bidi reordering, so it stays one piece (bounded all the same, by the text limits).
    """
    if _is_rtl(text):
        return [_Piece(0.0, text_width(text, face), text)]
    runs: list[list[str]] = []
    for cluster in graphemes(text):
        if not runs:
            runs.append([cluster])
        elif cluster.isspace():
            runs[-1].append(cluster)  # spaces stay with the word before them
        elif runs[-1][-1].isspace() or len(runs[-1]) >= _CRAWL_RUN:
            runs.append([cluster])  # a new word, or the next chunk of a long one
        else:
            runs[-1].append(cluster)
    pieces: list[_Piece] = []
    x = 0.0
    for i, run in enumerate(runs):
        if i:
            left = "".join(runs[i - 1][-_CRAWL_CONTEXT:])
            right = "".join(run[:_CRAWL_CONTEXT])
            x += text_width(left + right, face) - text_width(left, face) - text_width(right, face)
        piece = "".join(run)
        width = text_width(piece, face)
        pieces.append(_Piece(x, width, piece))
        x += width
    return pieces


def _crawl(text: str, u: float, y0: int, x0: int, width: int, fps: float) -> _Crawl:
    """The crawl of ``text`` in a window ``width`` wide: a period of the text plus a quarter-width gap."""
    face = font(round(_CRAWL_FONT * u))
    h = round(_CRAWL_H * u)
    gap = round(width * 0.25)
    period = max(1, math.ceil(text_width(text, face)) + gap)
    return _Crawl(
        _crawl_pieces(text, face),
        face,
        y0=y0,
        x0=x0,
        height=h,
        window_w=width,
        period_px=period,
        px_per_frame=_CRAWL_PX_PER_S * u / fps,
    )


def _area(info: Info) -> str:
    """The area names, comma-separated and bounded; an alert may list thousands, only the first few are read."""
    names: list[str] = []
    room = AREA_CELLS * 8  # characters: enough to fill the limit whatever the script
    for area in info.areas:
        if area.area_desc:
            names.append(area.area_desc[:room])
            room -= len(names[-1]) + 2
            if room <= 0:
                break
    return bounded(", ".join(names), AREA_CELLS)


def shown_expiry(alert: Alert, info: Info, tz: ZoneInfo | None, *, now: datetime | None = None) -> str:
    """The band's "until ..." text; none for a Cancel (nothing is in force any more, so nothing expires)."""
    if alert.msg_type == "Cancel":
        return ""
    return format_expiry(info.expires or alert.expires, info.language, tz, now=now)


def _page(
    alert: Alert,
    info: Info,
    disaster: DisasterType,
    width: int,
    height: int,
    fps: float,
    tz: ZoneInfo | None,
) -> Page:
    u = height / 1080.0
    lang = _lang_key(info.language)
    x0, x1 = round(width * TITLE_SAFE), round(width * (1 - TITLE_SAFE))
    bottom = round(height * (1 - TITLE_SAFE))
    limit_top = math.ceil(height * 2 / 3)
    pad = max(2, round(_PAD * u))
    band_h = round(_BAND_H * u)
    band_bg, band_fg = band_style(alert, info.severity)

    headline = bounded(info.headline or info.event, HEADLINE_CELLS)
    instruction = bounded(info.instruction or "", INSTRUCTION_CELLS)
    area = _area(info)
    area_text = _AREA[lang].format(a=area) if area else ""

    head_face = font(round(_HEAD_FONT * u))
    instr_face = font(round(_INSTR_FONT * u))
    area_face = font(round(_AREA_FONT * u))

    # Pictogram column is square, as tall as the body; guess from the tallest body first, then fit text.
    body_h_max = bottom - limit_top - band_h - 3 * pad
    crawl_h = round(_CRAWL_H * u)
    icon = min(body_h_max - crawl_h, round(2 * _HEAD_LINE * u))
    text_x = x0 + pad + icon + pad
    text_w = x1 - pad - text_x
    if text_w < 8 * head_face.size:
        raise OverlayError(f"picture {width}x{height} is too small for a legible overlay")

    crawl_parts: list[str] = []
    head_lines = wrap(headline, text_w, lambda s: text_width(s, head_face))
    if len(head_lines) > 2:
        crawl_parts.append(headline)
        head_lines = head_lines[:2]
        # The second line says the headline goes on (in the crawl), inside the text column like the rest.
        head_lines[1] = ellipsize(head_lines[1].removesuffix("-"), head_face, text_w, more=True)
    rows: list[tuple[str, ImageFont.FreeTypeFont, RGB, int]] = [
        (line, head_face, HEADLINE_RGB, round(_HEAD_LINE * u)) for line in head_lines
    ]
    budget = body_h_max - sum(r[3] for r in rows)
    if crawl_parts:
        budget -= crawl_h  # the headline already runs on in the crawl: its rows are taken
    instr_lines = fit_lines(instruction, instr_face, text_w, 2) if instruction else []
    area_lines = fit_lines(area_text, area_face, text_w, 1) if area_text else []
    instr_h, area_h = round(_INSTR_LINE * u), round(_AREA_LINE * u)
    need = len(instr_lines or ()) * instr_h + len(area_lines or ()) * area_h
    if instr_lines is None or area_lines is None or need > budget:
        # Something goes to the crawl; keep what still fits above it.
        if not crawl_parts:
            budget -= crawl_h
        if instr_lines is not None and len(instr_lines) * instr_h <= budget:
            budget -= len(instr_lines) * instr_h
        else:
            crawl_parts.append(instruction)
            instr_lines = []
        if area_lines is not None and len(area_lines) * area_h <= budget:
            budget -= len(area_lines) * area_h
        else:
            crawl_parts.append(area_text)
            area_lines = []
    rows += [(line, instr_face, INSTRUCTION_RGB, instr_h) for line in instr_lines or ()]
    rows += [(line, area_face, DETAIL_RGB, area_h) for line in area_lines or ()]

    body_h = max(sum(r[3] for r in rows), icon) + 2 * pad
    crawl_rows = crawl_h if crawl_parts else 0
    top = bottom - crawl_rows - body_h - band_h
    if top < limit_top:
        raise OverlayError(f"overlay needs {bottom - top} rows, more than the lower third of {height}")

    plate_w, plate_h = x1 - x0, bottom - crawl_rows - top
    img = Image.new("RGBA", (plate_w, plate_h), (*PLATE_RGB, PLATE_ALPHA))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, plate_w, band_h - 1), fill=(*band_bg, 255))
    label = band_label(alert, info)
    band_face = font(round(_BAND_FONT * u))
    expiry = shown_expiry(alert, info, tz)
    room = plate_w - 3 * pad - (text_width(expiry, band_face) if expiry else 0)
    band_text = ellipsize(f"{label} · {bounded(info.event, EVENT_CELLS)}", band_face, room)
    draw.text((pad, band_h / 2), band_text, font=band_face, fill=(*band_fg, 255), anchor="lm")
    if expiry:
        draw.text((plate_w - pad, band_h / 2), expiry, font=band_face, fill=(*band_fg, 255), anchor="rm")
    icon_img = pictogram(disaster, icon, fg=(*band_fg, 255), bg=(*band_bg, 255))
    img.alpha_composite(icon_img, (pad, band_h + pad))
    y = band_h + pad
    for text, face, colour, line_h in rows:
        draw.text((text_x - x0, y + line_h / 2), text, font=face, fill=(*colour, 255), anchor="lm")
        y += line_h
    block = _Block.from_rgba(np.asarray(img), top, x0)

    crawl = None
    crawl_text = "   ·   ".join(p for p in crawl_parts if p)
    if crawl_text:
        crawl = _crawl(crawl_text, u, bottom - crawl_h, x0, plate_w, fps)
    return Page(
        info.language,
        block,
        crawl,
        round(head_face.size),
        tuple(r[0] for r in rows),
        crawl_text,
    )


def page_languages(alert: Alert, preferred: Sequence[str]) -> list[Info]:
    """One info block per preferred language, in ``preferred`` order; every language if none is preferred."""
    chosen: list[Info] = []
    for lang in preferred:
        info = alert.info_for(lang)
        if info is not None and info not in chosen:
            chosen.append(info)
    if not chosen:
        for lang in alert.languages:
            info = alert.info_for(lang)
            if info is not None and info not in chosen:
                chosen.append(info)
    if not chosen:
        raise OverlayError("alert has no <info> block to show")
    return chosen


def build_overlay(
    alert: Alert,
    disaster: DisasterType,
    width: int,
    height: int,
    *,
    fps: float = 30000 / 1001,
    timezone: str | None = None,
    languages: Sequence[str] = ("ko", "en"),
    speech: Sequence[tuple[str, float]] = (),
    page_s: float = 6.0,
) -> Overlay:
    """Lay out the alert once. ``speech`` is ``(language, start seconds)`` per utterance: pages follow it;
    without it pages alternate every ``page_s`` seconds. ``timezone`` is the channel's zone where it was set
    explicitly, ``None`` otherwise (``format_expiry`` says how the expiry is then shown)."""
    infos = page_languages(alert, languages)
    tz = ZoneInfo(timezone) if timezone else None
    pages = tuple(_page(alert, info, disaster, width, height, fps, tz) for info in infos)
    overlay = Overlay(width, height, fps, pages, ((0, 0),))
    if speech:
        return with_schedule(overlay, speech)
    if len(pages) > 1 and page_s > 0:
        step = max(1, round(page_s * fps))
        schedule = tuple((k * step, k % len(pages)) for k in range(10_000))
        return Overlay(width, height, fps, pages, schedule)
    return overlay


def with_schedule(overlay: Overlay, speech: Sequence[tuple[str, float]]) -> Overlay:
    """The same pages, switched at each ``(language, start seconds)`` of the speech."""
    index = {_lang_key(p.language): i for i, p in enumerate(overlay.pages)}
    schedule = [(0, 0)]
    for lang, start in speech:
        if _lang_key(lang) in index:
            schedule.append((max(0, round(start * overlay.fps)), index[_lang_key(lang)]))
    return Overlay(overlay.width, overlay.height, overlay.fps, overlay.pages, tuple(sorted(schedule)))


def compose(loop: Loop, overlay: Overlay, num_frames: int) -> Iterator[Frame]:
    """``num_frames`` frames of ``loop`` (repeated as often as needed) with the overlay burned in."""
    frames = itertools.chain.from_iterable(loop.frames() for _ in itertools.count())
    for index, frame in enumerate(itertools.islice(frames, num_frames)):
        yield overlay.apply(frame, index)
