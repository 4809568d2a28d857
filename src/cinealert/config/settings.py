"""Load settings in two steps: ``load(path)`` reads TOML + environment + credentials into a plain dict,
``parse(obj)`` validates it. Tests build configs from dicts with ``parse``.

Precedence (last wins): built-in defaults < TOML file < ``CINEALERT_<SECTION>__<KEY>`` environment variables.
Secrets never need to live in the TOML: a string value ``"{cred:NAME}"`` is replaced by the content of
``$CREDENTIALS_DIRECTORY/NAME`` (systemd ``LoadCredential=``), ``"{env:NAME}"`` by an environment variable, and
``$CREDENTIALS_DIRECTORY/<section>.<key>`` (e.g. ``kafka.sasl_password``) fills a key the TOML leaves out.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError, model_validator

from cinealert.config.base import Section
from cinealert.config.sections import (
    CHANNEL_NAME,
    BroadcastSettings,
    CapSettings,
    ChannelSettings,
    ConsoleSettings,
    CoverageSettings,
    HandlerSettings,
    KafkaSettings,
    LogSettings,
    MetricsSettings,
    MLSettings,
    RenderSettings,
    StoreSettings,
)
from cinealert.errors import CinealertError

ENV_PREFIX = "CINEALERT_"
CONFIG_PATH_ENV = "CINEALERT_CONFIG"
_PLACEHOLDER = re.compile(r"^\{(cred|env):([^{}]*)\}$")
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]*$")


class Settings(Section):
    kafka: KafkaSettings = Field(default_factory=KafkaSettings)
    cap: CapSettings = Field(default_factory=CapSettings)
    handlers: HandlerSettings = Field(default_factory=HandlerSettings)
    coverage: CoverageSettings = Field(default_factory=CoverageSettings)
    render: RenderSettings = Field(default_factory=RenderSettings)
    broadcast: BroadcastSettings = Field(default_factory=BroadcastSettings)
    ml: MLSettings = Field(default_factory=MLSettings)
    metrics: MetricsSettings = Field(default_factory=MetricsSettings)
    log: LogSettings = Field(default_factory=LogSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)
    store: StoreSettings = Field(default_factory=StoreSettings)
    channels: dict[str, ChannelSettings] = Field(
        default_factory=dict,
        description='several channels in one daemon ([channels.<name>]); none = one channel, "default", '
        "from [coverage] and [broadcast]",
    )

    @model_validator(mode="after")
    def _channels(self) -> Settings:
        if self.channels and self.coverage != CoverageSettings():
            raise ValueError(
                "with [channels], [coverage] is unused: give each channel its [channels.<name>.coverage]"
            )
        console = self.console
        if console.manual_channels and console.auto_approve_s * 1000 >= self.kafka.max_poll_interval_ms:
            raise ValueError(
                "console.auto_approve_s must stay below kafka.max_poll_interval_ms (a waiting alert "
                "holds its message; the consumer must poll again before the group drops it)"
            )
        unknown = set(console.manual_channels) - {c.name for c in self.channel_list()}
        if unknown:
            raise ValueError(f"console.manual_channels names no channel: {sorted(unknown)}")
        roots: dict[Path, str] = {}
        for name, channel in self.channels.items():
            if re.fullmatch(CHANNEL_NAME, name) is None:
                raise ValueError(f"channel name {name!r} must match {CHANNEL_NAME}")
            root = channel.broadcast(name, self.broadcast).output_dir.resolve()
            if root in roots:
                raise ValueError(f"channels {roots[root]!r} and {name!r} share the output_dir {root}")
            roots[root] = name
        return self

    def channel_list(self) -> tuple[Channel, ...]:
        """Every channel with its coverage and broadcast settings; without [channels], the one "default"."""
        if not self.channels:
            return (Channel(DEFAULT_CHANNEL, self.coverage, self.broadcast),)
        return tuple(
            Channel(name, channel.coverage, channel.broadcast(name, self.broadcast))
            for name, channel in self.channels.items()
        )


DEFAULT_CHANNEL = "default"


@dataclass(frozen=True, slots=True)
class Channel:
    """One resolved channel: what it airs (``coverage``) and how (``broadcast``, overrides applied)."""

    name: str
    coverage: CoverageSettings
    broadcast: BroadcastSettings


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


class ConfigError(CinealertError):
    """The configuration cannot be used. ``problems`` lists every one of them with its key path."""

    def __init__(self, problems: list[ConfigProblem], source: str = "config") -> None:
        self.problems = problems
        self.source = source
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{source}: {len(problems)} problem(s)\n{lines}")


def parse(obj: Mapping[str, Any], source: str = "config") -> Settings:
    try:
        return Settings.model_validate(dict(obj))
    except ValidationError as exc:
        problems = [
            ConfigProblem(".".join(str(p) for p in err["loc"]) or "<root>", _message(err))
            for err in exc.errors()
        ]
        raise ConfigError(problems, source) from None


def _message(err: Any) -> str:
    if err["type"] == "extra_forbidden":
        return "unknown key"
    return str(err["msg"])


def load(
    path: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Settings from ``path`` (or ``$CINEALERT_CONFIG``, or defaults), the environment and credentials."""
    env = os.environ if environ is None else environ
    if path is None and env.get(CONFIG_PATH_ENV):
        path = Path(env[CONFIG_PATH_ENV])
    source = str(path) if path else "defaults"
    raw: dict[str, Any] = {}
    problems: list[ConfigProblem] = []
    if path is not None:
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ConfigError([ConfigProblem("<file>", f"{path} does not exist")], source) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([ConfigProblem("<file>", f"cannot read {path}: {exc}")], source) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([ConfigProblem("<file>", f"not valid TOML: {exc}")], source) from None
    problems += _apply_env(raw, env)
    cred_dir = Path(env["CREDENTIALS_DIRECTORY"]) if env.get("CREDENTIALS_DIRECTORY") else None
    problems += _apply_credential_files(raw, cred_dir)
    problems += _resolve_placeholders(raw, env, cred_dir, ())
    try:
        settings = parse(raw, source)
    except ConfigError as exc:
        problems += exc.problems
    if problems:
        raise ConfigError(problems, source)
    return settings


