"""The operator console end to end in Debian's headless Chromium (playwright, started here): a real embedded
broker, the daemon in this process with a real media stage (HLS at 320x180 from a synthetic loop, real
espeak-ng and PyAV), the console it serves, alerts produced to the alerts topic.

Checked as an operator sees it: the list fills as alerts are produced; a published clip plays in the page (its
clock advances, frames decoded); on the manual channel a Severe alert waits, and Approve publishes it; Withdraw
puts the same ``withdrawn`` announcement on ``cap.media`` a CAP Cancel would; a headline made of HTML and script
shows as text and runs nothing; a page on another origin posting an action with the operator's cookie is refused.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from cinealert.cap.model import AlertKey
from cinealert.config import Settings, parse
from cinealert.console.run import Console
from cinealert.daemon.broker import EmbeddedBroker
from cinealert.daemon.service import Daemon
from conftest import cap_xml
from test_browser_playback import CHROMIUM, require_browser
from test_pipeline import H, Provider, W

pytestmark = pytest.mark.slow
TOKEN = "duty-engineer:" + "t0ken-for-the-console-test"
SENDER = "kma@example.kr"
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
#: Where the screenshots go: docs/ when CINEALERT_CONSOLE_SHOTS=docs (how docs/console*.png were made), else
#: the test's own temporary folder (a plain test run leaves the tree as it was).
SHOTS = os.environ.get("CINEALERT_CONSOLE_SHOTS", "")
DOCS = Path(__file__).resolve().parents[1] / "docs"


def alert_xml(identifier: str, *, severity: str = "Severe", **kw: Any) -> bytes:
    data = cap_xml(identifier, sender=SENDER, **kw)
    return data.replace(b"<severity>Severe</severity>", f"<severity>{severity}</severity>".encode())


def console_settings(tmp_path: Path, bootstrap: str, prefix: str) -> Settings:
    return parse({
        "kafka": {"bootstrap": bootstrap, "alerts_topic": f"{prefix}.alerts", "media_topic": f"{prefix}.media",
                  "dead_letter_topic": f"{prefix}.dead", "group_id": f"{prefix}-group"},
        # 4 slots: a waiting alert holds one (docs/console.md), and the manual test keeps three waiting
        "handlers": {"stage": "media", "concurrency": 4, "dedup_state_dir": str(tmp_path / "state"),
                     "retry_backoff_s": 0.1},
        "render": {"cache_dir": str(tmp_path / "cache"), "prewarm_before_ready": False},
        "broadcast": {"output_dir": str(tmp_path / "out"), "profiles": ["hls"], "languages": ["en"]},
        "console": {"enabled": True, "port": 0, "token": TOKEN, "manual_channels": ["default"],
                    "auto_approve_s": 280, "bypass_severities": ["Extreme"]},
    })  # fmt: skip


async def media_events(bootstrap: str, topic: str) -> list[dict[str, Any]]:
    """Everything on the media topic so far (no group)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        if not tps:
            await consumer._client.force_metadata_update()
            tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        out: list[dict[str, Any]] = []
        while [tp for tp in tps if await consumer.position(tp) < ends[tp]]:
            batch = await consumer.getmany(timeout_ms=500)
            out += [json.loads(r.value) for records in batch.values() for r in records if r.value]
        return out
    finally:
        await consumer.stop()


async def wait_event(
    bootstrap: str, topic: str, event: str, key: AlertKey, timeout_s: float = 60
) -> dict[str, Any]:
    deadline = asyncio.get_running_loop().time() + timeout_s
    while True:
        for doc in await media_events(bootstrap, topic):
            if doc.get("event") == event and doc.get("key_str") == str(key):
                return doc
        assert asyncio.get_running_loop().time() < deadline, f"no {event} for {key} on {topic}"
        await asyncio.sleep(0.5)


@pytest.fixture
async def running(broker: EmbeddedBroker, tmp_path: Path) -> AsyncIterator[tuple[Settings, Console, str]]:
    from cinealert.media.stage import MediaStage

    require_browser()
    prefix = f"console-{uuid.uuid4().hex[:8]}"
    for suffix in ("alerts", "media", "dead"):
        broker.create_topic(f"{prefix}.{suffix}", 2)
    settings = console_settings(tmp_path, broker.bootstrap, prefix)
    console = Console(settings)
    stage = MediaStage(settings, loop_provider=Provider(), size=(W, H))
    daemon = Daemon(settings, stage=stage, bootstrap=broker.bootstrap, watch=console.board,
                    approvals=console.approvals)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(daemon.run(stop))
    url = await console.start(daemon)
    try:
        yield settings, console, url
    finally:
        stop.set()
        await asyncio.wait_for(task, 60)
        await console.stop()


