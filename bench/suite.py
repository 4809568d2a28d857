"""`make bench`: the operator's figures -> bench/results.json and a printed table (bench/README.md explains them).

    .venv/bin/python bench/suite.py [--quick] [--out FILE] [--phases latency,throughput,scale] [--keep]

Everything runs through the real daemon (``python -m cinealert.cli run``, a subprocess) on the embedded broker;
alerts are produced and announcements read with confluent-kafka, an independent client. In order:

1. latency.cold      fresh scene cache, no prewarm (``prewarm_before_ready = false``): the first alert of each type
                     (rich-media) pays the scene build and the clean-video encode.
2. latency.rich_media the same daemon, now warm: paced alerts, produce -> ``published`` announcement.
3. latency.burn_in   a burn-in (atsc1) daemon on the same cache: produce -> first segment file in the output
                     directory, and produce -> announcement (complete clip). Each run is followed by the floor
                     (bare libx264 of the same frames) and the baseline (ffmpeg CLI slate) while the daemon idles.
4. throughput        a burst of 200 alerts (all types, Korean and English, Updates and Cancels) into one fresh
                     daemon, then another burst into two daemons in one group sharing output and state; rich-media.
   memory            the one-daemon burst's peak RSS (VmHWM reset just before the burst).
5. scale             scene build, burn-in first segment and peak RSS per resolution x clip length, each in its
                     own child process.

``--quick`` runs a smaller version at 720p for development; its figures are not comparable with the targets.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cinealert.render.loop import RESOLUTIONS
from common import REPO, DaemonProcess, TopicReader, pct, producer, vm_hwm_mb, write_config

SAMPLES = REPO / "samples"
RESULTS = REPO / "bench" / "results.json"
ALERTS_TOPIC, MEDIA_TOPIC, DEAD_TOPIC = "cap.alerts", "cap.media", "cap.dead"
PARTITIONS = 4
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Bold.ttc")
SEG_FRAMES = 60  # broadcast.segment_s 2.002 at 30000/1001 fps

#: one Korean and one English sample per class (``other``: a chemical leak); all expire in 2030
TEMPLATES: dict[str, tuple[str, ...]] = {
    "flood": ("ko_flood.xml", "en_flood.xml"),
    "landslide": ("ko_landslide.xml", "en_landslide.xml"),
    "drought": ("ko_drought.xml", "en_drought.xml"),
    "wildfire": ("ko_wildfire.xml", "en_wildfire.xml"),
    "heavy_snow": ("ko_heavy_snow.xml", "en_heavy_snow.xml"),
    "typhoon": ("ko_typhoon.xml", "en_typhoon.xml", "bilingual_typhoon.xml"),
    "earthquake": ("ko_earthquake.xml", "en_earthquake.xml"),
    "other": ("ko_chemical_leak.xml", "en_chemical_leak.xml"),
}
BURN_TEMPLATE = "ko_flood.xml"
TARGETS = {"rich_media_p99_ms": 500.0, "burn_in_vs_floor": 1.2, "peak_rss_mb": 2048.0}


# --- plan ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Plan:
    """What one run measures; recorded in results.json under ``settings``."""

    quick: bool
    resolution: str
    types: tuple[str, ...]
    rich_runs: int
    burn_runs: int
    burst: int
    scale: tuple[tuple[str, float], ...]
    scale_runs: int
    variants: int = 1
    concurrency: int = 2
    duration_s: float = 6.0


def make_plan(quick: bool) -> Plan:
    if quick:
        return Plan(True, "720p", ("flood", "wildfire", "other"), 6, 1, 24, (("720p", 2.0), ("720p", 4.0)), 1)
    scale = (("720p", 6.0), ("1080p", 6.0), ("2160p", 6.0), ("1080p", 12.0), ("1080p", 30.0))
    return Plan(False, "1080p", tuple(TEMPLATES), 30, 3, 200, scale, 2)


# --- alerts ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BenchAlert:
    ident: str
    sender: str
    sent: str
    msg_type: str
    disaster: str
    language: str
    template: str
    xml: bytes
    kafka_key: bytes
    #: announcements it causes on the media topic, all with ``by`` = this alert (Update: published + superseded)
    expect_events: int

    @property
    def reference(self) -> str:
        return f"{self.sender},{self.ident},{self.sent}"


def _field(xml: str, tag: str) -> str:
    found = re.search(rf"<{tag}>(.*?)</{tag}>", xml, re.S)
    if found is None:
        raise ValueError(f"no <{tag}> in the template")
    return found.group(1).strip()


def _language(xml: str) -> str:
    langs = sorted({lang.split("-")[0] for lang in re.findall(r"<language>(.*?)</language>", xml)})
    return "+".join(langs) or "en"


def make_alert(
    template: str, ident: str, disaster: str, msg_type: str = "Alert", refers_to: BenchAlert | None = None
) -> BenchAlert:
    """A sample with a fresh identifier; an Update/Cancel is ``refers_to``'s text with ``<references>`` to it,
    keyed like it (same partition, after it: the daemon handles a chain in order)."""
    xml = refers_to.xml.decode() if refers_to else (SAMPLES / template).read_text(encoding="utf-8")
    xml = re.sub(r"<identifier>.*?</identifier>", f"<identifier>{ident}</identifier>", xml, count=1)
    xml = re.sub(r"<msgType>.*?</msgType>", f"<msgType>{msg_type}</msgType>", xml, count=1)
    if refers_to is not None:
        xml = xml.replace("<info>", f"<references>{refers_to.reference}</references>\n  <info>", 1)
    return BenchAlert(
        ident=ident,
        sender=_field(xml, "sender"),
        sent=_field(xml, "sent"),
        msg_type=msg_type,
        disaster=disaster,
        language=_language(xml),
        template=template,
        xml=xml.encode("utf-8"),
        kafka_key=(refers_to.kafka_key if refers_to else ident.encode()),
        expect_events={"Alert": 1, "Update": 2, "Cancel": 1}[msg_type],
    )


def one_per_type(prefix: str, types: Iterable[str]) -> list[BenchAlert]:
    return [make_alert(TEMPLATES[t][0], f"{prefix}-{t}", t) for t in types]


def burst_alerts(prefix: str, n: int, types: Sequence[str]) -> list[BenchAlert]:
    """``n`` alerts cycling through every template of ``types``; every 10th an Update and every 20th (offset 14)
    a Cancel of the oldest original not referenced yet (each original is updated or cancelled at most once)."""
    cycle = [(t, f) for t in types for f in TEMPLATES[t]]
    alerts: list[BenchAlert] = []
    open_originals: deque[BenchAlert] = deque()
    for k in range(n):
        ident = f"{prefix}-{k:04d}"
        kind = "Update" if k % 10 == 9 else "Cancel" if k % 20 == 14 else "Alert"
        if kind != "Alert" and open_originals:
            ref = open_originals.popleft()
            alerts.append(make_alert(ref.template, ident, ref.disaster, kind, ref))
            continue
        disaster, template = cycle[k % len(cycle)]
        alert = make_alert(template, ident, disaster)
        alerts.append(alert)
        open_originals.append(alert)
    return alerts


# --- statistics and records --------------------------------------------------------------------------------------


def dist(samples: Sequence[float]) -> dict[str, Any]:
    """A distribution: nearest-rank p50/p99 (with fewer than 100 samples p99 is the largest), n, raw samples."""
    clean = [float(s) for s in samples]
    return {
        "p50_ms": round(pct(clean, 50), 1),
        "p99_ms": round(pct(clean, 99), 1),
        "n": len(clean),
        "samples_ms": [round(s, 1) for s in clean],
    }


def median(samples: Sequence[float]) -> float:
    return round(statistics.median(samples), 1) if samples else float("nan")


def ratio(a: float, b: float) -> float:
    return round(a / b, 3) if b else float("nan")


def machine_info() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gb = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 1024**3
    ffmpeg = subprocess.run(["ffmpeg", "-version"], capture_output=True, text=True, check=False).stdout
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=REPO, check=False
    ).stdout.strip()
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)),
        "cpu_model": model,
        "memory_gb": round(mem_gb, 1),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "ffmpeg": ffmpeg.splitlines()[0] if ffmpeg else "",
        "git_commit": commit,
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a live process (its threads included), from /proc/<pid>/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return float("nan")


def reset_peak_rss(pid: int) -> bool:
    """Reset a process's VmHWM to its current RSS (``echo 5 > /proc/PID/clear_refs``)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
    except OSError:
        return False
    return True


