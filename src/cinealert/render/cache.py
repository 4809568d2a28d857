"""Content-addressed scene cache on disk, shared safely by several daemons, plus a small in-memory tier.

An entry is a directory ``<root>/<key[:2]>/<key>/`` holding ``scene.npz`` (layers, depth, masks, motion), the
rendered loop and ``meta.json``. The loop is stored per frame, LZ4 (``frames.lz4`` + ``frames.idx.npy``, the
default when the ``lz4`` package is present: illustrations compress ~6-8x and inflate several times faster than
zlib), zlib level 1 (``frames.z``: ~9x, slower to inflate), or raw (``frames.npy``, memory-mapped: fastest
read-back, biggest). ``bench/bench_render.py --formats`` measures both and x264 lossless.

Entries are write-once: a writer fills a private temporary directory, fsyncs every file, and renames it into
place. A rename either lands whole or not at all, so readers never see a partial entry; when two writers race,
the first rename wins and the loser's copy is dropped. Reads touch ``meta.json``'s mtime; after every write the
oldest entries are evicted until the cache fits ``max_bytes`` (evicting renames to a trash name first, so a
concurrent reader sees a miss, never half an entry; a reader that already mapped the frames keeps reading the
unlinked file).
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
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol

import numpy as np
import numpy.typing as npt

from cinealert.cap.model import DisasterType
from cinealert.render.scene import FluidKind, Layer, Scene

FORMAT_VERSION = 1
FRAMES = "frames.npy"
ZFRAMES = "frames.z"
LZFRAMES = "frames.lz4"
ZINDEX = "frames.idx.npy"
Codec = Literal["lz4", "zlib", "raw"]
#: the compressed codecs and their data file (the offsets of every frame's blob are in ``ZINDEX``)
BLOB_FILES: dict[str, str] = {"zlib": ZFRAMES, "lz4": LZFRAMES}
SCENE = "scene.npz"
META = "meta.json"
STALE_TMP_S = 3600.0  # a temporary this old belongs to a writer that died (a 2160p render takes minutes)
Frames = npt.NDArray[np.uint8]


def cache_key(fields: Mapping[str, Any]) -> str:
    """sha256 over the canonical JSON of everything that changes the pixels."""
    doc = json.dumps({"format": FORMAT_VERSION, **fields}, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def save_scene(scene: Scene, path: Path) -> None:
    kinds = sorted(scene.motion)
    mask_kinds = sorted(scene.masks)
    arrays: dict[str, Any] = {
        "layers": np.stack([layer.rgba for layer in scene.layers]),
        "image": scene.image,
        "depth": scene.depth,
        "masks": np.stack([scene.masks[k] for k in mask_kinds]) if mask_kinds else np.zeros((0, 1, 1), bool),
        "motion": np.stack([scene.motion[k] for k in kinds]) if kinds else np.zeros((0, 1, 1, 2), np.float32),
    }
    for i, layer in enumerate(scene.layers):
        if layer.fluid_mask is not None:
            arrays[f"fluid_mask_{i}"] = layer.fluid_mask
        if isinstance(layer.depth, np.ndarray):  # flat cards keep their scalar depth in the metadata
            arrays[f"layer_depth_{i}"] = layer.depth
    meta = {
        "disaster": scene.disaster.value,
        "variant": scene.variant,
        "backend": scene.backend,
        "prompt": scene.prompt,
        "seed": scene.seed,
        "shake": scene.shake,
        "mask_kinds": [k.value for k in mask_kinds],
        "motion_kinds": [k.value for k in kinds],
        "layers": [
            {
                "name": layer.name,
                "scalar_depth": None if isinstance(layer.depth, np.ndarray) else float(layer.depth),
                "fluid": layer.fluid.value if layer.fluid else None,
                "wrap": layer.wrap,
                "velocity": list(layer.velocity) if layer.velocity else None,
                "sway": layer.sway,
            }
            for layer in scene.layers
        ],
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with path.open("wb") as fh:
        np.savez(fh, **arrays)


def load_scene(path: Path) -> Scene:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        layers = []
        for i, info in enumerate(meta["layers"]):
            depth = info["scalar_depth"] if info["scalar_depth"] is not None else z[f"layer_depth_{i}"]
            fmask = z[f"fluid_mask_{i}"] if f"fluid_mask_{i}" in z.files else None
            velocity = tuple(info["velocity"]) if info["velocity"] else None
            layers.append(
                Layer(
                    info["name"],
                    z["layers"][i],
                    depth,
                    FluidKind(info["fluid"]) if info["fluid"] else None,
                    fmask,
                    info["wrap"],
                    velocity,
                    info["sway"],
                )
            )
        masks = {FluidKind(k): z["masks"][i] for i, k in enumerate(meta["mask_kinds"])}
        motion = {FluidKind(k): z["motion"][i] for i, k in enumerate(meta["motion_kinds"])}
        h, w = z["image"].shape[:2]
        return Scene(
            disaster=DisasterType(meta["disaster"]), variant=meta["variant"], width=w, height=h,
            layers=tuple(layers), masks=masks, motion=motion, image=z["image"], depth=z["depth"],
            backend=meta["backend"], prompt=meta["prompt"], seed=meta["seed"], shake=meta["shake"],
        ).validate()  # fmt: skip


class FrameSink(Protocol):
    """Where a renderer puts frame ``t`` (a memory map, or a compressor); called from worker threads."""

    def __setitem__(self, t: int, frame: Frames) -> None: ...


def lz4_available() -> bool:
    try:
        import lz4.block  # type: ignore[import-untyped]  # noqa: F401
    except ImportError:
        return False
    return True


def _compressor(codec: str) -> Callable[[memoryview], bytes]:
    if codec == "lz4":
        import lz4.block

        def compress(data: memoryview) -> bytes:
            return bytes(lz4.block.compress(data, store_size=False))  # releases the GIL

        return compress
    return lambda data: zlib.compress(data, 1)  # releases the GIL


class _BlobSink:
    """Compresses each frame on its own (in the renderer's worker threads) and writes blobs + offsets."""

    def __init__(self, count: int, codec: str) -> None:
        self.blobs: list[bytes | None] = [None] * count
        self.codec = codec
        self._compress = _compressor(codec)

    def __setitem__(self, t: int, frame: Frames) -> None:
        self.blobs[t] = self._compress(np.ascontiguousarray(frame).data)

    def write(self, folder: Path) -> None:
        offsets = np.zeros(len(self.blobs) + 1, dtype=np.int64)
        with (folder / BLOB_FILES[self.codec]).open("wb") as fh:
            for i, blob in enumerate(self.blobs):
                if blob is None:
                    raise RuntimeError(f"frame {i} was never rendered")
                fh.write(blob)
                offsets[i + 1] = offsets[i] + len(blob)
        np.save(folder / ZINDEX, offsets)


class StoredFrames:
    """A stored loop: ``len()``, ``shape``, ``[i]`` (a frame of its own, never a view of the cache files; raw
    frames are writable copies, inflated ones read-only) and prefetching iteration."""

    def __init__(self, folder: Path, codec: str, shape: tuple[int, ...]) -> None:
        self.codec = codec
        self.shape = tuple(int(v) for v in shape)
        if codec == "raw":
            self._raw = np.load(folder / FRAMES, mmap_mode="r")
            self.shape = tuple(int(v) for v in self._raw.shape)
        elif codec in BLOB_FILES:
            self._offsets = np.load(folder / ZINDEX)
            self._data = np.memmap(folder / BLOB_FILES[codec], dtype=np.uint8, mode="r")
            if len(self._offsets) != self.shape[0] + 1 or int(self._offsets[-1]) != self._data.size:
                raise ValueError(f"frame index does not match {BLOB_FILES[codec]}")
            self._frame_bytes = int(np.prod(self.shape[1:]))
            if codec == "lz4":
                import lz4.block  # missing: ImportError, a miss

                self._lz4 = lz4.block
        else:
            raise ValueError(f"unknown frame codec {codec!r}")

    def __len__(self) -> int:
        return self.shape[0]

    def __getitem__(self, i: int) -> Frames:
        if self.codec == "raw":
            return np.array(self._raw[i])
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        if self.codec == "lz4":
            raw = self._lz4.decompress(self._data[a:b].data, uncompressed_size=self._frame_bytes)
        else:
            raw = zlib.decompress(self._data[a:b].data)
        # read-only and private (its own buffer): consumers copy before drawing (compose.Overlay.apply does)
        frame: Frames = np.frombuffer(raw, dtype=np.uint8).reshape(self.shape[1:])
        return frame

    def iter(self, workers: int = 1) -> Iterator[Frames]:
        """Frames in order. ``workers`` > 1 inflates ahead in threads: it only pays where zlib releases the GIL
        (here it did not: 2 threads were slower than 1, measured), so the default is inline."""
        n = len(self)
        if self.codec == "raw" or workers <= 1:
            for i in range(n):
                yield self[i]
            return
        ahead = 2 * workers
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="inflate") as pool:
            pending: list[Future[Frames]] = [pool.submit(self.__getitem__, i) for i in range(min(ahead, n))]
            for i in range(n):
                frame = pending.pop(0).result()
                if i + ahead < n:
                    pending.append(pool.submit(self.__getitem__, i + ahead))
                yield frame

    def read_all(self) -> Frames:
        return np.stack([self[i] for i in range(len(self))])


