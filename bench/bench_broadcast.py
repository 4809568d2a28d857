"""Alert-to-first-segment latency at 1080p with a warm scene cache, next to a bare encode (the floor).

    .venv/bin/python bench/bench_broadcast.py [--repeat 3] [--synthetic] [--screenshots docs]

* floor      : the atsc1 profile's encoder (MPEG-2 by default, same GOP/VBV) on the loop's first segment (60 frames)
               into an in-memory MPEG-TS, frames already in memory: the least any burn-in path can take.
* burn-in    : MediaStage.render(atsc1, burn-in) — scene lookup, overlay layout, speech in parallel, overlay +
               encode of segment 0, audio mux, durable publish. Figure: result.json timings_ms.first_segment.
* rich-media : MediaStage.render(atsc3, rich-media) with the scene's video already encoded in the cache: TTS,
               audio, captions, re-timed cached video segments, MPD, AEAT. Figure: timings_ms.total.
Targets: burn-in first segment <= 1.2 x floor; rich-media complete output < 0.5 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from floor import floor_first_segment

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "bilingual_typhoon.xml"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--synthetic", action="store_true", help="moving-gradient loop instead of the scene renderer"
    )
    ap.add_argument(
        "--cache-dir", type=Path, default=None, help="scene cache (default: a temp dir, warmed first)"
    )
    ap.add_argument(
        "--screenshots", type=Path, default=None, help="also write overlay_ko.png/overlay_en.png here"
    )
    args = ap.parse_args()

    from cinealert.cap import classify, parse_alert
    from cinealert.config import parse
    from cinealert.handlers.pipeline import LoopInfo, MediaStage, default_loop_provider
    from cinealert.render.loop import Loop
    from cinealert.render.prompt import SceneBrief

    tmp = Path(tempfile.mkdtemp(prefix="bench_broadcast_"))
    cache_dir = args.cache_dir or tmp / "cache"
    settings = parse(
        {
            "broadcast": {"output_dir": str(tmp / "out")},
            "render": {"cache_dir": str(cache_dir), "resolution": "1080p", "duration_s": 4.0},
        }
    )
    alert = parse_alert(SAMPLE.read_bytes())
    classification = classify(alert)

    if args.synthetic:
        h, w = 1080, 1920
        x = np.arange(w, dtype=np.int32)[None, :]
        y = np.arange(h, dtype=np.int32)[:, None]
        synthetic = []
        for i in range(120):
            rgb = np.empty((h, w, 3), np.uint8)
            rgb[..., 0] = (x // 8 + 3 * i) % 256
            rgb[..., 1] = 40 + y * 160 // h + 0 * x
            rgb[..., 2] = (180 - x // 12 + 0 * y) % 256
            synthetic.append(rgb)
        loop = Loop.from_arrays(synthetic)

        def provider(*_a):  # type: ignore[no-untyped-def]
            return LoopInfo(loop, "bench-synthetic", True, {"scene": 0.0, "animate": 0.0})

        loop_provider = provider
    else:
        loop_provider = default_loop_provider
        t = time.perf_counter()
        from cinealert.handlers.pipeline import variant_for

        variant = variant_for(alert.key, settings.render.variants)
        warm = default_loop_provider(
            SceneBrief(classification.disaster, variant), settings, threading.Event(), None
        )
        print(f"scene cache warm-up ({classification.disaster.value}, 1080p, {warm.loop.num_frames} frames): "
              f"{(time.perf_counter() - t) * 1000:.0f} ms (not part of any figure below)")  # fmt: skip

    stage = MediaStage(settings, loop_provider=loop_provider)
    from cinealert.handlers.pipeline import variant_for

    brief = SceneBrief(classification.disaster, variant_for(alert.key, settings.render.variants))
    info = loop_provider(brief, settings, threading.Event(), None)
    first_frames = [f for _, f in zip(range(60), info.loop.frames(), strict=False)]

    floors, burns, burn_totals, riches = [], [], [], []
    stage.render(alert, classification, threading.Event(), directory=tmp / "warm-rich", mode="rich-media",
                 profiles=["atsc3"])  # fmt: skip  # encodes the scene's clean video once (cache fill)
    for r in range(args.repeat):
        floors.append(floor_first_segment(first_frames))
        started = time.perf_counter()
        pub = stage.render(alert, classification, threading.Event(), directory=tmp / f"burn{r}", mode="burn-in",
                           profiles=["atsc1"], started=started)  # fmt: skip
        burns.append(pub.timings_ms["first_segment"])
        burn_totals.append(pub.timings_ms["total"])
        pub = stage.render(alert, classification, threading.Event(), directory=tmp / f"rich{r}", mode="rich-media",
                           profiles=["atsc3"], started=time.perf_counter())  # fmt: skip
        riches.append(pub.timings_ms["total"])
        last_rich = dict(pub.timings_ms)

    floor, burn, rich = statistics.median(floors), statistics.median(burns), statistics.median(riches)
    print(
        f"loop: {info.loop.width}x{info.loop.height}, {info.loop.num_frames} frames, scene {info.scene_key[:16]}"
    )
    print(
        f"floor   bare atsc1 encode, first segment (60 frames, 1080p): {floor:8.0f} ms  (runs: {_fmt(floors)})"
    )
    print(f"burn-in alert -> first segment (atsc1, 1080p):        {burn:8.0f} ms  (runs: {_fmt(burns)})"
          f"  = {burn / floor:.2f} x floor (target <= 1.20)")  # fmt: skip
    print(f"burn-in complete clip (atsc1):                        {statistics.median(burn_totals):8.0f} ms")
    print(f"rich-media complete output (atsc3 DASH + AEAT):        {rich:8.0f} ms  (runs: {_fmt(riches)})"
          f"  (target < 500)")  # fmt: skip
    print("rich-media stages (last run): " + ", ".join(f"{k}={v:.0f}" for k, v in last_rich.items()))

    if args.screenshots is not None:
        write_screenshots(args.screenshots, alert, classification, info.loop, settings)
    return 0


def _fmt(values: list[float]) -> str:
    return ", ".join(f"{v:.0f}" for v in values)


def write_screenshots(directory: Path, alert, classification, loop, settings) -> None:  # type: ignore[no-untyped-def]
    from PIL import Image

    from cinealert.render.compose import build_overlay

    directory.mkdir(parents=True, exist_ok=True)
    frame = next(iter(loop.frames()))
    if frame.shape[:2] != (1080, 1920):
        frame = np.asarray(Image.fromarray(frame).resize((1920, 1080)))
    overlay = build_overlay(alert, classification.disaster, 1920, 1080, timezone=settings.broadcast.timezone,
                            languages=settings.broadcast.languages, page_s=0)  # fmt: skip
    for index, page in enumerate(overlay.pages):
        lang = "ko" if page.language.lower().startswith("ko") else "en"
        timed = type(overlay)(overlay.width, overlay.height, overlay.fps, overlay.pages, ((0, index),))
        Image.fromarray(timed.apply(frame, 0)).save(directory / f"overlay_{lang}.png", optimize=True)
        print(f"wrote {directory / f'overlay_{lang}.png'}")


if __name__ == "__main__":
    sys.exit(main())
