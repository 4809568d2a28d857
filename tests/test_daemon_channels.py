"""Two channels in one daemon, on the real embedded broker: `cinealert run` as a subprocess, alerts produced and
announcements read back by an independent client (confluent-kafka), metrics read from its HTTP endpoint.

The feed is real CAP of every scheme the coverage reads (NWS SAME + UGC, Korean 법정동 codes, MeteoAlarm
EMMA_ID, a polygon-only alert across the antimeridian, a SAME EAN and a 위급재난 national alert) plus two alerts
for nobody. Each alert must appear, on disk and on ``*.media``, under exactly the channels it should; the
out-of-area ones produce no media, are logged and counted as skipped ``out_of_area`` (per channel too), are not
dead-lettered, have their offsets committed and cost no render: with the summary stage no ``render`` timing is
observed for them; with the real media stage, the scene cache gets no entry for them, and an alert taken by both
channels renders its scene once (the second channel's scene is a cache hit).
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, TopicPartition
from prometheus_client.parser import text_string_to_metric_families

from cinealert.daemon.broker import EmbeddedBroker, free_port
from test_daemon_kafka import Daemon, Topics, produce, read_topic, write_config

pytestmark = pytest.mark.slow
SAMPLES = Path(__file__).resolve().parents[1] / "samples"

# Which channels take each sample (checked against `cinealert route` by hand; the reasons in comments).
EXPECTED: dict[str, set[str]] = {
    "en_flood.xml": {"us"},  # SAME 024031 (Montgomery County, MD)
    "nws_winter_storm_zones.xml": {"us"},  # UGC MDZ001 (Garrett zone); its SAME 024023 is not listed
    "ean_national.xml": {"us", "world"},  # SAME EAN: national, overrides every location filter
    "ko_flood.xml": {"world"},  # 법정동 1135000000 under KR:11 (Seoul)
    "ko_national_earthquake.xml": {"world"},  # 위급재난문자: national on the channel that lists the word
    "meteoalarm_flood.xml": {"world"},  # EMMA_ID AT005
    "fj_tsunami_antimeridian.xml": {"world"},  # polygon only, across 180, over the Taveuni area file
}
OUT_OF_AREA = ("ko_drought.xml", "meteoalarm_snow_nuts.xml")  # 전라남도 codes; EMMA_ID AT706/NUTS AT335
# Maryland's bounding box and Taveuni (Fiji) split at the antimeridian as RFC 7946 wants it
MARYLAND = [[[-79.49, 37.88], [-75.04, 37.88], [-75.04, 39.73], [-79.49, 39.73], [-79.49, 37.88]]]
TAVEUNI = [
    [[[179.8, -17.1], [180.0, -17.1], [180.0, -16.7], [179.8, -16.7], [179.8, -17.1]]],
    [[[-180.0, -17.1], [-179.8, -17.1], [-179.8, -16.7], [-180.0, -16.7], [-180.0, -17.1]]],
]


def channels_config(tmp_path: Path, base: Path, *, media: bool = False) -> Path:
    """``write_config``'s file plus two channels; with ``media``, the real media stage at a small size."""
    us_area, world_area = tmp_path / "maryland.geojson", tmp_path / "taveuni.geojson"
    us_area.write_text(json.dumps({"type": "Polygon", "coordinates": MARYLAND}))
    world_area.write_text(json.dumps({"type": "MultiPolygon", "coordinates": TAVEUNI}))
    text = base.read_text()
    if media:
        text = text.replace('stage = "summary"', 'stage = "media"')
        text = text.replace("[broadcast]\n", '[broadcast]\nprofiles = ["hls"]\n')
        text += f"""
[render]
cache_dir = "{tmp_path / "cache"}"
duration_s = 0.5
variants = 1
resolution = "720p"
prewarm = []
prewarm_before_ready = false
"""
    text += f"""
[channels.us]
languages = ["en"]
timezone = "America/New_York"

[channels.us.coverage]
locations = ["SAME:024031", "UGC:MDZ001"]
area_file = "{us_area}"
national_keywords = ["Emergency Action Notification", "Presidential Alert"]

[channels.world]
languages = ["en", "ko"]

[channels.world.coverage]
locations = ["KR:11", "EMMA_ID:AT005"]
area_file = "{world_area}"
national_events = ["EAN"]
national_keywords = ["위급재난"]
"""
    base.write_text(text)
    return base


