"""From raw Kafka bytes to a durable output and its announcement, effectively once per alert key.

Per message: parse (refusals go to the dead-letter topic with the reason), apply policy (``handlers.policy``),
then per msgType:

* Alert  -> ``stage.existing(key)`` or ``stage.publish``; announce ``published`` unless already announced.
* Update -> the same for the new alert, then ``stage.supersede`` each referenced output; announce ``superseded``.
* Cancel -> ``stage.withdraw`` each referenced output; announce ``withdrawn`` (no new clip). A Cancel whose target
  is not published (yet) leaves a tombstone so that the target, if it arrives later, is not published.

Idempotence: the daemon commits an offset only after ``handle`` returns, so a crash replays messages. A replay
finds the output through ``stage.existing`` (no second render) and its announcement state in two durable markers
next to the output:

1. ``ANNOUNCING.<event>.<digest>.json`` is written *before* sending, with a fence from the ``Announcer`` (the
   partition the event goes to and an offset no later than where it can land);
2. ``ANNOUNCED.<event>.<digest>.json`` after the broker acknowledged it (acks=all).

A replay that finds ``ANNOUNCED`` sends nothing. One that finds only ``ANNOUNCING`` (the process died between
the two) asks the announcer to read the media topic from the fence for the event's deterministic ``event_id``,
and sends only if it is not there. So a crash at any instant gives neither a lost nor a duplicate announcement
(if the broker itself loses the topic, the event is sent again, which is what a consumer needs then).

Errors::

    StageCancelled   shutdown mid-render: nothing published, the offset is not committed (replayed later)
    StageFailedError      the stage kept failing after ``handlers.max_attempts``: dead-lettered, offset committed
    disk full        (ENOSPC/EDQUOT anywhere in the cause chain) not the alert's fault and not a reason to drop
                     it: retried with backoff, without spending attempts, until space returns or shutdown
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import json
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, TypeVar

import structlog

from cinealert.broadcast.publish import atomic_write
from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.config.sections import BroadcastSettings, CapSettings, HandlerSettings
from cinealert.handlers.policy import decide, render_decision
from cinealert.handlers.stage import Published, Stage, StageCancelled

log = structlog.get_logger("cinealert.handlers")

T = TypeVar("T")
#: "No space left" and "quota exceeded": an operator problem that goes away; the alert must wait, not be dropped.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})
DISK_FULL_RETRY_MAX_S = 10.0


class Announcer(Protocol):
    """Where announcements go (the daemon: the media topic). ``fence`` and ``delivered`` make resends exact."""

    async def fence(self, event: Mapping[str, Any]) -> dict[str, Any]:
        """JSON-able facts recorded before sending, enough for ``delivered`` to find the event later."""
        ...

    async def send(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> None:
        """Deliver ``event``; return only once it is durably accepted."""
        ...

    async def delivered(self, event: Mapping[str, Any], fence: Mapping[str, Any]) -> bool:
        """Whether an event with ``event["event_id"]`` was delivered at or after ``fence``."""
        ...


DeadLetter = Callable[[bytes, str, str, str], Awaitable[None]]  # (data, reason label, reason text, stage)
ParseFn = Callable[[bytes], Alert]
ClassifyFn = Callable[[Alert], Classification]
EventType = Literal["published", "superseded", "withdrawn"]
Status = Literal["published", "duplicate", "withdrawn", "skipped", "rejected"]


class StageFailedError(RuntimeError):
    """The stage raised on every attempt; the alert is dead-lettered with this message."""


@dataclass(slots=True)
class Outcome:
    status: Status
    reason: str = ""
    key: AlertKey | None = None
    disaster: str | None = None
    sent: datetime | None = None
    announced: list[str] = field(default_factory=list)
    superseded: int = 0
    withdrawn: int = 0
    timings_s: dict[str, float] = field(default_factory=dict)
    extra: Mapping[str, Any] = field(default_factory=dict)


def reject_label(exc: Exception) -> str:
    """A bounded label from the CapError subclass: ``CapSecurityError`` -> ``security``."""
    name = type(exc).__name__
    if name.startswith("Cap") and name.endswith("Error") and len(name) > len("CapError"):
        return name[3:-5].lower()
    return "invalid"


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` or anything it was raised from is an ENOSPC/EDQUOT ``OSError`` (e.g. a ``PublishError``)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def event_id(event: str, key: AlertKey, by: AlertKey) -> str:
    return hashlib.sha256(f"{event}|{key}|{by}".encode()).hexdigest()[:32]


def announced_marker(directory: Path, event: str, by: AlertKey, phase: str = "ANNOUNCED") -> Path:
    digest = hashlib.sha256(str(by).encode("utf-8")).hexdigest()[:16]
    return directory / f"{phase}.{event}.{digest}.json"


def _key_doc(key: AlertKey) -> dict[str, str]:
    return {"sender": key.sender, "identifier": key.identifier, "sent": key.sent}


def _default_parse(cap: CapSettings) -> ParseFn:
    from cinealert.cap import parse_alert

    def parse(data: bytes) -> Alert:
        return parse_alert(data, settings=cap)

    return parse


def _default_classify() -> ClassifyFn:
    from cinealert.cap import classify

    return classify


class Processor:
    def __init__(
        self,
        stage: Stage,
        handlers: HandlerSettings,
        announcer: Announcer,
        dead_letter: DeadLetter,
        *,
        cap: CapSettings | None = None,
        broadcast: BroadcastSettings | None = None,
        parse: ParseFn | None = None,
        classify: ClassifyFn | None = None,
    ) -> None:
        self.stage = stage
        self.settings = handlers
        self.broadcast = broadcast or BroadcastSettings()
        self.announcer = announcer
        self.dead_letter = dead_letter
        self.parse = parse or _default_parse(cap or CapSettings())
        self.classify = classify or _default_classify()
        self.tombstones = handlers.dedup_state_dir / "cancelled"
        self._locks: dict[AlertKey, asyncio.Lock] = {}

    # -- entry point ---------------------------------------------------------------------------------------
    async def handle(
        self,
        data: bytes,
        *,
        received_at: float,
        cancel: threading.Event,
        before_references: Callable[[], Awaitable[None]] | None = None,
    ) -> Outcome:
        """Process one message; returns once every effect is durable. Raises ``StageCancelled`` only."""
        t0 = time.perf_counter()
        try:
            alert = await asyncio.to_thread(self.parse, data)
        except Exception as exc:
            label, reason = reject_label(exc), str(getattr(exc, "reason", "") or exc) or type(exc).__name__
            if not hasattr(exc, "reason"):
                label = "parser_crash"  # not a CapError: a parser bug, still never fatal
                log.error("parse_crashed", error=repr(exc))
            log.warning("alert_rejected", reason=reason, label=label)
            await self.dead_letter(data, label, reason, "parse")
            return Outcome("rejected", label)
        parse_s = time.perf_counter() - t0
        structlog.contextvars.bind_contextvars(alert=str(alert.key), msg_type=alert.msg_type)
        log.info("alert_received", status=alert.status)
        decision = decide(alert, self.settings, datetime.now(UTC))
        if decision.action == "skip":
            log.info("alert_skipped", reason=decision.reason, status=alert.status)
            return Outcome("skipped", decision.reason, key=alert.key, sent=alert.sent)
        if decision.action in ("update", "cancel") and before_references is not None:
            await before_references()  # earlier messages of the partition first: an Update follows its Alert
        delay = max(self.settings.retry_backoff_s, 0.1)
        while True:
            try:
                async with self._lock(alert.key):
                    if decision.action == "cancel":
                        outcome = await self._cancel(alert, received_at)
                    else:
                        outcome = await self._publish(alert, received_at, cancel)
                break
            except StageFailedError as exc:
                log.error("alert_failed", error=str(exc))
                await self.dead_letter(data, "stage_error", str(exc), "render")
                return Outcome("rejected", "stage_error", key=alert.key, sent=alert.sent)
            except StageCancelled:
                raise
            except Exception as exc:
                if not disk_full(exc):
                    raise
                # Every step is idempotent (``existing``, announcement markers): start over once there is room.
                log.error("output_disk_full", error=str(exc), retry_in_s=round(delay, 3))
                await _pause(delay, cancel, "waiting for disk space", exc)
                delay = min(delay * 2, DISK_FULL_RETRY_MAX_S)
        outcome.timings_s["parse"] = parse_s
        return outcome

    # -- msgType handlers ----------------------------------------------------------------------------------
    async def _publish(self, alert: Alert, received_at: float, cancel: threading.Event) -> Outcome:
        key = alert.key
        if await asyncio.to_thread(self._tombstone(key).is_file):
            log.info("alert_skipped", reason="cancelled_before_publish")
            return Outcome("skipped", "cancelled_before_publish", key=key, sent=alert.sent)
        classification = await asyncio.to_thread(self.classify, alert)
        skip = render_decision(classification, self.settings)
        if skip is not None:
            log.info("alert_skipped", reason=skip.reason)
            return Outcome("skipped", skip.reason, key=key, sent=alert.sent)
        outcome = Outcome("published", key=key, disaster=classification.disaster.value, sent=alert.sent)
        published = await asyncio.to_thread(self.stage.existing, key)
        if published is not None:
            outcome.status = "duplicate"
            log.info("alert_already_published", directory=str(published.directory))
        else:
            t0 = time.perf_counter()
            published = await self._attempts(
                "publish", cancel, self.stage.publish, alert, classification, cancel
            )
            outcome.timings_s["render"] = time.perf_counter() - t0
            outcome.extra = published.extra
            log.info("alert_published", disaster=published.disaster, directory=str(published.directory))
        extra_timings = {"received_to_published": (time.time() - received_at) * 1000}
        if await self._announce_once(
            "published", published.directory, key, key, alert, published, classification, extra_timings
        ):
            outcome.announced.append("published")
        if alert.msg_type == "Update":
            for ref in alert.references:
                marker = await self._attempts("supersede", cancel, self.stage.supersede, ref.key, key)
                if marker is None:
                    log.info("supersede_unknown_reference", reference=str(ref.key))
                    continue
                outcome.superseded += 1
                if await self._announce_once(
                    "superseded", marker.parent, ref.key, key, alert, None, None, {}
                ):
                    outcome.announced.append("superseded")
        return outcome

    async def _cancel(self, alert: Alert, received_at: float) -> Outcome:
        outcome = Outcome("withdrawn", key=alert.key, sent=alert.sent)
        never_cancel = threading.Event()  # withdrawing is a marker write: always finish it
        for ref in alert.references:
            marker = await self._attempts("withdraw", never_cancel, self.stage.withdraw, ref.key, alert.key)
            if marker is None:
                # Not published (yet): remember, so a late or replayed original is not published after its Cancel.
                doc = {
                    "key": _key_doc(ref.key),
                    "by": _key_doc(alert.key),
                    "at": datetime.now(UTC).isoformat(),
                }
                await asyncio.to_thread(atomic_write, self._tombstone(ref.key), json.dumps(doc).encode())
                log.info("withdraw_unknown_reference", reference=str(ref.key))
                continue
            outcome.withdrawn += 1
            if await self._announce_once(
                "withdrawn", marker.parent, ref.key, alert.key, alert, None, None, {}
            ):
                outcome.announced.append("withdrawn")
        if not outcome.withdrawn:
            outcome.status, outcome.reason = "skipped", "unknown_reference"
        return outcome

    # -- helpers -------------------------------------------------------------------------------------------
    def _tombstone(self, key: AlertKey) -> Path:
        return self.tombstones / f"{key.slug()}.json"

    def _lock(self, key: AlertKey) -> _KeyLock:
        return _KeyLock(self._locks, key)

    async def _attempts(self, what: str, cancel: threading.Event, func: Callable[..., T], *args: Any) -> T:
        attempts = self.settings.max_attempts
        for attempt in range(1, attempts + 1):
            try:
                return await asyncio.to_thread(func, *args)
            except StageCancelled:
                raise
            except Exception as exc:
                if disk_full(exc):
                    raise  # not this alert's fault: ``handle`` waits for space without spending attempts
                log.warning("stage_failed", call=what, attempt=attempt, of=attempts, error=repr(exc))
                if attempt == attempts:
                    raise StageFailedError(
                        f"{what} failed {attempts} times: {type(exc).__name__}: {exc}"
                    ) from exc
                await _pause(
                    self.settings.retry_backoff_s * attempt, cancel, f"{what} cancelled during retry", exc
                )
        raise AssertionError("unreachable")  # pragma: no cover

    async def _announce_once(
        self,
        event: EventType,
        directory: Path,
        key: AlertKey,
        by: AlertKey,
        alert: Alert,
        published: Published | None,
        classification: Classification | None,
        timings: Mapping[str, float],
    ) -> bool:
        marker = announced_marker(directory, event, by)
        if await asyncio.to_thread(marker.is_file):
            return False
        pending = announced_marker(directory, event, by, phase="ANNOUNCING")
        doc = self._event(event, key, by, alert, published, classification, directory, timings)
        previous = await asyncio.to_thread(read_json, pending)
        if previous is not None:
            # Died between "about to send" and "sent": look on the media topic before sending again.
            if await self.announcer.delivered(doc, previous.get("fence") or {}):
                log.info("announcement_found_after_restart", announced=event, event_id=doc["event_id"])
                await asyncio.to_thread(atomic_write, marker, _dumps(previous.get("event") or doc))
                await asyncio.to_thread(pending.unlink, missing_ok=True)
                return False
            log.info("announcement_not_found_after_restart", announced=event, event_id=doc["event_id"])
        fence = await self.announcer.fence(doc)
        await asyncio.to_thread(atomic_write, pending, _dumps({"event": doc, "fence": fence}))
        await self.announcer.send(doc, fence)
        await asyncio.to_thread(atomic_write, marker, _dumps(doc))
        await asyncio.to_thread(pending.unlink, missing_ok=True)  # ANNOUNCED wins from here on
        return True

    def _event(
        self,
        event: EventType,
        key: AlertKey,
        by: AlertKey,
        alert: Alert,
        published: Published | None,
        classification: Classification | None,
        directory: Path,
        timings: Mapping[str, float],
    ) -> dict[str, Any]:
        files = [str(p) for p in published.files] if published else []
        urls = list(published.urls) if published else []
        if published and not urls and self.broadcast.base_url:
            base = self.broadcast.base_url.rstrip("/")
            root = self.broadcast.output_dir
            urls = [f"{base}/{_relative(p, root)}" for p in published.files]
        doc: dict[str, Any] = {
            "event": event,
            "event_id": event_id(event, key, by),
            "key": _key_doc(key),
            "key_str": str(key),
            "by": _key_doc(by),
            "msg_type": alert.msg_type,
            "status": alert.status,
            "sent": alert.sent_text,
            "directory": str(directory),
            "files": files,
            "urls": urls,
            "announced_at": datetime.now(UTC).isoformat(),
        }
        if published is not None:
            doc["disaster"] = published.disaster
            doc["duration_s"] = published.duration_s
            doc["timings_ms"] = {**published.timings_ms, **{k: round(v, 3) for k, v in timings.items()}}
        if classification is not None:
            doc["confidence"] = classification.confidence
            doc["classified_by"] = classification.reason
        return doc


async def _pause(seconds: float, cancel: threading.Event, why: str, exc: BaseException) -> None:
    """Sleep ``seconds``, waking every 0.1 s to raise ``StageCancelled(why)`` once ``cancel`` is set."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancel.is_set():
            raise StageCancelled(why) from exc
        await asyncio.sleep(min(0.1, max(0.0, deadline - time.monotonic())))


def _dumps(doc: Mapping[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")


def read_json(path: Path) -> dict[str, Any] | None:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}  # unreadable: treat as "maybe sent", the announcer checks from the beginning
    return doc if isinstance(doc, dict) else {}


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name


class _KeyLock:
    """One asyncio lock per alert key, dropped when nobody holds or waits for it (no unbounded growth)."""

    def __init__(self, table: dict[AlertKey, asyncio.Lock], key: AlertKey) -> None:
        self.table = table
        self.key = key

    async def __aenter__(self) -> None:
        lock = self.table.setdefault(self.key, asyncio.Lock())
        await lock.acquire()

    async def __aexit__(self, *exc: object) -> None:
        lock = self.table[self.key]
        lock.release()
        if not lock.locked() and not getattr(lock, "_waiters", None):
            del self.table[self.key]
