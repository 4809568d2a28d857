"""What to do with a valid CAP message, decided from its msgType, status and expiry alone.

Pure function of (alert, settings, now) so every branch is unit-testable without Kafka or a stage. Reasons are a
closed set of short names, used as Prometheus label values and in logs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from cinealert.cap.model import Alert, Classification, DisasterType
from cinealert.config.sections import HandlerSettings

Action = Literal["publish", "update", "cancel", "skip"]


@dataclass(frozen=True, slots=True)
class Decision:
    action: Action
    reason: str = ""


def decide(alert: Alert, settings: HandlerSettings, now: datetime) -> Decision:
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
    return Decision("update" if msg_type == "Update" else "publish")


def render_decision(classification: Classification, settings: HandlerSettings) -> Decision | None:
    """None to render; a skip decision when the disaster is ``other`` and policy says not to render it."""
    if classification.disaster is DisasterType.OTHER and settings.other_policy == "skip":
        return Decision("skip", "other_disaster")
    return None
