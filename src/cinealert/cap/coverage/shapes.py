"""Alert and station areas as shapely geometries in plain lon/lat degrees, and whether two of them overlap.

Everything is put into one frame: longitudes in [-180, 180], a shape crossing the antimeridian cut into its
pieces on either side. A ring is read as the shortest way between consecutive points (an edge never spans more
than 180 degrees of longitude), so ``-16,179 -16,-179 ...`` is a small polygon over Fiji, not a band around the
world. A ring whose unwrapped longitudes do not close (it goes once around the globe) encloses a pole and is
closed over the pole nearest its points.

A CAP circle (centre, radius km) is built from its exact spherical boundary: the points at that great-circle
distance from the centre on 72 bearings, which is the circle of the azimuthal equidistant projection around its
centre, so a 500 km circle near a pole is as right as one at the equator. A circle over a pole closes over it; one
over both (radius past the far pole) is the globe less the circle around the antipode.

"Overlap" means the interiors meet: a polygon that only shares a border with the station's area (the next
county, drawn along the county line) does not air here. A zero-radius circle is a point, and counts when it lies
in the area or on its border.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Final

import numpy as np
import shapely
from shapely import affinity
from shapely.geometry.base import BaseGeometry

from cinealert.cap.model import Circle
from cinealert.errors import CinealertError

EARTH_RADIUS_KM: Final = 6371.0088
CIRCLE_VERTICES: Final = 72
MAX_AREA_FILE_BYTES: Final = 64 * 1024 * 1024
_WORLD: Final = shapely.box(-180.0, -90.0, 180.0, 90.0)
_SHIFTS: Final = (
    (shapely.box(-180.0, -90.0, 180.0, 90.0), 0.0),
    (shapely.box(180.0, -90.0, 540.0, 90.0), -360.0),
    (shapely.box(-540.0, -90.0, -180.0, 90.0), 360.0),
)


class ShapeError(ValueError, CinealertError):
    """An area that cannot be read as one (a short phrase)."""


def _unwrap(lons: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Longitudes made continuous: each step is the shortest way round (never more than 180 degrees)."""
    steps = (np.diff(lons) + 180.0) % 360.0 - 180.0
    return np.concatenate(([lons[0]], lons[0] + np.cumsum(steps)))


def _ring(
    lon: Sequence[float], lat: Sequence[float], reference: float | None = None
) -> list[tuple[float, float]]:
    """One closed ring in unwrapped longitudes; closed over a pole when it goes round the globe."""
    lons = _unwrap(np.asarray(lon, dtype=np.float64))
    lats = np.asarray(lat, dtype=np.float64)
    if reference is not None:  # a hole: start within 180 degrees of its polygon's first point
        lons = lons + 360.0 * round((reference - lons[0]) / 360.0)
    points = list(zip(lons.tolist(), lats.tolist(), strict=True))
    turn = lons[-1] - lons[0]
    if abs(turn) > 180.0:  # once round the globe: enclose the pole on its side
        pole = 90.0 if float(np.mean(lats)) >= 0 else -90.0
        points += [(float(lons[-1]), pole), (float(lons[0]), pole), points[0]]
    return points


def _fold(geometry: BaseGeometry) -> BaseGeometry:
    """Put a shape in unwrapped longitudes back into [-180, 180], cut at the antimeridian; made valid first."""
    if not geometry.is_valid:
        geometry = shapely.make_valid(geometry)
    minx, _miny, maxx, _maxy = geometry.bounds
    if minx >= -180.0 and maxx <= 180.0:
        return _polygonal(geometry)
    parts = []
    for window, shift in _SHIFTS:
        piece = geometry.intersection(window)
        if not piece.is_empty:
            parts.append(affinity.translate(piece, xoff=shift) if shift else piece)
    return _polygonal(shapely.unary_union(parts))


def _polygonal(geometry: BaseGeometry) -> BaseGeometry:
    """Only the areas of a geometry (make_valid may leave stray lines or points from a bow-tie)."""
    if geometry.geom_type in ("Polygon", "MultiPolygon", "Point"):
        return geometry
    parts = [g for g in shapely.get_parts(geometry) if g.geom_type in ("Polygon", "MultiPolygon")]
    return shapely.unary_union(parts) if parts else shapely.Polygon()


def cap_polygon(points: Sequence[tuple[float, float]]) -> BaseGeometry:
    """A CAP ``<polygon>`` (``lat,lon`` pairs, as parsed) as a geometry in the common frame."""
    lats = [p[0] for p in points]
    lons = [p[1] for p in points]
    return _fold(shapely.Polygon(_ring(lons, lats)))


