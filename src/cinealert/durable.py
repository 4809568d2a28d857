"""Durable files, the one way every layer writes them: temp name in the target directory, fsync the file,
rename, fsync the directory.

A reader (playout, the announcement consumer, another daemon) therefore sees either the old state or the
complete new file, never a partial one, and a crash or power loss after ``atomic_write`` returns cannot lose
it. A leaf module (standard library only) so that ``render``, ``broadcast``, ``media`` and ``handlers`` share it
without importing each other.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import secrets
from pathlib import Path
from typing import Any

from cinealert.errors import CinealertError


class PublishError(OSError, CinealertError):
    """A durable write failed (disk full, I/O error, permissions); nothing partial was left behind."""


class StorageUnavailableError(PublishError):
    """The shared output store (a bucket, ``cinealert.objstore``) cannot be reached or refuses: like a full disk,
    an operator problem that goes away, so the alert waits for it instead of being dead-lettered."""


#: "No space left" and "quota exceeded": an operator problem that goes away; the alert must wait, not be dropped.
DISK_FULL_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT})


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` or anything it was raised from is an ENOSPC/EDQUOT ``OSError`` (e.g. a ``PublishError``)
    or a ``StorageUnavailableError``: the output storage cannot take the alert now, wait for it."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, StorageUnavailableError):
            return True
        if isinstance(current, OSError) and current.errno in DISK_FULL_ERRNOS:
            return True
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return False


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` durably and atomically; on any error remove the temp file and raise."""
    return atomic_write_many(path, data, sync_dir=True)


def atomic_write_many(path: Path, data: bytes, *, sync_dir: bool = True) -> Path:
    """``atomic_write`` for a batch: with ``sync_dir=False`` the caller fsyncs the directory once afterwards
    (before anything that references the file, e.g. a manifest, is published)."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view)
                view = view[written:]
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        if sync_dir:
            fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PublishError(exc.errno, f"cannot publish {path}: {exc.strerror or exc}") from exc
    return path


def fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def read_json(path: Path) -> dict[str, Any] | None:
    """A small JSON state file; None if absent, ``{}`` if unreadable (the caller decides what "maybe" means)."""
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return doc if isinstance(doc, dict) else {}
