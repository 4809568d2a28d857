"""Bounded text: what is drawn and spoken is cut to a readable length, and a 625 KB alert lays out in O(frame).

The P1 case: ~625 KB of headline + instruction (under the 1 MiB message limit) made the 1080p overlay take 31 s
and 7.1 GB, because the crawl was one image as wide as the whole text. Here the same text goes through the
real layout; the checks are on sizes (cells, tile widths, allocated bytes), never on time.
"""

from __future__ import annotations

import math
import random
import tracemalloc
import unicodedata
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest

from cinealert.cap.model import Alert, Area, DisasterType, Info
from cinealert.render import crawl as crawl_module
from cinealert.render import labels
from cinealert.render.compose import AREA_CELLS, EVENT_CELLS, HEADLINE_CELLS, INSTRUCTION_CELLS, build_overlay
from cinealert.render.text import ELLIPSIS, bounded, cluster_cells, graphemes


def words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


WORDS_EN = words(
    "evacuate immediately to higher ground river levels are rising fast do not drive through flooded roads "
    "listen to local radio for instructions from emergency officials shelters open at schools"
)
NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)
WORDS_KO = words(
    "하천 주변 산책로 이용을 자제하고 침수 우려 지역 주민은 즉시 높은 곳으로 대피하시기 바랍니다"
)


def cells(text: str) -> int:
    return sum(cluster_cells(c) for c in graphemes(text))


def mixed_text(n_bytes: int, seed: int = 7) -> str:
    """Realistic alert prose: English and Korean words, punctuation, the odd emoji and accented word."""
    rng = random.Random(seed)
    extra = ["⚠️", "🇰🇷", "👍🏽", "café", "e\u0301te\u0301", "(KMA)", "02-2181-0900", "—"]
    parts: list[str] = []
    size = 0
    while size < n_bytes:
        word = rng.choice(WORDS_EN if rng.random() < 0.6 else WORDS_KO)
        if rng.random() < 0.03:
            word = rng.choice(extra)
        if rng.random() < 0.08:
            word += rng.choice(".,;:")
        parts.append(word)
        size += len(word.encode()) + 1
    return " ".join(parts)


# --- bounded() -----------------------------------------------------------------------------------------------


def test_text_that_fits_comes_back_whole_with_whitespace_collapsed() -> None:
    assert bounded("Move to\n\n higher   ground.", 40) == "Move to higher ground."
    assert bounded("  \n\t ", 40) == ""
    assert bounded("e\u0301", 4) == "\u00e9"  # NFC


def test_cut_on_a_word_boundary_with_an_ellipsis_inside_the_limit() -> None:
    text = "Stay away from riverbanks and underpasses and move to higher ground now."
    cut = bounded(text, 30)
    assert cut.endswith(ELLIPSIS) and cells(cut) <= 30
    assert cut == "Stay away from riverbanks and…"
    assert bounded("Move now. Stay away from the river.", 12) == "Move now…"  # no "now.…"
    korean = " ".join(WORDS_KO)
    cut = bounded(korean, 30)
    assert cut.endswith(ELLIPSIS) and cells(cut) <= 30
    assert korean.startswith(cut.removesuffix(ELLIPSIS))
    assert cut.removesuffix(ELLIPSIS).split() == korean.split()[: len(cut.split())]  # whole eojeol only


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("x" * 600_000, id="one-600KB-word"),
        pytest.param("대피" * 200_000, id="one-huge-hangul-word"),
        pytest.param("\n" * 300_000 + "Evacuate now. " * 1000, id="newlines-first"),
        pytest.param("a\n" * 300_000, id="thousands-of-newlines"),
        pytest.param(("x" + "\u0301\u0323" * 50) * 10_000, id="stacked-combining-marks"),
        pytest.param("a" + "\u0301" * 500_000, id="one-cluster-of-marks"),
        pytest.param("שלום עולם " * 20_000, id="hebrew"),
        pytest.param("إخلاء فوري " * 20_000, id="arabic"),
        pytest.param("日本語の緊急速報" * 50_000, id="cjk"),
        pytest.param("🇰🇷👍🏽👨‍👩‍👧" * 40_000, id="emoji"),
    ],
)
def test_pathological_text_is_cut_to_the_limit(text: str) -> None:
    for limit in (16, HEADLINE_CELLS, INSTRUCTION_CELLS):
        cut = bounded(text, limit)
        assert cut.endswith(ELLIPSIS), cut[-20:]
        assert cells(cut) <= limit
        assert len(cut) <= 8 * limit + 1  # code points read are bounded by the limit, not by the text
        assert "\n" not in cut
        for cluster in graphemes(cut):  # never a mark without its base, never half a flag
            assert not unicodedata.combining(cluster[0])
        flags = [c for c in graphemes(cut) if 0x1F1E6 <= ord(c[0]) <= 0x1F1FF]
        assert all(len(f) == 2 for f in flags)
        # Only a prefix is read: what follows the cut point cannot change the result.
        assert bounded(text + " tail " * 1000, limit) == cut


