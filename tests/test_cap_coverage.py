"""Coverage (``cap.coverage``): real CAP samples routed under several station coverages, the code hierarchies,
polygon and circle edge cases (shared borders, antimeridian, poles, holes), the rule order, and the settings."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cinealert.cap import parse_alert
from cinealert.cap.coverage import Coverage, Verdict
from cinealert.cap.coverage.codes import CodeError, parse_code
from cinealert.cap.coverage.shapes import ShapeError, cap_circle, load_area
from cinealert.cap.model import Alert, Circle
from cinealert.config import ConfigError, parse
from cinealert.config.sections import CoverageSettings

SAMPLES = Path(__file__).resolve().parents[1] / "samples"

# Station areas as GeoJSON (lon, lat). Boxes keep the expected answers checkable by hand.
SEOUL_BOX = [[126.90, 37.40], [127.20, 37.40], [127.20, 37.70], [126.90, 37.70], [126.90, 37.40]]
BUSAN_BOX = [[128.90, 35.00], [129.30, 35.00], [129.30, 35.30], [128.90, 35.30], [128.90, 35.00]]
MONTGOMERY_BOX = [[-77.30, 38.95], [-76.90, 38.95], [-76.90, 39.35], [-77.30, 39.35], [-77.30, 38.95]]
# Taveuni (Fiji) across the antimeridian, written with longitudes past 180 (common, if not RFC 7946)
TAVEUNI_WRAPPED = [[179.80, -17.10], [180.20, -17.10], [180.20, -16.70], [179.80, -16.70], [179.80, -17.10]]
SUVA_BOX = [[178.30, -18.20], [178.60, -18.20], [178.60, -18.00], [178.30, -18.00], [178.30, -18.20]]


def sample(name: str) -> Alert:
    return parse_alert((SAMPLES / name).read_bytes())


def polygon(ring: list[list[float]], *holes: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring, *holes]}


def area_file(tmp_path: Path, doc: dict[str, Any], name: str = "area.geojson") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def coverage(tmp_path: Path | None = None, area: dict[str, Any] | None = None, **settings: Any) -> Coverage:
    if area is not None:
        assert tmp_path is not None
        settings["area_file"] = area_file(tmp_path, area)
    return Coverage.from_settings(CoverageSettings(**settings))


def route(cov: Coverage, name: str) -> Verdict:
    return cov.route(sample(name))


# -- real samples under a few station coverages ------------------------------------------------------------

STATIONS: dict[str, dict[str, Any]] = {
    "montgomery_md": {"locations": ["SAME:024031"]},
    "maryland": {"locations": ["SAME:024000"]},
    "western_md_zones": {"locations": ["UGC:MDZ001>003"]},
    "seoul": {"locations": ["KR:11"]},
    "nowon_gu": {"locations": ["KR:1135000000"]},
    "busan": {"locations": ["KR:2600000000"]},
    "tyrol": {"locations": ["NUTS:AT33"]},
    "salzburg_emma": {"locations": ["EMMA_ID:AT005"]},
    "austria_emma": {"locations": ["EMMA_ID:AT"]},
    "seoul_not_national": {"locations": ["KR:11"], "national_keywords": [], "national_events": []},
    "montgomery_not_national": {"locations": ["SAME:024031"], "national_keywords": [], "national_events": []},
    "seoul_skip_unlocated": {"locations": ["KR:11"], "unlocated": "skip"},
}

ROUTES = [
    # NWS: SAME county, SAME whole state, UGC zones, and a Korean station that cannot compare SAME
    ("en_flood.xml", "montgomery_md", True, "in_area", "SAME:024031 ~ SAME:024031"),
    ("en_flood.xml", "maryland", True, "in_area", "SAME:024031 ~ SAME:024000"),
    ("en_flood.xml", "seoul", False, "out_of_area", ""),
    ("nws_winter_storm_zones.xml", "maryland", True, "in_area", "SAME:024023 ~ SAME:024000"),
    ("nws_winter_storm_zones.xml", "montgomery_md", False, "out_of_area", ""),
    ("nws_winter_storm_zones.xml", "western_md_zones", True, "in_area", "UGC:MDZ001 ~ UGC:MDZ001>003"),
    ("amber_alert.xml", "maryland", False, "out_of_area", ""),  # Texas, 048000
    # Korea: 법정동 codes, province over district and district under province
    ("ko_flood.xml", "seoul", True, "in_area", "KR:1135000000 ~ KR:11"),
    ("ko_flood.xml", "nowon_gu", True, "in_area", "KR:1135000000 ~ KR:1135000000"),
    ("ko_flood.xml", "busan", False, "out_of_area", ""),
    ("ko_drought.xml", "seoul", False, "out_of_area", ""),
    ("ko_national_earthquake.xml", "busan", True, "national", ""),
    ("ko_national_earthquake.xml", "seoul", True, "national", ""),
    ("ko_national_earthquake.xml", "seoul_not_national", False, "out_of_area", ""),
    # MeteoAlarm: NUTS prefixes and EMMA_ID
    ("meteoalarm_snow_nuts.xml", "tyrol", True, "in_area", "NUTS:AT335 ~ NUTS:AT33"),
    ("meteoalarm_flood.xml", "tyrol", False, "out_of_area", ""),  # EMMA_ID only: nothing to compare
    ("meteoalarm_flood.xml", "salzburg_emma", True, "in_area", "EMMA_ID:AT005 ~ EMMA_ID:AT005"),
    ("meteoalarm_snow_nuts.xml", "austria_emma", True, "in_area", "EMMA_ID:AT706 ~ EMMA_ID:AT"),
    ("meteoalarm_wind.xml", "austria_emma", False, "out_of_area", ""),  # FR029
    # national: SAME EAN airs anywhere; without the override 000000 still covers every SAME station
    ("ean_national.xml", "seoul", True, "national", ""),
    ("ean_national.xml", "seoul_not_national", False, "out_of_area", ""),
    ("ean_national.xml", "montgomery_not_national", True, "in_area", "SAME:000000 ~ SAME:024031"),
    # a polygon-only alert and a code-only station: nothing to compare, so coverage.unlocated decides (default
    # air: it may be for this area, and dropping a valid alert is the worse error)
    ("ko_typhoon.xml", "seoul", True, "unlocated", ""),
    ("ko_typhoon.xml", "seoul_skip_unlocated", False, "out_of_area", ""),
]


@pytest.mark.parametrize(("name", "station", "airs", "reason", "match"), ROUTES)
def test_samples_route_as_a_station_expects(
    name: str, station: str, airs: bool, reason: str, match: str
) -> None:
    verdict = route(coverage(**STATIONS[station]), name)
    assert (verdict.airs, verdict.reason) == (airs, reason), verdict
    if match:
        assert verdict.matched[0] == match
    if reason == "out_of_area":
        assert verdict.unmatched  # what did not match is named (it goes to the log)
    if reason == "national":
        assert verdict.national


def test_out_of_area_names_the_codes_that_did_not_match() -> None:
    verdict = route(coverage(locations=["SAME:024031"]), "nws_winter_storm_zones.xml")
    assert verdict.unmatched == (
        "SAME:024023",
        "SAME:324001",
        "UGC:MDZ001 (no UGC code in coverage.locations)",
        "UGC:MDZ509 (no UGC code in coverage.locations)",
        "1 polygon(s)/circle(s) (no coverage.area_file)",
    )
    assert "SAME:024023" in verdict.detail


def test_nothing_configured_airs_everything() -> None:
    cov = coverage()
    assert not cov.active
    for path in sorted(SAMPLES.glob("*.xml")):
        verdict = cov.route(parse_alert(path.read_bytes()))
        assert (verdict.airs, verdict.reason) == (True, "no_coverage"), path.name


# -- the code hierarchies ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("station", "alert", "overlap"),
    [
        ("SAME:024031", "SAME:024031", True),
        ("SAME:024031", "SAME:124031", True),  # part of the county
        ("SAME:124031", "SAME:024031", True),  # the whole county covers its part
        ("SAME:124031", "SAME:224031", False),  # two different parts
        ("SAME:024031", "SAME:024033", False),
        ("SAME:024031", "SAME:024000", True),  # alert for the whole state
        ("SAME:024000", "SAME:324001", True),  # station covers the whole state
        ("SAME:024000", "SAME:051059", False),
        ("SAME:024031", "SAME:000000", True),  # the whole US
        ("SAME:024031", "SAME:24031", True),  # FIPS6 without the subdivision digit
        ("UGC:MDZ011>015", "UGC:MDZ013", True),
        ("UGC:MDZ011>015", "UGC:MDZ016", False),
        ("UGC:MDZ011-013-VAZ053", "UGC:VAZ053", True),
        ("UGC:MDZ011-013", "UGC:MDZ012", False),
        ("UGC:MDC031", "UGC:MDZ503", False),  # counties and zones are different maps
        ("UGC:MDZALL", "UGC:MDZ503", True),
        ("KR:11", "KR:1111000000", True),  # Seoul takes Jongno-gu
        ("KR:1111000000", "KR:1100000000", True),  # an alert for all of Seoul reaches Jongno-gu
        ("KR:1120000000", "KR:1121500000", False),  # 성동구 and 광진구: not a prefix of each other's area
        ("KR:41110", "KR:4111100000", True),  # 수원시 over its 일반구 장안구
        ("KR:4111300000", "KR:4111000000", True),  # 권선구 under an alert for all of 수원시
        ("KR:4111300000", "KR:4111100000", False),  # 권선구 and 장안구
        ("KR:1111010100", "KR:1111000000", True),  # a 동 under its 구
        ("KR:1111010100", "KR:1111010200", False),
        ("NUTS:AT33", "NUTS:AT335", True),
        ("NUTS:AT335", "NUTS:AT3", True),
        ("NUTS:AT33", "NUTS:AT34", False),
        ("EMMA_ID:AT005", "EMMA_ID:AT006", False),
    ],
)
def test_code_overlap(station: str, alert: str, overlap: bool) -> None:
    cov = coverage(locations=[station])
    scheme, _, value = alert.partition(":")
    hits = [cov.codes.match(code) for code in parse_code(scheme, value)]
    assert any(hit is not None for hit in hits) is overlap


@pytest.mark.parametrize(
    ("scheme", "value"),
    [("SAME", "12345a"), ("SAME", "1234567"), ("UGC", "MDZ015>011"), ("UGC", "011"), ("UGC", "MDZ001>999-002>999"),
     ("KR", "123"), ("KR", "११"), ("NUTS", "1T")],
)  # fmt: skip
def test_malformed_codes_are_refused(scheme: str, value: str) -> None:
    with pytest.raises(CodeError):
        parse_code(scheme, value)


def test_malformed_alert_code_is_named_not_fatal() -> None:
    text = (
        (SAMPLES / "en_flood.xml")
        .read_text(encoding="utf-8")
        .replace("<value>024031</value>", "<value>24X31</value>")
    )
    verdict = coverage(locations=["SAME:024031"]).route(parse_alert(text.encode()))
    assert (verdict.airs, verdict.reason) == (False, "out_of_area")
    assert "SAME:24X31 (not a SAME code)" in verdict.unmatched


def test_extra_geocode_names() -> None:
    text = (SAMPLES / "ko_flood.xml").read_text(encoding="utf-8").replace("KR_ADMIN_CODE", "BJD_CODE")
    alert = parse_alert(text.encode())
    assert coverage(locations=["KR:11"]).route(alert).reason == "out_of_area"
    assert coverage(locations=["KR:11"], geocode_names=["bjd_code=KR"]).route(alert).reason == "in_area"


# -- polygons and circles ------------------------------------------------------------------------------------


def test_polygon_overlap_and_far_away(tmp_path: Path) -> None:
    montgomery = coverage(tmp_path, polygon(MONTGOMERY_BOX))
    verdict = route(montgomery, "en_flood.xml")
    assert (verdict.airs, verdict.reason) == (True, "in_area")
    assert verdict.matched[0].startswith("polygon 1 of 'Montgomery, MD' overlaps")
    assert route(montgomery, "en_wildfire.xml").reason == "out_of_area"  # Butte County, CA
    seoul = coverage(tmp_path, polygon(SEOUL_BOX))
    assert route(seoul, "ko_flood.xml").reason == "in_area"
    assert route(seoul, "ko_typhoon.xml").reason == "out_of_area"  # south coast, polygon only
    busan = coverage(tmp_path, polygon(BUSAN_BOX))
    assert route(busan, "ko_typhoon.xml").reason == "in_area"


def _box_alert(lat0: float, lon0: float, lat1: float, lon1: float) -> Alert:
    ring = f"{lat0},{lon0} {lat0},{lon1} {lat1},{lon1} {lat1},{lon0} {lat0},{lon0}"
    return _alert(f"<polygon>{ring}</polygon>")


def _circle_alert(lat: float, lon: float, km: float) -> Alert:
    return _alert(f"<circle>{lat},{lon} {km}</circle>")


def _alert(shape: str) -> Alert:
    text = (SAMPLES / "ko_typhoon.xml").read_text(encoding="utf-8")
    start, end = text.index("<polygon>"), text.index("</polygon>") + len("</polygon>")
    return parse_alert((text[:start] + shape + text[end:]).encode())


def test_shared_border_is_not_overlap(tmp_path: Path) -> None:
    """Decision: touching counts only for a point. The next county's polygon, drawn along the county line, shares
    a border with this station's area but no area: it does not air here."""
    cov = coverage(tmp_path, polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]))
    assert cov.route(_box_alert(0, 1, 1, 2)).reason == "out_of_area"  # shares the edge lon = 1
    assert cov.route(_box_alert(1, 1, 2, 2)).reason == "out_of_area"  # shares the corner (1, 1)
    assert cov.route(_box_alert(0, 0.999, 1, 2)).reason == "in_area"  # overlaps a sliver
    assert cov.route(_circle_alert(0.5, 1.0, 0)).reason == "in_area"  # a point on the border
    assert cov.route(_circle_alert(0.5, 1.001, 0)).reason == "out_of_area"


