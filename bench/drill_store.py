"""Drill ``store`` (issue 17): two daemons with separate local directories and one bucket (a moto S3 server), one
consumer group, a stream of Alerts with Updates and Cancels, SIGKILLs of either daemon; then a third daemon
started cold on the shared scene cache.

Stream (``--quick`` scales it down): ``alerts`` originals; a Cancel for ``cancels`` of them (half produced just
before their original, half at the end of the stream, when most have aired), an Update for ``updates`` others
(at the end too). Messages are keyed
by sender, as ``cinealert send`` does, so a Cancel produced first is read first on its partition.

Counted from the media topic and the bucket (``out/*/result.json``):

* ``lost``: an alert that must air (an original nobody cancels or updates, or an Update) without a ``published``
  announcement and a committed output in the bucket;
* ``duplicates``: an alert with two distinct ``published`` announcements (two ``event_id``s);
* ``cancelled_but_published``: an alert whose Cancel was produced first and that was announced ``published``
  anyway, or an output whose ``withdrawn``/``superseded`` came before its ``published`` on the topic, or a
  cancelled alert whose output in the bucket has no ``WITHDRAWN.json``;
* ``withdrawals_missing``: a cancelled alert that aired without a ``withdrawn`` announcement.

Credentials reach the daemons as systemd gives them: ``$CREDENTIALS_DIRECTORY/store.access_key_id`` and
``store.secret_access_key``. Used by ``bench/drill.py --only store`` (``make drill``).
"""

from __future__ import annotations

import contextlib
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lxml import etree

from common import DaemonProcess, Record, TopicReader, produce, read_events, write_config
from hostile import NS, valid_alerts

if TYPE_CHECKING:
    from drill import Drill, S3Server

BUCKET = "cinealert-drill"


def _triple(doc: bytes) -> tuple[str, str, str]:
    root = etree.fromstring(doc)
    return (root.findtext(f"{NS}sender") or "", root.findtext(f"{NS}identifier") or "",
            root.findtext(f"{NS}sent") or "")  # fmt: skip


def _referring(doc: bytes, identifier: str, msg_type: str, ref: tuple[str, str, str]) -> bytes:
    """``doc`` turned into a ``msg_type`` message ``identifier`` that references ``ref``."""
    root = etree.fromstring(doc)
    root.find(f"{NS}identifier").text = identifier  # type: ignore[union-attr]
    root.find(f"{NS}msgType").text = msg_type  # type: ignore[union-attr]
    refs = etree.Element(f"{NS}references")
    refs.text = ",".join(ref)
    # CAP order: ... msgType, source?, scope, restriction?, addresses?, code*, note?, references?, incidents?, info*
    info = root.find(f"{NS}info")
    if info is not None:
        info.addprevious(refs)
    else:
        root.append(refs)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def stream(d: Drill) -> tuple[list[tuple[bytes, bytes]], dict[str, list[str]]]:
    """The messages in produce order and the identifiers per role."""
    originals = valid_alerts("S", d.args.store_alerts, d.rng)
    roles: dict[str, list[str]] = {"plain": [], "cancel_first": [], "cancel_after": [], "updated": [],
                                   "updates": []}  # fmt: skip
    order: list[tuple[bytes, bytes]] = []
    late: list[tuple[bytes, bytes]] = []  # Cancels and Updates of alerts that have likely aired by then
    n_cancel, n_update = d.args.store_cancels, d.args.store_updates
    for i, (ident, key, doc) in enumerate(originals):
        triple = _triple(doc)
        if i < n_cancel // 2:
            roles["cancel_first"].append(ident)
            order.append((key, _referring(doc, f"C-{ident}", "Cancel", triple)))
            order.append((key, doc))
        elif i < n_cancel:
            roles["cancel_after"].append(ident)
            order.append((key, doc))
            late.append((key, _referring(doc, f"C-{ident}", "Cancel", triple)))
        elif i < n_cancel + n_update:
            roles["updated"].append(ident)
            roles["updates"].append(f"U-{ident}")
            order.append((key, doc))
            late.append((key, _referring(doc, f"U-{ident}", "Update", triple)))
        else:
            roles["plain"].append(ident)
            order.append((key, doc))
    return order + late, roles