def test_a_cut_ends_on_a_word_only_when_that_loses_little() -> None:
    word = "Pneumonoultramicroscopicsilicovolcanoconiosis" * 3
    cut = bounded("Evacuate " + word, 60)
    assert cut.startswith("Evacuate Pneumono")  # cut inside the long word, not back to "Evacuate…"
    assert cells(cut) == 60


def test_grapheme_clusters_keep_flags_and_skin_tones() -> None:
    assert graphemes("🇰🇷🇯🇵") == ["🇰🇷", "🇯🇵"]
    assert graphemes("👍🏽!") == ["👍🏽", "!"]
    assert graphemes("🇰🇷🇯") == ["🇰🇷", "🇯"]


def test_limit_must_leave_room_for_the_ellipsis() -> None:
    with pytest.raises(ValueError, match="max_cells"):
        bounded("anything", 1)


# --- the 625 KB alert through the real layout ------------------------------------------------------------------


def giant_alert(headline: str, instruction: str) -> Alert:
    areas = tuple(Area(f"구역 {i}") for i in range(5000))
    event = "호우경보 " * 20_000
    infos = tuple(
        Info(
            lang,
            ("Met",),
            event,
            "Immediate",
            "Extreme",
            "Observed",
            headline=headline,
            instruction=instruction,
            areas=areas,
        )
        for lang in ("ko-KR", "en-US")
    )
    return Alert("KMA-GIANT", "kma@example.kr", NOW, "x", "Actual", "Alert", "Public", infos=infos)


GIANT = mixed_text(625_000)
SPLIT = len(GIANT) // 3


@pytest.mark.parametrize(
    ("headline", "instruction"),
    [
        pytest.param(GIANT[:SPLIT], GIANT[SPLIT:], id="mixed-words"),
        pytest.param("x" * 300_000, "y" * 325_000, id="one-giant-word"),
    ],
)
def test_625kb_alert_draws_bounded_text(headline: str, instruction: str) -> None:
    assert len((headline + instruction).encode()) >= 600_000
    width, height = 1920, 1080
    overlay = build_overlay(giant_alert(headline, instruction), DisasterType.FLOOD, width, height, page_s=0)
    for page in overlay.pages:
        assert page.crawl is not None
        parts = page.crawl_text.split("   ·   ")
        head, instr = parts[0], parts[1]
        assert cells(head) <= HEADLINE_CELLS and head.endswith(ELLIPSIS)
        assert cells(instr) <= INSTRUCTION_CELLS and instr.endswith(ELLIPSIS)
        assert unicodedata.normalize("NFC", headline).startswith(head.removesuffix(ELLIPSIS))
        assert cells(page.crawl_text) <= HEADLINE_CELLS + INSTRUCTION_CELLS + AREA_CELLS + 30
        assert page.lines[1].endswith(ELLIPSIS)  # the headline's second line says there is more
        # ... inside the text column: the plate's right padding next to the headline rows stays bare.
        frame = overlay.apply(np.zeros((height, width, 3), np.uint8), 0)
        band_h, pad, x1 = 50, 12, round(width * 0.95)
        head_rows = frame[page.block.y0 + band_h + pad : page.block.y0 + band_h + pad + 2 * 76]
        assert (head_rows[:, x1 - pad : x1] == labels.PLATE_RGB).all()
    assert cells(bounded("호우경보 " * 20_000, EVENT_CELLS)) <= EVENT_CELLS


def test_625kb_alert_crawl_memory_follows_the_frame_width_not_the_text() -> None:
    width, height = 1920, 1080
    overlay = build_overlay(giant_alert(GIANT[:SPLIT], GIANT[SPLIT:]), DisasterType.FLOOD, width, height)
    crawl = overlay.pages[0].crawl
    assert crawl is not None
    tiles_in_period = math.ceil(crawl.period_px / crawl_module._CRAWL_TILE)
    assert tiles_in_period > crawl.capacity  # the cache cannot simply hold the whole line
    out = np.zeros((height, width, 3), np.uint8)
    step = max(1, int(crawl_module._CRAWL_TILE * 0.75 / crawl.px_per_frame))  # visits every tile of a period
    tracemalloc.start()
    try:
        rebuilt = crawl_module._crawl(
            overlay.pages[0].crawl_text, 1.0, crawl.y0, crawl.x0, crawl.window_w, overlay.fps
        )
        for index in range(0, math.ceil(crawl.period_px / crawl.px_per_frame) + step, step):
            rebuilt.blend(out, index)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rebuilt.tiles_rendered >= tiles_in_period
    tiles = rebuilt.cached_tiles
    assert len(tiles) <= rebuilt.capacity
    assert all(t.shape[1] <= crawl_module._CRAWL_TILE and t.shape[0] == rebuilt.height for t in tiles)
    tile_bytes = crawl_module._CRAWL_TILE * rebuilt.height * (3 * 2 + 2 + 3 + 4)  # premul, inv, opaque, RGBA
    # Everything the crawl ever allocated: its tile cache plus one tile being drawn, O(frame width). One strip
    # of the whole period (what it used to build) is several times that even for this bounded text.
    assert peak <= (rebuilt.capacity + 2) * tile_bytes + 256 * 1024, peak
    strip_bytes = crawl.period_px * rebuilt.height * (3 * 2 + 2 + 3 + 4)
    assert strip_bytes > 2 * peak


