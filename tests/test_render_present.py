"""``render.present``: an alert is read once per render into a ``Presentation``, and everything ``media`` shows of
it (overlay, slate, event symbol, scene) is drawn from that; ``media`` takes the alert into ``render`` there only."""

from __future__ import annotations

import ast
import io
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cinealert.cap.model import Alert, DisasterType
from cinealert.cap.parse import parse_alert
from cinealert.render.compose import OverlayError, build_overlay
from cinealert.render.labels import severity_style, shown_expiry
from cinealert.render.pictogram import pictogram
from cinealert.render.present import SYMBOL_PX, Presentation, present
from cinealert.render.service import choose_variant
from cinealert.render.slate import slate

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"
SRC = ROOT / "src" / "cinealert"
FPS = 30000 / 1001


def sample(name: str) -> Alert:
    return parse_alert((SAMPLES / name).read_bytes())


def look(
    alert: Alert, languages: tuple[str, ...] = ("ko", "en"), timezone: str | None = None
) -> Presentation:
    return present(alert, DisasterType.TYPHOON, languages=languages, timezone=timezone, variants=3)


def test_pages_follow_the_configured_languages_with_the_expiry_each_shows() -> None:
    alert = sample("bilingual_typhoon.xml")
    ko_first, en_first = look(alert, ("ko", "en")), look(alert, ("en", "ko"))
    assert [i.language for i in ko_first.pages] == ["ko-KR", "en-US"]
    assert [i.language for i in en_first.pages] == ["en-US", "ko-KR"]
    assert ko_first.expiry == tuple(shown_expiry(alert, i, None) for i in ko_first.pages)
    assert all(ko_first.expiry)
    assert ko_first.variant == choose_variant(alert.key, 3)
    assert ko_first.scene is ko_first.disaster is DisasterType.TYPHOON


def test_a_cancel_shows_the_neutral_scene_and_no_expiry() -> None:
    cancel = sample("cancel_flood.xml")
    presentation = present(cancel, DisasterType.FLOOD, languages=("ko", "en"), timezone=None, variants=3)
    assert presentation.disaster is DisasterType.FLOOD  # the pictogram still names what was called off
    assert presentation.scene is DisasterType.OTHER
    assert presentation.expiry and not any(presentation.expiry)


def test_an_alert_without_info_cannot_be_presented() -> None:
    alert = sample("ko_flood.xml")
    with pytest.raises(OverlayError):
        look(replace(alert, infos=type(alert.infos)()))


def test_overlay_and_slate_are_the_layouts_of_the_presented_alert() -> None:
    alert = sample("bilingual_typhoon.xml")
    presentation = look(alert, timezone="Asia/Seoul")
    overlay = presentation.overlay(320, 180, FPS)
    expected = build_overlay(
        alert, DisasterType.TYPHOON, 320, 180, fps=FPS, timezone="Asia/Seoul", languages=("ko", "en")
    )
    assert overlay.schedule == expected.schedule
    assert [p.lines for p in overlay.pages] == [p.lines for p in expected.pages]
    assert np.array_equal(overlay.rgba(0), expected.rgba(0))
    made, direct = (
        presentation.slate(320, 180),
        slate(alert, presentation.pages, 320, 180, timezone="Asia/Seoul"),
    )
    assert made.pages == direct.pages
    assert np.array_equal(made.frame, direct.frame)


def test_the_event_symbol_is_the_pictogram_in_the_severity_colours() -> None:
    alert = sample("ko_flood.xml")
    presentation = present(alert, DisasterType.FLOOD, languages=("ko",), timezone=None, variants=3)
    assert presentation.symbol_colors == severity_style("Severe")
    png = presentation.symbol_png()
    assert png is presentation.symbol_png()  # drawn once per disaster and colours
    bg, fg = severity_style("Severe")
    drawn = pictogram(DisasterType.FLOOD, SYMBOL_PX, (*fg, 255), (*bg, 255))
    with Image.open(io.BytesIO(png)) as symbol:
        assert symbol.size == (SYMBOL_PX, SYMBOL_PX)
        assert np.array_equal(np.asarray(symbol.convert("RGBA")), np.asarray(drawn.convert("RGBA")))


def _imports(path: Path) -> set[str]:
    """The modules ``path`` imports at run time (at any depth; ``if TYPE_CHECKING:`` blocks left out)."""
    found: set[str] = set()

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.orelse:
                visit(child)
            return
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return found


def test_media_takes_an_alert_into_render_through_present_only() -> None:
    allowed = {"cinealert.render.present", "cinealert.render.loop"}  # loop: the frames handed between layers
    strays = {
        f"{path.name}: {module}"
        for path in sorted((SRC / "media").glob("*.py"))
        for module in _imports(path)
        if (module == "cinealert.render" or module.startswith("cinealert.render.")) and module not in allowed
    }
    assert not strays


def test_render_imports_no_layer_above_it() -> None:
    above = ("cinealert.broadcast", "cinealert.media", "cinealert.handlers", "cinealert.daemon")
    strays = {
        f"{path.relative_to(SRC)}: {module}"
        for path in sorted((SRC / "render").rglob("*.py"))
        for module in _imports(path)
        if module.startswith(above)
    }
    assert not strays
