"""Location codes as paths in a hierarchy, so "does this alert's area overlap the station's" is a prefix test.

Every scheme turns a code into a tuple of segments, coarsest first, cut where the code says "all of it":

* ``SAME`` (and FIPS6) ``PSSCCC``: ``000000`` -> ``()`` (the whole US, 47 CFR 11.31), ``0SS000`` -> ``(SS,)`` (the
  whole state), ``0SSCCC`` -> ``(SS, CCC)`` (the whole county), ``PSSCCC`` -> ``(SS, CCC, P)`` (a part of it).
* ``UGC`` ``SSZNNN`` / ``SSCNNN``: ``(SS, Z|C, NNN)``; ``NNN`` = ``000``/``ALL`` -> ``(SS, Z|C)``. Ranges
  (``MDZ011>015``) and lists (``MDZ011-013-VAZ053``) expand to one path each. Zones and counties are different
  maps: ``MDC031`` never matches ``MDZ503`` by code (list both, or use SAME, or a polygon).
* ``KR`` 법정동 codes, 10 digits ``SS CC C EEE RR`` (시도, 시군구, 읍면동, 리): ``1100000000`` -> ``(11,)``,
  ``1135000000`` -> ``(11, 35)``. A 시군구 code ending in 0 is also the city over its 일반구 (수원시 41110 over
  장안구 41111), so the 시군구 is two segments (``CC``, ``C``) and a 0 last digit cuts there.
* ``EMMA_ID`` and ``NUTS``: the two-letter country, then one segment per character (``AT32`` contains ``AT323``).

Two codes overlap when one path is a prefix of the other: the alert's area contains the station's, or the other way
round. Both directions matter: an alert for a whole state must reach a station covering one county of it, and a
station covering a whole state takes an alert for any county in it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Final

from cinealert.errors import CinealertError

Path = tuple[str, ...]

SCHEMES: Final = ("SAME", "UGC", "KR", "EMMA_ID", "NUTS")

GEOCODE_NAMES: Final[Mapping[str, str]] = {
    "SAME": "SAME",
    "FIPS6": "SAME",
    "FIPS": "SAME",
    "UGC": "UGC",
    "KR_ADMIN_CODE": "KR",
    "KR": "KR",
    "법정동코드": "KR",
    "EMMA_ID": "EMMA_ID",
    "NUTS": "NUTS",
    "NUTS1": "NUTS",
    "NUTS2": "NUTS",
    "NUTS3": "NUTS",
}
"""``<geocode><valueName>`` (upper-cased) -> scheme. ``coverage.geocode_names`` adds to it."""

MAX_EXPANSION: Final = 1000
"""Most paths one UGC string expands to: ``MDZ001>999`` is 999, and a hostile alert cannot ask for millions."""

_UGC_PART = re.compile(r"(?:(?P<head>[A-Z]{2}[CZ]))?(?P<first>\d{3}|ALL)(?:>(?P<last>\d{3}))?")


class CodeError(ValueError, CinealertError):
    """A code that is not a code of its scheme (a short phrase)."""


@dataclass(frozen=True, slots=True)
class Code:
    """One location code: its scheme, the text as written and its path."""

    scheme: str
    text: str
    path: Path

    def __str__(self) -> str:
        return f"{self.scheme}:{self.text}"


def parse_code(scheme: str, text: str) -> list[Code]:
    """The paths one written code stands for (several for a UGC range); raises ``CodeError``."""
    value = text.strip().upper()
    if scheme == "SAME":
        return [Code(scheme, value, _same(value))]
    if scheme == "UGC":
        return [Code(scheme, value, path) for path in _ugc(value)]
    if scheme == "KR":
        return [Code(scheme, value, _kr(value))]
    if scheme in ("EMMA_ID", "NUTS"):
        if re.fullmatch(r"[A-Z]{2}[A-Z0-9]*", value) is None or len(value) > 10:
            raise CodeError(f"{value[:20]!r} is not a {scheme} code")
        return [Code(scheme, value, (value[:2], *value[2:]))]
    raise CodeError(f"unknown scheme {scheme!r}")


def _same(value: str) -> Path:
    if len(value) == 5 and value.isdigit():
        value = "0" + value  # FIPS6 written without the subdivision digit
    if len(value) != 6 or not value.isascii() or not value.isdigit():
        raise CodeError(f"{value[:20]!r} is not a 6-digit SAME code")
    part, state, county = value[0], value[1:3], value[3:]
    if state == "00":
        return ()
    if county == "000":
        return (state,)
    return (state, county) if part == "0" else (state, county, part)


def _ugc(value: str) -> list[Path]:
    paths: list[Path] = []
    head = ""
    for piece in value.split("-"):
        if not piece:
            continue
        match = _UGC_PART.fullmatch(piece)
        if match is None or not (match["head"] or head):
            raise CodeError(f"{value[:40]!r} is not a UGC code")
        head = match["head"] or head
        state, kind = head[:2], head[2]
        first, last = match["first"], match["last"]
        if first in ("ALL", "000"):
            paths.append((state, kind))
            continue
        stop = int(last) if last else int(first)
        if stop < int(first) or len(paths) + stop - int(first) >= MAX_EXPANSION:
            raise CodeError(f"UGC range {piece!r} is reversed or too long")
        paths += [(state, kind, f"{n:03d}") for n in range(int(first), stop + 1)]
    if not paths:
        raise CodeError(f"{value[:40]!r} is not a UGC code")
    return paths


def _kr(value: str) -> Path:
    if not value.isascii() or not value.isdigit() or len(value) not in (2, 5, 8, 10):
        raise CodeError(f"{value[:20]!r} is not a 법정동 code (2, 5, 8 or 10 digits)")
    value = value.ljust(10, "0")
    sido, city, gu, dong, ri = value[:2], value[2:4], value[4], value[5:8], value[8:]
    if sido == "00":
        return ()
    if city + gu == "000":
        return (sido,)
    if dong + ri == "00000":
        return (sido, city) if gu == "0" else (sido, city, gu)
    return (sido, city, gu, dong) if ri == "00" else (sido, city, gu, dong, ri)


def scheme_of(value_name: str, extra: Mapping[str, str]) -> str | None:
    """The scheme a ``<geocode>`` valueName names, or None for one this module does not know."""
    key = value_name.strip().upper()
    return extra.get(key) or GEOCODE_NAMES.get(key)


class CodeIndex:
    """The station's codes, indexed so that one alert code is checked in O(length of its path)."""

    def __init__(self, codes: Iterable[Code]) -> None:
        self._exact: dict[tuple[str, Path], Code] = {}
        self._below: dict[tuple[str, Path], Code] = {}
        for code in codes:
            self._exact.setdefault((code.scheme, code.path), code)
            for cut in range(len(code.path) + 1):
                self._below.setdefault((code.scheme, code.path[:cut]), code)
        self.schemes = frozenset(scheme for scheme, _path in self._exact)

    def __bool__(self) -> bool:
        return bool(self._exact)

    def match(self, code: Code) -> Code | None:
        """A station code that overlaps ``code``: one containing it, else one it contains."""
        for cut in range(len(code.path), -1, -1):
            hit = self._exact.get((code.scheme, code.path[:cut]))
            if hit is not None:
                return hit
        return self._below.get((code.scheme, code.path))
