"""Coverage in the message path: ``decide`` with a coverage, and the processor on the real parser and the real
summary stage: an out-of-area alert is skipped (``out_of_area``, logged with the codes that did not match), never
rendered, never announced, never dead-lettered; an out-of-area Update still takes its original off air."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from structlog.testing import capture_logs

from cinealert.cap import parse_alert
from cinealert.cap.coverage import Coverage
from cinealert.config.sections import CoverageSettings, HandlerSettings
from cinealert.handlers.policy import decide
from cinealert.handlers.process import Processor
from cinealert.handlers.summary_stage import SummaryStage
from test_handlers_process import Sinks

SAMPLES = Path(__file__).resolve().parents[1] / "samples"
NOW = datetime(2026, 11, 26, tzinfo=UTC)
MONTGOMERY = CoverageSettings(locations=("SAME:024031",))


def data(name: str, *replace: tuple[str, str]) -> bytes:
    text = (SAMPLES / name).read_text(encoding="utf-8")
    for old, new in replace:
        assert old in text
        text = text.replace(old, new)
    return text.encode("utf-8")


# -- decide ------------------------------------------------------------------------------------------------


def test_decide_with_coverage() -> None:
    cov = Coverage.from_settings(CoverageSettings(locations=("KR:11",)))
    settings = HandlerSettings()
    seoul = decide(parse_alert(data("ko_flood.xml")), settings, NOW, cov)
    assert (seoul.action, seoul.reason) == ("publish", "")
    assert seoul.verdict is not None and seoul.verdict.reason == "in_area"
    moved = data("ko_flood.xml", ("1135000000", "2635000000"), ("1132000000", "2632000000"))
    busan = decide(parse_alert(moved), settings, NOW, cov)
    assert (busan.action, busan.reason) == ("skip", "out_of_area")
    assert "KR:2635000000" in busan.detail and "KR:2632000000" in busan.detail
    # a Cancel is never filtered: it only withdraws what this station aired
    cancel = decide(parse_alert(data("cancel_flood.xml")), settings, NOW, Coverage.from_settings(MONTGOMERY))
    assert cancel.action == "cancel"
    # the cheaper checks keep their reasons
    test = decide(parse_alert(data("test_required_weekly.xml")), settings, NOW, cov)
    assert test.reason == "status_test"
    # no coverage, or an empty one: every alert airs, as before
    assert decide(parse_alert(data("en_flood.xml")), settings, NOW, None).action == "publish"
    assert (
        decide(parse_alert(data("en_flood.xml")), settings, NOW, Coverage(CoverageSettings())).verdict is None
    )


# -- the processor -------------------------------------------------------------------------------------------


def make(tmp_path: Path, coverage: CoverageSettings) -> tuple[Processor, Sinks, SummaryStage]:
    sinks = Sinks()
    stage = SummaryStage(tmp_path / "out")
    settings = HandlerSettings(dedup_state_dir=tmp_path / "state", retry_backoff_s=0.0)
    return Processor(stage, settings, sinks, sinks.dead_letter, coverage=coverage), sinks, stage


async def handle(proc: Processor, message: bytes) -> Any:
    return await proc.handle(message, received_at=time.time(), cancel=threading.Event())


class CountingStage(SummaryStage):
    """The real summary stage, counting every call that would render or look for an output."""

    calls = 0

    def publish(self, *args: Any, **kwargs: Any) -> Any:
        CountingStage.calls += 1
        return super().publish(*args, **kwargs)

    def existing(self, *args: Any, **kwargs: Any) -> Any:
        CountingStage.calls += 1
        return super().existing(*args, **kwargs)


async def test_out_of_area_alert_is_skipped_without_media_or_render(tmp_path: Path) -> None:
    sinks = Sinks()
    stage = CountingStage(tmp_path / "out")
    settings = HandlerSettings(dedup_state_dir=tmp_path / "state", retry_backoff_s=0.0)
    proc = Processor(
        stage, settings, sinks, sinks.dead_letter, coverage=CoverageSettings(locations=("KR:26",))
    )
    with capture_logs() as logs:
        outcome = await handle(proc, data("ko_flood.xml"))
    assert (outcome.status, outcome.reason) == ("skipped", "out_of_area")
    assert CountingStage.calls == 0  # the stage was never asked: no render, no output lookup
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
    assert (
        sinks.events == [] and sinks.dead == []
    )  # not announced, not dead-lettered: the offset is committed
    skipped = [e for e in logs if e["event"] == "alert_skipped"]
    assert skipped[0]["reason"] == "out_of_area"
    assert "KR:1135000000" in skipped[0]["detail"] and "KR:1132000000" in skipped[0]["detail"]
    # the national override reaches the same station
    national = await handle(proc, data("ko_national_earthquake.xml", ("2600000000", "4100000000")))
    assert national.status == "published" and CountingStage.calls > 0
    assert [e["event"] for e in sinks.events] == ["published"]


async def test_in_area_alert_is_published(tmp_path: Path) -> None:
    proc, sinks, stage = make(tmp_path, CoverageSettings(locations=("KR:11",)))
    outcome = await handle(proc, data("ko_flood.xml"))
    assert outcome.status == "published"
    assert [e["event"] for e in sinks.events] == ["published"]
    assert (stage.directory(outcome.key) / "summary.json").is_file()


async def test_update_that_moves_out_of_area_takes_the_original_off_air(tmp_path: Path) -> None:
    proc, sinks, _stage = make(tmp_path, MONTGOMERY)
    original = await handle(proc, data("en_flood.xml"))
    assert original.status == "published"
    moved = data("update_flood.xml", ("<value>024031</value>", "<value>024033</value>"))
    outcome = await handle(proc, moved)
    assert (outcome.status, outcome.reason) == ("skipped", "out_of_area")
    assert outcome.superseded == 1
    assert [e["event"] for e in sinks.events] == ["published", "superseded"]
    assert sinks.dead == []
