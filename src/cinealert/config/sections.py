"""Settings sections, one class per stage. Each stage reads only its own section.

Every field has a default: the empty config is a valid, working config (embedded broker, procedural scenes).
``config/cinealert.example.toml`` documents the same keys; a test keeps the two in step.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from cinealert.config.base import Section

DisasterName = Literal[
    "flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake", "other"
]  # fmt: skip
ALL_DISASTERS: tuple[DisasterName, ...] = (
    "flood", "landslide", "drought", "wildfire", "heavy_snow", "typhoon", "earthquake",
)  # fmt: skip


class KafkaSettings(Section):
    bootstrap: str = Field(
        "embedded", description='"embedded" starts a local broker; else host:port,host:port'
    )
    alerts_topic: str = "cap.alerts"
    media_topic: str = "cap.media"
    dead_letter_topic: str = "cap.dead"
    group_id: str = "cinealert"
    client_id: str = "cinealert"
    session_timeout_ms: int = Field(6000, ge=1000, le=300_000)
    max_poll_interval_ms: int = Field(300_000, ge=10_000)
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = Field(
        None, description="never put it in the TOML: use $CREDENTIALS_DIRECTORY/kafka.sasl_password or env"
    )
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    reconnect_backoff_initial_s: float = Field(0.5, gt=0)
    reconnect_backoff_max_s: float = Field(30.0, gt=0)
    embedded_port: int = Field(0, ge=0, le=65535, description="0 picks a free port")
    embedded_partitions: int = Field(4, ge=1, le=64)
    heartbeat_interval_ms: int = Field(1000, ge=100, le=60_000)
    request_timeout_ms: int = Field(10_000, ge=1000, le=300_000)
    fetch_max_wait_ms: int = Field(100, ge=1, le=10_000, description="latency vs broker load when idle")
    rebalance_timeout_ms: int = Field(
        60_000, ge=1000, le=600_000, description="how long a rebalance waits for in-flight renders to finish"
    )
    ssl_check_hostname: bool = True


class CapSettings(Section):
    max_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    signature_policy: Literal["off", "verify", "require"] = "off"
    trusted_ca_bundle: Path | None = None

    @field_validator("trusted_ca_bundle")
    @classmethod
    def _bundle_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"trusted CA bundle {value} does not exist or is not a file")
        return value


class HandlerSettings(Section):
    accept_statuses: tuple[Literal["Actual", "Exercise", "System", "Test", "Draft"], ...] = ("Actual",)
    accept_expired: bool = False
    concurrency: int = Field(2, ge=1, le=64)
    shutdown_grace_s: float = Field(20.0, ge=0)
    dedup_state_dir: Path = Path("var/state")
    stage: Literal["media", "summary"] = Field(
        "media", description='"media" renders video; "summary" writes a JSON summary only (tests, benches)'
    )
    other_policy: Literal["publish", "skip"] = Field(
        "publish", description='alerts classified "other": render the generic scene, or skip (counted)'
    )
    summary_delay_s: float = Field(0.0, ge=0, le=600, description="simulated render time (summary stage)")
    max_attempts: int = Field(3, ge=1, le=100, description="stage attempts before an alert is dead-lettered")
    retry_backoff_s: float = Field(1.0, ge=0, le=300)


LOCATION_CODE_PATTERNS: dict[str, str] = {
    "SAME": r"\d{6}",  # PSSCCC: P subdivision (0 = whole county), SS state, CCC county (000 = whole state)
    "UGC": r"[A-Z]{2}[CZ](?:\d{3}|ALL)(?:>\d{3})?(?:-(?:[A-Z]{2}[CZ])?(?:\d{3}|ALL)(?:>\d{3})?)*",
    "KR": r"\d{2}|\d{5}|\d{8}|\d{10}",  # 법정동 code or its prefix: 시도 2, 시군구 5, 읍면동 8, 리 10 digits
    "EMMA_ID": r"[A-Z]{2}[A-Z0-9]{0,8}",
    "NUTS": r"[A-Z]{2}[A-Z0-9]{0,3}",
}
"""Location code schemes a coverage entry ``SCHEME:CODE`` may name, and the shape of a code in each."""


class CoverageSettings(Section):
    """What this station airs: its area, events and senders (the default channel). Nothing set: every alert airs."""

    locations: tuple[str, ...] = Field(
        (),
        description='location codes as "SCHEME:CODE", either side may contain the other: "SAME:024031" '
        '(PSSCCC; 0SS000 = the whole state, 000000 = the whole US), "UGC:MDZ011>015", "KR:11" (법정동 code or '
        'prefix: 11 = Seoul, 11110 = Jongno-gu), "EMMA_ID:AT005", "NUTS:AT32"',
    )
    area_file: Path | None = Field(
        None,
        description="GeoJSON (lon/lat WGS 84: Polygon, MultiPolygon, Feature, FeatureCollection) the alert's "
        "<polygon> and <circle> must overlap (a shared border alone does not count)",
    )
    area_names: tuple[str, ...] = Field(
        (), description="words matched in <areaDesc> (case-insensitive) when nothing else places the alert"
    )
    unlocated: Literal["skip", "air"] = Field(
        "air",
        description='an alert with no code, shape or area name this coverage can compare: "air" (default: '
        'it may be for this area, and dropping a valid alert is the worse error) or "skip" (as EAS devices '
        "do); applies only when locations, area_file or area_names is set",
    )
    events_allow: tuple[str, ...] = Field(
        (),
        description="only these event codes (SAME FFW, KMA HR.W) or <event> names air; empty = every event",
    )
    events_deny: tuple[str, ...] = Field((), description="event codes or <event> names never aired")
    senders: tuple[str, ...] = Field(
        (), description='<sender> values allowed, shell globs ("*.noaa.gov"); empty = every sender'
    )
    national_events: tuple[str, ...] = Field(
        ("EAN", "EAT", "NIC", "NPT"),
        description="event codes of national-level alerts: they air whatever the location or events_allow "
        "(events_deny, senders and handlers.accept_statuses still apply)",
    )
    national_keywords: tuple[str, ...] = Field(
        ("위급재난", "Presidential Alert", "Emergency Action Notification"),
        description="words in <event> or <headline> (case-insensitive) that make an alert national-level",
    )
    geocode_names: tuple[str, ...] = Field(
        (),
        description='more <geocode> valueNames as "VALUENAME=SCHEME" (built in: SAME, FIPS6, UGC, '
        "KR_ADMIN_CODE, EMMA_ID, NUTS1-3)",
    )

    @field_validator("locations")
    @classmethod
    def _locations(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        out: list[str] = []
        for entry in value:
            scheme, sep, code = entry.strip().partition(":")
            scheme, code = scheme.strip().upper(), code.strip().upper()
            pattern = LOCATION_CODE_PATTERNS.get(scheme)
            if not sep or pattern is None:
                known = ", ".join(LOCATION_CODE_PATTERNS)
                raise ValueError(f"{entry!r} is not SCHEME:CODE with SCHEME one of {known}")
            if re.fullmatch(pattern, code) is None:
                raise ValueError(f"{entry!r}: {code!r} is not a {scheme} code")
            out.append(f"{scheme}:{code}")
        return tuple(out)

    @field_validator("geocode_names")
    @classmethod
    def _geocode_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            name, sep, scheme = entry.partition("=")
            if not sep or not name.strip() or scheme.strip().upper() not in LOCATION_CODE_PATTERNS:
                raise ValueError(f"{entry!r} is not VALUENAME=SCHEME with a known SCHEME")
        return value

    @field_validator("area_file")
    @classmethod
    def _area_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"coverage area {value} does not exist or is not a file")
        return value


class RenderSettings(Section):
    backend: Literal["procedural", "ml"] = "procedural"
    resolution: Literal["720p", "1080p", "2160p"] = "1080p"
    duration_s: float = Field(6.0, gt=0, le=120)
    camera: Literal["static", "circular", "up-down", "dolly"] = "circular"
    camera_amplitude: float = Field(1.0, ge=0.0, le=2.0, description="1.0 = house default parallax")
    parallax: Literal["auto", "bands", "ldi"] = Field(
        "auto",
        description='the 3D step: "bands" moves each layer by its median depth (fastest), "ldi" re-projects '
        'every pixel by its own depth through a layered depth image with inpainted back layers, "auto" uses '
        "the LDI for scenes with a per-pixel depth map (the ml backend) and bands for drawn ones",
    )
    variants: int = Field(3, ge=1, le=16)
    cache_dir: Path = Path("var/cache")
    cache_max_bytes: int = Field(8 * 1024**3, ge=16 * 1024**2)
    memory_cache_items: int = Field(
        4,
        ge=0,
        le=64,
        description="loops kept mapped in memory, at most (0 = none; memory_cache_bytes bounds size)",
    )
    memory_cache_bytes: int = Field(
        64 * 1024**2,
        ge=0,
        description="frame data kept mapped in memory, bytes (a 6 s 1080p loop: 110-180 MB LZ4, 1.1 GB raw); "
        "a bigger loop is read from the page cache, as fast",
    )
    concurrent_renders: int = Field(
        1, ge=1, le=16, description="cold scene renders at once per process (each holds 0.7-1.4 GB at 1080p)"
    )
    #: "other" is the neutral scene every unrecognised alert gets: cheap to render (~1 s build, few layers)
    prewarm: tuple[DisasterName, ...] = (*ALL_DISASTERS, "other")
    prewarm_before_ready: bool = True
    device: Literal["auto", "cpu", "cuda"] = "auto"


class BroadcastSettings(Section):
    output_dir: Path = Path("var/out")
    mode: Literal["burn-in", "rich-media"] = "burn-in"
    profiles: tuple[Literal["atsc1", "atsc3", "hls"], ...] = ("atsc1",)
    atsc1_video_codec: Literal["mpeg2", "h264"] = Field(
        "mpeg2", description='atsc1 video: "mpeg2" (A/53 main service, every receiver) or "h264" (A/72)'
    )
    atsc3_video_codec: Literal["hevc", "h264"] = Field(
        "hevc",
        description='atsc3 (DASH) video: "hevc" (ATSC 3.0 A/341 broadcast) or "h264" (broadband/OTT players, '
        "web browsers)",
    )
    base_url: str = Field("", description="prefix for URLs in announcements and AEAT; empty = file paths")
    timezone: str = Field(
        "Asia/Seoul",
        description="the channel's zone (IANA name): used for on-screen times only when set here and when it "
        "agrees with the alert's own UTC offset; otherwise times show at the alert's own offset",
    )
    languages: tuple[str, ...] = ("ko", "en")
    tts_engine: Literal["espeak-ng"] = "espeak-ng"
    loudness_lkfs: float = Field(-24.0, ge=-40, le=-10)
    true_peak_dbtp: float = Field(-2.0, ge=-12, le=0)
    segment_s: float = Field(2.002, gt=0.5, le=10)


class StoreSettings(Section):
    """Where outputs, de-duplication state and the shared scene cache live (issue 17)."""

    kind: Literal["local", "s3"] = Field(
        "local",
        description='"local": everything on this machine\'s disk, as always; "s3": outputs, tombstones, '
        "announcement markers and key guards also in an S3-compatible bucket, so daemons on machines with no "
        "shared disk act as one (local directories stay the working copy)",
    )
    endpoint_url: str = Field("", description="S3 API endpoint; empty = AWS for region")
    bucket: str = ""
    prefix: str = Field("cinealert/", description="every key starts with it (out/, state/, cache/ below)")
    region: str = "us-east-1"
    access_key_id: SecretStr | None = Field(
        None, description="never put it in the TOML: $CREDENTIALS_DIRECTORY/store.access_key_id"
    )
    secret_access_key: SecretStr | None = Field(
        None, description="never put it in the TOML: $CREDENTIALS_DIRECTORY/store.secret_access_key"
    )
    lease_s: float = Field(
        15.0,
        ge=2.0,
        le=600.0,
        description="key guard lease: how long a daemon killed while holding one blocks it",
    )
    upload_workers: int = Field(8, ge=1, le=64)
    share_scene_cache: bool = Field(
        True, description="fetch scene loops and clean video from the bucket on a local miss, upload new ones"
    )

    @field_validator("prefix")
    @classmethod
    def _prefix(cls, value: str) -> str:
        value = value.strip("/")
        return f"{value}/" if value else ""

    @model_validator(mode="after")
    def _bucket(self) -> StoreSettings:
        if self.kind == "s3" and not self.bucket:
            raise ValueError('store.kind = "s3" needs store.bucket')
        return self


CHANNEL_NAME = r"[a-z0-9][a-z0-9_-]{0,31}"
"""A channel's name: a label value, a path part and part of announcement ids, so kept plain."""


