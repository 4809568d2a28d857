"""An operator's actions on alerts (the console's Approve, Hold, Withdraw, Re-air), each logged with the
operator's name and announced on ``cap.media`` as an ``operator`` event before it takes effect.

* **Approve / Hold** act on an alert waiting on a manual channel (``handlers.approval``); the ``published``
  announcement follows an approval as for any alert.
* **Withdraw** is a CAP Cancel in all but its origin: a cancel tombstone for the key (so a waiting or replayed
  original never airs), then ``Processor.withdraw`` marks every channel's output withdrawn and announces
  ``withdrawn``, exactly as a Cancel from the sender would. The Cancel's key is the operator's
  (``sender = "console:<name>"``), so the announcement says who withdrew it.
* **Re-air** announces the published output again (files, urls) for playout to run once more; nothing is
  rendered and the output is not touched.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Literal

import structlog

from cinealert.cap.model import Alert, AlertKey, Reference
from cinealert.errors import CinealertError
from cinealert.handlers.approval import Approvals
from cinealert.handlers.process import Processor
from cinealert.handlers.references import key_doc

log = structlog.get_logger("cinealert.operator")

Action = Literal["approve", "hold", "withdraw", "reair"]
ACTIONS: tuple[Action, ...] = ("approve", "hold", "withdraw", "reair")


class ActionRefusedError(CinealertError):
    """The action does not apply (nothing waiting to approve, nothing published to re-air, unknown channel)."""


def operator_key(operator: str, action: str) -> AlertKey:
    now = datetime.now(UTC).isoformat(timespec="seconds")
    return AlertKey(f"console:{operator}", f"{action}-{uuid.uuid4().hex[:12]}", now)


def operator_event(
    action: Action, operator: str, key: AlertKey, channel: str, extra: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    at = datetime.now(UTC).isoformat()
    digest = hashlib.sha256(f"operator|{action}|{key}|{channel}|{operator}|{at}".encode()).hexdigest()[:32]
    return {
        "event": "operator",
        "action": action,
        "operator": operator,
        "event_id": digest,
        "channel": channel,
        "key": key_doc(key),
        "key_str": str(key),
        "announced_at": at,
        **(extra or {}),
    }


class Operator:
    """Carries out console actions on the daemon's ``Processor`` and ``Approvals``."""

    def __init__(self, processor: Processor, approvals: Approvals | None) -> None:
        self.processor = processor
        self.approvals = approvals

    async def _announce(self, event: dict[str, Any]) -> None:
        announcer = self.processor.announcer
        fence = await announcer.fence(event)
        await announcer.send(event, fence)

    async def act(self, action: Action, key: AlertKey, channel: str, operator: str) -> dict[str, Any]:
        """Do ``action``; returns the operator event announced. ``ActionRefusedError`` when it does not apply."""
        names = {ch.name for ch in self.processor.channels}
        if channel not in names:
            raise ActionRefusedError(f"no channel {channel!r}")
        log.info("operator_action", action=action, operator=operator, alert=str(key), channel=channel)
        slug = key.slug()
        if action in ("approve", "hold"):
            approvals = self.approvals
            if approvals is None or not any(
                w["slug"] == slug and w["channel"] == channel for w in approvals.pending()
            ):
                raise ActionRefusedError(f"{key} is not waiting for approval on {channel}")
            event = operator_event(action, operator, key, channel)
            await self._announce(event)
            done = (approvals.approve if action == "approve" else approvals.hold)(slug, channel, operator)
            if not done:
                raise ActionRefusedError(f"{key} stopped waiting on {channel} before the {action}")
            return event
        if action == "reair":
            return await self._reair(key, channel, operator)
        return await self._withdraw(key, channel, operator)

    async def _reair(self, key: AlertKey, channel: str, operator: str) -> dict[str, Any]:
        stage = next(ch.stage for ch in self.processor.channels if ch.name == channel)
        published = await asyncio.to_thread(stage.existing, key)
        if published is None:
            raise ActionRefusedError(f"{key} has no published output on {channel}")
        if await asyncio.to_thread(self.processor.ledger.lookup, key) is not None:
            raise ActionRefusedError(f"{key} was withdrawn or superseded: it may not air again")
        event = operator_event("reair", operator, key, channel, {
            "directory": str(published.directory),
            "files": [str(p) for p in published.files],
            "urls": list(published.urls),
            "disaster": published.disaster,
            "duration_s": published.duration_s,
        })  # fmt: skip
        await self._announce(event)
        return event

    async def _withdraw(self, key: AlertKey, channel: str, operator: str) -> dict[str, Any]:
        """A CAP Cancel from the operator: on every channel, as a Cancel acts (``channel`` is where it was asked)."""
        by = operator_key(operator, "withdraw")
        event = operator_event("withdraw", operator, key, channel, {"by": key_doc(by)})
        await self._announce(event)
        cancel = Alert(
            by.identifier, by.sender, datetime.now(UTC), by.sent, "Actual", "Cancel", "Public",
            note=f"withdrawn by operator {operator} from the console",
            references=(Reference(key.sender, key.identifier, key.sent),),
        )  # fmt: skip
        await asyncio.to_thread(self.processor.ledger.record, "cancel", key, by)
        if self.approvals is not None:
            self.approvals.poke(key.slug())  # a waiting alert sees the tombstone now and never airs
        # The Cancel path itself, not a copy: under the key's guard, so a publish in progress announces first.
        outcome = await self.processor.withdraw(cancel, [key])
        event["withdrawn"] = outcome.withdrawn
        return event
