"""The media stage's old address: ``cinealert.media`` now holds it (``media.stage``, ``media.result``, ...).

Kept so callers that name ``cinealert.handlers.pipeline`` (tests, benchmarks, configurations) keep working.
"""

from __future__ import annotations

from cinealert.media.errors import MediaError
from cinealert.media.job import ALL_PROFILES, Mode, ProfileName
from cinealert.media.picture import (
    LoopInfo,
    LoopProvider,
    StillProvider,
    default_loop_provider,
    default_still_provider,
    variant_for,
)
from cinealert.media.result import RESULT, read_result
from cinealert.media.stage import MediaStage

__all__ = [
    "ALL_PROFILES",
    "RESULT",
    "LoopInfo",
    "LoopProvider",
    "MediaError",
    "MediaStage",
    "Mode",
    "ProfileName",
    "StillProvider",
    "default_loop_provider",
    "default_still_provider",
    "read_result",
    "variant_for",
]
