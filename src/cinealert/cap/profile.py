"""IPAWS-style profile checks: what a broadcast-grade alert should carry, beyond what CAP 1.2 requires.

These are warnings, not errors (``Alert.warnings``; ``cinealert validate --profile`` prints them): an alert from
a sender that skips them is still a valid CAP alert and still has to reach the public.
"""

from __future__ import annotations

from cinealert.cap.model import Alert

_NEEDS_CONTENT = ("Alert", "Update")


def profile_warnings(alert: Alert) -> tuple[str, ...]:
    warnings: list[str] = []
    if not alert.infos:
        if alert.msg_type in _NEEDS_CONTENT:
            warnings.append("profile: no <info> block, so there is nothing to show or say")
        return tuple(warnings)
    for index, info in enumerate(alert.infos, 1):
        where = f"profile: info[{index}] ({info.language})"
        if info.expires is None:
            warnings.append(f"{where}: no <expires>; the alert would stay on air until cancelled")
        elif info.expires <= alert.sent:
            warnings.append(f"{where}: <expires> is not after <sent>")
        if info.effective is not None and info.expires is not None and info.expires <= info.effective:
            warnings.append(f"{where}: <expires> is not after <effective>")
        if not any(name.upper() == "SAME" for name, _value in info.event_codes):
            warnings.append(f"{where}: no SAME event code (<eventCode> with valueName SAME)")
        if not info.areas:
            warnings.append(f"{where}: no <area>, so the alert cannot be targeted")
        if not info.headline:
            warnings.append(f"{where}: no <headline> for the on-screen crawl")
    return tuple(warnings)
