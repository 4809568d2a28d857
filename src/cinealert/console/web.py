"""The console's HTTP side (aiohttp): the page, the JSON API, server-sent events, the output files, actions.

Routes (all but ``/login`` and ``/static/*`` need a session cookie or ``Authorization: Bearer``; see
``console.auth``)::

    GET  /                                  the console page (to /login without a session)
    GET  /login, POST /login, POST /logout  sign in with a token (form field ``token``), sign out
    GET  /static/{console.js,console.css,hls.min.js}
    GET  /api/session                       {"operator", "csrf", "channels", "manual_channels"}
    GET  /api/alerts                        {"alerts": [entry, ...] newest first, "pending": [...]}
    GET  /api/alerts/{id}                   one entry
    GET  /api/alerts/{id}/thumbnail.jpg     the first picture of the output's first segment
    GET  /api/events                        text/event-stream: ``snapshot`` (every entry), then ``alert``
    GET  /media/{channel}/{slug}/{name}     a file of a published output (the HLS clip and its segments)
    POST /api/alerts/{id}/{action}          approve | hold | withdraw | reair, JSON body {"channel": name};
                                            Origin + X-CSRF-Token checked (or a Bearer token)

Every response carries a strict Content-Security-Policy (scripts and media from this origin only, no inline
script) and ``X-Frame-Options: DENY``; the page writes alert text with ``textContent`` only.
"""

from __future__ import annotations

import asyncio
import hmac
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import structlog
from aiohttp import web

from cinealert.cap.model import AlertKey
from cinealert.console.auth import COOKIE, SESSION_S, Auth, Session
from cinealert.console.board import Board
from cinealert.console.media import FileRefusedError, Thumbnails, content_type, output_file
from cinealert.handlers.approval import Approvals
from cinealert.handlers.operator import ACTIONS, ActionRefusedError, Operator

log = structlog.get_logger("cinealert.console")

STATIC = Path(__file__).resolve().parent / "static"
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; media-src 'self' blob:; "
    "connect-src 'self'; worker-src 'self' blob:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
PUBLIC = ("/login", "/static/")
KEEPALIVE_S = 15.0
REFUSED_DELAY_S = 1.0

BOARD = web.AppKey("board", Board)
AUTH = web.AppKey("auth", Auth)
OPERATOR = web.AppKey("operator", Operator)
APPROVALS = web.AppKey("approvals", object)
THUMBS = web.AppKey("thumbs", Thumbnails)
HLS_JS = web.AppKey("hls_js", object)
STOPPING = web.AppKey("stopping", asyncio.Event)
MANUAL = web.AppKey("manual", list)
WHO = web.RequestKey("operator", str)
SESSION = web.RequestKey("session", Session)  # absent for a Bearer token


