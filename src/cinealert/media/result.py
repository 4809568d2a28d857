"""``result.json``: the schema written last into an output directory (its presence means complete), the
markers a Cancel or an Update leaves beside it, and reading both back as a ``Published``.

Layout of ``<broadcast.output_dir>/<key.slug()>/``: the media files, ``result.json``, and at most one of
``WITHDRAWN.json`` / ``SUPERSEDED.json`` (withdrawn wins when both are there); ``index.json`` one level up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from cinealert.cap.model import Alert, AlertKey, DisasterType
from cinealert.media.contract import Published
from cinealert.objstore import LOCAL, SharedFiles, StoreError

if TYPE_CHECKING:
    from cinealert.broadcast.audio import AlertAudio, Utterance
    from cinealert.broadcast.publish import OutputDir
    from cinealert.media.outputs import Output
    from cinealert.media.picture import LoopInfo

log = structlog.get_logger(__name__)

RESULT = "result.json"
WITHDRAWN = "WITHDRAWN.json"
SUPERSEDED = "SUPERSEDED.json"
_MARKERS = ((WITHDRAWN, "withdrawn"), (SUPERSEDED, "superseded"))


def public_url(base_url: str, directory: Path, name: str) -> str:
    """Where a published file is fetched from (``broadcast.base_url``), or its plain name without one."""
    base = base_url.rstrip("/")
    return f"{base}/{directory.name}/{name}" if base else name


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """Everything ``result.json`` says about one published rung."""

    alert: Alert
    disaster: DisasterType
    mode: str
    profiles: Sequence[str]
    resolution: str
    outputs: Mapping[str, Output]  # by profile name, in the order asked for
    captions: Mapping[str, Mapping[str, str]]  # sidecar files per language
    audio: AlertAudio
    scene: LoopInfo
    directory: Path
    files: Sequence[Path]  # published so far (result.json itself is added)
    base_url: str
    timings_ms: Mapping[str, float]
    rung: str
    degraded: Sequence[str]
    picture: str  # "scene loop" | "still frame" | "plain background" | "slate"
    pages: Sequence[Mapping[str, Any]]  # the text on screen per page

    def doc(self) -> dict[str, Any]:
        key = self.alert.key
        return {
            "status": "complete",
            "key": {"sender": key.sender, "identifier": key.identifier, "sent": key.sent},
            "slug": key.slug(),
            "msg_type": self.alert.msg_type,
            "disaster": self.disaster.value,
            "mode": self.mode,
            "profiles": list(self.profiles),
            "resolution": self.resolution,
            "duration_s": max(o.end_s for o in self.outputs.values())
            if self.outputs
            else self.audio.duration_s,
            "scene": {
                "key": self.scene.scene_key,
                "cache_hit": self.scene.cache_hit,
                "loop_frames": self.scene.loop.num_frames,
                "painted_by": dict(self.scene.painted_by),
                **({"prompt": self.scene.prompt} if self.scene.prompt else {}),
            },
            "audio": self._audio(),
            "captions": self.captions,
            "outputs": {name: o.doc() for name, o in self.outputs.items()},
            "files": [*sorted(p.name for p in self.files), RESULT],
            "urls": [public_url(self.base_url, self.directory, p.name) for p in sorted(self.files)]
            if self.base_url
            else [],
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
            "published_at": datetime.now(UTC).isoformat(),
            "rung": self.rung,
            "degraded": list(self.degraded),
            "picture": {"source": self.picture, "pages": list(self.pages)},
        }

    def _audio(self) -> dict[str, Any]:
        """``utterances`` time the mixed reading (every language in turn: the rich-media spoken alert);
        ``tracks`` time each language's own audio track, which its captions follow."""
        from cinealert.media.captions import language_timed

        audio = self.audio
        tracks: dict[str, list[dict[str, Any]]] = {}
        for u in language_timed(audio):
            tracks.setdefault(u.language, []).append(_utterance(u))
        return {
            "sample_rate": audio.rate,
            "loudness_lkfs": round(audio.loudness_lkfs, 2),
            "true_peak_dbtp": round(audio.true_peak_dbtp, 2),
            "utterances": [_utterance(u) for u in audio.utterances],
            "tracks": tracks,
        }

    def encode(self) -> bytes:
        return json.dumps(self.doc(), ensure_ascii=False, indent=1).encode("utf-8")


def _utterance(u: Utterance) -> dict[str, Any]:
    return {"language": u.language, "kind": u.kind, "text": u.text,
            "start_s": round(u.start_s, 3), "end_s": round(u.end_s, 3)}  # fmt: skip


def read_result(directory: Path, files: SharedFiles = LOCAL) -> Published | None:
    """The completed publication in ``directory`` (``result.json`` present), with its marker status; with a
    shared store, as the bucket has it (another daemon may have published it)."""
    try:
        data = files.read(directory / RESULT)
        if data is None:
            return None
        doc = json.loads(data.decode("utf-8"))
    except StoreError:
        raise  # the bucket did not answer: neither "absent" (a second render) nor "present"
    except (OSError, ValueError):
        return None
    try:
        return _published(directory, doc, files)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        # Another stage's result (summary), or a schema from elsewhere: not this stage's output. The alert is
        # rendered again (into a fresh directory) rather than crashing its message into the dead letters.
        log.warning("result_unreadable", directory=str(directory), error=repr(exc))
        return None


