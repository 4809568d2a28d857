"""The simplest real output: a durable JSON summary of the alert, with the media stage's directory layout.

``output_dir/<key.slug()>/summary.json`` then ``result.json`` (written last: its presence means "complete");
``SUPERSEDED.json`` / ``WITHDRAWN.json`` markers beside it. Used by tests and benchmarks for speed, and by
installations that only want the announcement stream. ``delay_s`` simulates a render (checked for cancellation
every ``step_s``) so tests have a window to kill the daemon mid-render.
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import structlog

from cinealert.cap.model import Alert, AlertKey, Classification
from cinealert.durable import atomic_write
from cinealert.handlers.references import key_doc
from cinealert.handlers.stage import Gate, Published, StageCancelled
from cinealert.media.result import RESULT, SUPERSEDED, WITHDRAWN, mark, read_json_doc
from cinealert.objstore import LOCAL, SharedFiles

__all__ = ["RESULT", "SUMMARY", "SUPERSEDED", "WITHDRAWN", "SummaryStage"]

SUMMARY = "summary.json"
log = structlog.get_logger("cinealert.handlers")


def _dump(doc: dict[str, Any]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2, sort_keys=True) + "\n").encode("utf-8")


class SummaryStage:
    def __init__(
        self, output_dir: Path, delay_s: float = 0.0, step_s: float = 0.05, files: SharedFiles = LOCAL
    ) -> None:
        self.output_dir = Path(output_dir)
        self.files = files  # this disk, or also a bucket (``[store]``): ``result.json`` is the commit marker
        self.delay_s = delay_s
        self.step_s = step_s

    def directory(self, key: AlertKey) -> Path:
        return self.output_dir / key.slug()

    def publish(
        self, alert: Alert, classification: Classification, cancel: threading.Event, gate: Gate | None = None
    ) -> Published:
        started = time.perf_counter()
        deadline = started + self.delay_s
        while True:
            if cancel.is_set():
                raise StageCancelled(f"summary of {alert.key} cancelled")
            left = deadline - time.perf_counter()
            if left <= 0:
                break
            time.sleep(min(self.step_s, left))
        render_ms = (time.perf_counter() - started) * 1000
        directory = self.directory(alert.key)
        summary = {
            "key": key_doc(alert.key),
            "msg_type": alert.msg_type,
            "status": alert.status,
            "scope": alert.scope,
            "disaster": classification.disaster.value,
            "confidence": classification.confidence,
            "classified_by": classification.reason,
            "languages": list(alert.languages),
            "events": {i.language: i.event for i in alert.infos},
            "headlines": {i.language: i.headline for i in alert.infos if i.headline},
            "instructions": {i.language: i.instruction for i in alert.infos if i.instruction},
            "areas": sorted({a.area_desc for i in alert.infos for a in i.areas}),
            "expires": alert.expires.isoformat() if alert.expires else None,
            "references": [str(r.key) for r in alert.references],
        }
        t0 = time.perf_counter()
        summary_path = atomic_write(directory / SUMMARY, _dump(summary))
        write_ms = (time.perf_counter() - t0) * 1000
        timings = {"render": round(render_ms, 3), "write": round(write_ms, 3)}
        result = {
            "key": key_doc(alert.key),
            "disaster": classification.disaster.value,
            "files": [SUMMARY],
            "duration_s": 0.0,
            "timings_ms": timings,
            "published_at": datetime.now(UTC).isoformat(),
            "stage": "summary",
        }
        if gate is not None:
            try:
                gate()
            except BaseException:
                summary_path.unlink(missing_ok=True)  # nothing of an alert that may not go live stays behind
                raise
        if not self.files.shared:
            atomic_write(directory / RESULT, _dump(result))
        else:
            self.files.publish([summary_path])
            if not self.files.create(directory / RESULT, _dump(result)):
                log.info("result_already_committed", directory=str(directory))
        return Published(
            key=alert.key,
            disaster=classification.disaster.value,
            directory=directory,
            files=(summary_path,),
            timings_ms=timings,
        )

    def existing(self, key: AlertKey) -> Published | None:
        directory = self.directory(key)
        doc = read_json_doc(self.files, directory / RESULT)  # unreadable: not published, rendered again
        if doc is None:
            return None
        return Published(
            key=key,
            disaster=str(doc.get("disaster", "other")),
            directory=directory,
            files=tuple(directory / str(f) for f in doc.get("files", ())),
            duration_s=float(doc.get("duration_s", 0.0)),
            timings_ms=dict(doc.get("timings_ms", {})),
        )

    def supersede(self, key: AlertKey, by: AlertKey) -> Path | None:
        return mark(self.output_dir, key, by, "superseded", index=False, files=self.files)

    def withdraw(self, key: AlertKey, by: AlertKey) -> Path | None:
        return mark(self.output_dir, key, by, "withdrawn", index=False, files=self.files)
