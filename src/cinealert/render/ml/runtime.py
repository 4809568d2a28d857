"""Shared plumbing for the ML stages: dtype per device, stable seeds, local model directories, lazy imports.

torch is imported inside the functions, never at module import, so ``import cinealert.render.ml`` stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cinealert.errors import CinealertError

if TYPE_CHECKING:
    import torch


class ModelDirError(FileNotFoundError, CinealertError):
    """A configured model directory is missing or does not hold a checkpoint; names the settings key."""


def torch_dtype(device: torch.device) -> torch.dtype:
    """fp16 on CUDA (half the memory, tensor cores), fp32 on CPU (fp16 matmuls are slow or missing there)."""
    import torch

    return torch.float16 if device.type == "cuda" else torch.float32


def lib(name: str) -> Any:
    """A heavy library (transformers, diffusers, peft), imported on first use and typed loosely on purpose:
    their ``from_pretrained`` factories return whatever the checkpoint names."""
    # importlib on purpose: the optional-dependency guard, one name per caller, typed Any (no stubs to check).
    return importlib.import_module(name)


@contextmanager
def quiet_peft() -> Iterator[None]:
    """peft 0.21 reads ``is_gradient_checkpointing``, which transformers 5 deprecates: silence that one warning."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
        yield


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
