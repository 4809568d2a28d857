"""The one torch device of this process, chosen once: CUDA when present (and allowed), else CPU.

Importing this module does not import torch; ``get_device()`` does, on first use. On CPU the intra-op thread
count follows the CPUs this process may run on (cgroup/affinity), so two-core hosts are not oversubscribed.
"""

from __future__ import annotations

import os
import threading
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import torch

_lock = threading.Lock()
_device: torch.device | None = None


def cpu_budget() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def get_device(preference: Literal["auto", "cpu", "cuda"] = "auto") -> torch.device:
    """The process-wide device; the first call decides (later preferences are ignored, tensors stay put)."""
    global _device
    with _lock:
        if _device is None:
            import torch

            if preference == "cuda" and not torch.cuda.is_available():
                raise RuntimeError(
                    "render.device = 'cuda' but no CUDA device is available; use 'auto' or 'cpu'"
                )
            use_cuda = preference != "cpu" and torch.cuda.is_available()
            _device = torch.device("cuda") if use_cuda else torch.device("cpu")
            if not use_cuda:
                torch.set_num_threads(cpu_budget())
        return _device
