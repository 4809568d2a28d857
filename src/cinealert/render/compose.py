"""Burned-in alert overlay: a lower-third plate with severity band, pictogram, headline, instruction, area,
expiry time and a crawl for what does not fit.

Everything text-related is rendered once per alert (one static RGBA page per language), stored premultiplied in
8.8 fixed point, so the per-frame cost is a single integer alpha blend over the plate rows plus the crawl's
window. The crawl (``render.crawl``) is drawn in tiles as they scroll into view and kept in a small LRU cache,
so its memory follows the picture width, never the text's; colours, labels and the expiry text live in
``render.labels``. The plate stays inside the 90 % title-safe
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
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from cinealert.cap.model import Alert, DisasterType, Info
from cinealert.errors import CinealertError
from cinealert.render.crawl import _CRAWL_H, _Block, _Crawl, _crawl
from cinealert.render.labels import (
    DETAIL_RGB,
    HEADLINE_RGB,
    INSTRUCTION_RGB,
    PLATE_ALPHA,
    PLATE_RGB,
    RGB,
    _lang_key,
    band_label,
    band_style,
    shown_expiry,
)
from cinealert.render.loop import Frame, Loop
from cinealert.render.pictogram import pictogram
from cinealert.render.text import ELLIPSIS, bounded, fit_lines, font, graphemes, text_width, wrap

_AREA = {"ko": "지역: {a}", "en": "Area: {a}"}

#: Layout in units of picture height / 1080.
_PAD = 12
_BAND_H, _BAND_FONT = 50, 32
_HEAD_FONT, _HEAD_LINE = 64, 76
_INSTR_FONT, _INSTR_LINE = 40, 52
_AREA_FONT, _AREA_LINE = 32, 42
TITLE_SAFE = 0.05  # 90 % title-safe area: 5 % margin each side

#: Limits on what is drawn, in display cells (see the module docstring for why these numbers).
HEADLINE_CELLS = 160
INSTRUCTION_CELLS = 240
AREA_CELLS = 160
EVENT_CELLS = 64


class OverlayError(ValueError, CinealertError):
    """The alert cannot be laid out (no info block, or a picture too small to hold legible text)."""


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


Row = tuple[str, ImageFont.FreeTypeFont, RGB, int]  # text, face, colour, line height


@dataclass(frozen=True, slots=True)
class _Geometry:
    """Where a page draws, in pixels: the title-safe columns, the lower third, the band, pictogram and text."""

    u: float  # picture height / 1080: the layout constants' unit
    x0: int
    x1: int
    bottom: int
    limit_top: int  # the plate never reaches above two thirds of the picture
    pad: int
    band_h: int
    crawl_h: int
    body_h_max: int
    icon: int  # the pictogram's square side
    text_x: int
    text_w: int


def _geometry(width: int, height: int, head_face: ImageFont.FreeTypeFont) -> _Geometry:
    u = height / 1080.0
    x0, x1 = round(width * TITLE_SAFE), round(width * (1 - TITLE_SAFE))
    bottom = round(height * (1 - TITLE_SAFE))
    limit_top = math.ceil(height * 2 / 3)
    pad = max(2, round(_PAD * u))
    band_h = round(_BAND_H * u)
    # Pictogram column is square, as tall as the body; guess from the tallest body first, then fit text.
    body_h_max = bottom - limit_top - band_h - 3 * pad
    crawl_h = round(_CRAWL_H * u)
    icon = min(body_h_max - crawl_h, round(2 * _HEAD_LINE * u))
    text_x = x0 + pad + icon + pad
    text_w = x1 - pad - text_x
    if text_w < 8 * head_face.size:
        raise OverlayError(f"picture {width}x{height} is too small for a legible overlay")
    return _Geometry(u, x0, x1, bottom, limit_top, pad, band_h, crawl_h, body_h_max, icon, text_x, text_w)


def _headline_rows(headline: str, face: ImageFont.FreeTypeFont, g: _Geometry) -> tuple[list[Row], list[str]]:
    """At most two lines on the plate; a longer headline runs on in the crawl (the second crawl part)."""
    crawl_parts: list[str] = []
    head_lines = wrap(headline, g.text_w, lambda s: text_width(s, face))
    if len(head_lines) > 2:
        crawl_parts.append(headline)
        head_lines = head_lines[:2]
        # The second line says the headline goes on (in the crawl), inside the text column like the rest.
        head_lines[1] = ellipsize(head_lines[1].removesuffix("-"), face, g.text_w, more=True)
    return [(line, face, HEADLINE_RGB, round(_HEAD_LINE * g.u)) for line in head_lines], crawl_parts


def _body_rows(
    instruction: str, area_text: str, budget: int, g: _Geometry, crawl_parts: list[str]
) -> list[Row]:
    """The instruction and area rows that fit in ``budget`` rows of pixels; what does not fit goes to
    ``crawl_parts`` (and the crawl's own rows come out of the budget)."""
    instr_face = font(round(_INSTR_FONT * g.u))
    area_face = font(round(_AREA_FONT * g.u))
    instr_lines = fit_lines(instruction, instr_face, g.text_w, 2) if instruction else []
    area_lines = fit_lines(area_text, area_face, g.text_w, 1) if area_text else []
    instr_h, area_h = round(_INSTR_LINE * g.u), round(_AREA_LINE * g.u)
    need = len(instr_lines or ()) * instr_h + len(area_lines or ()) * area_h
    if instr_lines is None or area_lines is None or need > budget:
        # Something goes to the crawl; keep what still fits above it.
        if not crawl_parts:
            budget -= g.crawl_h
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
    rows = [(line, instr_face, INSTRUCTION_RGB, instr_h) for line in instr_lines or ()]
    return rows + [(line, area_face, DETAIL_RGB, area_h) for line in area_lines or ()]


def _draw_plate(
    alert: Alert,
    info: Info,
    disaster: DisasterType,
    tz: ZoneInfo | None,
    g: _Geometry,
    rows: list[Row],
    plate_h: int,
) -> Image.Image:
    """The plate: the severity band (label, event, expiry), the pictogram and the text rows."""
    plate_w = g.x1 - g.x0
    pad, band_h = g.pad, g.band_h
    band_bg, band_fg = band_style(alert, info.severity)
    img = Image.new("RGBA", (plate_w, plate_h), (*PLATE_RGB, PLATE_ALPHA))
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, plate_w, band_h - 1), fill=(*band_bg, 255))
    label = band_label(alert, info)
    band_face = font(round(_BAND_FONT * g.u))
    expiry = shown_expiry(alert, info, tz)
    room = plate_w - 3 * pad - (text_width(expiry, band_face) if expiry else 0)
    band_text = ellipsize(f"{label} · {bounded(info.event, EVENT_CELLS)}", band_face, room)
    draw.text((pad, band_h / 2), band_text, font=band_face, fill=(*band_fg, 255), anchor="lm")
    if expiry:
        draw.text((plate_w - pad, band_h / 2), expiry, font=band_face, fill=(*band_fg, 255), anchor="rm")
    icon_img = pictogram(disaster, g.icon, fg=(*band_fg, 255), bg=(*band_bg, 255))
    img.alpha_composite(icon_img, (pad, band_h + pad))
    y = band_h + pad
    for text, face, colour, line_h in rows:
        draw.text((g.text_x - g.x0, y + line_h / 2), text, font=face, fill=(*colour, 255), anchor="lm")
        y += line_h
    return img