def cap_circle(circle: Circle) -> BaseGeometry:
    """A CAP ``<circle>`` as a geometry in the common frame (a point when the radius is 0)."""
    if circle.radius_km <= 0.0:
        return shapely.Point(circle.lon, circle.lat)
    delta = min(circle.radius_km / EARTH_RADIUS_KM, math.pi)
    lat0 = math.radians(circle.lat)
    north_pole = delta >= math.pi / 2 - lat0
    south_pole = delta >= math.pi / 2 + lat0
    if north_pole and south_pole:  # past the far pole: the globe less the circle around the antipode
        rest = (math.pi - delta) * EARTH_RADIUS_KM
        antipode = Circle(-circle.lat, circle.lon - 180.0 if circle.lon > 0 else circle.lon + 180.0, rest)
        return _fold(_WORLD.difference(cap_circle(antipode))) if rest > 0 else _WORLD
    bearings = np.linspace(0.0, 2 * math.pi, CIRCLE_VERTICES, endpoint=False)
    sin_lat = math.sin(lat0) * math.cos(delta) + math.cos(lat0) * math.sin(delta) * np.cos(bearings)
    lats = np.arcsin(np.clip(sin_lat, -1.0, 1.0))
    lons = math.radians(circle.lon) + np.arctan2(
        np.sin(bearings) * math.sin(delta) * math.cos(lat0), math.cos(delta) - math.sin(lat0) * sin_lat
    )
    lon_deg = np.degrees(lons).tolist()
    lat_deg = np.degrees(lats).tolist()
    return _fold(shapely.Polygon(_ring([*lon_deg, lon_deg[0]], [*lat_deg, lat_deg[0]])))


def overlaps(area: BaseGeometry, shape: BaseGeometry) -> bool:
    """Whether ``shape`` (an alert's) shares more than a border with ``area`` (prepared: the station's)."""
    if shape.is_empty or not area.intersects(shape):
        return False
    if shape.geom_type == "Point":
        return True
    return bool(area.relate_pattern(shape, "T********"))


# -- the station's area: GeoJSON --------------------------------------------------------------------------


def load_area(path: Path) -> BaseGeometry:
    """The union of every polygon in a GeoJSON file, prepared for fast tests; raises ``ShapeError``."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_AREA_FILE_BYTES + 1)
    except OSError as exc:
        raise ShapeError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(data) > MAX_AREA_FILE_BYTES:
        raise ShapeError(f"{path} is larger than {MAX_AREA_FILE_BYTES} bytes")
    try:
        doc = json.loads(data)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ShapeError(f"{path} is not JSON: {exc}") from None
    polygons = list(_geojson_polygons(doc))
    if not polygons:
        raise ShapeError(f"{path} holds no Polygon or MultiPolygon")
    area = shapely.unary_union(polygons)
    if area.is_empty or area.area <= 0.0:
        raise ShapeError(f"{path}: the polygons enclose no area")
    shapely.prepare(area)
    return area


def _geojson_polygons(node: Any) -> Iterable[BaseGeometry]:
    if not isinstance(node, dict):
        raise ShapeError("a GeoJSON object must be a JSON object")
    kind = node.get("type")
    if kind == "FeatureCollection":
        for feature in _list(node.get("features"), "features"):
            yield from _geojson_polygons(feature)
    elif kind == "Feature":
        if node.get("geometry") is not None:
            yield from _geojson_polygons(node["geometry"])
    elif kind == "GeometryCollection":
        for geometry in _list(node.get("geometries"), "geometries"):
            yield from _geojson_polygons(geometry)
    elif kind == "Polygon":
        yield _geojson_polygon(node.get("coordinates"))
    elif kind == "MultiPolygon":
        for polygon in _list(node.get("coordinates"), "coordinates"):
            yield _geojson_polygon(polygon)
    else:
        raise ShapeError(
            f"GeoJSON type {str(kind)[:40]!r} is not an area (Polygon, MultiPolygon, Feature...)"
        )


def _list(value: Any, what: str) -> list[Any]:
    if not isinstance(value, list):
        raise ShapeError(f"GeoJSON {what} must be an array")
    return value


def _geojson_polygon(rings: Any) -> BaseGeometry:
    rings = _list(rings, "Polygon coordinates")
    if not rings:
        raise ShapeError("a GeoJSON Polygon has no ring")
    shell: list[tuple[float, float]] = []
    holes: list[list[tuple[float, float]]] = []
    for index, ring in enumerate(rings):
        positions = [_position(p) for p in _list(ring, "ring")]
        if len(positions) < 4 or positions[0] != positions[-1]:
            raise ShapeError("a GeoJSON ring needs at least 4 positions, the first equal to the last")
        lons, lats = [p[0] for p in positions], [p[1] for p in positions]
        if index == 0:
            shell = _ring(lons, lats)
        else:
            holes.append(_ring(lons, lats, reference=shell[0][0]))
    return _fold(shapely.Polygon(shell, holes))


def _position(value: Any) -> tuple[float, float]:
    if not isinstance(value, list) or len(value) < 2:
        raise ShapeError("a GeoJSON position must be [lon, lat]")
    lon, lat = value[0], value[1]
    if isinstance(lon, bool) or isinstance(lat, bool) or not isinstance(lon, int | float):
        raise ShapeError("a GeoJSON position must hold numbers")
    if not isinstance(lat, int | float) or not (math.isfinite(lon) and math.isfinite(lat)):
        raise ShapeError("a GeoJSON position must hold finite numbers")
    if not -90.0 <= lat <= 90.0 or not -540.0 <= lon <= 540.0:
        raise ShapeError(f"GeoJSON position [{lon}, {lat}] is off the globe")
    return float(lon), float(lat)