async def produce(bootstrap: str, topic: str, *messages: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for data in messages:
            await producer.send_and_wait(topic, data, key=SENDER.encode())
    finally:
        await producer.stop()


async def attacker_site(target: str, entry_id: str) -> tuple[web.AppRunner, str]:
    """Another origin whose page posts a Withdraw to the console: a form and a credentialed fetch."""
    action = f"{target}api/alerts/{entry_id}/withdraw"
    page = f"""<!doctype html><html><body>
<form id="f" method="post" action="{action}"><input name="channel" value="default"></form>
<script>
fetch("{action}", {{method: "POST", credentials: "include", mode: "no-cors",
  headers: {{"Content-Type": "text/plain"}}, body: '{{"channel": "default"}}'}})
  .finally(() => document.getElementById("f").submit());
</script></body></html>"""

    async def serve(_request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", serve)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}/"


async def sign_in(context: Any, url: str) -> Any:
    """A page of ``context`` signed in to the console at ``url``, its event stream live."""
    page = await context.new_page()
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))  # Withdraw and Re-air ask first
    await page.goto(url)
    assert page.url.endswith("/login")
    await page.fill("#token", TOKEN.split(":", 1)[1])
    await page.click("button[type=submit]")
    await page.wait_for_selector("#link.live")
    return page


def row(entry_id: str) -> str:
    return f'#alerts tr[data-id="{entry_id}"]'


async def test_console_in_chromium(running: tuple[Settings, Console, str], tmp_path: Path) -> None:
    from playwright.async_api import async_playwright

    shots = DOCS if SHOTS == "docs" else tmp_path
    settings, console, url = running
    k = settings.kafka
    extreme = AlertKey(SENDER, "KMA-CONSOLE-1", "2026-11-26T09:00:00+09:00")
    severe = AlertKey(SENDER, "KMA-CONSOLE-2", "2026-11-26T09:00:00+09:00")
    hostile = AlertKey(SENDER, "KMA-CONSOLE-3", "2026-11-26T09:00:00+09:00")
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(
            executable_path=str(CHROMIUM), args=["--autoplay-policy=no-user-gesture-required", "--no-sandbox"]
        )
        context = await browser.new_context(viewport={"width": 1400, "height": 900})
        page = await sign_in(context, url)

        # The list fills as alerts are produced; Extreme airs at once (bypass), Severe waits for an operator.
        await produce(k.bootstrap, k.alerts_topic,
                      alert_xml(extreme.identifier, severity="Extreme", headline="Flash flood: leave the riverside"),
                      alert_xml(severe.identifier, headline="Heavy rain warning for Seoul"),
                      alert_xml(hostile.identifier, status="Exercise", headline=HOSTILE))  # fmt: skip
        await page.wait_for_selector(row(extreme.slug()) + " .state-published", timeout=120_000)
        await page.wait_for_selector(row(severe.slug()) + " .state-pending", timeout=120_000)
        await page.wait_for_selector(row(hostile.slug()) + " .state-skipped", timeout=60_000)

        # The hostile headline is text: shown verbatim, nothing ran, no element made from it.
        shown = await page.text_content(row(hostile.slug()) + " td.headline")
        assert shown == HOSTILE
        assert await page.evaluate("window.__pwned") is None
        assert await page.evaluate("document.querySelectorAll('#alerts img, #alerts script').length") == 0

        # The published clip plays in the page: hls.js from this origin, the clock past 1.5 s, frames decoded.
        await page.click(row(extreme.slug()))
        await page.wait_for_function(
            "() => document.getElementById('clip').currentTime > 1.5", timeout=60_000
        )
        video = await page.evaluate(
            "(() => { const v = document.getElementById('clip'); const q = v.getVideoPlaybackQuality();"
            " return {w: v.videoWidth, h: v.videoHeight, frames: q.totalVideoFrames,"
            " fatal: window.consoleState.player.fatal}; })()"
        )
        assert video["w"] == W and video["h"] == H and video["frames"] > 10 and not video["fatal"], video
        await page.wait_for_function(
            "() => document.getElementById('thumb').naturalWidth > 0", timeout=30_000
        )
        assert "Flash flood" in (await page.text_content("#d-overlay") or "")

        # Approve publishes the waiting alert; the action and the publication are both on cap.media.
        await page.click(row(severe.slug()))
        await page.click('#d-actions button[data-action="approve"]')
        await page.wait_for_selector(row(severe.slug()) + " .state-published", timeout=120_000)
        approved = await wait_event(k.bootstrap, k.media_topic, "operator", severe)
        assert approved["action"] == "approve" and approved["operator"] == "duty-engineer"
        await wait_event(k.bootstrap, k.media_topic, "published", severe)
        await page.click(row(extreme.slug()))
        await page.wait_for_function(
            "() => document.getElementById('clip').currentTime > 0.5", timeout=60_000
        )
        await page.screenshot(path=str(shots / "console.png"))

        # A page on another origin posts a Withdraw with the operator's cookie: refused, nothing withdrawn.
        runner, evil = await attacker_site(url, severe.slug())
        try:
            forged = await context.new_page()
            await forged.goto(evil)
            await forged.wait_for_url(url + "**", timeout=30_000)
            assert "cross-site request refused" in (await forged.content())
        finally:
            await runner.cleanup()
        assert not [d for d in await media_events(k.bootstrap, k.media_topic)
                    if d.get("event") == "withdrawn" and d.get("key_str") == str(severe)]  # fmt: skip
        assert console.board.get(severe.slug())["state"] == "published"  # type: ignore[index]

        # Withdraw: the same withdrawn announcement a CAP Cancel makes, by the operator's key.
        await page.click(row(extreme.slug()))
        await page.click('#d-actions button[data-action="withdraw"]')
        await page.wait_for_selector(row(extreme.slug()) + " .state-withdrawn", timeout=60_000)
        withdrawn = await wait_event(k.bootstrap, k.media_topic, "withdrawn", extreme)
        assert withdrawn["by"]["sender"] == "console:duty-engineer" and withdrawn["msg_type"] == "Cancel"
        await page.screenshot(path=str(shots / "console-withdrawn.png"))
        await browser.close()


