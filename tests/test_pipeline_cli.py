"""`cinealert render`: real parse, classify, scene renderer, speech and encode on a tiny picture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import cap_xml

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "samples" / "ko_flood.xml"


def run_cli(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "CINEALERT_RENDER__CACHE_DIR": str(tmp_path / "cache"),
        "CINEALERT_LOG__FORMAT": "json",
    }
    return subprocess.run([sys.executable, "-m", "cinealert.cli", "render", *args], capture_output=True, text=True,
                          env=env, cwd=tmp_path, timeout=600)  # fmt: skip


def test_render_command_writes_outputs_and_result_json(tmp_path: Path) -> None:
    out = tmp_path / "out"
    proc = run_cli(str(SAMPLE), "--out", str(out), "--profile", "atsc1", "--resolution", "320x180",
                   "--duration", "1", tmp_path=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((out / "result.json").read_text())
    assert doc["key"]["identifier"] and doc["disaster"] == "flood"
    assert (doc["mode"], doc["profiles"]) == ("burn-in", ["atsc1"])
    for key in ("parse", "scene", "animate", "compose", "tts", "encode", "publish", "total", "first_segment"):
        assert doc["timings_ms"][key] >= 0, key
    segments = doc["outputs"]["atsc1"]["segments"]
    assert segments and all(s["duration_s"] == pytest.approx(2.002) for s in segments)
    for name in doc["files"]:
        assert (out / name).is_file()
    probe = subprocess.run(["ffprobe", "-v", "error", "-of", "json", "-show_streams", str(out / segments[0]["name"])],
                           capture_output=True, text=True, check=True)  # fmt: skip
    video = next(s for s in json.loads(probe.stdout)["streams"] if s["codec_type"] == "video")
    assert (video["width"], video["height"]) == (320, 180)
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", "atsc1.m3u8", "-f", "null", "-"], cwd=out,
                             capture_output=True, text=True)  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr


def test_render_command_rejects_bad_input(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_text("<alert>not cap</alert>")
    proc = run_cli(str(bad), "--out", str(tmp_path / "o"), tmp_path=tmp_path)
    assert proc.returncode == 2 and "INVALID" in proc.stderr
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "precious.txt").write_text("keep me")
    proc = run_cli(str(SAMPLE), "--out", str(busy), tmp_path=tmp_path)
    assert proc.returncode == 2 and "refusing to overwrite" in proc.stderr
    assert (busy / "precious.txt").read_text() == "keep me"
    proc = run_cli(str(SAMPLE), "--out", str(tmp_path / "o2"), "--resolution", "huge", tmp_path=tmp_path)
    assert proc.returncode == 2 and "--resolution" in proc.stderr


def test_render_command_airs_a_lower_rung_instead_of_failing(tmp_path: Path) -> None:
    """No espeak-ng voice for the language, dates no zone can hold: exit 0, the rung printed, no traceback."""
    alert = tmp_path / "odd.xml"
    alert.write_bytes(cap_xml("ODD-1", language="xx-ZZ", sent="0001-01-01T00:00:00+00:00",
                              expires="9999-12-31T23:59:59+00:00"))  # fmt: skip
    out = tmp_path / "out"
    proc = run_cli(str(alert), "--out", str(out), "--profile", "atsc1", "--resolution", "320x180",
                   "--duration", "1", tmp_path=tmp_path)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    printed = json.loads(proc.stdout.strip().splitlines()[-1])
    assert printed["rung"] == "no_speech" and "'xx-ZZ'" in printed["degraded"][0]
    doc = json.loads((out / "result.json").read_text())
    assert doc["rung"] == "no_speech"
    # No zone configured: the expiry at the alert's own offset (no zone to name it), its year shown.
    assert doc["picture"]["pages"][0]["expiry"] == "until 31 Dec 9999 23:59 UTC+00:00"
    decoded = subprocess.run(["ffmpeg", "-v", "error", "-i", "atsc1.m3u8", "-f", "null", "-"], cwd=out,
                             capture_output=True, text=True)  # fmt: skip
    assert decoded.returncode == 0, decoded.stderr


def test_render_command_reports_a_real_failure_in_one_line(tmp_path: Path) -> None:
    """Output that cannot be written is no render error a lower rung would fix: exit 1, one ERROR line."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    proc = run_cli(str(SAMPLE), "--out", str(blocker / "out"), "--profile", "atsc1", "--resolution", "320x180",
                   "--duration", "1", tmp_path=tmp_path)  # fmt: skip
    assert proc.returncode == 1
    assert "Traceback" not in proc.stderr
    errors = [line for line in proc.stderr.splitlines() if line.startswith("ERROR ")]
    assert len(errors) == 1 and "PublishError" in errors[0] and str(blocker) in errors[0], proc.stderr[-3000:]