# --- the daemon side --------------------------------------------------------------------------------------------


class Announcements(TopicReader):
    """The media topic; each announcement stamped with the wall time it was read, grouped by the alert that
    caused it (``by``: the alert itself for ``published``, the Update or Cancel for superseded/withdrawn)."""

    def __init__(self, bootstrap: str) -> None:
        super().__init__(bootstrap, MEDIA_TOPIC)
        self.by: dict[str, list[tuple[float, dict[str, Any]]]] = {}

    def poll(self, seconds: float) -> int:
        count = 0
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            msg = self.consumer.poll(min(0.05, left))
            if msg is None or msg.error():
                continue
            seen = time.time()
            doc = json.loads(msg.value() or b"{}")
            self.by.setdefault(str(doc["by"]["identifier"]), []).append((seen, doc))
            count += 1
        return count

    def complete(self, alert: BenchAlert) -> bool:
        return len(self.by.get(alert.ident, ())) >= alert.expect_events

    def wait(self, alerts: Sequence[BenchAlert], timeout: float, stall_s: float = 180) -> bool:
        """Until every alert is complete; False after ``timeout``, or ``stall_s`` without any announcement."""
        deadline = time.monotonic() + timeout
        last_news = time.monotonic()
        while not all(self.complete(a) for a in alerts):
            now = time.monotonic()
            if now > deadline or now - last_news > stall_s:
                return False
            if self.poll(0.1):
                last_news = time.monotonic()
        return True

    def done_at(self, alert: BenchAlert) -> float:
        return max(t for t, _ in self.by[alert.ident])

    def published(self, alert: BenchAlert) -> dict[str, Any]:
        return next(doc for _, doc in self.by[alert.ident] if doc["event"] == "published")