def bucket_outputs(s3: S3Server) -> tuple[Counter[str], set[str], set[str]]:
    """Committed outputs per identifier in the bucket, and the identifiers whose output is withdrawn/superseded."""
    import json

    client = s3_client(s3)
    made: Counter[str] = Counter()
    withdrawn: set[str] = set()
    superseded: set[str] = set()
    slugs: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="drill/out/"):
        for obj in page.get("Contents", ()):
            key = obj["Key"]
            if key.endswith("/result.json"):
                doc = json.loads(client.get_object(Bucket=BUCKET, Key=key)["Body"].read())
                made[doc["key"]["identifier"]] += 1
                slugs[key.rsplit("/", 2)[-2]] = doc["key"]["identifier"]
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=BUCKET, Prefix="drill/out/"):
        for obj in page.get("Contents", ()):
            slug, name = obj["Key"].rsplit("/", 2)[-2:]
            if slug in slugs and name == "WITHDRAWN.json":
                withdrawn.add(slugs[slug])
            if slug in slugs and name == "SUPERSEDED.json":
                superseded.add(slugs[slug])
    return made, withdrawn, superseded


def s3_client(s3: S3Server) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="drill", aws_secret_access_key="drill",
                        region_name="us-east-1")  # fmt: skip


def timeline(records: Sequence[Record]) -> dict[str, list[tuple[str, str]]]:
    """Per identifier, its (event, event_id) announcements in topic order (one partition per key)."""
    out: dict[str, list[tuple[str, str]]] = {}
    for record in records:
        with contextlib.suppress(ValueError, TypeError, KeyError, AttributeError):
            doc = record.json()
            out.setdefault(doc["key"]["identifier"], []).append((doc["event"], str(doc["event_id"])))
    return out


def count(roles: dict[str, list[str]], records: Sequence[Record], s3: S3Server) -> dict[str, Any]:
    events = timeline(records)
    made, withdrawn, superseded = bucket_outputs(s3)

    def ids(ident: str, event: str) -> set[str]:
        return {eid for ev, eid in events.get(ident, []) if ev == event}

    must_air = roles["plain"] + roles["updates"]
    lost = [i for i in must_air if not ids(i, "published") or not made[i]]
    everyone = [i for ids_ in roles.values() for i in ids_]
    duplicates = [i for i in everyone if len(ids(i, "published")) > 1 or made[i] > 1]
    bad = [i for i in roles["cancel_first"] if ids(i, "published") or made[i]]
    for ident in roles["cancel_after"] + roles["updated"]:
        seen = [ev for ev, _ in events.get(ident, [])]
        if "published" in seen and any(
            ev in ("withdrawn", "superseded") for ev in seen[: seen.index("published")]
        ):
            bad.append(ident)  # a consumer saw it withdrawn, then published
    bad += [i for i in roles["cancel_after"] if made[i] and i not in withdrawn]
    missing = [i for i in roles["cancel_after"] if ids(i, "published") and not ids(i, "withdrawn")]
    missing += [i for i in roles["updated"] if not ids(i, "superseded")]
    return {
        "messages": sum(len(v) for v in roles.values())
        + len(roles["cancel_first"])
        + len(roles["cancel_after"]),
        "produced": len(must_air),
        "published": len(must_air) - len(lost),
        "lost": len(lost),
        "duplicates": len(duplicates),
        "cancelled_but_published": len(set(bad)),
        "withdrawals_missing": len(missing),
        "cancel_after_aired_then_withdrawn": sum(1 for i in roles["cancel_after"] if ids(i, "published")),
        "superseded_marked": sum(1 for i in roles["updated"] if i in superseded or not made[i]),
        "examples": {
            "lost": lost[:5],
            "duplicates": duplicates[:5],
            "cancelled_but_published": sorted(set(bad))[:5],
            "withdrawals_missing": missing[:5],
        },
    }


def finished(roles: dict[str, list[str]]) -> Callable[[list[Record]], bool]:
    def check(records: list[Record]) -> bool:
        events = timeline(records)
        seen = {i: {ev for ev, _ in evs} for i, evs in events.items()}
        return (all("published" in seen.get(i, ()) for i in roles["plain"] + roles["updates"])
                and all("superseded" in seen.get(i, ()) for i in roles["updated"])
                and all("withdrawn" in seen.get(i, ()) for i in roles["cancel_after"]
                        if "published" in seen.get(i, ())))  # fmt: skip

    return check


