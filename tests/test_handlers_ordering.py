"""Cancel/Update ordering on the real parser and the real summary stage: tombstones, the key guard, references.

The outcome of a set of Alerts, Updates and Cancels must not depend on arrival order or concurrency: a cancelled
alert is never announced as published, a late original of an Update never goes live (its supersession is
announced), only same-sender references count and a message never refers to itself.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cinealert.cap.model import AlertKey
from cinealert.handlers.references import ReferenceLedger
from cinealert.handlers.summary_stage import RESULT, SUPERSEDED, WITHDRAWN, SummaryStage
from conftest import cap_xml
from test_handlers_process import SENDER, SENT, Sinks, handle, key, make

OTHER = "intruder@evil.example"


def events(sinks: Sinks) -> list[tuple[str, str, str]]:
    return [(e["event"], e["key"]["identifier"], e["by"]["identifier"]) for e in sinks.events]


async def test_update_before_its_alert_keeps_the_late_original_off_air(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    update = cap_xml("U-1", msg_type="Update", references=((SENDER, "O-1", SENT),))
    first = await handle(proc, update)
    assert first.status == "published" and first.superseded == 0  # nothing of O-1 to mark yet
    late = await handle(proc, cap_xml("O-1"))
    assert (late.status, late.reason) == ("skipped", "superseded_before_publish")
    assert late.announced == ["superseded"]
    assert not stage.directory(key("O-1")).exists()  # never rendered, never live
    assert events(sinks) == [("published", "U-1", "U-1"), ("superseded", "O-1", "U-1")]
    again = await handle(proc, cap_xml("O-1"))  # a replay announces nothing twice
    assert again.reason == "superseded_before_publish" and again.announced == []
    assert len(sinks.events) == 2


async def test_cancel_from_another_sender_is_ignored(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    await handle(proc, cap_xml("V-1"))
    forged = cap_xml("F-1", sender=OTHER, msg_type="Cancel", references=((SENDER, "V-1", SENT),))
    outcome = await handle(proc, forged)
    assert (outcome.status, outcome.reason) == ("skipped", "no_usable_reference")
    assert not (stage.directory(key("V-1")) / WITHDRAWN).exists()
    # nor does it leave a tombstone for a victim that has not arrived yet
    await handle(proc, cap_xml("F-2", sender=OTHER, msg_type="Cancel", references=((SENDER, "V-2", SENT),)))
    late = await handle(proc, cap_xml("V-2"))
    assert late.status == "published"
    assert [e[0] for e in events(sinks)] == ["published", "published"]


async def test_update_from_another_sender_supersedes_nothing(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    await handle(proc, cap_xml("V-3"))
    update = cap_xml("F-3", sender=OTHER, msg_type="Update", references=((SENDER, "V-3", SENT),))
    outcome = await handle(proc, update)
    assert outcome.status == "published" and outcome.superseded == 0  # it still airs as its own alert
    assert not (stage.directory(key("V-3")) / SUPERSEDED).exists()
    assert [e[0] for e in events(sinks)] == ["published", "published"]


async def test_self_referencing_update_does_not_supersede_itself(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    update = cap_xml("S-1", msg_type="Update", references=((SENDER, "S-1", SENT),))
    outcome = await handle(proc, update)
    assert outcome.status == "published" and outcome.superseded == 0
    assert not (stage.directory(key("S-1")) / SUPERSEDED).exists()
    assert events(sinks) == [("published", "S-1", "S-1")]
    replay = await handle(proc, update)  # and its own tombstone never appears to suppress the replay
    assert replay.status == "duplicate"


async def test_cancel_while_the_alert_renders_keeps_it_off_air(tmp_path: Path) -> None:
    """The Cancel lands mid-render (any concurrency, any partition): the finished render is not published."""
    proc, sinks, stage = make(tmp_path, stage=SummaryStage(tmp_path / "out", delay_s=0.6, step_s=0.02))
    alert = asyncio.create_task(handle(proc, cap_xml("R-1")))
    await asyncio.sleep(0.2)  # the alert is rendering now
    cancel = await handle(proc, cap_xml("R-1c", msg_type="Cancel", references=((SENDER, "R-1", SENT),)))
    assert (cancel.status, cancel.reason) == ("skipped", "unknown_reference")  # nothing live to withdraw yet
    outcome = await alert
    assert (outcome.status, outcome.reason) == ("skipped", "cancelled_before_publish")
    assert not (stage.directory(key("R-1")) / RESULT).exists()
    assert not list((tmp_path / "out").glob("R-1*/*"))  # the rendered files were removed
    assert sinks.events == []


class SlowSinks(Sinks):
    """An announcer whose ``published`` sends take a while: a Cancel arrives while one is in flight."""

    def __init__(self) -> None:
        super().__init__()
        self.sending = asyncio.Event()

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        if event["event"] == "published":
            self.sending.set()
            await asyncio.sleep(0.5)
        await super().send(event, fence)


async def test_withdrawn_is_never_announced_before_published(tmp_path: Path) -> None:
    proc, _sinks, stage = make(tmp_path)
    sinks = SlowSinks()
    proc.announcer = sinks
    alert = asyncio.create_task(handle(proc, cap_xml("W-1")))
    await sinks.sending.wait()  # result.json is written, the announcement is on its way
    cancel = await handle(proc, cap_xml("W-1c", msg_type="Cancel", references=((SENDER, "W-1", SENT),)))
    assert (await alert).status == "published"
    assert cancel.status == "withdrawn"
    assert events(sinks) == [("published", "W-1", "W-1"), ("withdrawn", "W-1", "W-1c")]
    assert (stage.directory(key("W-1")) / WITHDRAWN).is_file()


async def test_two_processors_sharing_state_never_publish_a_cancelled_alert(tmp_path: Path) -> None:
    """Two workers (as two daemons would) with one state directory: the Cancel on one stops the other."""
    proc_a, sinks_a, _ = make(tmp_path, stage=SummaryStage(tmp_path / "out", delay_s=0.3, step_s=0.02))
    proc_b, sinks_b, _ = make(tmp_path, stage=SummaryStage(tmp_path / "out"))
    outcomes = await asyncio.gather(
        *(handle(proc_a, cap_xml(f"T-{i}")) for i in range(4)),
        *(
            handle(proc_b, cap_xml(f"T-{i}c", msg_type="Cancel", references=((SENDER, f"T-{i}", SENT),)))
            for i in range(4)
        ),
    )
    assert all(o.status == "skipped" for o in outcomes), [(o.status, o.reason) for o in outcomes]
    assert sinks_a.events == [] and sinks_b.events == []


def test_the_key_guard_excludes_another_process(tmp_path: Path) -> None:
    """flock between processes: the parent gets the guard only after the child released it."""
    ledger = ReferenceLedger(tmp_path / "state")
    target = AlertKey(SENDER, "G-1", SENT)
    released = tmp_path / "released"
    triple = (target.sender, target.identifier, target.sent)
    child = textwrap.dedent(
        f"""
        import sys, time
        from pathlib import Path
        from cinealert.cap.model import AlertKey
        from cinealert.handlers.references import ReferenceLedger
        guard = ReferenceLedger(Path({str(tmp_path / "state")!r})).acquire(AlertKey(*{triple!r}))
        print("held", flush=True)
        time.sleep(0.5)
        Path({str(released)!r}).write_text("x")
        guard.release()
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        guard = ledger.acquire(target)
        assert released.exists(), "the guard was granted while another process held it"
        guard.release()
    finally:
        proc.wait(10)


