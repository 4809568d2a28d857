"""Several channels in one processor: each alert is published under exactly the channels whose coverage takes
it (announced once per channel, naming it), an alert no channel takes is skipped ``out_of_area`` without the
stage being asked, a Cancel withdraws on every channel, and a late original of a Cancel airs on none. Plus the
``[channels]`` settings themselves."""

from __future__ import annotations

import errno
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from cinealert.config import ConfigError, parse
from cinealert.config.sections import CoverageSettings, HandlerSettings
from cinealert.handlers.channels import ChannelStage
from cinealert.handlers.factory import channel_stages
from cinealert.handlers.process import Processor
from cinealert.handlers.summary_stage import SummaryStage
from test_handlers_coverage import data, handle
from test_handlers_process import DiskFullStage, Sinks

CHANNELS = {
    "montgomery": ("SAME:024031",),
    "maryland": ("SAME:024000",),
    "seoul": ("KR:11",),
    "korea": ("KR:11", "KR:26"),
}


class CountingStage(SummaryStage):
    """The summary stage counting every call that would render or look for an output."""

    calls = 0

    def publish(self, *args: Any, **kwargs: Any) -> Any:
        CountingStage.calls += 1
        return super().publish(*args, **kwargs)

    def existing(self, *args: Any, **kwargs: Any) -> Any:
        CountingStage.calls += 1
        return super().existing(*args, **kwargs)


def make(tmp_path: Path) -> tuple[Processor, Sinks]:
    sinks = Sinks()
    CountingStage.calls = 0
    channels = [
        ChannelStage.build(name, CountingStage(tmp_path / name), coverage=CoverageSettings(locations=codes))
        for name, codes in CHANNELS.items()
    ]
    settings = HandlerSettings(dedup_state_dir=tmp_path / "state", retry_backoff_s=0.0)
    proc = Processor(channels[0].stage, settings, sinks, sinks.dead_letter, channels=channels)
    return proc, sinks


def outputs(tmp_path: Path) -> dict[str, list[str]]:
    return {name: sorted(p.parent.name for p in (tmp_path / name).glob("*/result.json")) for name in CHANNELS}


async def test_each_alert_goes_to_exactly_its_channels(tmp_path: Path) -> None:
    proc, sinks = make(tmp_path)
    us = await handle(proc, data("en_flood.xml"))
    assert us.status == "published"
    assert us.channels == {"montgomery": "published", "maryland": "published"}
    ko = await handle(proc, data("ko_flood.xml"))
    assert ko.channels == {"seoul": "published", "korea": "published"}
    calls = CountingStage.calls
    nowhere = await handle(proc, data("ko_drought.xml"))
    assert (nowhere.status, nowhere.reason) == ("skipped", "out_of_area")
    assert CountingStage.calls == calls  # no channel asked: no render, no lookup
    assert us.key is not None and ko.key is not None
    done = outputs(tmp_path)
    assert done["montgomery"] == done["maryland"] == [us.key.slug()]
    assert done["seoul"] == done["korea"] == [ko.key.slug()]
    published = [(e["event"], e["channel"]) for e in sinks.events]
    assert published == [
        ("published", "montgomery"),
        ("published", "maryland"),
        ("published", "seoul"),
        ("published", "korea"),
    ]
    assert len({e["event_id"] for e in sinks.events}) == 4  # one announcement per channel, each its own id
    assert all(e["directory"].startswith(str(tmp_path / e["channel"])) for e in sinks.events)
    # a replay renders nothing and announces nothing again
    again = await handle(proc, data("en_flood.xml"))
    assert again.status == "duplicate" and again.announced == []
    # the Cancel withdraws on both channels that aired it, and names each
    sinks.events.clear()
    cancel = await handle(proc, data("cancel_flood.xml"))
    assert (cancel.status, cancel.withdrawn) == ("withdrawn", 2)
    assert [(e["event"], e["channel"]) for e in sinks.events] == [
        ("withdrawn", "seoul"),
        ("withdrawn", "korea"),
    ]
    for name in ("seoul", "korea"):
        assert (tmp_path / name / ko.key.slug() / "WITHDRAWN.json").is_file()
    assert not (tmp_path / "maryland" / us.key.slug() / "WITHDRAWN.json").exists()
    assert sinks.dead == []


async def test_cancel_first_keeps_the_original_off_every_channel(tmp_path: Path) -> None:
    proc, sinks = make(tmp_path)
    cancel = await handle(proc, data("cancel_flood.xml"))
    assert (cancel.status, cancel.reason) == ("skipped", "unknown_reference")
    late = await handle(proc, data("ko_flood.xml"))
    assert (late.status, late.reason) == ("skipped", "cancelled_before_publish")
    assert late.channels == {"seoul": "cancelled_before_publish", "korea": "cancelled_before_publish"}
    assert outputs(tmp_path) == {name: [] for name in CHANNELS}
    assert sinks.events == []