@dataclass(slots=True)
class Session:
    """The broker, the shared directories and the independent clients of one bench run."""

    plan: Plan
    work: Path
    bootstrap: str
    reader: Announcements
    prod: Any
    cache_dir: Path
    daemons: int = 0
    started: list[DaemonProcess] = field(default_factory=list)

    def render_section(self, prewarm_before_ready: bool) -> dict[str, Any]:
        """``[render]`` for every daemon and for the bench's own cache reads. ``prewarm`` always lists every type
        the run uses (the cache's frame codec is chosen from it, see ``render.service.frame_codec``); whether the
        daemon fills the cache before it is ready is ``prewarm_before_ready``."""
        return {
            "cache_dir": str(self.cache_dir),
            "resolution": self.plan.resolution,
            "duration_s": self.plan.duration_s,
            "variants": self.plan.variants,
            "prewarm": list(self.plan.types),
            "prewarm_before_ready": prewarm_before_ready,
        }

    def config(self, mode: str, prewarm: bool) -> Path:
        self.daemons += 1
        profiles = ["atsc3"] if mode == "rich-media" else ["atsc1"]
        return write_config(
            self.work / f"daemon{self.daemons}.toml",
            {
                "kafka": {"bootstrap": self.bootstrap},
                "handlers": {"dedup_state_dir": self.work / "state", "concurrency": self.plan.concurrency},
                "render": self.render_section(prewarm),
                "broadcast": {"output_dir": self.work / "out", "mode": mode, "profiles": profiles},
                "metrics": {"enabled": False},
                "log": {"level": "info", "format": "json"},
            },
        )

    def start(self, mode: str, prewarm: bool, count: int = 1) -> list[DaemonProcess]:
        """``count`` daemons in one group; returns once each holds partitions and together they hold all."""
        daemons = []
        for _ in range(count):
            config = self.config(mode, prewarm)
            daemons.append(DaemonProcess(config, config.with_suffix(".log")))
            self.started.append(daemons[-1])
        for d in daemons:
            d.wait_ready(600)
        deadline = time.monotonic() + 120
        while True:
            held = [assigned(d) for d in daemons]
            if all(held) and sorted(p for h in held for p in h) == list(range(PARTITIONS)):
                return daemons
            if time.monotonic() > deadline or not all(d.alive for d in daemons):
                raise RuntimeError(f"group never settled (partitions {held}):\n{daemons[-1].tail()}")
            time.sleep(0.2)

    def send(self, alerts: Sequence[BenchAlert]) -> float:
        """Produce ``alerts`` (acks=all, flushed); the wall time just before the first was handed over."""
        start = time.time()
        for alert in alerts:
            self.prod.produce(ALERTS_TOPIC, value=alert.xml, key=alert.kafka_key)
            self.prod.poll(0)
        if self.prod.flush(60):
            raise RuntimeError("the producer could not deliver the alerts within 60 s")
        return start

    def one(self, alert: BenchAlert, timeout: float) -> tuple[float, dict[str, Any]]:
        """Produce one alert and wait for its announcement: (milliseconds, the published announcement)."""
        sent = self.send([alert])
        if not self.reader.wait([alert], timeout):
            raise RuntimeError(f"no announcement for {alert.ident} within {timeout:.0f} s")
        return (self.reader.done_at(alert) - sent) * 1000, self.reader.published(alert)


def assigned(daemon: DaemonProcess) -> list[int]:
    """The partitions a daemon holds now, from its last partitions_assigned/revoked log event."""
    last: list[int] = []
    for event in daemon.events():
        if event.get("event") == "partitions_assigned":
            last = list(event.get("partitions", []))
        elif event.get("event") == "partitions_revoked":
            last = []
    return last


class FileWatch:
    """When a file first appears (the daemon and ffmpeg publish by rename, so it is complete then)."""

    def __init__(self, path: Path, on_seen: Callable[[], None] | None = None, clock: Any = time.time) -> None:
        self.path, self.on_seen, self.clock = path, on_seen, clock
        self.seen_at: float | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.path.exists():
                self.seen_at = self.clock()
                if self.on_seen is not None:
                    self.on_seen()
                return
            self._stop.wait(0.005)

    def stop(self) -> float | None:
        self._stop.set()
        self._thread.join(2)
        return self.seen_at


def slug_of(alert: BenchAlert) -> str:
    from cinealert.cap import parse_alert

    return parse_alert(alert.xml).key.slug()


