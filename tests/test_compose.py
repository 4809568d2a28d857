"""Burned-in overlay: line breaking, legibility, contrast, lower-third confinement, crawl, page switching."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from PIL import Image, ImageDraw

from cinealert.cap.model import Alert, Area, DisasterType, Info
from cinealert.render import text as text_mod
from cinealert.render.compose import TITLE_SAFE, build_overlay, compose, with_schedule
from cinealert.render.labels import (
    DETAIL_RGB,
    PLATE_ALPHA,
    PLATE_RGB,
    SEVERITY_COLORS,
    contrast_ratio,
    format_expiry,
    relative_luminance,
)
from cinealert.render.loop import Loop
from cinealert.render.pictogram import pictogram
from cinealert.render.text import find_font, font, graphemes, text_width, wrap

NOW = datetime(2026, 11, 26, 3, 0, tzinfo=UTC)


def make_alert(
    ko_instruction: str = "하천변과 지하차도 접근을 삼가시고 높은 곳으로 즉시 대피하십시오.",
    en_instruction: str = "Stay away from riverbanks and underpasses and move to higher ground now.",
    severity: str = "Extreme",
) -> Alert:
    ko = Info(
        "ko-KR", ("Met",), "호우경보", "Immediate", severity, "Observed",
        expires=NOW + timedelta(hours=6), headline="서울 전역 호우경보 발효, 하천 범람 위험",
        instruction=ko_instruction, areas=(Area("서울특별시"), Area("경기도 남부")),
    )  # fmt: skip
    en = Info(
        "en-US", ("Met",), "Heavy Rain Warning", "Immediate", severity, "Observed",
        expires=NOW + timedelta(hours=6), headline="Heavy rain warning for all of Seoul",
        instruction=en_instruction, areas=(Area("Seoul"), Area("Southern Gyeonggi")),
    )  # fmt: skip
    return Alert("KMA-1", "kma@example.kr", NOW, "2026-11-26T12:00:00+09:00", "Actual", "Alert", "Public",
                 infos=(ko, en))  # fmt: skip


def gradient(h: int, w: int, shift: int = 0) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    rgb = np.stack([(x * 255 // w + shift) % 256, y * 255 // h, (x + y + shift) % 256], axis=-1)
    return np.ascontiguousarray(rgb.astype(np.uint8))


def measure(face):  # type: ignore[no-untyped-def]
    return lambda s: text_width(s, face)


# --- line breaking ------------------------------------------------------------------------------------------


def test_korean_breaks_at_spaces_between_eojeol_first() -> None:
    face = font(40)
    text = "하천변과 지하차도 접근을 삼가시고 높은 곳으로 즉시 대피하십시오"
    lines = wrap(text, text_width("하천변과 지하차도 접근을", face) + 1, measure(face))
    assert len(lines) > 1
    assert " ".join(lines) == text  # nothing split inside a word, nothing lost
    assert all(text_width(line, face) <= text_width("하천변과 지하차도 접근을", face) + 1 for line in lines)


def test_overlong_korean_word_breaks_between_syllable_blocks_never_inside() -> None:
    face = font(40)
    word = "초대형태풍특별재난지역선포지역주민긴급대피명령"
    max_w = text_width("초대형태풍", face) + 1
    lines = wrap(word, max_w, measure(face))
    assert len(lines) > 2
    assert "".join(lines) == word  # no hyphen in Hangul, every syllable kept
    for line in lines:
        assert text_width(line, face) <= max_w
        assert all(0xAC00 <= ord(ch) <= 0xD7A3 for ch in line)  # whole precomposed syllables only


def test_conjoining_jamo_and_combining_marks_stay_together() -> None:
    # Old-Hangul style conjoining jamo (no precomposed form) and Latin with combining accents.
    jamo = "\u1112\u119e\u11ab"  # Old Hangul L V T block with no precomposed form (NFC keeps it)
    assert graphemes(jamo * 3) == [jamo] * 3
    assert graphemes("\u1100\u1173\u11af") == ["글"]  # a modern L V T sequence composes to one syllable
    accented = "e\u0301\u0323"  # e + acute + dot below: one cluster
    clusters = graphemes(("x" + accented) * 4)
    assert unicodedata.normalize("NFC", ("x" + accented) * 4) == "".join(clusters)
    assert len(clusters) == 8  # x, e-with-marks, x, ...
    assert all(not unicodedata.combining(c[0]) for c in clusters)
    face = font(40)
    word = ("x" + accented) * 30
    lines = wrap(word, text_width("x" * 6, face), measure(face))
    assert len(lines) > 1
    for line in lines:
        assert not unicodedata.combining(line[0])  # no line starts with an orphaned mark
        body = line.removesuffix("-")
        assert all(g[0] in "x\u1eb9" for g in graphemes(body))  # every cluster still has its base


def test_english_breaks_at_words_and_hyphenates_only_overlong_words() -> None:
    face = font(40)
    text = "Evacuate now to higher ground away from Pneumonoultramicroscopicsilicovolcanoconiosis zones"
    max_w = text_width("Evacuate now to higher", face) + 1
    lines = wrap(text, max_w, measure(face))
    assert all(text_width(line, face) <= max_w for line in lines)
    hyphenated = [line for line in lines if line.endswith("-")]
    assert hyphenated, lines
    assert all("Pneumono" in line or "silico" in line or line[:-1].isalpha() for line in hyphenated)
    assert lines[0] == "Evacuate now to higher"
    assert "".join(
        line.removesuffix("-") if line.endswith("-") else line + " " for line in lines
    ).split() == (text.split())


# --- fonts and Korean rendering -----------------------------------------------------------------------------


def test_font_is_noto_cjk_and_korean_renders_real_glyphs() -> None:
    path, _index = find_font()
    assert "NotoSansCJK" in path.name
    face = font(64)

    def ink(s: str) -> np.ndarray:
        img = Image.new("L", (200, 100), 0)
        ImageDraw.Draw(img).text((10, 10), s, font=face, fill=255)
        return np.asarray(img)

    a, b, notdef = ink("가"), ink("힣"), ink("\U000f0000")  # private-use: renders .notdef
    assert a.sum() > 0 and b.sum() > 0
    assert not np.array_equal(a, b)
    assert not np.array_equal(a, notdef) and not np.array_equal(b, notdef)


def test_missing_font_fails_with_an_actionable_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:  # type: ignore[no-untyped-def]
    text_mod.find_font.cache_clear()
    monkeypatch.setattr(text_mod, "KNOWN_FONTS", ((tmp_path / "nope.ttc", 1),))
    monkeypatch.setattr(text_mod.shutil, "which", lambda _name: None)
    try:
        with pytest.raises(text_mod.FontNotFoundError, match="fonts-noto-cjk"):
            text_mod.find_font()
    finally:
        text_mod.find_font.cache_clear()


# --- overlay geometry, legibility, contrast ----------------------------------------------------------------


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 720), (640, 360)])
def test_overlay_stays_in_lower_third_and_title_safe(width: int, height: int) -> None:
    overlay = build_overlay(make_alert(), DisasterType.FLOOD, width, height, page_s=0)
    for index in (0, 45):
        alpha = overlay.rgba(index)[..., 3]
        rows, cols = np.nonzero(alpha)
        assert rows.min() >= int(np.ceil(height * 2 / 3))
        assert rows.max() < round(height * (1 - TITLE_SAFE))
        assert cols.min() >= round(width * TITLE_SAFE)
        assert cols.max() < round(width * (1 - TITLE_SAFE))
        assert (alpha[: int(height * 2 / 3)] == 0).all()


def test_headline_is_tall_enough_for_tv_viewing_distance() -> None:
    height = 1080
    overlay = build_overlay(make_alert(), DisasterType.FLOOD, 1920, height)
    for page in overlay.pages:
        assert page.headline_px >= height / 20
        _left, top, _right, bottom = font(page.headline_px).getbbox("한")
        assert bottom - top >= 0.8 * height / 20  # the ink of a Hangul syllable, not just the em box


def test_text_contrast_against_its_plate_is_at_least_7_to_1() -> None:
    # The plate is translucent: check it composited over the worst background (white) and over black.
    from cinealert.render.labels import DETAIL_RGB, HEADLINE_RGB, INSTRUCTION_RGB

    a = PLATE_ALPHA / 255
    for bg in ((255, 255, 255), (0, 0, 0)):
        plate = [c * a + b * (1 - a) for c, b in zip(PLATE_RGB, bg, strict=True)]
        for fg in (HEADLINE_RGB, INSTRUCTION_RGB, DETAIL_RGB):
            assert contrast_ratio(fg, plate) >= 7.0, (fg, plate)
    for band, fg in SEVERITY_COLORS.values():
        assert contrast_ratio(fg, band) >= 7.0, (band, fg)


def test_rendered_pixels_have_7_to_1_contrast_over_a_white_picture() -> None:
    """Measure on the burned-in frame itself: brightest text pixel vs the plate around it."""
    height, width = 720, 1280
    overlay = build_overlay(make_alert(), DisasterType.FLOOD, width, height)
    frame = overlay.apply(np.full((height, width, 3), 255, np.uint8), 0)
    page = overlay.pages[0]
    y0 = page.block.y0 + round(0.08 * height)  # below the band, inside the headline rows
    region = frame[y0 : y0 + round(0.05 * height), round(0.2 * width) : round(0.6 * width)].reshape(-1, 3)
    lum = np.array([relative_luminance(px) for px in region[:: max(1, len(region) // 4000)]])
    plate = region[:: max(1, len(region) // 4000)][lum.argmin()]
    text = region[:: max(1, len(region) // 4000)][lum.argmax()]
    assert contrast_ratio(text, plate) >= 7.0


def test_severity_band_colour_follows_cap_severity() -> None:
    height, width = 360, 640
    for severity, (band, _fg) in SEVERITY_COLORS.items():
        overlay = build_overlay(make_alert(severity=severity), DisasterType.FLOOD, width, height)
        page = overlay.pages[0]
        frame = overlay.apply(np.zeros((height, width, 3), np.uint8), 0)
        y = page.block.y0 + 2
        x = width // 2
        assert tuple(int(c) for c in frame[y, x]) == band, severity


def test_expiry_is_shown_in_the_configured_zone_when_its_offset_is_the_alerts() -> None:
    from zoneinfo import ZoneInfo

    expires = datetime.fromisoformat("2026-11-26T18:00:00+09:00")
    assert format_expiry(expires, "ko-KR", ZoneInfo("Asia/Seoul"), now=NOW) == "11월 26일 18:00 KST 까지"
    assert format_expiry(expires, "en-US", ZoneInfo("Asia/Seoul"), now=NOW) == "until 26 Nov 18:00 KST"
    # A zone whose offset differs at that instant does not move the time: the alert's own offset is shown.
    assert (
        format_expiry(expires, "en", ZoneInfo("America/New_York"), now=NOW) == "until 26 Nov 18:00 UTC+09:00"
    )


# --- per-frame behaviour -------------------------------------------------------------------------------------


def test_apply_blends_only_the_lower_third_and_never_mutates_the_input() -> None:
    height, width = 360, 640
    overlay = build_overlay(make_alert(), DisasterType.WILDFIRE, width, height)
    frame = gradient(height, width)
    before = frame.copy()
    out = overlay.apply(frame, 10)
    assert np.array_equal(frame, before)
    changed = np.nonzero((out != frame).any(axis=2))[0]
    assert changed.min() >= height * 2 / 3
    assert np.array_equal(out[: int(height * 2 / 3)], frame[: int(height * 2 / 3)])


def test_long_text_goes_to_a_crawl_that_scrolls() -> None:
    long_ko = " ".join(["저지대 주민은 즉시 대피소로 이동하고 하천과 계곡 근처에 접근하지 마십시오."] * 3)
    height, width = 360, 640
    overlay = build_overlay(make_alert(ko_instruction=long_ko), DisasterType.FLOOD, width, height, page_s=0)
    page = overlay.pages[0]
    assert page.crawl is not None and long_ko in page.crawl_text
    crawl = page.crawl
    y0, x0 = crawl.y0, crawl.x0
    h = crawl.height
    base = np.zeros((height, width, 3), np.uint8)
    a = overlay.apply(base, 0)[y0 : y0 + h, x0 : x0 + crawl.window_w]
    b = overlay.apply(base, 30)[y0 : y0 + h, x0 : x0 + crawl.window_w]
    assert not np.array_equal(a, b)
    shift = int(30 * crawl.px_per_frame) - int(0 * crawl.px_per_frame)
    assert shift > 0
    # The crawl moved left by exactly `shift` columns: the same line, drawn tile by tile.
    assert np.array_equal(a[:, shift:], b[:, : crawl.window_w - shift])


def reference_crawl_strip(text: str, height: int, window_w: int) -> tuple[np.ndarray, int]:
    """The crawl as it was drawn before tiles: one strip of the whole period (the line and a quarter-width gap),
    repeated so that any window is one slice."""
    u = height / 1080
    face = font(round(36 * u))
    h = round(54 * u)
    period = max(1, int(np.ceil(text_width(text, face))) + round(window_w * 0.25))
    strip = Image.new("RGBA", (period, h), (*PLATE_RGB, PLATE_ALPHA))
    ImageDraw.Draw(strip).text((0, h / 2), text, font=face, fill=(*DETAIL_RGB, 255), anchor="lm")
    reps = 2 + window_w // period
    return np.tile(np.asarray(strip)[..., :3], (1, reps, 1)), period


@pytest.mark.parametrize(("width", "height"), [(1920, 1080), (1280, 720)])
def test_tiled_crawl_looks_like_the_whole_strip(width: int, height: int) -> None:
    """Drawing the crawl tile by tile, piece by piece, gives the pixels the one whole strip gave: the pieces are
    placed where the whole line's layout puts them (Hangul word spacing, kerning, a word cut into chunks)."""
    long_ko = " ".join(["저지대 주민은 즉시 대피소로 이동하고 하천과 계곡 근처에 접근하지 마십시오."] * 3)
    long_en = (
        "Stay away from riverbanks, underpasses and basements; move to higher ground now (AV, Wa, To, Ty). "
        "Do not drive through flooded roads: Pneumonoultramicroscopicsilicovolcanoconiosis-grade dust. "
        "Listen to local radio for instructions from emergency officials."
    )
    alert = make_alert(ko_instruction=long_ko, en_instruction=long_en)
    frame = gradient(height, width)
    for lang in ("ko", "en"):
        overlay = build_overlay(alert, DisasterType.FLOOD, width, height, languages=(lang,))
        page = overlay.pages[0]
        crawl = page.crawl
        assert crawl is not None
        strip, period = reference_crawl_strip(page.crawl_text, height, crawl.window_w)
        assert crawl.period_px == period
        rows = slice(crawl.y0, crawl.y0 + crawl.height)
        cols = slice(crawl.x0, crawl.x0 + crawl.window_w)
        for index in (0, 1, 7, 100, 333, 1000, 2500):
            got = overlay.apply(frame, index)[rows, cols].astype(np.int16)
            offset = int(index * crawl.px_per_frame) % period
            want = strip[:, offset : offset + crawl.window_w].astype(np.int16)
            diff = np.abs(got - want)
            assert diff.max() <= 1, (page.language, index, int(diff.max()))
            assert (diff > 0).mean() < 0.001, (page.language, index)


