"""The AEAT EventSymbol of a Cancel takes the all-clear treatment: the file the atsc3 writer publishes for
``samples/cancel_flood.xml`` is the pictogram on the Cancel band's green, where an Alert's is on its
severity colour (``render/labels.py``)."""

from __future__ import annotations

import threading
from io import BytesIO
from pathlib import Path

import numpy as np
from PIL import Image

from cinealert.cap.classify import classify
from cinealert.cap.model import DisasterType
from cinealert.cap.parse import parse_alert
from cinealert.config import parse
from cinealert.media.stage import MediaStage
from cinealert.render.labels import ALL_CLEAR_COLORS, severity_style
from test_media_ts import H, W, provider

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def symbol(tmp: Path, sample: str) -> tuple[np.ndarray, object]:
    settings = parse({
        "broadcast": {"output_dir": str(tmp / "out"), "profiles": ["atsc3"], "languages": ["ko", "en"]},
        "render": {"cache_dir": str(tmp / "cache")},
    })  # fmt: skip
    alert = parse_alert((SAMPLES / sample).read_bytes())
    folder = tmp / "out" / alert.key.slug()
    MediaStage(settings, loop_provider=provider, size=(W, H)).render(
        alert, classify(alert), threading.Event(), directory=folder
    )
    png = next(folder.glob("**/event_symbol.png"))
    return np.asarray(Image.open(BytesIO(png.read_bytes())).convert("RGB")), alert


def colours(img: np.ndarray) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The tile's background (the most common colour) and the icon's (the most common other one)."""
    values, counts = np.unique(img.reshape(-1, 3), axis=0, return_counts=True)
    order = np.argsort(-counts)
    return tuple(int(v) for v in values[order[0]]), tuple(int(v) for v in values[order[1]])


def test_cancel_symbol_is_all_clear_green_and_alert_keeps_its_severity(tmp_path: Path) -> None:
    cancel, cancel_alert = symbol(tmp_path / "c", "cancel_flood.xml")
    alert, alert_alert = symbol(tmp_path / "a", "ko_flood.xml")
    assert cancel_alert.msg_type == "Cancel" and alert_alert.msg_type == "Alert"  # type: ignore[attr-defined]
    assert classify(cancel_alert).disaster is DisasterType.FLOOD  # type: ignore[arg-type]
    green, white = ALL_CLEAR_COLORS
    assert colours(cancel) == (green, white)
    bg, fg = severity_style(alert_alert.infos[0].severity)  # type: ignore[attr-defined]
    assert colours(alert) == (bg, fg) and bg != green
    # The same flood pictogram shape, only recoloured: the icon covers the same pixels (anti-aliased edges aside).
    assert np.mean(np.all(cancel == white, axis=-1) == np.all(alert == fg, axis=-1)) > 0.97
    print(f"symbol colours: Cancel {colours(cancel)}, Alert {colours(alert)}")
