"""CAP date-times: ``YYYY-MM-DDThh:mm:ss±hh:mm`` and nothing looser.

CAP 1.2 §3.3.2 requires the time-zone offset and forbids the ``Z`` designator and fractional seconds;
``-00:00`` is allowed and means UTC. Keeping to the letter matters because the literal ``sent`` string is part of
an alert's identity (see :class:`~cinealert.cap.model.AlertKey`).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from cinealert.errors import CinealertError

_CAP_DATETIME = re.compile(
    r"(?P<y>\d{4})-(?P<mo>\d{2})-(?P<d>\d{2})T(?P<h>\d{2}):(?P<mi>\d{2}):(?P<s>\d{2})"
    r"(?P<sign>[+-])(?P<oh>\d{2}):(?P<om>\d{2})",
    re.ASCII,
)


class CapDateError(ValueError, CinealertError):
    """Why a string is not a CAP date-time (a short phrase, completed by the caller with the field name)."""


def parse_cap_datetime(text: str) -> datetime:
    """Parse a CAP date-time into an aware :class:`datetime`, or raise :class:`CapDateError`."""
    match = _CAP_DATETIME.fullmatch(text)
    if match is None:
        raise CapDateError(_diagnose(text))
    sign = -1 if match["sign"] == "-" else 1
    off_h, off_m = int(match["oh"]), int(match["om"])
    if off_h > 14 or off_m > 59 or (off_h == 14 and off_m):
        raise CapDateError(f"time-zone offset {match['sign']}{match['oh']}:{match['om']} is out of range")
    tz = timezone(sign * timedelta(hours=off_h, minutes=off_m))
    try:
        return datetime(
            int(match["y"]),
            int(match["mo"]),
            int(match["d"]),
            int(match["h"]),
            int(match["mi"]),
            int(match["s"]),
            tzinfo=tz,
        )
    except ValueError as exc:
        raise CapDateError(f"not a real date-time ({exc})") from None


def _diagnose(text: str) -> str:
    if not text:
        return "empty date-time"
    if text.endswith(("Z", "z")):
        return "'Z' is not allowed in CAP date-times; write the offset, e.g. +00:00"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+([+-]\d{2}:\d{2})?", text, re.ASCII):
        return "fractional seconds are not allowed in CAP date-times"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}", text, re.ASCII):
        return "time-zone offset is required (YYYY-MM-DDThh:mm:ss±hh:mm)"
    return "expected YYYY-MM-DDThh:mm:ss±hh:mm"
