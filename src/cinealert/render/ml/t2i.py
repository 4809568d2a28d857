"""Text-to-image: Stable Diffusion from a local directory, seeded per (disaster, variant) so scenes reproduce."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir, torch_dtype
from cinealert.render.prompt import fit_prompt
from cinealert.render.scene import RGB


def generation_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """The target aspect at ``max_side`` on the long side, both sides multiples of 8 (the VAE's stride)."""
    scale = max_side / max(width, height)
    return max(8, round(width * scale / 8) * 8), max(8, round(height * scale / 8) * 8)


def load_sd_pipeline(kind: str, path: Path, setting: str, device: Any) -> Any:
    """A diffusers Stable Diffusion pipeline class ``kind`` from a local directory, on ``device``, without the
    safety checker (scenes hold no people) and with no progress bars in the daemon's log."""
    dif = lib("diffusers")
    model_dir(path, setting)
    pipe: Any = getattr(dif, kind).from_pretrained(
        path,
        dtype=torch_dtype(device),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(device)


class TextToImage:
    """``StableDiffusionPipeline`` without safety checker (scenes hold no people; the negative prompt says so)."""

    def __init__(
        self, path: Path, *, steps: int = 25, guidance: float = 7.5, negative_prompt: str = ""
    ) -> None:
        self.device = get_device()
        self.pipe = load_sd_pipeline("StableDiffusionPipeline", path, "diffusion_model_dir", self.device)
        self.steps = steps
        self.guidance = guidance
        self.negative_prompt = negative_prompt

    def generate(self, prompt: str, *, width: int, height: int, seed: int) -> RGB:
        import torch

        generator = torch.Generator(device="cpu").manual_seed(seed)  # CPU generator: same noise on any device
        tokenizer = self.pipe.tokenizer
        fitted = fit_prompt(
            prompt, lambda text: len(tokenizer(text)["input_ids"]), tokenizer.model_max_length
        )
        out = self.pipe(
            fitted,
            negative_prompt=self.negative_prompt or None,
            width=width,
            height=height,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            generator=generator,
            output_type="np",
        )
        image = np.asarray(out.images[0], dtype=np.float32)
        return np.ascontiguousarray((np.clip(image, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))