class ChannelSettings(Section):
    """One channel of a multi-channel daemon (``[channels.<name>]``): its coverage and where it differs from
    ``[broadcast]``. A field left out takes the ``[broadcast]`` value; ``output_dir`` defaults to
    ``broadcast.output_dir/<name>``."""

    coverage: CoverageSettings = Field(
        default_factory=CoverageSettings, description="what this channel airs ([channels.<name>.coverage])"
    )
    output_dir: Path | None = Field(
        None, description="this channel's output root; unset = broadcast.output_dir/<name>"
    )
    languages: tuple[str, ...] | None = Field(None, description="languages shown and spoken, in this order")
    timezone: str | None = None
    profiles: tuple[Literal["atsc1", "atsc3", "hls"], ...] | None = None
    mode: Literal["burn-in", "rich-media"] | None = None
    base_url: str | None = None

    def broadcast(self, name: str, base: BroadcastSettings) -> BroadcastSettings:
        """``base`` with this channel's overrides."""
        update: dict[str, object] = {"output_dir": self.output_dir or base.output_dir / name}
        for key in ("languages", "timezone", "profiles", "mode", "base_url"):
            value = getattr(self, key)
            if value is not None:
                update[key] = value
        return BroadcastSettings.model_validate({**base.model_dump(), **update})


