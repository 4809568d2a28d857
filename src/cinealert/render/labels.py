"""What the overlay says about the alert, apart from where it goes: colours (severity, plate, text), the
band's label and style (severity, UPDATED, CANCELLED), contrast, and the expiry as the viewer reads it (which
zone, named when unambiguous, the year when it is not this one; a date no zone can hold shown as written).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import TZPATH, ZoneInfo

from cinealert.cap.model import Alert, Info

RGB = tuple[int, int, int]


#: CAP severity -> (band colour, band text colour). Text/band pairs all have a contrast ratio >= 7:1.
SEVERITY_COLORS: dict[str, tuple[RGB, RGB]] = {
    "Extreme": ((170, 0, 0), (255, 255, 255)),
    "Severe": ((255, 140, 0), (0, 0, 0)),
    "Moderate": ((255, 214, 0), (0, 0, 0)),
    "Minor": ((55, 71, 79), (255, 255, 255)),
    "Unknown": ((55, 71, 79), (255, 255, 255)),
}


PLATE_RGB: RGB = (10, 10, 12)


#: Opaque by default: the best legibility (emergency text must read over fire, snow or glare alike), and the
#: per-frame work becomes a straight copy of the pre-rendered rows. Lower it for a translucent plate.
PLATE_ALPHA = 255


HEADLINE_RGB: RGB = (255, 255, 255)


INSTRUCTION_RGB: RGB = (255, 236, 150)


DETAIL_RGB: RGB = (220, 228, 236)


SEVERITY_LABELS: dict[str, dict[str, str]] = {
    "ko": {"Extreme": "위급", "Severe": "긴급", "Moderate": "주의", "Minor": "안내", "Unknown": "알림"},
    "en": {
        "Extreme": "EXTREME",
        "Severe": "SEVERE",
        "Moderate": "MODERATE",
        "Minor": "MINOR",
        "Unknown": "ALERT",
    },
}


_UNTIL = {"ko": "{t} 까지", "en": "until {t}"}


def relative_luminance(rgb: Sequence[float]) -> float:
    """WCAG 2.x relative luminance of an sRGB colour given in 0..255."""

    def lin(c: float) -> float:
        c = c / 255.0
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (lin(float(c)) for c in rgb[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast_ratio(a: Sequence[float], b: Sequence[float]) -> float:
    la, lb = relative_luminance(a), relative_luminance(b)
    hi, lo = max(la, lb), min(la, lb)
    return (hi + 0.05) / (lo + 0.05)


def severity_style(severity: str) -> tuple[RGB, RGB]:
    return SEVERITY_COLORS.get(severity, SEVERITY_COLORS["Unknown"])


def _lang_key(language: str) -> str:
    return "ko" if language.lower().startswith("ko") else "en"


#: The band colour of a Cancel: a calm green, not a severity colour, so an all-clear never reads as a warning.
#: White on it has a contrast ratio of 7.3:1 (``contrast_ratio``), like the severity pairs.
ALL_CLEAR_COLORS: tuple[RGB, RGB] = ((0, 100, 45), (255, 255, 255))


#: The band tag of an Update / a Cancel, by language (English for languages not listed).
MSG_TAGS: dict[str, dict[str, str]] = {
    "Update": {"ko": "갱신", "ja": "更新", "en": "UPDATED"},
    "Cancel": {"ko": "해제", "ja": "解除", "en": "CANCELLED"},
}


#: A language without a region subtag whose country is nonetheless plain (for naming a zone abbreviation).
_LANGUAGE_COUNTRY = {"ko": "KR", "ja": "JP"}


def band_style(alert: Alert, severity: str) -> tuple[RGB, RGB]:
    """The band colours: the severity's, or the all-clear green for a Cancel (whatever severity it repeats)."""
    return ALL_CLEAR_COLORS if alert.msg_type == "Cancel" else severity_style(severity)


def band_label(alert: Alert, info: Info) -> str:
    """What the band starts with: the severity word, or for an Update / a Cancel its tag first.

    An Update otherwise looks exactly like a new alert, and a Cancel like a warning still in force; the tag is
    the one thing that tells the viewer. A Cancel drops the severity word (it no longer applies).
    """
    lang = _lang_key(info.language)
    severity = SEVERITY_LABELS[lang].get(info.severity, SEVERITY_LABELS[lang]["Unknown"])
    tags = MSG_TAGS.get(alert.msg_type)
    if tags is None:
        return severity
    primary = info.language.lower().split("-")[0]
    tag = tags.get(primary, tags["en"])
    return tag if alert.msg_type == "Cancel" else f"{tag} · {severity}"


