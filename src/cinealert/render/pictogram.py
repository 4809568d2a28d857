"""Disaster pictograms drawn by code: one simple, high-contrast icon per disaster type.

Drawn 4x oversize and downsampled, so edges are anti-aliased at any output size without shipping image files.
Coordinates are in a unit square (0..1) so each icon reads as a list of shapes.
"""

from __future__ import annotations

import math

from PIL import Image, ImageDraw

from cinealert.cap.model import DisasterType

Color = tuple[int, int, int, int]
_SS = 4


def pictogram(disaster: DisasterType, size: int, fg: Color, bg: Color) -> Image.Image:
    """An RGBA ``size`` x ``size`` tile: ``fg`` icon on a rounded ``bg`` square."""
    big = size * _SS
    img = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(img)
    draw.rounded_rectangle((0, 0, big - 1, big - 1), radius=big // 8, fill=bg)

    def p(x: float, y: float) -> tuple[float, float]:
        return (x * big, y * big)

    def line(points: list[tuple[float, float]], width: float) -> None:
        draw.line([p(x, y) for x, y in points], fill=fg, width=max(1, round(width * big)), joint="curve")

    def poly(points: list[tuple[float, float]]) -> None:
        draw.polygon([p(x, y) for x, y in points], fill=fg)

    def disc(cx: float, cy: float, r: float) -> None:
        draw.ellipse((*p(cx - r, cy - r), *p(cx + r, cy + r)), fill=fg)

    def waves(y0: float, count: int, width: float) -> None:
        for k in range(count):
            y = y0 + k * 0.12
            pts = [(0.12 + i * 0.76 / 24, y + 0.035 * math.sin(i / 24 * 4 * math.pi)) for i in range(25)]
            line(pts, width)

    if disaster is DisasterType.FLOOD:
        poly([(0.3, 0.42), (0.5, 0.2), (0.7, 0.42)])  # roof
        draw.rectangle((*p(0.35, 0.42), *p(0.65, 0.6)), fill=fg)
        waves(0.62, 3, 0.06)
    elif disaster is DisasterType.LANDSLIDE:
        poly([(0.1, 0.85), (0.1, 0.25), (0.9, 0.85)])  # slope
        disc(0.62, 0.42, 0.07)
        disc(0.76, 0.58, 0.06)
        disc(0.86, 0.36, 0.05)
    elif disaster is DisasterType.DROUGHT:
        disc(0.5, 0.33, 0.13)
        for k in range(8):
            a = k * math.pi / 4
            line([(0.5 + 0.18 * math.cos(a), 0.33 + 0.18 * math.sin(a)),
                  (0.5 + 0.26 * math.cos(a), 0.33 + 0.26 * math.sin(a))], 0.04)  # fmt: skip
        line([(0.1, 0.72), (0.9, 0.72)], 0.05)
        line([(0.3, 0.72), (0.36, 0.8), (0.3, 0.88)], 0.035)
        line([(0.62, 0.72), (0.56, 0.8), (0.64, 0.88)], 0.035)
    elif disaster is DisasterType.WILDFIRE:
        poly([(0.5, 0.1), (0.72, 0.45), (0.78, 0.7), (0.66, 0.88), (0.34, 0.88), (0.22, 0.7),
              (0.3, 0.45), (0.4, 0.55)])  # fmt: skip
        draw.polygon([p(0.5, 0.5), p(0.6, 0.72), p(0.5, 0.84), p(0.4, 0.72)], fill=bg)
    elif disaster is DisasterType.HEAVY_SNOW:
        for k in range(3):
            a = k * math.pi / 3 + math.pi / 2
            dx, dy = 0.36 * math.cos(a), 0.36 * math.sin(a)
            line([(0.5 - dx, 0.5 - dy), (0.5 + dx, 0.5 + dy)], 0.06)
            for s in (-1, 1):
                bx, by = 0.5 + s * dx * 0.62, 0.5 + s * dy * 0.62
                for t in (-1, 1):
                    b = a + t * math.pi / 4 + (math.pi if s < 0 else 0)
                    line([(bx, by), (bx + 0.12 * math.cos(b), by + 0.12 * math.sin(b))], 0.045)
    elif disaster is DisasterType.TYPHOON:
        pts = [
            (0.5 + r * math.cos(t), 0.5 + r * math.sin(t))
            for t, r in ((i * 0.25, 0.03 + i * 0.012) for i in range(36))
        ]
        line(pts, 0.07)
        pts2 = [(1 - x, 1 - y) for x, y in pts]
        line(pts2, 0.07)
        disc(0.5, 0.5, 0.07)
    elif disaster is DisasterType.EARTHQUAKE:
        line([(0.08, 0.5), (0.25, 0.5), (0.33, 0.22), (0.45, 0.8), (0.55, 0.15), (0.65, 0.75),
              (0.73, 0.5), (0.92, 0.5)], 0.06)  # fmt: skip
        line([(0.15, 0.88), (0.85, 0.88)], 0.05)
    else:  # warning triangle with an exclamation mark
        poly([(0.5, 0.1), (0.92, 0.88), (0.08, 0.88)])
        draw.rectangle((*p(0.46, 0.35), *p(0.54, 0.66)), fill=bg)
        draw.ellipse((*p(0.455, 0.72), *p(0.545, 0.81)), fill=bg)
    return img.resize((size, size), Image.Resampling.LANCZOS)
