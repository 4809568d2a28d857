"""CAP ``<polygon>`` and ``<circle>`` syntax (WGS 84, CAP 1.2 §3.2.4).

A polygon is whitespace-separated ``lat,lon`` pairs, at least four, first equal to last. A circle is
``lat,lon radius`` with the radius in kilometres. Numbers are plain decimals: ``nan``/``inf``/exponents, which
Python's ``float()`` would accept, are refused so a coordinate is always a real place.
"""

from __future__ import annotations

import re

from cinealert.cap.model import Circle

_DECIMAL = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)", re.ASCII)

MAX_POLYGON_POINTS = 10_000


class CapGeoError(ValueError):
    """Why a polygon or circle is malformed (a short phrase)."""


def _number(text: str, what: str) -> float:
    if not _DECIMAL.fullmatch(text):
        raise CapGeoError(f"{what} {text[:24]!r} is not a decimal number")
    return float(text)


def _point(token: str) -> tuple[float, float]:
    parts = token.split(",")
    if len(parts) != 2:
        raise CapGeoError(f"point {token[:40]!r} is not 'lat,lon'")
    lat = _number(parts[0], "latitude")
    lon = _number(parts[1], "longitude")
    if not -90.0 <= lat <= 90.0:
        raise CapGeoError(f"latitude {lat:g} is outside [-90, 90]")
    if not -180.0 <= lon <= 180.0:
        raise CapGeoError(f"longitude {lon:g} is outside [-180, 180]")
    return (lat, lon)


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
    radius = _number(tokens[1], "radius")
    if radius < 0:
        raise CapGeoError(f"circle radius {radius:g} km is negative")
    return Circle(lat, lon, radius)
