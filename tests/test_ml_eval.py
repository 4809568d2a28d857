"""Evaluation metrics (SSIM, Fréchet distance, CLIP score) and the ``cinealert eval`` table."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinealert.cli import main
from cinealert.render.ml.metrics import ClipScorer, frechet_distance, set_ssim, ssim
from tinymodels import single_thread, tiny_clip


def noise(seed: int, shape: tuple[int, int, int] = (48, 48, 3)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)


def smooth(seed: int) -> np.ndarray:
    y, x = np.mgrid[0:48, 0:48]
    base = 128 + 80 * np.sin(x / (5 + seed)) * np.cos(y / 7)
    return np.repeat(base[..., None], 3, axis=2).astype(np.uint8)


def test_ssim_properties() -> None:
    a, b = smooth(0), noise(1)
    assert ssim(a, a) == pytest.approx(1.0)
    assert ssim(a, b) == pytest.approx(ssim(b, a))
    brighter = np.clip(a.astype(int) + 20, 0, 255).astype(np.uint8)
    assert ssim(a, b) < 0.2 < ssim(a, brighter) < 1.0
    assert set_ssim([a, a], [a]) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="shapes differ"):
        ssim(a, noise(0, (40, 48, 3)))


def test_ssim_matches_the_closed_form_for_constant_images() -> None:
    # constant images: SSIM reduces to the luminance term (2 m1 m2 + C1) / (m1^2 + m2^2 + C1)
    a = np.full((20, 20, 3), 100, np.uint8)
    b = np.full((20, 20, 3), 150, np.uint8)
    c1 = (0.01 * 255) ** 2
    assert ssim(a, b) == pytest.approx((2 * 100 * 150 + c1) / (100**2 + 150**2 + c1))


def test_frechet_distance() -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(400, 4))
    a -= a.mean(axis=0)  # zero mean, so scaling below changes only the covariance
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    shifted = a + np.array([3.0, 0, 0, 0])
    assert frechet_distance(a, shifted) == pytest.approx(9.0, rel=1e-6)  # same covariance: |mu1 - mu2|^2
    scaled = a * 2.0  # Sigma2 = 4 Sigma1: Tr(S1 + 4 S1 - 2 * 2 S1) = Tr(S1)
    assert frechet_distance(a, scaled) == pytest.approx(np.trace(np.cov(a, rowvar=False)), rel=1e-3)
    with pytest.raises(ValueError, match="two images"):
        frechet_distance(a[:1], a)


def _sets(root: Path) -> tuple[Path, Path]:
    gen, ref = root / "generated", root / "reference"
    for kind, seed in (("flood", 0), ("wildfire", 3)):
        for i in range(3):
            (gen / kind).mkdir(parents=True, exist_ok=True)
            (ref / kind).mkdir(parents=True, exist_ok=True)
            Image.fromarray(smooth(seed + i)).save(gen / kind / f"{i}.png")
            Image.fromarray(smooth(seed + i + 1)).save(ref / kind / f"{i}.png")
    (gen / "flood" / "0.txt").write_text("Brown floodwater covers the street. Do not include any humans.")
    (ref / "drought").mkdir()  # a type only one side has is left out
    Image.fromarray(smooth(9)).save(ref / "drought" / "0.png")
    return gen, ref


def test_eval_prints_table_one_without_clip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gen, ref = _sets(tmp_path)
    assert main(["eval", "--generated", str(gen), "--reference", str(ref), "--size", "32"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "| type | FID | CLIP | LPIPS | SSIM |"
    rows = [line for line in out if line.startswith(("| flood", "| wildfire"))]
    assert len(rows) == 2 and not any("drought" in line for line in out)
    cells = rows[0].strip("|").split("|")
    assert [c.strip() for c in cells[1:4]] == ["n/a", "n/a", "n/a"]
    assert 0.0 < float(cells[4]) < 1.0


def test_eval_with_a_clip_model(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    single_thread()
    clip = tiny_clip(tmp_path / "models")
    gen, ref = _sets(tmp_path)
    argv = ["eval", "--generated", str(gen), "--reference", str(ref), "--size", "32", "--clip", str(clip)]
    assert main(argv) == 0
    flood = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| flood"))
    fid, score, lpips, value = (c.strip() for c in flood.strip("|").split("|")[1:])
    assert float(fid) >= 0.0 and -1.0 <= float(score) <= 1.0 and lpips == "n/a" and 0 < float(value) < 1
    scorer = ClipScorer(clip)
    images = [smooth(0), smooth(1)]
    assert scorer.image_features(images).shape == (2, 16)
    assert scorer.clip_score(images, ["a flood", "a flood"]) == pytest.approx(
        scorer.clip_score(images, ["a flood", "a flood"])
    )


def test_eval_rejects_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", "--generated", str(tmp_path / "x"), "--reference", str(tmp_path)]) == 2
    assert "not a directory" in capsys.readouterr().err
