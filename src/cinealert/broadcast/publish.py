"""Publishing an alert's output: a directory whose files appear one at a time, each complete (``OutputDir``),
and the output root's ``index.json``. The durable-write primitives live in ``cinealert.durable`` (re-exported
here for the callers that publish).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from cinealert.durable import (
    DISK_FULL_ERRNOS,
    PublishError,
    atomic_write,
    atomic_write_many,
    disk_full,
    fsync_dir,
)

__all__ = [
    "DISK_FULL_ERRNOS",
    "OutputDir",
    "PublishError",
    "atomic_write",
    "atomic_write_many",
    "disk_full",
    "fsync_dir",
    "remove_tree",
    "update_index",
]


def remove_tree(directory: Path) -> None:
    """Remove a partial output directory and make the removal durable (best effort: we are already failing)."""
    shutil.rmtree(directory, ignore_errors=True)
    with contextlib.suppress(OSError):
        fsync_dir(directory.parent)


class OutputDir:
    """One alert's output directory. Files appear one at a time, each complete (temp name, fsync, rename).

    ``commit_dir`` makes everything written so far durable; call it before publishing a file that refers to
    others (a manifest after its segments, ``result.json`` after everything). Used as a context manager, any
    exception removes the directory, so a failed publish leaves no partial output; ``OSError`` becomes
    ``PublishError``.
    """

    def __init__(self, directory: Path) -> None:
        self.path = directory
        self.files: list[Path] = []
        self.bytes_written = 0

    def __enter__(self) -> OutputDir:
        try:
            if self.path.exists():
                remove_tree(self.path)  # a stale partial output from an interrupted run (no result.json)
            self.path.mkdir(parents=True)
            fsync_dir(self.path.parent)
        except OSError as exc:
            raise PublishError(exc.errno, f"cannot create {self.path}: {exc.strerror or exc}") from exc
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: object) -> None:
        if exc is None:
            return
        remove_tree(self.path)
        if isinstance(exc, OSError) and not isinstance(exc, PublishError):
            raise PublishError(exc.errno, f"publishing {self.path} failed: {exc.strerror or exc}") from exc

    def write(self, name: str, data: bytes, *, sync_dir: bool = False) -> Path:
        target = self.path / name
        if target.parent != self.path or name.startswith("."):
            raise ValueError(f"output names are plain file names, got {name!r}")
        atomic_write_many(target, data, sync_dir=sync_dir)
        self.files.append(target)
        self.bytes_written += len(data)
        return target

    def write_many(self, items: Sequence[tuple[str, bytes]], *, workers: int = 4) -> list[Path]:
        """``write`` for several files at once: their fsyncs wait on the disk together instead of in turn.

        Each file is still complete and synced before its rename; ``commit_dir`` afterwards makes the names
        durable. ``files`` lists them in ``items`` order. On an error none is listed and the error propagates
        once every write has ended (the context manager then removes the whole directory).
        """
        for name, _data in items:
            target = self.path / name
            if target.parent != self.path or name.startswith("."):
                raise ValueError(f"output names are plain file names, got {name!r}")
        if len(items) <= 1 or workers <= 1:
            return [self.write(name, data) for name, data in items]
        with ThreadPoolExecutor(max_workers=min(workers, len(items)), thread_name_prefix="publish") as pool:
            futures = [
                pool.submit(atomic_write_many, self.path / name, data, sync_dir=False) for name, data in items
            ]
            paths = [f.result() for f in futures]
        self.files += paths
        self.bytes_written += sum(len(data) for _name, data in items)
        return paths

    def link(self, name: str, source: Path) -> Path:
        """Publish an existing durable file (same file system) under ``name`` by hard link: the name appears
        atomically with the complete content and no byte is copied; ``commit_dir`` makes the name durable.
        Raises ``OSError`` (e.g. ``EXDEV`` across file systems) so the caller can fall back to ``write``."""
        target = self.path / name
        if target.parent != self.path or name.startswith("."):
            raise ValueError(f"output names are plain file names, got {name!r}")
        os.link(source, target)
        self.files.append(target)
        self.bytes_written += target.stat().st_size
        return target

    def discard(self, name: str) -> None:
        """Remove a file written (speculatively) earlier; the next ``commit_dir`` makes the removal durable."""
        target = self.path / name
        if target not in self.files:
            raise ValueError(f"{name!r} was not written to {self.path}")
        size = target.stat().st_size
        target.unlink()
        self.files.remove(target)
        self.bytes_written -= size

    def commit_dir(self) -> None:
        try:
            fsync_dir(self.path)
        except OSError as exc:
            raise PublishError(exc.errno, f"cannot sync {self.path}: {exc.strerror or exc}") from exc


def update_index(root: Path, slug: str, entry: dict[str, Any]) -> Path:
    """Merge ``entry`` into ``root/index.json`` under ``slug`` (file lock: several workers may publish)."""
    root.mkdir(parents=True, exist_ok=True)
    lock_path = root / ".index.lock"
    with lock_path.open("a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            index_path = root / "index.json"
            try:
                index: dict[str, Any] = json.loads(index_path.read_text("utf-8"))
            except (FileNotFoundError, ValueError):
                index = {}
            index.setdefault(slug, {}).update(entry)
            data = json.dumps(index, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8")
            return atomic_write(index_path, data)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
