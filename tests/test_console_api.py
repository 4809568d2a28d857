"""The console's HTTP rules without a browser (aiohttp's own test server, real files): sign-in required,
forged cross-site actions refused, file routes refuse traversal; and the parts under it (tokens, ``Approvals``,
the ``Board`` fed the daemon's events). The whole console in Chromium: ``test_console_browser.py``."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from yarl import URL

from cinealert.cap.model import Alert, AlertKey, Info
from cinealert.config import parse
from cinealert.config.sections import HandlerSettings
from cinealert.console.auth import COOKIE, Auth, ConsoleAuthError, load_tokens, parse_tokens
from cinealert.console.board import Board
from cinealert.console.media import FileRefusedError, output_file
from cinealert.console.web import make_app
from cinealert.handlers.approval import Approvals
from cinealert.handlers.operator import Operator
from cinealert.handlers.process import Processor
from cinealert.handlers.stage import StageCancelled
from cinealert.handlers.summary_stage import SummaryStage

TOKEN = "a-long-enough-operator-token"
SECRET = "SECRET-OUTSIDE-THE-OUTPUTS"
KEY = AlertKey("kma@example.kr", "KMA-API-1", "2026-11-26T09:00:00+09:00")


def make_alert(key: AlertKey = KEY, severity: str = "Severe", headline: str = "Heavy rain") -> Alert:
    info = Info("en-US", ("Met",), "Flood Warning", "Immediate", severity, "Observed", headline=headline)
    return Alert(key.identifier, key.sender, __import__("datetime").datetime(2026, 11, 26), key.sent, "Actual",
                 "Alert", "Public", infos=(info,))  # fmt: skip


class _Nowhere:
    """An announcer for tests whose actions are refused before anything is announced."""

    async def fence(self, event: Any) -> dict[str, Any]:
        raise AssertionError("nothing may be announced")

    async def send(self, event: Any, fence: Any) -> None:
        raise AssertionError("nothing may be announced")

    async def delivered(self, event: Any, fence: Any) -> bool:
        raise AssertionError("nothing may be announced")


async def _no_dead_letters(*_args: Any) -> None:
    raise AssertionError("no dead letters here")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[tuple[TestClient[Any, Any], Board]]:
    root = tmp_path / "out"
    (root / "slug-1").mkdir(parents=True)
    (root / "slug-1" / "hls_master.m3u8").write_text("#EXTM3U\n")
    (tmp_path / "secret.txt").write_text(SECRET)
    (root / "slug-1" / "link.m3u8").symlink_to(tmp_path / "secret.txt")
    board = Board({"default": root})
    board.received(make_alert())
    processor = Processor(SummaryStage(root), HandlerSettings(dedup_state_dir=tmp_path / "state"), _Nowhere(),
                          _no_dead_letters)  # fmt: skip
    approvals = Approvals(["default"], 60)
    app = make_app(board, Auth(parse_tokens(f"duty:{TOKEN}")), Operator(processor, approvals), approvals)
    async with TestClient(TestServer(app)) as c:
        board.bind(__import__("asyncio").get_running_loop())
        yield c, board


async def _sign_in(c: TestClient[Any, Any]) -> None:
    origin = str(c.make_url("/")).rstrip("/")
    r = await c.post("/login", data={"token": TOKEN}, headers={"Origin": origin}, allow_redirects=False)
    assert r.status == 303 and COOKIE in r.cookies
    assert (
        "samesite=strict" in r.headers["Set-Cookie"].lower() and "httponly" in r.headers["Set-Cookie"].lower()
    )


async def test_unauthenticated_requests_are_refused(client: tuple[TestClient[Any, Any], Board]) -> None:
    c, _ = client
    for path in (
        "/api/alerts",
        "/api/events",
        f"/api/alerts/{KEY.slug()}",
        "/media/default/slug-1/hls_master.m3u8",
    ):
        r = await c.get(path)
        assert r.status == 401, path
    r = await c.post(f"/api/alerts/{KEY.slug()}/withdraw", json={"channel": "default"})
    assert r.status == 401
    r = await c.get("/", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/login"
    r = await c.get("/api/alerts", headers={"Authorization": "Bearer not-the-token-at-all"})
    assert r.status == 401
    r = await c.post("/login", data={"token": "wrong-token-of-some-length"}, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"].startswith("/login?failed") and COOKIE not in r.cookies
    assert "not accepted" in await (await c.get("/login?failed=<script>")).text()
    assert "<script>" not in await (await c.get("/login?failed=<script>")).text()


async def test_the_api_answers_a_signed_in_operator(client: tuple[TestClient[Any, Any], Board]) -> None:
    c, _ = client
    await _sign_in(c)
    r = await c.get("/api/alerts")
    assert r.status == 200 and "script-src 'self'" in r.headers["Content-Security-Policy"]
    doc = await r.json()
    assert [a["id"] for a in doc["alerts"]] == [KEY.slug()] and doc["alerts"][0]["state"] == "received"
    session = await (await c.get("/api/session")).json()
    assert session["operator"] == "duty" and len(session["csrf"]) > 20
    r = await c.get("/api/alerts", headers={"Authorization": f"Bearer {TOKEN}"})
    assert r.status == 200


async def test_forged_cross_site_actions_are_refused(client: tuple[TestClient[Any, Any], Board]) -> None:
    c, board = client
    await _sign_in(c)
    csrf = (await (await c.get("/api/session")).json())["csrf"]
    own = str(c.make_url("/")).rstrip("/")
    url = f"/api/alerts/{KEY.slug()}/withdraw"
    attempts = [
        {"Origin": "http://evil.example"},  # another site, cookie attached by the browser
        {"Origin": "http://evil.example", "X-CSRF-Token": csrf},  # even knowing the token
        {"Origin": own},  # same origin but no token (a form cannot set headers)
        {"Origin": own, "X-CSRF-Token": "guessed"},
        {"X-CSRF-Token": csrf},  # no Origin at all
    ]
    for headers in attempts:
        r = await c.post(url, json={"channel": "default"}, headers=headers)
        assert r.status == 403, headers
    r = await c.post("/login", data={"token": TOKEN}, headers={"Origin": "http://evil.example"},
                     allow_redirects=False)  # fmt: skip
    assert r.status == 403  # no login CSRF either
    assert board.get(KEY.slug())["state"] == "received"  # type: ignore[index]
    # The real page's request passes the checks (and is refused on its merits: nothing waits to approve).
    r = await c.post(f"/api/alerts/{KEY.slug()}/approve", json={"channel": "default"},
                     headers={"Origin": own, "X-CSRF-Token": csrf})  # fmt: skip
    assert r.status == 409 and "not waiting" in (await r.json())["error"]


async def test_file_routes_refuse_path_traversal(client: tuple[TestClient[Any, Any], Board]) -> None:
    c, _ = client
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = await c.get("/media/default/slug-1/hls_master.m3u8", headers=auth)
    assert r.status == 200 and (await r.text()).startswith("#EXTM3U")
    base = str(c.make_url("/")).rstrip("/")
    for raw in (
        "/media/default/slug-1/link.m3u8",  # a symlink out of the outputs
        "/media/default/slug-1/..%2F..%2Fsecret.txt",
        "/media/default/..%2F..%2Fsecret.txt/x",
        "/media/default/%2e%2e/secret.txt",
        "/media/default/slug-1/%2e%2e%2f%2e%2e%2fsecret.txt",
        "/media/default/slug-1/..%5c..%5csecret.txt",
        "/media/..%2F..%2F/slug-1/secret.txt",
        "/media/default/slug-1/../../secret.txt",
        "/media/default/.hidden/x",
        "/api/alerts/..%2F..%2Fsecret.txt/thumbnail.jpg",
        "/static/..%2Fweb.py",
    ):
        r = await c.session.get(URL(base + raw, encoded=True), headers=auth)
        body = await r.read()
        assert r.status in (400, 403, 404), (raw, r.status)
        assert SECRET.encode() not in body, raw


def test_output_file_checks_each_segment(tmp_path: Path) -> None:
    (tmp_path / "out" / "a").mkdir(parents=True)
    (tmp_path / "out" / "a" / "f.ts").write_bytes(b"x")
    assert output_file(tmp_path / "out", "a", "f.ts") == (tmp_path / "out" / "a" / "f.ts").resolve()
    for slug, name in (("..", "x"), ("a", ".."), ("a", "../a/f.ts"), ("a", "/etc/passwd"), (".a", "f.ts"),
                       ("a", "f.ts\x00"), ("a", "missing.ts")):  # fmt: skip
        with pytest.raises(FileRefusedError):
            output_file(tmp_path / "out", slug, name)


def test_tokens_from_credentials_and_files(tmp_path: Path) -> None:
    assert parse_tokens("# operators\nalice:" + "a" * 20 + "\n" + "b" * 20 + "\n") == {
        "a" * 20: "alice", "b" * 20: "operator",
    }  # fmt: skip
    with pytest.raises(ConsoleAuthError):
        parse_tokens("bob:short")
    with pytest.raises(ConsoleAuthError):
        load_tokens(parse({"console": {"enabled": True}}).console)  # never an open console
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "console.token").write_text(f"carol:{TOKEN}\n")
    from cinealert.config.settings import load

    settings = load(None, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert load_tokens(settings.console) == {TOKEN: "carol"}
    assert settings.console.enabled is False and settings.console.host == "127.0.0.1"


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _wait_in_thread(approvals: Approvals, alert: Alert, **kw: Any) -> tuple[threading.Thread, list[Any]]:
    result: list[Any] = []
    cancel = kw.pop("cancel", threading.Event())
    closed = kw.pop("closed", lambda: False)

    def run() -> None:
        try:
            result.append(approvals.wait(alert, "default", cancel, closed))
        except StageCancelled as exc:
            result.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, result


def _until_pending(approvals: Approvals) -> None:
    while not approvals.pending():
        threading.Event().wait(0.01)


def test_approvals_decide_as_documented() -> None:
    clock = _Clock()
    seen: list[str] = []
    approvals = Approvals(["default"], 30, ["Extreme"], clock=clock)
    approvals.listeners.append(lambda what, doc: seen.append(what))
    never = threading.Event()
    assert approvals.wait(make_alert(severity="Extreme"), "default", never, lambda: False) == "bypass"
    assert approvals.wait(make_alert(), "other", never, lambda: False) == "auto"  # not a manual channel

    thread, result = _wait_in_thread(approvals, make_alert())
    _until_pending(approvals)
    assert approvals.approve(KEY.slug(), "default", "alice")
    thread.join(10)
    assert result == ["approved"]

    # a retried attempt of the same alert (the stage failed after the gate) does not ask again
    assert approvals.wait(make_alert(), "default", never, lambda: False) == "approved"
    approvals._decided.clear()

    thread, result = _wait_in_thread(approvals, make_alert())
    _until_pending(approvals)
    assert approvals.hold(KEY.slug(), "default", "alice")
    clock.now += 3600  # held: the auto-approve clock does not run
    assert approvals.pending()[0]["held_by"] == "alice"
    assert approvals.approve(KEY.slug(), "default", "bob")
    thread.join(10)
    assert result == ["approved"]
    approvals._decided.clear()

    thread, result = _wait_in_thread(approvals, make_alert())
    _until_pending(approvals)
    clock.now += 31  # nobody acted: it airs by itself
    thread.join(10)
    assert result == ["auto_approved"]
    approvals._decided.clear()

    closed = threading.Event()
    thread, result = _wait_in_thread(approvals, make_alert(), closed=closed.is_set)
    _until_pending(approvals)
    closed.set()  # a tombstone appeared (a Cancel, or the console's Withdraw)
    approvals.poke(KEY.slug())
    thread.join(10)
    assert result == ["closed"]

    cancel = threading.Event()
    thread, result = _wait_in_thread(approvals, make_alert(), cancel=cancel)
    _until_pending(approvals)
    cancel.set()  # shutdown: nothing published, the message is replayed
    thread.join(10)
    assert isinstance(result[0], StageCancelled) and not approvals.pending()
    assert seen.count("pending") == 5 and "held" in seen and "auto_approved" in seen


def test_board_follows_the_daemons_events() -> None:
    board = Board({"default": Path("/nonexistent")}, recent=10)
    alert = make_alert(headline="<b>bold</b>")
    board.received(alert)
    board.rendering(alert, "default")
    board.approval("pending", {"slug": KEY.slug(), "channel": "default"})
    assert board.get(KEY.slug())["state"] == "pending"  # type: ignore[index]
    board.announced({"event": "published", "key": KEY.as_dict(), "channel": "default", "rung": "full",
                     "directory": "/nonexistent/x", "disaster": "flood"})  # fmt: skip
    board.announced({"event": "withdrawn", "key": KEY.as_dict(), "channel": "default",
                     "by": {"sender": "console:alice", "identifier": "withdraw-1"}})  # fmt: skip
    entry = board.get(KEY.slug())
    assert entry is not None and entry["state"] == "withdrawn" and entry["disaster"] == "flood"
    assert [h["state"] for h in entry["history"]] == [
        "received",
        "rendering",
        "pending",
        "published",
        "withdrawn",
    ]
    assert entry["texts"][0]["headline"] == "<b>bold</b>"  # kept as text; the page escapes it
    board.finished(3, 17, None)
    assert board.get("record-3-17")["state"] == "rejected"  # type: ignore[index]
    for i in range(20):
        board.received(make_alert(AlertKey("s", f"id-{i}", "t")))
    assert len(board.snapshot()) == 10  # bounded


def test_board_restores_what_aired_after_a_restart(tmp_path: Path) -> None:
    """Real outputs of the media stage (320x180 HLS): one published, one published then withdrawn; a new Board
    over the same output root lists both from index.json and result.json."""
    from test_pipeline import FLOOD
    from test_pipeline import make_alert as pipeline_alert
    from test_pipeline import stage as media_stage

    st = media_stage(tmp_path, profiles=["hls"], languages=["ko", "en"])
    aired, pulled = pipeline_alert("KMA-RESTORE-1"), pipeline_alert("KMA-RESTORE-2")
    for alert in (aired, pulled):
        st.publish(alert, FLOOD, threading.Event())
    assert st.withdraw(pulled.key, AlertKey("console:alice", "withdraw-1", "2026-11-26T12:00:00+00:00"))
    board = Board({"default": tmp_path / "out"})
    assert board.restore() == 2
    entries = {e["id"]: e for e in board.snapshot()}
    assert (
        entries[aired.key.slug()]["state"] == "published"
        and entries[pulled.key.slug()]["state"] == "withdrawn"
    )
    channel = entries[aired.key.slug()]["channels"]["default"]
    assert channel["master"] == "hls_master.m3u8" and channel["first_segment"].endswith(".ts")
    assert [p["language"] for p in channel["overlay"]] == ["ko-KR", "en-US"]
    assert entries[aired.key.slug()]["texts"][0]["headline"] == "서울 호우경보"
    assert entries[aired.key.slug()]["key_str"] == str(aired.key) and entries[aired.key.slug()]["restored"]


def test_thumbnail_of_an_atsc1_output(tmp_path: Path) -> None:
    """The default profile (atsc1: MPEG-2 video in TS) has no clip a browser plays, but its first picture is the
    console's thumbnail: decoded from the real segment, 320 px wide, not blank."""
    import io

    from PIL import Image, ImageStat

    from cinealert.console.media import Thumbnails
    from test_pipeline import FLOOD
    from test_pipeline import make_alert as pipeline_alert
    from test_pipeline import stage as media_stage

    st = media_stage(tmp_path)  # profiles: ("atsc1",)
    alert = pipeline_alert("KMA-THUMB-1")
    st.publish(alert, FLOOD, threading.Event())
    board = Board({"default": tmp_path / "out"})
    board.restore()
    channel = board.get(alert.key.slug())["channels"]["default"]  # type: ignore[index]
    assert channel["master"] is None and channel["first_segment"].endswith(".ts")
    path = output_file(tmp_path / "out", channel["slug"], channel["first_segment"])
    image = Image.open(io.BytesIO(Thumbnails().get(path)))
    assert image.format == "JPEG" and image.size == (320, 180)
    assert max(ImageStat.Stat(image.convert("L")).stddev) > 10  # a picture, not a flat frame
