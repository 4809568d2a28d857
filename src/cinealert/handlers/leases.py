"""Key guards that hold across machines: a lease object per alert key in the bucket (``[store] kind = "s3"``).

``ReferenceLedger`` orders going live against Cancels/Updates with an ``flock``, which only works between
daemons of one host. Here the guard of a key is the object ``state/locks/<digest>.lock``:

* **acquire** = create it with ``If-None-Match: *`` (exactly one daemon of the group succeeds);
* **hold** = a heartbeat thread rewrites it every ``lease_s / 3`` with ``If-Match: <its ETag>`` (a guard that
  lost its lease notices, logs ``lease_lost`` and stops renewing);
* **release** = delete it with ``If-Match: <its ETag>`` (never someone else's);
* **a dead holder** (SIGKILL, a lost machine): its object stops being renewed; once it is older than
  ``lease_s`` by the *server's* clock (the reply's ``Date`` minus ``Last-Modified``: no trust in the machines'
  clocks), a waiter replaces it with ``If-Match: <the stale ETag>``, so of several waiters one takes it.

What a lease cannot give is a fence: a holder frozen for longer than ``lease_s`` (a stopped VM) may still act after
another took over. ``lease_s`` (15 s default) is far above the guard's hold time (a ``result.json`` write and one
Kafka send), and the tombstone is re-read under the guard, so the remaining window is the frozen holder's own
publish racing a Cancel.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import structlog

from cinealert.cap.model import AlertKey
from cinealert.handlers.references import KeyGuard, ReferenceLedger
from cinealert.handlers.stage import StageCancelled
from cinealert.objstore import Bucket, S3Files

log = structlog.get_logger("cinealert.handlers")

POLL_S = 0.05


class LeaseLedger(ReferenceLedger):
    """``ReferenceLedger`` with tombstones and guards in the bucket of ``files``."""

    def __init__(self, state_dir: Path, files: S3Files, lease_s: float) -> None:
        super().__init__(state_dir, files)
        self.bucket: Bucket = files.bucket
        self.lease_s = lease_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}"

    def _lock_name(self, key: AlertKey) -> str:
        return f"state/locks/{hashlib.sha256(str(key).encode('utf-8')).hexdigest()[:40]}.lock"

    def _try(self, key: AlertKey) -> LeaseGuard | None:
        name = self._lock_name(key)
        body = json.dumps({"key": str(key), "owner": self.owner}).encode("utf-8")
        etag = self.bucket.put(name, body, if_none_match=True)
        if etag is None:
            head = self.bucket.head(name)
            if head is None or head.age_s <= self.lease_s:
                return None  # held (or released just now: the next poll creates it)
            etag = self.bucket.put(name, body, if_match=head.etag)
            if etag is None:
                return None  # another waiter took the stale lease first
            log.warning("lease_taken_over", key=str(key), age_s=round(head.age_s, 1))
        return LeaseGuard(self, key, name, etag, body)

    def acquire(self, key: AlertKey, cancel: threading.Event | None = None) -> KeyGuard:
        while True:
            guard = self._try(key)
            if guard is not None:
                return guard
            if cancel is not None and cancel.is_set():
                raise StageCancelled(f"shutdown while waiting for the guard of {key}")
            time.sleep(POLL_S)

    @contextlib.asynccontextmanager
    async def guard(self, key: AlertKey) -> AsyncIterator[KeyGuard]:
        while True:
            attempt = asyncio.ensure_future(asyncio.to_thread(self._try, key))
            try:
                guard = await asyncio.shield(attempt)
            except asyncio.CancelledError:  # the thread may still take the lease: let it go when it does
                attempt.add_done_callback(_release_taken)
                raise
            if guard is not None:
                break
            await asyncio.sleep(POLL_S)
        try:
            yield guard
        finally:
            await asyncio.to_thread(guard.release)


class LeaseGuard(KeyGuard):
    """A held lease, renewed by a daemon thread until ``release``."""

    def __init__(self, ledger: LeaseLedger, key: AlertKey, name: str, etag: str, body: bytes) -> None:
        super().__init__(-1, key)
        self._ledger, self._name, self._etag, self._body = ledger, name, etag, body
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._renew, name="lease", daemon=True)
        self._thread.start()

    @property
    def held(self) -> bool:
        return not self._stop.is_set()

    def _renew(self) -> None:
        bucket = self._ledger.bucket
        while not self._stop.wait(self._ledger.lease_s / 3):
            with self._lock:
                if self._stop.is_set():
                    return
                try:
                    etag = bucket.put(self._name, self._body, if_match=self._etag)
                except OSError as exc:  # StoreError: try again next period, the lease has slack
                    log.warning("lease_renew_failed", key=str(self.key), error=str(exc))
                    continue
                if etag is None:
                    log.error("lease_lost", key=str(self.key))
                    return
                self._etag = etag

    def release(self) -> None:
        with self._lock:
            if self._stop.is_set():
                return
            self._stop.set()
            with contextlib.suppress(OSError):  # an unreleased lease expires after lease_s
                self._ledger.bucket.delete(self._name, if_match=self._etag)


def _release_taken(attempt: asyncio.Future[LeaseGuard | None]) -> None:
    """A lease taken for a coroutine that was cancelled meanwhile: released, not renewed until the process ends."""
    if not attempt.cancelled() and attempt.exception() is None and (taken := attempt.result()) is not None:
        threading.Thread(target=taken.release, name="lease-release", daemon=True).start()
