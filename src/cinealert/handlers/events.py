"""The ``cap.media`` announcement: one JSON event per published / superseded / withdrawn output.

Consumers (playout automation, a newsroom, the operator console) read everything they need from it: what aired,
which rung of the degradation ladder, where the files are, and the alert's full text. The picture and speech
show bounded text (``render.compose``, ``broadcast.audio``); the announcement carries the whole of it, cut only
where the event would no longer fit in one Kafka message (``TEXT_BUDGET``), and then says so. What made the
picture comes from ``result.json`` too: ``painted_by`` (the scene backend and what did each of its stages: the
models or their stand-ins) and, for the ML backend, the ``prompt`` the picture was painted from; ``degraded``
says why each higher rung of the ladder was left.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.config.sections import BroadcastSettings
from cinealert.config.settings import DEFAULT_CHANNEL
from cinealert.handlers.references import key_doc
from cinealert.handlers.stage import Published

EventType = Literal["published", "superseded", "withdrawn"]
#: Characters of alert text an announcement may carry: with JSON escaping (at most 6 bytes a character for
#: control characters, 3 for CJK) it stays well under the 1 MiB producer and broker message limit.
TEXT_BUDGET = 128 * 1024
TEXT_FIELDS = ("event", "headline", "instruction", "description", "area")


def event_id(event: str, key: AlertKey, by: AlertKey, channel: str = DEFAULT_CHANNEL) -> str:
    """Stable per (event, key, by) and channel; the implicit "default" channel keeps the single-channel ids."""
    scope = "" if channel == DEFAULT_CHANNEL else f"|{channel}"
    return hashlib.sha256(f"{event}|{key}|{by}{scope}".encode()).hexdigest()[:32]


def announced_marker(directory: Path, event: str, by: AlertKey, phase: str = "ANNOUNCED") -> Path:
    digest = hashlib.sha256(str(by).encode("utf-8")).hexdigest()[:16]
    return directory / f"{phase}.{event}.{digest}.json"


def alert_texts(alert: Alert, budget: int = TEXT_BUDGET) -> tuple[list[dict[str, str]], bool]:
    """Each ``<info>``'s texts in full, unless together they pass ``budget`` characters: then every field is
    cut to its share, ending in an ellipsis, and the flag says so (the CAP message itself has them all)."""
    infos = [
        {
            "language": info.language,
            "event": info.event,
            "headline": info.headline or "",
            "instruction": info.instruction or "",
            "description": info.description or "",
            "area": "; ".join(a.area_desc for a in info.areas),
        }
        for info in alert.infos
    ]
    total = sum(len(doc[f]) for doc in infos for f in TEXT_FIELDS)
    if total <= budget:
        return infos, False
    share = max(64, budget // max(1, len(infos) * len(TEXT_FIELDS)))
    for doc in infos:
        for f in TEXT_FIELDS:
            if len(doc[f]) > share:
                doc[f] = doc[f][: share - 1] + "…"
    return infos, True


def build_event(
    event: EventType,
    key: AlertKey,
    by: AlertKey,
    alert: Alert,
    published: Published | None,
    classification: Classification | None,
    directory: Path,
    timings: Mapping[str, float],
    broadcast: BroadcastSettings,
    channel: str = DEFAULT_CHANNEL,
) -> dict[str, Any]:
    files = [str(p) for p in published.files] if published else []
    urls = list(published.urls) if published else []
    if published and not urls and broadcast.base_url:
        base = broadcast.base_url.rstrip("/")
        root = broadcast.output_dir
        urls = [f"{base}/{_relative(p, root)}" for p in published.files]
    doc: dict[str, Any] = {
        "event": event,
        "event_id": event_id(event, key, by, channel),
        "channel": channel,
        "key": key_doc(key),
        "key_str": str(key),
        "by": key_doc(by),
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
        # which rung of the degradation ladder aired, and why not a higher one
        doc["rung"] = published.rung
        doc["degraded"] = list(published.degraded)
        doc["timings_ms"] = {**published.timings_ms, **{k: round(v, 3) for k, v in timings.items()}}
        scene = published.extra.get("scene")
        scene = scene if isinstance(scene, Mapping) else {}
        doc["painted_by"] = dict(scene.get("painted_by") or {})
        if scene.get("prompt"):
            doc["prompt"] = str(scene["prompt"])
    if classification is not None:
        doc["confidence"] = classification.confidence
        doc["classified_by"] = classification.reason
    if event == "published":
        doc["texts"], doc["texts_truncated"] = alert_texts(alert)
    return doc


def _relative(path: Path, root: Path) -> str:
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.name
