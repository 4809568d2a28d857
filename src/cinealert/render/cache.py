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

Memory: the in-memory tier is what this process keeps *mapped* — a mapped loop's pages count in the process's
RSS once read (1.1 GB for a raw 6 s 1080p loop, ~110-180 MB for LZ4), so the tier is bounded in bytes
(``memory_bytes``: the frame files it maps), not only in entries. Every other loop is read with positional reads
(``os.preadv``) from an open descriptor: its pages stay in the kernel's page cache, shared and reclaimable, never
in this process's RSS, and reading is as fast (LZ4 at 1080p: ~460 frames/s vs ~410 through the map, measured).
Writing stays out of RSS too: raw frames go to the file with ``os.pwrite`` (a writable map would make the whole
loop resident and dirty) and compressed frames are appended in order as they arrive, so a render holds a few
compressed frames, not the whole loop (~170 MB at 1080p), and the scene's layers are written without first
stacking them into one more copy.
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
import weakref
import zipfile
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
from cinealert.durable import fsync_dir, fsync_file
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


def _write_stacked(zf: zipfile.ZipFile, name: str, parts: list[Any], empty: Any) -> None:
    """Write ``np.stack(parts)`` as ``name.npy`` into ``zf`` one part at a time: the same bytes ``np.savez``
    writes, without building the stacked copy (~60-100 MB at 1080p, made while a render is at its peak)."""
    arrays = [np.ascontiguousarray(a) for a in parts]
    first = arrays[0] if arrays else empty
    if any(a.shape != first.shape or a.dtype != first.dtype for a in arrays):
        raise ValueError(f"{name}: parts differ in shape or dtype")
    shape = (len(arrays), *first.shape) if arrays else empty.shape
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape}
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for a in arrays:
            fh.write(a.data.cast("B"))


def save_scene(scene: Scene, path: Path) -> None:
    kinds = sorted(scene.motion)
    mask_kinds = sorted(scene.masks)
    stacked: dict[str, tuple[list[Any], Any]] = {
        "layers": ([layer.rgba for layer in scene.layers], np.zeros((0, 1, 1, 4), np.uint8)),
        "masks": ([scene.masks[k] for k in mask_kinds], np.zeros((0, 1, 1), bool)),
        "motion": ([scene.motion[k] for k in kinds], np.zeros((0, 1, 1, 2), np.float32)),
    }
    arrays: dict[str, Any] = {"image": scene.image, "depth": scene.depth}
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
    with path.open("wb") as fh, zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for name, (parts, empty) in stacked.items():
            _write_stacked(zf, name, parts, empty)
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def load_scene(path: Path) -> Scene:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        # each ``z[name]`` reads the whole array again: read every stacked array once, not once per element
        rgba, mask_stack, motion_stack = z["layers"], z["masks"], z["motion"]
        layers = []
        for i, info in enumerate(meta["layers"]):
            depth = info["scalar_depth"] if info["scalar_depth"] is not None else z[f"layer_depth_{i}"]
            fmask = z[f"fluid_mask_{i}"] if f"fluid_mask_{i}" in z.files else None
            velocity = tuple(info["velocity"]) if info["velocity"] else None
            layers.append(
                Layer(
                    info["name"],
                    rgba[i],
                    depth,
                    FluidKind(info["fluid"]) if info["fluid"] else None,
                    fmask,
                    info["wrap"],
                    velocity,
                    info["sway"],
                )
            )
        masks = {FluidKind(k): mask_stack[i] for i, k in enumerate(meta["mask_kinds"])}
        motion = {FluidKind(k): motion_stack[i] for i, k in enumerate(meta["motion_kinds"])}
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
    """Compresses each frame on its own (in the renderer's worker threads) and appends the blobs to the data
    file in frame order as soon as they can go: only frames that arrive ahead of a missing one wait in memory
    (``render_loop`` renders in batches of twice its workers, so a handful), never the whole loop."""

    def __init__(self, folder: Path, count: int, codec: str) -> None:
        self.codec = codec
        self.count = count
        self._compress = _compressor(codec)
        self._folder = folder
        self._fh = (folder / BLOB_FILES[codec]).open("wb")
        self._offsets = np.zeros(count + 1, dtype=np.int64)
        self._waiting: dict[int, bytes] = {}
        self._next = 0
        self._lock = threading.Lock()

    def __setitem__(self, t: int, frame: Frames) -> None:
        if not 0 <= t < self.count:
            raise IndexError(f"frame {t} is outside the loop's {self.count} frames")
        blob = self._compress(np.ascontiguousarray(frame).data)
        with self._lock:
            if t < self._next or t in self._waiting:
                raise RuntimeError(f"frame {t} was rendered twice")
            self._waiting[t] = blob
            while self._next in self._waiting:
                ready = self._waiting.pop(self._next)
                self._fh.write(ready)
                self._offsets[self._next + 1] = self._offsets[self._next] + len(ready)
                self._next += 1

    def write(self) -> list[str]:
        """Finish the files; returns their names (to fsync)."""
        with self._lock:
            if self._next != self.count:
                raise RuntimeError(f"frame {self._next} was never rendered")
            self._fh.close()
        np.save(self._folder / ZINDEX, self._offsets)
        return [BLOB_FILES[self.codec], ZINDEX]

    def close(self) -> None:
        self._fh.close()
        self._waiting.clear()