# --- phases ----------------------------------------------------------------------------------------------------


def phase_latency(s: Session, results: dict[str, Any]) -> None:
    plan = s.plan
    print(f"== latency: cold (fresh cache, no prewarm), {len(plan.types)} types, rich-media", flush=True)
    [daemon] = s.start("rich-media", prewarm=False)
    cold: dict[str, Any] = {}
    for alert in one_per_type("cold", plan.types):
        ms, doc = s.one(alert, 900)
        cold[alert.disaster] = {"ms": round(ms, 1), "timings_ms": doc.get("timings_ms", {})}
        print(f"   {alert.disaster:<11} {ms:8.0f} ms", flush=True)
    print(f"== latency: rich-media, warm, {plan.rich_runs} paced alerts", flush=True)
    rich, rich_daemon = [], []
    for i in range(plan.rich_runs):
        disaster = plan.types[i % len(plan.types)]
        template = TEMPLATES[disaster][i // len(plan.types) % len(TEMPLATES[disaster])]
        ms, doc = s.one(make_alert(template, f"rich-{i:03d}", disaster), 120)
        rich.append(ms)
        rich_daemon.append(float(doc["timings_ms"].get("received_to_published", "nan")))
        time.sleep(0.2)
    print(f"   p50 {pct(rich, 50):.0f} ms, p99 {pct(rich, 99):.0f} ms", flush=True)
    results["memory"]["cold_daemon_peak_rss_mb"] = round(vm_hwm_mb(daemon.proc.pid) or daemon.peak_rss_mb, 1)
    daemon.terminate()

    print(
        f"== latency: burn-in (atsc1), {plan.burn_runs} runs, each with the floor and the ffmpeg slate",
        flush=True,
    )
    burn_type = "flood"
    [daemon] = s.start("burn-in", prewarm=True)
    frames = loop_frames(s, burn_type)
    first, complete, first_daemon, floor_first, floor_whole, slate, slate_first = ([] for _ in range(7))
    clip: dict[str, Any] = {}
    for r in range(plan.burn_runs):
        alert = make_alert(BURN_TEMPLATE, f"burn-{r:02d}", burn_type)
        directory = s.work / "out" / slug_of(alert)
        watch = FileWatch(directory / "atsc1_seg_00000.ts")
        sent = s.send([alert])
        if not s.reader.wait([alert], 900):
            raise RuntimeError(f"burn-in alert {alert.ident} was not announced within 900 s")
        seen = watch.stop()
        doc = s.reader.published(alert)
        complete.append((s.reader.done_at(alert) - sent) * 1000)
        first.append(((seen or s.reader.done_at(alert)) - sent) * 1000)
        first_daemon.append(float(doc["timings_ms"]["first_segment"]))
        result = json.loads((directory / "result.json").read_text())
        segments = result["outputs"]["atsc1"]["segments"]
        clip = {
            "duration_s": result["duration_s"],
            "segments": len(segments),
            "frames": len(segments) * SEG_FRAMES,
        }
        # the floor and the baseline, while the daemon idles: same frames / same headline, same run
        from floor import encode_segments

        done = encode_segments(frames, clip["frames"], plan.resolution, SEG_FRAMES)
        floor_first.append(done[0])
        floor_whole.append(done[-1])
        headline = _field(alert.xml.decode(), "headline")
        whole, first_seg, command = ffmpeg_slate(headline, result["duration_s"], s.work / f"slate{r}", plan)
        slate.append(whole)
        slate_first.append(first_seg)
        print(f"   run {r}: burn-in first segment {first[-1]:.0f} ms, complete {complete[-1]:.0f} ms;"
              f" floor {done[0]:.0f} / {done[-1]:.0f} ms; slate {whole:.0f} ms", flush=True)  # fmt: skip
    daemon.terminate()
    del frames

    lat = results["latency"]
    lat["cold"] = {**dist([c["ms"] for c in cold.values()]), "mode": "rich-media", "by_type": cold}
    lat["rich_media"] = {**dist(rich), "daemon_received_to_published": dist(rich_daemon)}
    lat["burn_in"] = {
        "first_segment": {**dist(first), "daemon_first_segment": dist(first_daemon)},
        "complete": dist(complete),
        "clip": clip,
        "template": BURN_TEMPLATE,
    }
    results["floor"] = {
        "encode_ms": median(floor_whole),
        "first_segment_encode_ms": median(floor_first),
        "encode_samples_ms": [round(v, 1) for v in floor_whole],
        "first_segment_samples_ms": [round(v, 1) for v in floor_first],
        "frames": clip["frames"],
    }
    results["baseline"] = {
        "ffmpeg_slate_ms": median(slate),
        "first_segment_ms": median(slate_first),
        "samples_ms": [round(v, 1) for v in slate],
        "command": command,
    }
    r = results["ratio"]
    r["burn_in_vs_floor"] = ratio(lat["burn_in"]["first_segment"]["p50_ms"], median(floor_first))
    r["burn_in_complete_vs_floor"] = ratio(lat["burn_in"]["complete"]["p50_ms"], median(floor_whole))
    r["burn_in_daemon_vs_floor"] = ratio(
        lat["burn_in"]["first_segment"]["daemon_first_segment"]["p50_ms"], median(floor_first)
    )
    r["rich_media_vs_slate"] = ratio(lat["rich_media"]["p50_ms"], median(slate))
    r["burn_in_vs_slate"] = ratio(lat["burn_in"]["complete"]["p50_ms"], median(slate))
    r["burn_in_first_segment_vs_slate_first_segment"] = ratio(
        lat["burn_in"]["first_segment"]["p50_ms"], median(slate_first)
    )


def loop_frames(s: Session, disaster: str) -> list[Any]:
    """The scene loop the burn-in daemon encodes, from the shared cache, as arrays in memory."""
    from cinealert.cap.model import DisasterType
    from cinealert.config import parse
    from cinealert.render.service import get_loop

    settings = parse({"render": s.render_section(False)})
    return list(get_loop(DisasterType(disaster), 0, settings).loop.frames())


def ffmpeg_slate(headline: str, duration_s: float, out: Path, plan: Plan) -> tuple[float, float, list[str]]:
    """What facilities run today: a static slate with the headline (drawtext, Noto CJK) and a silent AC-3 track
    into 2.002 s MPEG-TS segments + playlist, the atsc1 profile's encoder and settings (MPEG-2 by default).
    (ms, first-segment ms, argv)"""
    from cinealert.broadcast.encode import make_profile, video_options

    profile = make_profile("atsc1", plan.resolution)
    opts = video_options(profile, SEG_FRAMES)
    out.mkdir(parents=True, exist_ok=True)
    text = out / "headline.txt"
    text.write_text("\n".join(textwrap.wrap(headline, 28)), encoding="utf-8")
    w, h = profile.width, profile.height
    size = h // 18
    draw = (f"drawtext=fontfile={FONT}:textfile={text}:fontsize={size}:fontcolor=white:line_spacing={size // 3}"
            f":x=(w-text_w)/2:y=(h-text_h)/2:box=1:boxcolor=0xb00000@0.9:boxborderw={size // 2}")  # fmt: skip
    argv = [
        "ffmpeg", "-hide_banner", "-loglevel", "error", "-y",
        "-f", "lavfi", "-i", f"color=c=0x101820:s={w}x{h}:r=30000/1001",
        "-f", "lavfi", "-i", "anullsrc=r=48000:cl=mono",
        "-t", f"{duration_s:.3f}", "-vf", draw, "-pix_fmt", "yuv420p",
        "-c:v", profile.video_codec, *(arg for key, value in opts.items() for arg in (f"-{key}:v", value)),
        "-c:a", "ac3", "-b:a", f"{profile.audio_kbps}k",
        "-f", "hls", "-hls_time", "2.002", "-hls_list_size", "0", "-hls_playlist_type", "vod",
        "-hls_flags", "temp_file", "-hls_segment_filename", str(out / "slate_seg_%05d.ts"),
        str(out / "slate.m3u8"),
    ]  # fmt: skip
    watch = FileWatch(out / "slate_seg_00000.ts", clock=time.perf_counter)
    t = time.perf_counter()
    subprocess.run(argv, check=True)
    end = time.perf_counter()
    seen = watch.stop() or end
    return (end - t) * 1000, (seen - t) * 1000, argv


def phase_throughput(s: Session, results: dict[str, Any]) -> None:
    plan = s.plan
    for name, count in (("one", 1), ("two", 2)):
        alerts = burst_alerts(f"burst{count}", plan.burst, plan.types)
        print(f"== throughput: {len(alerts)} alerts, {count} daemon(s), rich-media", flush=True)
        daemons = s.start("rich-media", prewarm=True, count=count)
        pids = [d.proc.pid for d in daemons]
        hwm_reset = all(reset_peak_rss(pid) for pid in pids)
        cpu0 = [cpu_seconds(pid) for pid in pids]
        start = s.send(alerts)
        finished = s.reader.wait(alerts, 300 if plan.quick else 600)
        done = [a for a in alerts if s.reader.complete(a)]
        drain_s = max(s.reader.done_at(a) for a in done) - start if done else float("nan")
        peaks = [vm_hwm_mb(pid) or float("nan") for pid in pids]
        cpu = [cpu_seconds(pid) - c for pid, c in zip(pids, cpu0, strict=True)]
        lifetime = [d.peak_rss_mb for d in daemons]
        marker = f"burst{count}-"
        handled = [sum(1 for e in d.events() if e.get("event") == "alert_received" and marker in str(e.get("alert")))
                   for d in daemons]  # fmt: skip
        for d in daemons:
            d.terminate()
        mix: dict[str, int] = {}
        for a in alerts:
            mix[a.msg_type] = mix.get(a.msg_type, 0) + 1
        results["throughput"][name] = {
            "alerts_per_min": round(len(done) / drain_s * 60, 1) if done else 0.0,
            "drain_s": round(drain_s, 2),
            "n": len(alerts),
            "completed": len(done),
            "all_completed": finished,
            "daemons": count,
            "received_per_daemon": handled,
            "cpu_s_per_daemon": [round(c, 1) for c in cpu],
            "cpu_ms_per_alert": round(sum(cpu) / max(1, len(done)) * 1000, 1),
            "peak_rss_mb_per_daemon": [round(p, 1) for p in peaks],
            "msg_types": mix,
        }
        print(f"   {len(done)}/{len(alerts)} in {drain_s:.1f} s -> {len(done) / drain_s * 60:.0f} alerts/min;"
              f" peak RSS {', '.join(f'{p:.0f}' for p in peaks)} MB", flush=True)  # fmt: skip
        if name == "one":
            results["memory"].update(
                {
                    "peak_rss_mb": round(peaks[0], 1),
                    "lifetime_peak_rss_mb": round(max(lifetime[0], peaks[0]), 1),
                    "hwm_reset_before_burst": hwm_reset,
                    "types_cached": list(plan.types),
                }
            )
        else:
            results["memory"]["two_daemons_peak_rss_mb"] = [round(p, 1) for p in peaks]
    results["throughput"]["mode"] = "rich-media"
    results["throughput"]["concurrency_per_daemon"] = plan.concurrency


def phase_scale(s: Session, results: dict[str, Any]) -> None:
    rows = []
    for resolution, duration in s.plan.scale:
        print(f"== scale: {resolution}, {duration:g} s loop (child process)", flush=True)
        out = s.work / f"scale-{resolution}-{duration:g}.json"
        argv = [sys.executable, __file__, "--scale-child", resolution, str(duration), str(s.work), str(out),
                str(s.plan.scale_runs)]  # fmt: skip
        subprocess.run(argv, check=True, cwd=REPO)
        row = json.loads(out.read_text())
        rows.append(row)
        print(f"   scene build {row['scene_build_ms']:.0f} ms, first segment {row['first_segment_ms']:.0f} ms,"
              f" peak RSS {row['peak_rss_mb']:.0f} MB", flush=True)  # fmt: skip
    results["scale"] = {
        "rows": rows,
        "burn_in_profile": "hls (H.264 at the native size; atsc1 is capped at 1080 lines)",
        "grid": "resolution swept at 6 s, clip length swept at 1080p (the full 3x3 grid does not fit 15 min)",
    }


def peak_rss_self() -> float:
    """This process's peak RSS in MiB since exec: VmHWM belongs to the process's own address space, while
    ``getrusage`` would also count what the parent had resident when it forked this child."""
    return vm_hwm_mb(os.getpid()) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def scale_child(resolution: str, duration: float, work: Path, out: Path, runs: int) -> None:
    """One scale combination in a process of its own, so its peak RSS is its own."""
    from cinealert.cap import classify, parse_alert
    from cinealert.cap.model import DisasterType
    from cinealert.config import parse
    from cinealert.handlers.pipeline import MediaStage
    from cinealert.render.service import get_loop

    tag = f"{resolution}-{duration:g}"
    cache = work / f"scale-cache-{tag}"
    settings = parse({"render": {"cache_dir": str(cache), "resolution": resolution, "duration_s": duration,
                                 "variants": 1, "prewarm": list(TEMPLATES)},
                      "broadcast": {"output_dir": str(work / f"scale-out-{tag}")}})  # fmt: skip
    t = time.perf_counter()
    loop = get_loop(DisasterType.FLOOD, 0, settings)
    build_ms = (time.perf_counter() - t) * 1000
    rss_build = peak_rss_self()
    t = time.perf_counter()
    get_loop(DisasterType.FLOOD, 0, settings)
    hit_ms = (time.perf_counter() - t) * 1000
    stage = MediaStage(settings)
    firsts = []
    for run in range(runs + 1):  # run 0 warms imports, fonts and the encoder libraries
        alert = parse_alert(make_alert(BURN_TEMPLATE, f"scale-{tag}-{run}", "flood").xml)
        directory = work / f"scale-out-{tag}" / str(run)
        cancel = threading.Event()
        watch = FileWatch(directory / "hls_seg_00000.ts", on_seen=cancel.set, clock=time.perf_counter)
        started = time.perf_counter()
        try:  # cancelled once the first segment is out: the rest of the clip costs time and tells nothing new
            stage.render(alert, classify(alert), cancel, directory=directory, mode="burn-in",
                         profiles=["hls"], resolution=resolution, started=started)  # fmt: skip
        except Exception:
            if not cancel.is_set():
                raise
        seen = watch.stop()
        if seen is None:
            raise RuntimeError(f"{tag}: no first segment")
        if run:
            firsts.append((seen - started) * 1000)
    cache_mb = sum(p.stat().st_size for p in cache.rglob("*") if p.is_file()) / 1024**2
    row = {
        "resolution": resolution,
        "size": list(RESOLUTIONS[resolution]),
        "duration_s": duration,
        "loop_frames": loop.loop.num_frames,
        "scene_build_ms": round(build_ms, 1),
        "scene_timings_ms": {k: round(v, 1) for k, v in loop.timings_ms.items()},
        "cache_hit_ms": round(hit_ms, 1),
        "first_segment_ms": median(firsts),
        "first_segment_samples_ms": [round(v, 1) for v in firsts],
        "peak_rss_mb": round(peak_rss_self(), 1),
        "peak_rss_after_build_mb": round(rss_build, 1),
        "cache_mb": round(cache_mb, 1),
    }
    out.write_text(json.dumps(row))
    shutil.rmtree(cache, ignore_errors=True)
    shutil.rmtree(work / f"scale-out-{tag}", ignore_errors=True)


# --- results ---------------------------------------------------------------------------------------------------

#: the keys issue 7 names; ``missing_keys`` checks a results document has every one
REQUIRED = (
    "latency.rich_media.p50_ms", "latency.rich_media.p99_ms", "latency.burn_in.first_segment.p50_ms",
    "latency.burn_in.first_segment.p99_ms", "latency.burn_in.complete.p50_ms", "latency.cold.p50_ms",
    "floor.encode_ms", "floor.first_segment_encode_ms", "ratio.burn_in_vs_floor", "baseline.ffmpeg_slate_ms",
    "ratio.rich_media_vs_slate", "ratio.burn_in_vs_slate", "throughput.one.alerts_per_min",
    "throughput.two.alerts_per_min", "memory.peak_rss_mb", "scale.rows",
)  # fmt: skip


def lookup(doc: Mapping[str, Any], dotted: str) -> Any:
    node: Any = doc
    for part in dotted.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


def missing_keys(doc: Mapping[str, Any]) -> list[str]:
    return [k for k in REQUIRED if lookup(doc, k) is None]


def empty_results(plan: Plan) -> dict[str, Any]:
    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {},
        "settings": {
            **asdict(plan),
            "mode_rich_media_profiles": ["atsc3"],
            "mode_burn_in_profiles": ["atsc1"],
        },
        "targets": dict(TARGETS),
        "latency": {},
        "floor": {},
        "baseline": {},
        "ratio": {},
        "throughput": {},
        "memory": {},
        "scale": {},
        "notes": [],
    }


