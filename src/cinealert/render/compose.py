"""Burned-in alert overlay: a lower-third plate with severity band, pictogram, headline, instruction, area,
expiry time and a crawl for what does not fit.

Everything text-related is rendered once per alert (one static RGBA page per language, one pre-rendered crawl
strip per page), stored premultiplied in 8.8 fixed point, so the per-frame cost is a single integer alpha blend
over the plate rows plus a shifted slice of the crawl strip. The plate stays inside the 90 % title-safe area
and never above two thirds of the picture height; text colours are chosen for a WCAG contrast ratio >= 7:1
against their plate.

Pages switch with the speech: while the Korean utterance plays the Korean page is on screen, and so on.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from cinealert.cap.model import Alert, DisasterType, Info
from cinealert.render.loop import Frame, Loop
from cinealert.render.pictogram import pictogram
from cinealert.render.text import fit_lines, font, graphemes, text_width, wrap

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


def format_expiry(expires: datetime | None, language: str, tz: ZoneInfo) -> str:
    """The expiry in the station's zone; one the zone cannot hold is shown as the alert wrote it.

    CAP allows any year: ``9999-12-31T23:59:59+00:00`` ("until further notice") is past what a ``datetime``
    can hold once moved to +09:00, and ``0001-01-01`` before it to a zone west of UTC. Such an alert is valid
    and must air, so the expiry is then printed in ISO 8601 with the alert's own offset (what the CAP text said,
    ``-00:00`` aside) instead of failing the overlay.
    """
    if expires is None:
        return ""
    try:
        local = expires.astimezone(tz)
        if _lang_key(language) == "ko":
            stamp = f"{local.month}월 {local.day}일 {local:%H:%M} {local.tzname() or ''}".strip()
        else:
            stamp = f"{local.day} {local:%b %H:%M} {local.tzname() or ''}".strip()
    except (OverflowError, ValueError):
        stamp = expires.isoformat()
    return _UNTIL[_lang_key(language)].format(t=stamp)


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


@dataclass(frozen=True, slots=True, eq=False)
class _Crawl:
    """A pre-rendered strip (tiled once so any window is one contiguous slice) scrolling right to left."""

    block: _Block  # the window position; its premul/inv are the full tiled strip
    window_w: int
    period_px: int
    px_per_frame: float

    def blend(self, out: Frame, index: int) -> None:
        offset = int(index * self.px_per_frame) % self.period_px
        window = slice(offset, offset + self.window_w)
        opaque = None if self.block.opaque is None else self.block.opaque[:, window]
        b = self.block
        _Block(b.y0, b.x0, b.premul[:, window], b.inv[:, window], opaque).blend(out)


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


def ellipsize(text: str, face: ImageFont.FreeTypeFont, max_width: float) -> str:
    """``text`` cut at a grapheme boundary with an ellipsis so that it fits ``max_width``."""
    if text_width(text, face) <= max_width:
        return text
    clusters = graphemes(text)
    while clusters and text_width("".join(clusters) + "…", face) > max_width:
        clusters.pop()
    return "".join(clusters).rstrip() + "…"


def _render_crawl(text: str, u: float, width: int, fps: float) -> tuple[npt.NDArray[np.uint8], int, float]:
    """Plate-backed strip of ``text`` with a gap, tiled to ``period + width`` columns."""
    face = font(round(_CRAWL_FONT * u))
    h = round(_CRAWL_H * u)
    gap = round(width * 0.25)
    period = max(1, math.ceil(text_width(text, face)) + gap)
    strip = Image.new("RGBA", (period, h), (*PLATE_RGB, PLATE_ALPHA))
    ImageDraw.Draw(strip).text((0, h / 2), text, font=face, fill=(*DETAIL_RGB, 255), anchor="lm")
    arr = np.asarray(strip)
    reps = 1 + math.ceil(width / period)
    tiled = np.ascontiguousarray(np.tile(arr, (1, reps + 1, 1))[:, : period + width])
    return tiled, period, _CRAWL_PX_PER_S * u / fps


def _page(
    alert: Alert,
    info: Info,
    disaster: DisasterType,
    width: int,
    height: int,
    fps: float,
    tz: ZoneInfo,
) -> Page:
    u = height / 1080.0
    lang = _lang_key(info.language)
    x0, x1 = round(width * TITLE_SAFE), round(width * (1 - TITLE_SAFE))
    bottom = round(height * (1 - TITLE_SAFE))
    limit_top = math.ceil(height * 2 / 3)
    pad = max(2, round(_PAD * u))
    band_h = round(_BAND_H * u)
    band_bg, band_fg = severity_style(info.severity)

    headline = info.headline or info.event
    instruction = (info.instruction or "").strip()
    area = ", ".join(a.area_desc for a in info.areas if a.area_desc)
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
        head_lines[1] = head_lines[1] + "…"
    rows: list[tuple[str, ImageFont.FreeTypeFont, RGB, int]] = [
        (line, head_face, HEADLINE_RGB, round(_HEAD_LINE * u)) for line in head_lines
    ]
    budget = body_h_max - sum(r[3] for r in rows)
    instr_lines = fit_lines(instruction, instr_face, text_w, 2) if instruction else []
    area_lines = fit_lines(area_text, area_face, text_w, 1) if area_text else []
    instr_h, area_h = round(_INSTR_LINE * u), round(_AREA_LINE * u)
    need = len(instr_lines or ()) * instr_h + len(area_lines or ()) * area_h
    if instr_lines is None or area_lines is None or need > budget:
        # Something goes to the crawl; keep what still fits above it.
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
    label = SEVERITY_LABELS[lang].get(info.severity, SEVERITY_LABELS[lang]["Unknown"])
    band_face = font(round(_BAND_FONT * u))
    expiry = format_expiry(info.expires or alert.expires, info.language, tz)
    room = plate_w - 3 * pad - (text_width(expiry, band_face) if expiry else 0)
    band_text = ellipsize(f"{label} · {info.event}", band_face, room)
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
        strip, period, speed = _render_crawl(crawl_text, u, plate_w, fps)
        crawl = _Crawl(_Block.from_rgba(strip, bottom - crawl_h, x0), plate_w, period, speed)
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
    timezone: str = "Asia/Seoul",
    languages: Sequence[str] = ("ko", "en"),
    speech: Sequence[tuple[str, float]] = (),
    page_s: float = 6.0,
) -> Overlay:
    """Lay out the alert once. ``speech`` is ``(language, start seconds)`` per utterance: pages follow it;
    without it pages alternate every ``page_s`` seconds."""
    infos = page_languages(alert, languages)
    tz = ZoneInfo(timezone)
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