def configs(d: Drill, s3: S3Server, name: str) -> tuple[list[Path], Any, Path]:
    """Two daemon configs (own directories, one group, one bucket) and the credentials directory."""
    from drill import KAFKA, Topics

    topics = Topics(name).create(d.broker.create_topic)
    creds = d.work / name / "credentials"
    creds.mkdir(parents=True, exist_ok=True)
    (creds / "store.access_key_id").write_text("drill\n")
    (creds / "store.secret_access_key").write_text("drill\n")
    out = []
    for machine in ("a", "b"):
        directory = d.work / name / machine
        sections: dict[str, dict[str, object]] = {
            "kafka": {"bootstrap": d.broker.bootstrap, "alerts_topic": topics.alerts, "media_topic": topics.media,
                      "dead_letter_topic": topics.dead, "group_id": topics.group, **KAFKA},
            "handlers": {"stage": "summary", "summary_delay_s": d.args.store_delay_s, "concurrency": 2,
                         "retry_backoff_s": 0.2, "shutdown_grace_s": 5.0, "dedup_state_dir": directory / "state"},
            "render": {"cache_dir": directory / "cache", "prewarm_before_ready": False},
            "broadcast": {"output_dir": directory / "out"},
            "store": {"kind": "s3", "endpoint_url": s3.endpoint, "bucket": BUCKET, "prefix": "drill/",
                      "lease_s": 5.0},
            "metrics": {"enabled": False},
            "log": {"level": "info", "format": "json"},
        }  # fmt: skip
        out.append(write_config(directory / "cinealert.toml", sections))
    return out, topics, creds