class _RawSink:
    """Raw frames written with ``os.pwrite`` into a preallocated ``.npy`` (header, then frame after frame): the
    same file a writable memory map would make, without mapping it, so the loop (1.1 GB at 1080p) never counts
    as this process's memory while it renders."""

    def __init__(self, path: Path, shape: tuple[int, ...]) -> None:
        self.shape = tuple(int(v) for v in shape)
        self.frame_bytes = int(np.prod(self.shape[1:]))
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False,
                  "shape": self.shape}  # fmt: skip
        with path.open("wb") as fh:
            np.lib.format.write_array_header_1_0(fh, header)
            self.data_offset = fh.tell()
        self._fd = os.open(path, os.O_WRONLY)
        os.ftruncate(self._fd, self.data_offset + self.shape[0] * self.frame_bytes)
        self._written = np.zeros(self.shape[0], dtype=bool)

    def __setitem__(self, t: int, frame: Frames) -> None:
        data = np.ascontiguousarray(frame, dtype=np.uint8)
        if data.shape != self.shape[1:]:
            raise ValueError(f"frame {t} is {data.shape}, the loop's frames are {self.shape[1:]}")
        view = data.data.cast("B")
        at = self.data_offset + t * self.frame_bytes
        while len(view):  # a regular file takes it whole; a short write just continues
            done = os.pwrite(self._fd, view, at)
            view, at = view[done:], at + done
        self._written[t] = True

    def write(self) -> list[str]:
        missing = np.flatnonzero(~self._written)
        if len(missing):
            raise RuntimeError(f"frame {int(missing[0])} was never rendered")
        self.close()
        return [FRAMES]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def _new_sink(folder: Path, codec: str, shape: tuple[int, ...]) -> _RawSink | _BlobSink:
    return _RawSink(folder / FRAMES, shape) if codec == "raw" else _BlobSink(folder, shape[0], codec)


def frames_nbytes(folder: Path, codec: str) -> int:
    """Bytes of an entry's frame data: what mapping it can make resident in a process."""
    name = FRAMES if codec == "raw" else BLOB_FILES.get(codec)
    if name is None:
        raise ValueError(f"unknown frame codec {codec!r}")
    return (folder / name).stat().st_size


