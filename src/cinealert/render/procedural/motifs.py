"""Shared painting primitives: ridges, skies, mountains, trees, houses, towers, cracks, water, skylines.

Every motif draws in normalised coordinates and takes its randomness from the builder's RNG (or the one it is
given), so a recipe that calls them in the same order draws the same picture at any resolution.
"""

from __future__ import annotations

import math

import numpy as np

from cinealert.render.draw import F32, Canvas, Color, Point, Shapes, hex_color, mix, noise, radial, vgradient
from cinealert.render.procedural.builder import Builder


def ridge(rng: np.random.Generator, base: float, amp: float, waves: int = 4, n: int = 64) -> list[Point]:
    xs = np.linspace(-0.02, 1.02, n)
    ys = np.full(n, base)
    for k in range(1, waves + 1):
        ys -= amp / k * np.sin(xs * math.pi * (k + rng.random()) * 1.3 + rng.random() * 6.28)
    ys += (rng.random(n) - 0.5) * amp * 0.08
    return [(float(x), float(y)) for x, y in zip(xs, ys, strict=True)]


def below(line: list[Point], bottom: float = 1.02) -> list[Point]:
    return [*line, (line[-1][0], bottom), (line[0][0], bottom)]


def y_at(line: list[Point], x: float) -> float:
    xs = [p[0] for p in line]
    ys = [p[1] for p in line]
    return float(np.interp(x, xs, ys))


def sky(b: Builder, stops: list[tuple[float, Color]], sun: tuple[float, float, float, Color] | None,
        clouds: int, cloud_color: Color, cloud_opacity: float = 0.85) -> Canvas:  # fmt: skip
    c = b.canvas()
    c.fill(vgradient(b.width, b.height, stops))
    if sun is not None:
        sx, sy, sr, scol = sun
        glow = radial(b.width, b.height, sx, sy, sr * 5)
        c.paint(glow, scol, 0.55)
        c.paint(c.shapes().ellipse(sx, sy, sr).mask(), mix(scol, (1, 1, 1), 0.5))
    sh = c.shapes()
    for _ in range(clouds):
        cx, cy = float(b.rng.uniform(0.0, 1.0)), float(b.rng.uniform(0.05, 0.35))
        w = float(b.rng.uniform(0.05, 0.12))
        for k in range(5):
            sh.ellipse(cx + (k - 2) * w * 0.35, cy + b.rng.uniform(-0.01, 0.01) - (k % 2) * w * 0.25, w * 0.6)
        sh.rect(cx - w * 0.8, cy, cx + w * 0.8, cy + w * 0.35)
    c.paint(sh.mask(blur=0.004), cloud_color, cloud_opacity)
    return c


def mountains(b: Builder, base: float, amp: float, color: Color, haze: Color, haze_amt: float,
              snow: Color | None = None) -> Canvas:  # fmt: skip
    c = b.canvas(color)
    line = ridge(b.rng, base, amp, waves=5)
    body = c.shapes().poly(below(line)).mask()
    shade = vgradient(
        b.width, b.height, [(0.0, mix(color, (1, 1, 1), 0.15)), (1.0, mix(color, (0, 0, 0), 0.2))]
    )
    c.paint(body, shade)
    if snow is not None:
        cap = [(x, y + amp * 0.45 + 0.01 * math.sin(x * 40)) for x, y in line]
        caps = c.shapes().poly([*line, *reversed(cap)]).mask()
        c.paint(caps * body, snow)
    c.tint(haze, haze_amt)
    return c


def pine(sh: Shapes, x: float, ground: float, h: float, aspect: float = 0.28) -> None:
    w = h * aspect * sh.height / sh.width
    for k in range(3):
        top = ground - h + k * h * 0.22
        bot = ground - h * 0.15 - (2 - k) * h * 0.18
        ww = w * (0.6 + 0.25 * k)
        sh.poly([(x, top), (x + ww, bot), (x - ww, bot)])
    sh.rect(x - w * 0.1, ground - h * 0.2, x + w * 0.1, ground)


def house(c: Canvas, x: float, ground: float, w: float, h: float, wall: Color, roof: Color,
          window: Color, bottom: float | None = None, snow: float = 0.0) -> None:  # fmt: skip
    bottom = ground if bottom is None else bottom
    wall_m = c.shapes().rect(x, ground - h, x + w, bottom).mask()
    c.paint(wall_m, wall)
    c.paint(c.shapes().rect(x + w * 0.55, ground - h, x + w, bottom).mask(), mix(wall, (0, 0, 0), 0.15))
    rh = h * 0.75
    roof_m = c.shapes().poly(
        [(x - w * 0.08, ground - h), (x + w / 2, ground - h - rh), (x + w * 1.08, ground - h)]
    )
    c.paint(roof_m.mask(), roof)
    if snow > 0:
        s = c.shapes().poly(
            [(x - w * 0.1, ground - h + 0.004), (x + w / 2, ground - h - rh - snow * 0.6),
             (x + w * 1.1, ground - h + 0.004), (x + w * 1.1, ground - h - snow * 0.3),
             (x + w / 2, ground - h - rh - snow * 1.2), (x - w * 0.1, ground - h - snow * 0.3)]
        )  # fmt: skip
        c.paint(s.mask(), (0.96, 0.97, 1.0))
    win = c.shapes()
    for wx in (0.15, 0.62):
        win.rect(x + w * wx, ground - h * 0.78, x + w * (wx + 0.22), ground - h * 0.45)
    win.rect(x + w * 0.4, ground - h * 0.4, x + w * 0.58, ground)
    c.paint(win.mask(), window)


