"""LoRA fine-tuning of the prompt writer on (disaster, description) rows, the paper's method.

Resumable and reproducible: the example order is a function of ``(seed, step)`` only, and every checkpoint holds
the adapter, the optimizer state and the step, so a run stopped at step k and resumed ends with the same adapter
as one that never stopped. Checkpoints are written to a temporary directory and renamed into place, so a kill
mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import structlog

from cinealert.cap.model import DisasterType
from cinealert.errors import CinealertError
from cinealert.render.ml.prompter import format_instruction, load_causal_lm
from cinealert.render.ml.runtime import lib, quiet_peft, stable_seed
from cinealert.render.prompt import DISPLAY_NAME

log = structlog.get_logger(__name__)

CHECKPOINT_PREFIX = "checkpoint-"


class TrainDataError(ValueError, CinealertError):
    """The training JSONL is missing, empty or has a malformed row (the message gives the line)."""


@dataclass(frozen=True, slots=True)
class TrainConfig:
    steps: int = 200
    learning_rate: float = 2e-4
    batch_size: int = 4
    rank: int = 8
    alpha: int = 16
    dropout: float = 0.0
    seed: int = 0
    save_every: int = 50
    keep_checkpoints: int = 2
    max_length: int = 256
    target_modules: str | tuple[str, ...] = "all-linear"


@dataclass(frozen=True, slots=True)
class TrainResult:
    steps: int
    resumed_from: int
    final_loss: float
    adapter_dir: Path


def read_rows(path: Path) -> list[dict[str, str]]:
    """Rows with a ``description`` and a ``disaster`` (or explicit ``keywords``)."""
    if not path.is_file():
        raise TrainDataError(f"{path} does not exist")
    rows: list[dict[str, str]] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            raise TrainDataError(f"{path}:{number}: not JSON ({exc.msg})") from None
        if not isinstance(row, dict) or not str(row.get("description", "")).strip():
            raise TrainDataError(f"{path}:{number}: a row needs a non-empty 'description'")
        if "keywords" not in row:
            try:
                row["keywords"] = DISPLAY_NAME[DisasterType(row.get("disaster", ""))]
            except ValueError:
                raise TrainDataError(f"{path}:{number}: unknown disaster {row.get('disaster')!r}") from None
        rows.append({k: str(v) for k, v in row.items()})
    if not rows:
        raise TrainDataError(f"{path} holds no rows")
    return rows


def encode(tokenizer: Any, keywords: str, description: str, max_length: int) -> tuple[list[int], list[int]]:
    """Token ids and labels; the instruction is masked out (-100) so only the description is learned."""
    prompt = tokenizer(format_instruction(keywords))["input_ids"]
    answer = tokenizer(" " + description.strip(), add_special_tokens=False)["input_ids"]
    ids = (list(prompt) + list(answer) + [tokenizer.eos_token_id])[:max_length]
    labels = ([-100] * len(prompt) + list(answer) + [tokenizer.eos_token_id])[:max_length]
    return ids, labels


def batch_indices(n: int, batch_size: int, seed: int, step: int) -> list[int]:
    """The examples of ``step``: walk seeded per-epoch permutations, so any step can be recomputed on resume."""
    out: list[int] = []
    start = step * batch_size
    for position in range(start, start + batch_size):
        epoch, offset = divmod(position, n)
        order = np.random.default_rng(stable_seed("epoch", seed, epoch)).permutation(n)
        out.append(int(order[offset]))
    return out


def checkpoints(out: Path) -> list[tuple[int, Path]]:
    found = []
    for path in out.glob(f"{CHECKPOINT_PREFIX}*"):
        suffix = path.name[len(CHECKPOINT_PREFIX) :]
        if suffix.isdigit() and (path / "state.json").is_file():
            found.append((int(suffix), path))
    return sorted(found)


def _save_checkpoint(model: Any, optimizer: Any, out: Path, step: int, loss: float, keep: int) -> None:
    import torch

    final = out / f"{CHECKPOINT_PREFIX}{step}"
    tmp = out / f".tmp-{CHECKPOINT_PREFIX}{step}"
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
    (tmp / "state.json").write_text(json.dumps({"step": step, "loss": loss}))
    shutil.rmtree(final, ignore_errors=True)
    tmp.rename(final)
    for _, old in checkpoints(out)[:-keep]:
        shutil.rmtree(old, ignore_errors=True)


def _batches(rows: list[tuple[list[int], list[int]]], pad: int, idx: list[int]) -> dict[str, Any]:
    import torch

    width = max(len(rows[i][0]) for i in idx)
    ids = torch.full((len(idx), width), pad, dtype=torch.long)
    labels = torch.full((len(idx), width), -100, dtype=torch.long)
    mask = torch.zeros((len(idx), width), dtype=torch.long)
    for r, i in enumerate(idx):
        n = len(rows[i][0])
        ids[r, :n] = torch.tensor(rows[i][0])
        labels[r, :n] = torch.tensor(rows[i][1])
        mask[r, :n] = 1
    return {"input_ids": ids, "labels": labels, "attention_mask": mask}


def train_lora(
    data: Path, model_path: Path, out: Path, config: TrainConfig, *, progress: bool = True
) -> TrainResult:
    """Train (or resume training) a LoRA adapter; the final adapter is saved in ``out`` itself."""
    import torch
    from tqdm import tqdm

    peft = lib("peft")
    rows = read_rows(data)
    model, tokenizer = load_causal_lm(model_path)
    if tokenizer.eos_token_id is None:
        raise TrainDataError(f"the tokenizer in {model_path} has no end-of-sequence token")
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    encoded = [encode(tokenizer, r["keywords"], r["description"], config.max_length) for r in rows]
    torch.manual_seed(config.seed)
    lora = peft.LoraConfig(
        r=config.rank,
        lora_alpha=config.alpha,
        lora_dropout=config.dropout,
        target_modules=list(config.target_modules)
        if isinstance(config.target_modules, tuple)
        else config.target_modules,
        task_type="CAUSAL_LM",
    )
    with quiet_peft():
        model = peft.get_peft_model(model, lora)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=config.learning_rate)
    out.mkdir(parents=True, exist_ok=True)
    start = 0
    existing = checkpoints(out)
    if existing:
        start, path = existing[-1]
        weights = lib("safetensors.torch").load_file(str(path / "adapter_model.safetensors"))
        peft.set_peft_model_state_dict(model, weights)
        optimizer.load_state_dict(torch.load(path / "optimizer.pt", weights_only=True))
        log.info("lora_resume", checkpoint=str(path), step=start)
    device = next(model.parameters()).device
    model.train()
    loss_value = float("nan")
    steps: Iterator[int] = iter(range(start, config.steps))
    bar = tqdm(steps, total=config.steps, initial=start, desc="lora", unit="step", disable=not progress)
    for step in bar:
        torch.manual_seed(stable_seed("dropout", config.seed, step))
        idx = batch_indices(len(encoded), config.batch_size, config.seed, step)
        batch = {k: v.to(device) for k, v in _batches(encoded, pad, idx).items()}
        loss = model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        loss_value = float(loss.detach())
        bar.set_postfix(loss=f"{loss_value:.3f}")
        done = step + 1
        if done % config.save_every == 0 or done == config.steps:
            _save_checkpoint(model, optimizer, out, done, loss_value, config.keep_checkpoints)
    model.eval()
    model.save_pretrained(out)
    (out / "train_state.json").write_text(
        json.dumps({"steps": config.steps, "seed": config.seed, "loss": loss_value, "data": str(data)})
    )
    return TrainResult(steps=config.steps, resumed_from=start, final_loss=loss_value, adapter_dir=out)
