"""Pick the ``Stage`` named by ``handlers.stage``; a media stage that cannot load is reported, never silent."""

from __future__ import annotations

import threading
from collections.abc import Callable

import structlog

from cinealert.config import Settings
from cinealert.config.sections import BroadcastSettings
from cinealert.errors import CinealertError
from cinealert.handlers.channels import ChannelStage
from cinealert.handlers.stage import Stage
from cinealert.handlers.summary_stage import SummaryStage
from cinealert.objstore import share_cache, shared_files

log = structlog.get_logger("cinealert.handlers")


class StageUnavailableError(RuntimeError, CinealertError):
    """The configured stage cannot be built (its module is missing or failed to import)."""


def make_stage(settings: Settings, *, fallback: bool = True) -> Stage:
    h = settings.handlers
    files = shared_files(settings)
    if settings.store.share_scene_cache:
        share_cache(settings.render.cache_dir, files)  # loops and clean video read through the bucket
    summary = SummaryStage(settings.broadcast.output_dir, delay_s=h.summary_delay_s, files=files)
    if h.stage == "summary":
        return summary
    try:
        from cinealert.media.stage import MediaStage

        stage: Stage = MediaStage(settings, files=files)
    except (ImportError, AttributeError) as exc:
        if not fallback:
            raise StageUnavailableError(f"media stage unavailable: {exc}") from exc
        log.error(
            "media_stage_unavailable",
            error=repr(exc),
            fallback="summary",
            hint='set handlers.stage = "summary" to silence this, or install the render/broadcast stages',
        )
        return summary
    return stage


def channel_stages(settings: Settings, stage: Stage) -> list[ChannelStage]:
    """Every channel of ``settings`` with a stage like ``stage`` writing under the channel's output root.

    Without ``[channels]``: ``stage`` itself, as the one "default" channel. A media stage is copied with the
    channel's broadcast settings and the same providers, speaker and ``render.cache_dir`` (so a scene rendered
    for one channel is a cache hit for the next); a summary stage with the channel's output root.
    """
    if not settings.channels:
        return [ChannelStage.build("default", stage, settings.broadcast, settings.coverage)]
    out: list[ChannelStage] = []
    for channel in settings.channel_list():
        out.append(ChannelStage.build(channel.name, _like(stage, settings, channel.broadcast), channel.broadcast,
                                      channel.coverage))  # fmt: skip
    return out


def _like(stage: Stage, settings: Settings, broadcast: BroadcastSettings) -> Stage:
    if isinstance(stage, SummaryStage):
        return SummaryStage(
            broadcast.output_dir, delay_s=stage.delay_s, step_s=stage.step_s, files=stage.files
        )
    from cinealert.media.stage import MediaStage

    if isinstance(stage, MediaStage):
        return MediaStage(
            settings.model_copy(update={"broadcast": broadcast}),
            speaker=stage._speaker,
            loop_provider=stage.loop_provider,
            still_provider=stage.still_provider,
            size=stage.size,
            files=stage.files,
        )
    raise StageUnavailableError(f"{type(stage).__name__} cannot be copied per channel")


Prewarm = Callable[[threading.Event], object]


def prewarm_hook(
    stage: Stage, settings: Settings, progress: Callable[[int, int, str], None] | None = None
) -> Prewarm | None:
    """What to run before the daemon reports READY: fill the scene cache for ``render.prewarm`` (media only);
    ``progress(done, total, label)`` after each loop (the demo's progress bar)."""
    if (
        isinstance(stage, SummaryStage)
        or not settings.render.prewarm_before_ready
        or not settings.render.prewarm
    ):
        return None
    try:
        from cinealert.render.service import prewarm
    except ImportError as exc:
        log.warning("prewarm_unavailable", error=repr(exc))
        return None

    def run(cancel: threading.Event) -> object:
        return prewarm(settings, cancel=cancel, progress=progress or False)

    return run
