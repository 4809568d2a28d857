"""bench/suite.py's pure parts: the alert burst it produces, its statistics, the results schema and the table.

The figures themselves come from ``make bench``; nothing here times anything.
"""

from __future__ import annotations

import sys
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from cinealert.cap import classify, parse_alert
from cinealert.config import Settings
from cinealert.handlers.policy import decide

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
import suite


def test_burst_covers_every_type_both_languages_and_valid_updates_and_cancels() -> None:
    alerts = suite.burst_alerts("t", 200, tuple(suite.TEMPLATES))
    assert len({a.ident for a in alerts}) == 200
    kinds = Counter(a.msg_type for a in alerts)
    assert kinds["Update"] >= 10 and kinds["Cancel"] >= 5 and kinds["Alert"] > 150
    assert {a.disaster for a in alerts} == set(suite.TEMPLATES)
    assert {"ko", "en"} <= {a.language for a in alerts}
    earlier: dict[str, suite.BenchAlert] = {}
    referenced: set[str] = set()
    now = datetime.now(UTC)
    for bench_alert in alerts:
        alert = parse_alert(bench_alert.xml)
        assert alert.msg_type == bench_alert.msg_type
        assert classify(alert).disaster.value == bench_alert.disaster
        assert decide(alert, Settings().handlers, now).action != "skip"
        if bench_alert.msg_type != "Alert":
            [ref] = alert.references
            original = earlier[ref.key.identifier]  # refers to an alert produced before it
            assert ref.key == parse_alert(original.xml).key
            assert bench_alert.kafka_key == original.kafka_key  # same partition: handled after it
            assert original.ident not in referenced
            referenced.add(original.ident)
        earlier[bench_alert.ident] = bench_alert
    assert next(a.expect_events for a in alerts if a.msg_type == "Update") == 2


def test_dist_is_nearest_rank_and_keeps_the_samples() -> None:
    d = suite.dist([5.0, 1.0, 3.0, 2.0, 4.0])
    assert d == {"p50_ms": 3.0, "p99_ms": 5.0, "n": 5, "samples_ms": [5.0, 1.0, 3.0, 2.0, 4.0]}
    assert suite.dist([])["n"] == 0


def _filled() -> dict[str, object]:
    doc = suite.empty_results(suite.make_plan(quick=True))
    doc["latency"] = {
        "rich_media": suite.dist([300, 320, 480]),
        "burn_in": {"first_segment": suite.dist([2000, 2100]), "complete": suite.dist([20000]),
                    "clip": {"duration_s": 26.0}},
        "cold": suite.dist([12000, 14000]),
    }  # fmt: skip
    doc["floor"] = {"encode_ms": 19000.0, "first_segment_encode_ms": 2500.0}
    doc["baseline"] = {"ffmpeg_slate_ms": 4000.0}
    doc["ratio"] = {"burn_in_vs_floor": 0.82, "rich_media_vs_slate": 0.08, "burn_in_vs_slate": 5.0}
    tp = {"alerts_per_min": 150.0, "drain_s": 80.0, "completed": 200, "n": 200}
    doc["throughput"] = {"one": tp, "two": {**tp, "alerts_per_min": 170.0}}
    doc["memory"] = {"peak_rss_mb": 2500.0}
    doc["scale"] = {"rows": [{"resolution": "720p", "duration_s": 6.0, "scene_build_ms": 8000.0,
                              "first_segment_ms": 900.0, "peak_rss_mb": 1200.0}]}  # fmt: skip
    return doc


def test_required_keys_and_table_verdicts() -> None:
    doc = _filled()
    assert suite.missing_keys(doc) == []
    text = suite.table(doc)
    lines = {line.split("  ")[0]: line for line in text.splitlines()}
    assert lines["latency.rich_media p50 / p99"].endswith("PASS")
    assert lines["ratio.burn_in_vs_floor"].endswith("PASS")
    assert lines["memory.peak_rss_mb"].endswith("FAIL")  # 2500 MB is over the 2 GB target
    assert "scale 720p 6 s loop" in lines
    del doc["floor"]
    assert suite.missing_keys(doc) == ["floor.encode_ms", "floor.first_segment_encode_ms"]


@pytest.mark.parametrize("quick", [True, False])
def test_plan_sizes(quick: bool) -> None:
    plan = suite.make_plan(quick)
    assert set(plan.types) <= set(suite.TEMPLATES)
    if not quick:
        assert plan.burst == 200 and plan.resolution == "1080p" and len(plan.types) == 8
        assert {r for r, _ in plan.scale} == {"720p", "1080p", "2160p"}
        assert {d for r, d in plan.scale if r == "1080p"} == {6.0, 12.0, 30.0}
