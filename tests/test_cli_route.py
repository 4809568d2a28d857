"""``cinealert route`` (and the coverage verdict in ``classify --json``) as an operator runs them: subprocesses,
real samples, a real settings file and GeoJSON area. Exit 0 whether the alert airs or not, 2 for bad input."""

from __future__ import annotations

import json
from pathlib import Path

from test_cli_cap import SAMPLES, cli


def station(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "station.toml"
    path.write_text(body, encoding="utf-8")
    return path


def test_route_says_why_it_airs_or_not(tmp_path: Path) -> None:
    config = station(tmp_path, '[coverage]\nlocations = ["SAME:024000", "KR:11"]\n')
    airs = cli("route", "--config", str(config), str(SAMPLES / "en_flood.xml"))
    assert airs.returncode == 0, airs.stderr
    assert airs.stdout.startswith(f"AIRS {SAMPLES / 'en_flood.xml'}: in_area")
    assert "  matched: SAME:024031 ~ SAME:024000" in airs.stdout
    skip = cli("route", "--config", str(config), "--json", str(SAMPLES / "ko_drought.xml"))
    assert skip.returncode == 0, skip.stderr
    doc = json.loads(skip.stdout)
    assert (doc["airs"], doc["action"], doc["reason"]) == (False, "skip", "out_of_area")
    assert doc["coverage"]["unmatched"] == ["KR:4689000000", "KR:4691000000"]
    national = json.loads(
        cli("route", "--config", str(config), "--json", str(SAMPLES / "ko_national_earthquake.xml")).stdout
    )
    assert (national["airs"], national["reason"]) == (True, "national")
    assert national["coverage"]["national"] == "keyword '위급재난'"


def test_route_reports_policy_before_coverage(tmp_path: Path) -> None:
    config = station(tmp_path, '[coverage]\nlocations = ["SAME:024031"]\n[handlers]\nother_policy = "skip"\n')
    test = json.loads(
        cli("route", "--config", str(config), "--json", str(SAMPLES / "test_required_weekly.xml")).stdout
    )
    assert (test["airs"], test["reason"]) == (False, "status_test")
    assert test["coverage"]["reason"] == "in_area"  # 000000 covers the station; the status keeps it off air
    ean = json.loads(
        cli("route", "--config", str(config), "--json", str(SAMPLES / "ean_national.xml")).stdout
    )
    assert (ean["airs"], ean["reason"]) == (False, "other_disaster")
    cancel = cli("route", "--config", str(config), str(SAMPLES / "cancel_flood.xml"))
    assert cancel.returncode == 0 and cancel.stdout.startswith("CANCEL ")


def test_route_with_an_area_file(tmp_path: Path) -> None:
    area = tmp_path / "taveuni.geojson"
    ring = [[179.8, -17.1], [180.2, -17.1], [180.2, -16.7], [179.8, -16.7], [179.8, -17.1]]
    area.write_text(json.dumps({"type": "Polygon", "coordinates": [ring]}), encoding="utf-8")
    config = station(tmp_path, f'[coverage]\narea_file = "{area}"\n')
    doc = json.loads(
        cli("route", "--config", str(config), "--json", str(SAMPLES / "fj_tsunami_antimeridian.xml")).stdout
    )
    assert (doc["airs"], doc["reason"]) == (True, "in_area")
    assert doc["coverage"]["matched"][0].startswith("polygon 1 of 'Vanua Levu")


def test_route_exit_codes_for_bad_input(tmp_path: Path) -> None:
    invalid = cli("route", str(SAMPLES / "hostile" / "wrong_namespace.xml"))
    assert invalid.returncode == 2 and invalid.stderr.startswith("INVALID ")
    bad_code = station(tmp_path, '[coverage]\nlocations = ["SAME:24031"]\n')
    result = cli("route", "--config", str(bad_code), str(SAMPLES / "en_flood.xml"))
    assert result.returncode == 2 and "coverage.locations" in result.stderr
    area = tmp_path / "point.geojson"
    area.write_text('{"type": "Point", "coordinates": [0, 0]}', encoding="utf-8")
    bad_area = station(tmp_path, f'[coverage]\narea_file = "{area}"\n')
    result = cli("route", "--config", str(bad_area), str(SAMPLES / "en_flood.xml"))
    assert result.returncode == 2 and "coverage.area_file" in result.stderr
    checked = cli("validate-config", str(bad_area))
    assert checked.returncode == 2 and "not an area" in checked.stderr
    assert "Traceback" not in result.stderr + checked.stderr


def test_classify_json_carries_the_coverage_verdict(tmp_path: Path) -> None:
    doc = json.loads(cli("classify", "--json", str(SAMPLES / "ko_flood.xml")).stdout)
    assert doc["coverage"]["reason"] == "no_coverage" and doc["coverage"]["airs"] is True
    config = station(tmp_path, '[coverage]\nlocations = ["KR:26"]\n')
    doc = json.loads(cli("classify", "--config", str(config), "--json", str(SAMPLES / "ko_flood.xml")).stdout)
    assert doc["disaster"] == "flood"
    assert (doc["coverage"]["airs"], doc["coverage"]["reason"]) == (False, "out_of_area")


def test_route_names_the_channels(tmp_path: Path) -> None:
    config = station(
        tmp_path,
        f'[broadcast]\noutput_dir = "{tmp_path / "out"}"\n'
        '[channels.maryland.coverage]\nlocations = ["SAME:024000"]\n'
        '[channels.seoul]\nlanguages = ["ko"]\n[channels.seoul.coverage]\nlocations = ["KR:11"]\n',
    )
    flood = cli("route", "--config", str(config), str(SAMPLES / "en_flood.xml"))
    assert flood.returncode == 0, flood.stderr
    assert flood.stdout.startswith(f"AIRS {SAMPLES / 'en_flood.xml'}: in_area on maryland\n"), flood.stdout
    assert "  channel maryland: AIRS in_area" in flood.stdout
    assert "  channel seoul: SKIP out_of_area" in flood.stdout
    doc = json.loads(cli("route", "--config", str(config), "--json", str(SAMPLES / "ko_drought.xml")).stdout)
    assert (doc["airs"], doc["reason"]) == (False, "out_of_area")
    assert [(c["channel"], c["airs"]) for c in doc["channels"]] == [("maryland", False), ("seoul", False)]
    assert doc["channels"][1]["output_dir"] == str(tmp_path / "out" / "seoul")
