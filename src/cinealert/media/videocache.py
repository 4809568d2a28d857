"""The scene's clean video, encoded once per scene and profile and kept as fMP4 segments (rich-media AEA).

A segment re-timed for position k is the same for every alert, so it is kept too (the entry's ``timeline``
folder) and hard-linked into each output: per alert no video is encoded, and no byte copied or synced.
Memory first, then disk (``<render.cache_dir>/broadcast/<key>``), else encode and store; the cache is an
optimisation, so storing it may fail (logged) without failing the alert.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import structlog

from cinealert.media.clock import Clock
from cinealert.media.errors import MediaError
from cinealert.media.overlay import OverlayRef, frames
from cinealert.media.picture import LoopInfo
from cinealert.objstore import remote_for

if TYPE_CHECKING:
    from cinealert.broadcast.encode import Profile
    from cinealert.broadcast.publish import OutputDir

log = structlog.get_logger(__name__)

#: Bumped when what the encoder is fed changes without its options changing (2: BT.709 conversion and colour
#: description, which version 1 entries lack; reusing them would air BT.601 pictures signalled as unknown).
VIDEO_CACHE_VERSION = "2"
_KEEP = 8  # entries kept in memory per stage (a few scenes at a few sizes)


@dataclass(frozen=True, slots=True)
class CachedVideo:
    key: str
    init: bytes
    timescale: int
    segments: tuple[bytes, ...]
    hit: bool

    @property
    def segment_ticks(self) -> int:
        from cinealert.broadcast.encode import tfdt

        if len(self.segments) > 1:
            return tfdt(self.segments[1]) - tfdt(self.segments[0])
        raise MediaError("a cached video needs at least two segments to know its segment duration")

    @classmethod
    def load(cls, directory: Path, key: str) -> CachedVideo | None:
        meta_path = directory / "meta.json"
        try:
            meta = json.loads(meta_path.read_text("utf-8"))
            init = (directory / "init.mp4").read_bytes()
            segments = tuple((directory / f"{i:05d}.m4s").read_bytes() for i in range(int(meta["segments"])))
        except (OSError, ValueError, KeyError):
            return None
        return cls(key, init, int(meta["timescale"]), segments, True)

    def store(self, directory: Path) -> None:
        from cinealert.broadcast.publish import PublishError, atomic_write

        try:
            atomic_write(directory / "init.mp4", self.init)
            for i, data in enumerate(self.segments):
                atomic_write(directory / f"{i:05d}.m4s", data)
            meta = {"segments": len(self.segments), "timescale": self.timescale, "key": self.key}
            atomic_write(directory / "meta.json", json.dumps(meta).encode())  # last: marks the entry complete
        except PublishError as exc:  # the cache is an optimisation: log and carry on with the in-memory copy
            log.warning("video_cache_store_failed", key=self.key, error=str(exc))


def cache_frames(loop_frames: int, seg_frames: int) -> int:
    """Frames to encode so the cached segments loop seamlessly: a common multiple when it is small enough,
    else whole segments covering one loop (with at least two segments, so the segment duration is known)."""
    lcm = loop_frames * seg_frames // math.gcd(loop_frames, seg_frames)
    frames = (
        lcm if lcm <= 4 * max(loop_frames, seg_frames) else math.ceil(loop_frames / seg_frames) * seg_frames
    )
    return max(frames, 2 * seg_frames)


class VideoCache:
    """The clean video per scene and profile: memory, then disk, else encoded once and stored."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._lock = threading.Lock()  # held for encodes: one encode per entry, the others wait for it
        self._memory: dict[str, CachedVideo] = {}

    def entry(self, key: str) -> Path:
        """The entry's folder: segments, ``meta.json`` (written last) and the ``timeline`` of re-timed ones."""
        return self.root / key

    def get(
        self, loop_info: LoopInfo, profile: Profile, seg_frames: int, cancel: threading.Event, clock: Clock
    ) -> CachedVideo:
        from cinealert.broadcast.encode import encode_fmp4_video, video_options

        # The encoder's options are part of the key: a changed rate buffer or colour description re-encodes.
        options = json.dumps(video_options(profile, seg_frames), sort_keys=True)
        parts = [loop_info.scene_key, profile.video_codec, f"{profile.width}x{profile.height}", str(seg_frames),
                 profile.preset, options, VIDEO_CACHE_VERSION]  # fmt: skip
        key = hashlib.sha256("-".join(parts).encode("utf-8")).hexdigest()[:24]
        with self._lock:
            memory = self._memory.get(key)
            if memory is not None:
                return memory
            loaded = CachedVideo.load(self.entry(key), key)
            remote = remote_for(self.entry(key))
            if loaded is None and remote is not None and remote.fetch(self.entry(key), "meta.json"):
                loaded = CachedVideo.load(self.entry(key), key)  # encoded on another machine (shared cache)
            if loaded is None:
                loop = loop_info.loop
                clean = frames(loop, profile.width, profile.height, OverlayRef(None), clock)
                needed = cache_frames(loop.num_frames, seg_frames)
                track = encode_fmp4_video(clean, needed, profile, seg_frames, None, cancel)
                loaded = CachedVideo(key, track.init, track.timescale, tuple(track.segments), False)
                loaded.store(self.entry(key))
                if remote is not None:
                    remote.push(self.entry(key), "meta.json")
                log.info(
                    "video_cache_stored", key=key, scene=loop_info.scene_key, segments=len(track.segments)
                )
            self._memory[key] = CachedVideo(key, loaded.init, loaded.timescale, loaded.segments, True)
            if len(self._memory) > _KEEP:
                self._memory.pop(next(iter(self._memory)))
            return loaded


