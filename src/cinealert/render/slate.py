"""The plain pictures of the media ladder's lower rungs: a background and a text slate.

When the scene cannot be had the alert still has to air. ``plain_background`` stands in for a scene frame
under the usual overlay; ``slate`` is the last rung, for when the overlay cannot be laid out either (a picture
too small for it, a headline it cannot hold): a solid background, the severity band with the event, and each
language's headline and expiry. It depends on no scene backend and on no overlay layout, cuts every text to
fit the picture it is given (any size from 16x16 up) and falls back to PIL's built-in face when the Noto font
cannot be loaded, so it has as few ways to fail as a picture with text can have.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from cinealert.cap.model import Alert, Info
from cinealert.render.labels import SEVERITY_LABELS, band_label, band_style, shown_expiry
from cinealert.render.loop import Frame
from cinealert.render.text import FontNotFoundError, font, wrap

Face = ImageFont.FreeTypeFont | ImageFont.ImageFont

BACKGROUND_TOP = (24, 30, 42)
BACKGROUND_BOTTOM = (8, 9, 12)
HEADLINE_RGB = (255, 255, 255)
EXPIRY_RGB = (255, 236, 150)
#: Characters of a headline considered at all: a slate shows a few lines, and a 100 KiB headline must not
#: cost a 100 KiB layout.
MAX_CHARS = 400
MAX_PAGES = 2  # languages stacked on one slate


@dataclass(frozen=True, slots=True)
class SlatePage:
    language: str
    lines: tuple[str, ...]
    expiry: str


@dataclass(frozen=True, slots=True)
class Slate:
    frame: Frame
    band: str
    pages: tuple[SlatePage, ...]


def plain_background(width: int, height: int) -> Frame:
    """A dark vertical gradient: calm behind the overlay's plate, and not a flat field the encoder bands."""
    t = np.linspace(0.0, 1.0, height, dtype=np.float32)[:, None, None]
    top = np.asarray(BACKGROUND_TOP, np.float32)
    bottom = np.asarray(BACKGROUND_BOTTOM, np.float32)
    column = (top * (1.0 - t) + bottom * t + 0.5).astype(np.uint8)
    return np.ascontiguousarray(np.broadcast_to(column, (height, width, 3)))


def _face(size: int) -> Face:
    """The overlay's face, else PIL's built-in one (Latin only, but a slate without the font still airs)."""
    try:
        return font(size)
    except (FontNotFoundError, OSError):
        return ImageFont.load_default(max(1, size))


def _width(text: str, face: Face) -> float:
    return float(face.getlength(text))


def _size(face: Face) -> int:
    """Nominal size in pixels (PIL's bitmap face, used only without FreeType, has none: it is 11 px)."""
    return int(getattr(face, "size", 11))


def _fit(text: str, face: Face, width: float, max_lines: int) -> list[str]:
    """``text`` wrapped to ``width``, at most ``max_lines`` lines, the last one ellipsized when cut."""
    flat = " ".join(text[: MAX_CHARS * 4].split())
    cut = len(flat) > MAX_CHARS
    lines = wrap(flat[:MAX_CHARS], width, lambda s: _width(s, face)) if flat else []
    if len(lines) > max_lines:
        lines, cut = lines[:max_lines], True
    if cut and lines:
        last = lines[-1].rstrip()
        while last and _width(last + "…", face) > width:
            last = last[:-1].rstrip()
        lines[-1] = last + "…"
    return lines


def slate(
    alert: Alert, infos: Sequence[Info], width: int, height: int, *, timezone: str | None = None
) -> Slate:
    """The slate picture for ``infos`` (one stacked block per language, at most ``MAX_PAGES``)."""
    shown = list(infos[:MAX_PAGES]) or list(alert.infos[:1])
    img = Image.fromarray(plain_background(width, height))
    draw = ImageDraw.Draw(img)
    margin_x, margin_y = max(1, round(width * 0.05)), max(1, round(height * 0.05))
    text_w = width - 2 * margin_x
    tz = ZoneInfo(timezone) if timezone else None

    first = shown[0] if shown else None
    severity = first.severity if first is not None else "Unknown"
    band_bg, band_fg = band_style(alert, severity)
    band_h = max(4, round(height * 0.12))
    draw.rectangle((0, 0, width - 1, band_h - 1), fill=band_bg)
    band_face = _face(round(band_h * 0.6))
    label = band_label(alert, first) if first is not None else SEVERITY_LABELS["en"]["Unknown"]
    band = _fit(f"{label} · {first.event}" if first is not None else label, band_face, text_w, 1)
    if band:
        draw.text((margin_x, max(0, (band_h - _size(band_face)) // 2)), band[0], font=band_face, fill=band_fg)

    pages: list[SlatePage] = []
    top = band_h + margin_y
    block_h = max(1, (height - top - margin_y) // max(1, len(shown)))
    head_face = _face(round(height / 11))
    expiry_face = _face(round(height / 16))
    head_line = round(_size(head_face) * 1.2)
    expiry_line = round(_size(expiry_face) * 1.3)
    for i, info in enumerate(shown):
        y = top + i * block_h
        expiry = shown_expiry(alert, info, tz)
        room = block_h - (expiry_line if expiry else 0)
        lines = _fit(
            info.headline or info.event, head_face, text_w, max(1, min(3, room // max(1, head_line)))
        )
        for line in lines:
            draw.text((margin_x, y), line, font=head_face, fill=HEADLINE_RGB)
            y += head_line
        if expiry:
            expiry = (_fit(expiry, expiry_face, text_w, 1) or [""])[0]
            draw.text((margin_x, y), expiry, font=expiry_face, fill=EXPIRY_RGB)
        pages.append(SlatePage(info.language, tuple(lines), expiry))
    frame = np.ascontiguousarray(np.asarray(img.convert("RGB"), dtype=np.uint8))
    return Slate(frame, band[0] if band else "", tuple(pages))
