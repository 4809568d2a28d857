"""The daemon paints with the models its ``--config`` names: ``cinealert run --config X`` on tiny real models.

The acceptance check of the ML path (issue P4 b): no ``$CINEALERT_CONFIG``, the ``[ml]`` directories only in the
file, one alert in through the real embedded broker, and the ``published`` announcement on ``*.media`` and its
``result.json`` both say which backend and model made every stage, and the prompt the picture was painted from.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cinealert.config import Settings
from cinealert.daemon.broker import EmbeddedBroker
from test_daemon_kafka import Daemon, Topics, produce, read_topic
from test_ml_scene import ml_settings, models  # noqa: F401  (session fixtures: the tiny models)
from tinymodels import DESCRIPTIONS

pytestmark = pytest.mark.slow

PAINTED = {
    "backend": "ml", "prompt": "llm", "image": "diffusion", "masks": "grounded-sam", "depth": "dpt",
    "motion": "estimated",
}  # fmt: skip


def test_the_daemon_paints_with_the_models_its_config_names(
    broker: EmbeddedBroker,
    ml_settings: Settings,  # noqa: F811
    tmp_path: Path,
) -> None:
    topics = Topics(broker, "mldaemon")
    dirs = {k: str(v) for k, v in ml_settings.ml.model_dump().items() if k.endswith("_dir") and v is not None}
    assert {"prompt_model_dir", "prompt_adapter_dir", "diffusion_model_dir", "grounding_model_dir",
            "sam_model_dir", "depth_model_dir"} <= set(dirs)  # fmt: skip
    config = tmp_path / "cinealert.toml"
    config.write_text("\n".join([
        "[kafka]", f'bootstrap = "{broker.bootstrap}"', f'alerts_topic = "{topics.alerts}"',
        f'media_topic = "{topics.media}"', f'dead_letter_topic = "{topics.dead}"',
        f'group_id = "{topics.alerts}-group"', "session_timeout_ms = 6000", "heartbeat_interval_ms = 1000",
        "[handlers]", 'stage = "media"', "concurrency = 1", f'dedup_state_dir = "{tmp_path / "state"}"',
        "[render]", 'backend = "ml"', f'cache_dir = "{tmp_path / "cache"}"', "duration_s = 0.5", "variants = 1",
        'resolution = "720p"', "prewarm = []", "prewarm_before_ready = false",
        "[broadcast]", f'output_dir = "{tmp_path / "out"}"', 'profiles = ["atsc1"]', 'languages = ["en"]',
        "[metrics]", "enabled = false",
        "[log]", 'level = "info"', 'format = "json"',
        "[ml]", *(f'{k} = "{v}"' for k, v in dirs.items()), "diffusion_steps = 2", "diffusion_max_side = 64",
        "box_threshold = 0.0", "text_threshold = 0.0",
    ]) + "\n")  # fmt: skip
    daemon = Daemon(config, "run")  # its environment has no CINEALERT_* variable: the file is all it reads
    try:
        daemon.wait_ready(timeout=120)
        produce(broker.bootstrap, topics.alerts, [(b"nws", Path("samples/en_flood.xml").read_bytes())])

        def published(messages: list[tuple[bytes, dict[str, bytes]]]) -> bool:
            return any(json.loads(value)["event"] == "published" for value, _ in messages)

        media = read_topic(broker.bootstrap, topics.media, published, timeout=300)
        events = [json.loads(value) for value, _ in media]
        event = next((e for e in events if e["event"] == "published"), None)
        assert event is not None, f"no published event on {topics.media}:\n{daemon.tail(60)}"
        assert daemon.terminate(60) == 0
    finally:
        daemon.kill()
    prompt = f"{DESCRIPTIONS['flood']} Do not include any humans."
    doc = json.loads((Path(event["directory"]) / "result.json").read_text())
    assert doc["rung"] == "full" and doc["degraded"] == []
    assert doc["scene"]["painted_by"] == PAINTED
    assert doc["scene"]["prompt"] == prompt  # the alert's keywords, answered by the tiny adapter
    # the announcement says the same: which backend made each stage, the prompt, and no degradation
    assert event["painted_by"] == PAINTED and event["prompt"] == prompt
    assert event["rung"] == "full" and event["degraded"] == []
