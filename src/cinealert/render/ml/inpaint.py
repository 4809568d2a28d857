"""An inpainting model for the LDI's back layers (``ml.inpaint_model_dir``): diffusers' Stable Diffusion
inpainting pipeline from a local directory.

The layered depth image (``render.ldi.build``) fills what a nearer surface hides, behind each depth edge, with
Telea inpainting by default; 3D Photography (Shih et al. 2020) fills it with a learned inpainter instead, which
continues texture rather than smearing the far side's edge colour. ``ModelInpainter`` has the same contract as
``render.ldi.build.inpaint``: ``(image, hole) -> image`` with the hole filled and every other pixel untouched. It
paints at the model's working size (the long side at ``max_side``, multiples of 8), from a fixed prompt and seed
so one scene always gets the same back layers, then resizes the result back.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt

from cinealert.render.ml.runtime import stable_seed

U8 = npt.NDArray[np.uint8]

#: what the hidden part is asked to be: more of the background, never a new object
PROMPT = "background, empty scenery, seamless continuation"


class ModelInpainter:
    """``StableDiffusionInpaintPipeline`` from a local directory, called as ``inpainter(image, hole)``."""

    name = "model"

    def __init__(
        self,
        path: Path,
        *,
        steps: int = 25,
        guidance: float = 7.5,
        negative_prompt: str = "",
        max_side: int = 512,
    ) -> None:
        from cinealert.render.device import get_device
        from cinealert.render.ml.t2i import load_sd_pipeline

        self.device = get_device()
        self.pipe = load_sd_pipeline("StableDiffusionInpaintPipeline", path, "inpaint_model_dir", self.device)
        self.steps = steps
        self.guidance = guidance
        self.negative_prompt = negative_prompt
        self.max_side = max_side

    def __call__(self, image: U8, hole: npt.NDArray[np.bool_]) -> U8:
        import torch
        from PIL import Image

        from cinealert.render.ml.t2i import generation_size

        if not hole.any():
            return image
        h, w = hole.shape
        gw, gh = generation_size(w, h, self.max_side)
        # the resize blends hole colours into the rim: widen the mask by a pixel, as the Telea path does
        mask = Image.fromarray(hole.astype(np.uint8) * 255).resize((gw, gh), Image.Resampling.BILINEAR)
        mask = mask.point(lambda v: 255 if v > 0 else 0)
        generator = torch.Generator(device="cpu").manual_seed(stable_seed("ldi-inpaint"))
        out = self.pipe(
            PROMPT,
            image=Image.fromarray(image).resize((gw, gh), Image.Resampling.LANCZOS),
            mask_image=mask,
            negative_prompt=self.negative_prompt or None,
            width=gw,
            height=gh,
            num_inference_steps=self.steps,
            guidance_scale=self.guidance,
            generator=generator,
            output_type="np",
        )
        painted = (np.clip(np.asarray(out.images[0], np.float32), 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
        if painted.shape[:2] != (h, w):
            painted = np.asarray(Image.fromarray(painted).resize((w, h), Image.Resampling.BILINEAR), np.uint8)
        result = image.copy()
        result[hole] = painted[hole]
        return result