def _ms(v: Any) -> str:
    return "-" if v is None else f"{v:,.0f} ms"


def _x(v: Any) -> str:
    return "-" if v is None else f"{v:.2f} x"


def _verdict(ok: bool | None) -> str:
    return "" if ok is None else ("PASS" if ok else "FAIL")


def table(doc: Mapping[str, Any]) -> str:
    """The printed summary: figure, value, target and verdict."""

    def g(key: str) -> Any:
        return lookup(doc, key)

    rich99, ratio_floor, rss = (
        g("latency.rich_media.p99_ms"),
        g("ratio.burn_in_vs_floor"),
        g("memory.peak_rss_mb"),
    )
    tp1, tp2 = g("throughput.one"), g("throughput.two")
    cold_rss = g("memory.cold_daemon_peak_rss_mb")
    rows: list[tuple[str, str, str, str]] = [
        ("latency.rich_media p50 / p99", f"{_ms(g('latency.rich_media.p50_ms'))} / {_ms(rich99)}",
         f"p99 < {TARGETS['rich_media_p99_ms']:.0f} ms", _verdict(None if rich99 is None
                                                                    else rich99 < TARGETS["rich_media_p99_ms"])),
        ("latency.burn_in.first_segment p50 / p99",
         f"{_ms(g('latency.burn_in.first_segment.p50_ms'))} / {_ms(g('latency.burn_in.first_segment.p99_ms'))}",
         "", ""),
        ("latency.burn_in.complete p50", _ms(g("latency.burn_in.complete.p50_ms")),
         f"clip {g('latency.burn_in.clip.duration_s') or 0:.1f} s", ""),
        ("latency.cold p50 / p99", f"{_ms(g('latency.cold.p50_ms'))} / {_ms(g('latency.cold.p99_ms'))}", "", ""),
        ("floor.first_segment_encode_ms", _ms(g("floor.first_segment_encode_ms")), "", ""),
        ("floor.encode_ms (whole clip)", _ms(g("floor.encode_ms")), "", ""),
        ("ratio.burn_in_vs_floor", _x(ratio_floor), f"<= {TARGETS['burn_in_vs_floor']:.1f} x",
         _verdict(None if ratio_floor is None else ratio_floor <= TARGETS["burn_in_vs_floor"])),
        ("ratio.burn_in_daemon_vs_floor", _x(g("ratio.burn_in_daemon_vs_floor")), "(render start -> 1st seg)", ""),
        ("baseline.ffmpeg_slate_ms", _ms(g("baseline.ffmpeg_slate_ms")), "", ""),
        ("ratio.rich_media_vs_slate", _x(g("ratio.rich_media_vs_slate")), "", ""),
        ("ratio.burn_in_vs_slate (complete)", _x(g("ratio.burn_in_vs_slate")), "", ""),
        ("throughput.one alerts/min (drain)",
         "-" if not tp1 else f"{tp1['alerts_per_min']:.0f} ({tp1['drain_s']:.1f} s, {tp1['completed']}/{tp1['n']})",
         "", ""),
        ("throughput.two alerts/min (drain)",
         "-" if not tp2 else f"{tp2['alerts_per_min']:.0f} ({tp2['drain_s']:.1f} s, {tp2['completed']}/{tp2['n']})",
         "", ""),
        ("memory.peak_rss_mb", "-" if rss is None else f"{rss:,.0f} MB", f"< {TARGETS['peak_rss_mb']:.0f} MB",
         _verdict(None if rss is None else rss < TARGETS["peak_rss_mb"])),
        ("memory.cold_daemon_peak_rss_mb", "-" if cold_rss is None else f"{cold_rss:,.0f} MB",
         "(building scenes)", ""),
    ]  # fmt: skip
    for row in lookup(doc, "scale.rows") or []:
        rows.append((f"scale {row['resolution']} {row['duration_s']:g} s loop",
                     f"build {row['scene_build_ms'] / 1000:.1f} s, 1st seg {_ms(row['first_segment_ms'])}, "
                     f"RSS {row['peak_rss_mb']:,.0f} MB", "", ""))  # fmt: skip
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:<{widths[2]}}  {r[3]}".rstrip() for r in rows]
    return "\n".join(lines)