class MLSettings(Section):
    """Local model directories for the photoreal path. Empty means the built-in CPU backend for that stage."""

    prompt_model_dir: Path | None = None
    prompt_adapter_dir: Path | None = None
    prompt_max_new_tokens: int = Field(96, ge=8, le=512)
    prompt_temperature: float = Field(0.0, ge=0, le=2, description="0 = greedy (deterministic) decoding")
    diffusion_model_dir: Path | None = None
    diffusion_steps: int = Field(25, ge=1, le=200)
    guidance_scale: float = Field(7.5, ge=0)
    diffusion_max_side: int = Field(
        768, ge=32, le=2048, description="generate at this long side, then resize"
    )
    negative_prompt: str = "people, person, human, face, crowd, text, letters, caption, watermark, logo"
    grounding_model_dir: Path | None = None
    sam_model_dir: Path | None = None
    depth_model_dir: Path | None = None
    motion_model_dir: Path | None = Field(
        None,
        description="a learned motion predictor (config.json + model.safetensors); empty = motion estimated "
        "from the picture (water down the depth slope, fire and smoke rising, snow and rain falling)",
    )
    inpaint_model_dir: Path | None = Field(
        None,
        description="a Stable Diffusion inpainting pipeline that fills the LDI's back layers (what a camera "
        "move uncovers behind depth edges); empty = Telea inpainting",
    )
    box_threshold: float = Field(0.3, ge=0, le=1)
    text_threshold: float = Field(0.25, ge=0, le=1)
    mask_threshold: float = Field(0.0, description="SAM mask logit threshold")
    depth_layers: int = Field(3, ge=1, le=8, description="most layers a photo scene is split into")
    blip_model_dir: Path | None = Field(None, description="captioner for `cinealert prompter dataset`")
    clip_model_dir: Path | None = Field(None, description="CLIP for `cinealert eval` (CLIP score)")
    inception_weights: Path | None = Field(
        None, description="FID's Inception-v3 state dict for `cinealert eval` (a file; never downloaded)"
    )
    lpips_model_dir: Path | None = Field(
        None, description="backbone.pth (AlexNet) + lin.pth (lpips v0.1) for `cinealert eval`'s LPIPS"
    )


