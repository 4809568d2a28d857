"""The render stage's public entry point: a disaster type and a variant in, a cached, seamless ``Loop`` out.

``get_loop`` looks the loop up in the in-memory tier, then the shared disk cache, and only then builds the scene
and renders it (straight into the new cache entry's files, frame by frame, so a loop is never held in memory
whole). One lock per key in this process stops two worker threads rendering the same loop at once; several
daemons sharing one cache directory are safe because entries are write-once (see ``cache``).

Memory (the P1 demo finding: 4.5 GB peak RSS at 1080p, 14 cold loops at ``handlers.concurrency = 2``): a cold
render holds the scene and the animator's float32 textures, 0.7-1.4 GB over the process's base at 1080p (heavy
snow's three tiled particle sheets are the most). Two at once on the worker threads were two of those at once
(2.0-2.5 GB, measured), for no gain in throughput: each render already uses every CPU it may. So cold renders
take one of ``render.concurrent_renders`` slots (default 1); an alert whose loop is cached never waits for one.
And glibc keeps what a render freed: its 8-40 MB temporaries land in per-thread heaps that it cannot give back
while anything newer sits above them (~0.3 GB after a scene build, ~0.4 GB after a render, measured), so the
heaps are trimmed (``malloc_trim``, a few ms) after the build, after the render, and after every pass a reader
makes over a loop (an encoder inflating 6 MB frames kept ~0.45 GB it had freed).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING, Any, cast

import structlog

from cinealert.cap.model import DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.objstore import remote_for
from cinealert.render.backends import BriefedBackend, SceneBackend, get_backend
from cinealert.render.cache import Codec, Entry, FrameSink, SceneCache, cache_key, lz4_available
from cinealert.render.loop import NTSC_FPS, Frame, Loop
from cinealert.render.loop import RESOLUTIONS as RESOLUTIONS  # defined in loop; re-exported from its old home
from cinealert.render.prompt import SceneBrief

if TYPE_CHECKING:
    from cinealert.config import Settings
    from cinealert.render.scene import Scene

log = structlog.get_logger("cinealert.render")

SCENE_SEED = 0
#: the animator's generation, part of every cache key: bump when the same scene and settings animate into other
#: frames (2: the loop blended by symmetric splatting instead of the crossfade; 3: the splat's weights spread over
#: 5 cells; 4: the LDI of a depth map with no edge drawn by a backward warp, within ~0.1 level of the splat, and
#: the fluid kernel's flow fields lerped per row first, within 0.05 of a level before rounding), so no old loop
#: is served
ANIMATOR_VERSION = "4-warp"


@dataclass(frozen=True, slots=True)
class LoopResult:
    loop: Loop
    cache_hit: bool
    timings_ms: dict[str, float] = field(default_factory=dict)
    scene_key: str = ""
    #: what painted the scene: ``{"backend": "ml", "prompt": "llm", "image": "diffusion", ...}`` or
    #: ``{"backend": "procedural"}``; an operator reads in result.json whether the models or stand-ins aired
    painted_by: Mapping[str, str] = field(default_factory=dict)
    #: the text-to-image prompt the scene was painted from (the ML backend's; empty for the procedural one)
    prompt: str = ""


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


_caches: dict[tuple[str, int, int, int, str], SceneCache] = {}
_key_locks: dict[str, threading.Lock] = {}
_slots: dict[int, threading.Semaphore] = {}
_registry_lock = threading.Lock()


def frame_codec(settings: RenderSettings) -> Codec:
    """Raw memory-mapped frames (read back at ~1000+ frames/s) when the cache can hold a loop of every type
    and variant raw with room to spare (any type can arrive, prewarmed or not); else LZ4 (~6-8x smaller,
    inflated at ~200+ frames/s on one busy core at 1080p), or zlib (~9x smaller, ~80-100 frames/s) where the
    ``lz4`` package is missing. A cache shared through a bucket (``[store]``) keeps LZ4: another machine fetches
    ~7x fewer bytes (a 6 s 720p loop: ~500 MB raw)."""
    width, height = RESOLUTIONS[settings.resolution]
    raw_loop = num_frames(settings.duration_s) * width * height * 3
    loops = len(DisasterType) * settings.variants
    if settings.cache_max_bytes >= 1.5 * loops * raw_loop and remote_for(settings.cache_dir) is None:
        return "raw"
    return "lz4" if lz4_available() else "zlib"


def cache_for(settings: RenderSettings) -> SceneCache:
    """One ``SceneCache`` per (directory, limits) per process, so the in-memory tier is shared by workers."""
    codec = frame_codec(settings)
    ident = (
        str(settings.cache_dir.resolve()),
        settings.cache_max_bytes,
        settings.memory_cache_items,
        settings.memory_cache_bytes,
        codec,
    )
    with _registry_lock:
        cache = _caches.get(ident)
        if cache is None:
            cache = _caches[ident] = SceneCache(
                settings.cache_dir,
                settings.cache_max_bytes,
                settings.memory_cache_items,
                codec,
                memory_bytes=settings.memory_cache_bytes,
            )
        return cache


def _render_slots(count: int) -> threading.Semaphore:
    """The process's cold-render slots (one semaphore per configured count, so every worker shares it)."""
    with _registry_lock:
        return _slots.setdefault(count, threading.Semaphore(count))


