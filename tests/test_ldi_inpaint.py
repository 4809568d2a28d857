"""The LDI's back layers from an inpainting model (``ml.inpaint_model_dir``), Telea by default.

A tiny Stable Diffusion inpainting pipeline (the real diffusers architecture: a UNet taking 9 channels, latents
+ masked-image latents + mask) is built from the tiny SD's parts, saved, and loaded by the production loader.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cinealert.cap.model import DisasterType
from cinealert.config import parse
from cinealert.render.ldi import CameraPath, build_ldi
from cinealert.render.ml.inpaint import ModelInpainter
from test_render_ldi import H, N, W, photo_like
from tinymodels import single_thread, tiny_dpt, tiny_sd


@pytest.fixture(scope="module")
def inpaint_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from diffusers import StableDiffusionInpaintPipeline, StableDiffusionPipeline, UNet2DConditionModel

    single_thread()
    root = tmp_path_factory.getbasetemp() / "tinymodels"
    root.mkdir(exist_ok=True)
    out = root / "sd-inpaint"
    if (out / "model_index.json").is_file():
        return out
    base = StableDiffusionPipeline.from_pretrained(
        tiny_sd(root), safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    config = dict(base.unet.config)
    config["in_channels"] = 9  # latents, masked-image latents, mask
    torch.manual_seed(1)
    unet = UNet2DConditionModel.from_config(config)
    parts = {k: getattr(base, k) for k in ("vae", "text_encoder", "tokenizer", "scheduler")}
    pipe = StableDiffusionInpaintPipeline(
        **parts, unet=unet, safety_checker=None, feature_extractor=None, requires_safety_checker=False
    )
    pipe.save_pretrained(out)
    return out


def test_the_model_fills_only_the_hole_and_repeats(inpaint_dir: Path) -> None:
    inpainter = ModelInpainter(inpaint_dir, steps=2, max_side=32)
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, (24, 40, 3), dtype=np.uint8)
    hole = np.zeros((24, 40), np.bool_)
    hole[6:18, 10:22] = True
    out = inpainter(image, hole)
    assert out.shape == image.shape and out.dtype == np.uint8
    assert np.array_equal(out[~hole], image[~hole])
    assert not np.array_equal(out[hole], image[hole])
    assert np.array_equal(out, inpainter(image, hole))  # seeded: one scene, one set of back layers
    assert inpainter(image, np.zeros_like(hole)) is image


def test_build_ldi_takes_the_back_colours_from_the_model(inpaint_dir: Path) -> None:
    scene = photo_like()
    path = CameraPath.of("circular", 2.0, N, W, H)
    telea = build_ldi(scene.image, scene.depth, path)
    calls: list[int] = []
    model = ModelInpainter(inpaint_dir, steps=2, max_side=64)

    def counting(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        calls.append(int(hole.sum()))
        return model(image, hole)

    learned = build_ldi(scene.image, scene.depth, path, inpainter=counting)
    assert calls and learned.layers == telea.layers == len(calls) + 1
    # the same geometry (where the back points are and how far), other colours
    assert np.array_equal(learned.back_y, telea.back_y) and np.array_equal(learned.back_k, telea.back_k)
    assert not np.array_equal(learned.back_rgb, telea.back_rgb)


def test_the_ml_backend_hands_its_inpainter_to_the_renderer(
    inpaint_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ml.inpaint_model_dir`` set: the backend loads the model with its stages, the scene says so, and
    ``get_loop`` (the daemon's path) renders the LDI with it; unset: Telea, and no ``inpaint`` stage."""
    from cinealert.render.backends import get_backend
    from cinealert.render.service import get_loop

    calls: list[int] = []
    original = ModelInpainter.__call__

    def spy(self: ModelInpainter, image: np.ndarray, hole: np.ndarray) -> np.ndarray:
        calls.append(int(hole.sum()))
        return original(self, image, hole)

    monkeypatch.setattr(ModelInpainter, "__call__", spy)
    settings = parse({
        "render": {"backend": "ml", "parallax": "ldi", "cache_dir": str(tmp_path / "cache"), "duration_s": 0.5,
                   "camera_amplitude": 2.0},
        "ml": {"inpaint_model_dir": str(inpaint_dir), "diffusion_steps": 2, "diffusion_max_side": 32,
               "depth_model_dir": str(tiny_dpt(inpaint_dir.parent))},  # per-pixel depth with edges
    })  # fmt: skip
    result = get_loop(DisasterType.FLOOD, 0, settings, size=(W, H))
    backend = get_backend("ml", settings)
    assert isinstance(backend.inpainter, ModelInpainter)  # type: ignore[attr-defined]
    assert calls, "the LDI's back layers were not painted by the model"
    assert result.painted_by["inpaint"] == "model"
    plain = get_backend("ml", parse({"render": {"backend": "ml"}}))
    assert plain.build(DisasterType.FLOOD, 0, 64, 48, seed=0).meta.get("inpaint") is None
    assert plain.inpainter is None  # type: ignore[attr-defined]