# --- main ------------------------------------------------------------------------------------------------------


def run(plan: Plan, phases: set[str], work: Path, out: Path) -> dict[str, Any]:
    from cinealert.daemon.broker import EmbeddedBroker

    results = empty_results(plan)
    results["machine"] = machine_info()
    t0 = time.perf_counter()
    with EmbeddedBroker(topics=(ALERTS_TOPIC, MEDIA_TOPIC, DEAD_TOPIC), partitions=PARTITIONS) as broker:
        reader = Announcements(broker.bootstrap)
        session = Session(plan, work, broker.bootstrap, reader, producer(broker.bootstrap), work / "cache")
        try:
            if "latency" in phases:
                phase_latency(session, results)
            if "throughput" in phases:
                phase_throughput(session, results)
        finally:
            for daemon in session.started:  # after an error: stop what is still running
                if daemon.alive:
                    daemon.terminate(30)
            reader.close()
            session.prod = None  # librdkafka's client goes now, not after the broker (no reconnect noise)
            gc.collect()
    if "scale" in phases:
        phase_scale(session, results)
    results["wall_s"] = round(time.perf_counter() - t0, 1)
    results["settings"]["phases"] = sorted(phases)
    results["missing_keys"] = missing_keys(results)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return results


def quiet_logs() -> None:
    """Warnings only from the library code this process runs (the daemons log JSON to their own files)."""
    from cinealert.config.sections import LogSettings
    from cinealert.daemon.logging import configure_logging

    configure_logging(LogSettings(level="warning", format="console"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="720p, fewer alerts and runs (development)")
    ap.add_argument(
        "--out", type=Path, default=None, help="default bench/results.json (--quick: a temp file)"
    )
    ap.add_argument("--phases", default="latency,throughput,scale")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, outputs)")
    ap.add_argument(
        "--scale-child", nargs=5, metavar=("RES", "DUR", "WORK", "OUT", "RUNS"), help=argparse.SUPPRESS
    )
    args = ap.parse_args()
    if args.scale_child:
        quiet_logs()
        res, dur, work_dir, out_file, runs = args.scale_child
        scale_child(res, float(dur), Path(work_dir), Path(out_file), int(runs))
        return 0

    quiet_logs()
    plan = make_plan(args.quick)
    phases = {p.strip() for p in args.phases.split(",") if p.strip()}
    work = Path(tempfile.mkdtemp(prefix="cinealert-bench-"))
    out = args.out or (Path(tempfile.gettempdir()) / "cinealert-bench-quick.json" if args.quick else RESULTS)
    print(f"cinealert bench: {'QUICK (720p, not comparable with the targets), ' if plan.quick else ''}"
          f"work dir {work}, phases {','.join(sorted(phases))}", flush=True)  # fmt: skip
    try:
        results = run(plan, phases, work, out)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print()
    print(table(results))
    machine = results["machine"]
    print(
        f"\n{machine['cpu_count']} CPUs ({machine['cpu_model']}), wall {results['wall_s']:.0f} s; written to {out}"
    )
    if results["missing_keys"] and phases >= {"latency", "throughput", "scale"}:
        print(f"missing figures: {results['missing_keys']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
