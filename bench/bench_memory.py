"""Peak memory of `cinealert demo` and of a daemon working through samples/, from a cold scene cache.

Why this exists: on a fresh clone `cinealert demo` peaked at 4.5 GB RSS (issue P1). The target is **< 2 GB
peak RSS** for both: the demo (embedded broker + daemon + every sample, `python -m cinealert.cli demo`) and a
daemon run with the shipped defaults (`python -m cinealert.cli run`: 1080p, 3 variants, all 8 types prewarmed
before ready, burn-in atsc1, `handlers.concurrency = 2`) that then handles every sample.

Both run as subprocesses in a fresh work directory (scene cache, outputs, dedup state), so every scene is
rendered cold. A sampler thread reads /proc every 0.2 s for the process and its descendants (the tansu broker,
espeak-ng): VmHWM (the kernel's high-water mark, so a peak between two samples is not missed), and RssAnon /
RssFile at the highest VmRSS seen, which tells allocations apart from mapped files; the tree figure sums VmRSS
over the process and its descendants at one sample (a child forked but not yet exec'd shares the parent's pages
and is left out). getrusage(RUSAGE_CHILDREN) ru_maxrss after each run is the kernel's own cross-check (the largest
single descendant so far).

```
.venv/bin/python bench/bench_memory.py            # ~7-15 min on 2 cores (both cold: demo, then daemon)
.venv/bin/python bench/bench_memory.py --quick    # 720p, 2 s loops, 1 variant: minutes; NOT the target
.venv/bin/python bench/bench_memory.py --only demo --keep
```

Writes ``bench/memory.json`` (``--out``) and prints a table. Exit 1 if a target is missed. Run it alone if you
can: wall times move with whatever else uses the CPU (memory hardly does, except that slower renders overlap
more with encodes).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from common import (
    REPO,
    DaemonProcess,
    clean_env,
    produce,
    read_events,
    write_config,
)

TARGET_MB = 2048.0
ALERTS, MEDIA, DEAD = "cap.alerts", "cap.media", "cap.dead"
QUICK_RENDER = {"resolution": "720p", "duration_s": 2.0, "variants": 1}


def _status(pid: int) -> dict[str, int]:
    """The kB fields of /proc/PID/status we need; empty once the process is gone."""
    out: dict[str, int] = {}
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return out
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile", "RssShmem"):
            out[key] = int(value.split()[0])
    return out


def _descendants(root: int) -> list[int]:
    """``root`` and every process below it (from the ppid field of /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo += children.get(pid, [])
    return out


def _exe(pid: int) -> str:
    try:
        return str(Path(f"/proc/{pid}/exe").readlink())
    except OSError:
        return "?"


def _name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


@dataclass
class TreeSampler:
    """Peak memory of a process tree, sampled from /proc (MiB)."""

    root: int
    interval_s: float = 0.2
    hwm_mb: float = 0.0  # the root's VmHWM
    at_peak: dict[str, float] = field(default_factory=dict)  # the root's RssAnon/RssFile at its highest VmRSS
    tree_peak_mb: float = 0.0  # the highest sum of VmRSS over the tree at one sample
    others: dict[str, float] = field(default_factory=dict)  # descendant name -> highest VmHWM
    timeline: list[tuple[float, float, float]] = field(default_factory=list)  # (s, anon MiB, file MiB), root

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._t0 = time.monotonic()
        self._thread = threading.Thread(target=self._run, daemon=True, name="rss-sampler")
        self._thread.start()

    def _run(self) -> None:
        best_rss = 0
        next_mark = 0.0
        image = _exe(self.root)
        while not self._stop.is_set():
            tree_kb = 0
            for pid in _descendants(self.root):
                if pid != self.root and _exe(pid) == image:
                    continue  # forked, not yet exec'd (a subprocess starting): its pages are the parent's
                st = _status(pid)
                if not st:
                    continue
                tree_kb += st.get("VmRSS", 0)
                if pid == self.root:
                    self.hwm_mb = max(self.hwm_mb, st.get("VmHWM", 0) / 1024)
                    if st.get("VmRSS", 0) > best_rss:
                        best_rss = st["VmRSS"]
                        self.at_peak = {
                            "rss_mb": st["VmRSS"] / 1024,
                            "anon_mb": st.get("RssAnon", 0) / 1024,
                            "file_mb": st.get("RssFile", 0) / 1024,
                            "at_s": time.monotonic() - self._t0,
                        }
                    now = time.monotonic() - self._t0
                    if now >= next_mark:  # a coarse timeline (every 2 s) to see when the peaks come
                        self.timeline.append(
                            (round(now, 1), st.get("RssAnon", 0) / 1024, st.get("RssFile", 0) / 1024)
                        )
                        next_mark = now + 2.0
                else:
                    name = _name(pid)
                    self.others[name] = max(self.others.get(name, 0.0), st.get("VmHWM", 0) / 1024)
            self.tree_peak_mb = max(self.tree_peak_mb, tree_kb / 1024)
            self._stop.wait(self.interval_s)

    def stop(self) -> dict[str, Any]:
        self._stop.set()
        self._thread.join(5)
        return {
            "peak_rss_mb": round(self.hwm_mb, 1),
            "at_peak": {k: round(v, 1) for k, v in self.at_peak.items()},
            "tree_peak_rss_mb": round(self.tree_peak_mb, 1),
            "descendants_peak_rss_mb": {k: round(v, 1) for k, v in sorted(self.others.items())},
            "timeline_anon_file_mb": [(t, round(a), round(f)) for t, a, f in self.timeline],
        }


def children_maxrss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def run_demo(work: Path, quick: bool, timeout_s: float) -> dict[str, Any]:
    """``cinealert demo`` on the bundled samples with a fresh cache, outputs and state under ``work``."""
    env = clean_env(
        {
            "CINEALERT_RENDER__CACHE_DIR": str(work / "cache"),
            "CINEALERT_HANDLERS__DEDUP_STATE_DIR": str(work / "state"),
        }
    )
    cmd = [sys.executable, "-m", "cinealert.cli", "demo", "--samples", str(REPO / "samples")]
    cmd += ["--output-dir", str(work / "out"), "--timeout", str(timeout_s)]
    if quick:
        cmd.append("--quick")
    log = work / "demo.log"
    t0 = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        sampler = TreeSampler(proc.pid)
        try:
            rc = proc.wait(timeout_s + 120)
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait(10)
        figures = sampler.stop()
    wall = time.monotonic() - t0
    summary = [line for line in log.read_text(errors="replace").splitlines() if " sent, " in line]
    return {
        "command": " ".join(cmd),
        "exit_code": rc,
        "wall_s": round(wall, 1),
        "summary": summary[-1] if summary else "",
        "scene_loops_rendered": len(list((work / "cache").rglob("meta.json"))),
        **figures,
    }


def run_daemon(work: Path, quick: bool, timeout_s: float) -> dict[str, Any]:
    """``cinealert run`` with the shipped defaults (cold cache, prewarm before ready), then every sample."""
    from cinealert.config import Settings
    from cinealert.daemon.broker import EmbeddedBroker
    from cinealert.daemon.demo import sample_files
    from cinealert.daemon.send import message_key

    files = sample_files(REPO / "samples")
    settings = Settings()
    with EmbeddedBroker(topics=(ALERTS, MEDIA, DEAD), partitions=4) as broker:
        render: dict[str, object] = {"cache_dir": work / "cache"}
        if quick:
            render |= QUICK_RENDER
        config = write_config(
            work / "daemon.toml",
            {
                "kafka": {"bootstrap": broker.bootstrap},
                "handlers": {"dedup_state_dir": work / "state"},
                "render": render,
                "broadcast": {"output_dir": work / "out"},
                "metrics": {"enabled": False},
                "log": {"level": "info", "format": "json"},
            },
        )
        t0 = time.monotonic()
        daemon = DaemonProcess(config, work / "daemon.log")
        sampler = TreeSampler(daemon.proc.pid)
        try:
            daemon.wait_ready(timeout_s)
            ready_s = time.monotonic() - t0
            messages = [(message_key(p.read_bytes(), settings), p.read_bytes()) for p in files]
            t1 = time.monotonic()
            sent = set(produce(broker.bootstrap, ALERTS, messages))

            def finished() -> bool:
                done = {
                    (e["partition"], e["offset"])
                    for e in read_events(daemon.log_path)
                    if e.get("event") == "message_done" and "offset" in e
                }
                return sent <= done

            daemon.wait_for(finished, timeout_s, f"all {len(sent)} samples finished", poll_s=0.5)
            samples_s = time.monotonic() - t1
        finally:
            rc = daemon.terminate()
            figures = sampler.stop()
    events = read_events(daemon.log_path)
    return {
        "command": f"{sys.executable} -m cinealert.cli run --config {config}",
        "exit_code": rc,
        "ready_s": round(ready_s, 1),
        "samples_s": round(samples_s, 1),
        "wall_s": round(ready_s + samples_s, 1),
        "messages": len(sent),
        "published": sum(1 for e in events if e.get("event") == "alert_published"),
        "scene_loops_rendered": sum(1 for e in events if e.get("event") == "render.rendered"),
        **figures,
    }


def machine() -> dict[str, Any]:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = bool(
            subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True, check=True).stdout.strip()
        )  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        commit, dirty = "?", False
    return {
        "cpus": os.cpu_count(),
        "memory_mb": mem_kb // 1024,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "git_commit": commit,
        "git_dirty": dirty,
    }