def test_circle_crossing_the_border_and_far_away(tmp_path: Path) -> None:
    cov = coverage(tmp_path, polygon(SEOUL_BOX))
    # centre 0.2 degrees of longitude west of the box: 17.6 km at latitude 37.55
    assert cov.route(_circle_alert(37.55, 126.70, 19.0)).reason == "in_area"
    assert cov.route(_circle_alert(37.55, 126.70, 16.0)).reason == "out_of_area"
    assert cov.route(_circle_alert(37.55, 127.05, 1.0)).reason == "in_area"  # inside
    assert cov.route(_circle_alert(37.55, 127.05, 400.0)).reason == "in_area"  # around the whole box
    assert cov.route(_circle_alert(35.10, 129.04, 10.0)).reason == "out_of_area"  # Busan
    verdict = cov.route(_circle_alert(35.10, 129.04, 10.0))
    assert verdict.unmatched == (
        "circle 1 (35.1,129.04 10.0 km) of '부산광역시, 경상남도, 전라남도, 제주특별자치도'",
    )


def test_circle_is_metric_at_high_latitude() -> None:
    """A 100 km circle at 70 N spans 2.63 degrees of longitude each way, not 0.9 (what degrees-as-km would say)."""
    shape = cap_circle(Circle(70.0, 20.0, 100.0))
    _minx, _miny, maxx, maxy = shape.bounds
    assert maxy - 70.0 == pytest.approx(100.0 / 111.195, rel=1e-3)
    assert maxx - 20.0 == pytest.approx(2.63, abs=0.02)


