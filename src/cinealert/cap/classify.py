"""Which disaster does an alert describe? Evidence weighed by how much each field can be trusted.

Every info block (all languages) contributes evidence; each piece is
``field weight x term strength x position x cues``:

- field weight, most trusted first: a known event code (SAME/NWS, 14: more than event and headline together),
  the NWS VTEC phenomenon (12), Meteoalarm ``awareness_type`` (8), a hazard word in a non-SAME event code (8),
  ``<event>`` (6), ``<headline>`` (4), ``<description>`` (2), ``<instruction>`` (1); ``<category>`` only nudges
  hazards already in evidence, except the clearly non-natural categories (CBRNE, Security, Rescue, Health,
  Transport, Infra), which count for ``other``;
- term strength comes from :mod:`cinealert.cap.lexicon` ("flash flood" 1.0, "rain" 0.4);
- position: the first words of a text name the main event, later ones its consequences, so a match decays with
  its offset (floor 0.35);
- cues: "no tsunami threat" is negated (x0.15); "may cause flooding", "태풍으로 인한 침수", "산사태 우려" mark side
  effects (x0.6); rain named as a cause ("집중호우로 인한 토사 유출", "landslides due to heavy rain") counts half
  for flood, since the alert is about what the rain does.

Per field only the best match of each class counts in full (further distinct mentions add a little), so a long
description cannot outvote the event code. The class with the highest total wins; the confidence comes from the
most trusted field that supports it, scaled by the term strength and by the winner's share of all evidence.
Unqualified "fire" is resolved by context across the whole alert (see the lexicon module docstring).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from cinealert.cap.model import Alert, Classification, DisasterType, Info
from cinealert.cap.numbers import CapNumberError, parse_whole
from cinealert.cap.vocabulary import (
    AWARENESS_NAMES,
    AWARENESS_TYPES,
    CAUSE_AFTER,
    CAUSE_BEFORE,
    FIRE,
    LETTER,
    NEGATION_AFTER,
    NEGATION_BEFORE,
    NWS_CODES,
    NWS_NAMES,
    SAME_CODES,
    SAME_NAMES,
    SIDE_EFFECT_AFTER,
    SIDE_EFFECT_BEFORE,
    VEGETATION,
    VTEC,
    VTEC_PHENOMENA,
    Target,
    terms,
)

W_CODE = 14.0
W_VTEC = 12.0
W_AWARENESS = 8.0
W_CODE_TEXT = 8.0
W_EVENT = 6.0
W_HEADLINE = 4.0
W_DESCRIPTION = 2.0
W_INSTRUCTION = 1.0
W_CATEGORY = 1.0

# Confidence ceiling per kind of field: an event code is near-certain, a description mention much less so.
BASE_CONFIDENCE = {
    W_CODE: 0.95,
    W_VTEC: 0.93,
    W_AWARENESS: 0.9,
    W_EVENT: 0.9,
    W_HEADLINE: 0.8,
    W_DESCRIPTION: 0.65,
    W_INSTRUCTION: 0.5,
    W_CATEGORY: 0.3,
}
NO_TERM_CONFIDENCE = 0.1
MIN_SCORE = 0.25
MAX_MATCHES = 300
MAX_INFOS = 32
"""Meteoalarm sends up to ~30 languages; more info blocks than that add nothing but work."""
SCAN_CHARS = 4000
"""Only the start of a long text is scanned: the main event is named early, and the cost stays bounded."""

NATURAL_HINTS: dict[str, tuple[DisasterType, ...]] = {
    "Geo": (DisasterType.EARTHQUAKE, DisasterType.LANDSLIDE),
    "Met": (DisasterType.FLOOD, DisasterType.HEAVY_SNOW, DisasterType.TYPHOON, DisasterType.DROUGHT),
    "Fire": (DisasterType.WILDFIRE,),
    "Env": (DisasterType.DROUGHT, DisasterType.WILDFIRE),
}
NON_NATURAL_CATEGORIES = frozenset({"CBRNE", "Security", "Rescue", "Health", "Transport", "Infra"})


@dataclass(frozen=True, slots=True)
class Evidence:
    target: Target
    score: float
    weight: float
    strength: float
    field: str
    term: str


def classify(alert: Alert) -> Classification:
    """Classify ``alert`` into one :class:`DisasterType` with a confidence and the field/term that decided."""
    if not alert.infos:
        return Classification(DisasterType.OTHER, 0.0, "no info block", "")
    evidence: list[Evidence] = []
    for info in alert.infos[:MAX_INFOS]:
        evidence.extend(_codes(info))
        evidence.extend(_parameters(info))
        evidence.extend(_texts(info))
    evidence = _resolve_fire(alert, evidence)
    evidence.extend(_categories(alert, evidence))
    return _decide(evidence)


def _codes(info: Info) -> list[Evidence]:
    found = []
    for name, raw in info.event_codes:
        value = raw.strip()
        upper_name = name.strip().upper()
        table = NWS_CODES if upper_name in NWS_NAMES else SAME_CODES
        code = value.upper()
        field = f"eventCode {name.strip()}"
        if code in table:
            target, strength = table[code]
            if target is not None:
                found.append(Evidence(target, W_CODE * strength, W_CODE, strength, field, value))
            continue
        if upper_name in SAME_NAMES or (len(code) == 3 and code.isalpha() and code.isupper()):
            continue  # an unknown or generic code says nothing about the hazard
        found.extend(_scan(value, W_CODE_TEXT, field))
    return found


def _parameters(info: Info) -> list[Evidence]:
    found = []
    for name, value in info.parameters:
        key = name.strip().lower()
        if key == "awareness_type":
            hit = _awareness(value)
            if hit is not None:
                target, strength = hit
                found.append(
                    Evidence(
                        target, W_AWARENESS * strength, W_AWARENESS, strength, f"parameter {name}", value
                    )
                )
        elif key == "vtec":
            for match in VTEC.finditer(value):
                phenomenon = VTEC_PHENOMENA.get(match.group(1))
                if phenomenon is not None:
                    found.append(Evidence(phenomenon, W_VTEC, W_VTEC, 1.0, "parameter VTEC", match.group(0)))
    return found


def _awareness(value: str) -> tuple[Target, float] | None:
    number_text, _, name = value.partition(";")
    # Through parse_whole, not str.isdigit() + int(): '²' passes isdigit() yet int() refuses it, and int() of
    # a 5,000-digit value raises; either would crash classification of an alert that parsed fine.
    try:
        number: int | None = parse_whole(number_text.strip(), "awareness type", high=99)
    except CapNumberError:
        number = None
    if number is not None and number in AWARENESS_TYPES:
        return AWARENESS_TYPES[number]
    number = AWARENESS_NAMES.get((name or value).strip().lower())
    return AWARENESS_TYPES[number] if number is not None else None


def _texts(info: Info) -> list[Evidence]:
    found = _scan(info.event, W_EVENT, "event")
    if info.headline:
        found += _scan(info.headline, W_HEADLINE, "headline")
    if info.description:
        found += _scan(info.description, W_DESCRIPTION, "description")
    if info.instruction:
        found += _scan(info.instruction, W_INSTRUCTION, "instruction")
    return found


def _scan(text: str, weight: float, field: str) -> list[Evidence]:
    """Best match per class in one text, longest match first so "house fire" hides the "fire" inside it."""
    text = text[:SCAN_CHARS]
    lowered = text.lower()
    if len(lowered) != len(text):  # a few characters change length when lower-cased; quote the lowered text
        text = lowered
    has_latin = LETTER.search(lowered) is not None
    has_other = not lowered.isascii()
    matches: list[tuple[int, int, Target, float]] = []
    for term in terms():
        if not (has_latin if term.latin else has_other):
            continue
        for match in term.regex.finditer(lowered):
            start = match.start()
            if term.latin and start and LETTER.match(lowered, start - 1):
                continue
            strength = term.strength
            if term.rain and _is_cause(lowered, start, match.end()):
                strength *= 0.5
            matches.append((start, match.end(), term.target, strength))
    if len(matches) > MAX_MATCHES:  # a hostile text repeating one word must not make this quadratic blow up
        matches = sorted(matches)[:MAX_MATCHES]
    matches.sort(key=lambda m: (-(m[1] - m[0]), m[0]))
    taken: list[tuple[int, int]] = []
    best: dict[Target, Evidence] = {}
    counts: dict[Target, int] = defaultdict(int)
    for start, end, target, strength in matches:
        if any(start < t_end and t_start < end for t_start, t_end in taken):
            continue
        taken.append((start, end))
        factor = max(0.35, 1.0 / (1.0 + start / 200.0)) * _cue_factor(text, start, end)
        score = weight * strength * factor
        counts[target] += 1
        current = best.get(target)
        if current is None or score > current.score:
            best[target] = Evidence(target, score, weight, strength * factor, field, text[start:end])
    result = []
    for target, ev in best.items():
        bonus = 1.0 + 0.15 * min(counts[target] - 1, 3)
        result.append(Evidence(target, ev.score * bonus, ev.weight, ev.strength, ev.field, ev.term))
    return result


def _is_cause(text: str, start: int, end: int) -> bool:
    return bool(
        CAUSE_AFTER.search(text[end : end + 12]) or CAUSE_BEFORE.search(text[max(0, start - 50) : start])
    )


def _cue_factor(text: str, start: int, end: int) -> float:
    before = text[max(0, start - 60) : start]
    after = text[end : end + 30]
    if NEGATION_BEFORE.search(before) or NEGATION_AFTER.search(after):
        return 0.15
    if SIDE_EFFECT_BEFORE.search(before) or SIDE_EFFECT_AFTER.search(after):
        return 0.6
    return 1.0


def _resolve_fire(alert: Alert, evidence: list[Evidence]) -> list[Evidence]:
    """Turn unqualified fire mentions into wildfire or other, from context anywhere in the alert."""
    if not any(ev.target == FIRE for ev in evidence):
        return evidence
    structural = any(
        ev.target == DisasterType.OTHER
        and ("fire" in ev.term.lower() or "화재" in ev.term)
        and "smoke" not in ev.term.lower()
        for ev in evidence
    )
    vegetation = bool(VEGETATION.search(_context_text(alert)))
    resolved = []
    for ev in evidence:
        if ev.target != FIRE:
            resolved.append(ev)
        elif vegetation or not structural:
            scale = 1.6 if vegetation else 1.0
            resolved.append(
                Evidence(
                    DisasterType.WILDFIRE, ev.score * scale, ev.weight, ev.strength * scale, ev.field, ev.term
                )
            )
        else:
            resolved.append(Evidence(DisasterType.OTHER, ev.score, ev.weight, ev.strength, ev.field, ev.term))
    return resolved


def _context_text(alert: Alert) -> str:
    parts = [alert.sender]
    for info in alert.infos[:MAX_INFOS]:
        parts += [
            info.sender_name or "",
            info.event,
            info.headline or "",
            (info.description or "")[:SCAN_CHARS],
        ]
        parts += [(info.instruction or "")[:SCAN_CHARS], info.web or ""]
    return "\n".join(parts)


def _categories(alert: Alert, evidence: list[Evidence]) -> list[Evidence]:
    present = {ev.target for ev in evidence}
    found = []
    seen: set[str] = set()
    for info in alert.infos[:MAX_INFOS]:
        for category in info.categories:
            if category in seen:
                continue
            seen.add(category)
            if category in NON_NATURAL_CATEGORIES:
                found.append(Evidence(DisasterType.OTHER, W_CATEGORY, W_CATEGORY, 1.0, "category", category))
            for hinted in NATURAL_HINTS.get(category, ()):
                if hinted in present:
                    found.append(Evidence(hinted, 0.5 * W_CATEGORY, W_CATEGORY, 0.5, "category", category))
    return found


def _decide(evidence: list[Evidence]) -> Classification:
    totals: dict[DisasterType, float] = defaultdict(float)
    top: dict[DisasterType, Evidence] = {}
    for ev in evidence:
        if not isinstance(ev.target, DisasterType):
            continue
        totals[ev.target] += ev.score
        current = top.get(ev.target)
        if current is None or ev.score > current.score:
            top[ev.target] = ev
    if not totals:
        return Classification(DisasterType.OTHER, NO_TERM_CONFIDENCE, "event, headline, description", "")
    # Highest total wins; on a tie prefer the class whose best evidence is more trusted, then a natural hazard.
    winner = max(
        totals, key=lambda d: (round(totals[d], 6), top[d].weight, d is not DisasterType.OTHER, d.value)
    )
    if totals[winner] < MIN_SCORE:
        return Classification(DisasterType.OTHER, NO_TERM_CONFIDENCE, "event, headline, description", "")
    share = totals[winner] / sum(totals.values())
    best = top[winner]
    base = BASE_CONFIDENCE.get(best.weight, 0.5)
    strength = min(best.strength, 1.0)
    confidence = base * (0.75 + 0.25 * strength) * (0.7 + 0.3 * share)
    return Classification(winner, round(min(confidence, 0.99), 3), best.field, best.term)