class StoredFrames:
    """A stored loop: ``len()``, ``shape``, ``[i]`` (a frame of its own, never a view of the cache files; raw
    frames are writable copies, inflated ones read-only) and prefetching iteration.

    ``mapped``: the frame data is memory-mapped (the in-memory tier: pages read stay resident in this process)
    or read with ``os.preadv`` from a descriptor held open (pages stay in the kernel's page cache only). Either
    way the files stay readable after the entry is evicted (unlinked) while this object lives.
    """

    def __init__(self, folder: Path, codec: str, shape: tuple[int, ...], *, mapped: bool = True) -> None:
        self.codec = codec
        self.shape = tuple(int(v) for v in shape)
        self.mapped = mapped
        self._fd = -1
        if codec == "raw":
            path = folder / FRAMES
            if mapped:
                self._raw = np.load(path, mmap_mode="r")
                self.shape = tuple(int(v) for v in self._raw.shape)
            else:
                with path.open("rb") as fh:
                    version = np.lib.format.read_magic(fh)
                    if version == (1, 0):
                        header = np.lib.format.read_array_header_1_0(fh)
                    else:
                        header = np.lib.format.read_array_header_2_0(fh)
                    self._data_offset = fh.tell()
                shape_read, fortran, dtype = header
                if fortran or dtype != np.uint8:
                    raise ValueError(f"{FRAMES} is not C-ordered uint8")
                self.shape = tuple(int(v) for v in shape_read)
                self._open(path)
                expected = self._data_offset + int(np.prod(self.shape))
                if os.fstat(self._fd).st_size < expected:
                    raise ValueError(f"{FRAMES} is shorter than its header says")
            self._frame_bytes = int(np.prod(self.shape[1:]))
        elif codec in BLOB_FILES:
            path = folder / BLOB_FILES[codec]
            self._offsets = np.load(folder / ZINDEX)
            if mapped:
                self._data = np.memmap(path, dtype=np.uint8, mode="r")
                size = self._data.size
            else:
                self._open(path)
                size = os.fstat(self._fd).st_size
                self._buffers = threading.local()  # one read buffer per reading thread
            if len(self._offsets) != self.shape[0] + 1 or int(self._offsets[-1]) != size:
                raise ValueError(f"frame index does not match {BLOB_FILES[codec]}")
            self._frame_bytes = int(np.prod(self.shape[1:]))
            if codec == "lz4":
                import lz4.block  # missing: ImportError, a miss

                self._lz4 = lz4.block
        else:
            raise ValueError(f"unknown frame codec {codec!r}")

    def _open(self, path: Path) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self._fd)

    def __len__(self) -> int:
        return self.shape[0]

    def _read(self, size: int, at: int) -> memoryview:
        """``size`` bytes at ``at`` into this thread's reused buffer (a fresh ~1 MB buffer per frame costs more
        than the read: measured 230 vs 460 frames/s at 1080p)."""
        buf: bytearray | None = getattr(self._buffers, "buf", None)
        if buf is None or len(buf) < size:
            buf = self._buffers.buf = bytearray(size)
        view = memoryview(buf)[:size]
        got = os.preadv(self._fd, [view], at)
        while got < size:  # a regular file fills it in one call; a short read just continues
            more = os.preadv(self._fd, [view[got:]], at + got)
            if more == 0:
                raise OSError(f"frame data ends {size - got} bytes early")
            got += more
        return view

    def __getitem__(self, i: int) -> Frames:
        if not -len(self) <= i < len(self):
            raise IndexError(f"frame {i} of {len(self)}")
        i %= len(self)
        if self.codec == "raw":
            if self.mapped:
                return np.array(self._raw[i])
            out: Frames = np.empty(self.shape[1:], dtype=np.uint8)
            view = out.data.cast("B")
            at = self._data_offset + i * self._frame_bytes
            got = 0
            while got < self._frame_bytes:
                more = os.preadv(self._fd, [view[got:]], at + got)
                if more == 0:
                    raise OSError(f"{FRAMES} ends inside frame {i}")
                got += more
            return out
        a, b = int(self._offsets[i]), int(self._offsets[i + 1])
        blob = self._data[a:b].data if self.mapped else self._read(b - a, a)
        if self.codec == "lz4":
            raw = self._lz4.decompress(blob, uncompressed_size=self._frame_bytes)
        else:
            raw = zlib.decompress(blob)
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
                sink = _new_sink(tmp, self.codec, shape)
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