@pytest.mark.parametrize(
    "area",
    [
        polygon(TAVEUNI_WRAPPED),
        {  # the same as RFC 7946 wants it: split at the antimeridian
            "type": "MultiPolygon",
            "coordinates": [
                [[[179.8, -17.1], [180.0, -17.1], [180.0, -16.7], [179.8, -16.7], [179.8, -17.1]]],
                [[[-180.0, -17.1], [-179.8, -17.1], [-179.8, -16.7], [-180.0, -16.7], [-180.0, -17.1]]],
            ],
        },
        # only the east half (-180..-179.8), reached only across the antimeridian
        polygon([[-180.0, -17.1], [-179.8, -17.1], [-179.8, -16.7], [-180.0, -16.7], [-180.0, -17.1]]),
    ],
)
def test_antimeridian_polygon(tmp_path: Path, area: dict[str, Any]) -> None:
    cov = coverage(
        tmp_path, {"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": area}]}
    )
    assert route(cov, "fj_tsunami_antimeridian.xml").reason == "in_area"
    assert cov.route(_circle_alert(-16.9, 179.5, 70)).reason == "in_area"  # reaches across 180 from the west
    assert cov.route(_circle_alert(-16.9, 179.5, 20)).reason == "out_of_area"


def test_antimeridian_polygon_does_not_wrap_the_world(tmp_path: Path) -> None:
    suva = coverage(tmp_path, polygon(SUVA_BOX))
    assert route(suva, "fj_tsunami_antimeridian.xml").reason == "out_of_area"
    # a station on the far side of the globe at the same latitude is not inside a band around the world
    assert (
        coverage(tmp_path, polygon([[0, -18], [1, -18], [1, -17], [0, -17], [0, -18]]))
        .route(sample("fj_tsunami_antimeridian.xml"))
        .reason
        == "out_of_area"
    )