Severity = Literal["Extreme", "Severe", "Moderate", "Minor", "Unknown"]


class ConsoleSettings(Section):
    """The operator console (web page, JSON API, manual forwarding); off unless enabled, on 127.0.0.1.

    Served by the daemon (``cinealert.console``); ``host`` other than 127.0.0.1 only behind a TLS proxy."""

    enabled: bool = False
    host: str = Field("127.0.0.1", description="listen address; put a TLS proxy in front for other hosts")
    port: int = Field(8470, ge=0, le=65535, description="0 picks a free port")
    token: SecretStr | None = Field(
        None,
        description="operator tokens, one 'NAME:TOKEN' a line (a bare TOKEN is operator 'operator'); "
        "best from $CREDENTIALS_DIRECTORY/console.token",
    )
    token_file: Path | None = Field(None, description="read the tokens from this file instead")
    allowed_origins: tuple[str, ...] = Field(
        (),
        description="extra Origins allowed to POST actions (a TLS proxy's https://host); the console's own always is",
    )
    recent: int = Field(200, ge=10, le=10_000, description="alerts kept in the console's list")
    manual_channels: tuple[str, ...] = Field(
        (), description="channels in manual forwarding: alerts wait for an operator's Approve before they air"
    )
    auto_approve_s: float = Field(
        120.0,
        ge=1,
        description="a waiting alert airs by itself after this (below kafka.max_poll_interval_ms)",
    )
    bypass_severities: tuple[Severity, ...] = Field(
        ("Extreme",), description="severities that air at once even on a manual channel"
    )
    hls_js: Path | None = Field(
        None, description="hls.min.js for the clip player; unset = tests/player/node_modules' copy if present"
    )


class MetricsSettings(Section):
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int = Field(9464, ge=0, le=65535)


class LogSettings(Section):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"