def test_a_shutdown_stops_waiting_for_the_guard(tmp_path: Path) -> None:
    ledger = ReferenceLedger(tmp_path / "state")
    target = AlertKey(SENDER, "G-2", SENT)
    cancel = threading.Event()
    with ledger.held(target):
        threading.Timer(0.1, cancel.set).start()
        t0 = time.monotonic()
        try:
            ledger.acquire(target, cancel)
        except Exception as exc:
            assert type(exc).__name__ == "StageCancelled"
        else:
            raise AssertionError("acquire returned while the guard was held")
        assert time.monotonic() - t0 < 5


def test_tombstones_are_first_come_and_a_cancel_beats_an_update(tmp_path: Path) -> None:
    ledger = ReferenceLedger(tmp_path / "state")
    target = AlertKey(SENDER, "L-1", SENT)
    ledger.record("update", target, AlertKey(SENDER, "L-1u", SENT))
    ledger.record("update", target, AlertKey(SENDER, "L-1v", SENT))
    found = ledger.lookup(target)
    assert found is not None and (found.kind, found.by.identifier) == ("update", "L-1u")
    ledger.record("cancel", target, AlertKey(SENDER, "L-1c", SENT))
    found = ledger.lookup(target)
    assert found is not None and (found.kind, found.by.identifier) == ("cancel", "L-1c")
    assert ledger.lookup(AlertKey(SENDER, "L-2", SENT)) is None


async def test_per_key_locks_serialise_one_key_and_leave_nothing_behind(tmp_path: Path) -> None:
    """A redelivery racing its original renders once; the lock table is empty when nobody holds a key."""
    stage = SummaryStage(tmp_path / "out", delay_s=0.2, step_s=0.02)
    proc, sinks, _ = make(tmp_path, stage=stage)
    outcomes = await asyncio.gather(
        *(handle(proc, cap_xml("K-1")) for _ in range(3)), handle(proc, cap_xml("K-2"))
    )
    assert sorted(o.status for o in outcomes) == ["duplicate", "duplicate", "published", "published"]
    assert [e[1] for e in events(sinks)].count("K-1") == 1
    assert len(proc._locks) == 0


async def test_the_published_announcement_carries_the_full_text_within_a_budget(tmp_path: Path) -> None:
    from cinealert.handlers.events import TEXT_BUDGET

    proc, sinks, _ = make(tmp_path)
    await handle(proc, cap_xml("T-1", headline="Flash flood warning for the river valley"))
    (published,) = sinks.events
    assert published["texts_truncated"] is False
    assert published["texts"][0]["headline"] == "Flash flood warning for the river valley"
    huge = "Move to higher ground now. " * 15_000  # 405 KB, twice (headline, description): under 1 MiB
    await handle(proc, cap_xml("T-2", headline=huge))
    texts = sinks.events[-1]["texts"]
    assert sinks.events[-1]["texts_truncated"] is True
    assert sum(len(v) for doc in texts for k, v in doc.items() if k != "language") <= TEXT_BUDGET
    assert texts[0]["headline"].startswith("Move to higher ground now.") and texts[0]["headline"].endswith(
        "…"
    )
    assert len(json.dumps(sinks.events[-1]).encode()) < 900 * 1024  # one Kafka message, with room to spare
