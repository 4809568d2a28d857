"""The race drill on the real daemon and the real embedded broker, at concurrency 1, 2 and 4.

Produced in one batch, in the order an adversary (or a hurried operator) would: each Cancel immediately before
the Alert it cancels, each Update before its original, Cancels and Updates from another sender aimed at a
victim's alerts, and Updates that reference themselves. Whatever the concurrency: zero cancelled alerts
published, zero cross-sender effects, zero self-supersessions, every valid alert published exactly once.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cinealert.daemon.broker import EmbeddedBroker
from conftest import cap_xml
from test_daemon_kafka import Daemon, Topics, complete_ids, produce, read_topic, write_config

pytestmark = pytest.mark.slow
SENDER = "ops@agency.example"
OTHER = "intruder@evil.example"
SENT = "2026-11-26T09:00:00+09:00"
N = 4


def drill() -> tuple[list[tuple[bytes, bytes]], set[str], set[str]]:
    """(messages, ids that must be published, ids that must never be published)."""
    own, other = SENDER.encode(), OTHER.encode()
    messages: list[tuple[bytes, bytes]] = []
    must, never = set(), set()
    for i in range(N):
        c, a = f"C-{i}", f"A-{i}"  # Cancel before Alert
        messages += [
            (own, cap_xml(c, sender=SENDER, msg_type="Cancel", references=((SENDER, a, SENT),))),
            (own, cap_xml(a, sender=SENDER, headline=f"Cancelled flood {i}")),
        ]
        never.add(a)
        u, o = f"U-{i}", f"O-{i}"  # Update before its original
        messages += [
            (own, cap_xml(u, sender=SENDER, msg_type="Update", references=((SENDER, o, SENT),))),
            (own, cap_xml(o, sender=SENDER, headline=f"Original flood {i}")),
        ]
        must.add(u)
        never.add(o)
        v = f"V-{i}"  # a victim, targeted by another sender's Cancel and Update
        messages += [
            (other, cap_xml(f"X-{i}", sender=OTHER, msg_type="Cancel", references=((SENDER, v, SENT),))),
            (own, cap_xml(v, sender=SENDER, headline=f"Victim flood {i}")),
            (other, cap_xml(f"Y-{i}", sender=OTHER, msg_type="Update", references=((SENDER, v, SENT),))),
        ]
        must |= {v, f"Y-{i}"}
        s = f"S-{i}"  # self-referencing Update
        messages.append((own, cap_xml(s, sender=SENDER, msg_type="Update", references=((SENDER, s, SENT),))))
        must.add(s)
    return messages, must, never


@pytest.mark.parametrize("concurrency", [1, 2, 4])
def test_race_drill_at_any_concurrency(broker: EmbeddedBroker, tmp_path: Path, concurrency: int) -> None:
    topics = Topics(broker, f"race{concurrency}")
    config = write_config(tmp_path, broker.bootstrap, topics, delay_s=0.2, concurrency=concurrency)
    messages, must, never = drill()
    daemon = Daemon(config, "race")
    try:
        daemon.wait_ready()
        produce(broker.bootstrap, topics.alerts, messages)
        daemon.wait_for(lambda: complete_ids(tmp_path) >= must, 90, "every valid alert published")
        daemon.wait_for(lambda: daemon.count("message_done") >= len(messages), 60, "every message handled")
        expected_events = len(must) + N  # one published per valid alert, one superseded per late original
        media = read_topic(broker.bootstrap, topics.media, lambda m: len(m) >= expected_events)
    finally:
        daemon.terminate(30)
    events = [json.loads(value) for value, _headers in media]
    published = Counter(e["key"]["identifier"] for e in events if e["event"] == "published")
    superseded = {
        (e["key"]["identifier"], e["by"]["identifier"]) for e in events if e["event"] == "superseded"
    }
    withdrawn = [e for e in events if e["event"] == "withdrawn"]
    tally = dict(Counter(e["event"] for e in events))
    print(f"race drill concurrency={concurrency}: {len(messages)} messages, events={tally}")
    assert not (set(published) & never), f"cancelled/superseded alerts published: {set(published) & never}"
    assert set(published) == must and all(n == 1 for n in published.values()), published
    assert complete_ids(tmp_path) == must  # no output of a never-live alert left on disk
    assert superseded == {(f"O-{i}", f"U-{i}") for i in range(N)}  # each late original's supersession
    assert not withdrawn  # nothing was live to withdraw: the Cancels all came first
    assert all(e["key"] != e["by"] for e in events if e["event"] != "published")


def test_race_drill_on_two_daemons_with_any_partitioning(broker: EmbeddedBroker, tmp_path: Path) -> None:
    """Keyed per message (Cancel and Alert on different partitions, so possibly on different daemons sharing
    the state directory): a cancelled alert may have aired before its Cancel was read, but then its
    ``withdrawn`` follows its ``published`` on the media topic, never the reverse; a late original of an Update
    is never published after its Update; nothing from another sender or a self-reference has any effect."""
    topics = Topics(broker, "race2d")
    config = write_config(tmp_path, broker.bootstrap, topics, delay_s=0.2, concurrency=2)
    messages, must, never = drill()
    keyed = [(f"k{i}".encode(), value) for i, (_key, value) in enumerate(messages)]
    a, b = Daemon(config, "a"), Daemon(config, "b")
    try:
        for d in (a, b):
            d.wait_ready()
        for d in (a, b):
            d.wait_for(lambda d=d: _assigned(d), 30, "a partition assignment")
        produce(broker.bootstrap, topics.alerts, keyed)
        a.wait_for(lambda: complete_ids(tmp_path) >= must, 90, "every valid alert published")
        a.wait_for(
            lambda: a.count("message_done") + b.count("message_done") >= len(messages), 60, "all handled"
        )
        media = read_topic(broker.bootstrap, topics.media, lambda m: len(m) >= len(must))
    finally:
        for d in (a, b):
            d.terminate(30)
    events = [json.loads(value) for value, _headers in media]
    by_key: dict[str, list[str]] = {}
    for e in events:  # one media partition per alert key: this is the order a consumer sees
        by_key.setdefault(e["key"]["identifier"], []).append(e["event"])
    published = Counter(e["key"]["identifier"] for e in events if e["event"] == "published")
    print(f"two-daemon race drill: events={dict(Counter(e['event'] for e in events))}")
    assert must <= set(published) and all(n == 1 for n in published.values()), published
    for ident in never:
        seen = by_key.get(ident, [])
        if "published" in seen:  # aired before its Cancel/Update was read: taken off air right after
            assert seen[seen.index("published") + 1 :] in (["withdrawn"], ["superseded"]), (ident, seen)
        else:
            assert seen in ([], ["superseded"]), (ident, seen)
    for i in range(N):
        assert by_key.get(f"V-{i}") == ["published"]  # untouched by the other sender's Cancel and Update
        assert by_key.get(f"S-{i}") == ["published"]  # never superseded by itself


def _assigned(d: Daemon) -> bool:
    found = [e["partitions"] for e in d.events() if e.get("event") == "partitions_assigned"]
    return bool(found and found[-1])
