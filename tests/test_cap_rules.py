"""The parser rules from the P1 safety issue, each on a real CAP document: ``expires`` before ``sent``, numbers
too long or too large for geometry and resource sizes, and elements in another CAP namespace. Each refusal must be
an ordinary CapError (never the internal-error path) whose one-line reason says what to fix; the far ends of the
date range (year 0001, year 9999) must still parse."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cinealert.cap import (
    CapError,
    CapInternalError,
    CapStructureError,
    CapValidationError,
    classify,
    parse_alert,
)
from cinealert.cap.numbers import CapNumberError, parse_decimal, parse_whole
from conftest import cap_xml

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
NOW = datetime.now(UTC)
CAP_1_1 = "urn:oasis:names:tc:emergency:cap:1.1"


def _replace(name: str, old: str, new: str) -> bytes:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    return text.replace(old, new).encode("utf-8")


def _refusal(data: bytes) -> CapError:
    with pytest.raises(CapError) as info:
        parse_alert(data)
    exc = info.value
    assert not isinstance(exc, CapInternalError), exc.reason
    assert "\n" not in exc.reason and str(exc) == exc.reason
    return exc


def _with_resource(size: str) -> bytes:
    return _replace(
        "en_landslide.xml",
        "<area>",
        f"<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>{size}</size></resource>"
        "<area>",
    )


# -- 1. expires before sent ---------------------------------------------------------------------------------


def test_expires_before_sent_is_refused() -> None:
    data = cap_xml("E-1", sent="2026-11-26T09:00:00+09:00", expires="2026-11-26T08:59:59+09:00")
    exc = _refusal(data)
    assert isinstance(exc, CapValidationError)
    assert exc.reason == (
        "info[1]/expires: 2026-11-26T08:59:59+09:00 is earlier than <sent>; the alert would have expired before "
        "it was sent (check the sender's clock and time-zone offsets)"
    )


def test_expires_before_sent_compares_instants_not_text() -> None:
    sent = "2026-11-26T09:00:00+09:00"  # 00:00 UTC
    late_looking = cap_xml("E-2", sent=sent, expires="2026-11-25T19:59:00-04:00")  # 23:59 UTC the day before
    assert "earlier than <sent>" in _refusal(late_looking).reason
    same_instant = parse_alert(cap_xml("E-3", sent=sent, expires="2026-11-25T23:30:00-00:30"))
    assert same_instant.expires == same_instant.sent  # not earlier: accepted, the profile only warns
    assert any("<expires> is not after <sent>" in w for w in same_instant.warnings)


def test_expires_before_sent_in_a_later_info_block() -> None:
    text = (SAMPLES / "bilingual_typhoon.xml").read_text(encoding="utf-8")
    assert text.count("<expires>2030-11-26T10:00:00+09:00</expires>") == 2
    head, tail = text.rsplit("<expires>2030-11-26T10:00:00+09:00</expires>", 1)
    data = (head + "<expires>2026-11-25T09:59:00+09:00</expires>" + tail).encode("utf-8")
    assert _refusal(data).reason.startswith(
        "info[2]/expires: 2026-11-25T09:59:00+09:00 is earlier than <sent>"
    )


def test_far_dates_parse() -> None:
    alert = parse_alert(_replace("en_flood.xml", "2030-11-25T20:45:00-05:00", "9999-12-31T23:59:59-14:00"))
    assert alert.expires is not None and alert.expires.year == 9999
    assert not alert.is_expired(NOW)
    assert classify(alert).disaster.value == "flood"
    ancient = cap_xml("F-1", sent="0001-01-01T00:00:00+14:00", expires="9999-12-31T23:59:59-14:00")
    alert = parse_alert(ancient)
    assert alert.sent.year == 1 and alert.sent_text == "0001-01-01T00:00:00+14:00"
    assert alert.expires is not None and alert.expires.year == 9999
    # Both ends at once: instants outside datetime's UTC range in either direction still compare exactly.
    both = cap_xml("F-2", sent="0001-01-01T00:00:00+14:00", expires="0001-01-01T00:00:00-14:00")
    assert parse_alert(both).sent.year == 1
    never = cap_xml("F-3", sent="9999-12-31T23:59:59-14:00", expires=None)
    assert parse_alert(never).expires is None


def test_expires_before_sent_at_the_end_of_the_calendar() -> None:
    # 9999-12-31T23:59:59+14:00 is 28 hours before 9999-12-31T23:59:59-14:00: refused, and without an overflow.
    data = cap_xml("F-4", sent="9999-12-31T23:59:59-14:00", expires="9999-12-31T23:59:59+14:00")
    assert "earlier than <sent>" in _refusal(data).reason
    data = cap_xml("F-5", sent="0001-01-01T00:00:00-14:00", expires="0001-01-01T00:00:00+14:00")
    assert "earlier than <sent>" in _refusal(data).reason


# -- 2. geometry numbers ------------------------------------------------------------------------------------


def test_circle_radius_of_400_digits_is_refused() -> None:
    exc = _refusal(
        _replace(
            "en_landslide.xml", "<circle>9.85,76.97 25</circle>", f"<circle>9.85,76.97 {'9' * 400}</circle>"
        )
    )
    assert isinstance(exc, CapValidationError)
    assert exc.reason.startswith("info[1]/area[1]/circle[1]: circle radius '9999")
    assert "is 400 characters long; at most 32 are accepted" in exc.reason


def test_circle_radius_larger_than_the_earth_is_refused() -> None:
    exc = _refusal(_replace("en_landslide.xml", "9.85,76.97 25<", "9.85,76.97 50000<"))
    assert "circle radius 50000 km is outside [0, 20038]" in exc.reason
    exc = _refusal(_replace("en_landslide.xml", "9.85,76.97 25<", "9.85,76.97 -1<"))
    assert "circle radius -1 km is outside [0, 20038]" in exc.reason


@pytest.mark.parametrize("element", ["altitude", "ceiling"])
def test_altitude_and_ceiling_of_400_digits_are_refused(element: str) -> None:
    area = (
        "<altitude>100</altitude><ceiling>{}</ceiling>" if element == "ceiling" else "<altitude>{}</altitude>"
    )
    data = _replace(
        "en_flood.xml",
        "<areaDesc>Montgomery, MD</areaDesc>",
        "<areaDesc>M</areaDesc>" + area.format("1" * 400),
    )
    exc = _refusal(data)
    assert isinstance(exc, CapValidationError)
    assert exc.reason.startswith(f"info[1]/area[1]/{element}: {element} '1111")
    assert "400 characters long" in exc.reason


def test_absurd_altitude_is_refused_and_a_real_one_parses() -> None:
    data = _replace(
        "en_flood.xml",
        "<areaDesc>Montgomery, MD</areaDesc>",
        "<areaDesc>M</areaDesc><altitude>5000000</altitude>",
    )
    assert "altitude 5e+06 ft is outside [-40000, 1e+06]" in _refusal(data).reason
    data = _replace(
        "en_flood.xml",
        "<areaDesc>Montgomery, MD</areaDesc>",
        "<areaDesc>M</areaDesc><altitude>-1400</altitude><ceiling>35000.5</ceiling>",
    )
    area = parse_alert(data).infos[0].areas[0]
    assert (area.altitude, area.ceiling) == (-1400.0, 35000.5)


@pytest.mark.parametrize(
    ("coordinate", "reason"),
    [
        ("9" * 400, "latitude '9999"),
        ("0." + "0" * 400 + "1", "latitude '0.000"),
        ("1e1", "latitude '1e1' is not a decimal number"),
        ("inf", "latitude 'inf' is not a decimal number"),
        ("９", "latitude '９' is not a decimal number"),
    ],
)
def test_polygon_coordinates_are_checked_like_the_circle(coordinate: str, reason: str) -> None:
    polygon = "39.05,-77.15 39.12,-77.09 39.09,-77.01 39.00,-77.04 39.05,-77.15"
    data = _replace("en_flood.xml", polygon, polygon.replace("39.09", coordinate))
    exc = _refusal(data)
    assert exc.reason.startswith("info[1]/area[1]/polygon[1]: " + reason)


def test_every_parsed_number_is_finite() -> None:
    for path in sorted(SAMPLES.glob("*.xml")):
        for info in parse_alert(path.read_bytes()).infos:
            for area in info.areas:
                values = [v for polygon in area.polygons for point in polygon for v in point]
                values += [v for c in area.circles for v in (c.lat, c.lon, c.radius_km)]
                values += [v for v in (area.altitude, area.ceiling) if v is not None]
                assert all(math.isfinite(v) for v in values), path.name


# -- 4. resource size ---------------------------------------------------------------------------------------


def test_resource_size_of_5000_digits_is_a_validation_error() -> None:
    exc = _refusal(_with_resource("1" * 5000))
    assert isinstance(exc, CapValidationError)
    assert exc.reason.startswith("info[1]/resource[1]/size: resource size in bytes '1111")
    assert "has 5000 digits; the largest accepted is 9223372036854775807" in exc.reason


def test_resource_size_bounds() -> None:
    assert parse_alert(_with_resource(str(2**63 - 1))).infos[0].resources[0].size == 2**63 - 1
    assert parse_alert(_with_resource("0" * 40 + "42")).infos[0].resources[0].size == 42
    assert "larger than 9223372036854775807" in _refusal(_with_resource(str(2**63))).reason
    assert "is not a whole number" in _refusal(_with_resource("²")).reason


def test_number_helpers() -> None:
    assert parse_decimal("-.5", "x", low=-1, high=1) == -0.5
    assert parse_decimal("+90", "x", low=-90, high=90) == 90.0
    for bad in ("", "+", ".", "1e5", "nan", "inf", "-inf", "0x1", "1_000", "١", "1 ", "9" * 33):
        with pytest.raises(CapNumberError):
            parse_decimal(bad, "x", low=-math.inf, high=math.inf)
    assert parse_whole("007", "n", high=7) == 7
    for bad in ("", "-1", "+1", "1.0", "²", "１", "8", "9" * 5000):
        with pytest.raises(CapNumberError):
            parse_whole(bad, "n", high=7)


def test_classifier_reads_awareness_type_through_the_same_helper() -> None:
    for value in ("²; flooding", "1" * 5000 + "; flooding", "12; flooding"):
        text = (SAMPLES / "meteoalarm_flood.xml").read_text(encoding="utf-8")
        data = text.replace("<value>12; flooding</value>", f"<value>{value}</value>").encode("utf-8")
        assert classify(parse_alert(data)).disaster.value == "flood"  # the name after ';' still decides


# -- 3. namespaces ------------------------------------------------------------------------------------------


def test_cap_1_1_info_inside_a_cap_1_2_alert_is_refused() -> None:
    # Before: the <info> was skipped as an "extension", and the alert went on with no content at all.
    data = _replace("en_flood.xml", "<info>", f'<info xmlns="{CAP_1_1}">')
    exc = _refusal(data)
    assert isinstance(exc, CapStructureError)
    assert exc.reason == (
        f"mixed CAP namespaces: <info> under <alert> is in '{CAP_1_1}' (CAP 1.1), but <alert> is CAP 1.2 "
        "(urn:oasis:names:tc:emergency:cap:1.2); send the whole alert in one CAP namespace"
    )


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<headline>", f'<headline xmlns="{CAP_1_1}">', "<headline> under <info> is in"),
        ("<scope>Public</scope>", f'<scope xmlns="{CAP_1_1}">Public</scope>', "<scope> under <alert>"),
        (
            "<areaDesc>Montgomery, MD</areaDesc>",
            f'<areaDesc>Montgomery, MD</areaDesc><x:hint xmlns:x="urn:example:x"><c:area xmlns:c="{CAP_1_1}"/>'
            "</x:hint>",
            "<area> under <hint> is in",
        ),
        ("<code>", '<old:note xmlns:old="http://www.incident.com/cap/1.0">n</old:note><code>', "(CAP 1.0)"),
        ("<code>", '<n:note xmlns:n="urn:oasis:names:tc:emergency:cap:1.3">n</n:note><code>', "cap:1.3'"),
    ],
)
def test_any_element_in_another_cap_namespace_is_refused(old: str, new: str, reason: str) -> None:
    exc = _refusal(_replace("en_flood.xml", old, new))
    assert isinstance(exc, CapStructureError)
    assert exc.reason.startswith("mixed CAP namespaces: ") and reason in exc.reason


def test_cap_1_2_element_inside_a_cap_1_1_alert_is_refused() -> None:
    data = _replace(
        "cap11_flood.xml",
        "<cap:expires>",
        '<expires xmlns="urn:oasis:names:tc:emergency:cap:1.2">x</expires><cap:expires>',
    )
    exc = _refusal(data)
    assert "(CAP 1.2), but <alert> is CAP 1.1" in exc.reason


def test_foreign_element_named_like_the_cap_info_is_refused() -> None:
    data = _replace(
        "en_flood.xml", "</info>", '</info><x:info xmlns:x="urn:example:x"><x:event>x</x:event></x:info>'
    )
    exc = _refusal(data)
    assert isinstance(exc, CapValidationError)
    assert exc.reason.startswith("alert: <info> is in namespace 'urn:example:x', not the alert's")
