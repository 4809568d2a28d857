"""``handlers.policy.decide``: every msgType/status/expiry branch, on real parsed alerts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cinealert.cap import parse_alert
from cinealert.cap.model import Classification, DisasterType
from cinealert.config.sections import HandlerSettings
from cinealert.handlers.policy import decide, render_decision
from conftest import cap_xml

NOW = datetime(2026, 11, 26, tzinfo=UTC)
REF = (("s@x", "orig", "2026-11-26T09:00:00+09:00"),)
OLD = "2000-12-31T00:00:00+09:00"  # sent before the expiries below (expires before sent is refused)


@pytest.mark.parametrize(
    ("kwargs", "settings", "expected"),
    [
        ({}, {}, ("publish", "")),
        ({"msg_type": "Update", "references": REF}, {}, ("update", "")),
        ({"msg_type": "Cancel", "references": REF}, {}, ("cancel", "")),
        (
            {"msg_type": "Cancel", "references": REF, "expires": "2001-01-01T00:00:00+00:00", "sent": OLD},
            {},
            ("cancel", ""),
        ),
        ({"msg_type": "Ack", "references": REF}, {}, ("skip", "msgtype_ack")),
        ({"msg_type": "Error", "references": REF}, {}, ("skip", "msgtype_error")),
        ({"status": "Test"}, {}, ("skip", "status_test")),
        ({"status": "System"}, {}, ("skip", "status_system")),
        ({"status": "Draft"}, {}, ("skip", "status_draft")),
        ({"status": "Test"}, {"accept_statuses": ("Actual", "Test")}, ("publish", "")),
        ({"expires": "2026-11-25T00:00:00+00:00", "sent": OLD}, {}, ("skip", "expired")),
        ({"expires": "2026-11-25T00:00:00+00:00", "sent": OLD}, {"accept_expired": True}, ("publish", "")),
        ({"expires": None}, {}, ("publish", "")),  # no expiry: live
    ],
)
def test_decide(kwargs: dict[str, Any], settings: dict[str, Any], expected: tuple[str, str]) -> None:
    alert = parse_alert(cap_xml("id-1", **kwargs))
    decision = decide(alert, HandlerSettings(**settings), NOW)
    assert (decision.action, decision.reason) == expected


def test_other_disaster_policy() -> None:
    other = Classification(DisasterType.OTHER, 0.0, "event", "")
    flood = Classification(DisasterType.FLOOD, 0.9, "event", "flood")
    assert render_decision(other, HandlerSettings()) is None  # default: render the generic scene
    skip = render_decision(other, HandlerSettings(other_policy="skip"))
    assert skip is not None and skip.reason == "other_disaster"
    assert render_decision(flood, HandlerSettings(other_policy="skip")) is None
