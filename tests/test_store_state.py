"""State that holds across machines: two processors with separate local directories and one bucket (a real
moto_server) share one media "topic"; neither airs an alert twice nor a cancelled one."""

from __future__ import annotations

import contextlib
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from cinealert.cap.model import AlertKey
from cinealert.config import parse
from cinealert.config.sections import HandlerSettings
from cinealert.handlers.process import Processor
from cinealert.handlers.stage import StageCancelled
from cinealert.handlers.summary_stage import SummaryStage
from cinealert.objstore import shared_files
from conftest import cap_xml
from s3server import S3Server, s3_fixture  # noqa: F401 - the fixture
from test_handlers_process import SENDER, SENT, Sinks


def daemon(root: Path, s3: S3Server, bucket: str, sinks: Sinks) -> Processor:
    settings = parse({
        "broadcast": {"output_dir": str(root / "out")},
        "handlers": {"dedup_state_dir": str(root / "state"), "stage": "summary", "retry_backoff_s": 0.0},
        "render": {"cache_dir": str(root / "cache")},
        "store": s3.settings(bucket).model_dump(mode="json") | {"access_key_id": "t", "secret_access_key": "t"},
    })  # fmt: skip
    files = shared_files(settings)
    stage = SummaryStage(settings.broadcast.output_dir, files=files)
    handlers = HandlerSettings(dedup_state_dir=root / "state", retry_backoff_s=0.0)
    return Processor(stage, handlers, sinks, sinks.dead_letter, files=files, lease_s=5.0)


async def handle(proc: Processor, data: bytes) -> Any:
    return await proc.handle(data, received_at=time.time(), cancel=threading.Event())


def events(sinks: Sinks) -> list[tuple[str, str]]:
    return [(e["event"], e["key"]["identifier"]) for e in sinks.events]


async def test_a_redelivery_on_the_other_machine_is_a_duplicate(tmp_path: Path, s3: S3Server) -> None:
    bucket, sinks = s3.new_bucket(), Sinks()
    a, b = daemon(tmp_path / "a", s3, bucket, sinks), daemon(tmp_path / "b", s3, bucket, sinks)
    first = await handle(a, cap_xml("X-1"))
    again = await handle(b, cap_xml("X-1"))  # a rebalance hands the uncommitted message to the other daemon
    assert (first.status, again.status) == ("published", "duplicate")
    assert events(sinks) == [("published", "X-1")]
    assert not (tmp_path / "b" / "out").exists() or not any((tmp_path / "b" / "out").glob("*/summary.json"))


async def test_a_lost_announcement_is_sent_once_by_the_other_machine(tmp_path: Path, s3: S3Server) -> None:
    bucket, sinks = s3.new_bucket(), Sinks()
    a, b = daemon(tmp_path / "a", s3, bucket, sinks), daemon(tmp_path / "b", s3, bucket, sinks)
    sinks.fail_after_send = 1  # A dies right after the broker acknowledged, before its ANNOUNCED marker
    with pytest.raises(StageCancelled):
        await handle(a, cap_xml("X-2"))
    again = await handle(b, cap_xml("X-2"))
    assert again.status == "duplicate"
    assert events(sinks) == [("published", "X-2")]  # B found it on the topic from A's fence in the bucket
    assert sinks.checks == 1


async def test_a_cancel_on_one_machine_keeps_the_alert_off_air_on_the_other(
    tmp_path: Path, s3: S3Server
) -> None:
    bucket, sinks = s3.new_bucket(), Sinks()
    a, b = daemon(tmp_path / "a", s3, bucket, sinks), daemon(tmp_path / "b", s3, bucket, sinks)
    cancel = cap_xml("C-1", msg_type="Cancel", references=((SENDER, "X-3", SENT),))
    update = cap_xml("U-1", msg_type="Update", references=((SENDER, "X-4", SENT),))
    assert (await handle(b, cancel)).status == "skipped"  # nothing to withdraw yet: the tombstone stays
    assert (await handle(b, update)).status == "published"
    late = await handle(a, cap_xml("X-3"))  # the original reaches the other daemon later
    late_updated = await handle(a, cap_xml("X-4"))
    assert (late.status, late.reason) == ("skipped", "cancelled_before_publish")
    assert (late_updated.status, late_updated.reason) == ("skipped", "superseded_before_publish")
    assert ("published", "X-3") not in events(sinks) and ("published", "X-4") not in events(sinks)
    assert events(sinks).count(("superseded", "X-4")) == 1
    await handle(b, cap_xml("X-4"))  # replayed on the first machine: announced once only
    assert events(sinks).count(("superseded", "X-4")) == 1

    assert (await handle(a, cap_xml("X-5"))).status == "published"
    withdraw = cap_xml("C-2", msg_type="Cancel", references=((SENDER, "X-5", SENT),))
    assert (await handle(b, withdraw)).status == "withdrawn"
    assert (await handle(a, withdraw)).status == "withdrawn"  # a replay on A: the marker and event are kept
    assert events(sinks).count(("withdrawn", "X-5")) == 1
    assert (await handle(b, cap_xml("X-5"))).status != "published"


async def test_an_unreachable_store_is_waited_for_not_dead_lettered(tmp_path: Path) -> None:
    """The bucket is down when the alert arrives (the tombstone lookup and the upload fail): the alert waits, as
    for a full disk, spends no attempts, and is published once the store is back."""
    import asyncio

    server = S3Server(tmp_path / "moto.log")  # not started yet: connection refused on its port
    sinks = Sinks()
    proc = daemon(tmp_path / "a", server, "late", sinks)
    task = asyncio.create_task(handle(proc, cap_xml("X-9")))
    await asyncio.sleep(1.0)  # some failed attempts against the closed port
    assert not task.done() and sinks.dead == []
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.client().create_bucket, Bucket="late")
    outcome = await asyncio.wait_for(task, 120)
    server.stop()
    assert outcome.status == "published" and sinks.dead == []
    assert events(sinks) == [("published", "X-9")]


async def test_a_cancelled_wait_for_a_guard_leaves_no_lease_behind(tmp_path: Path, s3: S3Server) -> None:
    """Shutdown cancels a coroutine while its thread is taking a key's lease (the key is free, the request in
    flight): the lease it then gets is let go, not renewed until the process ends."""
    import asyncio

    from cinealert.handlers.leases import LeaseLedger
    from cinealert.objstore import Bucket, S3Files

    settings = s3.settings(s3.new_bucket(), lease_s=30.0)
    b, c = (LeaseLedger(tmp_path / n, S3Files(Bucket(settings), {tmp_path / n: "state"}), 30.0) for n in "bc")
    key = AlertKey(SENDER, "X-10", SENT)
    for _round in range(3):

        async def wait_for_it() -> None:
            async with b.guard(key):
                await asyncio.sleep(60)

        waiter = asyncio.create_task(wait_for_it())
        await asyncio.sleep(0)  # the waiter has sent its create; cancelled before the bucket answers
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        taken = None
        for _ in range(100):  # lease_s is 30 s: only a released lease is free again within these 10 s
            taken = await asyncio.to_thread(c._try, key)
            if taken is not None:
                break
            await asyncio.sleep(0.1)
        assert taken is not None
        await asyncio.to_thread(taken.release)