def _apply_env(raw: dict[str, Any], env: Mapping[str, str]) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    for name, value in sorted(env.items()):
        if not name.startswith(ENV_PREFIX) or name == CONFIG_PATH_ENV:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if len(parts) != 2 or not all(parts):
            problems.append(ConfigProblem(name, "environment overrides are CINEALERT_<SECTION>__<KEY>"))
            continue
        section, key = parts
        target = raw.setdefault(section, {})
        if not isinstance(target, dict):
            problems.append(ConfigProblem(section, "must be a table"))
            continue
        target[key] = _env_value(value)
    return problems


def _env_value(value: str) -> Any:
    """Environment values are TOML literals when they parse as one (``8``, ``true``, ``["ko","en"]``)."""
    try:
        return tomllib.loads(f"v = {value}")["v"]
    except tomllib.TOMLDecodeError:
        return value


def _apply_credential_files(raw: dict[str, Any], cred_dir: Path | None) -> list[ConfigProblem]:
    if cred_dir is None or not cred_dir.is_dir():
        return []
    problems: list[ConfigProblem] = []
    for section_name, field in Settings.model_fields.items():
        section_type = field.annotation
        if not isinstance(section_type, type) or not issubclass(section_type, Section):
            continue
        for key in section_type.model_fields:
            cred = cred_dir / f"{section_name}.{key}"
            section = raw.setdefault(section_name, {})
            if cred.is_file() and isinstance(section, dict) and key not in section:
                try:
                    section[key] = cred.read_text(encoding="utf-8").rstrip("\r\n")
                except OSError as exc:
                    problems.append(ConfigProblem(f"{section_name}.{key}", f"cannot read {cred}: {exc}"))
    return problems


def _resolve_placeholders(
    node: Any, env: Mapping[str, str], cred_dir: Path | None, path: tuple[str, ...]
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    if not isinstance(node, dict):
        return problems
    for key, value in node.items():
        here = (*path, str(key))
        if isinstance(value, dict):
            problems += _resolve_placeholders(value, env, cred_dir, here)
            continue
        match = _PLACEHOLDER.match(value) if isinstance(value, str) else None
        if match is None:
            continue
        kind, name = match.groups()
        if not _SAFE_NAME.match(name):
            problems.append(
                ConfigProblem(".".join(here), f"{kind} name {name!r} is not a plain file/variable name")
            )
        elif kind == "env":
            if name not in env:
                problems.append(ConfigProblem(".".join(here), f"environment variable {name} is not set"))
            else:
                node[key] = env[name]
        elif cred_dir is None:
            problems.append(ConfigProblem(".".join(here), f"{{cred:{name}}} needs $CREDENTIALS_DIRECTORY"))
        elif not (cred_dir / name).is_file():
            problems.append(ConfigProblem(".".join(here), f"credential {name} not found in {cred_dir}"))
        else:
            node[key] = (cred_dir / name).read_text(encoding="utf-8").rstrip("\r\n")
    return problems