@dataclass(frozen=True, slots=True)
class Entry:
    key: str
    path: Path
    frames: StoredFrames
    meta: Mapping[str, Any]

    def scene(self) -> Scene:
        return load_scene(self.path / SCENE)


class SceneCache:
    """Disk tier (shared, bounded, LRU) + in-memory tier (per process, ``memory_items`` most recent)."""

    def __init__(self, root: Path, max_bytes: int, memory_items: int = 4, codec: Codec = "zlib") -> None:
        self.root = Path(root)
        self.codec = codec
        self.max_bytes = int(max_bytes)
        self.memory_items = int(memory_items)
        self._memory: OrderedDict[str, Entry] = OrderedDict()
        self._lock = threading.Lock()

    # ------------------------------------------------------------------------------------------------ reads

    def entry_dir(self, key: str) -> Path:
        return self.root / key[:2] / key

    def get(self, key: str) -> Entry | None:
        with self._lock:
            hit = self._memory.get(key)
            if hit is not None:
                self._memory.move_to_end(key)
        if hit is not None:
            self._touch(hit.path)
            return hit
        path = self.entry_dir(key)
        try:
            meta = json.loads((path / META).read_text())
            frames = StoredFrames(path, meta.get("codec", "raw"), tuple(meta.get("shape", ())))
        except (FileNotFoundError, NotADirectoryError):
            return None
        except (OSError, ValueError, ImportError) as exc:  # corrupted, or lz4 missing here: drop, rebuild
            self._discard(path, f"unreadable: {exc}")
            return None
        self._touch(path)
        entry = Entry(key, path, frames, meta)
        self._remember(entry)
        return entry

    def in_memory(self, key: str) -> bool:
        with self._lock:
            return key in self._memory

    def _remember(self, entry: Entry) -> None:
        if self.memory_items <= 0:
            return
        with self._lock:
            self._memory[entry.key] = entry
            self._memory.move_to_end(entry.key)
            while len(self._memory) > self.memory_items:
                self._memory.popitem(last=False)

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
                if self.codec == "raw":
                    frames = np.lib.format.open_memmap(tmp / FRAMES, mode="w+", dtype=np.uint8, shape=shape)
                    fill(frames)
                    frames.flush()
                    del frames
                    names = [FRAMES]
                else:
                    sink = _BlobSink(shape[0], self.codec)
                    fill(sink)
                    sink.write(tmp)
                    names = [BLOB_FILES[self.codec], ZINDEX]
                saved.result()
            doc = {**meta, "key": key, "created": time.time(), "codec": self.codec, "shape": list(shape)}
            (tmp / META).write_text(json.dumps(doc, sort_keys=True))
            for name in (*names, SCENE, META):
                _fsync_file(tmp / name)
            _fsync_dir(tmp)
            final.parent.mkdir(parents=True, exist_ok=True)
            try:
                tmp.rename(final)  # atomic; fails if a complete entry is already there
            except OSError:
                if not (final / META).exists():
                    raise
            else:
                _fsync_dir(final.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
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
        with self._lock:
            for key in evicted:
                self._memory.pop(key, None)
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
