"""Durable, atomic file publication: temp name in the target directory, fsync file, rename, fsync directory.

A reader (playout, the announcement consumer) therefore sees either the old state or the complete new file,
never a partial one, and a crash or power loss after ``atomic_write`` returns cannot lose the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path


class PublishError(OSError):
    """Publishing failed (disk full, I/O error, permissions); nothing partial was left behind."""


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` durably and atomically; on any error remove the temp file and raise."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    try:
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
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise PublishError(exc.errno, f"cannot publish {path}: {exc.strerror or exc}") from exc
    return path