def _published(directory: Path, doc: dict[str, Any], files: SharedFiles) -> Published:
    key = AlertKey(doc["key"]["sender"], doc["key"]["identifier"], doc["key"]["sent"])
    status = "published"
    markers = {}
    for marker, name in _MARKERS:
        path = directory / marker
        if path.is_file() if not files.shared else files.read(path) is not None:
            markers[name] = str(path)
            status = name if status == "published" else status
    return Published(
        key=key,
        disaster=str(doc["disaster"]),
        directory=directory,
        files=tuple(directory / name for name in doc["files"]),
        urls=tuple(doc.get("urls", ())),
        duration_s=float(doc["duration_s"]),
        timings_ms=dict(doc["timings_ms"]),
        rung=str(doc.get("rung", "full")),  # results written before the ladder aired the full clip
        degraded=tuple(str(r) for r in doc.get("degraded", ())),
        extra={
            "status": status,
            "markers": markers,
            "mode": doc["mode"],
            "profiles": doc["profiles"],
            "outputs": doc["outputs"],
            "scene": doc["scene"],
            "cache_hit": bool(doc["scene"]["cache_hit"]),
            "first_segment_ms": doc["timings_ms"].get("first_segment"),
        },
    )


def commit_result(files: SharedFiles, out: OutputDir, data: bytes) -> None:
    """Make ``out`` live: ``result.json`` last. With a bucket, every other file is uploaded first (media, then
    manifests) and ``result.json`` is a conditional create, the commit marker readers key on: a reader never
    finds one whose files are missing, and a retry or a second daemon never replaces a committed output
    (whoever committed first stays; this one takes its ``result.json``, the replay path)."""
    if not files.shared:
        out.write(RESULT, data, sync_dir=True)
        return
    files.publish(out.files)
    if not files.create(out.path / RESULT, data):
        theirs = files.read(out.path / RESULT)
        log.info("result_already_committed", directory=str(out.path))
        out.write(RESULT, theirs if theirs is not None else data, sync_dir=True)


def index_published(root: Path, published: Published) -> None:
    """``index.json``'s entry for a newly published alert (after ``result.json``)."""
    from cinealert.broadcast.publish import update_index

    slug = published.key.slug()
    status = str(published.extra.get("status", "published"))  # a replay keeps a withdrawal's status
    update_index(root, slug, {"key": str(published.key), "status": status, "disaster": published.disaster,
                              "rung": published.rung, "result": f"{slug}/{RESULT}",
                              "updated": datetime.now(UTC).isoformat()})  # fmt: skip


def mark(
    root: Path, key: AlertKey, by: AlertKey, status: str, *, index: bool = True, files: SharedFiles = LOCAL
) -> Path | None:
    """Mark the output of ``key`` withdrawn or superseded by ``by`` (marker, then ``index.json``); the
    marker's path, or None where nothing was published.

    The one marker layout for every stage. Idempotent: the first Cancel or Update that marked an output stays
    recorded (a replay, or a second Update, does not rewrite who withdrew it); the index is brought up to date
    from the marker either way, so a crash between the two heals on the replay.
    """
    from cinealert.broadcast.publish import update_index

    marker = {s: m for m, s in _MARKERS}[status]
    directory = root / key.slug()
    if not (directory / RESULT).is_file() if not files.shared else files.read(directory / RESULT) is None:
        return None
    path = directory / marker
    doc = _marker(files, path)
    if not isinstance(doc, dict):
        now = datetime.now(UTC).isoformat()
        doc = {"key": str(key), "status": status, "by": str(by), "at": now,
               "key_fields": key.as_dict(), "by_fields": by.as_dict()}  # fmt: skip
        data = json.dumps(doc, ensure_ascii=False, indent=1).encode()
        if files.shared and not files.create(path, data):  # another daemon marked it first: its marker stays
            doc = _marker(files, path) or doc
        elif not files.shared:
            files.put(path, data)
        log.info("media_marked", key=str(key), status=status, by=str(by), marker=str(path))
    if index:
        first = str(doc.get("by") or by)
        update_index(
            root, key.slug(), {"key": str(key), "status": status, "by": first, "updated": doc.get("at")}
        )
    return path


def read_json_doc(files: SharedFiles, path: Path) -> dict[str, Any] | None:
    """A JSON object file through ``files``; None when absent or unreadable (a bucket error propagates)."""
    doc = _marker(files, path)
    return doc if isinstance(doc, dict) else None


def _marker(files: SharedFiles, path: Path) -> Any:
    try:
        data = files.read(path)
        return None if data is None else json.loads(data.decode("utf-8"))
    except StoreError:
        raise
    except (OSError, ValueError):
        return None
