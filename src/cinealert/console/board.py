"""The console's list of recent alerts, fed only by what the daemon already produces (``handlers.watch``).

One entry per alert key (a refused message without a key: per partition and offset), newest first, at most
``console.recent``. States, as the operator reads them: ``received`` (parsed), ``rendering`` (a channel's stage
started), ``pending`` (waiting for approval on a manual channel; ``held`` once an operator held it),
``published``, ``superseded``, ``withdrawn``, ``skipped`` and ``rejected`` (each with its reason). Per channel
the entry keeps that channel's state, output directory, the ``result.json`` facts the page shows (overlay pages,
rung, timings, the HLS master playlist) and the announcements seen on ``cap.media``.

Thread-safe: the parse and the stage run in worker threads. Each change is pushed to every subscriber (the
server-sent-event streams) on the event loop with ``call_soon_threadsafe``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from cinealert.cap.model import Alert, AlertKey

log = structlog.get_logger("cinealert.console")

#: States in which a later event may not move an alert back (a late "rendering" never hides "withdrawn").
FINAL = {"published", "superseded", "withdrawn", "skipped", "rejected", "applied"}


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _texts(alert: Alert) -> list[dict[str, str]]:
    return [
        {
            "language": info.language,
            "event": info.event,
            "headline": info.headline or "",
            "instruction": info.instruction or "",
            "area": "; ".join(a.area_desc for a in info.areas),
        }
        for info in alert.infos
    ]


def _expires(alert: Alert) -> str | None:
    expires = alert.expires
    return expires.isoformat() if expires is not None else None


class Board:
    """Recent alerts and their states; ``roots`` maps each channel to its output root (for file routes)."""

    def __init__(self, roots: Mapping[str, Path], recent: int = 200) -> None:
        self.roots = {name: Path(root) for name, root in roots.items()}
        self.recent = recent
        self._entries: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._lock = threading.Lock()
        self._subscribers: set[asyncio.Queue[str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._seq = 0

    # -- reading -------------------------------------------------------------------------------------------
    def snapshot(self) -> list[dict[str, Any]]:
        """Every entry, newest first (deep copies through JSON: safe to hand out)."""
        with self._lock:
            text = json.dumps(list(reversed(self._entries.values())))
        entries: list[dict[str, Any]] = json.loads(text)
        return entries

    def get(self, entry_id: str) -> dict[str, Any] | None:
        with self._lock:
            entry = self._entries.get(entry_id)
            found: dict[str, Any] | None = json.loads(json.dumps(entry)) if entry is not None else None
        return found

    # -- subscribers (SSE) ---------------------------------------------------------------------------------
    def subscribe(self) -> asyncio.Queue[str]:
        self._loop = asyncio.get_running_loop()
        queue: asyncio.Queue[str] = asyncio.Queue(maxsize=1000)
        self._subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[str]) -> None:
        self._subscribers.discard(queue)

    def close_streams(self) -> None:
        """End every event stream (an empty message is the handler's signal); on the event loop."""
        for queue in list(self._subscribers):
            with contextlib.suppress(asyncio.QueueFull):
                queue.put_nowait("")

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def _push(self, entry: dict[str, Any]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        text = json.dumps(entry, ensure_ascii=False)

        def deliver() -> None:
            for queue in list(self._subscribers):
                if queue.full():  # a stalled client: drop it rather than grow without bound
                    self._subscribers.discard(queue)
                    continue
                queue.put_nowait(text)

        loop.call_soon_threadsafe(deliver)

    # -- updating ------------------------------------------------------------------------------------------
    def _entry(self, entry_id: str, **fields: Any) -> dict[str, Any]:
        entry = self._entries.get(entry_id)
        if entry is None:
            self._seq += 1  # the list's order: newest first, whatever the clock's resolution
            entry = {"id": entry_id, "seq": self._seq, "state": "received", "reason": "", "channels": {},
                     "history": [], "received_at": _now(), "t0": time.monotonic()}  # fmt: skip
            self._entries[entry_id] = entry
            while len(self._entries) > self.recent:
                self._entries.popitem(last=False)
        entry.update(fields)
        return entry

    def _state(self, entry: dict[str, Any], state: str, reason: str = "", channel: str = "") -> None:
        entry["history"].append({"at": _now(), "after_s": round(time.monotonic() - entry["t0"], 3),
                                 "state": state, "channel": channel, "reason": reason})  # fmt: skip
        if channel:
            ch = entry["channels"].setdefault(channel, {"state": state, "reason": ""})
            if ch["state"] not in FINAL or state in ("superseded", "withdrawn"):
                ch.update(state=state, reason=reason)
        if entry["state"] not in FINAL or state in ("superseded", "withdrawn", "published"):
            entry["state"], entry["reason"] = state, reason
        entry["updated_at"] = _now()

    def _changed(self, entry: dict[str, Any]) -> None:
        self._push(json.loads(json.dumps(entry)))

    def received(self, alert: Alert) -> None:
        key = alert.key
        with self._lock:
            entry = self._entry(
                key.slug(), key=key.as_dict(), key_str=str(key), sender=alert.sender, sent=alert.sent_text,
                msg_type=alert.msg_type, status=alert.status, texts=_texts(alert), expires=_expires(alert),
                severity=next((i.severity for i in alert.infos), ""), disaster=None,
            )  # fmt: skip
            self._state(entry, "received")
            self._changed(entry)

    def rendering(self, alert: Alert, channel: str) -> None:
        with self._lock:
            entry = self._entry(alert.key.slug())
            self._state(entry, "rendering", channel=channel)
            self._changed(entry)

    def approval(self, what: str, doc: Mapping[str, Any]) -> None:
        """An ``Approvals`` listener: pending / held / approved / auto_approved / bypass / closed."""
        state = {"pending": "pending", "held": "held"}.get(what, "rendering")
        reason = "" if state != "rendering" else what
        with self._lock:
            entry = self._entry(str(doc["slug"]))
            self._state(entry, state, reason, channel=str(doc["channel"]))
            entry["channels"][doc["channel"]]["approval"] = dict(doc)
            self._changed(entry)

    def announced(self, event: Mapping[str, Any]) -> None:
        kind = str(event.get("event", ""))
        key = event.get("key") or {}
        slug = AlertKey(
            str(key.get("sender", "")), str(key.get("identifier", "")), str(key.get("sent", ""))
        ).slug()
        channel = str(event.get("channel", ""))
        with self._lock:
            entry = self._entry(slug)
            entry.setdefault("announcements", []).append(
                {
                    k: event.get(k)
                    for k in ("event", "action", "operator", "event_id", "channel", "announced_at")
                }
            )
            if kind == "published":
                entry["disaster"] = event.get("disaster")
                entry["channels"].setdefault(channel, {"state": "published", "reason": ""}).update(
                    self._published(event, channel)
                )
                self._state(entry, "published", str(event.get("rung", "")), channel)
            elif (
                kind == "operator"
            ):  # an operator's action: on the timeline, the state follows from its effect
                entry["history"].append({"at": _now(), "after_s": round(time.monotonic() - entry["t0"], 3),
                                         "state": f"operator {event.get('action')}", "channel": channel,
                                         "reason": f"by {event.get('operator')}"})  # fmt: skip
            elif kind in ("superseded", "withdrawn"):
                by = event.get("by") or {}
                self._state(entry, kind, f"by {by.get('sender', '')} {by.get('identifier', '')}", channel)
            self._changed(entry)

    def _published(self, event: Mapping[str, Any], channel: str) -> dict[str, Any]:
        """What the page shows of a published output: from the event and the output's ``result.json``."""
        directory = Path(str(event.get("directory", "")))
        out: dict[str, Any] = {
            "slug": directory.name,
            "rung": event.get("rung"),
            "degraded": event.get("degraded") or [],
            "timings_ms": event.get("timings_ms") or {},
            "duration_s": event.get("duration_s"),
        }
        try:
            result = json.loads((directory / "result.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return out
        files = [str(f) for f in result.get("files", [])]
        out["files"] = files
        out["profiles"] = result.get("profiles", [])
        out["overlay"] = (result.get("picture") or {}).get("pages", [])
        out["master"] = next((f for f in files if f.endswith("_master.m3u8")), None)
        out["first_segment"] = next((f for f in sorted(files) if f.endswith(".ts")), None)
        return out

    def restore(self) -> int:
        """Fill an empty list from each channel's ``index.json`` and the outputs' ``result.json`` (newest
        ``recent`` outputs): after a restart the operator still sees what aired and what was withdrawn. What never
        got an output (skipped, rejected, cancelled before it aired) is not in the index and stays unknown."""
        found: list[tuple[str, str, str, dict[str, Any]]] = []
        for channel, root in self.roots.items():
            try:
                index = json.loads((root / "index.json").read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if isinstance(index, dict):
                found += [(str(e.get("updated", "")), channel, slug, e) for slug, e in index.items()
                          if isinstance(e, dict)]  # fmt: skip
        found.sort(key=lambda item: item[0])
        for updated, channel, slug, doc in found[-self.recent :]:
            self._restored(updated, channel, slug, doc)
        if found:
            log.info("console_restored", outputs=min(len(found), self.recent))
        return min(len(found), self.recent)

    def _restored(self, updated: str, channel: str, slug: str, doc: Mapping[str, Any]) -> None:
        parts = str(doc.get("key", "")).split(
            ","
        )  # sender,identifier,sent: CAP allows no comma in any of them
        key = AlertKey(*parts) if len(parts) == 3 else None
        state = str(doc.get("status", "published"))
        view = self._published(
            {"directory": str(self.roots[channel] / slug), "rung": doc.get("rung")}, channel
        )
        view.update(state=state, reason=str(doc.get("rung", "")) if state == "published" else "")
        with self._lock:
            entry = self._entry(
                key.slug() if key is not None else slug, restored=True, disaster=doc.get("disaster")
            )
            entry["received_at"] = updated or entry["received_at"]
            if key is not None:
                entry.update(key=key.as_dict(), key_str=str(key), sender=key.sender, sent=key.sent)
            entry.setdefault(
                "texts",
                [
                    {
                        "language": p.get("language", ""),
                        "headline": " ".join(p.get("lines", [])[:1]),
                        "event": "",
                        "instruction": "",
                        "area": "",
                    }
                    for p in view.get("overlay", [])
                ],
            )
            entry["channels"][channel] = view
            entry["state"], entry["reason"] = state, view["reason"]
            entry["history"].append({"at": updated, "after_s": 0.0, "state": f"{state} (before the restart)",
                                     "channel": channel, "reason": "restored from index.json"})  # fmt: skip

    def finished(self, partition: int, offset: int, outcome: Any) -> None:
        """The outcome the offset is committed on; the only news for a skipped or refused message."""
        if outcome is None:
            status, reason, key = "rejected", "internal error (dead-lettered)", None
        else:
            status, reason, key = outcome.status, outcome.reason, outcome.key
        with self._lock:
            entry_id = key.slug() if key is not None else f"record-{partition}-{offset}"
            entry = self._entry(entry_id, partition=partition, offset=offset)
            if key is None:
                entry.setdefault("texts", [])
            if outcome is not None and outcome.disaster:
                entry["disaster"] = outcome.disaster
            entry["timings_s"] = {k: round(v, 3) for k, v in getattr(outcome, "timings_s", {}).items()}
            if status in ("skipped", "rejected"):
                self._state(entry, status, reason)
            elif status == "withdrawn":  # a Cancel message itself: it withdrew what it names
                self._state(entry, "applied", f"Cancel: {outcome.withdrawn} output(s) withdrawn")
            elif status == "duplicate" and entry["state"] not in FINAL:
                self._state(entry, "published", "duplicate (published before)")
            entry["committed"] = True
            self._changed(entry)