def identifier(name: str) -> str:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    return text.split("<identifier>", 1)[1].split("</identifier>", 1)[0]


def metrics(port: int) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of the daemon's /metrics, parsed by prometheus_client's own text parser."""
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(body)
        for s in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    """The sum of ``name``'s samples whose labels include ``labels``."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def committed(bootstrap: str, topic: str, group: str) -> int:
    """The group's committed offsets on ``topic``, summed over partitions (OffsetFetch; never joins the group)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        found = consumer.committed([TopicPartition(topic, p) for p in parts], timeout=10)
        return sum(tp.offset for tp in found if tp.offset >= 0)
    finally:
        consumer.close()


def published_events(media: list[tuple[bytes, dict[str, bytes]]]) -> list[dict[str, Any]]:
    return [e for e in (json.loads(v) for v, _h in media) if e["event"] == "published"]


def run_feed(
    broker: EmbeddedBroker, tmp_path: Path, prefix: str, names: list[str], *, media: bool, outputs: int
) -> tuple[Daemon, Topics, list[dict[str, Any]], dict[tuple[str, frozenset[tuple[str, str]]], float]]:
    """Start the two-channel daemon, feed ``names``, wait until every message is done and ``outputs``
    published events are on the media topic; returns the stopped daemon, the topics, the events, the metrics."""
    topics = Topics(broker, prefix)
    port = free_port()
    base = write_config(tmp_path, broker.bootstrap, topics, metrics_port=port, concurrency=2)
    daemon = Daemon(channels_config(tmp_path, base, media=media), "run")
    try:
        daemon.wait_ready(timeout=120)
        produce(broker.bootstrap, topics.alerts, [(b"feed", (SAMPLES / n).read_bytes()) for n in names])
        timeout = 600 if media else 60
        daemon.wait_for(lambda: daemon.count("message_done") >= len(names), timeout, "every message done")
        media_events = read_topic(
            broker.bootstrap, topics.media, lambda m: len(published_events(m)) >= outputs, timeout=30
        )
        samples = metrics(port)
        assert daemon.terminate(60) == 0, daemon.tail()
    finally:
        daemon.kill()
    return daemon, topics, published_events(media_events), samples


def test_each_alert_airs_on_exactly_its_channels(broker: EmbeddedBroker, tmp_path: Path) -> None:
    names = [*EXPECTED, *OUT_OF_AREA]
    outputs = sum(len(chans) for chans in EXPECTED.values())
    daemon, topics, events, samples = run_feed(broker, tmp_path, "chan", names, media=False, outputs=outputs)
    # the announcements: each alert once per channel that takes it, naming the channel, pointing into its root
    aired: dict[str, set[str]] = {}
    for event in events:
        aired.setdefault(event["key"]["identifier"], set()).add(event["channel"])
        assert event["directory"].startswith(str(tmp_path / "out" / event["channel"]) + "/")
    assert len(events) == outputs  # no announcement twice
    assert aired == {identifier(name): chans for name, chans in EXPECTED.items()}
    # the outputs on disk: the same, and nothing for the alerts no channel takes
    for channel in ("us", "world"):
        on_disk = {
            json.loads(p.read_text())["key"]["identifier"]
            for p in (tmp_path / "out" / channel).glob("*/result.json")
        }
        assert on_disk == {identifier(n) for n, chans in EXPECTED.items() if channel in chans}
        assert len([p for p in (tmp_path / "out" / channel).iterdir() if p.is_dir()]) == len(on_disk)
    # out of area: logged skipped with the codes that did not match, per channel; not dead-lettered
    log = daemon.events()
    for name in OUT_OF_AREA:
        alert_id = identifier(name)
        skipped = [e for e in log if e.get("event") == "alert_skipped" and alert_id in e.get("alert", "")]
        assert [e["reason"] for e in skipped] == ["out_of_area"], skipped
        assert "us: out_of_area" in skipped[0]["detail"] and "world: out_of_area" in skipped[0]["detail"]
        (done,) = [e for e in log if e.get("event") == "message_done" and alert_id in e.get("alert", "")]
        assert done["status"] == "skipped" and done["refused"] == {
            "us": "out_of_area",
            "world": "out_of_area",
        }
        assert done["announced"] == [] and done["channels"] is None
    assert "KR:4689000000" in json.dumps(log) and "EMMA_ID:AT706" in json.dumps(log)
    assert read_topic(broker.bootstrap, topics.dead, lambda m: False, timeout=2) == []
    # every offset committed, the skipped ones included
    assert committed(broker.bootstrap, topics.alerts, f"{topics.alerts}-group") == len(names)
    # the metrics, per channel
    assert total(samples, "cinealert_alerts_published_total", channel="us") == 3
    assert total(samples, "cinealert_alerts_published_total", channel="world") == 5
    assert total(samples, "cinealert_announcements_total", event="published", channel="world") == 5
    assert total(samples, "cinealert_alerts_skipped_total", reason="out_of_area") == len(OUT_OF_AREA)
    # each channel counts what its coverage turned down: the two for nobody, and the other channel's alerts
    assert total(samples, "cinealert_channel_skipped_total", channel="us", reason="out_of_area") == 4 + 2
    assert total(samples, "cinealert_channel_skipped_total", channel="world", reason="out_of_area") == 2 + 2
    assert total(samples, "cinealert_alerts_rejected_total") == 0
    # cost no render: the stage ran once per taking channel (the first channel's time is "render", a second
    # channel's "render_<name>") and never for the two alerts no channel takes
    assert total(samples, "cinealert_stage_latency_seconds_count", stage="render") == len(EXPECTED)
    assert total(samples, "cinealert_stage_latency_seconds_count", stage="render_world") == 1
    assert total(samples, "cinealert_stage_latency_seconds_count", stage="total") == len(names)


def test_two_channels_render_the_scene_once_and_out_of_area_renders_nothing(
    broker: EmbeddedBroker, tmp_path: Path
) -> None:
    """The real media stage: the EAN airs on both channels from one scene render; the drought for 전라남도,
    fed first, renders nothing (no drought scene in the cache, no output, no cache hit or miss counted)."""
    names = ["ko_drought.xml", "ean_national.xml"]
    daemon, topics, events, samples = run_feed(broker, tmp_path, "chanmedia", names, media=True, outputs=2)
    assert sorted(e["channel"] for e in events) == ["us", "world"]
    first, second = (json.loads((Path(d) / "result.json").read_text()) for d in sorted(
        (e["directory"] for e in events), key=lambda d: "world" in d))  # fmt: skip
    assert first["scene"]["cache_hit"] is False and second["scene"]["cache_hit"] is True
    assert first["scene"]["key"] == second["scene"]["key"]
    # one scene in the cache: the EAN's (the drought would have made a second, of another disaster type)
    scenes = [p for p in (tmp_path / "cache").glob("??/*") if (p / "meta.json").is_file()]
    assert [p.name for p in scenes] == [first["scene"]["key"]]
    assert total(samples, "cinealert_cache_misses_total", channel="us") == 1
    assert total(samples, "cinealert_cache_hits_total", channel="world") == 1
    assert total(samples, "cinealert_cache_hits_total") + total(samples, "cinealert_cache_misses_total") == 2
    drought = identifier("ko_drought.xml")
    for channel in ("us", "world"):
        dirs = [p for p in (tmp_path / "out" / channel).iterdir() if p.is_dir()]
        assert len(dirs) == 1 and drought not in json.dumps(json.loads((dirs[0] / "result.json").read_text()))
    assert total(samples, "cinealert_alerts_skipped_total", reason="out_of_area") == 1
    assert read_topic(broker.bootstrap, topics.dead, lambda m: False, timeout=2) == []
    assert committed(broker.bootstrap, topics.alerts, f"{topics.alerts}-group") == len(names)
    assert daemon.count("alert_skipped") == 1