def test_crawl_tiles_stay_small_for_unbounded_text() -> None:
    """The tiler alone, no text limit in front of it: a line of 4000 words, over 50 windows wide."""
    rng = random.Random(3)
    text = " ".join(rng.choice((*WORDS_EN, *WORDS_KO)) for _ in range(4000))
    crawl = crawl_module._crawl(text, 1.0, 900, 96, 1728, 30000 / 1001)
    assert crawl.period_px > 50 * crawl.window_w
    out = np.zeros((1080, 1920, 3), np.uint8)
    tracemalloc.start()
    try:
        for index in (0, 1, 2, 5000, 40_000, 90_000, 90_001):
            crawl.blend(out, index)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert all(t.shape[1] <= crawl_module._CRAWL_TILE for t in crawl.cached_tiles)
    assert peak < 4 * 1024 * 1024, peak
    assert (out[900 : 900 + crawl.height, 96 : 96 + 1728] != 0).any()


def test_instruction_with_newlines_reaches_the_crawl() -> None:
    """A newline used to reach the crawl's text measurement, where raqm fails ("raqm_layout() failed")."""
    instruction = "Move to higher ground now.\r\nDo not drive.\n" + "Stay tuned to local radio.\n" * 12
    alert = giant_alert("Flood warning", instruction)
    alert = replace(
        alert, infos=tuple(replace(i, areas=(Area("Seoul"),), event="Flood") for i in alert.infos)
    )
    overlay = build_overlay(alert, DisasterType.FLOOD, 1280, 720)
    page = overlay.pages[0]
    assert page.crawl is not None and "\n" not in page.crawl_text and "Do not drive." in page.crawl_text


def test_right_to_left_text_is_bounded_and_drawn_whole_per_tile() -> None:
    """Hebrew and Arabic need the whole line's bidi reordering: one piece, each tile draws it clipped. The text
    limits keep that piece short; the tiles stay tile-sized."""
    rtl = "הישארו בבתים והתרחקו מהנחל " * 20_000 + "ابتعدوا عن مجاري الأودية " * 10_000
    alert = giant_alert(rtl[:300_000], rtl[300_000:])
    overlay = build_overlay(alert, DisasterType.FLOOD, 1920, 1080, languages=("en",))
    crawl = overlay.pages[0].crawl
    assert crawl is not None and len(crawl.pieces) == 1
    assert cells(crawl.pieces[0].text) <= HEADLINE_CELLS + INSTRUCTION_CELLS + AREA_CELLS + 30
    frame = np.zeros((1080, 1920, 3), np.uint8)
    for index in range(0, 2000, 97):
        out = overlay.apply(frame, index)
        assert (out[crawl.y0 : crawl.y0 + crawl.height, crawl.x0 : crawl.x0 + crawl.window_w] != 0).any()
    assert all(t.shape[1] <= crawl_module._CRAWL_TILE for t in crawl.cached_tiles)


@pytest.mark.parametrize(("width", "height"), [(1280, 720), (1920, 1080)])
@pytest.mark.parametrize("instruction", ["", "Move to higher ground.", "Move to higher ground now. " * 3])
def test_a_headline_running_on_in_the_crawl_leaves_room_for_the_crawl(
    width: int, height: int, instruction: str
) -> None:
    """A long headline (two lines, the rest in the crawl) with a short or no instruction used to overflow the
    lower third ("overlay needs 215 rows"), sending a valid alert down to the text slate."""
    alert = Alert(
        "LONG-HEADLINE",
        "nws@example.gov",
        NOW,
        "x",
        "Actual",
        "Alert",
        "Public",
        infos=(
            Info(
                "en-US",
                ("Met",),
                "Flood Warning",
                "Immediate",
                "Severe",
                "Observed",
                headline="Flash flood warning for the river valley " * 50,
                instruction=instruction or None,
                areas=(Area("Seoul"),),
            ),
        ),
    )
    overlay = build_overlay(alert, DisasterType.FLOOD, width, height, languages=("en",))
    assert overlay.top >= height * 2 / 3
