"""Handler logic on the real parser and the real summary stage: publish once, Update, Cancel, dead letters."""

from __future__ import annotations

import asyncio
import errno
import json
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cinealert.cap import parse_alert
from cinealert.cap.model import AlertKey
from cinealert.config.sections import HandlerSettings
from cinealert.handlers.events import event_id
from cinealert.handlers.process import Processor, reject_label
from cinealert.handlers.stage import StageCancelled
from cinealert.handlers.summary_stage import RESULT, SUPERSEDED, WITHDRAWN, SummaryStage
from conftest import cap_xml

SENDER = "test@cinealert.example"
SENT = "2026-11-26T09:00:00+09:00"


@dataclass
class Sinks:
    """An in-memory media "topic" (a list with offsets) implementing the ``Announcer`` protocol."""

    events: list[Mapping[str, Any]] = field(default_factory=list)
    dead: list[tuple[bytes, str, str, str]] = field(default_factory=list)
    fail_before_send: int = 0  # die after the ANNOUNCING marker, before the event is delivered
    fail_after_send: int = 0  # die after delivery, before the ANNOUNCED marker
    checks: int = 0

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        return {"from_offset": len(self.events)}

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        if self.fail_before_send:
            self.fail_before_send -= 1
            raise StageCancelled("broker gone during shutdown")
        self.events.append(event)
        if self.fail_after_send:
            self.fail_after_send -= 1
            raise StageCancelled("killed right after the broker acknowledged")

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        self.checks += 1
        tail = self.events[int(fence.get("from_offset", 0)) :]
        return any(e["event_id"] == event["event_id"] for e in tail)

    async def dead_letter(self, data: bytes, label: str, reason: str, stage: str) -> None:
        self.dead.append((data, label, reason, stage))


def make(
    tmp_path: Path, stage: SummaryStage | None = None, **handler: Any
) -> tuple[Processor, Sinks, SummaryStage]:
    sinks = Sinks()
    stage = stage or SummaryStage(tmp_path / "out")
    settings = HandlerSettings(dedup_state_dir=tmp_path / "state", retry_backoff_s=0.0, **handler)
    return Processor(stage, settings, sinks, sinks.dead_letter), sinks, stage


async def handle(proc: Processor, data: bytes, cancel: threading.Event | None = None) -> Any:
    return await proc.handle(data, received_at=time.time(), cancel=cancel or threading.Event())


def key(identifier: str) -> AlertKey:
    return AlertKey(SENDER, identifier, SENT)


async def test_alert_is_published_once_and_announced_once(tmp_path: Path) -> None:
    proc, sinks, _stage = make(tmp_path)
    data = cap_xml("A-1")
    first = await handle(proc, data)
    second = await handle(proc, data)  # a redelivery after a crash before the commit
    assert (first.status, second.status) == ("published", "duplicate")
    assert [e["event"] for e in sinks.events] == ["published"]
    event = sinks.events[0]
    assert event["key"] == {"sender": SENDER, "identifier": "A-1", "sent": SENT}
    assert event["event_id"] == event_id("published", key("A-1"), key("A-1"))
    assert event["files"] and Path(event["files"][0]).is_file()  # noqa: ASYNC240 - a test reads back what it checks
    assert "received_to_published" in event["timings_ms"]
    dirs = list((tmp_path / "out").iterdir())
    assert [d.name for d in dirs] == [key("A-1").slug()]
    summary = json.loads((dirs[0] / "summary.json").read_text())
    assert summary["headlines"] == {"en-US": "Flash flood warning"}


async def test_lost_announcement_is_sent_on_redelivery(tmp_path: Path) -> None:
    proc, sinks, _stage = make(tmp_path)
    sinks.fail_before_send = 1
    with pytest.raises(StageCancelled):
        await handle(proc, cap_xml("A-2"))
    assert sinks.events == []
    again = await handle(proc, cap_xml("A-2"))
    assert again.status == "duplicate"  # rendered once only ...
    assert [e["event"] for e in sinks.events] == ["published"]  # ... but announced, once
    assert sinks.checks == 1  # the replay looked before sending


