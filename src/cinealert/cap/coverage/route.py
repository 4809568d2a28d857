"""Whether one alert airs on this station, and why: the rules a CAP-to-EAS device applies before it relays.

In order, first refusal wins:

1. ``senders`` (allow list, globs): another sender's alert is refused (``sender_filtered``);
2. ``events_deny``: an event code or ``<event>`` name listed there is refused (``event_filtered``);
3. national-level alerts (``national_events`` codes such as SAME EAN, ``national_keywords`` such as 위급재난 in
   ``<event>``/``<headline>``) air from here on, wherever they are for: a national alert is for everyone;
4. ``events_allow``: when set, an alert with none of its events is refused (``event_filtered``);
5. location: any ``<geocode>`` overlapping a ``locations`` code, any ``<polygon>``/``<circle>`` overlapping the
   ``area_file`` area, or (only when the alert carries no code or shape this coverage compares) an
   ``area_names`` word in ``<areaDesc>``. Nothing matching: ``out_of_area``. Nothing comparable at all: the
   ``unlocated`` setting decides (default air: it may be for this area, and dropping a valid alert is the
   worse error; skip does what EAS devices do: no matching code, no relay).

Statuses (``handlers.accept_statuses``), msgType and expiry are ``handlers.policy``'s, checked before this.
With nothing set in ``[coverage]`` every alert airs (the behaviour before coverage existed). The ``[coverage]``
section is the default channel's; a later multi-channel daemon gives each channel its own ``Coverage``.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from shapely.geometry.base import BaseGeometry

from cinealert.cap.coverage.codes import Code, CodeError, CodeIndex, parse_code, scheme_of
from cinealert.cap.coverage.shapes import ShapeError, cap_circle, cap_polygon, load_area, overlaps
from cinealert.cap.model import Alert, Area
from cinealert.config.sections import CoverageSettings
from cinealert.config.settings import ConfigError, ConfigProblem

MAX_LISTED: Final = 12
"""Most unmatched codes or shapes a verdict names (a hostile alert may carry thousands)."""


@dataclass(frozen=True, slots=True)
class Verdict:
    """The coverage decision for one alert. ``reason`` is a short label (a skip reason when it does not air)."""

    airs: bool
    reason: str
    detail: str
    matched: tuple[str, ...] = ()
    unmatched: tuple[str, ...] = ()
    national: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "airs": self.airs,
            "reason": self.reason,
            "detail": self.detail,
            "matched": list(self.matched),
            "unmatched": list(self.unmatched),
            "national": self.national or None,
        }


@dataclass(slots=True)
class _Search:
    """What the location search found: the first match, and what it compared without one."""

    matched: list[str] = field(default_factory=list)
    unmatched: list[str] = field(default_factory=list)
    compared: bool = False


class Coverage:
    """One channel's coverage, compiled once (codes indexed, area loaded and prepared): ``route`` is cheap."""

    def __init__(
        self, settings: CoverageSettings, area: BaseGeometry | None = None, name: str = "default"
    ) -> None:
        self.name = name
        self.settings = settings
        self.area = area
        self.codes = CodeIndex(code for entry in settings.locations for code in _entry_codes(entry))
        self.aliases = {
            n.strip().upper(): s.strip().upper()
            for n, _, s in (e.partition("=") for e in settings.geocode_names)
        }
        self.area_names = tuple(n.casefold() for n in settings.area_names if n.strip())
        self.allow = frozenset(e.strip().casefold() for e in settings.events_allow)
        self.deny = frozenset(e.strip().casefold() for e in settings.events_deny)
        self.national_codes = frozenset(e.strip().casefold() for e in settings.national_events)
        self.national_words = tuple(w.casefold() for w in settings.national_keywords if w.strip())
        self.senders = tuple(s.strip().casefold() for s in settings.senders)
        #: the location rule applies at all (else only event and sender rules, if any)
        self.locating = bool(self.codes) or area is not None or bool(self.area_names)
        self.active = self.locating or bool(self.allow or self.deny or self.senders)

    @classmethod
    def from_settings(cls, settings: CoverageSettings, name: str = "default") -> Coverage:
        """Compile; an unreadable or malformed ``area_file`` is a ``ConfigError`` naming the key."""
        area = None
        if settings.area_file is not None:
            try:
                area = load_area(settings.area_file)
            except ShapeError as exc:
                raise ConfigError([ConfigProblem("coverage.area_file", str(exc))], "coverage") from None
        return cls(settings, area, name)

    # -- the rules --------------------------------------------------------------------------------------
    def route(self, alert: Alert) -> Verdict:
        if not self.active:
            return Verdict(True, "no_coverage", "no [coverage] set: every alert airs")
        sender = alert.sender.casefold()
        if self.senders and not any(fnmatch.fnmatchcase(sender, glob) for glob in self.senders):
            return Verdict(False, "sender_filtered", f"sender {alert.sender!r} is not in coverage.senders")
        events = _events(alert)
        denied = sorted(e for e in events if e.casefold() in self.deny)
        if denied:
            return Verdict(False, "event_filtered", f"event {denied[0]!r} is in coverage.events_deny")
        national = self._national(alert)
        if national:
            return Verdict(
                True, "national", f"national-level alert ({national}): airs everywhere", national=national
            )
        if self.allow and not any(e.casefold() in self.allow for e in events):
            shown = ", ".join(sorted(events)[:MAX_LISTED]) or "none"
            return Verdict(
                False, "event_filtered", f"no event of the alert ({shown}) is in coverage.events_allow"
            )
        if not self.locating:
            return Verdict(True, "no_location_filter", "no location set in [coverage]: every area airs")
        return self._locate(alert)

    def _national(self, alert: Alert) -> str:
        for info in alert.infos:
            for name, value in info.event_codes:
                if value.strip().casefold() in self.national_codes:
                    return f"event code {name}:{value.strip()}"
            text = f"{info.event}\n{info.headline or ''}".casefold()
            for word in self.national_words:
                if word in text:
                    return f"keyword {word!r}"
        return ""

    def _locate(self, alert: Alert) -> Verdict:
        areas = _areas(alert)
        found = self._search(areas)
        unmatched = tuple(found.unmatched[:MAX_LISTED])
        if found.matched:
            return Verdict(True, "in_area", f"in area: {found.matched[0]}", tuple(found.matched), unmatched)
        if found.compared or not _unplaceable(areas, shapes_compared=self.area is not None):
            # compared and missed, or placed only by codes of schemes this coverage does not use (another
            # country's system): out of area
            shown = ", ".join(unmatched) or "nothing"
            return Verdict(False, "out_of_area", f"out of area: {shown} matched no coverage", (), unmatched)
        # no location at all, or only a polygon/circle and no coverage area to compare it with: it may be ours
        what = ", ".join(unmatched) or "no geocode, polygon or circle"
        if self.settings.unlocated == "air":
            detail = f"nothing to compare ({what}): aired by coverage.unlocated"
            return Verdict(True, "unlocated", detail, (), unmatched)
        detail = f"nothing to compare ({what}): skipped by coverage.unlocated"
        return Verdict(False, "out_of_area", detail, (), unmatched)

    def _search(self, areas: list[Area]) -> _Search:
        """Codes first (a dictionary lookup each), then shapes (shapely), then area names; first match wins."""
        found = _Search()
        seen: set[object] = set()
        for area in areas:
            for name, value in area.geocodes:
                if (name, value) in seen:
                    continue
                seen.add((name, value))
                self._code(name, value, found)
                if found.matched:
                    return found
        if self.area is not None:
            for area in areas:
                for label, shape in self._shapes(area, seen):
                    found.compared = True
                    if overlaps(self.area, shape):
                        found.matched.append(
                            f"{label} of {area.area_desc[:60]!r} overlaps coverage.area_file"
                        )
                        return found
                    found.unmatched.append(f"{label} of {area.area_desc[:60]!r}")
        else:
            shapes = sum(len(a.polygons) + len(a.circles) for a in areas)
            if shapes:
                found.unmatched.append(f"{shapes} polygon(s)/circle(s) (no coverage.area_file)")
        if self.area_names and not found.compared:
            for area in areas:
                desc = area.area_desc.casefold()
                found.compared = True
                hit = next((n for n in self.area_names if n in desc), None)
                if hit is not None:
                    found.matched.append(f"areaDesc {area.area_desc[:60]!r} names {hit!r}")
                    return found
                found.unmatched.append(f"areaDesc {area.area_desc[:60]!r}")
        return found

    def _code(self, name: str, value: str, found: _Search) -> None:
        scheme = scheme_of(name, self.aliases)
        if scheme is None:
            return
        try:
            codes = parse_code(scheme, value)
        except CodeError:
            found.unmatched.append(f"{name}:{value.strip()[:20]} (not a {scheme} code)")
            return
        if scheme not in self.codes.schemes:
            found.unmatched.append(f"{scheme}:{value.strip()[:20]} (no {scheme} code in coverage.locations)")
            return
        found.compared = True
        for code in codes:
            hit = self.codes.match(code)
            if hit is not None:
                found.matched.append(f"{scheme}:{value.strip()} ~ {hit}")
                return
        found.unmatched.append(f"{scheme}:{value.strip()[:40]}")

    @staticmethod
    def _shapes(area: Area, seen: set[object]) -> Iterator[tuple[str, BaseGeometry]]:
        for number, polygon in enumerate(area.polygons, 1):
            if ("polygon", polygon) not in seen:
                seen.add(("polygon", polygon))
                yield f"polygon {number}", cap_polygon(polygon)
        for number, circle in enumerate(area.circles, 1):
            if circle not in seen:
                seen.add(circle)
                yield f"circle {number} ({circle.lat},{circle.lon} {circle.radius_km} km)", cap_circle(circle)


def _entry_codes(entry: str) -> list[Code]:
    scheme, _, value = entry.partition(":")
    try:
        return parse_code(scheme, value)
    except CodeError as exc:
        raise ConfigError([ConfigProblem("coverage.locations", f"{entry!r}: {exc}")], "coverage") from None


def _unplaceable(areas: list[Area], *, shapes_compared: bool) -> bool:
    """True when the alert cannot be placed against this coverage at all: no code and no shape, or only
    shapes while the coverage has no area to compare them with. ``coverage.unlocated`` decides those."""
    if any(a.geocodes for a in areas):
        return False  # codes of another scheme place it elsewhere (another country's system)
    has_shapes = any(a.polygons or a.circles for a in areas)
    return not has_shapes or not shapes_compared


def _areas(alert: Alert) -> list[Area]:
    return [area for info in alert.infos for area in info.areas]


def _events(alert: Alert) -> set[str]:
    """Every event code value and ``<event>`` name of the alert, as written (compared case-insensitively)."""
    terms: set[str] = set()
    for info in alert.infos:
        terms.update(value.strip() for _name, value in info.event_codes if value.strip())
        if info.event.strip():
            terms.add(info.event.strip())
    return terms
