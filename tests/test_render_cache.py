"""Scene cache: round trip, atomic write-once entries, LRU eviction, concurrent writers, memory tier; get_loop."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from cinealert.cap.model import AlertKey, DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.render import choose_variant, get_loop, prewarm
from cinealert.render.cache import FRAMES, META, SceneCache, cache_key, load_scene
from cinealert.render.procedural import ProceduralBackend

W, H = 64, 36
SHAPE = (6, H, W, 3)


@pytest.fixture(scope="module")
def scene():  # type: ignore[no-untyped-def]
    return ProceduralBackend().build(DisasterType.FLOOD, 0, W, H, seed=0)


def _fill(value: int):  # type: ignore[no-untyped-def]
    def fill(sink) -> None:  # type: ignore[no-untyped-def]
        for i in range(SHAPE[0]):
            sink[i] = np.full(SHAPE[1:], (value + i) % 256, np.uint8)

    return fill


@pytest.mark.parametrize("codec", ["lz4", "zlib", "raw"])
def test_round_trip_and_key(tmp_path: Path, scene, codec: str) -> None:
    cache = SceneCache(tmp_path, 1 << 30, memory_items=0, codec=codec)  # type: ignore[arg-type]
    key = cache_key({"type": "flood", "variant": 0})
    assert key == cache_key({"variant": 0, "type": "flood"})  # canonical: order does not matter
    assert key != cache_key({"type": "flood", "variant": 1})
    assert cache.get(key) is None
    entry = cache.put(key, scene, SHAPE, _fill(10), {"type": "flood"})
    again = SceneCache(tmp_path, 1 << 30, memory_items=0).get(key)
    assert again is not None and again.meta["codec"] == codec
    expected = np.stack([np.full(SHAPE[1:], 10 + i, np.uint8) for i in range(SHAPE[0])])
    assert np.array_equal(again.frames.read_all(), expected)
    assert np.array_equal(entry.frames.read_all(), expected)
    streamed = list(again.frames.iter(workers=2))
    assert len(streamed) == SHAPE[0] and all(
        np.array_equal(f, e) for f, e in zip(streamed, expected, strict=True)
    )
    assert streamed[0].flags.c_contiguous and streamed[0].shape == SHAPE[1:]
    assert int(again.frames[3][0, 0, 0]) == 13
    loaded = again.scene()
    assert [layer.name for layer in loaded.layers] == [layer.name for layer in scene.layers]
    assert all(np.array_equal(a.rgba, b.rgba) for a, b in zip(loaded.layers, scene.layers, strict=True))
    assert all(np.array_equal(loaded.masks[k], scene.masks[k]) for k in scene.masks)
    assert np.array_equal(loaded.depth, scene.depth)
    assert not list((tmp_path / "tmp").iterdir()), "no temporary left behind"


def test_a_failed_write_leaves_nothing(tmp_path: Path, scene) -> None:
    cache = SceneCache(tmp_path, 1 << 30)
    key = cache_key({"k": "crash"})

    def crash(sink) -> None:  # type: ignore[no-untyped-def]
        sink[0] = np.ones(SHAPE[1:], np.uint8)
        raise RuntimeError("renderer died mid-way")

    with pytest.raises(RuntimeError):
        cache.put(key, scene, SHAPE, crash, {})
    assert cache.get(key) is None
    assert not cache.entry_dir(key).exists()
    assert not list((tmp_path / "tmp").iterdir())


def test_lru_eviction_keeps_recently_read(tmp_path: Path, scene) -> None:
    probe = SceneCache(tmp_path / "probe", 1 << 30)
    one = probe.put("0" * 64, scene, SHAPE, _fill(0), {})
    size = sum(f.stat().st_size for f in one.path.iterdir())
    cache = SceneCache(tmp_path / "c", int(size * 2.5), memory_items=0)
    keys = [cache_key({"i": i}) for i in range(4)]
    cache.put(keys[0], scene, SHAPE, _fill(0), {})
    time.sleep(0.02)
    cache.put(keys[1], scene, SHAPE, _fill(1), {})
    time.sleep(0.02)
    assert cache.get(keys[0]) is not None  # touch: 0 is now more recent than 1
    time.sleep(0.02)
    cache.put(keys[2], scene, SHAPE, _fill(2), {})
    assert cache.get(keys[1]) is None, "least recently used goes first"
    assert cache.get(keys[0]) is not None and cache.get(keys[2]) is not None
    assert cache.size_bytes() <= cache.max_bytes


def test_memory_tier_is_bounded(tmp_path: Path, scene) -> None:
    cache = SceneCache(tmp_path, 1 << 30, memory_items=1)
    a, b = cache_key({"m": "a"}), cache_key({"m": "b"})
    cache.put(a, scene, SHAPE, _fill(0), {})
    assert cache.in_memory(a)
    cache.put(b, scene, SHAPE, _fill(1), {})
    assert cache.in_memory(b) and not cache.in_memory(a)
    assert cache.get(a) is not None and cache.in_memory(a)  # a disk hit is promoted


def _mapped_files() -> set[str]:
    return {line.split(maxsplit=5)[5] for line in Path("/proc/self/maps").read_text().splitlines()
            if len(line.split(maxsplit=5)) == 6}  # fmt: skip


@pytest.mark.parametrize("codec", ["lz4", "raw"])
def test_memory_tier_is_bounded_in_bytes(tmp_path: Path, scene, codec: str) -> None:
    """The tier never maps more frame data than ``memory_bytes``, whatever is inserted and read; a loop bigger
    than the budget is served from disk without being mapped (its pages never count in this process's RSS)."""
    from cinealert.render.cache import frames_nbytes

    probe = SceneCache(tmp_path / "probe", 1 << 30, codec=codec)  # type: ignore[arg-type]
    size = frames_nbytes(probe.put("0" * 64, scene, SHAPE, _fill(0), {}).path, codec)
    cache = SceneCache(tmp_path / "c", 1 << 30, memory_items=64, codec=codec, memory_bytes=int(size * 2.5))  # type: ignore[arg-type]
    keys = [cache_key({"b": i}) for i in range(6)]

    def check() -> None:
        held = [k for k in keys if cache.in_memory(k)]
        assert cache.memory_used() == sum(frames_nbytes(cache.entry_dir(k), codec) for k in held)
        assert cache.memory_used() <= cache.memory_bytes and len(held) <= 2

    for i, key in enumerate(keys):
        entry = cache.put(key, scene, SHAPE, _fill(i), {})
        assert cache.in_memory(key) and entry.frames.mapped
        check()
    for key in (keys[0], keys[3], keys[0], keys[5]):  # disk hits are promoted, LRU ones dropped
        assert cache.get(key) is not None and cache.in_memory(key)
        check()

    small = SceneCache(tmp_path / "c", 1 << 30, memory_items=64, codec=codec, memory_bytes=size - 1)  # type: ignore[arg-type]
    big = small.get(keys[2])
    assert big is not None and not small.in_memory(keys[2]) and small.memory_used() == 0
    data = str(big.path / (FRAMES if codec == "raw" else "frames.lz4"))
    expected = np.stack([np.full(SHAPE[1:], (2 + i) % 256, np.uint8) for i in range(SHAPE[0])])
    assert np.array_equal(big.frames.read_all(), expected)
    assert np.array_equal(np.stack(list(big.frames.iter(workers=2))), expected)
    assert not big.frames.mapped and data not in _mapped_files()
    held = cache.get(keys[5])
    assert held is not None and held.frames.mapped
    assert str(held.path / Path(data).name) in _mapped_files()


@pytest.mark.parametrize("codec", ["lz4", "raw"])
def test_frames_may_arrive_in_any_order_but_once(tmp_path: Path, scene, codec: str) -> None:
    """The renderer's threads finish frames out of order; compressed frames are written in order as they
    become ready, raw ones at their place."""
    cache = SceneCache(tmp_path, 1 << 30, memory_items=0, codec=codec)  # type: ignore[arg-type]

    def backwards(sink) -> None:  # type: ignore[no-untyped-def]
        for i in (3, 1, 0, 5, 2, 4):
            sink[i] = np.full(SHAPE[1:], 40 + i, np.uint8)

    entry = cache.put(cache_key({"order": codec}), scene, SHAPE, backwards, {})
    assert [int(f[0, 0, 0]) for f in entry.frames.iter()] == [40, 41, 42, 43, 44, 45]

    def gap(sink) -> None:  # type: ignore[no-untyped-def]
        for i in (0, 1, 2, 4, 5):
            sink[i] = np.zeros(SHAPE[1:], np.uint8)

    with pytest.raises(RuntimeError, match="frame 3 was never rendered"):
        cache.put(cache_key({"gap": codec}), scene, SHAPE, gap, {})
    assert not list((tmp_path / "tmp").iterdir())
    if codec != "raw":  # a raw frame written twice just lands in its place again

        def twice(sink) -> None:  # type: ignore[no-untyped-def]
            sink[0] = np.zeros(SHAPE[1:], np.uint8)
            sink[0] = np.zeros(SHAPE[1:], np.uint8)

        with pytest.raises(RuntimeError, match="frame 0 was rendered twice"):
            cache.put(cache_key({"twice": codec}), scene, SHAPE, twice, {})


def test_concurrent_writers_threads(tmp_path: Path, scene) -> None:
    """Both writers finish; one entry wins; readers see the winner whole."""
    cache_a = SceneCache(tmp_path, 1 << 30, memory_items=0)
    cache_b = SceneCache(tmp_path, 1 << 30, memory_items=0)
    key = cache_key({"race": 1})
    barrier = threading.Barrier(2)
    results = {}

    def writer(name: str, cache: SceneCache, value: int) -> None:
        def fill(sink) -> None:  # type: ignore[no-untyped-def]
            barrier.wait(timeout=30)  # both are mid-write at the same moment
            _fill(value)(sink)

        results[name] = cache.put(key, scene, SHAPE, fill, {"writer": name})

    threads = [
        threading.Thread(target=writer, args=("a", cache_a, 10)),
        threading.Thread(target=writer, args=("b", cache_b, 20)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    winner = SceneCache(tmp_path, 1 << 30).get(key)
    assert winner is not None
    assert results["a"].meta["writer"] == results["b"].meta["writer"] == winner.meta["writer"]
    assert np.array_equal(results["a"].frames.read_all(), winner.frames.read_all())
    assert len(list(cache_a.entries())) == 1
    assert not list((tmp_path / "tmp").iterdir())


def test_concurrent_writers_processes(tmp_path: Path) -> None:
    """Two daemons (processes) sharing one directory, each writing the same key many times over."""
    script = textwrap.dedent(
        f"""
        import sys, numpy as np
        from cinealert.cap.model import DisasterType
        from cinealert.render.cache import SceneCache
        from cinealert.render.procedural import ProceduralBackend
        scene = ProceduralBackend().build(DisasterType.DROUGHT, 0, {W}, {H}, seed=0)
        cache = SceneCache(sys.argv[1], 1 << 30, memory_items=0)
        for i in range(8):
            def fill(sink):
                for t in range({SHAPE[0]}):
                    sink[t] = np.full({SHAPE[1:]}, int(sys.argv[2]), np.uint8)
            e = cache.put("k%d" % i + "0" * 62, scene, {SHAPE}, fill, {{"writer": sys.argv[2]}})
            assert int(e.frames[0][0, 0, 0]) == int(e.meta["writer"]), "frames and meta of one writer"
        """
    )
    procs = [subprocess.Popen([sys.executable, "-c", script, str(tmp_path), value]) for value in ("7", "9")]
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    cache = SceneCache(tmp_path, 1 << 30, memory_items=0)
    entries = cache.entries()
    assert len(entries) == 8
    for _, _, path in entries:
        entry = cache.get(path.name)
        assert entry is not None
        frames = entry.frames.read_all()
        assert frames.shape == SHAPE and len(np.unique(frames)) == 1
        assert (path / META).exists()
        load_scene(path / "scene.npz")


def test_get_loop_miss_then_hit(tmp_path: Path) -> None:
    settings = RenderSettings(cache_dir=tmp_path, duration_s=0.3, variants=2, memory_cache_items=2)
    first = get_loop(DisasterType.WILDFIRE, 3, settings, size=(96, 54))
    assert not first.cache_hit
    assert {"build", "render"} <= set(first.timings_ms)
    loop = first.loop
    assert (loop.width, loop.height, loop.num_frames) == (96, 54, 9)
    frames = list(loop.frames())
    assert frames[0].shape == (54, 96, 3) and frames[0].dtype == np.uint8 and frames[0].flags.c_contiguous
    second = get_loop(DisasterType.WILDFIRE, 1, settings, size=(96, 54))  # 3 % 2 == 1: same variant
    assert second.cache_hit and second.scene_key == first.scene_key
    assert all(np.array_equal(a, b) for a, b in zip(frames, second.loop.frames(), strict=True))
    other = get_loop(DisasterType.WILDFIRE, 1, settings.model_copy(update={"camera": "dolly"}), size=(96, 54))
    assert not other.cache_hit and other.scene_key != first.scene_key


def test_an_alert_brief_keys_only_the_backend_that_paints_from_it(tmp_path: Path) -> None:
    """The procedural backend draws ``(disaster, variant)`` alone: an alert's brief leaves its key as prewarm
    made it (a prewarmed loop still serves the alert). The ML backend writes its prompt from the brief, so the
    brief is part of its key: prewarm's bare brief and an alert's words are two entries."""
    from cinealert.config import parse
    from cinealert.render.backends import get_backend
    from cinealert.render.prompt import SceneBrief
    from cinealert.render.service import _brief, key_fields

    settings = RenderSettings(cache_dir=tmp_path, duration_s=0.3, variants=2)
    words = SceneBrief(DisasterType.FLOOD, 1, "urban", "at night", "under torrential rain", "severe")
    bare = get_loop(DisasterType.FLOOD, 1, settings, size=(64, 36))
    alerted = get_loop(DisasterType.FLOOD, 1, settings, size=(64, 36), brief=words)
    assert alerted.cache_hit and alerted.scene_key == bare.scene_key and alerted.prompt == ""
    assert bare.scene_key == cache_key(key_fields(DisasterType.FLOOD, 1, settings, "procedural",
                                                  ProceduralBackend().version, (64, 36)))  # fmt: skip
    with pytest.raises(ValueError, match="wildfire brief for a flood scene"):
        get_loop(DisasterType.FLOOD, 1, settings, size=(64, 36), brief=SceneBrief(DisasterType.WILDFIRE))

    ml = get_backend("ml", parse({"render": {"backend": "ml"}}))  # models load on the first build, not here

    def ml_key(brief: SceneBrief | None, variant: int = 1) -> str:
        briefed = _brief(ml, DisasterType.FLOOD, variant, brief)
        return cache_key(
            key_fields(DisasterType.FLOOD, variant, settings, ml.name, ml.version, None, briefed)
        )

    assert ml_key(words) != ml_key(None) == ml_key(SceneBrief(DisasterType.FLOOD, 0))  # variant from the call
    assert ml_key(words) == ml_key(words.with_variant(0)) != ml_key(words, variant=0)
    assert ml.version.startswith("4-")  # the scene generation: older prompts', masks', motion's loops retire


def test_cold_renders_wait_for_a_render_slot(tmp_path: Path) -> None:
    """With ``concurrent_renders = 1`` a second cold render waits for the slot (two at once held ~2x the memory
    for no throughput), and a cancel while it waits gives up without caching anything."""
    from cinealert.render import RenderCancelled
    from cinealert.render.service import _render_slots

    settings = RenderSettings(cache_dir=tmp_path, duration_s=0.2, concurrent_renders=1)
    slots = _render_slots(1)
    results: list[object] = []
    cancel = threading.Event()
    assert slots.acquire(timeout=30)  # a render in progress elsewhere in this process
    try:
        waiting = threading.Thread(
            target=lambda: results.append(get_loop(DisasterType.DROUGHT, 0, settings, size=(64, 36)))
        )

        def cancelled_while_waiting() -> None:
            with pytest.raises(RenderCancelled, match="waiting for a render slot"):
                get_loop(DisasterType.FLOOD, 0, settings, size=(64, 36), cancel=cancel)
            results.append("cancelled")

        cancelled = threading.Thread(target=cancelled_while_waiting)
        waiting.start()
        cancelled.start()
        time.sleep(0.5)
        cancel.set()
        cancelled.join(30)
        assert "cancelled" in results and not list(tmp_path.rglob(META)), "nothing rendered while held"
    finally:
        slots.release()
    waiting.join(60)
    loop = [r for r in results if hasattr(r, "timings_ms")]
    assert len(loop) == 1 and not loop[0].cache_hit  # type: ignore[attr-defined]
    assert loop[0].timings_ms["render_wait"] >= 500  # type: ignore[attr-defined]
    assert len(list(tmp_path.rglob(META))) == 1


def test_get_loop_cancel(tmp_path: Path) -> None:
    from cinealert.render import RenderCancelled

    cancel = threading.Event()
    cancel.set()
    settings = RenderSettings(cache_dir=tmp_path, duration_s=0.5)
    with pytest.raises(RenderCancelled):
        get_loop(DisasterType.FLOOD, 0, settings, size=(64, 36), cancel=cancel)
    assert not list(tmp_path.rglob(META))


def test_prewarm_fills_then_hits(tmp_path: Path) -> None:
    settings = RenderSettings(cache_dir=tmp_path, duration_s=0.2, variants=2)
    seen: list[str] = []
    first = prewarm(
        settings, ["drought", "other"], progress=lambda i, n, label: seen.append(label), size=(64, 36)
    )
    assert len(first) == 4 and not any(r.cache_hit for r in first)
    assert len(seen) == 4
    again = prewarm(settings, ["drought", "other"], size=(64, 36))
    assert all(r.cache_hit for r in again)


def test_choose_variant_is_stable_and_spread() -> None:
    key = AlertKey("kma@example", "KR-1", "2026-01-01T00:00:00+09:00")
    assert choose_variant(key, 3) == choose_variant(str(key), 3)
    assert 0 <= choose_variant(key, 3) < 3
    picks = {choose_variant(i, 4) for i in range(64)}
    assert picks == {0, 1, 2, 3}
    with pytest.raises(ValueError, match="n_variants"):
        choose_variant(key, 0)


def test_stale_temporaries_of_dead_writers_are_cleared(tmp_path: Path, scene) -> None:
    import os

    cache = SceneCache(tmp_path, 1 << 30)
    stale = tmp_path / "tmp" / "deadbeef.123.abcd"
    fresh = tmp_path / "tmp" / "cafe.456.ef01"
    for d in (stale, fresh):
        d.mkdir(parents=True)
        (d / FRAMES).write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    cache.put(cache_key({"s": 1}), scene, SHAPE, _fill(0), {})
    assert not stale.exists(), "a dead writer's leftovers are removed"
    assert fresh.exists(), "a live writer's temporary is left alone"


def test_scene_with_depth_maps_round_trips(tmp_path: Path, scene) -> None:
    import dataclasses

    from cinealert.render.cache import save_scene

    ramp = np.linspace(10, 50, H, dtype=np.float32)[:, None].repeat(W, axis=1)
    layers = list(scene.layers)
    layers[1] = dataclasses.replace(layers[1], depth=ramp)
    mapped = dataclasses.replace(scene, layers=tuple(layers), prompt="a flooded village, illustration")
    save_scene(mapped, tmp_path / "scene.npz")
    loaded = load_scene(tmp_path / "scene.npz")
    assert np.array_equal(loaded.layers[1].depth, ramp)
    assert loaded.layers[0].depth == scene.layers[0].depth
    assert loaded.prompt == "a flooded village, illustration"
    assert loaded.layers[-1].wrap == scene.layers[-1].wrap


def test_codec_follows_the_room_in_the_cache() -> None:
    from cinealert.render.service import frame_codec

    assert frame_codec(RenderSettings()) == "lz4"  # 8 GB cannot hold 24 raw 1080p loops
    assert frame_codec(RenderSettings(cache_max_bytes=64 * 1024**3)) == "raw"
    assert frame_codec(RenderSettings(resolution="720p", duration_s=2.0, variants=1)) == "raw"
    # an empty prewarm list does not make raw loops affordable: every type can still arrive
    assert frame_codec(RenderSettings(prewarm=[])) == "lz4"
