"""What Cancels and Updates have said about other alerts, and the guard that orders it against going live.

A CAP Cancel or Update names earlier messages by their ``sender,identifier,sent`` triple. Whatever order the
messages arrive in, on however many partitions, workers or daemons, the outcome must be the one of processing
them one by one: a cancelled alert never airs, an updated one is superseded. Two pieces make that hold:

* **Tombstones.** A Cancel or Update first writes a durable tombstone per referenced key (``cancelled/`` or
  ``superseded/`` under ``handlers.dedup_state_dir``), before it does anything else. They are never removed:
  the original may arrive late, or be replayed after a crash, at any time.
* **The key guard.** Making an output live (writing ``result.json``, then announcing ``published``) and
  withdrawing or superseding it (marker, then announcement) happen under an exclusive ``flock`` on the key's lock
  stripe, so the tombstone check and the publication are one step. A Cancel that lands while an alert is going
  live waits, then withdraws it *after* the ``published`` announcement: a consumer never sees ``withdrawn``
  followed by ``published``. ``flock`` works between threads, processes and daemons sharing the state directory.

Which references count (``usable``): only those from the same sender (a Cancel from another sender cannot
withdraw someone else's alert), never the message itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import json
import os
import threading
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import structlog

from cinealert.cap.model import Alert, AlertKey
from cinealert.handlers.stage import GateClosed, StageCancelled
from cinealert.objstore import LOCAL, SharedFiles, StoreError

log = structlog.get_logger("cinealert.handlers")

Kind = Literal["cancel", "update"]
#: Lock stripes: keys hash onto a fixed set of lock files, so the state directory does not grow a file per alert.
#: Two keys sharing a stripe only wait for each other; guards are never nested, so this cannot deadlock.
STRIPES = 256
POLL_S = 0.02
#: Directory per kind, also the past participle used in messages ("cancelled", "superseded").
_DIRS: dict[Kind, str] = {"cancel": "cancelled", "update": "superseded"}


@dataclass(frozen=True, slots=True)
class Tombstone:
    kind: Kind
    key: AlertKey
    by: AlertKey


def key_doc(key: AlertKey) -> dict[str, str]:
    return key.as_dict()


def _key_of(doc: object) -> AlertKey | None:
    if not isinstance(doc, dict):
        return None
    try:
        return AlertKey(str(doc["sender"]), str(doc["identifier"]), str(doc["sent"]))
    except KeyError:
        return None


def usable(alert: Alert) -> tuple[list[AlertKey], list[tuple[AlertKey, str]]]:
    """The references of ``alert`` that may act on other alerts, and the ignored ones with their reason."""
    keep: list[AlertKey] = []
    ignored: list[tuple[AlertKey, str]] = []
    for ref in alert.references:
        key = ref.key
        if key == alert.key:
            ignored.append((key, "self_reference"))
        elif key.sender != alert.sender:
            ignored.append((key, "other_sender"))
        elif key not in keep:
            keep.append(key)
    return keep, ignored


class ReferenceLedger:
    """Tombstones and key guards under one state directory (shared by every daemon of a group on one host).

    Tombstones go through ``files`` (``cinealert.objstore``): with a bucket every machine sees them, and the
    first Cancel/Update to write one wins (a conditional create). The guards here are ``flock`` stripes (one
    host); ``handlers.leases.LeaseLedger`` puts them in the bucket too."""

    def __init__(self, state_dir: Path, files: SharedFiles = LOCAL) -> None:
        self.root = Path(state_dir)
        self.files = files

    # -- tombstones ------------------------------------------------------------------------------------------
    def _path(self, kind: Kind, key: AlertKey) -> Path:
        return self.root / _DIRS[kind] / f"{key.slug()}.json"

    def record(self, kind: Kind, key: AlertKey, by: AlertKey) -> Tombstone:
        """Durably note that ``by`` cancels/updates ``key``; the first note for a key stays (idempotent)."""
        path = self._path(kind, key)
        existing = self._read(kind, path)
        if existing is not None:
            return existing
        doc = {"key": key_doc(key), "by": key_doc(by), "at": datetime.now(UTC).isoformat()}
        if not self.files.create(path, (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")):
            return self._read(kind, path) or Tombstone(kind, key, by)  # another daemon's came first
        log.info("reference_recorded", kind=kind, reference=str(key), by=str(by))
        return Tombstone(kind, key, by)

    def lookup(self, key: AlertKey) -> Tombstone | None:
        """The tombstone of ``key``, a Cancel's before an Update's (withdrawn beats superseded)."""
        for kind in ("cancel", "update"):
            found = self._read(kind, self._path(kind, key))
            if found is not None:
                return found
        return None

    def _read(self, kind: Kind, path: Path) -> Tombstone | None:
        try:
            data = self.files.read(path)
        except StoreError:
            raise  # the bucket did not answer: not a tombstone (the caller retries), never a guess
        except OSError:
            data = b""  # unreadable: the file's existence is the fact that matters; keep it safe
        if data is None:
            return None
        try:
            doc = json.loads(data.decode("utf-8"))
        except ValueError:
            doc = {}
        key = _key_of(doc.get("key") if isinstance(doc, dict) else None)
        by = _key_of(doc.get("by") if isinstance(doc, dict) else None)
        unknown = AlertKey("", "", "")
        return Tombstone(kind, key or unknown, by or unknown)

    # -- guards ----------------------------------------------------------------------------------------------
    def _lock_path(self, key: AlertKey) -> Path:
        stripe = int.from_bytes(hashlib.sha256(str(key).encode("utf-8")).digest()[:4], "big") % STRIPES
        return self.root / "locks" / f"{stripe:03d}.lock"

    def _open(self, key: AlertKey) -> int:
        path = self._lock_path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        return os.open(path, os.O_RDWR | os.O_CREAT, 0o644)

    def acquire(self, key: AlertKey, cancel: threading.Event | None = None) -> KeyGuard:
        """Block (a worker thread) until the guard of ``key`` is held; ``StageCancelled`` on shutdown."""
        fd = self._open(key)
        while not _try_lock(fd):
            if cancel is not None and cancel.is_set():
                os.close(fd)
                raise StageCancelled(f"shutdown while waiting for the guard of {key}")
            time.sleep(POLL_S)
        return KeyGuard(fd, key)

    def gate(self, key: AlertKey, cancel: threading.Event | None = None) -> KeyGuard:
        """The publish gate: the guard of ``key``, held, once no tombstone names it; ``Tombstoned`` otherwise.
        Any error releases the guard first (a lease kept by a failed lookup would block the retry for good)."""
        guard = self.acquire(key, cancel)
        try:
            found = self.lookup(key)
        except BaseException:
            guard.release()
            raise
        if found is not None:
            guard.release()
            raise Tombstoned(found)
        return guard

    @contextlib.asynccontextmanager
    async def guard(self, key: AlertKey) -> AsyncIterator[KeyGuard]:
        """The guard of ``key`` for a coroutine: polls without blocking the event loop."""
        fd = await asyncio.to_thread(self._open, key)
        try:
            while not _try_lock(fd):  # noqa: ASYNC110 - flock offers nothing to await; a thread could starve
                await asyncio.sleep(POLL_S)
        except BaseException:
            os.close(fd)
            raise
        held = KeyGuard(fd, key)
        try:
            yield held
        finally:
            held.release()

    @contextlib.contextmanager
    def held(self, key: AlertKey) -> Iterator[KeyGuard]:
        guard = self.acquire(key)
        try:
            yield guard
        finally:
            guard.release()


class KeyGuard:
    """A held key guard. ``release`` is idempotent; the lock dies with the process (a crash frees it)."""

    def __init__(self, fd: int, key: AlertKey) -> None:
        self._fd: int | None = fd
        self.key = key

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


def _try_lock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


class Tombstoned(GateClosed):
    """The publish gate found a tombstone: ``tombstone`` says which Cancel or Update got there first."""

    def __init__(self, tombstone: Tombstone) -> None:
        super().__init__(f"{tombstone.key} was {_DIRS[tombstone.kind]} by {tombstone.by} before it went live")
        self.tombstone = tombstone
