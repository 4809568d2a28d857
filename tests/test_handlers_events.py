"""The ``cap.media`` announcement says what made the picture, as ``result.json`` recorded it."""

from __future__ import annotations

from pathlib import Path

from cinealert.config.sections import BroadcastSettings
from cinealert.handlers.events import build_event
from cinealert.handlers.stage import Published
from test_pipeline import make_alert

PAINTED = {"backend": "ml", "prompt": "llm", "image": "diffusion", "masks": "grounded-sam", "depth": "dpt"}


def published(scene: dict[str, object], **fields: object) -> Published:
    alert = make_alert()
    return Published(key=alert.key, disaster="flood", directory=Path("/out/x"), files=(Path("/out/x/a.ts"),),
                     extra={"scene": scene}, **fields)  # type: ignore[arg-type]  # fmt: skip


def event(p: Published) -> dict[str, object]:
    alert = make_alert()
    return build_event(
        "published", alert.key, alert.key, alert, p, None, p.directory, {}, BroadcastSettings()
    )


def test_the_announcement_names_the_backend_of_each_stage_and_the_prompt() -> None:
    scene = {"key": "k", "cache_hit": False, "painted_by": PAINTED, "prompt": "Brown floodwater. No humans."}
    doc = event(published(scene))
    assert doc["painted_by"] == PAINTED and doc["prompt"] == "Brown floodwater. No humans."
    assert doc["rung"] == "full" and doc["degraded"] == []


def test_a_degraded_render_says_what_it_fell_back_to() -> None:
    """A still frame after the loop failed: no scene backend recorded, the reason in ``degraded``."""
    reason = "the scene loop failed: kernel failed to compile"
    doc = event(published({"key": "still-1", "cache_hit": False, "painted_by": {}}, rung="static",
                          degraded=(reason,)))  # fmt: skip
    assert doc["painted_by"] == {} and "prompt" not in doc
    assert doc["rung"] == "static" and doc["degraded"] == [reason]
    # a result.json from before painted_by was recorded still announces
    assert event(published({"key": "old", "cache_hit": True}))["painted_by"] == {}
