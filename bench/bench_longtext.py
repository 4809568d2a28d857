"""A 625 KB alert (the P1 safety case) rendered burn-in at 1080p through ``cinealert render``: wall time, peak RSS.

    .venv/bin/python bench/bench_longtext.py                  # cold + warm scene cache, every variant, baseline
    .venv/bin/python bench/bench_longtext.py --no-cold        # warm figures only (cache built untimed first)
    .venv/bin/python bench/bench_longtext.py --keep           # keep the work dir (alerts, outputs, cache)

The alert is ``samples/en_flood.xml`` with its headline (~300 KB) and instruction (~325 KB) replaced, still under
the 1 MiB message limit: ``mixed`` is realistic alert prose (varied words, punctuation, times, numbers),
``one-word`` is a single giant word each (no space to break at), ``ko-mixed`` is ``samples/ko_flood.xml`` with
Korean prose of the same size (Korean speech is slower per cell, so its bounded clip is the longest). Before
text bounding and the tiled crawl such an alert took 31 s and 7.1 GB for the overlay alone, and a burn-in render
6.7 GB. ``baseline`` is the unmodified English sample, for scale: the clip lasts as long as its speech, and the
bounded speech of the giant alert is about as long as a normal long alert's, so its render should cost about
the same.

Each run is ``cinealert render FILE --out DIR --mode burn-in --profile atsc1 --resolution 1080p --config CFG`` in
a child process (the real path: parse, classify, scene, TTS, overlay, x264, segments, durable publish), the
config pointing the scene cache at the bench's own directory with one variant. ``cold`` is the first render on
an empty scene cache (it builds the flood scene: ~10-20 s of it); ``warm`` renders again on that cache.
Figures: wall time from spawn to exit; peak RSS = the child's VmHWM (polled from /proc/<pid>/status every 20 ms,
its own address space since exec), with ``ru_maxrss`` from wait4 beside it (largest of the child and anything
it waited for, e.g. espeak-ng). Targets: wall < 30 s, peak RSS < 1.5 GB, for the giant alert with a warm cache.

Wall time is CPU-bound (x264 of the whole clip): run it on an otherwise idle machine, or read the load average
printed with the figures (``loadavg`` in bench/longtext.json) before comparing runs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "en_flood.xml"
SAMPLE_KO = ROOT / "samples" / "ko_flood.xml"
OUT_JSON = ROOT / "bench" / "longtext.json"
TARGET_WALL_S = 30.0
TARGET_RSS_MB = 1536.0
HEADLINE_BYTES = 300_000
INSTRUCTION_BYTES = 325_000

_VOCAB_TEXT = (
    "flash flood warning issued for central montgomery county until evening move to higher ground now "
    "do not drive through flooded roadways turn around creeks and streams are rising rapidly residents near "
    "rock creek sligo creek and the anacostia should evacuate immediately shelters are open at the following "
    "schools and community centers bring medications documents and pets listen to local radio and television "
    "for updates from emergency officials avoid underpasses basements and low water crossings power lines may "
    "be down stay away from fast moving water six inches can knock you down two feet can sweep a vehicle away "
    "call 911 only for life threatening emergencies check on elderly neighbors if it is safe to do so"
)
_VOCAB = _VOCAB_TEXT.split(" ")
_VOCAB_KO_TEXT = (
    "하천 주변 산책로 이용을 자제하고 침수 우려 지역 주민은 즉시 높은 곳으로 대피하시기 바랍니다 지하차도와 "
    "지하 주차장 진입을 삼가십시오 중랑천 수위가 급격히 상승하고 있으며 시간당 50mm 이상의 매우 강한 비가 "
    "내리고 있습니다 대피소는 인근 학교와 주민센터에 마련되어 있습니다 라디오와 재난 문자를 확인하십시오"
)
_VOCAB_KO = _VOCAB_KO_TEXT.split(" ")


def prose(n_bytes: int, seed: int, korean: bool = False) -> str:
    """Alert-like sentences of varied words, with times, numbers and punctuation, ``n_bytes`` of UTF-8 long."""
    rng = random.Random(seed)
    vocab = _VOCAB_KO if korean else _VOCAB
    out: list[str] = []
    size = 0
    while size < n_bytes:
        words = [rng.choice(vocab) for _ in range(rng.randint(6, 18))]
        if rng.random() < 0.3:
            words.insert(
                rng.randrange(len(words)), f"{rng.randint(1, 12)}:{rng.choice(('00', '15', '30', '45'))}PM"
            )
        if rng.random() < 0.2:
            words.insert(rng.randrange(len(words)), f"Route {rng.randint(1, 495)},")
        sentence = " ".join(words)
        sentence = sentence[0].upper() + sentence[1:] + rng.choice((".", ".", ".", "!", ";"))
        out.append(sentence)
        size += len(sentence.encode()) + 1
    return " ".join(out)


def alert_xml(headline: str, instruction: str, template: Path = SAMPLE) -> bytes:
    """A sample alert with its headline and instruction replaced (everything else kept valid)."""
    text = template.read_text(encoding="utf-8")
    for tag, value in (("headline", headline), ("instruction", instruction)):
        element = f"<{tag}>{escape(value)}</{tag}>"
        text = re.sub(rf"<{tag}>.*?</{tag}>", lambda _m, e=element: e, text, count=1, flags=re.S)
    return text.encode("utf-8")


def _vmhwm_kb(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def render(alert: Path, out: Path, config: Path) -> dict[str, Any]:
    """One ``cinealert render`` child: wall time, VmHWM (polled), wait4's ru_maxrss, its JSON line, the clip."""
    cmd = [
        str(ROOT / ".venv" / "bin" / "cinealert"),
        "render",
        str(alert),
        "--out",
        str(out),
        "--mode",
        "burn-in",
        "--profile",
        "atsc1",
        "--resolution",
        "1080p",
        "--config",
        str(config),
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEALERT_")}
    load_before = os.getloadavg()
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak_kb = 0
    done = threading.Event()

    def poll() -> None:
        nonlocal peak_kb
        while not done.is_set():
            kb = _vmhwm_kb(proc.pid)
            if kb is not None:
                peak_kb = max(peak_kb, kb)
            done.wait(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    # Read the pipes while it runs (a full pipe would stall it), then reap it with wait4 for its rusage. An
    # exited child has no VmHWM any more: the last poll is at most 20 ms before exit, and ru_maxrss (the same
    # high-water mark, kept by the kernel) covers the rest.
    chunks: dict[str, bytes] = {}

    def drain(name: str, pipe: IO[bytes]) -> None:
        chunks[name] = pipe.read()

    assert proc.stdout is not None and proc.stderr is not None
    readers = [
        threading.Thread(target=drain, args=("out", proc.stdout), daemon=True),
        threading.Thread(target=drain, args=("err", proc.stderr), daemon=True),
    ]
    for r in readers:
        r.start()
    for r in readers:
        r.join()
    _pid, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    done.set()
    poller.join()
    stdout = chunks.get("out", b"").decode("utf-8", "replace")
    stderr = chunks.get("err", b"").decode("utf-8", "replace")
    row: dict[str, Any] = {
        "rc": proc.returncode,
        "wall_s": round(wall, 2),
        "peak_rss_mb": round(peak_kb / 1024, 1),
        "ru_maxrss_mb": round(usage.ru_maxrss / 1024, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 1),
        "loadavg": [round(x, 2) for x in (*load_before[:1], *os.getloadavg()[:1])],
        "command": " ".join(cmd),
    }
    if proc.returncode != 0:
        row["error"] = stderr.strip()[-2000:]
        return row
    result = json.loads(stdout.strip().splitlines()[-1])
    row["timings_ms"] = result.get("timings_ms", {})
    doc = json.loads((out / "result.json").read_text())
    row["clip_s"] = doc.get("duration_s")
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--no-cold", action="store_true", help="skip the cold-cache figure (build the cache untimed)"
    )
    ap.add_argument("--no-baseline", action="store_true", help="skip the unmodified sample")
    ap.add_argument("--keep", action="store_true", help="keep the work directory")
    ap.add_argument("--out", type=Path, default=OUT_JSON)
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_longtext_"))
    cache = work / "cache"
    config = work / "cinealert.toml"
    config.write_text(f'[render]\ncache_dir = "{cache}"\nvariants = 1\n', encoding="utf-8")
    variants = {
        "mixed": alert_xml(prose(HEADLINE_BYTES, 1), prose(INSTRUCTION_BYTES, 2)),
        "one-word": alert_xml("W" * HEADLINE_BYTES, "i" * INSTRUCTION_BYTES),
        "ko-mixed": alert_xml(prose(HEADLINE_BYTES, 3, True), prose(INSTRUCTION_BYTES, 4, True), SAMPLE_KO),
    }
    files: dict[str, Path] = {}
    for name, data in variants.items():
        files[name] = work / f"{name}.xml"
        files[name].write_bytes(data)
    if not args.no_baseline:
        files["baseline"] = SAMPLE

    plan: list[tuple[str, str]] = []
    if args.no_cold:
        print("building the scene cache (untimed) ...", flush=True)
        warmup = render(files["mixed"], work / "out-warmup", config)
        if warmup["rc"] != 0:
            print(f"warm-up render failed: {warmup.get('error')}", file=sys.stderr)
            return 1
    else:
        plan.append(("mixed", "cold"))
    plan += [("mixed", "warm"), ("one-word", "warm"), ("ko-mixed", "warm")]
    if not args.no_baseline:
        plan.append(("baseline", "warm"))

    rows: list[dict[str, Any]] = []
    for name, state in plan:
        print(f"render {name} ({state} scene cache) ...", flush=True)
        row = render(files[name], work / f"out-{name}-{state}", config)
        row.update(
            variant=name,
            cache=state,
            alert_bytes=files[name].stat().st_size,
            text_bytes=None
            if name == "baseline"
            else len(files[name].read_bytes()) - len(SAMPLE.read_bytes()),
        )
        if name != "baseline" and state == "warm" and row["rc"] == 0:
            row["meets_targets"] = row["wall_s"] < TARGET_WALL_S and row["peak_rss_mb"] < TARGET_RSS_MB
        rows.append(row)

    print()
    head = f"{'variant':<10} {'cache':<5} {'alert KB':>8} {'clip s':>6} {'wall s':>7} {'cpu s':>6} "
    head += f"{'VmHWM MB':>9} {'maxrss MB':>9} {'load':>11}  targets"
    print(head)
    print("-" * len(head))
    for r in rows:
        if r["rc"] != 0:
            print(f"{r['variant']:<10} {r['cache']:<5} FAILED rc={r['rc']}: {r.get('error', '')[-300:]}")
            continue
        met = r.get("meets_targets")
        verdict = "-" if met is None else "ok" if met else "MISSED"
        load = "{:.1f}->{:.1f}".format(*r["loadavg"])
        print(
            f"{r['variant']:<10} {r['cache']:<5} {r['alert_bytes'] / 1000:>8.0f} {r['clip_s'] or 0:>6.1f} "
            f"{r['wall_s']:>7.1f} {r['cpu_s']:>6.1f} {r['peak_rss_mb']:>9.0f} {r['ru_maxrss_mb']:>9.0f} "
            f"{load:>11}  {verdict}"
        )
    print(
        f"\ntargets (giant alert, warm cache): wall < {TARGET_WALL_S:.0f} s, peak RSS < {TARGET_RSS_MB:.0f} MB"
    )
    doc = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "machine": {
            "cpus": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "targets": {"wall_s": TARGET_WALL_S, "peak_rss_mb": TARGET_RSS_MB},
        "runs": rows,
    }
    args.out.write_text(json.dumps(doc, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")
    if args.keep:
        print(f"kept {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    return 0 if all(r["rc"] == 0 for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
