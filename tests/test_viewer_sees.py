"""What the viewer sees of an alert's time and message type (issue 14): the expiry in the alert's own time,
an Update tagged, a Cancel as an all-clear (green band, no expiry, the neutral scene)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from cinealert.cap.model import Alert, DisasterType
from cinealert.cap.parse import parse_alert
from cinealert.config.settings import parse
from cinealert.media.overlay import channel_zone
from cinealert.media.speech import spoken_prefix
from cinealert.render.compose import build_overlay
from cinealert.render.labels import (
    ALL_CLEAR_COLORS,
    SEVERITY_COLORS,
    band_label,
    band_style,
    contrast_ratio,
    format_expiry,
    shown_expiry,
)
from cinealert.render.present import scene_for
from cinealert.render.slate import slate

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
NOW = datetime(2030, 11, 25, 12, 0, tzinfo=UTC)


def sample(name: str) -> Alert:
    return parse_alert((SAMPLES / name).read_bytes())


# --- the expiry ------------------------------------------------------------------------------------------


def test_us_alert_is_shown_at_its_own_offset_named_by_the_us_zone_in_use() -> None:
    alert = sample("en_flood.xml")
    info = alert.infos[0]
    assert info.expires is not None and info.expires.utcoffset() is not None
    # No zone configured: the alert's -05:00, which in the US in November is only EST.
    assert shown_expiry(alert, info, None, now=NOW) == "until 25 Nov 20:45 EST"
    # A Korean channel configured explicitly still shows the US time the alert speaks of, not KST.
    assert shown_expiry(alert, info, ZoneInfo("Asia/Seoul"), now=NOW) == "until 25 Nov 20:45 EST"
    # Summer: -05:00 is CDT in the US; -07:00 is both MST (Phoenix) and PDT (Los Angeles): no name, the offset.
    summer = datetime.fromisoformat("2030-07-04T20:45:00-05:00")
    assert format_expiry(summer, "en-US", None, now=NOW) == "until 4 Jul 20:45 CDT"
    west = datetime.fromisoformat("2030-07-04T20:45:00-07:00")
    assert format_expiry(west, "en-US", None, now=NOW) == "until 4 Jul 20:45 UTC-07:00"
    # A language without a country names no zone.
    assert format_expiry(summer, "en", None, now=NOW) == "until 4 Jul 20:45 UTC-05:00"


def test_korean_alert_reads_kst_and_the_year_when_it_is_not_this_year() -> None:
    alert = sample("ko_flood.xml")
    info = alert.infos[0]
    assert shown_expiry(alert, info, None, now=NOW) == "11월 26일 06:00 KST 까지"
    assert shown_expiry(alert, info, ZoneInfo("Asia/Seoul"), now=NOW) == "11월 26일 06:00 KST 까지"
    earlier = datetime(2029, 6, 1, tzinfo=UTC)
    assert shown_expiry(alert, info, None, now=earlier) == "2030년 11월 26일 06:00 KST 까지"
    # "This year" is the year in the zone shown: 31 Dec 20:00 UTC is already next year in Seoul.
    eve = datetime(2030, 12, 31, 20, 0, tzinfo=UTC)
    assert format_expiry(datetime.fromisoformat("2031-01-01T09:00:00+09:00"), "ko", None, now=eve) == (
        "1월 1일 09:00 KST 까지"
    )


def test_meteoalarm_alert_at_plus_one_hour() -> None:
    alert = sample("meteoalarm_flood.xml")
    de, en = alert.infos[0], alert.infos[1]
    assert (de.language, en.language) == ("de-AT", "en-GB")
    # Austria at +01:00 in November is CET.
    assert shown_expiry(alert, de, None, now=NOW) == "until 27 Nov 06:00 CET"
    # The English info says en-GB: Great Britain keeps GMT then, so +01:00 is not named there.
    assert shown_expiry(alert, en, None, now=NOW) == "until 27 Nov 06:00 UTC+01:00"
    assert shown_expiry(alert, en, ZoneInfo("Europe/Vienna"), now=NOW) == "until 27 Nov 06:00 CET"
    assert shown_expiry(alert, en, ZoneInfo("Asia/Seoul"), now=NOW) == "until 27 Nov 06:00 UTC+01:00"


def test_dates_a_zone_cannot_hold_are_shown_as_written() -> None:
    far = datetime.fromisoformat("9999-12-31T23:59:59+00:00")
    assert format_expiry(far, "ko-KR", ZoneInfo("Asia/Seoul"), now=NOW) == "9999-12-31T23:59:59+00:00 까지"
    assert format_expiry(far, "en", None, now=NOW) == "until 31 Dec 9999 23:59 UTC+00:00"
    first = datetime.fromisoformat("0001-01-01T00:00:00+00:00")
    assert (
        format_expiry(first, "en", ZoneInfo("America/New_York"), now=NOW) == "until 0001-01-01T00:00:00+00:00"
    )


def test_only_an_explicitly_configured_zone_is_the_channels() -> None:
    assert channel_zone(parse({}).broadcast) is None
    assert channel_zone(parse({"broadcast": {"timezone": "Asia/Seoul"}}).broadcast) == "Asia/Seoul"


# --- Update and Cancel -----------------------------------------------------------------------------------


def test_update_is_tagged_in_the_band_and_in_the_speech() -> None:
    alert = sample("update_flood.xml")
    assert alert.msg_type == "Update"
    info = alert.infos[0]
    assert band_label(alert, info) == "UPDATED · SEVERE"
    assert band_style(alert, info.severity) == SEVERITY_COLORS["Severe"]
    assert spoken_prefix(alert, info) == "Updated alert. "
    for language, tag, prefix in (("ko-KR", "갱신", "갱신된 경보. "), ("ja-JP", "更新", "更新された警報。"),
                                  ("de-AT", "UPDATED", "Updated alert. ")):  # fmt: skip
        other = replace(info, language=language)
        assert band_label(alert, other).startswith(f"{tag} · "), language
        assert spoken_prefix(alert, other) == prefix
    new = replace(alert, msg_type="Alert")
    assert band_label(new, info) == "SEVERE" and spoken_prefix(new, info) == ""


def test_cancel_is_an_all_clear() -> None:
    alert = sample("cancel_flood.xml")
    assert alert.msg_type == "Cancel"
    info = alert.infos[0]
    assert info.expires is not None  # the CAP text has one; it is not shown
    assert band_label(alert, info) == "해제"
    assert band_label(alert, replace(info, language="en-US")) == "CANCELLED"
    assert shown_expiry(alert, info, None, now=NOW) == ""
    bg, fg = band_style(alert, "Extreme")
    assert (bg, fg) == ALL_CLEAR_COLORS
    assert contrast_ratio(bg, fg) >= 7.0
    assert spoken_prefix(alert, info) == ""  # the headline says what was lifted
    assert scene_for(alert, DisasterType.FLOOD) is DisasterType.OTHER
    assert scene_for(replace(alert, msg_type="Update"), DisasterType.FLOOD) is DisasterType.FLOOD


def _band_row(alert: Alert) -> tuple[np.ndarray, int]:
    height, width = 360, 640
    overlay = build_overlay(alert, DisasterType.FLOOD, width, height, languages=("ko", "en"))
    frame = overlay.apply(np.zeros((height, width, 3), np.uint8), 0)
    page = overlay.pages[0]
    band_h = round(50 * height / 1080)
    rows = frame[page.block.y0 : page.block.y0 + band_h, page.block.x0 : page.block.x0 + page.block.shape[1]]
    return rows, width


@pytest.mark.parametrize("msg_type", ["Cancel", "Update"])
def test_band_drawn_for_cancel_is_green_and_has_no_expiry(msg_type: str) -> None:
    alert = replace(sample("cancel_flood.xml"), msg_type=msg_type)
    rows, _width = _band_row(alert)
    bg = np.asarray(band_style(alert, alert.infos[0].severity)[0], np.uint8)
    assert (rows[1, 1] == bg).all()
    right = rows[:, rows.shape[1] * 2 // 3 :]  # where "... 까지" is drawn, right-aligned
    has_text = bool((right != bg).any(axis=-1).any())
    assert has_text == (msg_type == "Update")


def test_slate_carries_the_same_tag_and_no_expiry_for_a_cancel() -> None:
    alert = sample("cancel_flood.xml")
    made = slate(alert, alert.infos, 640, 360)
    assert made.band.startswith("해제")
    assert [p.expiry for p in made.pages] == [""]
    assert tuple(int(c) for c in made.frame[2, 2]) == ALL_CLEAR_COLORS[0]
    update = slate(replace(alert, msg_type="Update"), alert.infos, 640, 360)
    assert update.band.startswith("갱신 · ")
    assert update.pages[0].expiry.endswith("까지")