def drill_store(d: Drill) -> dict[str, Any]:
    from drill import S3Server, say

    t0 = time.monotonic()
    s3 = S3Server(d.work / "store" / "moto.log")
    (d.work / "store").mkdir(parents=True, exist_ok=True)
    s3.start()
    try:
        s3_client(s3).create_bucket(Bucket=BUCKET)
        result = _run_pair(d, s3, say)
        result["cold_start"] = cold_start(d, s3, say)
    finally:
        s3.stop()
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def _run_pair(d: Drill, s3: S3Server, say: Callable[..., None]) -> dict[str, Any]:
    order, roles = stream(d)
    (config_a, config_b), topics, creds = configs(d, s3, "store")
    env = {"CREDENTIALS_DIRECTORY": str(creds)}
    logs: list[Path] = []

    def start(machine: int) -> DaemonProcess:
        log = d.work / "store" / f"{'ab'[machine]}{len(logs):03d}.log"
        logs.append(log)
        return DaemonProcess((config_a, config_b)[machine], log, env)

    daemons = [start(0), start(1)]
    batch = max(1, len(order) // max(1, d.args.store_kills))
    sent, kills = 0, list[dict[str, Any]]()
    reader = TopicReader(d.broker.bootstrap, topics.media)
    try:
        for daemon in daemons:
            daemon.wait_ready()
        while len(kills) < d.args.store_kills:
            if sent < len(order):
                produce(d.broker.bootstrap, topics.alerts, order[sent : sent + batch])
                sent += batch
            victim = d.rng.randrange(2)
            time.sleep(d.rng.uniform(0.3, 2.5))
            with contextlib.suppress(RuntimeError):
                daemons[victim].wait_for(daemons[victim].in_flight, 5, "an alert in flight", 0.02)
            mid = daemons[victim].in_flight()
            daemons[victim].kill()
            kills.append({"daemon": "ab"[victim], "mid_render": mid})
            say(
                f"  kill {len(kills):2d}/{d.args.store_kills}: daemon {'ab'[victim]} {'mid-render' if mid else 'idle'}"
            )
            daemons[victim] = start(victim)
            reader.poll(0.1)
        if sent < len(order):
            produce(d.broker.bootstrap, topics.alerts, order[sent:])
        done = reader.until(finished(roles), d.args.timeout, settle_s=3.0)
    finally:
        for daemon in daemons:
            daemon.terminate()
        reader.poll(0.5)
        reader.close()
    counts = count(roles, reader.records, s3)
    received = Counter(
        e.get("alert") for log in logs for e in read_events(log) if e.get("event") == "alert_received"
    )
    return {
        **counts,
        "kills": len(kills),
        "kills_mid_render": sum(1 for k in kills if k["mid_render"]),
        "kills_by_daemon": dict(Counter(k["daemon"] for k in kills)),
        "redeliveries": sum(n - 1 for n in received.values()),
        "lease_takeovers": sum(
            1 for log in logs for e in read_events(log) if e.get("event") == "lease_taken_over"
        ),
        "completed": done,
        "roles": {k: len(v) for k, v in roles.items()},
    }


def media_config(d: Drill, s3: S3Server, name: str) -> Path:
    """A media daemon (the drills' rich-media 720p) with an empty local cache on the shared bucket."""
    from drill import BROADCAST, KAFKA, RENDER, Topics

    topics = Topics(name).create(d.broker.create_topic)
    directory = d.work / name
    return write_config(directory / "cinealert.toml", {
        "kafka": {"bootstrap": d.broker.bootstrap, "alerts_topic": topics.alerts, "media_topic": topics.media,
                  "dead_letter_topic": topics.dead, "group_id": topics.group, **KAFKA},
        "handlers": {"stage": "media", "concurrency": 1, "dedup_state_dir": directory / "state"},
        "render": {**RENDER, "cache_dir": directory / "cache", "prewarm": list(d.args.types),
                   "prewarm_before_ready": name.endswith("seed")},
        "broadcast": {**BROADCAST, "output_dir": directory / "out"},
        "store": {"kind": "s3", "endpoint_url": s3.endpoint, "bucket": BUCKET, "prefix": "drill/"},
        "metrics": {"enabled": False}, "log": {"level": "info", "format": "json"},
    })  # fmt: skip


def run_media(d: Drill, s3: S3Server, name: str, prefix: str) -> list[dict[str, Any]]:
    """One alert per type through a media daemon ``name``; its log events (after every upload ended)."""
    from drill import Topics

    topics = Topics(name)
    log = d.work / name / "daemon.log"
    daemon = DaemonProcess(
        media_config(d, s3, name), log, {"CREDENTIALS_DIRECTORY": str(d.work / "store" / "credentials")}
    )
    reader = TopicReader(d.broker.bootstrap, topics.media)
    alerts = valid_alerts(prefix, len(d.args.types), d.rng)
    want = {i for i, _k, _d in alerts}
    try:
        daemon.wait_ready(900)
        produce(d.broker.bootstrap, topics.alerts, [(k, doc) for _i, k, doc in alerts])
        published = reader.until(lambda rs: want <= {i for i, evs in timeline(rs).items()
                                                     if any(ev == "published" for ev, _ in evs)}, 600, 1.0)  # fmt: skip
        made = sum(1 for e in daemon.events() if e.get("event") in ("render.rendered", "video_cache_stored"))
        daemon.wait_for(lambda: daemon.count("cache_pushed") + daemon.count("cache_push_failed") >= made, 300,
                        "the cache uploads")  # fmt: skip
    finally:
        daemon.terminate()
        reader.close()
    events = read_events(log)
    if not published:
        raise RuntimeError(f"{name}: not every alert was published")
    return events


def cold_start(d: Drill, s3: S3Server, say: Callable[..., None]) -> dict[str, Any]:
    """A daemon on a new machine (empty local cache) renders its scenes and pushes them; a third daemon started
    cold on another empty cache then gets every first alert of a type from the bucket, with no scene built."""
    t0 = time.monotonic()
    seed = run_media(d, s3, "store-seed", "SEED")
    seed_s = time.monotonic() - t0
    say(
        f"  seeding daemon: {sum(1 for e in seed if e.get('event') == 'cache_pushed')} entries pushed, {seed_s:.0f} s"
    )
    t0 = time.monotonic()
    events = run_media(d, s3, "store-cold", "COLD")

    def figures(evs: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "scenes_built": sum(1 for e in evs if e.get("event") == "render.rendered"),
            "videos_encoded": sum(1 for e in evs if e.get("event") == "video_cache_stored"),
            "cache_fetched": sum(1 for e in evs if e.get("event") == "cache_fetched"),
            "cache_pushed": sum(1 for e in evs if e.get("event") == "cache_pushed"),
            "total_ms": [
                round(float(e.get("total_ms", 0))) for e in evs if e.get("event") == "media_published"
            ],
            "prewarm_s": next((e.get("seconds") for e in evs if e.get("event") == "prewarmed"), None),
        }

    return {"alerts": len(d.args.types), "completed": True, "seed_s": round(seed_s, 1),
            "cold_s": round(time.monotonic() - t0, 1), "seed": figures(seed), **figures(events)}  # fmt: skip
