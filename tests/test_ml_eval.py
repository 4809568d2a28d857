"""Evaluation: SSIM, Fréchet distance, FID's Inception-v3, LPIPS, CLIP score, and ``cinealert eval`` (Table 1).

The Inception and LPIPS networks are the real architectures with random weights saved by the test and loaded
from those files as production loads the real ones; their equivalence to torch-fidelity's and lpips' own code
was checked once against those packages (docs/ml.md, "Table 1").
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinealert.cli import main
from cinealert.render.ml.inception import InceptionFeatures, fid_inception, tf1_resize
from cinealert.render.ml.lpips import LPIPS, alexnet_features, lin_layers
from cinealert.render.ml.metrics import ClipScorer, frechet_distance, set_ssim, ssim
from cinealert.render.ml.runtime import ModelDirError
from tinymodels import DESCRIPTIONS, llm_corpus, single_thread, tiny_adapter, tiny_clip, tiny_llama, tiny_sd


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


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    single_thread()
    root = tmp_path_factory.getbasetemp() / "tinymodels"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="module")
def inception(models: Path) -> Path:
    """FID's Inception-v3, randomly initialised (BN statistics too, so every layer matters), saved as a file."""
    path = models / "inception-random.pth"
    if not path.is_file():
        torch.manual_seed(0)
        net = fid_inception()
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
        torch.save(net.state_dict(), path)
    return path


@pytest.fixture(scope="module")
def lpips_dir(models: Path) -> Path:
    """AlexNet trunk (torchvision's key layout) and the five linear layers, random, as the two files."""
    out = models / "lpips-random"
    if not (out / "lin.pth").is_file():
        out.mkdir(exist_ok=True)
        torch.manual_seed(0)
        trunk = alexnet_features()
        torch.save({f"features.{k}": v for k, v in trunk.state_dict().items()}, out / "backbone.pth")
        torch.save({k: torch.rand_like(v) for k, v in lin_layers().items()}, out / "lin.pth")
    return out


def test_importing_the_eval_modules_imports_no_torch() -> None:
    import subprocess
    import sys

    code = (
        "import sys, cinealert.render.ml.evaluate, cinealert.render.ml.stills, cinealert.render.ml.inception,"
        " cinealert.render.ml.lpips; sys.exit('torch' in sys.modules)"
    )
    assert subprocess.run([sys.executable, "-c", code], check=False, timeout=60).returncode == 0


def test_tf1_resize_takes_samples_without_a_half_pixel_offset() -> None:
    # 2 -> 4 pixels: sources 0, 0.5, 1, 1.5 (clamped): a, (a+b)/2, b, b
    x = torch.tensor([[[[10.0, 30.0]]]])
    assert tf1_resize(x.expand(1, 1, 2, 2), 4)[0, 0, 0].tolist() == [10.0, 20.0, 30.0, 30.0]


def test_fid_inception_is_the_tf_graph_shape(inception: Path) -> None:
    net = fid_inception()
    state = net.state_dict()
    convs = [k for k in state if k.endswith("conv.weight")]
    assert len(convs) == 94 and state["fc.weight"].shape == (1008, 2048)
    assert state["Mixed_7c.branch3x3dbl_3b.conv.weight"].shape == (384, 384, 3, 1)
    features = InceptionFeatures(inception)
    images = [smooth(0), noise(1, (40, 64, 3))]  # any size: each is resized to 299 x 299
    a = features.features(images)
    assert a.shape == (2, 2048) and np.isfinite(a).all() and not np.allclose(a[0], a[1])
    assert np.array_equal(a, InceptionFeatures(inception).features(images))  # reloaded: same features
    assert frechet_distance(np.concatenate([a, a]), np.concatenate([a, a])) == pytest.approx(0.0, abs=1e-9)


def test_weights_that_are_not_the_network_are_refused(tmp_path: Path, lpips_dir: Path) -> None:
    torch.save({"fc.weight": torch.zeros(2, 2)}, tmp_path / "bad.pth")
    with pytest.raises(ModelDirError, match="not FID's Inception-v3"):
        InceptionFeatures(tmp_path / "bad.pth")
    with pytest.raises(ModelDirError, match="not a file"):
        InceptionFeatures(tmp_path / "missing.pth")
    with pytest.raises(ModelDirError, match=r"backbone\.pth is missing"):
        LPIPS(tmp_path)


