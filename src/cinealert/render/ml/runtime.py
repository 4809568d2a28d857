"""Shared plumbing for the ML stages: one device for the process, stable seeds, local model directories.

torch is imported inside the functions, never at module import, so ``import cinealert.render.ml`` stays cheap.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import torch


class ModelDirError(FileNotFoundError):
    """A configured model directory is missing or does not hold a checkpoint; names the settings key."""


@functools.cache
def torch_device(preference: Literal["auto", "cpu", "cuda"] = "auto") -> torch.device:
    """CUDA when present (or asked for), else CPU; chosen once per process so tensors never hop devices."""
    import torch

    if preference == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("render.device is 'cuda' but torch sees no CUDA device; use 'auto' or 'cpu'")
    if preference == "cpu" or (preference == "auto" and not torch.cuda.is_available()):
        return torch.device("cpu")
    return torch.device("cuda")


def torch_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA (half the memory, tensor cores), fp32 on CPU (fp16 matmuls are slow or missing there)."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def lib(name: str) -> Any:
    """A heavy library (transformers, diffusers, peft), imported on first use and typed loosely on purpose:
    their ``from_pretrained`` factories return whatever the checkpoint names."""
    return importlib.import_module(name)


def stable_seed(*parts: object) -> int:
    """A 31-bit seed from any parts; unlike ``hash()`` it is the same in every process and on every host."""
    digest = hashlib.sha256("\x1f".join(str(p) for p in parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFF_FFFF


def model_dir(path: Path | None, key: str) -> Path:
    """``path`` checked to be a local checkpoint directory; the error names the settings key to fix."""
    if path is None:
        raise ModelDirError(f"ml.{key} is not set")
    if not path.is_dir():
        raise ModelDirError(f"ml.{key} = {path} is not a directory")
    markers = ("config.json", "model_index.json", "adapter_config.json", "preprocessor_config.json")
    if not any((path / m).is_file() for m in markers) and not any(path.glob("*.gguf")):
        raise ModelDirError(
            f"ml.{key} = {path} holds no checkpoint (config.json, model_index.json or *.gguf)"
        )
    return path
