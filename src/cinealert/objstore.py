"""Shared files: the one interface through which outputs, tombstones and markers are made durable, on this
machine's disk (``LocalFiles``, the default: exactly the layout and writes of ``cinealert.durable``) or also in an
S3-compatible bucket (``S3Files``, ``[store] kind = "s3"``) so that daemons with no shared disk act as one.

Files stay addressed by their local path (``<broadcast.output_dir>/<slug>/result.json``,
``<handlers.dedup_state_dir>/cancelled/<slug>.json``); ``S3Files`` maps each path under a known root to a key
(``roots``: local directory -> key prefix), so every layer keeps its paths and the bucket mirrors the layout:

    <prefix>out/<slug>/...        outputs (result.json last: the commit marker readers key on)
    <prefix>state/...             tombstones, unpublished markers, key guards (``locks/``)
    <prefix>cache/...             the shared scene cache (``render.cache_dir``)

``create`` is a conditional write (``If-None-Match: *``): the first writer wins on every machine at once, which
is what tombstones, announcement markers and ``result.json`` need. Errors from the bucket are ``StoreError``
(a ``PublishError``: the output could not be made durable; like a full disk, the alert waits for the store
and is never degraded nor dead-lettered for it). A leaf module: standard library, ``errors`` and ``durable``
only; boto3 is imported when used.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import structlog

from cinealert.durable import StorageUnavailableError, atomic_write
from cinealert.errors import CinealertError

if TYPE_CHECKING:
    from cinealert.config.sections import StoreSettings
    from cinealert.config.settings import Settings

log = structlog.get_logger("cinealert.store")

#: Files a reader follows to others: uploaded after everything else, right before ``result.json``.
MANIFESTS = (".m3u8", ".mpd", ".xml")


class StoreError(StorageUnavailableError):
    """The object store refused or could not be reached (after the client's own retries); the processor waits
    for it as for a full disk (``durable.disk_full``), never dead-letters the alert for it."""


class SharedFiles(Protocol):
    """Small durable files every daemon of a group sees (local disk: every daemon on this host)."""

    shared: bool

    def read(self, path: Path) -> bytes | None:
        """The file's bytes, None when absent."""
        ...

    def create(self, path: Path, data: bytes) -> bool:
        """Write ``path`` only if absent anywhere; False when it already was (nothing written)."""
        ...

    def put(self, path: Path, data: bytes) -> None:
        """Write (or replace) ``path`` durably."""
        ...

    def remove(self, path: Path) -> None:
        """Remove ``path``; absent is fine."""
        ...

    def publish(self, files: Sequence[Path]) -> None:
        """Make local files visible under their shared names: media first, manifests after (``MANIFESTS``)."""
        ...


class LocalFiles:
    """This machine's disk: the writes of ``cinealert.durable`` (temp name, fsync, rename, directory fsync)."""

    shared = False

    def read(self, path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None

    def create(self, path: Path, data: bytes) -> bool:
        # Callers hold the key's guard (a flock on this host), so check-then-write is not a race here.
        if path.exists():
            return False
        atomic_write(path, data)
        return True

    def put(self, path: Path, data: bytes) -> None:
        atomic_write(path, data)

    def remove(self, path: Path) -> None:
        path.unlink(missing_ok=True)

    def publish(self, files: Sequence[Path]) -> None:
        return None  # written in place already


LOCAL = LocalFiles()


@dataclass(frozen=True, slots=True)
class Head:
    etag: str
    age_s: float  # by the server's clock: its Date header minus the object's Last-Modified


class Bucket:
    """One bucket and prefix through boto3 (its own retries: standard mode, ``max_attempts`` 5)."""

    def __init__(self, settings: StoreSettings) -> None:
        import boto3
        from botocore.config import Config

        key = settings.access_key_id.get_secret_value() if settings.access_key_id else None
        secret = settings.secret_access_key.get_secret_value() if settings.secret_access_key else None
        self.name = settings.bucket
        self.prefix = settings.prefix
        self.workers = settings.upload_workers
        self.client: Any = boto3.client(
            "s3",
            endpoint_url=settings.endpoint_url or None,
            region_name=settings.region,
            aws_access_key_id=key,
            aws_secret_access_key=secret,
            config=Config(
                retries={"mode": "standard", "max_attempts": 5},
                connect_timeout=5,
                read_timeout=30,
                max_pool_connections=max(10, settings.upload_workers * 2),
            ),
        )

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    @contextlib.contextmanager
    def _errors(self, what: str, name: str) -> Iterator[None]:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            yield
        except ClientError as exc:
            raise StoreError(None, f"s3 {what} {self.name}/{self.key(name)}: {_code(exc)} {exc}") from exc
        except BotoCoreError as exc:
            raise StoreError(None, f"s3 {what} {self.name}/{self.key(name)}: {exc}") from exc

    def get(self, name: str) -> bytes | None:
        from botocore.exceptions import ClientError

        with self._errors("get", name):
            try:
                reply = self.client.get_object(Bucket=self.name, Key=self.key(name))
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
            return bytes(reply["Body"].read())

    def head(self, name: str) -> Head | None:
        from botocore.exceptions import ClientError

        with self._errors("head", name):
            try:
                reply = self.client.head_object(Bucket=self.name, Key=self.key(name))
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return None
                raise
        modified: datetime = reply["LastModified"]
        date = reply.get("ResponseMetadata", {}).get("HTTPHeaders", {}).get("date")
        now = _http_date(date) if date else datetime.now(modified.tzinfo)
        return Head(str(reply["ETag"]), (now - modified).total_seconds())

    def put(
        self, name: str, data: bytes, *, if_none_match: bool = False, if_match: str | None = None
    ) -> str | None:
        """The new ETag; None when a condition failed (412, or 409 from a concurrent conditional write)."""
        from botocore.exceptions import ClientError

        extra: dict[str, str] = {}
        if if_none_match:
            extra["IfNoneMatch"] = "*"
        if if_match is not None:
            extra["IfMatch"] = if_match
        with self._errors("put", name):
            try:
                reply = self.client.put_object(Bucket=self.name, Key=self.key(name), Body=data, **extra)
            except ClientError as exc:
                if extra and _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict", "409"):
                    return None
                if if_match is not None and _code(exc) in ("NoSuchKey", "404"):
                    return None
                raise
        return str(reply["ETag"])

    def upload(self, name: str, path: Path) -> None:
        with self._errors("upload", name):
            self.client.upload_file(str(path), self.name, self.key(name))

    def download(self, name: str, path: Path) -> bool:
        """``name`` into ``path`` atomically (temp name, fsync, rename); False when absent."""
        from botocore.exceptions import ClientError

        tmp = path.with_name(f".{path.name}.{os.getpid()}.download")
        path.parent.mkdir(parents=True, exist_ok=True)
        with self._errors("download", name):
            try:
                self.client.download_file(self.name, self.key(name), str(tmp))
            except ClientError as exc:
                if _code(exc) in ("NoSuchKey", "404", "NotFound"):
                    return False
                raise
        with tmp.open("rb") as fh:
            os.fsync(fh.fileno())
        tmp.replace(path)
        return True

    def delete(self, name: str, *, if_match: str | None = None) -> bool:
        from botocore.exceptions import ClientError

        extra = {"IfMatch": if_match} if if_match is not None else {}
        with self._errors("delete", name):
            try:
                self.client.delete_object(Bucket=self.name, Key=self.key(name), **extra)
            except ClientError as exc:
                if extra and _code(exc) in ("PreconditionFailed", "412", "NoSuchKey", "404"):
                    return False
                raise
        return True

    def names(self, under: str) -> list[str]:
        """Every name below ``under`` (prefix stripped)."""
        out: list[str] = []
        with self._errors("list", under):
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.name, Prefix=self.key(under)
            )
            for page in pages:
                out += [str(o["Key"])[len(self.prefix) :] for o in page.get("Contents", ())]
        return out


def _code(exc: Any) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def _http_date(value: str) -> datetime:
    from email.utils import parsedate_to_datetime

    return parsedate_to_datetime(value)


class S3Files:
    """``SharedFiles`` in a bucket: each local path under one of ``roots`` is the key ``<root prefix>/<rest>``.

    The local file is written too (the working copy this daemon reads back): the bucket first for ``create``
    (the winner decides), the disk after. A path under no root is an error (it would not be shared)."""

    shared = True

    def __init__(self, bucket: Bucket, roots: Mapping[Path, str]) -> None:
        self.bucket = bucket
        # longest first, so a channel's root under the default one maps to its own prefix
        self.roots = sorted(((Path(p).absolute(), n.strip("/")) for p, n in roots.items()),
                            key=lambda r: len(r[0].parts), reverse=True)  # fmt: skip

    def name(self, path: Path) -> str:
        full = Path(path).absolute()
        for root, prefix in self.roots:
            if full.is_relative_to(root):
                rest = full.relative_to(root).as_posix()
                return f"{prefix}/{rest}" if prefix else rest
        raise ValueError(f"{path} is under none of the shared roots {[str(r) for r, _ in self.roots]}")

    def read(self, path: Path) -> bytes | None:
        return self.bucket.get(self.name(path))

    def create(self, path: Path, data: bytes) -> bool:
        if self.bucket.put(self.name(path), data, if_none_match=True) is None:
            return False
        atomic_write(path, data)
        return True

    def put(self, path: Path, data: bytes) -> None:
        self.bucket.put(self.name(path), data)
        atomic_write(path, data)

    def remove(self, path: Path) -> None:
        self.bucket.delete(self.name(path))
        path.unlink(missing_ok=True)

    def publish(self, files: Sequence[Path]) -> None:
        media = [p for p in files if not p.name.endswith(MANIFESTS)]
        manifests = [p for p in files if p.name.endswith(MANIFESTS)]
        for batch in (media, manifests):
            if not batch:
                continue
            with ThreadPoolExecutor(min(self.bucket.workers, len(batch)), thread_name_prefix="s3put") as pool:
                for done in [pool.submit(self.bucket.upload, self.name(p), p) for p in batch]:
                    done.result()


class RemoteDirs:
    """A read-through tier under a local cache: content-addressed entry folders mirrored in the bucket.

    ``fetch`` downloads an entry that this machine lacks (each file atomically, ``marker`` last: a local reader
    that keys on the marker never sees a partial entry); ``push`` uploads a new entry in the background (the
    marker last, so another machine fetches it only once it is whole; an entry already there is skipped).
    Local eviction still bounds this disk; the bucket keeps every entry (a lifecycle rule bounds it).
    The cache is an optimisation: a store error is logged and the caller renders instead.
    """

    def __init__(self, files: S3Files) -> None:
        self.files = files
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="cache-push")
        self._pending: list[Any] = []

    def fetch(self, directory: Path, marker: str) -> bool:
        try:
            name = self.files.name(directory)
            found = [n for n in self.files.bucket.names(f"{name}/") if "/" not in n[len(name) + 1 :]]
            if f"{name}/{marker}" not in found:
                return False
            for entry in sorted(found, key=lambda n: n.endswith(f"/{marker}")):  # the marker last
                self.files.bucket.download(entry, directory / entry[len(name) + 1 :])
        except (OSError, ValueError) as exc:
            log.warning("cache_fetch_failed", directory=str(directory), error=str(exc))
            return False
        log.info("cache_fetched", directory=str(directory), files=len(found))
        return True

    def push(self, directory: Path, marker: str) -> None:
        self._pending.append(self._pool.submit(self._push, directory, marker))

    def _push(self, directory: Path, marker: str) -> None:
        try:
            name = self.files.name(directory)
            if self.files.bucket.head(f"{name}/{marker}") is not None:
                return
            local = sorted(p for p in directory.iterdir() if p.is_file() and not p.name.startswith("."))
            self.files.publish([p for p in local if p.name != marker])
            self.files.bucket.upload(f"{name}/{marker}", directory / marker)
        except (OSError, ValueError) as exc:
            log.warning("cache_push_failed", directory=str(directory), error=str(exc))
            return
        log.info("cache_pushed", directory=str(directory), files=len(local))

    def drain(self) -> None:
        """Wait for every push so far (tests, and a prewarm that should leave the bucket filled)."""
        pending, self._pending = self._pending, []
        for done in pending:
            done.result()