class VideoWriter:
    """Publishes re-timed cached video segments in order; the first one (with the init) made durable at once.

    Segments are published by hard link from the entry's ``timeline`` folder (``store``), written durably the
    first time any alert needs them; where linking fails (another file system) the bytes are written.
    """

    def __init__(
        self,
        out: OutputDir,
        prefix: str,
        cached: CachedVideo,
        seg_ticks: int,
        clock: Clock,
        store: Path | None = None,
    ) -> None:
        self.out, self.prefix, self.cached, self.seg_ticks, self.clock = out, prefix, cached, seg_ticks, clock
        self.store = store
        self.written = 0

    def _publish(self, name: str, cache_name: str, make: Callable[[], bytes]) -> None:
        from cinealert.broadcast.publish import atomic_write

        if self.store is not None:
            source = self.store / cache_name
            try:
                if not source.is_file():
                    atomic_write(source, make())
                try:
                    self.out.link(name, source)
                except OSError as exc:
                    if exc.errno != errno.EMLINK:
                        raise
                    atomic_write(source, make())  # the file system's link limit: a fresh inode takes over
                    self.out.link(name, source)
            except OSError as exc:
                log.info("video_link_unavailable", store=str(self.store), error=str(exc))
                self.store = None  # write the bytes from now on
            else:
                return
        self.out.write(name, make())

    def write(self, upto: int) -> None:
        from cinealert.broadcast.encode import retime

        t = time.perf_counter()
        for k in range(self.written, upto):
            if k == 0:
                self._publish(f"{self.prefix}_video_init.mp4", "init.mp4", lambda: self.cached.init)
            segment = self.cached.segments[k % len(self.cached.segments)]
            self._publish(
                f"{self.prefix}_video_{k:05d}.m4s",
                f"timeline/{k:05d}.m4s",
                functools.partial(retime, segment, k * self.seg_ticks, k + 1),
            )
            if k == 0:
                self.out.commit_dir()  # the first segment is published durably before anything else
                self.clock.segment_out()
            self.written = k + 1
        self.clock.add("publish", time.perf_counter() - t)

    def trim(self, keep: int) -> None:
        """Remove segments written beyond ``keep`` (the speech turned out shorter than speculated)."""
        for k in range(keep, self.written):
            self.out.discard(f"{self.prefix}_video_{k:05d}.m4s")
        self.written = min(self.written, keep)