@contextmanager
def _render_slot(render: RenderSettings, cancel: threading.Event | None) -> Iterator[None]:
    """Wait for a cold-render slot; gives up with ``RenderCancelled`` if ``cancel`` is set meanwhile."""
    from cinealert.render.animate import RenderCancelled

    slots = _render_slots(render.concurrent_renders)
    while not slots.acquire(timeout=0.1):
        if cancel is not None and cancel.is_set():
            raise RenderCancelled("render cancelled while waiting for a render slot")
    try:
        yield
    finally:
        slots.release()


def _load_malloc_trim() -> Callable[[int], int] | None:
    name = ctypes.util.find_library("c")
    try:
        fn = ctypes.CDLL(name).malloc_trim if name else None
    except (OSError, AttributeError):  # not glibc (musl, macOS): nothing to trim
        return None
    if fn is None:
        return None
    fn.argtypes = [ctypes.c_size_t]
    fn.restype = ctypes.c_int
    return cast("Callable[[int], int]", fn)


_malloc_trim = _load_malloc_trim()


def release_freed_memory() -> None:
    """Give the heap memory a render freed back to the system (glibc ``malloc_trim``; a no-op elsewhere).

    Big arrays freed by worker threads stay in glibc's per-thread heaps, and it returns a heap's memory only from
    the top: without this the process keeps ~0.4 GB more after every 1080p render (measured: 674 -> 203 MB
    anonymous after two renders), which then stacks up under the next render's peak. It costs a few ms.
    """
    if _malloc_trim is not None:
        _malloc_trim(0)


def _lock_for(key: str) -> threading.Lock:
    with _registry_lock:
        return _key_locks.setdefault(key, threading.Lock())


def key_fields(disaster: DisasterType, variant: int, render: RenderSettings, backend_name: str,
               backend_version: str, size: tuple[int, int] | None = None,
               brief: SceneBrief | None = None) -> dict[str, Any]:  # fmt: skip
    """The cache key's fields; ``brief`` (the alert's words) only for a backend that paints from it."""
    width, height = size or RESOLUTIONS[render.resolution]
    extra = {"brief": brief.key()} if brief is not None else {}
    return {
        "backend": backend_name,
        "version": backend_version,
        "type": disaster.value,
        "variant": variant,
        "resolution": [width, height],
        "camera": render.camera,
        "parallax": render.parallax,  # "auto" resolves from the backend's scene, which the key names too
        "amplitude": round(render.camera_amplitude, 4),
        "duration_s": round(render.duration_s, 4),
        "fps": str(NTSC_FPS),
        "seed": SCENE_SEED,
        "animator": ANIMATOR_VERSION,
        **extra,
    }


