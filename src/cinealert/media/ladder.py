"""The degradation ladder: which rung a failure steps down to, and which failures may not step down at all.

A valid alert always airs, so a render error that a retry would only repeat walks down the ladder
(``contract.RUNGS``) instead of failing the alert. The picture steps down here: the scene loop (``full``), a
still (``static``: a scene frame, else a plain background under the overlay), a text slate (``slate``).
Speech degrades on its own (``speech``: ``no_speech``), since it does not depend on the picture.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Literal

import structlog

from cinealert.errors import Cancelled
from cinealert.media.contract import GateClosed, StageCancelled
from cinealert.media.errors import MediaError, RungError, SpeechError, describe

log = structlog.get_logger(__name__)

#: The picture of a ladder rung; speech is degraded on its own, so ``no_speech`` has no picture of its own.
Picture = Literal["loop", "still", "slate"]
PICTURE_RUNG: dict[str, str] = {"loop": "full", "still": "static", "slate": "slate"}

#: ``(picture, steps so far) -> None``: publish every output of one rung, or raise why it could not.
Attempt = Callable[[Picture, list[str]], None]


def fatal(exc: Exception, cancel: threading.Event) -> BaseException | None:
    """What must propagate instead of a step down the ladder: ``exc`` itself, a ``StageCancelled`` standing
    for it, or ``None`` (degrade). Cancellation and a closed gate are no failures; the output's storage failing
    (``PublishError``, disk full anywhere in the chain) is not this alert's fault and no simpler picture would
    fix it (the caller waits for space); missing audio would be missing at every rung."""
    from cinealert.broadcast.publish import PublishError, disk_full

    if isinstance(exc, StageCancelled | GateClosed):
        return exc
    if isinstance(exc, Cancelled) or cancel.is_set():  # render, encode or speech cancelled
        return StageCancelled(f"render cancelled: {exc}")
    if isinstance(exc, PublishError | SpeechError) or disk_full(exc):
        return exc
    return None


def raise_if_fatal(exc: Exception, cancel: threading.Event) -> None:
    """Re-raise ``exc`` (or what stands for it) when no lower rung may be tried; return to degrade."""
    stop = fatal(exc, cancel)
    if stop is exc:
        raise exc
    if stop is not None:
        raise stop from exc


def lower(picture: Picture, exc: Exception) -> Picture | None:
    """The next rung down after ``picture`` failed with ``exc``: the still shares the overlay, so an overlay
    that cannot be laid out goes straight to the slate; below the slate there is nothing."""
    if picture == "slate":
        return None
    if picture == "still" or (isinstance(exc, RungError) and exc.part == "overlay"):
        return "slate"
    return "still"


def reason(picture: Picture, exc: Exception) -> str:
    if isinstance(exc, RungError) and exc.part != "render":
        return str(exc)
    return f"the {PICTURE_RUNG[picture]} picture failed: {describe(exc)}"


def descend(key: str, cancel: threading.Event, attempt: Attempt) -> None:
    """Try ``attempt`` from the full picture down until one rung publishes; ``MediaError`` (every rung's
    reason) when even the slate fails. ``attempt`` gets the reasons so far and may amend the last one."""
    picture: Picture = "loop"
    steps: list[str] = []
    while True:
        try:
            attempt(picture, steps)
        except Exception as exc:
            raise_if_fatal(exc, cancel)
            why = reason(picture, exc)
            below = lower(picture, exc)
            if below is None:
                raise MediaError(f"{key}: every rung failed: {'; '.join([*steps, why])}") from exc
            log.warning("media_degraded", key=key, rung=PICTURE_RUNG[below], failed=picture, reason=why)
            steps.append(why)
            picture = below
        else:
            return


def aired(picture: Picture, speech_degraded: bool) -> str:
    """The rung that aired: the picture's, or ``no_speech`` where the full picture aired without all speech."""
    if picture == "loop" and speech_degraded:
        return "no_speech"
    return PICTURE_RUNG[picture]
