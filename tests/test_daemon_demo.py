"""``cinealert demo`` end to end on the bundled samples (summary stage for speed): every sample is accounted for
with the result the sample catalogue (``samples/expected.json``) implies, and the command exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "samples"


def _expected_result(entry: dict[str, object]) -> tuple[str, str]:
    if not entry.get("valid"):
        return "rejected", ""
    if entry.get("msg_type") == "Cancel":
        return "withdrawn", ""
    if entry.get("status") != "Actual":
        return "skipped", f"status_{str(entry['status']).lower()}"
    if entry.get("expired"):
        return "skipped", "expired"
    return "published", str(entry.get("disaster", ""))


@pytest.mark.slow
@pytest.mark.skipif(not (SAMPLES / "expected.json").is_file(), reason="samples/expected.json not present")
def test_demo_accounts_for_every_sample(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CINEALERT_")}
    out = tmp_path / "out"
    command = [sys.executable, "-m", "cinealert.cli", "demo", "--stage", "summary", "--output-dir", str(out)]
    proc = subprocess.run(
        [*command, "--samples", str(SAMPLES), "--timeout", "120"],
        capture_output=True,
        text=True,
        timeout=240,
        cwd=tmp_path,
        env=env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] in ("published", "duplicate", "withdrawn", "skipped", "rejected"):
            rows[parts[0]] = parts[1:]
    expected = json.loads((SAMPLES / "expected.json").read_text())
    assert set(rows) == set(expected)
    for name, entry in expected.items():
        result, detail = _expected_result(entry)
        assert rows[name][0] == result, (name, rows[name])
        if detail:
            assert rows[name][1] == detail, (name, rows[name])
    published = [n for n, r in rows.items() if r[0] == "published"]
    assert len([p for p in out.iterdir() if (p / "result.json").is_file()]) == len(published)
    assert "NOT FINISHED" not in proc.stderr
