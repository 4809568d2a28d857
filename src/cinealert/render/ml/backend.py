"""The ``ml`` scene backend: prompt -> Stable Diffusion -> fluid masks -> depth -> layered scene.

Each stage uses its local model when ``[ml]`` names one and a built-in CPU stand-in when not (template prompt,
the procedural backend's picture as the "photo", classical masks, depth prior), so the backend always works and
every configured model is exercised on the same path. Models load on the first ``build`` and stay loaded.

The prompt is written from the alert's ``SceneBrief`` (``build_brief``: a ``BriefedBackend``), so the brief is
part of this backend's cache key: prewarm fills the briefs without alert words, and an alert whose words differ
(setting, part of the day, weather, severity) pays one cold render, cached for the next alert that says the same.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import structlog

from cinealert.cap.model import DisasterType
from cinealert.render.ml.layers import photo_scene
from cinealert.render.ml.mask import DISASTER_FLUIDS
from cinealert.render.ml.prompter import LLMPromptWriter
from cinealert.render.ml.runtime import stable_seed
from cinealert.render.prompt import SceneBrief
from cinealert.render.scene import RGB, Scene

if TYPE_CHECKING:
    from cinealert.config.settings import Settings
    from cinealert.render.ldi.build import Inpainter
    from cinealert.render.ml.depth import DepthEstimator
    from cinealert.render.ml.mask import Masker
    from cinealert.render.ml.t2i import TextToImage
    from cinealert.render.motion import MotionPredictor
    from cinealert.render.prompt import PromptWriter

log = structlog.get_logger(__name__)

#: ``[ml]`` keys only ``cinealert eval`` reads: they change no picture, so they stay out of the cache key
EVAL_ONLY = frozenset({"inception_weights", "lpips_model_dir"})


def _resize(image: RGB, width: int, height: int) -> RGB:
    if image.shape[:2] == (height, width):
        return image
    from PIL import Image

    return np.asarray(
        Image.fromarray(image).resize((width, height), Image.Resampling.LANCZOS), dtype=np.uint8
    )


class MLBackend:
    """``SceneBackend`` named ``ml``; ``settings`` is the whole configuration (``[ml]`` names the models)."""

    name = "ml"

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        # Another model or setting is another picture: all of [ml] is part of the cache key; the leading number
        # is the generation of what makes the scene (2: the alert's keywords in the instruction, sampled per
        # variant; 3: the classical water mask leaves out walls, posts and trunks; 4: the slope behind the estimated
        # water motion blurred at a reduced size, within ~0.2% of the full-size blur).
        self.version = f"4-{stable_seed(settings.ml.model_dump_json(exclude=set(EVAL_ONLY))):08x}"
        self._lock = threading.Lock()
        self._stages: tuple[PromptWriter, TextToImage | None, Masker, DepthEstimator] | None = None
        self._predictor: MotionPredictor | None = None
        #: the LDI's back-layer inpainter (``ml.inpaint_model_dir``), read by the renderer (``render.service``)
        #: after ``build``; ``None``: Telea
        self.inpainter: Inpainter | None = None

    def stages(self) -> tuple[PromptWriter, TextToImage | None, Masker, DepthEstimator]:
        """Load every configured model once (first call), so a misconfigured dir fails before any render."""
        with self._lock:
            if self._stages is None:
                from cinealert.render.device import get_device
                from cinealert.render.ml.depth import make_depth
                from cinealert.render.ml.mask import make_masker
                from cinealert.render.ml.prompter import make_prompt_writer

                get_device(self.settings.render.device)  # the first call decides the process's device
                ml = self.settings.ml
                t2i = None
                if ml.diffusion_model_dir is not None:
                    from cinealert.render.ml.t2i import TextToImage

                    t2i = TextToImage(
                        ml.diffusion_model_dir,
                        steps=ml.diffusion_steps,
                        guidance=ml.guidance_scale,
                        negative_prompt=ml.negative_prompt,
                    )
                from cinealert.render.motion import load_predictor

                self._predictor = load_predictor(ml.motion_model_dir)
                if ml.inpaint_model_dir is not None:
                    from cinealert.render.ml.inpaint import ModelInpainter

                    self.inpainter = ModelInpainter(
                        ml.inpaint_model_dir,
                        steps=ml.diffusion_steps,
                        guidance=ml.guidance_scale,
                        negative_prompt=ml.negative_prompt,
                        max_side=ml.diffusion_max_side,
                    )
                self._stages = (make_prompt_writer(self.settings), t2i, make_masker(ml), make_depth(ml))
            return self._stages

    def generate(
        self,
        t2i: TextToImage,
        prompt: str,
        disaster: DisasterType,
        variant: int,
        width: int,
        height: int,
        seed: int,
    ) -> RGB:
        """Stable Diffusion at the model's working size for this aspect, resized to the scene."""
        from cinealert.render.ml.t2i import generation_size

        gw, gh = generation_size(width, height, self.settings.ml.diffusion_max_side)
        image = t2i.generate(
            prompt, width=gw, height=gh, seed=stable_seed("t2i", seed, disaster.value, variant)
        )
        return _resize(image, width, height)

    def build(self, disaster: DisasterType, variant: int, width: int, height: int, *, seed: int) -> Scene:
        """The scene of ``(disaster, variant)`` with no alert words (what prewarm renders)."""
        return self.build_brief(SceneBrief(disaster, variant), width, height, seed=seed)

    def build_brief(self, brief: SceneBrief, width: int, height: int, *, seed: int) -> Scene:
        """The scene ``brief`` asks for: its keywords go to the prompt writer; every later stage reads the prompt."""
        from cinealert.render.procedural import ProceduralBackend  # not via the registry: no import cycle

        disaster, variant = brief.disaster, brief.variant
        writer, t2i, masker, depth = self.stages()
        if isinstance(writer, LLMPromptWriter):
            prompt, source = writer.write_brief_with_source(brief)
        else:
            prompt, source = writer.write_brief(brief), "template"
        # The procedural scene of the same type lends its particle sheets and camera shake, and stands in for
        # the photo when no diffusion model is configured.
        drawn = ProceduralBackend(settings=self.settings).build(disaster, variant, width, height, seed=seed)
        image = drawn.image
        if t2i is not None:
            image = self.generate(t2i, prompt, disaster, variant, width, height, seed)
        # the masks and the depth both read only the picture: side by side (cv2 and torch leave the GIL)
        with ThreadPoolExecutor(max_workers=2, thread_name_prefix="ml-stages") as pool:
            masked = pool.submit(masker.masks, image, DISASTER_FLUIDS[disaster])
            nearness = depth.nearness(image)
            masks = masked.result()
        scene = photo_scene(
            disaster,
            variant,
            image,
            nearness,
            masks,
            max_layers=self.settings.ml.depth_layers,
            seed=seed,
            prompt=prompt,
            shake=drawn.shake,
            meta={
                "prompt": source,
                "image": "diffusion" if t2i is not None else "procedural",
                "masks": masker.name,
                "depth": depth.name,
                "motion": "learned" if self._predictor is not None else "estimated",
                **({"inpaint": "model"} if self.inpainter is not None else {}),
            },
            predictor=self._predictor,
            particles=drawn,
        )
        log.info("ml_scene", disaster=disaster.value, variant=variant, keywords=brief.keywords(),
                 layers=len(scene.layers), **scene.meta)  # fmt: skip
        return scene
