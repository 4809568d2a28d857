"""The paper's prompt writer ("metadata generator"): a causal LM, optionally with a LoRA adapter, from local files.

Input is ``[INST] <keywords> [/INST]``: the scene brief's keywords (``SceneBrief.keywords``: the disaster's name
first, then the alert's setting, part of the day, weather and severity, e.g. ``[INST] Flood, urban, at midday,
under torrential rain, severe [/INST]``), the format training rows use (``train.encode``). Decoding is greedy
when ``ml.prompt_temperature`` is 0 (every variant of a brief gets one prompt) and sampled otherwise, seeded by
the disaster and the variant, so variants differ and one (brief, variant) always gets the same prompt. Raw
output goes through ``prompt.clean_generated``; empty or off-topic text falls back to the template writer, so a
bad adapter degrades the picture, never the service. Training data and the adapter: ``docs/ml.md``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import structlog

from cinealert.cap.model import Alert, DisasterType
from cinealert.render.device import get_device
from cinealert.render.ml.runtime import lib, model_dir, quiet_peft, stable_seed
from cinealert.render.prompt import PromptWriter, SceneBrief, TemplatePromptWriter, brief_for, clean_generated

if TYPE_CHECKING:
    from cinealert.config import Settings
    from cinealert.config.sections import MLSettings

log = structlog.get_logger(__name__)


def format_instruction(keywords: str) -> str:
    """The one instruction format, shared by training and inference so they cannot drift apart."""
    return f"[INST] {keywords.strip()} [/INST]"


def load_causal_lm(path: Path, adapter: Path | None = None) -> tuple[Any, Any]:
    """Model and tokenizer from a local directory (a checkpoint or a ``*.gguf``), with an optional adapter."""
    tf = lib("transformers")

    model_dir(path, "prompt_model_dir")
    kwargs: dict[str, Any] = {}
    if not (path / "config.json").is_file():
        ggufs = sorted(path.glob("*.gguf"))
        if ggufs:
            kwargs["gguf_file"] = ggufs[0].name
    tokenizer = tf.AutoTokenizer.from_pretrained(path, **kwargs)
    model = tf.AutoModelForCausalLM.from_pretrained(path, **kwargs)
    if adapter is not None:
        peft = lib("peft")

        model_dir(adapter, "prompt_adapter_dir")
        with quiet_peft():
            model = peft.PeftModel.from_pretrained(model, adapter)
    model = model.to(get_device()).eval()
    return model, tokenizer


class LLMPromptWriter:
    """Writes prompts with a causal LM; ``last_source`` says whether the last prompt came from it or the template."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        fallback: PromptWriter,
        *,
        max_new_tokens: int = 96,
        temperature: float = 0.0,
        timezone: str = "Asia/Seoul",
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.fallback = fallback
        self.max_new_tokens = max_new_tokens
        self.temperature = temperature
        self.timezone = timezone
        self.last_source = (
            "none"  # of the latest call, for logs and tests; use write_with_source under threads
        )
        self._lock = threading.Lock()  # generate() is not re-entrant on one model

    @classmethod
    def from_settings(
        cls, ml: MLSettings, fallback: PromptWriter, timezone: str = "Asia/Seoul"
    ) -> LLMPromptWriter:
        assert ml.prompt_model_dir is not None
        model, tokenizer = load_causal_lm(ml.prompt_model_dir, ml.prompt_adapter_dir)
        return cls(
            model,
            tokenizer,
            fallback,
            max_new_tokens=ml.prompt_max_new_tokens,
            temperature=ml.prompt_temperature,
            timezone=timezone,
        )

    def generate_raw(self, instruction: str, *, seed: int = 0) -> str:
        """The model's continuation of ``instruction`` as text (special tokens kept for the cleaner to cut)."""
        import torch

        tf = lib("transformers")

        tok = self.tokenizer
        pad = tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id
        config = tf.GenerationConfig(
            max_new_tokens=self.max_new_tokens,
            do_sample=self.temperature > 0,
            temperature=self.temperature if self.temperature > 0 else None,
            top_p=None,
            top_k=None,
            eos_token_id=tok.eos_token_id,
            pad_token_id=pad,
        )
        device = next(self.model.parameters()).device
        enc = tok(instruction, return_tensors="pt").to(device)
        with self._lock, torch.inference_mode():
            if self.temperature > 0:
                torch.manual_seed(seed)
            out = self.model.generate(**enc, generation_config=config)
        text: str = tok.decode(out[0, enc["input_ids"].shape[1] :], skip_special_tokens=False)
        return text

    def write(self, disaster: DisasterType, alert: Alert | None = None, *, variant: int = 0) -> str:
        return self.write_with_source(disaster, alert, variant=variant)[0]

    def write_brief(self, brief: SceneBrief) -> str:
        return self.write_brief_with_source(brief)[0]

    def write_with_source(
        self, disaster: DisasterType, alert: Alert | None = None, *, variant: int = 0
    ) -> tuple[str, str]:
        """The prompt and where it came from (``llm`` or ``template``); safe to call from several threads."""
        return self.write_brief_with_source(brief_for(disaster, variant, alert, self.timezone))

    def write_brief_with_source(self, brief: SceneBrief) -> tuple[str, str]:
        """The prompt for ``brief`` and where it came from (``llm`` or ``template``); thread-safe."""
        instruction = format_instruction(brief.keywords())
        raw = self.generate_raw(instruction, seed=stable_seed("prompt", brief.disaster.value, brief.variant))
        cleaned = clean_generated(raw, brief.disaster, instruction)
        if cleaned is None:
            log.info(
                "prompt_fallback", disaster=brief.disaster.value, instruction=instruction,
                reason="empty or off-topic", raw=raw[:200],
            )  # fmt: skip
            source, text = "template", self.fallback.write_brief(brief)
        else:
            source, text = "llm", cleaned
        self.last_source = source
        return text, source


def make_prompt_writer(settings: Settings) -> PromptWriter:
    """The template writer, or the LLM writer (falling back to the template) when a model dir is set."""
    template = TemplatePromptWriter(settings.broadcast.timezone)
    if settings.ml.prompt_model_dir is None:
        return template
    return LLMPromptWriter.from_settings(settings.ml, fallback=template, timezone=settings.broadcast.timezone)
