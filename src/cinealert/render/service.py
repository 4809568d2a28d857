"""The render stage's public entry point: a disaster type and a variant in, a cached, seamless ``Loop`` out.

``get_loop`` looks the loop up in the in-memory tier, then the shared disk cache, and only then builds the scene
and renders it (straight into the new cache entry's memory map, so even a 2160p loop is never held in memory
twice). One lock per key in this process stops two worker threads rendering the same loop at once; several
daemons sharing one cache directory are safe because entries are write-once (see ``cache``).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any

import structlog

from cinealert.cap.model import DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.render.backends import get_backend
from cinealert.render.cache import Codec, Entry, FrameSink, SceneCache, cache_key, lz4_available
from cinealert.render.loop import NTSC_FPS, Frame, Loop

if TYPE_CHECKING:
    from cinealert.config import Settings
    from cinealert.render.scene import Scene

log = structlog.get_logger("cinealert.render")

RESOLUTIONS: dict[str, tuple[int, int]] = {"720p": (1280, 720), "1080p": (1920, 1080), "2160p": (3840, 2160)}
SCENE_SEED = 0


@dataclass(frozen=True, slots=True)
class LoopResult:
    loop: Loop
    cache_hit: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    scene_key: str = ""


def choose_variant(alert_key_or_seed: object, n_variants: int) -> int:
    """A stable variant for an alert (``AlertKey``, string or int): same alert, same picture, in every daemon."""
    if n_variants < 1:
        raise ValueError("n_variants must be >= 1")
    digest = hashlib.sha256(str(alert_key_or_seed).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % n_variants


def num_frames(duration_s: float, fps: Fraction = NTSC_FPS) -> int:
    return max(2, round(duration_s * fps))


def _split(settings: RenderSettings | Settings) -> tuple[RenderSettings, Settings | None]:
    if isinstance(settings, RenderSettings):
        return settings, None
    return settings.render, settings


_caches: dict[tuple[str, int, int, str], SceneCache] = {}
_key_locks: dict[str, threading.Lock] = {}
_registry_lock = threading.Lock()


def frame_codec(settings: RenderSettings) -> Codec:
    """Raw memory-mapped frames (read back at ~1000+ frames/s) when the cache can hold a loop of every type
    and variant raw with room to spare (any type can arrive, prewarmed or not); else LZ4 (~6-8x smaller,
    inflated at ~200+ frames/s on one busy core at 1080p), or zlib (~9x smaller, ~80-100 frames/s) where the
    ``lz4`` package is missing."""
    width, height = RESOLUTIONS[settings.resolution]
    raw_loop = num_frames(settings.duration_s) * width * height * 3
    loops = len(DisasterType) * settings.variants
    if settings.cache_max_bytes >= 1.5 * loops * raw_loop:
        return "raw"
    return "lz4" if lz4_available() else "zlib"


def cache_for(settings: RenderSettings) -> SceneCache:
    """One ``SceneCache`` per (directory, limits) per process, so the in-memory tier is shared by workers."""
    codec = frame_codec(settings)
    ident = (str(settings.cache_dir.resolve()), settings.cache_max_bytes, settings.memory_cache_items, codec)
    with _registry_lock:
        cache = _caches.get(ident)
        if cache is None:
            cache = _caches[ident] = SceneCache(
                settings.cache_dir,
                settings.cache_max_bytes,
                settings.memory_cache_items,
                frame_codec(settings),
            )
        return cache


def _lock_for(key: str) -> threading.Lock:
    with _registry_lock:
        return _key_locks.setdefault(key, threading.Lock())


def key_fields(disaster: DisasterType, variant: int, render: RenderSettings, backend_name: str,
               backend_version: str, size: tuple[int, int] | None = None) -> dict[str, Any]:  # fmt: skip
    width, height = size or RESOLUTIONS[render.resolution]
    return {
        "backend": backend_name,
        "version": backend_version,
        "type": disaster.value,
        "variant": variant,
        "resolution": [width, height],
        "camera": render.camera,
        "amplitude": round(render.camera_amplitude, 4),
        "duration_s": round(render.duration_s, 4),
        "fps": str(NTSC_FPS),
        "seed": SCENE_SEED,
    }


def loop_from_entry(entry: Entry, fps: Fraction = NTSC_FPS) -> Loop:
    frames = entry.frames
    n, h, w = frames.shape[:3]

    def source() -> Iterator[Frame]:
        return frames.iter()  # frames of their own: the entry may be evicted while this is read

    return Loop(w, h, fps, n, source)


def get_loop(
    disaster: DisasterType,
    variant: int,
    settings: RenderSettings | Settings,
    *,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
) -> LoopResult:
    """The loop for ``(disaster, variant)`` under ``settings``; renders and caches it on a miss.

    ``size`` overrides ``settings.resolution`` (previews, tests). Raises ``RenderCancelled`` if ``cancel`` is
    set while rendering (nothing is cached then).
    """
    from cinealert.render.animate import RenderParams, render_loop

    render, full = _split(settings)
    t0 = time.perf_counter()
    backend = get_backend(render.backend, full)
    variant = variant % render.variants
    fields = key_fields(disaster, variant, render, backend.name, backend.version, size)
    key = cache_key(fields)
    cache = cache_for(render)
    timings: dict[str, float] = {}
    in_memory = cache.in_memory(key)
    entry = cache.get(key)
    if entry is not None:
        timings["lookup"] = (time.perf_counter() - t0) * 1000
        log.debug("render.cache_hit", type=disaster.value, variant=variant, key=key[:12], memory=in_memory)
        return LoopResult(loop_from_entry(entry), True, timings, key)
    with _lock_for(key):
        entry = cache.get(key)  # another thread may have rendered it while we waited
        if entry is not None:
            timings["lookup"] = (time.perf_counter() - t0) * 1000
            return LoopResult(loop_from_entry(entry), True, timings, key)
        width, height = size or RESOLUTIONS[render.resolution]
        t1 = time.perf_counter()
        scene = backend.build(disaster, variant, width, height, seed=SCENE_SEED)
        t2 = time.perf_counter()
        timings["build"] = (t2 - t1) * 1000
        n = num_frames(render.duration_s)
        params = RenderParams(render.camera, render.camera_amplitude, n)

        def fill(sink: FrameSink) -> None:
            render_loop(scene, params, out=sink, cancel=cancel)

        entry = cache.put(key, scene, (n, height, width, 3), fill, fields)
        timings["render"] = (time.perf_counter() - t2) * 1000
    log.info(
        "render.rendered", type=disaster.value, variant=variant, key=key[:12], frames=n,
        build_ms=round(timings["build"]), render_ms=round(timings["render"]),
    )  # fmt: skip
    return LoopResult(loop_from_entry(entry), False, timings, key)


def build_scene(disaster: DisasterType, variant: int, settings: RenderSettings | Settings,
                size: tuple[int, int] | None = None) -> Scene:  # fmt: skip
    """Just the scene (no loop, no cache): for previews, docs and ground truth."""
    render, full = _split(settings)
    width, height = size or RESOLUTIONS[render.resolution]
    return get_backend(render.backend, full).build(disaster, variant, width, height, seed=SCENE_SEED)


def warm_renderer(settings: RenderSettings | Settings) -> float:
    """Choose the device and, on CPU, compile or load the fused kernels: once per process, before the first
    render, so no alert pays for it. Returns the seconds it took (~1 s from the kernel cache; the first start
    on a machine compiles them, ~5 s)."""
    from cinealert.render.animate import kernels_ready
    from cinealert.render.device import get_device

    render, _ = _split(settings)
    t0 = time.perf_counter()
    if get_device(render.device).type == "cpu":
        kernels_ready()
    return time.perf_counter() - t0


def prewarm(
    settings: RenderSettings | Settings,
    types: Iterable[DisasterType | str] | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
) -> list[LoopResult]:
    """Fill the cache for every ``types`` x variant; the daemon calls this before it reports ready."""
    render, _ = _split(settings)
    warm_renderer(render)
    kinds = [DisasterType(t) for t in (types if types is not None else render.prewarm)]
    jobs = [(k, v) for k in kinds for v in range(render.variants)]
    bar: Any = None
    if progress is True:
        from tqdm import tqdm

        bar = tqdm(total=len(jobs), unit="loop", desc="prewarm")
    results = []
    try:
        for i, (kind, variant) in enumerate(jobs):
            result = get_loop(kind, variant, settings, cancel=cancel, size=size)
            results.append(result)
            label = f"{kind.value}/{variant} {'hit' if result.cache_hit else 'rendered'}"
            if bar is not None:
                bar.set_postfix_str(label)
                bar.update(1)
            elif callable(progress):
                progress(i + 1, len(jobs), label)
    finally:
        if bar is not None:
            bar.close()
    return results