def _mb(v: Any) -> str:
    return f"{v:,.0f} MB" if isinstance(v, int | float) else "-"


def _verdict(v: Any) -> str:
    if not isinstance(v, int | float):
        return ""
    return "PASS" if v < TARGET_MB else "FAIL"


def table(doc: dict[str, Any]) -> str:
    rows = [("figure", "value", "target", "verdict")]
    for name, r in doc["runs"].items():
        if "error" in r:
            rows.append((f"{name}", f"error: {r['error'][:60]}", "", "FAIL"))
            continue
        rows.append((f"{name} peak RSS (VmHWM)", _mb(r["peak_rss_mb"]), "< 2 GB", _verdict(r["peak_rss_mb"])))
        p = r.get("at_peak", {})
        rows.append((f"{name} at peak: anon / file", f"{_mb(p.get('anon_mb'))} / {_mb(p.get('file_mb'))}",
                     f"at {p.get('at_s', 0):.0f} s", ""))  # fmt: skip
        rows.append((f"{name} process tree peak", _mb(r["tree_peak_rss_mb"]), "", ""))
        if name == "daemon":
            rows.append(("daemon ready (prewarm) / samples", f"{r['ready_s']:.0f} s / {r['samples_s']:.0f} s",
                         f"{r['published']} published", ""))  # fmt: skip
        else:
            rows.append((f"{name} wall", f"{r['wall_s']:.0f} s", f"exit {r['exit_code']}", ""))
        rows.append((f"{name} scene loops rendered", str(r["scene_loops_rendered"]), "", ""))
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    return "\n".join("  ".join(c.ljust(widths[i]) for i, c in enumerate(row)).rstrip() for row in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="720p, 2 s loops, 1 variant (not the target)")
    ap.add_argument("--only", choices=("demo", "daemon"), default=None)
    ap.add_argument("--timeout", type=float, default=3600.0, help="seconds per run")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, cache, outputs)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "memory.json")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="cinealert-mem-"))
    doc: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "target_peak_rss_mb": TARGET_MB,
        "quick": args.quick,
        "machine": machine(),
        "load_avg_before": os.getloadavg(),
        "runs": {},
    }
    t0 = time.monotonic()
    try:
        for name, run in (("demo", run_demo), ("daemon", run_daemon)):
            if args.only not in (None, name):
                continue
            (work / name).mkdir()
            print(f"{name}: running (cold cache) ...", flush=True)
            try:
                doc["runs"][name] = run(work / name, args.quick, args.timeout)
            except Exception as exc:  # a failed run is a figure too: reported, and the exit code says so
                doc["runs"][name] = {"error": repr(exc)}
            doc["runs"][name]["children_maxrss_mb_so_far"] = round(children_maxrss_mb(), 1)
            print(f"{name}: done", flush=True)
    finally:
        doc["load_avg_after"] = os.getloadavg()
        doc["wall_s"] = round(time.monotonic() - t0, 1)
        if args.keep:
            doc["work_dir"] = str(work)
            print(f"work directory kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    args.out.write_text(json.dumps(doc, indent=2) + "\n")
    print(table(doc))
    print(f"load average before/after: {doc['load_avg_before']} / {doc['load_avg_after']}; wrote {args.out}")
    ok = all(
        "error" not in r and r["peak_rss_mb"] < TARGET_MB and r["exit_code"] == 0
        for r in doc["runs"].values()
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