def painted_by(entry: Entry) -> dict[str, str]:
    """The backend and its stages (``Scene.meta``) as recorded with the cached loop."""
    stages = entry.meta.get("stages") or {}
    return {"backend": str(entry.meta.get("backend", "")), **{str(k): str(v) for k, v in stages.items()}}


def _result(entry: Entry, hit: bool, timings: dict[str, float], key: str) -> LoopResult:
    prompt = entry.meta.get("prompt")
    return LoopResult(loop_from_entry(entry), hit, timings, key, painted_by(entry), str(prompt or ""))


def loop_from_entry(entry: Entry, fps: Fraction = NTSC_FPS) -> Loop:
    frames = entry.frames
    n, h, w = frames.shape[:3]

    def source() -> Iterator[Frame]:
        try:
            yield from frames.iter()  # frames of their own: the entry may be evicted while this is read
        finally:
            # a pass (or an encode that stopped reading) has freed the frames it inflated and what its consumer
            # made of them; trimmed, a daemon serving two burn-in encodes held 0.76 GB anonymous, not 1.22 GB
            release_freed_memory()

    return Loop(w, h, fps, n, source)


def get_loop(
    disaster: DisasterType,
    variant: int,
    settings: RenderSettings | Settings,
    *,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
    brief: SceneBrief | None = None,
) -> LoopResult:
    """The loop for ``(disaster, variant)`` under ``settings``; renders and caches it on a miss.

    ``size`` overrides ``settings.resolution`` (previews, tests). ``brief`` is the alert's words for the scene
    (``render.present``; of this disaster, any variant): a backend that paints from it (the ML one) gets it and
    keys the loop on it, any other ignores it. Raises ``RenderCancelled`` if ``cancel`` is set while rendering
    (nothing is cached then). ``[render]`` alone serves the procedural backend; the ML backend needs the whole
    ``Settings`` (``BackendError`` otherwise).
    """
    render, full = _split(settings)
    t0 = time.perf_counter()
    backend = get_backend(render.backend, full)
    variant = variant % render.variants
    briefed = _brief(backend, disaster, variant, brief)
    fields = key_fields(disaster, variant, render, backend.name, backend.version, size, briefed)
    key = cache_key(fields)
    cache = cache_for(render)
    timings: dict[str, float] = {}
    in_memory = cache.in_memory(key)
    entry = cache.get(key)
    if entry is not None:
        timings["lookup"] = (time.perf_counter() - t0) * 1000
        log.debug("render.cache_hit", type=disaster.value, variant=variant, key=key[:12], memory=in_memory)
        return _result(entry, True, timings, key)
    with _lock_for(key):
        entry = cache.get(key)  # another thread may have rendered it while we waited
        if entry is not None:
            timings["lookup"] = (time.perf_counter() - t0) * 1000
            return _result(entry, True, timings, key)
        width, height = size or RESOLUTIONS[render.resolution]
        t_wait = time.perf_counter()
        with _render_slot(render, cancel):
            waited = time.perf_counter() - t_wait
            entry = cache.get(key)  # another daemon sharing the cache may have rendered it meanwhile
            if entry is not None:
                timings["lookup"] = (time.perf_counter() - t0) * 1000
                return _result(entry, True, timings, key)
            if waited >= 0.01:
                timings["render_wait"] = waited * 1000
            try:
                brief = briefed or SceneBrief(disaster, variant)
                entry, n = _render(
                    cache, key, fields, backend, brief, render, (width, height), cancel, timings
                )
            finally:
                release_freed_memory()  # the scene and the animator are gone with _render's frame
    log.info(
        "render.rendered", type=disaster.value, variant=variant, key=key[:12], frames=n,
        build_ms=round(timings["build"]), render_ms=round(timings["render"]),
        slot_wait_ms=round(timings.get("render_wait", 0.0)),
    )  # fmt: skip
    return _result(entry, False, timings, key)


