"""CAP parse + classify speed on every valid sample, and peak memory/time on every hostile input.

    .venv/bin/python bench/bench_cap.py [--rounds N]

Prints per-alert parse+classify latency (mean, p50, p99, max over all valid samples x N rounds), parse-only and
classify-only means, the same for a signed alert under ``signature_policy = verify``, and for each hostile input
(plus generated ones: a 2 MiB oversized alert, a 1 MiB alert just under the limit, a 10-level entity bomb) the
outcome, wall time and tracemalloc peak.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from cinealert.cap import CapError, classify, parse_alert  # noqa: E402
from cinealert.config import parse as parse_settings  # noqa: E402

SAMPLES = ROOT / "samples"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def fmt_us(seconds: float) -> str:
    return f"{seconds * 1e6:9.1f} µs"


def bench_valid(rounds: int) -> None:
    docs = [(p.name, p.read_bytes()) for p in sorted(SAMPLES.glob("*.xml"))]
    both: list[float] = []
    parse_only: list[float] = []
    classify_only: list[float] = []
    for _ in range(rounds):
        for _name, data in docs:
            t0 = time.perf_counter()
            alert = parse_alert(data)
            t1 = time.perf_counter()
            classify(alert)
            t2 = time.perf_counter()
            both.append(t2 - t0)
            parse_only.append(t1 - t0)
            classify_only.append(t2 - t1)
    print(f"valid samples: {len(docs)} files x {rounds} rounds = {len(both)} alerts")
    print(f"  parse+classify  mean {fmt_us(statistics.fmean(both))}  p50 {fmt_us(percentile(both, 0.5))}"
          f"  p99 {fmt_us(percentile(both, 0.99))}  max {fmt_us(max(both))}")  # fmt: skip
    print(
        f"  parse only      mean {fmt_us(statistics.fmean(parse_only))}  p50 {fmt_us(percentile(parse_only, 0.5))}"
    )
    print(f"  classify only   mean {fmt_us(statistics.fmean(classify_only))}  "
          f"p50 {fmt_us(percentile(classify_only, 0.5))}")  # fmt: skip
    print(f"  throughput      {len(both) / sum(both):,.0f} alerts/s on one core")


def bench_signed(rounds: int) -> None:
    from test_cap_signature import _make_pki, sign

    pki = _make_pki("Bench CA")
    data = sign((SAMPLES / "ko_flood.xml").read_bytes(), pki)
    with tempfile.TemporaryDirectory() as tmp:
        bundle = Path(tmp) / "ca.pem"
        bundle.write_bytes(pki.ca_pem)
        settings = parse_settings(
            {"cap": {"signature_policy": "verify", "trusted_ca_bundle": str(bundle)}}
        ).cap
        parse_alert(data, settings=settings)  # import signxml once
        times = []
        for _ in range(max(rounds, 20)):
            t0 = time.perf_counter()
            alert = parse_alert(data, settings=settings)
            times.append(time.perf_counter() - t0)
        assert alert.signed
    print(f"signed alert (ECDSA P-256, verify): mean {fmt_us(statistics.fmean(times))}  "
          f"p50 {fmt_us(percentile(times, 0.5))}  over {len(times)}")  # fmt: skip


def generated() -> list[tuple[str, bytes]]:
    flood = (SAMPLES / "en_flood.xml").read_bytes()
    over = flood.replace(
        b"<scope>Public</scope>", b"<scope>Public</scope><note>" + b"x" * (2 << 20) + b"</note>"
    )
    under = flood.replace(
        b"<scope>Public</scope>",
        b"<scope>Public</scope><note>" + b"y" * ((1 << 20) - len(flood) - 64) + b"</note>",
    )
    many = flood.replace(b"<code>IPAWSv1.0</code>", b"<code>x</code>" * 60_000)
    return [("generated: 2 MiB oversized", over), ("generated: 1 MiB just under limit (valid)", under),
            ("generated: 60k elements", many)]  # fmt: skip


def bench_hostile() -> None:
    inputs = [(f"hostile/{p.name}", p.read_bytes()) for p in sorted((SAMPLES / "hostile").iterdir())]
    inputs += generated()
    print(f"hostile inputs: {len(inputs)}")
    worst_peak = 0
    worst_time = 0.0
    for name, data in inputs:
        tracemalloc.start()
        t0 = time.perf_counter()
        try:
            alert = parse_alert(data)
            classify(alert)
            outcome = "accepted"
        except CapError as exc:
            outcome = f"{type(exc).__name__}: {exc.reason[:60]}"
        elapsed = time.perf_counter() - t0
        _cur, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        worst_peak = max(worst_peak, peak)
        worst_time = max(worst_time, elapsed)
        print(
            f"  {name:44s} {len(data):>9,d} B  {elapsed * 1e3:7.2f} ms  peak {peak / 1024:8.1f} KiB  {outcome}"
        )
    print(
        f"  worst: {worst_time * 1e3:.2f} ms, peak {worst_peak / 1024 / 1024:.2f} MiB (tracemalloc; Python heap only)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=50)
    args = parser.parse_args()
    bench_valid(args.rounds)
    bench_signed(args.rounds)
    bench_hostile()


if __name__ == "__main__":
    main()