def test_polar_circles(tmp_path: Path) -> None:
    near_pole = coverage(tmp_path, polygon([[170, 88], [179, 88], [179, 89], [170, 89], [170, 88]]))
    assert (
        near_pole.route(_circle_alert(89.0, 0.0, 300.0)).reason == "in_area"
    )  # over the pole to the far side
    assert near_pole.route(_circle_alert(85.0, 0.0, 300.0)).reason == "out_of_area"
    world = cap_circle(Circle(10.0, 20.0, 19_000.0))  # past the far pole: all but a cap round the antipode
    assert world.is_valid and world.contains(cap_circle(Circle(60.0, -150.0, 10.0)))
    assert not world.contains(cap_circle(Circle(-10.0, -160.0, 10.0)))


def test_area_with_a_hole(tmp_path: Path) -> None:
    hole = [[0.4, 0.4], [0.6, 0.4], [0.6, 0.6], [0.4, 0.6], [0.4, 0.4]]
    cov = coverage(tmp_path, polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]], hole))
    assert cov.route(_box_alert(0.45, 0.45, 0.55, 0.55)).reason == "out_of_area"
    assert cov.route(_box_alert(0.1, 0.1, 0.2, 0.2)).reason == "in_area"


def test_self_intersecting_alert_polygon_is_repaired_not_fatal(tmp_path: Path) -> None:
    cov = coverage(tmp_path, polygon([[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]))
    bow_tie = _alert("<polygon>0.2,0.2 0.8,0.8 0.8,0.2 0.2,0.8 0.2,0.2</polygon>")
    assert cov.route(bow_tie).reason == "in_area"


def test_codes_and_area_together(tmp_path: Path) -> None:
    """Either matching airs: codes are looked at first (cheap), shapes next."""
    cov = coverage(tmp_path, polygon(SEOUL_BOX), locations=["KR:2600000000"])
    assert route(cov, "ko_flood.xml").matched[0].startswith("polygon 1")  # Seoul by shape
    assert route(cov, "ko_national_earthquake.xml").reason == "national"
    assert route(cov, "ko_drought.xml").reason == "out_of_area"


def test_area_names_only_when_nothing_else_places_the_alert() -> None:
    cov = coverage(area_names=["제주"])
    assert route(cov, "ko_typhoon.xml").matched == (
        "areaDesc '부산광역시, 경상남도, 전라남도, 제주특별자치도' names '제주'",
    )
    assert route(cov, "ko_heavy_snow.xml").reason == "out_of_area"


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({"type": "Point", "coordinates": [0, 0]}, "not an area"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [0, 0]]]}, "at least 4 positions"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 91], [0, 0]]]}, "off the globe"),
        ({"type": "FeatureCollection", "features": []}, "no Polygon"),
        ({"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [2, 0], [0, 0]]]}, "no area"),
    ],
)
def test_bad_area_file_is_a_config_error(tmp_path: Path, doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ShapeError, match=message):
        load_area(area_file(tmp_path, doc))
    with pytest.raises(ConfigError) as info:
        coverage(tmp_path, doc)
    assert info.value.problems[0].path == "coverage.area_file"


