"""Settings: TOML + environment + credentials, strict keys, operator-readable problems."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cinealert.config import ConfigError, Settings, load, parse
from cinealert.config.example import render_example

ROOT = Path(__file__).resolve().parents[1]


def test_empty_config_is_a_working_config() -> None:
    settings = parse({})
    assert settings.kafka.bootstrap == "embedded"
    assert settings.render.backend == "procedural"
    assert settings.handlers.accept_statuses == ("Actual",)


def test_unknown_keys_are_errors_with_their_path() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"kafka": {"bootstrp": "x:9092"}, "nonsense": {}})
    paths = {p.path: p.message for p in info.value.problems}
    assert paths["kafka.bootstrp"] == "unknown key"
    assert paths["nonsense"] == "unknown key"


def test_every_problem_is_reported_not_only_the_first() -> None:
    with pytest.raises(ConfigError) as info:
        parse({"handlers": {"concurrency": 0}, "render": {"camera": "zoom"}, "metrics": {"port": 70000}})
    assert {p.path for p in info.value.problems} == {"handlers.concurrency", "render.camera", "metrics.port"}


def test_toml_file_then_environment_overrides(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kafka]\nbootstrap = "a:9092"\ngroup_id = "g1"\n[handlers]\nconcurrency = 3\n')
    env = {"CINEALERT_KAFKA__GROUP_ID": "g2", "CINEALERT_BROADCAST__PROFILES": '["atsc3", "hls"]'}
    settings = load(cfg, environ=env)
    assert settings.kafka.bootstrap == "a:9092"
    assert settings.kafka.group_id == "g2"
    assert settings.handlers.concurrency == 3
    assert settings.broadcast.profiles == ("atsc3", "hls")


def test_config_path_from_environment(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text("[handlers]\nconcurrency = 5\n")
    assert load(environ={"CINEALERT_CONFIG": str(cfg)}).handlers.concurrency == 5


def test_malformed_environment_override_is_reported() -> None:
    with pytest.raises(ConfigError) as info:
        load(environ={"CINEALERT_KAFKA_GROUP_ID": "x"})
    assert "CINEALERT_KAFKA_GROUP_ID" in str(info.value)


def test_secrets_from_credentials_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (creds / "kafka.sasl_password").write_text("s3cret\n")
    (creds / "user").write_text("svc-cinealert")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kafka]\nsasl_mechanism = "PLAIN"\nsasl_username = "{cred:user}"\n')
    settings = load(cfg, environ={"CREDENTIALS_DIRECTORY": str(creds)})
    assert settings.kafka.sasl_username == "svc-cinealert"
    assert settings.kafka.sasl_password is not None
    assert settings.kafka.sasl_password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)


def test_missing_credential_and_env_placeholders_are_problems(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kafka]\nsasl_username = "{cred:nope}"\nclient_id = "{env:NOT_SET_ANYWHERE}"\n')
    with pytest.raises(ConfigError) as info:
        load(cfg, environ={"CREDENTIALS_DIRECTORY": str(tmp_path)})
    assert {p.path for p in info.value.problems} == {"kafka.sasl_username", "kafka.client_id"}


def test_credential_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    creds = tmp_path / "creds"
    creds.mkdir()
    (tmp_path / "outside").write_text("x")
    cfg = tmp_path / "c.toml"
    cfg.write_text('[kafka]\nsasl_username = "{cred:../outside}"\n')
    with pytest.raises(ConfigError):
        load(cfg, environ={"CREDENTIALS_DIRECTORY": str(creds)})


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(bad, environ={})
    with pytest.raises(ConfigError, match="does not exist"):
        load(tmp_path / "missing.toml", environ={})


def test_shipped_example_matches_the_model_and_is_valid() -> None:
    example = ROOT / "config" / "cinealert.example.toml"
    assert example.read_text(encoding="utf-8") == render_example(), "run: cinealert config-example > " + str(
        example
    )
    assert isinstance(load(example, environ={}), Settings)


def test_memory_cache_is_bounded_in_bytes_and_old_keys_still_load(tmp_path: Path) -> None:
    """``render.memory_cache_items`` (the only bound before ``memory_cache_bytes``) stays a valid key."""
    old = tmp_path / "old.toml"
    old.write_text("[render]\nmemory_cache_items = 4\n")
    render = load(old, environ={}).render
    assert render.memory_cache_items == 4
    assert render.memory_cache_bytes == 64 * 1024**2  # under one 1080p loop: those are read, not mapped
    assert render.concurrent_renders == 1
    env = {"CINEALERT_RENDER__MEMORY_CACHE_BYTES": "0", "CINEALERT_RENDER__CONCURRENT_RENDERS": "2"}
    render = load(None, environ=env).render
    assert (render.memory_cache_bytes, render.concurrent_renders) == (0, 2)
    with pytest.raises(ConfigError) as info:
        parse({"render": {"memory_cache_bytes": -1, "concurrent_renders": 0}})
    assert {p.path for p in info.value.problems} == {"render.memory_cache_bytes", "render.concurrent_renders"}


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cinealert.cli", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_validate_config_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.toml"
    good.write_text('[render]\nresolution = "720p"\n')
    assert _cli("validate-config", str(good)).returncode == 0
    bad = tmp_path / "bad.toml"
    bad.write_text('[render]\nresolution = "8k"\ncolour = 1\n')
    result = _cli("validate-config", str(bad))
    assert result.returncode == 2
    assert "render.resolution" in result.stderr
    assert "render.colour: unknown key" in result.stderr


@pytest.mark.parametrize("command", [["run"], ["broker"], ["validate", "samples/en_flood.xml"]])
def test_every_command_exits_2_on_unusable_settings(tmp_path: Path, command: list[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[kafka]\nbootstrp = 1\n")
    result = _cli(command[0], "--config", str(bad), *command[1:])
    assert result.returncode == 2
    assert "kafka.bootstrp: unknown key" in result.stderr
