"""Coverage: which alerts this station airs (location codes, areas, events, senders, national override).

``Coverage.from_settings(settings.coverage)`` compiles the ``[coverage]`` section once; ``Coverage.route(alert)``
returns a ``Verdict`` (airs or not, a short reason label and the codes or shapes behind it). ``codes`` knows the
location code schemes and their hierarchies, ``shapes`` the polygons, circles and GeoJSON areas (shapely).
"""

from cinealert.cap.coverage.route import Coverage, Verdict

__all__ = ["Coverage", "Verdict"]