def test_lpips_is_a_distance(lpips_dir: Path) -> None:
    metric = LPIPS(lpips_dir)
    a, b = smooth(0), noise(1)
    shifted = np.roll(a, 2, axis=1)
    assert metric.distance(a, a) == 0.0
    assert metric.distance(a, b) == pytest.approx(metric.distance(b, a))
    assert 0.0 < metric.distance(a, shifted) < metric.distance(a, b)
    assert metric.set_distance([a, b], [a]) == pytest.approx(metric.distance(b, a) / 2)


def _sets(root: Path) -> tuple[Path, Path]:
    gen, ref = root / "generated", root / "reference"
    for column in ("writer", "sd"):
        for kind, seed in (("flood", 0), ("wildfire", 3)):
            (gen / column / kind).mkdir(parents=True, exist_ok=True)
            for i in range(3):
                Image.fromarray(smooth(seed + i + (column == "sd"))).save(gen / column / kind / f"{i}.png")
    for kind, seed in (("flood", 0), ("wildfire", 3), ("drought", 9)):  # a type no column has is left out
        (ref / kind).mkdir(parents=True, exist_ok=True)
        for i in range(3):
            Image.fromarray(smooth(seed + i + 1)).save(ref / kind / f"{i}.png")
    (gen / "writer" / "flood" / "0.txt").write_text(
        "Brown floodwater covers the street. Do not include any humans."
    )
    return gen, ref


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip("|").split("|")]


