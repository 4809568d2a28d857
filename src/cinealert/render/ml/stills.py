"""Stills for the paper's Table 1: each disaster type painted from a plain prompt and from the prompt writer.

Both columns use the one Stable Diffusion pipeline of ``[ml]`` (steps, guidance, negative prompt) with the same
seed per image, so the prompt is the only difference:

- ``sd``: the plain prompt ``A photo of a flood.`` (the paper's "SD" baseline: the type alone);
- ``writer``: what the prompt writer writes for ``[INST] Flood [/INST]`` (``ml.prompt_model_dir`` and its
  adapter; without a model, the template writer, and the report says so).

Each still is written as ``OUT/<column>/<type>/NNN.png`` with its prompt beside it (``NNN.txt``, which the
CLIP score reads); an existing pair is kept, so an interrupted run resumes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from cinealert.cap.model import DisasterType
from cinealert.errors import CinealertError
from cinealert.render.ml.runtime import stable_seed
from cinealert.render.prompt import DISPLAY_NAME, SceneBrief

if TYPE_CHECKING:
    from cinealert.config.settings import Settings
    from cinealert.render.ml.t2i import TextToImage
    from cinealert.render.prompt import PromptWriter

BASELINE = "sd"
WRITER = "writer"


class StillsError(ValueError, CinealertError):
    """Stills cannot be painted as asked (no diffusion model configured, nothing to paint)."""


@dataclass(frozen=True, slots=True)
class StillsResult:
    root: Path
    painted: int
    kept: int
    writer_source: str  # "llm" (the configured model wrote every prompt), "template", or "llm+template"


def baseline_prompt(disaster: DisasterType) -> str:
    return f"A photo of a {DISPLAY_NAME[disaster].lower()}."


def _writer(settings: Settings) -> PromptWriter:
    from cinealert.render.ml.prompter import make_prompt_writer

    return make_prompt_writer(settings)


def _write_prompt(writer: PromptWriter, brief: SceneBrief) -> tuple[str, str]:
    from cinealert.render.ml.prompter import LLMPromptWriter

    if isinstance(writer, LLMPromptWriter):
        return writer.write_brief_with_source(brief)
    return writer.write_brief(brief), "template"


def export_stills(
    settings: Settings,
    out: Path,
    types: Sequence[DisasterType],
    count: int,
    size: int,
    *,
    progress: Callable[[str], None] | None = None,
) -> StillsResult:
    """Paint ``count`` stills per type and column at ``size`` x ``size`` into ``out`` (resumable)."""
    from PIL import Image

    from cinealert.render.device import get_device

    ml = settings.ml
    if ml.diffusion_model_dir is None:
        raise StillsError(
            "no diffusion model to paint stills: set ml.diffusion_model_dir, or pass --generated"
        )
    if count < 1 or not types:
        raise StillsError("nothing to paint: pass at least one type and --count >= 1")
    get_device(settings.render.device)  # the first call decides the process's device
    t2i: TextToImage | None = None
    writer = _writer(settings)
    painted = kept = 0
    sources: set[str] = set()
    for disaster in types:
        for index in range(count):
            seed = stable_seed("eval", disaster.value, index)
            brief = SceneBrief(disaster, variant=index)
            for column in (BASELINE, WRITER):
                png = out / column / disaster.value / f"{index:03d}.png"
                txt = png.with_suffix(".txt")
                if png.is_file() and txt.is_file():
                    kept += 1
                    continue
                if column == BASELINE:
                    prompt = baseline_prompt(disaster)
                else:
                    prompt, source = _write_prompt(writer, brief)
                    sources.add(source)
                if t2i is None:
                    t2i = _load_t2i(settings)
                image = t2i.generate(prompt, width=size, height=size, seed=seed)
                png.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(image).save(png)
                txt.write_text(prompt + "\n", encoding="utf-8")
                painted += 1
                if progress is not None:
                    progress(f"{column}/{disaster.value}/{index:03d}")
    return StillsResult(out, painted, kept, _manifest(out, settings, sources))


def _manifest(out: Path, settings: Settings, sources: set[str]) -> str:
    """``OUT/stills.json``: what painted the stills; the writer's source survives a resumed run."""
    path = out / "stills.json"
    old = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    sources |= {s for s in str(old.get("writer_source", "")).split("+") if s}
    ml = settings.ml
    writer_source = "+".join(sorted(sources))
    manifest = {
        "writer_source": writer_source,
        "baseline_prompt": baseline_prompt(DisasterType.FLOOD),
        "diffusion_model_dir": str(ml.diffusion_model_dir),
        "prompt_model_dir": str(ml.prompt_model_dir) if ml.prompt_model_dir else None,
        "prompt_adapter_dir": str(ml.prompt_adapter_dir) if ml.prompt_adapter_dir else None,
        "steps": ml.diffusion_steps,
        "guidance_scale": ml.guidance_scale,
        "negative_prompt": ml.negative_prompt,
    }
    out.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return writer_source or "unknown"


def _load_t2i(settings: Settings) -> TextToImage:
    from cinealert.render.ml.t2i import TextToImage

    ml = settings.ml
    assert ml.diffusion_model_dir is not None
    return TextToImage(
        ml.diffusion_model_dir,
        steps=ml.diffusion_steps,
        guidance=ml.guidance_scale,
        negative_prompt=ml.negative_prompt,
    )