@functools.cache
def _country_zones(country: str) -> tuple[str, ...]:
    """The IANA zones of a country, from the system's ``zone.tab`` (none where it cannot be read)."""
    for base in TZPATH:
        path = Path(base) / "zone.tab"
        try:
            lines = path.read_text(encoding="utf-8").splitlines()
        except OSError:
            continue
        return tuple(
            parts[2] for parts in (line.split("\t") for line in lines)
            if len(parts) >= 3 and parts[0] == country
        )  # fmt: skip
    return ()


def _country(language: str) -> str:
    parts = language.replace("_", "-").split("-")
    for part in parts[1:]:
        if len(part) == 2 and part.isalpha():
            return part.upper()
    return _LANGUAGE_COUNTRY.get(parts[0].lower(), "")


def _abbreviation(when: datetime, language: str) -> str:
    """The zone abbreviation of ``when``'s offset, if exactly one is in use there then; else ``""``.

    "There" is the country of the info's language tag (``en-US`` -> US, ``ko`` -> KR): at -05:00 on a winter
    day every US zone at that offset says EST, on a summer day CDT; at -07:00 in summer Phoenix (MST) and Los
    Angeles (PDT) share the offset, so no name is given. Numeric names (``+03``) do not count as names.
    """
    offset = when.utcoffset()
    names: set[str] = set()
    for name in _country_zones(_country(language)):
        try:
            local = when.astimezone(ZoneInfo(name))
        except (OverflowError, ValueError, OSError):
            continue
        abbr = local.tzname() or ""
        if local.utcoffset() == offset and abbr.isalpha():
            names.add(abbr)
    return names.pop() if len(names) == 1 else ""


def _utc_offset(when: datetime) -> str:
    offset = when.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def format_expiry(
    expires: datetime | None, language: str, tz: ZoneInfo | None, *, now: datetime | None = None
) -> str:
    """The expiry in the time the alert's area keeps, named so a viewer anywhere reads it right.

    The rule (issue 14: a US alert shown in KST, the default zone, misleads everyone):

    * ``tz`` is the channel's ``broadcast.timezone`` only where it was set explicitly (``None`` otherwise).
      It is used when its UTC offset at that instant equals the offset the alert wrote (``-05:00`` in
      ``expires``): the channel's own zone then names the time (``KST``, ``EST``).
    * Otherwise the expiry is shown at the alert's own offset, as the issuer wrote it (a viewer of a US
      alert on a Korean channel reads the US time the alert speaks of), named by the abbreviation in use at that
      offset in the country of the info's language if exactly one is (``_abbreviation``), else ``UTC-05:00``.
      A ``Z``/``+00:00`` expiry with no country name reads ``UTC+00:00``.
    * The year is shown when it is not the current year in the zone shown (``now``: the present, for tests).

    CAP allows any year: ``9999-12-31T23:59:59+00:00`` ("until further notice") is past what a ``datetime``
    can hold once moved to +09:00, and ``0001-01-01`` before it to a zone west of UTC. Such an alert is valid
    and must air, so the expiry is then printed in ISO 8601 with the alert's own offset (what the CAP text said,
    ``-00:00`` aside) instead of failing the overlay.
    """
    if expires is None:
        return ""
    lang = _lang_key(language)
    try:
        local = expires
        name = ""
        if tz is not None:
            moved = expires.astimezone(tz)
            if moved.utcoffset() == expires.utcoffset():
                local, name = moved, moved.tzname() or ""
        if not name:
            name = _abbreviation(expires, language) or _utc_offset(expires)
        current = (now or datetime.now(UTC)).astimezone(local.tzinfo)
        if lang == "ko":
            year = f"{local.year}년 " if local.year != current.year else ""
            stamp = f"{year}{local.month}월 {local.day}일 {local:%H:%M} {name}"
        else:
            year = f" {local.year}" if local.year != current.year else ""
            stamp = f"{local.day} {local:%b}{year} {local:%H:%M} {name}"
    except (OverflowError, ValueError):
        stamp = expires.isoformat()
    return _UNTIL[lang].format(t=stamp.strip())


def shown_expiry(alert: Alert, info: Info, tz: ZoneInfo | None, *, now: datetime | None = None) -> str:
    """The band's "until ..." text; none for a Cancel (nothing is in force any more, so nothing expires)."""
    if alert.msg_type == "Cancel":
        return ""
    return format_expiry(info.expires or alert.expires, info.language, tz, now=now)
