"""Publish latency to an S3-compatible bucket next to the local disk (issue 17), on the real media stage.

The same alerts (one sample per type, fresh identifiers) are published by two ``MediaStage``s that differ only in
``[store]``: ``local`` (the default) and ``s3`` (a moto server on 127.0.0.1; uploads after the gate, media then
manifests, ``result.json`` last as a conditional create). Both read the same warm scene and video cache, so the
difference is the store. Figures: wall time of ``MediaStage.publish`` per alert (p50/max), and the bytes and
objects each output puts in the bucket. A warm-up publish per type fills the caches first (not counted).

The results are merged into ``bench/results.json`` under ``store`` (the rest of that file is ``make bench``'s).
moto keeps objects in memory on this host, so the figures are the protocol's cost (requests, hashing, copies),
not a network's: a remote bucket adds its round trips per object (``store.upload_workers`` run in parallel).

Usage: .venv/bin/python bench/bench_store.py [--runs 2] [--cache-dir .drill/cache] [--output bench/results.json]
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import REPO
from drill import BROADCAST, RENDER, S3Server
from hostile import with_fields

TYPES = ("flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake")


def stage(work: Path, cache_dir: Path, store: dict[str, Any]) -> Any:
    from cinealert.config import parse
    from cinealert.media.stage import MediaStage
    from cinealert.objstore import shared_files

    settings = parse({
        "render": {**RENDER, "cache_dir": str(cache_dir), "prewarm": list(TYPES)},
        "broadcast": {**BROADCAST, "output_dir": str(work / "out")},
        "handlers": {"dedup_state_dir": str(work / "state")},
        "store": store,
    })  # fmt: skip
    return MediaStage(settings, files=shared_files(settings))


def publish(st: Any, sample: str, ident: str) -> float:
    from cinealert.cap import classify, parse_alert

    doc = with_fields((REPO / "samples" / sample).read_bytes(), ident)
    alert = parse_alert(doc)
    t0 = time.perf_counter()
    st.publish(alert, classify(alert), threading.Event())
    return (time.perf_counter() - t0) * 1000


def dist(samples: list[float]) -> dict[str, Any]:
    return {"n": len(samples), "p50_ms": round(statistics.median(samples), 1), "max_ms": round(max(samples), 1),
            "samples_ms": [round(s, 1) for s in samples]}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--runs", type=int, default=2, help="publishes per type and store")
    ap.add_argument("--cache-dir", type=Path, default=REPO / ".drill" / "cache")
    ap.add_argument("--output", type=Path, default=REPO / "bench" / "results.json")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-store-"))
    s3 = S3Server(work / "moto.log").start()
    try:
        import boto3

        client = boto3.client("s3", endpoint_url=s3.endpoint, aws_access_key_id="x", aws_secret_access_key="x",
                              region_name="us-east-1")  # fmt: skip
        client.create_bucket(Bucket="bench")
        remote = {"kind": "s3", "endpoint_url": s3.endpoint, "bucket": "bench", "prefix": "bench/",
                  "access_key_id": "x", "secret_access_key": "x", "share_scene_cache": False}  # fmt: skip
        stages = {
            "local": stage(work / "local", args.cache_dir, {}),
            "s3": stage(work / "s3", args.cache_dir, remote),
        }
        t0 = time.perf_counter()
        for kind in TYPES:  # warm-up: scene loops and clean video into the (shared) cache
            publish(stages["local"], f"en_{kind}.xml", f"WARM-{kind}")
        warm_s = time.perf_counter() - t0
        times: dict[str, list[float]] = {"local": [], "s3": []}
        for run in range(args.runs):
            for kind in TYPES:
                for name, st in stages.items():  # interleaved, so load on the machine hits both alike
                    times[name].append(publish(st, f"en_{kind}.xml", f"B-{run}-{kind}"))
        pages = client.get_paginator("list_objects_v2").paginate(Bucket="bench", Prefix="bench/out/")
        contents = [o for page in pages for o in page.get("Contents", [])]
        outputs = len(TYPES) * args.runs
    finally:
        s3.stop()
        shutil.rmtree(work, ignore_errors=True)
    local, remote_ms = dist(times["local"]), dist(times["s3"])
    figures = {
        "what": "MediaStage.publish wall time per alert, rich-media atsc3 720p, warm caches, same alerts; "
        "s3 = moto_server on 127.0.0.1 (in memory)",
        "local": local,
        "s3": remote_ms,
        "s3_minus_local_p50_ms": round(remote_ms["p50_ms"] - local["p50_ms"], 1),
        "objects_per_output": round(len(contents) / outputs, 1),
        "bytes_per_output": round(sum(o["Size"] for o in contents) / outputs),
        "warm_up_s": round(warm_s, 1),
        "command": "make drill (fills .drill/cache) then .venv/bin/python bench/bench_store.py",
    }
    doc = json.loads(args.output.read_text()) if args.output.is_file() else {}
    doc["store"] = figures
    args.output.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(json.dumps({k: v for k, v in figures.items() if k not in ("local", "s3")}, indent=1))
    print(f"local p50 {local['p50_ms']} ms (max {local['max_ms']}), s3 p50 {remote_ms['p50_ms']} ms "
          f"(max {remote_ms['max_ms']}); merged into {args.output}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
