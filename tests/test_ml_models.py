"""The prompt writer's LLM path and its training: tiny Llama + byte-level BPE, LoRA adapters, BLIP captions.

Everything loads through the production loaders (``load_causal_lm``, ``make_prompt_writer``, ``Captioner``).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from cinealert.cap.model import DisasterType
from cinealert.cli import main
from cinealert.config import parse
from cinealert.render.ml.prompter import LLMPromptWriter, load_causal_lm, make_prompt_writer
from cinealert.render.ml.train import TrainConfig, batch_indices, checkpoints, train_lora
from cinealert.render.prompt import NO_HUMANS, TemplatePromptWriter, caption_brief
from tinymodels import (
    DESCRIPTIONS,
    llm_corpus,
    single_thread,
    tiny_adapter,
    tiny_blip,
    tiny_llama,
    write_jsonl,
)


@pytest.fixture(scope="session")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    single_thread()
    root = tmp_path_factory.getbasetemp() / "tinymodels"
    root.mkdir(exist_ok=True)
    return root


@pytest.fixture(scope="session")
def llama(models: Path) -> Path:
    return tiny_llama(models, llm_corpus())


@pytest.fixture(scope="session")
def adapter(models: Path, llama: Path) -> Path:
    return tiny_adapter(models, llama)


def test_trained_adapter_writes_the_learned_description(llama: Path, adapter: Path) -> None:
    settings = parse({"ml": {"prompt_model_dir": str(llama), "prompt_adapter_dir": str(adapter)}})
    writer = make_prompt_writer(settings)
    assert isinstance(writer, LLMPromptWriter)
    for name in ("flood", "wildfire", "heavy_snow"):
        text = writer.write(DisasterType(name))
        assert writer.last_source == "llm"
        assert text == f"{DESCRIPTIONS[name]} {NO_HUMANS}"
    # greedy decoding: the same request gives the same prompt
    assert writer.write(DisasterType.FLOOD) == writer.write(DisasterType.FLOOD, variant=2)


def test_untrained_model_output_falls_back_to_the_template(llama: Path) -> None:
    model, tokenizer = load_causal_lm(llama)
    template = TemplatePromptWriter()
    writer = LLMPromptWriter(model, tokenizer, template, max_new_tokens=12)
    raw = writer.generate_raw("[INST] Flood [/INST]")
    assert raw.strip()  # it says something ...
    assert writer.write(DisasterType.FLOOD) == template.write(DisasterType.FLOOD)  # ... that is not a flood
    assert writer.last_source == "template"


def test_adapter_for_one_type_does_not_leak_into_another(llama: Path, adapter: Path) -> None:
    """The adapter learned a wildfire sentence; asked for a flood it must not answer with flames."""
    model, tokenizer = load_causal_lm(llama, adapter)
    writer = LLMPromptWriter(model, tokenizer, TemplatePromptWriter(), max_new_tokens=40)
    assert "Flames" not in writer.write(DisasterType.FLOOD)
    assert "floodwater" in writer.write(DisasterType.FLOOD)


def test_resumed_training_ends_with_the_same_adapter(models: Path, llama: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file

    data = write_jsonl(tmp_path / "rows.jsonl")
    config = TrainConfig(steps=4, learning_rate=1e-2, batch_size=3, save_every=2, seed=7)
    straight = train_lora(data, llama, tmp_path / "straight", config, progress=False)
    assert straight.resumed_from == 0
    half = TrainConfig(steps=2, learning_rate=1e-2, batch_size=3, save_every=2, seed=7)
    train_lora(data, llama, tmp_path / "resumed", half, progress=False)
    assert [s for s, _ in checkpoints(tmp_path / "resumed")] == [2]
    assert (tmp_path / "resumed" / "checkpoint-2" / "optimizer.pt").is_file()
    resumed = train_lora(data, llama, tmp_path / "resumed", config, progress=False)
    assert resumed.resumed_from == 2
    a = load_file(str(tmp_path / "straight" / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "resumed" / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and a
    for key in a:
        assert torch.equal(a[key], b[key]), key
    other_seed = TrainConfig(steps=4, learning_rate=1e-2, batch_size=3, save_every=2, seed=8)
    train_lora(data, llama, tmp_path / "seed8", other_seed, progress=False)
    c = load_file(str(tmp_path / "seed8" / "adapter_model.safetensors"))
    assert any(not torch.equal(a[k], c[k]) for k in a)


def test_batch_order_is_a_pure_function_of_seed_and_step() -> None:
    first = [batch_indices(7, 3, 0, step) for step in range(7)]
    assert first == [batch_indices(7, 3, 0, step) for step in range(7)]
    # every example is seen once per epoch
    flat = [i for batch in first for i in batch]
    assert sorted(flat[:7]) == list(range(7))
    assert first != [batch_indices(7, 3, 1, step) for step in range(7)]


def test_train_command_writes_an_adapter(
    llama: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_jsonl(tmp_path / "rows.jsonl")
    out = tmp_path / "adapter"
    argv = ["prompter", "train", "--data", str(data), "--model", str(llama), "--out", str(out)]
    assert main([*argv, "--steps", "3", "--save-every", "2", "--seed", "1", "--quiet"]) == 0
    assert (out / "adapter_config.json").is_file() and (out / "adapter_model.safetensors").is_file()
    assert "3 steps" in capsys.readouterr().out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"disaster": "flood"}\n')
    assert (
        main(["prompter", "train", "--data", str(bad), "--model", str(llama), "--out", str(out), "--quiet"])
        == 2
    )


def _image(path: Path, colour: tuple[int, int, int]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(sum(colour))
    pixels = np.clip(np.array(colour) + rng.integers(-20, 20, (40, 40, 3)), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).save(path)


def test_dataset_command_captions_each_image_once(
    models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blip = tiny_blip(models)
    images = tmp_path / "photos"
    _image(images / "flood" / "a.png", (90, 80, 60))
    _image(images / "flood" / "b.jpg", (60, 80, 120))
    _image(images / "heavy snow" / "c.png", (240, 240, 250))
    _image(images / "holiday" / "d.png", (10, 200, 10))  # not a disaster type: skipped
    (images / "flood" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    out = tmp_path / "data.jsonl"
    argv = ["prompter", "dataset", "--images", str(images), "--out", str(out), "--blip", str(blip), "--quiet"]
    assert main(argv) == 0
    assert "3 added, 0 already there, 1 unreadable" in capsys.readouterr().out
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(r["image"] for r in rows) == ["flood/a.png", "flood/b.jpg", "heavy snow/c.png"]
    assert {r["disaster"] for r in rows} == {"flood", "heavy_snow"}
    for row in rows:
        assert row["description"].endswith(".")
        # the caption's own setting, part of the day and weather, in the instruction format alerts are asked in
        brief = caption_brief(DisasterType(row["disaster"]), row["caption"])
        assert row["keywords"] == brief.keywords() and row["keywords"].startswith(("Flood", "Heavy snow"))
    # resumable: a second run captions nothing again
    assert main(argv) == 0
    assert "0 added, 3 already there" in capsys.readouterr().out
    # captions are deterministic (greedy) and the set trains
    again = tmp_path / "again.jsonl"
    assert main([*argv[:5], str(again), *argv[6:]]) == 0
    assert [json.loads(x)["caption"] for x in again.read_text().splitlines()] == [r["caption"] for r in rows]


def test_dataset_command_needs_a_captioner(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prompter", "dataset", "--images", str(tmp_path), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert "blip" in capsys.readouterr().err
