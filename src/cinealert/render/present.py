"""How one alert looks on air: the one entry ``media`` takes into ``render`` per alert.

``present`` reads the alert once per render into a ``Presentation``: its pages (one info per language, in the
configured order), the expiry each page shows, the disaster its pictogram names, the scene behind the text and
its variant, the colours of its event symbol. The overlay (per picture size), the slate and the AEAT event
symbol are drawn from it, so every output of the render shows the same reading of the alert.

The pictures the degradation ladder steps down through (the cached scene loop, the scene at rest, a plain
background) do not depend on the alert's text; they are re-exported here so that ``media`` names ``render`` in
one place. Drawing (``compose``, ``slate``, ``pictogram``) is imported on first use, like ``media`` did.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from cinealert.cap.model import Alert, DisasterType, Info
from cinealert.config.sections import BroadcastSettings
from cinealert.render.loop import RESOLUTIONS, Frame
from cinealert.render.prompt import SceneBrief, brief_for
from cinealert.render.service import LoopResult, build_scene, choose_variant, get_loop

if TYPE_CHECKING:
    from cinealert.render.compose import Overlay
    from cinealert.render.labels import RGB
    from cinealert.render.slate import Slate

__all__ = [
    "RESOLUTIONS",
    "LoopResult",
    "Presentation",
    "SceneBrief",
    "build_scene",
    "choose_variant",
    "get_loop",
    "plain_background",
    "present",
    "retimed",
    "scene_for",
]

#: The AEAT ``EventSymbol``'s size in pixels (square).
SYMBOL_PX = 256


@dataclass(frozen=True, slots=True, kw_only=True)
class Presentation:
    """One alert as the viewer sees it, the same for every rung and profile of its render."""

    alert: Alert
    disaster: DisasterType  # what the alert is about: the overlay's pictogram, the event symbol
    scene: DisasterType  # the picture behind the text (``scene_for``)
    variant: int  # the scene variant: the same alert gets the same picture in every daemon
    #: the scene asked of the renderer: ``scene`` and ``variant`` with the alert's setting, part of the day,
    #: weather and severity (a backend that paints from them, the ML one, writes its prompt from these)
    brief: SceneBrief
    pages: tuple[Info, ...]  # one info per page, in the configured language order
    expiry: tuple[str, ...]  # each page's "until ..." text as shown (none for a Cancel)
    languages: tuple[str, ...]  # the configured language order
    timezone: str | None  # the channel's zone where set explicitly, else each expiry at its own offset
    symbol_colors: tuple[RGB, RGB]  # the event symbol's (background, foreground): the band's colours

    def overlay(self, width: int, height: int, fps: float) -> Overlay:
        """The burned-in overlay for a ``width`` x ``height`` picture; pages alternate until ``retimed``."""
        from cinealert.render.compose import build_overlay

        return build_overlay(
            self.alert, self.disaster, width, height, fps=fps, timezone=self.timezone, languages=self.languages,
        )  # fmt: skip

    def slate(self, width: int, height: int) -> Slate:
        """The ladder's last picture: the alert's text on a plain background, no scene."""
        from cinealert.render.slate import slate

        return slate(self.alert, self.pages, width, height, timezone=self.timezone)

    def symbol_png(self) -> bytes:
        """The AEAT ``EventSymbol``: the overlay's pictogram in ``symbol_colors``."""
        return _symbol_png(self.disaster, *self.symbol_colors)


def present(
    alert: Alert, disaster: DisasterType, *, languages: Sequence[str], timezone: str | None, variants: int
) -> Presentation:
    """Read ``alert`` (classified as ``disaster``) once for one render; ``OverlayError`` if it has no info."""
    from zoneinfo import ZoneInfo

    from cinealert.render.compose import page_languages
    from cinealert.render.labels import band_style, shown_expiry

    pages = tuple(page_languages(alert, languages))
    tz = ZoneInfo(timezone) if timezone else None
    severity = alert.infos[0].severity if alert.infos else "Unknown"
    scene, variant = scene_for(alert, disaster), choose_variant(alert.key, variants)
    # The area's part of the day: the alert's own offset where it has one, else the channel's (default) zone.
    area_zone = timezone or str(BroadcastSettings.model_fields["timezone"].default)
    return Presentation(
        alert=alert, disaster=disaster, scene=scene, variant=variant,
        brief=brief_for(scene, variant, alert, area_zone), pages=pages,
        expiry=tuple(shown_expiry(alert, info, tz) for info in pages), languages=tuple(languages),
        timezone=timezone, symbol_colors=band_style(alert, severity),
    )  # fmt: skip


def scene_for(alert: Alert, disaster: DisasterType) -> DisasterType:
    """The scene behind the text: the disaster's, except for a Cancel, which gets the neutral scene.

    A Cancel says the danger is over; rain over a flooded street under "CANCELLED" would say the opposite. The
    neutral ``other`` scene (a calm skyline, only clouds drifting) is the all-clear picture; the overlay's
    pictogram still names the disaster that was called off. The daemon never renders a Cancel (it withdraws
    the alerts it references), so this is what ``cinealert render`` of a Cancel shows.
    """
    return DisasterType.OTHER if alert.msg_type == "Cancel" else disaster


def retimed(overlay: Overlay, speech: Sequence[tuple[str, float]]) -> Overlay:
    """``overlay``'s pages switched at each ``(language, start seconds)`` of the speech."""
    from cinealert.render.compose import with_schedule

    return with_schedule(overlay, speech)


def plain_background(width: int, height: int) -> Frame:
    """The still picture when not even the scene at rest can be had (the slate's background)."""
    from cinealert.render.slate import plain_background as background

    return background(width, height)


@functools.lru_cache(maxsize=64)
def _symbol_png(disaster: DisasterType, background: RGB, foreground: RGB) -> bytes:
    from cinealert.render.pictogram import pictogram

    buf = io.BytesIO()
    pictogram(disaster, SYMBOL_PX, (*foreground, 255), (*background, 255)).save(buf, format="PNG")
    return buf.getvalue()
