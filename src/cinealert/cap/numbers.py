"""Numbers written in CAP text, read without trusting how long or how large they are.

Every number the parser takes from a message (coordinates, circle radius, altitude and ceiling, resource size,
the awareness type the classifier reads) goes through here, because Python's own conversions fail in ways an
attacker can choose: ``float()`` turns 400 digits into ``inf`` (and accepts ``nan``, ``inf`` and exponents),
``int()`` of more than 4,300 digits raises a ``ValueError`` that is not about CAP at all, and Unicode digits such
as ``'²'`` pass ``str.isdigit()`` yet make ``int()`` fail. So the text is checked first (plain ASCII decimal
notation, bounded length), converted second, and the value range-checked last: what comes out is always finite
and inside the bounds the caller gave, and every refusal is a :class:`CapNumberError` with a short phrase.
"""

from __future__ import annotations

import math
import re
from typing import Final

from cinealert.cap.xmlsafe import snippet
from cinealert.errors import CinealertError

MAX_DECIMAL_CHARS: Final = 32
"""A WGS 84 coordinate needs ~10 characters and a double's full precision ~25; 32 leaves room for signs and
padding while keeping digit strings that only an attacker writes out."""

_DECIMAL: Final = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)
_WHOLE: Final = re.compile(r"\d+", re.ASCII)


class CapNumberError(ValueError, CinealertError):
    """Why a text is not an acceptable number (a short phrase; the caller prefixes where it was found)."""


def parse_decimal(text: str, what: str, *, low: float, high: float, unit: str = "") -> float:
    """``text`` as a finite float in ``[low, high]``; refuses exponents, ``nan``/``inf`` and over-long digit runs."""
    if len(text) > MAX_DECIMAL_CHARS:
        raise CapNumberError(
            f"{what} {snippet(text, 24)} is {len(text)} characters long; at most {MAX_DECIMAL_CHARS} are accepted"
        )
    if not _DECIMAL.fullmatch(text):
        raise CapNumberError(f"{what} {snippet(text, 24)} is not a decimal number")
    value = float(text)
    if not (math.isfinite(value) and low <= value <= high):
        raise CapNumberError(f"{what} {value:g}{unit} is outside [{low:g}, {high:g}]")
    return value


def parse_whole(text: str, what: str, *, high: int) -> int:
    """``text`` as an integer in ``[0, high]``; the digit count is checked before ``int()`` ever sees the text."""
    if not _WHOLE.fullmatch(text):
        raise CapNumberError(f"{what} {snippet(text, 24)} is not a whole number")
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(high)):
        raise CapNumberError(
            f"{what} {snippet(text, 24)} has {len(digits)} digits; the largest accepted is {high}"
        )
    value = int(digits)
    if value > high:
        raise CapNumberError(f"{what} {value} is larger than {high}")
    return value