def test_area_file_not_json(tmp_path: Path) -> None:
    path = tmp_path / "area.geojson"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(ConfigError, match="not JSON"):
        Coverage.from_settings(CoverageSettings(area_file=path))


# -- the rule order: senders, events, national -------------------------------------------------------------


def test_sender_allow_list() -> None:
    cov = coverage(senders=["*noaa.gov", "ipaws.fema.gov"])
    assert route(cov, "en_flood.xml").reason == "no_location_filter"
    verdict = route(cov, "ko_flood.xml")
    assert (verdict.airs, verdict.reason) == (False, "sender_filtered")
    assert route(cov, "ean_national.xml").airs


def test_event_lists_and_the_national_override() -> None:
    allow = coverage(locations=["SAME:024000"], events_allow=["FFW", "Tornado Warning"])
    assert route(allow, "en_flood.xml").reason == "in_area"
    assert route(allow, "nws_winter_storm_zones.xml").reason == "event_filtered"  # WSW
    assert route(allow, "ean_national.xml").reason == "national"  # not in the allow list: national anyway
    deny = coverage(locations=["SAME:024000"], events_deny=["winter storm warning", "EAN"])
    assert route(deny, "nws_winter_storm_zones.xml").reason == "event_filtered"  # by <event> name
    assert route(deny, "ean_national.xml").reason == "event_filtered"  # an explicit deny wins
    korean = coverage(locations=["KR:11"], events_allow=["HR.W"])
    assert route(korean, "ko_flood.xml").reason == "in_area"  # KMA code
    assert route(korean, "ko_national_earthquake.xml").reason == "national"