def test_eval_without_weights_says_what_it_could_not_compute(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gen, ref = _sets(tmp_path)
    out = tmp_path / "report"
    argv = ["eval", "--generated", str(gen), "--reference", str(ref), "--out", str(out), "--size", "32"]
    assert main(argv) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "| type | model | FID | CLIP | LPIPS | SSIM |" in lines
    flood = _cells(next(line for line in lines if line.startswith("| flood")))
    assert flood[1] == "sd / writer"  # the paper's order, whatever the folders' order
    assert flood[2:5] == ["n/a / n/a"] * 3
    assert all(0.0 < float(v) < 1.0 for v in flood[5].split(" / "))
    assert not any("drought" in line for line in lines if line.startswith("|"))
    report = json.loads((out / "table1.json").read_text())
    assert (out / "table1.md").read_text().splitlines()[2] == "| type | model | FID | CLIP | LPIPS | SSIM |"
    assert report["columns"] == ["sd", "writer"] and report["types"] == ["flood", "wildfire"]
    for metric, flag in (("fid", "--inception"), ("lpips", "--lpips"), ("clip", "--clip")):
        assert report["metrics"][metric]["computed"] is False
        assert flag in report["metrics"][metric]["note"]
    assert report["metrics"]["ssim"]["computed"] is True
    assert report["cells"][0]["fid"] is None and report["cells"][0]["generated"] == 3


def test_weights_from_the_settings_and_out_of_the_scene_cache_key(
    inception: Path, lpips_dir: Path, tmp_path: Path
) -> None:
    from cinealert.config import parse
    from cinealert.render.ml.backend import MLBackend

    gen, ref = _sets(tmp_path)
    config = tmp_path / "eval.toml"
    config.write_text(f'[ml]\ninception_weights = "{inception}"\nlpips_model_dir = "{lpips_dir}"\n')
    out = tmp_path / "report"
    argv = [
        "eval",
        "--config",
        str(config),
        "--generated",
        str(gen),
        "--reference",
        str(ref),
        "--out",
        str(out),
    ]
    assert main([*argv, "--size", "32"]) == 0
    metrics = json.loads((out / "table1.json").read_text())["metrics"]
    assert metrics["fid"]["computed"] and metrics["lpips"]["computed"] and not metrics["clip"]["computed"]
    weights = {"inception_weights": str(inception), "lpips_model_dir": str(lpips_dir)}
    assert MLBackend(parse({"ml": weights})).version == MLBackend(parse({})).version  # eval-only keys


def test_a_flat_folder_is_one_column(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    gen, ref = _sets(tmp_path)
    argv = ["eval", "--generated", str(gen / "sd"), "--reference", str(ref), "--out", str(tmp_path / "r")]
    assert main([*argv, "--size", "32"]) == 0
    flood = _cells(next(line for line in capsys.readouterr().out.splitlines() if line.startswith("| flood")))
    assert flood[1] == "generated"


def test_eval_paints_both_columns_and_scores_every_metric(
    models: Path, inception: Path, lpips_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """No --generated: the stills are painted by the configured Stable Diffusion from the plain prompt and from
    the prompt writer (the tiny adapter's memorised flood description), exported, and every metric computed."""
    llama = tiny_llama(models, llm_corpus())
    config = tmp_path / "cinealert.toml"
    config.write_text(
        f'[ml]\nprompt_model_dir = "{llama}"\nprompt_adapter_dir = "{tiny_adapter(models, llama)}"\n'
        f'diffusion_model_dir = "{tiny_sd(models)}"\ndiffusion_steps = 2\n'
    )
    _, ref = _sets(tmp_path)
    out = tmp_path / "table"
    argv = ["eval", "--config", str(config), "--reference", str(ref), "--out", str(out), "--types", "flood",
            "--count", "2", "--gen-size", "32", "--size", "32", "--clip", str(tiny_clip(models)),
            "--inception", str(inception), "--lpips", str(lpips_dir)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "4 painted, 0 kept" in captured.err
    stills = out / "stills"
    assert (stills / "sd" / "flood" / "001.txt").read_text() == "A photo of a flood.\n"
    writer = (stills / "writer" / "flood" / "000.txt").read_text()
    assert writer == f"{DESCRIPTIONS['flood']} Do not include any humans.\n"
    sd0 = np.asarray(Image.open(stills / "sd" / "flood" / "000.png"))
    assert sd0.shape == (32, 32, 3)
    assert not np.array_equal(
        sd0, np.asarray(Image.open(stills / "sd" / "flood" / "001.png"))
    )  # seeded apart
    flood = _cells(next(line for line in captured.out.splitlines() if line.startswith("| flood")))
    assert flood[1] == "sd / writer"
    values = [float(v) for cell in flood[2:] for v in cell.split(" / ")]
    assert len(values) == 8 and all(np.isfinite(values))
    report = json.loads((out / "table1.json").read_text())
    assert all(m["computed"] for m in report["metrics"].values())
    assert report["writer_source"] == "llm"
    assert json.loads((stills / "stills.json").read_text())["writer_source"] == "llm"
    assert "with its prompt" in report["metrics"]["clip"]["note"]
    # run again: the stills are kept (resumable) and the figures are the same, but for CLIP against the type
    assert main([*argv, "--clip-text", "type"]) == 0
    assert "0 painted, 4 kept" in capsys.readouterr().err
    again = json.loads((out / "table1.json").read_text())
    assert "'a photo of a <type>'" in again["metrics"]["clip"]["note"]
    for before, after in zip(report["cells"], again["cells"], strict=True):
        assert {k: v for k, v in before.items() if k != "clip"} == {
            k: v for k, v in after.items() if k != "clip"
        }
    assert [c["clip"] for c in again["cells"]] != [c["clip"] for c in report["cells"]]


def test_eval_without_a_diffusion_model_asks_for_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, ref = _sets(tmp_path)
    assert main(["eval", "--reference", str(ref), "--out", str(tmp_path / "o"), "--types", "flood"]) == 2
    assert "ml.diffusion_model_dir" in capsys.readouterr().err


def test_eval_with_a_clip_model(models: Path, tmp_path: Path) -> None:
    scorer = ClipScorer(tiny_clip(models))
    images = [smooth(0), smooth(1)]
    assert scorer.image_features(images).shape == (2, 16)
    assert -1.0 <= scorer.clip_score(images, ["a flood", "a flood"]) <= 1.0


def test_eval_rejects_missing_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["eval", "--generated", str(tmp_path / "x"), "--reference", str(tmp_path), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "not a directory" in capsys.readouterr().err
