"""Content-addressed scene cache on disk, shared safely by several daemons, plus a small in-memory tier.

An entry is a directory ``<root>/<key[:2]>/<key>/`` holding ``scene.npz`` (layers, depth, masks, motion:
``cache_scene``), the rendered loop (one of the codecs of ``cache_frames``) and ``meta.json``.

Entries are write-once: a writer fills a private temporary directory, fsyncs every file, and renames it into
place. A rename either lands whole or not at all, so readers never see a partial entry; when two writers race,
the first rename wins and the loser's copy is dropped. Reads touch ``meta.json``'s mtime; after every write the
oldest entries are evicted until the cache fits ``max_bytes`` (evicting renames to a trash name first, so a
concurrent reader sees a miss, never half an entry; a reader that already mapped the frames keeps reading the
unlinked file).

Memory: the in-memory tier is what this process keeps *mapped* (``StoredFrames(mapped=True)``), and a mapped
loop's pages count in the process's RSS once read, so the tier is bounded in bytes (``memory_bytes``: the frame
files it maps), not only in entries; every other loop is read without mapping (see ``cache_frames``). A render
writes its frames as they come and the scene's layers without stacking them into one more copy.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cinealert.durable import fsync_dir, fsync_file
from cinealert.objstore import remote_for
from cinealert.render.cache_frames import (
    BLOB_FILES,
    FRAMES,
    LZFRAMES,
    ZFRAMES,
    ZINDEX,
    Codec,
    Frames,
    FrameSink,
    StoredFrames,
    frames_nbytes,
    lz4_available,
    new_sink,
)
from cinealert.render.cache_scene import load_scene, save_scene
from cinealert.render.scene import Scene

__all__ = [
    "BLOB_FILES",
    "FORMAT_VERSION",
    "FRAMES",
    "LZFRAMES",
    "META",
    "SCENE",
    "STALE_TMP_S",
    "ZFRAMES",
    "ZINDEX",
    "Codec",
    "Entry",
    "FrameSink",
    "Frames",
    "SceneCache",
    "StoredFrames",
    "cache_key",
    "frames_nbytes",
    "load_scene",
    "lz4_available",
    "save_scene",
]

#: part of every key: bump it when scene.npz (``cache_scene``) or the frame files (``cache_frames``) change
FORMAT_VERSION = 1
SCENE = "scene.npz"
META = "meta.json"
STALE_TMP_S = 3600.0  # a temporary this old belongs to a writer that died (a 2160p render takes minutes)


def cache_key(fields: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of everything that changes the pixels."""
    doc = json.dumps({"format": FORMAT_VERSION, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    path: Path
    frames: StoredFrames
    meta: Mapping[str, Any]

    def scene(self) -> Scene:
        return load_scene(self.path / SCENE)


class SceneCache:
    """Disk tier (shared, bounded, LRU) + in-memory tier (per process, LRU, at most ``memory_items`` entries and
    ``memory_bytes`` of mapped frame data; an entry bigger than ``memory_bytes`` is always read from disk)."""

    def __init__(
        self,
        root: Path,
        max_bytes: int,
        memory_items: int = 4,
        codec: Codec = "zlib",
        memory_bytes: int = 64 * 1024**2,
    ) -> None:
        self.root = Path(root)
        self.codec = codec
        self.max_bytes = int(max_bytes)
        self.memory_items = int(memory_items)
        self.memory_bytes = int(memory_bytes)
        self._memory: OrderedDict[str, tuple[Entry, int]] = OrderedDict()
        self._memory_used = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ reads

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Entry | None:
        with self._lock:
            held = self._memory.get(key)
            if held is not None:
                self._memory.move_to_end(key)
        if held is not None:
            self._touch(held[0].path)
            return held[0]
        path = self.entry_dir(key)
        remote = remote_for(path)
        if remote is not None and not (path / META).exists():
            remote.fetch(path, META)  # another machine's render (the shared scene cache); else a miss
        try:
            meta = json.loads((path / META).read_text())
            codec = meta.get("codec", "raw")
            size = frames_nbytes(path, codec)
            keep = self._fits(size)
            frames = StoredFrames(path, codec, tuple(meta.get("shape", ())), mapped=keep)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, ImportError) as exc:  # corrupted, or lz4 missing here: drop, rebuild
            self._discard(path, f"unreadable: {exc}")
            return None
        self._touch(path)
        entry = Entry(key, path, frames, meta)
        if keep:
            self._remember(entry, size)
        return entry

    def in_memory(self, key: str) -> bool:
        with self._lock:
            return key in self._memory

    def memory_used(self) -> int:
        """Bytes of frame data the in-memory tier maps now (never above ``memory_bytes``)."""
        with self._lock:
            return self._memory_used

    def _fits(self, size: int) -> bool:
        return self.memory_items > 0 and size <= self.memory_bytes

    def _remember(self, entry: Entry, size: int) -> None:
        with self._lock:
            old = self._memory.pop(entry.key, None)
            if old is not None:
                self._memory_used -= old[1]
            self._memory[entry.key] = (entry, size)
            self._memory_used += size
            while len(self._memory) > self.memory_items or self._memory_used > self.memory_bytes:
                _, (_, dropped) = self._memory.popitem(last=False)
                self._memory_used -= dropped

    def _forget(self, key: str) -> None:
        with self._lock:
            old = self._memory.pop(key, None)
            if old is not None:
                self._memory_used -= old[1]

    @staticmethod
    def _touch(path: Path) -> None:
        now = time.time()
        with contextlib.suppress(FileNotFoundError):
            os.utime(path / META, (now, now))

    # ----------------------------------------------------------------------------------------------- writes

    def put(
        self,
        key: str,
        scene: Scene,
        shape: tuple[int, int, int, int],
        fill: Callable[[FrameSink], None],
        meta: Mapping[str, Any],
    ) -> Entry:
        """Create entry ``key``: ``fill`` puts every frame into the sink it is given (``sink[t] = frame``).

        If another writer published ``key`` first, theirs is kept and returned (write-once).
        """
        final = self.entry_dir(key)
        tmp = self.root / "tmp" / f"{key}.{os.getpid()}.{uuid.uuid4().hex[:8]}"
        tmp.mkdir(parents=True, exist_ok=False)
        try:
            # the scene file (~100 MB at 1080p) is written while the frames render: it is mostly copying and
            # checksumming, which leave the GIL to the render threads, so it comes almost free of wall time
            with ThreadPoolExecutor(max_workers=1, thread_name_prefix="save-scene") as saver:
                saved = saver.submit(save_scene, scene, tmp / SCENE)
                sink = new_sink(tmp, self.codec, shape)
                try:
                    fill(sink)
                    names = sink.write()
                finally:
                    sink.close()
                saved.result()
            doc = {**meta, "key": key, "created": time.time(), "codec": self.codec, "shape": list(shape)}
            (tmp / META).write_text(json.dumps(doc, sort_keys=True))
            for name in (*names, SCENE, META):
                fsync_file(tmp / name)
            fsync_dir(tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.rename(final)  # atomic; fails if a complete entry is already there
            except OSError:
                if not (final / META).exists():
                    raise
            else:
                fsync_dir(final.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        remote = remote_for(final)
        if remote is not None:
            remote.push(final, META)  # in the background: the alert does not wait for the upload
        entry = self.get(key)
        if entry is None:  # evicted by a neighbour between rename and read: unlikely, but not an error
            raise FileNotFoundError(f"cache entry {key} vanished right after it was written")
        self.evict(keep=key)
        return entry

    # --------------------------------------------------------------------------------------------- eviction

    def entries(self) -> list[tuple[float, int, Path]]:
        """(last use, bytes, path) of every complete entry."""
        out: list[tuple[float, int, Path]] = []
        if not self.root.exists():
            return out
        for shard in self.root.iterdir():
            if not shard.is_dir() or len(shard.name) != 2:
                continue
            for entry in shard.iterdir():
                try:
                    used = (entry / META).stat().st_mtime
                    size = sum(f.stat().st_size for f in entry.iterdir())
                except (FileNotFoundError, NotADirectoryError):
                    continue
                out.append((used, size, entry))
        return out

    def size_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def evict(self, keep: str | None = None) -> list[str]:
        """Remove least-recently-used entries until the total fits ``max_bytes``; returns the evicted keys.

        Also clears temporaries that a crashed writer left behind (older than ``STALE_TMP_S``).
        """
        self._clear_stale_tmp()
        entries = sorted(self.entries())
        total = sum(size for _, size, _ in entries)
        evicted: list[str] = []
        for _, size, path in entries:
            if total <= self.max_bytes:
                break
            if path.name == keep:
                continue
            if self._discard(path, "lru"):
                evicted.append(path.name)
                total -= size
        for key in evicted:
            self._forget(key)
        return evicted

    def _clear_stale_tmp(self) -> None:
        tmp = self.root / "tmp"
        if not tmp.is_dir():
            return
        cutoff = time.time() - STALE_TMP_S
        for item in tmp.iterdir():
            with contextlib.suppress(FileNotFoundError):
                if item.stat().st_mtime < cutoff:
                    shutil.rmtree(item, ignore_errors=True)

    def _discard(self, path: Path, reason: str) -> bool:
        trash = self.root / "tmp" / f"evict.{path.name}.{uuid.uuid4().hex[:8]}"
        trash.parent.mkdir(parents=True, exist_ok=True)
        try:
            path.rename(trash)
        except FileNotFoundError:
            return False  # a neighbour evicted it first
        shutil.rmtree(trash, ignore_errors=True)
        return True
