"""What to do with a valid CAP message, decided from its msgType, status, expiry and the station's coverage.

Pure function of (alert, settings, now, coverage) so every branch is unit-testable without Kafka or a stage.
Reasons are a closed set of short names, used as Prometheus label values and in logs; ``detail`` says more (for
a coverage refusal, the codes that did not match) and goes to the log only, never into a label.

Coverage (``cap.coverage``) is checked last, after the cheap checks, and never for a Cancel: a Cancel only
withdraws what this station aired, so filtering it could only leave a withdrawn alert on air.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cinealert.cap.coverage import Coverage, Verdict
from cinealert.cap.model import Alert, Classification, DisasterType
from cinealert.config.sections import HandlerSettings

Action = Literal["publish", "update", "cancel", "skip"]

COVERAGE_SKIPS = frozenset({"out_of_area", "event_filtered", "sender_filtered"})
"""The skip reasons ``cap.coverage`` gives: the alert is valid but not for this station."""

SUPERSEDING_SKIPS = frozenset({"expired", "no_info"}) | COVERAGE_SKIPS
"""Skips of an Update that still supersede its originals: an expired Update, or one whose area moved away from
this station (or whose new event this station does not air), still says the old alert is over, so the old clip
must come off air here."""


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""
    detail: str = ""
    verdict: Verdict | None = None
    #: (channel, reason) of every channel whose coverage did not take the alert (``decide_channels`` only)
    refused: tuple[tuple[str, str], ...] = ()


def decide(
    alert: Alert, settings: HandlerSettings, now: datetime, coverage: Coverage | None = None
) -> Decision:
    msg_type = alert.msg_type
    if msg_type in ("Ack", "Error"):
        return Decision("skip", f"msgtype_{msg_type.lower()}")
    if alert.status not in settings.accept_statuses:
        return Decision("skip", f"status_{alert.status.lower()}")
    if msg_type == "Cancel":
        # A Cancel withdraws even when the alert it cancels (or the Cancel itself) has expired.
        if not alert.references:
            return Decision("skip", "cancel_without_references")
        return Decision("cancel")
    if msg_type not in ("Alert", "Update"):
        return Decision("skip", "msgtype_unknown")
    if not settings.accept_expired and alert.is_expired(now):
        return Decision("skip", "expired")
    if not alert.infos:
        return Decision("skip", "no_info")
    action: Action = "update" if msg_type == "Update" else "publish"
    if coverage is None or not coverage.active:
        return Decision(action)
    verdict = coverage.route(alert)
    if not verdict.airs:
        return Decision("skip", verdict.reason, verdict.detail, verdict)
    return Decision(action, "", verdict.detail, verdict)


def decide_channels(
    alert: Alert, settings: HandlerSettings, now: datetime, coverages: Sequence[tuple[str, Coverage | None]]
) -> tuple[Decision, list[int]]:
    """``decide`` for several channels: the decision and the indexes of the channels that take the alert.

    The checks that do not depend on the channel come first. A Cancel concerns every channel (it withdraws
    wherever the original aired). An alert no channel takes is skipped with that channel's reason when there is
    one channel, else with the reason all channels agree on, else ``out_of_area``; ``detail`` names each
    channel's. ``refused`` lists every channel whose coverage turned it down, with its reason (the per-channel
    metric). With one coverage this is ``decide``, plus ``refused``.
    """
    base = decide(alert, settings, now, None)
    if base.action not in ("publish", "update"):
        return base, list(range(len(coverages))) if base.action == "cancel" else []
    takes: list[int] = []
    verdicts: list[Verdict | None] = []
    for index, (_name, coverage) in enumerate(coverages):
        verdict = coverage.route(alert) if coverage is not None and coverage.active else None
        verdicts.append(verdict)
        if verdict is None or verdict.airs:
            takes.append(index)
    judged = [(name, v) for (name, _c), v in zip(coverages, verdicts, strict=True) if v is not None]
    refused = tuple((name, v.reason) for name, v in judged if not v.airs)
    if takes:
        first = verdicts[takes[0]]
        return Decision(base.action, "", first.detail if first else "", first, refused), takes
    reasons = {v.reason for _n, v in judged}
    reason = judged[0][1].reason if len(reasons) == 1 else "out_of_area"
    if len(judged) == 1:
        detail = judged[0][1].detail
    else:
        detail = "; ".join(f"{name}: {v.reason} {v.detail}".strip() for name, v in judged)
    return Decision("skip", reason, detail, judged[0][1], refused), []


def render_decision(classification: Classification, settings: HandlerSettings) -> Decision | None:
    """None to render; a skip decision when the disaster is ``other`` and policy says not to render it."""
    if classification.disaster is DisasterType.OTHER and settings.other_policy == "skip":
        return Decision("skip", "other_disaster")
    return None