def test_pages_follow_the_speech_schedule() -> None:
    overlay = build_overlay(make_alert(), DisasterType.FLOOD, 640, 360)
    timed = with_schedule(overlay, [("ko-KR", 2.0), ("en-US", 9.0)])
    fps = timed.fps
    assert timed.page_at(0).language == "ko-KR"
    assert timed.page_at(round(8.9 * fps)).language == "ko-KR"
    assert timed.page_at(round(9.1 * fps)).language == "en-US"
    frame = gradient(360, 640)
    assert not np.array_equal(timed.apply(frame, 0), timed.apply(frame, round(10 * fps)))


def test_compose_repeats_the_loop_to_the_requested_length() -> None:
    frames = [gradient(180, 320, shift=i * 8) for i in range(5)]
    overlay = build_overlay(make_alert(), DisasterType.FLOOD, 320, 180)
    out = list(compose(Loop.from_arrays(frames), overlay, 12))
    assert len(out) == 12
    assert np.array_equal(out[0][:100], frames[0][:100])
    assert np.array_equal(out[5][:100], frames[0][:100])  # wrapped around the 5-frame loop
    assert np.array_equal(out[7][:100], frames[2][:100])


@pytest.mark.parametrize("disaster", list(DisasterType))
def test_every_disaster_has_a_distinct_pictogram(disaster: DisasterType) -> None:
    fg, bg = (255, 255, 255, 255), (170, 0, 0, 255)
    icon = np.asarray(pictogram(disaster, 96, fg, bg))
    assert icon.shape == (96, 96, 4)
    white = (icon[..., :3].min(axis=2) > 200).mean()
    assert 0.05 < white < 0.8  # an icon is drawn, not an empty or solid tile
    others = [np.asarray(pictogram(d, 96, fg, bg)) for d in DisasterType if d is not disaster]
    assert all(not np.array_equal(icon, o) for o in others)