def default_hls_js() -> Path | None:
    """hls.js where ``make setup`` puts it (``tests/player/node_modules``), or Debian's, if either exists."""
    root = Path(__file__).resolve().parents[3]
    for candidate in (
        root / "tests" / "player" / "node_modules" / "hls.js" / "dist" / "hls.min.js",
        Path("/usr/share/javascript/hls.js/hls.min.js"),
    ):
        if candidate.is_file():
            return candidate
    return None


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def _guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Headers on every answer; sign-in required off the public paths."""
    if not request.path.startswith(PUBLIC) and request.path != "/":
        who = _who(request)
        if who is None:
            if request.headers.get("Authorization"):
                await asyncio.sleep(REFUSED_DELAY_S)  # a wrong token costs a guesser time
            return _headers(web.json_response({"error": "sign in first"}, status=401))
        request[WHO] = who[0]
        if who[1] is not None:
            request[SESSION] = who[1]
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        _headers(exc)
        raise
    return _headers(response)


def _headers(response: web.StreamResponse | web.HTTPException) -> web.StreamResponse:
    if isinstance(response, web.HTTPException) or not response.prepared:
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Frame-Options"] = "DENY"
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def _see_other(location: str) -> web.Response:
    """A 303 as a plain response (cookies can be set on it)."""
    return web.Response(status=303, headers={"Location": location})


def _who(request: web.Request) -> tuple[str, Session | None] | None:
    """(operator, session or None) from the cookie or a Bearer token."""
    auth = request.app[AUTH]
    bearer = request.headers.get("Authorization", "")
    if bearer.startswith("Bearer "):
        operator = auth.operator_for(bearer[7:].strip())
        return (operator, None) if operator is not None else None
    session = auth.session(request.cookies.get(COOKIE))
    return (session.operator, session) if session is not None else None


def _origin_ok(request: web.Request) -> bool:
    return request.app[AUTH].same_origin(request.headers.get("Origin"), request.host, request.scheme)


# -- pages ---------------------------------------------------------------------------------------------------
async def index(request: web.Request) -> web.StreamResponse:
    if _who(request) is None:
        raise web.HTTPSeeOther("/login")
    return web.FileResponse(STATIC / "index.html", headers={"Content-Type": "text/html; charset=utf-8"})


async def login_page(request: web.Request) -> web.StreamResponse:
    page = (STATIC / "login.html").read_text(encoding="utf-8")
    if "failed" in request.query:  # a fixed sentence, nothing from the request
        page = page.replace("<!--failed-->", '<p class="failed">That token was not accepted.</p>')
    return web.Response(text=page, content_type="text/html", charset="utf-8")


async def login(request: web.Request) -> web.StreamResponse:
    if request.headers.get("Origin") and not _origin_ok(request):
        return web.json_response({"error": "cross-site sign-in refused"}, status=403)
    form = await request.post()
    sid = request.app[AUTH].sign_in(str(form.get("token", "")))
    if sid is None:
        log.warning("console_sign_in_refused", remote=request.remote)
        await asyncio.sleep(REFUSED_DELAY_S)
        raise web.HTTPSeeOther("/login?failed=1")
    operator = request.app[AUTH].sessions[sid].operator
    log.info("console_signed_in", operator=operator, remote=request.remote)
    response = _see_other("/")
    response.set_cookie(COOKIE, sid, httponly=True, samesite="Strict", max_age=SESSION_S, path="/",
                        secure=request.secure)  # fmt: skip
    return response


async def logout(request: web.Request) -> web.StreamResponse:
    if not _origin_ok(request):
        return web.json_response({"error": "cross-site request refused"}, status=403)
    request.app[AUTH].sessions.pop(request.cookies.get(COOKIE, ""), None)
    response = _see_other("/login")
    response.del_cookie(COOKIE, path="/")
    return response


async def static(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    if name == "hls.min.js":
        path = request.app[HLS_JS]
        if not isinstance(path, Path):
            raise web.HTTPNotFound(text="hls.js not installed (console.hls_js)")
    elif name in ("console.js", "console.css"):
        path = STATIC / name
    else:
        raise web.HTTPNotFound()
    kind = "text/javascript" if name.endswith(".js") else "text/css"
    return web.FileResponse(path, headers={"Content-Type": f"{kind}; charset=utf-8"})


# -- API -----------------------------------------------------------------------------------------------------
async def session(request: web.Request) -> web.StreamResponse:
    s = request.get(SESSION)
    board = request.app[BOARD]
    return web.json_response({
        "operator": request[WHO], "csrf": s.csrf if s is not None else None,
        "channels": sorted(board.roots), "manual_channels": request.app[MANUAL],
    })  # fmt: skip


def _pending(request: web.Request) -> list[dict[str, Any]]:
    approvals = request.app[APPROVALS]
    return approvals.pending() if isinstance(approvals, Approvals) else []


async def alerts(request: web.Request) -> web.StreamResponse:
    return web.json_response({"alerts": request.app[BOARD].snapshot(), "pending": _pending(request)})


def _entry(request: web.Request) -> dict[str, Any]:
    entry = request.app[BOARD].get(request.match_info["id"])
    if entry is None:
        raise web.HTTPNotFound(text="no such alert")
    return entry


async def alert(request: web.Request) -> web.StreamResponse:
    return web.json_response(_entry(request))


async def thumbnail(request: web.Request) -> web.StreamResponse:
    entry = _entry(request)
    board = request.app[BOARD]
    for name, channel in entry.get("channels", {}).items():
        segment = channel.get("first_segment")
        if segment and name in board.roots:
            try:
                path = output_file(board.roots[name], channel["slug"], segment)
            except FileRefusedError:
                continue
            data = await asyncio.to_thread(request.app[THUMBS].get, path)
            return web.Response(body=data, content_type="image/jpeg")
    raise web.HTTPNotFound(text="no picture yet")


async def events(request: web.Request) -> web.StreamResponse:
    board, stopping = request.app[BOARD], request.app[STOPPING]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store",
                                           "X-Accel-Buffering": "no"})  # fmt: skip
    _headers(response)
    await response.prepare(request)
    queue = board.subscribe()
    try:
        snapshot = json.dumps({"alerts": board.snapshot(), "pending": _pending(request)}, ensure_ascii=False)
        await response.write(f"event: snapshot\ndata: {snapshot}\n\n".encode())
        while not stopping.is_set():
            try:
                text = await asyncio.wait_for(queue.get(), KEEPALIVE_S)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if not text:
                break
            await response.write(f"event: alert\ndata: {text}\n\n".encode())
    except ConnectionResetError:  # the page went away; a cancelled handler (shutdown, disconnect) propagates
        pass
    finally:
        board.unsubscribe(queue)
    return response


async def media(request: web.Request) -> web.StreamResponse:
    board = request.app[BOARD]
    channel = request.match_info["channel"]
    if channel not in board.roots:
        raise web.HTTPNotFound(text="no such channel")
    try:
        path = output_file(board.roots[channel], request.match_info["slug"], request.match_info["name"])
    except FileRefusedError as exc:
        log.warning("console_file_refused", path=request.path, error=str(exc))
        raise web.HTTPNotFound(text="no such file") from None
    return web.FileResponse(path, headers={"Content-Type": content_type(path), "Cache-Control": "no-store"})


async def act(request: web.Request) -> web.StreamResponse:
    action, s = request.match_info["action"], request.get(SESSION)
    # a browser session: same origin and the CSRF token, or nothing (a Bearer token is never sent by a browser
    # on its own, so it needs neither)
    sent = request.headers.get("X-CSRF-Token", "")
    if s is not None and (not _origin_ok(request) or not hmac.compare_digest(sent.encode(), s.csrf.encode())):
        log.warning("console_action_refused", why="csrf", action=action, remote=request.remote)
        return web.json_response({"error": "cross-site request refused"}, status=403)
    if action not in ACTIONS:
        raise web.HTTPNotFound(text="no such action")
    entry = _entry(request)
    try:
        body = await request.json()
    except ValueError:
        body = {}
    channel = str(body.get("channel") or next(iter(entry.get("channels") or {"default": 0})))
    key = entry.get("key")
    if not isinstance(key, dict):
        return web.json_response({"error": "this message has no alert key"}, status=409)
    try:
        event = await request.app[OPERATOR].act(action, AlertKey(**key), channel, request[WHO])
    except ActionRefusedError as exc:
        return web.json_response({"error": str(exc)}, status=409)
    return web.json_response({"ok": True, "event": event})


# -- application ---------------------------------------------------------------------------------------------
def make_app(
    board: Board,
    auth: Auth,
    operator: Operator,
    approvals: Approvals | None,
    *,
    hls_js: Path | None = None,
    manual: tuple[str, ...] = (),
) -> web.Application:
    app = web.Application(middlewares=[_guard], client_max_size=64 * 1024)
    app[BOARD], app[AUTH], app[OPERATOR], app[APPROVALS] = board, auth, operator, approvals
    app[THUMBS], app[HLS_JS], app[STOPPING], app[MANUAL] = Thumbnails(), hls_js, asyncio.Event(), list(manual)

    async def on_shutdown(app: web.Application) -> None:
        app[STOPPING].set()
        board.close_streams()

    app.on_shutdown.append(on_shutdown)
    app.router.add_get("/", index)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
    app.router.add_get("/static/{name}", static)
    app.router.add_get("/api/session", session)
    app.router.add_get("/api/alerts", alerts)
    app.router.add_get("/api/events", events)
    app.router.add_get("/api/alerts/{id}", alert)
    app.router.add_get("/api/alerts/{id}/thumbnail.jpg", thumbnail)
    app.router.add_post("/api/alerts/{id}/{action}", act)
    app.router.add_get("/media/{channel}/{slug}/{name}", media)
    return app
