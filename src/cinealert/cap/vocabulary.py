"""The hazard terms of :mod:`cinealert.cap.lexicon`, compiled for :mod:`cinealert.cap.classify`.

The tables themselves (codes, terms, context patterns, and the judgement calls behind them) live in the lexicon;
this module turns them into regexes once, on first use, and re-exports them so callers need one import.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Final

from cinealert.cap.lexicon import (
    AWARENESS_NAMES,
    AWARENESS_TYPES,
    CAUSE_AFTER,
    CAUSE_BEFORE,
    CJK,
    CJK_REGEX,
    DROUGHT,
    FIRE,
    FLOOD,
    GENERIC,
    LANDSLIDE,
    LATIN,
    NEGATION_AFTER,
    NEGATION_BEFORE,
    NEUTRAL,
    NWS_CODES,
    NWS_NAMES,
    OTHER,
    QUAKE,
    RAIN,
    SAME_CODES,
    SAME_NAMES,
    SIDE_EFFECT_AFTER,
    SIDE_EFFECT_BEFORE,
    SNOW,
    TYPHOON,
    VEGETATION,
    VTEC,
    VTEC_PHENOMENA,
    WILDFIRE,
    Target,
)

__all__ = [
    "AWARENESS_NAMES",
    "AWARENESS_TYPES",
    "CAUSE_AFTER",
    "CAUSE_BEFORE",
    "CJK",
    "CJK_REGEX",
    "DROUGHT",
    "FIRE",
    "FLOOD",
    "GENERIC",
    "LANDSLIDE",
    "LATIN",
    "LETTER",
    "NEGATION_AFTER",
    "NEGATION_BEFORE",
    "NEUTRAL",
    "NWS_CODES",
    "NWS_NAMES",
    "OTHER",
    "QUAKE",
    "RAIN",
    "SAME_CODES",
    "SAME_NAMES",
    "SIDE_EFFECT_AFTER",
    "SIDE_EFFECT_BEFORE",
    "SNOW",
    "TYPHOON",
    "VEGETATION",
    "VTEC",
    "VTEC_PHENOMENA",
    "WILDFIRE",
    "Target",
    "Term",
    "terms",
]


@dataclass(frozen=True, slots=True)
class Term:
    regex: re.Pattern[str]
    target: Target
    strength: float
    latin: bool
    rain: bool
    """Latin terms are matched on lower-cased text and need a non-letter before them (checked by the caller:
    a leading look-behind would stop the regex engine from skipping ahead to its literal prefix)."""


LETTER: Final = re.compile(r"[A-Za-z\u00C0-\u024F\u1E00-\u1EFF]")


def _latin(fragment: str) -> re.Pattern[str]:
    body = fragment.replace(" ", r"[\s_-]*")
    return re.compile(rf"(?:{body})(?![A-Za-z\u00C0-\u024F\u1E00-\u1EFF])")


@functools.cache
def terms() -> tuple[Term, ...]:
    """All terms, compiled on first use so that ``cinealert validate`` never pays for them."""
    terms = [Term(_latin(f), target, strength, True, f in RAIN) for f, target, strength in LATIN]
    terms += [
        Term(re.compile(re.escape(t)), target, strength, False, t in RAIN) for t, target, strength in CJK
    ]
    terms += [Term(re.compile(p), target, strength, False, False) for p, target, strength in CJK_REGEX]
    return tuple(terms)