def test_translucent_blocks_blend_exactly() -> None:
    from cinealert.render.crawl import _Block

    rgba = np.zeros((4, 5, 4), np.uint8)
    rgba[..., :3] = (200, 100, 0)
    rgba[..., 3] = [[0], [128], [255], [64]]
    block = _Block.from_rgba(rgba, 2, 1)
    assert block.opaque is None
    frame = np.full((8, 8, 3), 40, np.uint8)
    out = frame.copy()
    block.blend(out)
    a = rgba[..., 3:4].astype(float) / 255
    expected = rgba[..., :3] * a + 40 * (1 - a)
    assert np.abs(out[2:6, 1:6].astype(float) - expected).max() <= 1.0
    assert np.array_equal(out[:2], frame[:2]) and np.array_equal(out[:, 6:], frame[:, 6:])


def test_long_event_name_is_ellipsized_before_the_expiry_time() -> None:
    from dataclasses import replace

    alert = make_alert()
    long_event = "Heavy Rain and Flash Flood and Landslide and Storm Surge Warning for Coastal Districts"
    en = replace(alert.infos[1], event=long_event)
    alert = replace(alert, infos=(en,))
    from cinealert.render.compose import _PAD, ellipsize

    overlay = build_overlay(alert, DisasterType.FLOOD, 640, 360, languages=("en",))
    page = overlay.pages[0]
    band_h = round(50 * 360 / 1080)
    band = overlay.apply(np.zeros((360, 640, 3), np.uint8), 0)[page.block.y0 : page.block.y0 + band_h]
    band_fg = SEVERITY_COLORS["Extreme"][1]
    ink_cols = np.nonzero((band == band_fg).all(axis=2).any(axis=0))[0]
    # Text ink runs in two groups (event left, expiry right) with a clear gap between them: no overlap.
    gaps = np.diff(ink_cols)
    assert gaps.max() >= round(_PAD * 360 / 1080), gaps.max()

    face = font(20)
    cut = ellipsize(long_event, face, 200)
    assert cut.endswith("…") and text_width(cut, face) <= 200 and long_event.startswith(cut[:-1].rstrip())
    assert ellipsize("짧은 제목", face, 500) == "짧은 제목"


def test_korean_headline_wraps_between_words_in_the_layout() -> None:
    from dataclasses import replace

    alert = make_alert()
    headline = "서울 동북권 전역 호우경보 발효 하천 범람 및 저지대 침수 위험 매우 높음"
    ko = replace(alert.infos[0], headline=headline)
    overlay = build_overlay(replace(alert, infos=(ko,)), DisasterType.FLOOD, 1280, 720, languages=("ko",))
    page = overlay.pages[0]
    head_lines = [line for line in page.lines if line in headline]
    assert len(head_lines) == 2
    assert " ".join(head_lines) == headline  # split exactly at a space between eojeol
    face = font(page.headline_px)
    assert all(text_width(line, face) <= 1280 * 0.9 for line in head_lines)