def _brief(backend: SceneBackend, disaster: DisasterType, variant: int,
           brief: SceneBrief | None) -> SceneBrief | None:  # fmt: skip
    """The brief a ``BriefedBackend`` paints ``(disaster, variant)`` from (none for any other backend)."""
    if brief is not None and brief.disaster != disaster:
        raise ValueError(f"a {brief.disaster.value} brief for a {disaster.value} scene")
    if not isinstance(backend, BriefedBackend):
        return None
    return (brief or SceneBrief(disaster)).with_variant(variant)


def _build(backend: SceneBackend, brief: SceneBrief, width: int, height: int) -> Scene:
    if isinstance(backend, BriefedBackend):
        return backend.build_brief(brief, width, height, seed=SCENE_SEED)
    return backend.build(brief.disaster, brief.variant, width, height, seed=SCENE_SEED)


def _render(
    cache: SceneCache,
    key: str,
    fields: dict[str, Any],
    backend: SceneBackend,
    brief: SceneBrief,
    render: RenderSettings,
    size: tuple[int, int],
    cancel: threading.Event | None,
    timings: dict[str, float],
) -> tuple[Entry, int]:
    """Build the scene, render its loop into a new cache entry; returns the entry and its frame count."""
    from cinealert.render.animate import RenderParams, render_loop

    width, height = size
    t1 = time.perf_counter()
    scene = _build(backend, brief, width, height)
    # the build's temporaries are freed but kept by malloc under the scene: ~0.3 GB at 1080p that would sit
    # under the animator's textures, the render's peak (measured: 691 -> 362 MB anonymous after the trim)
    release_freed_memory()
    t2 = time.perf_counter()
    timings["build"] = (t2 - t1) * 1000
    n = num_frames(render.duration_s)
    params = RenderParams(render.camera, render.camera_amplitude, n)

    def fill(sink: FrameSink) -> None:
        render_loop(scene, params, out=sink, cancel=cancel, parallax=render.parallax,
                    inpainter=getattr(backend, "inpainter", None))  # fmt: skip

    meta = {**fields, "stages": dict(scene.meta), **({"prompt": scene.prompt} if scene.prompt else {})}
    entry = cache.put(key, scene, (n, height, width, 3), fill, meta)
    timings["render"] = (time.perf_counter() - t2) * 1000
    return entry, n


def build_scene(disaster: DisasterType, variant: int, settings: RenderSettings | Settings,
                size: tuple[int, int] | None = None, brief: SceneBrief | None = None) -> Scene:  # fmt: skip
    """Just the scene (no loop, no cache): for previews, docs and ground truth; ``brief`` as for ``get_loop``."""
    render, full = _split(settings)
    width, height = size or RESOLUTIONS[render.resolution]
    backend = get_backend(render.backend, full)
    briefed = _brief(backend, disaster, variant, brief)
    return _build(backend, briefed or SceneBrief(disaster, variant), width, height)


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
        if render.parallax != "bands":  # the LDI splat's kernels too (render.ldi.kernels)
            from cinealert.render.ldi.animator import ldi_kernels_ready

            ldi_kernels_ready()
    return time.perf_counter() - t0


def prewarm(
    settings: RenderSettings | Settings,
    types: Iterable[DisasterType | str] | None = None,
    progress: bool | Callable[[int, int, str], None] = False,
    cancel: threading.Event | None = None,
    size: tuple[int, int] | None = None,
) -> list[LoopResult]:
    """Fill the cache for every ``types`` x variant; the daemon calls this before it reports ready.

    The briefs carry no alert words: an ML backend's loop for an alert that names a setting, a part of the day,
    weather or a severity is another entry, rendered cold on that alert (the procedural loops serve every alert).
    """
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