# -- settings ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["024031"], "not SCHEME:CODE"),
        (["FIPS:024031"], "not SCHEME:CODE"),
        (["SAME:24031"], "not a SAME code"),
        (["KR:1234"], "not a KR code"),
        (["UGC:MDZ01"], "not a UGC code"),
    ],
)
def test_bad_locations_are_config_errors_with_their_key(value: list[str], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse({"coverage": {"locations": value}})
    assert info.value.problems[0].path == "coverage.locations"
    assert message in info.value.problems[0].message


def test_locations_are_normalised_and_missing_area_file_refused(tmp_path: Path) -> None:
    assert parse({"coverage": {"locations": [" ugc:mdz011>015 "]}}).coverage.locations == ("UGC:MDZ011>015",)
    with pytest.raises(ConfigError) as info:
        parse({"coverage": {"area_file": str(tmp_path / "missing.geojson")}})
    assert info.value.problems[0].path == "coverage.area_file"
    with pytest.raises(ConfigError):
        parse({"coverage": {"geocode_names": ["BJD"]}})


def test_an_alert_with_no_location_airs_unless_unlocated_says_skip() -> None:
    """Nothing places it anywhere: it may be for this area, so by default it airs (dropping a valid alert is
    the worse error); ``unlocated = "skip"`` does what EAS devices do."""
    text = (SAMPLES / "en_flood.xml").read_text(encoding="utf-8")
    start, end = text.index("<area>"), text.index("</area>") + len("</area>")
    alert = parse_alert((text[:start] + "<area><areaDesc>somewhere</areaDesc></area>" + text[end:]).encode())
    assert coverage(locations=["SAME:024031"]).route(alert).reason == "unlocated"
    assert coverage(locations=["SAME:024031"]).route(alert).airs
    skipped = coverage(locations=["SAME:024031"], unlocated="skip").route(alert)
    assert (skipped.airs, skipped.reason) == (False, "out_of_area")
