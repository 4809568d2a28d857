"""Prometheus metrics, registered on an injected ``CollectorRegistry`` so every test (and every daemon in one
process) gets its own. ``serve`` exposes them over HTTP on ``metrics.host:port`` (port 0 = ephemeral).

Names follow Prometheus conventions (``_total`` counters, ``_seconds`` histograms); labels are closed sets
(reason/stage/event names chosen in code, never alert data) so cardinality stays bounded.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from cinealert.config.settings import DEFAULT_CHANNEL
from cinealert.handlers.stage import RUNGS

# Renders take seconds; the summary stage milliseconds: buckets cover both.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300)
_E2E_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1800, 3600)


class Metrics:
    def __init__(
        self, registry: CollectorRegistry | None = None, channels: Sequence[str] = (DEFAULT_CHANNEL,)
    ) -> None:
        """``channels``: the daemon's channel names, whose per-channel series exist from the start."""
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.consumed = Counter(
            "cinealert_alerts_consumed", "Kafka messages taken from the alerts topic", registry=r
        )
        self.published = Counter(
            "cinealert_alerts_published",
            'Outputs published, per channel ("default" without [channels])',
            ["disaster", "channel"],
            registry=r,
        )
        self.rungs = Counter(
            "cinealert_alerts_rung",
            "Published outputs by the rung of the degradation ladder that aired (full, no_speech, static, slate), "
            "per channel",
            ["rung", "channel"],
            registry=r,
        )
        self.duplicates = Counter(
            "cinealert_alerts_duplicate", "Redelivered alerts whose output already existed (not re-rendered)",
            registry=r,
        )  # fmt: skip
        self.rejected = Counter(
            "cinealert_alerts_rejected", "Messages sent to the dead-letter topic", ["reason"], registry=r
        )
        self.skipped = Counter(
            "cinealert_alerts_skipped", "Valid messages deliberately not rendered", ["reason"], registry=r
        )
        self.channel_skipped = Counter(
            "cinealert_channel_skipped",
            "Alerts a channel's coverage did not take (out_of_area, event_filtered, sender_filtered), per "
            "channel; one no channel takes is also counted once in cinealert_alerts_skipped",
            ["channel", "reason"],
            registry=r,
        )
        self.superseded = Counter(
            "cinealert_alerts_superseded", "Outputs marked superseded by an Update", registry=r
        )
        self.withdrawn = Counter("cinealert_alerts_withdrawn", "Outputs withdrawn by a Cancel", registry=r)
        self.announcements = Counter(
            "cinealert_announcements", "Events produced on the media topic, per channel", ["event", "channel"],
            registry=r,
        )  # fmt: skip
        self.stage_latency = Histogram(
            "cinealert_stage_latency_seconds", "Time spent per processing stage", ["stage"],
            buckets=_LATENCY_BUCKETS, registry=r,
        )  # fmt: skip
        self.e2e_latency = Histogram(
            "cinealert_end_to_end_latency_seconds",
            "From CAP sent (origin=sent) or Kafka receipt (origin=received) to published",
            ["origin"], buckets=_E2E_BUCKETS, registry=r,
        )  # fmt: skip
        self.cache_hits = Counter(
            "cinealert_cache_hits", "Scene cache hits reported by the stage, per channel (one cache for all)",
            ["channel"], registry=r,
        )  # fmt: skip
        self.cache_misses = Counter(
            "cinealert_cache_misses", "Scene cache misses reported by the stage, per channel", ["channel"],
            registry=r,
        )  # fmt: skip
        self.in_flight = Gauge("cinealert_in_flight", "Alerts being processed now", registry=r)
        self.broker_up = Gauge(
            "cinealert_broker_up", "1 while the Kafka broker answers metadata requests", registry=r
        )
        self.kafka_errors = Counter(
            "cinealert_kafka_errors", "Kafka operations that failed and were retried", ["op"], registry=r
        )
        self.stage_errors = Counter(
            "cinealert_stage_errors", "Stage calls that raised (then retried)", registry=r
        )
        self.last_success = Gauge(
            "cinealert_last_success_timestamp_seconds", "Unix time of the last completed message", registry=r
        )
        self.committed = Counter("cinealert_offsets_committed", "Offset commits that succeeded", registry=r)
        self.up = Gauge("cinealert_up", "1 while the daemon consumes", registry=r)
        for channel in channels:  # present from the start: a rate() alert sees the first one
            for rung in RUNGS:
                self.rungs.labels(rung, channel)
            self.cache_hits.labels(channel)
            self.cache_misses.labels(channel)

    def observe_extra(self, extra: Mapping[str, Any], channel: str = DEFAULT_CHANNEL) -> None:
        """Cache hits/misses from one channel's ``Published.extra``: ``cache_hit`` (or ``scene.cache_hit``) as a
        bool, or ``cache_hits``/``cache_misses`` counts."""
        hit = extra.get("cache_hit")
        scene = extra.get("scene")
        if hit is None and isinstance(scene, Mapping):
            hit = scene.get("cache_hit")
        if isinstance(hit, bool):
            (self.cache_hits if hit else self.cache_misses).labels(channel).inc()
        for key, counter in (("cache_hits", self.cache_hits), ("cache_misses", self.cache_misses)):
            value = extra.get(key)
            if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                counter.labels(channel).inc(value)

    def success(self) -> None:
        self.last_success.set(time.time())


def serve(registry: CollectorRegistry, host: str, port: int) -> tuple[Any, int]:
    """Start the exposition server in a daemon thread; (server, bound port). ``server.shutdown()`` stops it."""
    server, _thread = start_http_server(port, addr=host, registry=registry)
    return server, int(server.server_port)
