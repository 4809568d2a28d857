"""The channels of one daemon: each with its coverage, its broadcast settings and its own ``Stage``.

Without ``[channels]`` there is one, ``default``, from ``[coverage]`` and ``[broadcast]``: the daemon behaves as a
single-channel one did. With several, an alert is routed per channel (``handlers.policy.decide_channels``),
rendered into each taking channel's output root (the scene loop is cached under ``render.cache_dir``, shared by
every channel, so it is built once), and announced once per channel, the event naming its ``channel``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cinealert.cap.coverage import Coverage
from cinealert.config.sections import BroadcastSettings, CoverageSettings
from cinealert.config.settings import DEFAULT_CHANNEL
from cinealert.handlers.stage import Stage


@dataclass(frozen=True, slots=True)
class ChannelStage:
    name: str
    stage: Stage
    broadcast: BroadcastSettings = field(default_factory=BroadcastSettings)
    #: what this channel airs; None or an empty coverage airs everything
    coverage: Coverage | None = None

    @classmethod
    def build(
        cls,
        name: str,
        stage: Stage,
        broadcast: BroadcastSettings | None = None,
        coverage: CoverageSettings | Coverage | None = None,
    ) -> ChannelStage:
        compiled = Coverage.from_settings(coverage) if isinstance(coverage, CoverageSettings) else coverage
        return cls(name, stage, broadcast or BroadcastSettings(), compiled)

    def unpublished_dir(self, state_dir: Path) -> Path:
        """Where announcements of alerts this channel never output are marked (superseded before publishing)."""
        if self.name == DEFAULT_CHANNEL:
            return state_dir / "unpublished"
        return state_dir / f"unpublished-{self.name}"
