"""The crawl: text that runs on along the bottom of the overlay. Drawn in tiles of ``_CRAWL_TILE`` columns as
they scroll into view and kept in a small cache, so the work and memory follow the frame width, never the text.
"""

from __future__ import annotations

import bisect
import math
import threading
import unicodedata
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

from cinealert.render.labels import DETAIL_RGB, PLATE_ALPHA, PLATE_RGB
from cinealert.render.loop import Frame
from cinealert.render.text import font, graphemes, text_width

_CRAWL_FONT, _CRAWL_H = 36, 54


_CRAWL_PX_PER_S = 150.0


_CRAWL_TILE = 256  # crawl columns drawn and cached together: a few per frame width


_CRAWL_RUN = 16  # grapheme clusters per drawn piece of a word longer than that


_CRAWL_CONTEXT = 3  # clusters either side of a cut measured together to place the next piece


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
