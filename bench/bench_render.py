"""Render figures: cold build + render of a loop, and cache-hit read-back speed.

    .venv/bin/python bench/bench_render.py                       # 1080p, 6 s loop, flood + heavy_snow
    .venv/bin/python bench/bench_render.py --types all --resolution 720p
    .venv/bin/python bench/bench_render.py --types flood --repeat 3       # medians of 3 cold renders
    .venv/bin/python bench/bench_render.py --types flood wildfire --parallax ldi   # the LDI renderer's cost

Cold = build the scene + render every frame + write the cache entry (fsync), in a fresh cache directory; "cpu"
is the process CPU time it took (on a shared host the wall time depends on the neighbours, this much less).
Hit  = a new process-level cache object (so the in-memory tier is empty) opens the entry and the loop's frames
are iterated the way the encoder will (each one a private copy, inflated by two threads ahead of the reader);
frames/s is reported. The first hit pass may read from disk; the second is from the page cache.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np

from cinealert.cap.model import DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.config.settings import Settings
from cinealert.render import service
from cinealert.render.device import cpu_budget, get_device


def compare_formats(frames: np.ndarray, root: Path) -> None:
    """Size and read-back speed of the loop storage formats on this loop (the cache picks raw, lz4 or zlib)."""
    import av

    n = len(frames)
    raw = frames.nbytes
    t0 = time.perf_counter()
    blobs = [zlib.compress(np.ascontiguousarray(f).tobytes(), 1) for f in frames]
    zc = time.perf_counter() - t0
    t0 = time.perf_counter()
    for b in blobs:
        np.frombuffer(zlib.decompress(b), dtype=np.uint8)
    zd = time.perf_counter() - t0
    print(f"  format raw .npy mmap : {raw / 1e6:8.0f} MB")
    print(
        f"  format zlib level 1  : {sum(map(len, blobs)) / 1e6:8.0f} MB, "
        f"write {n / zc:6.1f} fps, read {n / zd:6.1f} fps"
    )
    import lz4.block  # type: ignore[import-untyped]

    t0 = time.perf_counter()
    lblobs = [lz4.block.compress(np.ascontiguousarray(f).data, store_size=False) for f in frames]
    lc = time.perf_counter() - t0
    size = frames[0].nbytes
    t0 = time.perf_counter()
    for b in lblobs:
        np.frombuffer(lz4.block.decompress(b, uncompressed_size=size), dtype=np.uint8)
    ld = time.perf_counter() - t0
    print(
        f"  format lz4 block     : {sum(map(len, lblobs)) / 1e6:8.0f} MB, "
        f"write {n / lc:6.1f} fps, read {n / ld:6.1f} fps"
    )
    path = root / "lossless.mkv"
    t0 = time.perf_counter()
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height = frames.shape[2], frames.shape[1]
        stream.pix_fmt = "yuv444p"
        stream.options = {"qp": "0", "preset": "ultrafast"}
        for f in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(f), format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    xe = time.perf_counter() - t0
    t0 = time.perf_counter()
    with av.open(str(path)) as src:
        src.streams.video[0].thread_type = "AUTO"
        count = sum(1 for fr in src.decode(video=0) if fr.to_ndarray(format="rgb24") is not None)
    xd = time.perf_counter() - t0
    print(
        f"  format x264 qp0 444  : {path.stat().st_size / 1e6:8.0f} MB, "
        f"write {n / xe:6.1f} fps, read {count / xd:6.1f} fps"
    )
    path.unlink()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--types", nargs="+", default=["flood", "heavy_snow"], help="'all' or type names")
    parser.add_argument("--resolution", default="1080p", choices=["720p", "1080p", "2160p"])
    parser.add_argument("--duration", type=float, default=6.0)
    parser.add_argument("--camera", default="circular")
    parser.add_argument("--amplitude", type=float, default=1.0, help="render.camera_amplitude")
    parser.add_argument(
        "--parallax", default="bands", choices=["auto", "bands", "ldi"], help="render.parallax (the 3D step)"
    )
    parser.add_argument(
        "--backend", default="procedural", choices=["procedural", "ml"], help="render.backend"
    )
    parser.add_argument("--keep", type=Path, default=None, help="cache directory to use and keep")
    parser.add_argument(
        "--cache-gb", type=float, default=8.0, help="render.cache_max_bytes in GiB (picks the frame codec)"
    )
    parser.add_argument(
        "--formats", action="store_true", help="also compare loop storage formats (size, read fps)"
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="cold renders per type (fresh cache each); medians"
    )
    args = parser.parse_args()
    types = list(DisasterType) if args.types == ["all"] else [DisasterType(t) for t in args.types]
    root = args.keep or Path(tempfile.mkdtemp(prefix="bench-render-"))
    settings = RenderSettings(
        cache_dir=root, resolution=args.resolution, duration_s=args.duration, camera=args.camera,
        camera_amplitude=args.amplitude, parallax=args.parallax, backend=args.backend,
        cache_max_bytes=int(args.cache_gb * 1024**3),
    )  # fmt: skip
    # the ml backend builds only with the whole Settings (its [ml] section); the defaults are the stand-ins
    run_with: RenderSettings | Settings = Settings(render=settings) if args.backend == "ml" else settings
    warm_s = service.warm_renderer(settings)  # what the daemon does once at start (device, kernels)
    device = get_device(settings.device)
    codec = service.frame_codec(settings)
    print(f"renderer ready in {warm_s:.2f} s (once per process: device, fused CPU kernels from their cache)")
    print(f"device={device} cpus={cpu_budget()} load={os.getloadavg()[0]:.1f} resolution={args.resolution} "
          f"duration={args.duration}s camera={args.camera} amplitude={args.amplitude} parallax={args.parallax} "
          f"backend={args.backend} codec={codec} cache={root}")  # fmt: skip
    try:
        for kind in types:
            colds: list[float] = []
            cpus: list[float] = []
            hits: list[float] = []
            for rep in range(args.repeat):
                if rep:  # a fresh cache directory: every repeat is a cold render
                    shutil.rmtree(root, ignore_errors=True)
                service._caches.clear()
                t0, c0 = time.perf_counter(), time.process_time()
                cold = service.get_loop(kind, 0, run_with)
                cold_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
                colds.append(cold_s)
                cpus.append(cpu_s)
                n = cold.loop.num_frames
                entry = service.cache_for(settings).entry_dir(cold.scene_key)
                size = sum(f.stat().st_size for f in entry.iterdir())
                print(f"{kind.value:11s} cold: {cold_s:6.1f} s, cpu {cpu_s:5.1f} s (build "
                      f"{cold.timings_ms['build'] / 1000:.2f} s, render+write {cold.timings_ms['render'] / 1000:.1f} s"
                      f" = {cold.timings_ms['render'] / n:.0f} ms/frame) {n} frames, entry {size / 1e9:.2f} GB, "
                      f"load {os.getloadavg()[0]:.1f}")  # fmt: skip
                for attempt in ("hit (1st)", "hit (2nd)"):
                    service._caches.clear()  # empty in-memory tier: a disk hit, as after a restart
                    t1 = time.perf_counter()
                    hit = service.get_loop(kind, 0, run_with)
                    count = sum(1 for _ in hit.loop.frames())
                    dt = time.perf_counter() - t1
                    assert hit.cache_hit and count == n
                    hits.append(count / dt)
                    print(
                        f"{kind.value:11s} {attempt}: {count / dt:7.1f} frames/s ({dt:.2f} s for {count} frames)"
                    )
            if args.repeat > 1:
                print(f"{kind.value:11s} median of {args.repeat}: cold {statistics.median(colds):.1f} s "
                      f"(cpu {statistics.median(cpus):.1f} s), hit {statistics.median(hits):.0f} frames/s")  # fmt: skip
            if args.formats and kind is types[0]:
                stored = service.cache_for(settings).get(cold.scene_key)
                assert stored is not None
                compare_formats(stored.frames.read_all(), root)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