def _page(
    alert: Alert,
    info: Info,
    disaster: DisasterType,
    width: int,
    height: int,
    fps: float,
    tz: ZoneInfo | None,
) -> Page:
    """One language's page: bounded texts, their rows on the plate, the rest in the crawl."""
    lang = _lang_key(info.language)
    headline = bounded(info.headline or info.event, HEADLINE_CELLS)
    instruction = bounded(info.instruction or "", INSTRUCTION_CELLS)
    area = _area(info)
    area_text = _AREA[lang].format(a=area) if area else ""

    head_face = font(round(_HEAD_FONT * (height / 1080.0)))  # the unit of _Geometry.u
    g = _geometry(width, height, head_face)
    rows, crawl_parts = _headline_rows(headline, head_face, g)
    budget = g.body_h_max - sum(r[3] for r in rows)
    if crawl_parts:
        budget -= g.crawl_h  # the headline already runs on in the crawl: its rows are taken
    rows += _body_rows(instruction, area_text, budget, g, crawl_parts)

    body_h = max(sum(r[3] for r in rows), g.icon) + 2 * g.pad
    crawl_rows = g.crawl_h if crawl_parts else 0
    top = g.bottom - crawl_rows - body_h - g.band_h
    if top < g.limit_top:
        raise OverlayError(f"overlay needs {g.bottom - top} rows, more than the lower third of {height}")
    img = _draw_plate(alert, info, disaster, tz, g, rows, g.bottom - crawl_rows - top)
    block = _Block.from_rgba(np.asarray(img), top, g.x0)

    crawl = None
    crawl_text = "   ·   ".join(p for p in crawl_parts if p)
    if crawl_text:
        crawl = _crawl(crawl_text, g.u, g.bottom - g.crawl_h, g.x0, g.x1 - g.x0, fps)
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
