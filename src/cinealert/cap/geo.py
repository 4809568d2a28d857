"""CAP ``<polygon>`` and ``<circle>`` syntax (WGS 84, CAP 1.2 §3.2.4).

A polygon is whitespace-separated ``lat,lon`` pairs, at least four, first equal to last. A circle is
``lat,lon radius`` with the radius in kilometres. Every number goes through
:func:`cinealert.cap.numbers.parse_decimal`, so a coordinate is always a real place and a radius a real distance:
``nan``/``inf``/exponents, which Python's ``float()`` would accept, and digit runs long enough to overflow to
``inf`` are refused, and no value here is ever non-finite.
"""

from __future__ import annotations

from typing import Final

from cinealert.cap.model import Circle
from cinealert.cap.numbers import CapNumberError, parse_decimal
from cinealert.errors import CinealertError

MAX_POLYGON_POINTS: Final = 10_000

MAX_RADIUS_KM: Final = 20_038.0
"""Half the Earth's equatorial circumference (20,037.5 km): a circle this wide already covers the whole globe,
so a larger radius is a typo or an attack, never a place."""


class CapGeoError(ValueError, CinealertError):
    """Why a polygon or circle is malformed (a short phrase)."""


def _number(text: str, what: str, low: float, high: float, unit: str = "") -> float:
    try:
        return parse_decimal(text, what, low=low, high=high, unit=unit)
    except CapNumberError as exc:
        raise CapGeoError(str(exc)) from None


def _point(token: str) -> tuple[float, float]:
    parts = token.split(",")
    if len(parts) != 2:
        raise CapGeoError(f"point {token[:40]!r} is not 'lat,lon'")
    return (_number(parts[0], "latitude", -90.0, 90.0), _number(parts[1], "longitude", -180.0, 180.0))


def parse_polygon(text: str) -> tuple[tuple[float, float], ...]:
    tokens = text.split()
    if len(tokens) > MAX_POLYGON_POINTS:
        raise CapGeoError(f"polygon has {len(tokens)} points, more than {MAX_POLYGON_POINTS}")
    points = tuple(_point(token) for token in tokens)
    if len(points) < 4:
        raise CapGeoError(f"polygon needs at least 4 'lat,lon' pairs, got {len(points)}")
    if points[0] != points[-1]:
        raise CapGeoError("polygon is not closed: the first and last points differ")
    return points


def parse_circle(text: str) -> Circle:
    tokens = text.split()
    if len(tokens) != 2:
        raise CapGeoError(f"circle {text[:40]!r} is not 'lat,lon radius'")
    lat, lon = _point(tokens[0])
    radius = _number(tokens[1], "circle radius", 0.0, MAX_RADIUS_KM, " km")
    return Circle(lat, lon, radius)
