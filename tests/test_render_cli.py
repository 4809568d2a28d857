"""``cinealert scene`` / ``cinealert prewarm`` end to end (real PNGs, a real MP4 checked by ffprobe); lazy torch."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinealert.cli import main


@pytest.fixture
def cache_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "cache"
    monkeypatch.setenv("CINEALERT_RENDER__CACHE_DIR", str(cache))
    monkeypatch.delenv("CINEALERT_CONFIG", raising=False)
    return cache


def test_scene_command_writes_everything(tmp_path: Path, cache_env: Path) -> None:
    out = tmp_path / "typhoon"
    code = main(
        [
            "scene",
            "typhoon",
            "--variant",
            "1",
            "--resolution",
            "160x90",
            "--duration",
            "0.5",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    layers = sorted((out / "layers").glob("*.png"))
    assert len(layers) >= 5
    first = Image.open(layers[0])
    assert first.mode == "RGBA" and first.size == (160, 90)
    assert (out / "masks" / "water.png").exists() and (out / "masks" / "rain.png").exists()
    mask = np.asarray(Image.open(out / "masks" / "water.png"))
    assert set(np.unique(mask)) <= {0, 255} and mask.any()
    assert Image.open(out / "depth.png").size == (160, 90)
    sheet = Image.open(out / "contact.png")
    assert sheet.size[0] == 3 * 480 and sheet.size[1] == 3 * 270  # picture, depth, masks + 6 frames
    probe = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-count_frames", "-show_entries",
         "stream=codec_name,width,height,nb_read_frames", "-of", "json", str(out / "preview.mp4")],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    stream = json.loads(probe.stdout)["streams"][0]
    assert stream["codec_name"] == "h264" and (stream["width"], stream["height"]) == (160, 90)
    assert int(stream["nb_read_frames"]) == 15  # 0.5 s at 29.97
    assert list(cache_env.rglob("frames.*")), "the loop went through the cache"


def test_scene_command_backend_option(
    tmp_path: Path, cache_env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["flood", "--resolution", "64x36", "--duration", "0.2"]
    assert main(["scene", *common, "--backend", "procedural", "--out", str(tmp_path / "p")]) == 0
    assert "(procedural)" in capsys.readouterr().out
    # no [ml] model directories: the ml backend says so, then renders with its CPU stand-ins
    assert main(["scene", *common, "--backend", "ml", "--out", str(tmp_path / "m")]) == 0
    captured = capsys.readouterr()
    assert "(ml)" in captured.out
    assert "no model directory for prompt writer, text-to-image" in captured.err
    assert (tmp_path / "m" / "depth.png").exists()
    # the two backends are cached apart (the backend is part of the key)
    assert len(list(cache_env.rglob("meta.json"))) == 2
    with pytest.raises(SystemExit):
        main(["scene", *common, "--backend", "nope", "--out", str(tmp_path / "n")])


def test_scene_command_rejects_bad_resolution(tmp_path: Path, cache_env: Path) -> None:
    assert main(["scene", "flood", "--resolution", "huge", "--out", str(tmp_path / "x")]) == 2


def test_prewarm_command(tmp_path: Path, cache_env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["prewarm", "--types", "drought", "earthquake", "--resolution", "64x36"]
    assert main(args) == 0
    assert "prewarmed 6 loops (0 already cached)" in capsys.readouterr().out
    assert main(args) == 0
    assert "(6 already cached)" in capsys.readouterr().out


def test_cli_and_render_import_without_torch() -> None:
    code = (
        "import sys, cinealert.cli, cinealert.render, cinealert.cap\n"
        "cinealert.cli.build_parser()\n"
        "bad = [m for m in ('torch', 'av') if m in sys.modules]\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