async def test_crash_between_delivery_and_marker_does_not_announce_twice(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    await handle(proc, cap_xml("A-0"))  # something already on the topic before the fence
    sinks.fail_after_send = 1
    with pytest.raises(StageCancelled):
        await handle(proc, cap_xml("A-6"))
    assert [e["key"]["identifier"] for e in sinks.events] == ["A-0", "A-6"]
    assert not list(stage.directory(key("A-6")).glob("ANNOUNCED.*"))  # the marker never got written
    again = await handle(proc, cap_xml("A-6"))
    assert again.status == "duplicate" and again.announced == []
    assert [e["key"]["identifier"] for e in sinks.events] == ["A-0", "A-6"]  # found it, did not resend
    assert list(stage.directory(key("A-6")).glob("ANNOUNCED.*"))  # and recorded that
    await handle(proc, cap_xml("A-6"))
    assert sinks.checks == 1  # with the marker in place, no more look-ups


async def test_update_supersedes_and_replay_is_silent(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    await handle(proc, cap_xml("A-3"))
    update = cap_xml("A-3u", msg_type="Update", sent=SENT, references=((SENDER, "A-3", SENT),))
    outcome = await handle(proc, update)
    assert outcome.status == "published" and outcome.superseded == 1
    assert [e["event"] for e in sinks.events] == ["published", "published", "superseded"]
    marker = json.loads((stage.directory(key("A-3")) / SUPERSEDED).read_text())
    assert marker["by_fields"]["identifier"] == "A-3u"
    assert (stage.directory(key("A-3u")) / RESULT).is_file()
    await handle(proc, update)
    assert len(sinks.events) == 3


async def test_cancel_withdraws_and_a_late_original_is_not_published(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path)
    await handle(proc, cap_xml("A-4"))
    cancel = cap_xml("A-4c", msg_type="Cancel", references=((SENDER, "A-4", SENT), (SENDER, "A-5", SENT)))
    outcome = await handle(proc, cancel)
    assert outcome.status == "withdrawn" and outcome.withdrawn == 1
    assert (stage.directory(key("A-4")) / WITHDRAWN).is_file()
    assert not stage.directory(key("A-4c")).exists()  # a Cancel renders nothing
    assert [e["event"] for e in sinks.events] == ["published", "withdrawn"]
    late = await handle(proc, cap_xml("A-5"))  # cancelled before it arrived
    assert (late.status, late.reason) == ("skipped", "cancelled_before_publish")
    assert not stage.directory(key("A-5")).exists()


@pytest.mark.parametrize(
    ("data", "label"),
    [
        (b"", "size"),
        (b"\x00\x01binary", "encoding"),
        (b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><alert/>', "security"),
        (b"<alert", "syntax"),
        (b"<html/>", "structure"),
    ],
)
async def test_hostile_input_is_dead_lettered_with_a_reason(tmp_path: Path, data: bytes, label: str) -> None:
    proc, sinks, _stage = make(tmp_path)
    outcome = await handle(proc, data)
    assert (outcome.status, outcome.reason) == ("rejected", label)
    assert len(sinks.dead) == 1
    dead_data, dead_label, reason, stage = sinks.dead[0]
    assert (dead_data, dead_label, stage) == (data, label, "parse")
    assert reason
    assert sinks.events == []


@pytest.mark.parametrize(
    ("kwargs", "settings", "reason"),
    [
        ({"status": "Test"}, {}, "status_test"),
        ({"status": "Exercise"}, {}, "status_exercise"),
        ({"msg_type": "Ack", "references": ((SENDER, "x", SENT),)}, {}, "msgtype_ack"),
        ({"expires": "2001-01-01T00:00:00+09:00", "sent": "2000-12-31T00:00:00+09:00"}, {}, "expired"),
        ({"msg_type": "Cancel", "references": ((SENDER, "nope", SENT),)}, {}, "unknown_reference"),
    ],
)
async def test_policy_skips_are_counted_by_reason(
    tmp_path: Path, kwargs: dict[str, Any], settings: dict[str, Any], reason: str
) -> None:
    proc, sinks, _stage = make(tmp_path, **settings)
    outcome = await handle(proc, cap_xml("P-1", **kwargs))
    assert (outcome.status, outcome.reason) == ("skipped", reason)
    assert sinks.events == [] and sinks.dead == []
    assert not (tmp_path / "out" / key("P-1").slug()).exists()


async def test_policy_can_accept_exercises_and_expired(tmp_path: Path) -> None:
    proc, _sinks, _stage = make(tmp_path, accept_statuses=("Actual", "Exercise"), accept_expired=True)
    outcome = await handle(
        proc,
        cap_xml(
            "P-2", status="Exercise", sent="2000-12-31T00:00:00+09:00", expires="2001-01-01T00:00:00+09:00"
        ),
    )
    assert outcome.status == "published"


async def test_failing_stage_is_retried_then_dead_lettered(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("a file where the output folder should be")
    proc, sinks, _stage = make(tmp_path, stage=SummaryStage(blocker), max_attempts=2)
    outcome = await handle(proc, cap_xml("F-1"))
    assert (outcome.status, outcome.reason) == ("rejected", "stage_error")
    (_data, label, reason, stage) = sinks.dead[0]
    assert (label, stage) == ("stage_error", "render")
    assert "publish failed 2 times" in reason


async def test_cancel_event_stops_a_slow_render_without_output(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path, stage=SummaryStage(tmp_path / "out", delay_s=30.0))
    cancel = threading.Event()
    task = asyncio.create_task(handle(proc, cap_xml("C-1"), cancel))
    await asyncio.sleep(0.2)
    cancel.set()
    with pytest.raises(StageCancelled):
        await asyncio.wait_for(task, 5)
    assert stage.existing(key("C-1")) is None
    assert sinks.events == []


def test_reject_label_is_bounded() -> None:
    from cinealert.cap.errors import CapError, CapSecurityError

    assert reject_label(CapSecurityError("x")) == "security"
    assert reject_label(CapError("x")) == "invalid"
    assert reject_label(ValueError("x")) == "invalid"


def test_existing_reads_back_what_publish_wrote(tmp_path: Path) -> None:
    from cinealert.cap.model import Classification, DisasterType

    stage = SummaryStage(tmp_path)
    alert = parse_alert(cap_xml("E-1"))
    assert stage.existing(alert.key) is None
    published = stage.publish(
        alert, Classification(DisasterType.FLOOD, 0.9, "event", "flood"), threading.Event()
    )
    again = stage.existing(alert.key)
    assert again is not None
    assert (again.key, again.disaster, again.files) == (published.key, "flood", published.files)
    assert stage.supersede(key("unknown"), alert.key) is None
    first = stage.withdraw(alert.key, key("c1"))
    assert (
        first is not None and stage.withdraw(alert.key, key("c2")) == first
    )  # the first Cancel stays recorded
    assert json.loads(first.read_text())["by_fields"]["identifier"] == "c1"


async def test_failing_withdraw_is_dead_lettered_not_fatal(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path, max_attempts=2)
    await handle(proc, cap_xml("W-1"))
    (stage.directory(key("W-1")) / WITHDRAWN).mkdir()  # a directory where the marker must go: rename fails
    outcome = await handle(proc, cap_xml("W-1c", msg_type="Cancel", references=((SENDER, "W-1", SENT),)))
    assert (outcome.status, outcome.reason) == ("rejected", "stage_error")
    assert [(label, where) for _d, label, _r, where in sinks.dead] == [("stage_error", "render")]
    assert [e["event"] for e in sinks.events] == ["published"]  # no withdrawal announced


class DiskFullStage(SummaryStage):
    """A summary stage whose first ``full`` publishes fail as a full output disk does (``PublishError``)."""

    def __init__(self, output_dir: Path, full: int) -> None:
        super().__init__(output_dir)
        self.full = full
        self.calls = 0
        self.failed_twice = threading.Event()

    def publish(self, alert: Any, classification: Any, cancel: threading.Event, gate: Any = None) -> Any:
        from cinealert.broadcast.publish import PublishError

        self.calls += 1
        if self.calls <= self.full:
            if self.calls >= 2:
                self.failed_twice.set()
            raise PublishError(errno.ENOSPC, f"cannot publish {self.output_dir}: No space left on device")
        return super().publish(alert, classification, cancel, gate)


async def test_full_disk_waits_for_space_instead_of_dead_lettering(tmp_path: Path) -> None:
    stage = DiskFullStage(tmp_path / "out", full=5)
    proc, sinks, _stage = make(tmp_path, stage=stage, max_attempts=2)
    proc.settings = proc.settings.model_copy(update={"retry_backoff_s": 0.01})
    outcome = await handle(proc, cap_xml("D-1"))
    assert outcome.status == "published" and stage.calls == 6  # more failures than max_attempts allows
    assert sinks.dead == []
    assert [e["key"]["identifier"] for e in sinks.events] == ["D-1"]


async def test_full_disk_wait_ends_on_shutdown_without_dead_letter(tmp_path: Path) -> None:
    stage = DiskFullStage(tmp_path / "out", full=10**6)
    proc, sinks, _stage = make(tmp_path, stage=stage, max_attempts=1)
    cancel = threading.Event()
    task = asyncio.create_task(handle(proc, cap_xml("D-2"), cancel))
    assert await asyncio.to_thread(stage.failed_twice.wait, 10)  # max_attempts=1 spent: still waiting
    cancel.set()
    with pytest.raises(StageCancelled):
        await asyncio.wait_for(task, 5)  # not committed: the alert is replayed after the restart
    assert sinks.dead == [] and sinks.events == []


def test_disk_full_is_found_anywhere_in_the_cause_chain() -> None:
    from cinealert.broadcast.publish import PublishError
    from cinealert.handlers.process import disk_full

    try:
        try:
            raise PublishError(errno.ENOSPC, "no space")
        except PublishError as inner:
            raise RuntimeError("encode failed") from inner
    except RuntimeError as outer:
        assert disk_full(outer)
    assert disk_full(OSError(errno.EDQUOT, "quota"))
    assert not disk_full(PublishError(errno.EACCES, "permission denied"))
    assert not disk_full(ValueError("bad"))


def test_media_stage_reads_a_summary_result_as_not_its_own(tmp_path: Path) -> None:
    """Switching handlers.stage from summary to media over the same output_dir: the media stage renders the
    alert again instead of crashing on the other stage's result.json (which would dead-letter a valid alert)."""
    from cinealert.cap.model import Classification, DisasterType
    from cinealert.media.result import read_result

    stage = SummaryStage(tmp_path)
    alert = parse_alert(cap_xml("X-1"))
    published = stage.publish(
        alert, Classification(DisasterType.FLOOD, 0.9, "event", "flood"), threading.Event()
    )
    assert (published.directory / RESULT).is_file()
    assert read_result(published.directory) is None
