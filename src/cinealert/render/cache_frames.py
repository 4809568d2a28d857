"""An entry's rendered loop: the frame codecs, the sinks that write a loop as it renders, and ``StoredFrames``,
which reads one back.

The loop is stored per frame, LZ4 (``frames.lz4`` + ``frames.idx.npy``, the default when the ``lz4`` package is
present: illustrations compress ~6-8x and inflate several times faster than zlib), zlib level 1 (``frames.z``:
~9x, slower to inflate), or raw (``frames.npy``, memory-mapped: fastest read-back, biggest).
``bench/bench_render.py --formats`` measures both and x264 lossless.

Apart from the cache proper because this is where the memory goes: a mapped loop's pages count in the
process's RSS once read (1.1 GB for a raw 6 s 1080p loop, ~110-180 MB for LZ4), so only the cache's in-memory
tier maps; every other loop is read with positional reads (``os.preadv``) from an open descriptor: its pages
stay in the kernel's page cache, shared and reclaimable, never in this process's RSS, and reading is as fast
(LZ4 at 1080p: ~460 frames/s vs ~410 through the map, measured). Writing stays out of RSS too: raw frames go to
the file with ``os.pwrite`` (a writable map would make the whole loop resident and dirty) and compressed frames
are appended in order as they arrive, so a render holds a few compressed frames, not the whole loop (~170 MB
at 1080p).
"""

from __future__ import annotations

import os
import threading
import weakref
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import numpy.typing as npt

FRAMES = "frames.npy"
ZFRAMES = "frames.z"
LZFRAMES = "frames.lz4"
ZINDEX = "frames.idx.npy"
Codec = Literal["lz4", "zlib", "raw"]
#: the compressed codecs and their data file (the offsets of every frame's blob are in ``ZINDEX``)
BLOB_FILES: dict[str, str] = {"zlib": ZFRAMES, "lz4": LZFRAMES}
Frames = npt.NDArray[np.uint8]


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
    (``render_loop`` keeps twice its workers' frames in flight, so a handful), never the whole loop."""

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


def new_sink(folder: Path, codec: str, shape: tuple[int, ...]) -> _RawSink | _BlobSink:
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