async def test_manual_forwarding_in_chromium(running: tuple[Settings, Console, str], tmp_path: Path) -> None:
    """Hold stops the clock and Approve still airs it; Re-air announces the output again; a waiting alert that a
    CAP Cancel or the console's Withdraw reaches never airs, and its message is still finished (committed)."""
    from playwright.async_api import async_playwright

    settings, console, url = running
    k = settings.kafka
    held, cancelled, pulled = (
        AlertKey(SENDER, f"KMA-MANUAL-{i}", "2026-11-26T09:00:00+09:00") for i in (1, 2, 3)
    )
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        page = await sign_in(await browser.new_context(viewport={"width": 1400, "height": 900}), url)
        await produce(
            k.bootstrap, k.alerts_topic, *(alert_xml(key.identifier) for key in (held, cancelled, pulled))
        )
        for key in (held, cancelled, pulled):
            await page.wait_for_selector(row(key.slug()) + " .state-pending", timeout=120_000)

        await page.click(row(held.slug()))
        await page.screenshot(path=str((DOCS if SHOTS == "docs" else tmp_path) / "console-pending.png"))
        await page.click('#d-actions button[data-action="hold"]')
        await page.wait_for_selector(row(held.slug()) + " .state-held", timeout=30_000)
        assert [w["held_by"] for w in console.approvals.pending() if w["slug"] == held.slug()] == [
            "duty-engineer"
        ]  # type: ignore[union-attr]
        await page.click('#d-actions button[data-action="approve"]')
        await page.wait_for_selector(row(held.slug()) + " .state-published", timeout=60_000)
        await page.click('#d-actions button[data-action="reair"]')
        await page.wait_for_function(
            "() => window.consoleState.actions.some(a => a.action === 'reair' && a.status === 200)"
        )
        reair = [d for d in await media_events(k.bootstrap, k.media_topic)
                 if d.get("action") == "reair" and d.get("key_str") == str(held)]  # fmt: skip
        assert len(reair) == 1 and any(f.endswith("hls_master.m3u8") for f in reair[0]["files"])

        # A CAP Cancel from the sender reaches the waiting alert: it never airs.
        await produce(
            k.bootstrap,
            k.alerts_topic,
            alert_xml(
                "KMA-MANUAL-CANCEL",
                msg_type="Cancel",
                references=((SENDER, cancelled.identifier, cancelled.sent),),
            ),
        )
        await page.wait_for_selector(row(cancelled.slug()) + " .state-skipped", timeout=60_000)
        # The console's Withdraw on a waiting alert: the same.
        await page.click(row(pulled.slug()))
        await page.click('#d-actions button[data-action="withdraw"]')
        await page.wait_for_selector(row(pulled.slug()) + " .state-skipped", timeout=60_000)
        for key in (cancelled, pulled):
            entry = console.board.get(key.slug())
            assert entry is not None and entry["reason"] == "cancelled_before_publish" and entry["committed"]
        published = {
            d["key_str"] for d in await media_events(k.bootstrap, k.media_topic) if d["event"] == "published"
        }
        assert str(held) in published and not {str(cancelled), str(pulled)} & published
        await browser.close()