_SHARED_CACHES: dict[Path, RemoteDirs] = {}


def share_cache(root: Path, files: SharedFiles) -> RemoteDirs | None:
    """Make the bucket of ``files`` the read-through tier of the cache under ``root`` (this process)."""
    if not isinstance(files, S3Files):
        return None
    remote = _SHARED_CACHES[Path(root).absolute()] = RemoteDirs(files)
    return remote


def remote_for(directory: Path) -> RemoteDirs | None:
    """The shared tier registered for a cache folder above ``directory``, if any."""
    if not _SHARED_CACHES:
        return None
    full = Path(directory).absolute()
    for root, remote in _SHARED_CACHES.items():
        if full.is_relative_to(root):
            return remote
    return None


class StoreConfigError(ValueError, CinealertError):
    """The bucket ignores conditional writes (some S3 stand-ins do, e.g. s3rver): every guarantee of the shared
    store (one commit, one tombstone, one guard holder) rests on them, so the daemon refuses to start."""


def check_store(files: SharedFiles) -> bool | None:
    """Probe the bucket once at start-up: True when it honours ``If-None-Match: *`` and ``If-Match`` (or the store
    is local), None when it cannot be reached now (the processing path waits for it); ``StoreConfigError`` when
    it accepts a conditional write it should have refused."""
    if not isinstance(files, S3Files):
        return True
    bucket = files.bucket
    name = f"state/probe/{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(6)}"
    try:
        first = bucket.put(name, b"probe", if_none_match=True)
        again = bucket.put(name, b"probe again", if_none_match=True)
        stale = bucket.put(name, b"probe stale", if_match='"00000000000000000000000000000000"')
        bucket.delete(name)
    except StoreError as exc:
        log.warning("store_unreachable", bucket=bucket.name, error=str(exc))
        return None
    if first is None or again is not None or stale is not None:
        raise StoreConfigError(
            f"bucket {bucket.name} accepted a write that If-None-Match/If-Match should have refused: it does not "
            'honour conditional writes; use AWS S3, MinIO, Ceph RGW or moto, or set store.kind = "local"'
        )
    log.info("store_checked", bucket=bucket.name, prefix=bucket.prefix)
    return True


def roots(settings: Settings) -> dict[Path, str]:
    """The shared roots of ``settings``: outputs (``out``; a channel whose ``output_dir`` is not below
    ``broadcast.output_dir`` gets ``out-<name>``), state (``state``) and the scene cache (``cache``)."""
    found: dict[Path, str] = {
        settings.handlers.dedup_state_dir: "state",
        settings.render.cache_dir: "cache",
        settings.broadcast.output_dir: "out",
    }
    base = Path(settings.broadcast.output_dir).absolute()
    for channel in settings.channel_list():
        if not Path(channel.broadcast.output_dir).absolute().is_relative_to(base):
            found[channel.broadcast.output_dir] = f"out-{channel.name}"
    return found


def shared_files(settings: Settings) -> SharedFiles:
    """``LOCAL`` for ``store.kind = "local"``; else ``S3Files`` over ``roots(settings)`` (the daemon's whole
    settings: a channel's stage gets the daemon's, not one built from its own copy)."""
    if settings.store.kind == "local":
        return LOCAL
    return S3Files(Bucket(settings.store), roots(settings))