def building(c: Canvas, x: float, ground: float, w: float, h: float, lean: float, wall: Color,
             window: Color, rows: int = 6, cols: int = 3) -> None:  # fmt: skip
    """A tower rectangle rotated by ``lean`` radians about its bottom-left corner, with a window grid."""
    aspect = c.width / c.height

    def rot(px: float, py: float) -> Point:
        # rotate in square units, then back to normalised
        dx, dy = (px - x) * aspect, py - ground
        rx = dx * math.cos(lean) - dy * math.sin(lean)
        ry = dx * math.sin(lean) + dy * math.cos(lean)
        return (x + rx / aspect, ground + ry)

    body = [rot(x, ground + 0.05), rot(x + w, ground + 0.05), rot(x + w, ground - h), rot(x, ground - h)]
    c.paint(c.shapes().poly(body).mask(), wall)
    side = [
        rot(x + w * 0.7, ground + 0.05),
        rot(x + w, ground + 0.05),
        rot(x + w, ground - h),
        rot(x + w * 0.7, ground - h),
    ]
    c.paint(c.shapes().poly(side).mask(), mix(wall, (0, 0, 0), 0.18))
    win = c.shapes()
    for r in range(rows):
        for k in range(cols):
            x0 = x + w * (0.12 + k * 0.8 / cols)
            y0 = ground - h + h * (0.06 + r * 0.9 / rows)
            x1, y1 = x0 + w * 0.5 / cols, y0 + h * 0.5 / rows
            win.poly([rot(x0, y0), rot(x1, y0), rot(x1, y1), rot(x0, y1)])
    c.paint(win.mask(), window)


def crack_mosaic(sh: Shapes, rng: np.random.Generator, top: float, bottom: float, rows: int, cols: int,
                 width: tuple[float, float]) -> None:  # fmt: skip
    """Dried-mud plates: a jittered grid whose cells widen toward the viewer, edges drawn as cracks."""
    ys = top + (bottom - top) * np.linspace(0, 1, rows + 1) ** 1.6
    pts = [
        [(float(c / cols + rng.uniform(-0.3, 0.3) / cols), float(y + rng.uniform(-0.25, 0.25) * (ys[1] - ys[0])))
         for c in range(-1, cols + 2)]
        for y in ys
    ]  # fmt: skip
    for r, row in enumerate(pts):
        w = width[0] + (width[1] - width[0]) * r / rows
        sh.line(row, w)
        if r + 1 < len(pts):
            for c, p in enumerate(row):
                mid = (
                    (p[0] + pts[r + 1][c][0]) / 2 + float(rng.uniform(-0.2, 0.2)) / cols,
                    (p[1] + pts[r + 1][c][1]) / 2,
                )
                sh.line([p, mid, pts[r + 1][c]], w)


def water_texture(b: Builder, deep: Color, light: Color, foam: Color, stretch: int = 10) -> F32:
    """Horizontal ripple texture over the whole canvas (extended under the mask, so flowing it never tears)."""
    n1 = noise(b.width, b.height, b.rng, (3, 3 * stretch), octaves=3)
    n2 = noise(b.width, b.height, b.rng, (6, 6 * stretch), octaves=2)
    _, _ys = b.grid()
    base = vgradient(b.width, b.height, [(0.0, light), (1.0, deep)])
    t = np.clip((n1 - 0.35) * 2.0, 0, 1)[..., None]
    tex = base * (1 - 0.35 * t) + np.asarray(light, dtype=np.float32) * 0.35 * t
    crest = np.clip((n2 - 0.62) * 6.0, 0, 1)[..., None]
    return np.asarray(
        tex * (1 - crest * 0.8) + np.asarray(foam, dtype=np.float32) * crest * 0.8, dtype=np.float32
    )


def skyline(b: Builder, ground: float, height: float, color: Color, haze: Color, amt: float,
            lit: bool = False) -> Canvas:  # fmt: skip
    """A row of towers of random widths and heights; ``lit`` adds randomly lit windows (one draw each)."""
    c = b.canvas(color)
    sh = c.shapes()
    win = c.shapes()
    x = -0.02
    while x < 1.02:
        w = float(b.rng.uniform(0.035, 0.08))
        top = ground - float(b.rng.uniform(0.3, 1.0)) * height
        sh.rect(x, top, x + w, 1.02)
        if lit:
            for r in np.arange(top + 0.02, ground, 0.03):
                for k in range(int(w / 0.015)):
                    if b.rng.random() < 0.45:
                        win.rect(x + 0.006 + k * 0.015, float(r), x + 0.013 + k * 0.015, float(r) + 0.012)
        x += w + float(b.rng.uniform(0.0, 0.006))
    c.paint(sh.mask(), color)
    if lit:
        c.paint(win.mask(), hex_color("#ffd98a"))
    c.tint(haze, amt)
    return c