async def test_update_supersedes_on_every_channel(tmp_path: Path) -> None:
    proc, sinks = make(tmp_path)
    await handle(proc, data("en_flood.xml"))
    update = await handle(proc, data("update_flood.xml"))
    assert update.superseded == 2
    events = [(e["event"], e["channel"]) for e in sinks.events]
    assert ("superseded", "montgomery") in events and ("superseded", "maryland") in events


def test_channel_settings(tmp_path: Path) -> None:
    settings = parse(
        {
            "broadcast": {"output_dir": str(tmp_path / "out"), "languages": ["ko", "en"]},
            "channels": {
                "seoul": {"coverage": {"locations": ["KR:11"]}},
                "us-east": {
                    "languages": ["en", "es"],
                    "timezone": "America/New_York",
                    "profiles": ["hls"],
                    "mode": "rich-media",
                    "output_dir": str(tmp_path / "east"),
                },
            },
        }
    )
    seoul, east = settings.channel_list()
    assert (seoul.name, seoul.broadcast.output_dir, seoul.broadcast.languages) == (
        "seoul",
        tmp_path / "out" / "seoul",
        ("ko", "en"),
    )
    assert seoul.coverage.locations == ("KR:11",)
    assert (east.broadcast.languages, east.broadcast.timezone, east.broadcast.profiles) == (
        ("en", "es"),
        "America/New_York",
        ("hls",),
    )
    assert (east.broadcast.mode, east.broadcast.output_dir) == ("rich-media", tmp_path / "east")
    stages = channel_stages(settings, SummaryStage(tmp_path / "unused", delay_s=0.5))
    assert [(c.name, c.stage.output_dir) for c in stages] == [  # type: ignore[attr-defined]
        ("seoul", tmp_path / "out" / "seoul"),
        ("us-east", tmp_path / "east"),
    ]
    # without [channels]: one "default" channel of [coverage] and [broadcast], the stage itself
    plain = parse({"coverage": {"locations": ["KR:11"]}})
    (default,) = plain.channel_list()
    assert (default.name, default.coverage.locations) == ("default", ("KR:11",))
    stage = SummaryStage(tmp_path)
    assert [c.stage for c in channel_stages(plain, stage)] == [stage]
    bad = [
        {"channels": {"Seoul!": {}}},
        {"channels": {"a": {"output_dir": "x"}, "b": {"output_dir": "x"}}},
        {"coverage": {"locations": ["KR:11"]}, "channels": {"a": {}}},
        {"channels": {"a": {"languages": "ko", "colour": 1}}},
    ]
    for doc in bad:
        with pytest.raises(ConfigError):
            parse(doc)
    assert json.dumps(sorted(settings.channels))  # names are plain strings


@dataclass
class FullOnceSinks(Sinks):
    """The media topic whose first fence fails as a full disk does (the ANNOUNCING marker cannot be written)."""

    full: int = 1

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        if self.full:
            self.full -= 1
            raise OSError(errno.ENOSPC, "No space left on device")
        return await super().fence(event)


@pytest.mark.parametrize("where", ["second channel's publish", "first channel's announcement"])
async def test_a_full_disk_retry_reports_what_the_first_attempt_published(tmp_path: Path, where: str) -> None:
    """The disk fills after the first channel's output is durable; the retry (the whole message again, once there
    is room) finds that output. It is still this message's publication, not a duplicate: each channel is reported
    published and announced exactly once, counted once per channel, nothing dead-lettered."""
    sinks = FullOnceSinks(full=int(where.endswith("announcement")))
    full = int(where.endswith("publish"))
    stages = {
        "montgomery": SummaryStage(tmp_path / "montgomery"),
        "maryland": DiskFullStage(tmp_path / "md", full),
    }
    channels = [
        ChannelStage.build(name, stage, coverage=CoverageSettings(locations=CHANNELS[name]))
        for name, stage in stages.items()
    ]
    settings = HandlerSettings(dedup_state_dir=tmp_path / "state", retry_backoff_s=0.0)
    proc = Processor(channels[0].stage, settings, sinks, sinks.dead_letter, channels=channels)
    outcome = await handle(proc, data("en_flood.xml"))
    assert outcome.status == "published" and sinks.dead == []
    assert outcome.channels == {"montgomery": "published", "maryland": "published"}
    assert outcome.announced_on == [("published", "montgomery"), ("published", "maryland")]
    assert set(outcome.extras) == {"montgomery", "maryland"}
    assert [(e["event"], e["channel"]) for e in sinks.events] == outcome.announced_on
    if full:
        assert stages["maryland"].calls == 2  # type: ignore[attr-defined]
    # a real replay afterwards is a duplicate on both channels, and announces nothing
    again = await handle(proc, data("en_flood.xml"))
    assert again.status == "duplicate" and again.announced_on == []
    assert again.channels == {"montgomery": "duplicate", "maryland": "duplicate"}
