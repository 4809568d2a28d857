"""The rain-fed scenes: flood, landslide and typhoon, where water or mud flows under a rain sheet.

Each recipe adds its layers far to near; a helper draws one layer and is called in the recipe's order, which is
also the order of the random draws (reorder them and every scene changes).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from cinealert.render.draw import Color, hex_color, noise, vgradient
from cinealert.render.procedural.builder import FAR, FORE, HAZARD, MID, SKY, STRUCT, Builder, time_of_day
from cinealert.render.procedural.motifs import below, house, mountains, pine, ridge, sky, water_texture, y_at
from cinealert.render.scene import FluidKind


def flood(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#6f8fb0", "#c9d6e0"),
        "dusk": ("#4b4f7a", "#d89a7a"),
        "overcast": ("#5d6670", "#aab2b8"),
    }[t]
    haze = hex_color(low)
    b.add("sky", sky(b, [(0, hex_color(top)), (0.6, haze)], None, 7, hex_color("#7c8590"), 0.8), SKY)
    b.add("far hills", mountains(b, 0.47, 0.07, hex_color("#50667a"), haze, 0.45), FAR)
    mid = b.canvas(hex_color("#3f6b3a"))
    land = ridge(b.rng, 0.56, 0.03, 3)
    mid.paint(mid.shapes().poly(below(land)).mask(), hex_color("#4e7d43"))
    trees = mid.shapes()
    for x in np.linspace(0.0, 1.0, 26):
        xx = float(x + b.rng.uniform(-0.015, 0.015))
        trees.ellipse(xx, y_at(land, xx) - 0.02, float(b.rng.uniform(0.018, 0.03)))
    mid.paint(trees.mask(), hex_color("#2f5a2d"))
    mid.tint(haze, 0.2)
    b.add("fields and trees", mid, MID)
    houses = b.canvas(hex_color("#c8b69a"))
    walls = ["#e8d7b0", "#d98c5f", "#f2f0e6", "#a9c4d6", "#e6c36a"]
    roofs = ["#b0382f", "#3a4a6b", "#7a3b2e", "#2f5f5a"]
    n = 4 + b.variant % 2
    xs = np.linspace(0.06, 0.8, n) + b.rng.uniform(-0.03, 0.03, n)
    for i, x in enumerate(xs):
        w = float(b.rng.uniform(0.1, 0.14))
        house(houses, float(x), 0.69 - 0.01 * (i % 2), w, float(b.rng.uniform(0.1, 0.14)),
              hex_color(walls[(i + b.variant) % len(walls)]), hex_color(roofs[(i + b.variant) % len(roofs)]),
              hex_color("#35465a"), bottom=0.9)  # fmt: skip
    b.add("houses", houses, STRUCT)
    _flood_water(b)
    fg = b.canvas(hex_color("#4a3a2a"))
    posts = fg.shapes()
    for k in range(7):
        x = 0.55 + k * 0.07
        posts.rect(x, 0.74 - k * 0.004, x + 0.012, 0.93)
    posts.line([(0.54, 0.77), (1.02, 0.745)], 0.008)
    fg.paint(posts.mask(), hex_color("#5b4632"))
    tree = fg.shapes()
    tree.rect(0.06, 0.55, 0.085, 0.95)
    for dx, dy, r in ((0.07, 0.48, 0.09), (0.02, 0.53, 0.07), (0.12, 0.53, 0.07), (0.07, 0.41, 0.07)):
        tree.ellipse(dx, dy, r)
    fg.paint(tree.mask(), hex_color("#244a22"))
    b.add("fence and tree", fg, FORE)
    b.particles(
        FluidKind.RAIN, "rain", 12.0, 260, (0.0008, 0.0012), (0.85, 0.88, 0.95), 0.35, (2.0, 22.0), 0.03
    )


def _flood_water(b: Builder) -> None:
    """Muddy water up to the walls, with ripple lines and foam so it reads as moving even in a still frame."""
    water = b.canvas()
    tex = water_texture(b, hex_color("#5e4a30"), hex_color("#8f9190"), hex_color("#eef0ec"))
    # long bright ripple lines: read as moving water (not a muddy field) even in a still frame
    ripples = water.shapes()
    for k in range(14):
        y = 0.63 + 0.36 * (k / 13) ** 1.4
        x0 = float(b.rng.uniform(-0.1, 0.5))
        pts = [
            (float(x), y + 0.004 * math.sin(x * 25 + k))
            for x in np.linspace(x0, x0 + 0.5 + 0.2 * (k % 3), 30)
        ]
        ripples.line(pts, 0.002 + 0.003 * k / 13)
    ripple = ripples.mask()
    tex = (
        tex * (1 - 0.7 * ripple[..., None])
        + np.asarray(hex_color("#f4f2ea"), dtype=np.float32) * 0.7 * ripple[..., None]
    )
    water.under = tex
    surface = [(x, 0.615 + 0.006 * math.sin(x * 37 + b.variant)) for x in np.linspace(-0.02, 1.02, 80)]
    body = water.shapes().poly(below(surface)).mask()
    water.paint(body, tex)
    water.paint(
        water.shapes().line(surface, 0.005).mask() * body, hex_color("#f4f2ea"), 0.85
    )  # foam at the walls
    b.add("flood water", water, HAZARD, FluidKind.WATER, body)
    xs_, ys_ = b.grid()
    persp = 0.6 + 1.8 * np.clip((ys_ - 0.6) / 0.4, 0, 1)
    b.flow(FluidKind.WATER, 2.2 * persp * (1 + 0.15 * np.sin(ys_ * 90)), 0.05 * np.sin(xs_ * 30))


def landslide(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#7a8a99", "#c5ccd2"),
        "dusk": ("#585a78", "#c79b86"),
        "overcast": ("#60676e", "#b3b8bc"),
    }[t]
    haze = hex_color(low)
    b.add("sky", sky(b, [(0, hex_color(top)), (0.55, haze)], None, 6, hex_color("#868d94"), 0.8), SKY)
    b.add("far mountains", mountains(b, 0.42, 0.09, hex_color("#4f6a5a"), haze, 0.5), FAR)
    flip = b.variant % 2 == 1

    def fx(x: float) -> float:
        return 1.0 - x if flip else x

    _hillside(b, fx, flip)
    _road_and_house(b, fx, flip)
    _mudflow(b, fx, flip)
    _rocks_and_verge(b, fx)
    b.particles(
        FluidKind.RAIN, "rain", 10.0, 300, (0.0008, 0.0012), (0.85, 0.88, 0.95), 0.4, (3.0, 24.0), 0.03
    )


def _hillside(b: Builder, fx: Callable[[float], float], flip: bool) -> None:
    """The slope the mud comes down, under pines; ``fx`` mirrors x when the variant flips the scene."""
    slope = b.canvas(hex_color("#4e7a3e"))
    top_edge = [(fx(-0.02), 0.12), (fx(0.2), 0.1), (fx(0.45), 0.3), (fx(0.7), 0.55), (fx(1.02), 0.7)]
    slope.paint(slope.shapes().poly([*top_edge, (fx(1.02), 1.02), (fx(-0.02), 1.02)]).mask(),
                vgradient(b.width, b.height, [(0, hex_color("#5f8d47")), (1, hex_color("#3b6a33"))]))  # fmt: skip
    trees = slope.shapes()
    for _ in range(45):
        x = float(b.rng.uniform(0.0, 1.0))
        ytop = float(
            np.interp(x if not flip else 1 - x, [-0.02, 0.2, 0.45, 0.7, 1.02], [0.12, 0.1, 0.3, 0.55, 0.7])
        )
        y = float(b.rng.uniform(ytop + 0.05, 0.75))
        pine(trees, x, y, float(b.rng.uniform(0.06, 0.1)))
    slope.paint(trees.mask(), hex_color("#234d26"))
    b.add("hillside", slope, MID)


def _road_and_house(b: Builder, fx: Callable[[float], float], flip: bool) -> None:
    road = b.canvas(hex_color("#555555"))
    road.paint(road.shapes().rect(-0.02, 0.78, 1.02, 1.02).mask(), hex_color("#6d6a63"))
    road.paint(road.shapes().rect(-0.02, 0.8, 1.02, 0.93).mask(), hex_color("#3d3f42"))
    dashes = road.shapes()
    for k in range(9):
        dashes.rect(k * 0.12, 0.862, k * 0.12 + 0.06, 0.87)
    road.paint(dashes.mask(), hex_color("#f2d04a"))
    rail = road.shapes().line([(-0.02, 0.78), (1.02, 0.78)], 0.008)
    for k in range(14):
        rail.rect(k * 0.08, 0.78, k * 0.08 + 0.006, 0.81)
    road.paint(rail.mask(), hex_color("#c9cdd2"))
    house(road, fx(0.82) - (0.12 if flip else 0.0), 0.78, 0.12, 0.11, hex_color("#e9dcc0"), hex_color("#9c3b2c"),
          hex_color("#3a4658"))  # fmt: skip
    b.add("road and house", road, STRUCT)


def _mudflow(b: Builder, fx: Callable[[float], float], flip: bool) -> None:
    mud = b.canvas()
    tex = noise(b.width, b.height, b.rng, (18, 6), octaves=3)
    xs_, ys_ = b.grid()
    streak = 0.5 + 0.5 * np.sin((xs_ * 40 + ys_ * 25) + tex * 6)
    color = np.stack([0.42 + 0.12 * streak, 0.3 + 0.08 * streak, 0.18 + 0.05 * streak], -1).astype(np.float32)
    color *= (0.8 + 0.4 * tex)[..., None]
    mud.under = color
    path = [(fx(0.3), 0.22), (fx(0.4), 0.26), (fx(0.5), 0.45), (fx(0.66), 0.7), (fx(0.78), 0.8), (fx(0.86), 0.95),
            (fx(0.3), 0.95), (fx(0.34), 0.8), (fx(0.36), 0.6), (fx(0.3), 0.4), (fx(0.26), 0.3)]  # fmt: skip
    body = mud.shapes().poly(path).mask()
    mud.paint(body, color)
    b.add("mudflow", mud, HAZARD, FluidKind.MUD, body)
    direction = -1.0 if flip else 1.0
    b.flow(FluidKind.MUD, direction * 0.9 * (1.2 - ys_), 1.6 + 0.3 * np.sin(xs_ * 20))


def _rocks_and_verge(b: Builder, fx: Callable[[float], float]) -> None:
    fg = b.canvas(hex_color("#6b5a48"))
    rocks = fg.shapes()
    for _ in range(7):
        rocks.ellipse(float(fx(b.rng.uniform(0.3, 0.75))), float(b.rng.uniform(0.86, 0.97)),
                      float(b.rng.uniform(0.02, 0.045)), float(b.rng.uniform(0.015, 0.03)))  # fmt: skip
    fg.paint(rocks.mask(), hex_color("#7b736a"))
    broken = (
        fg.shapes()
        .line([(fx(0.9), 0.86), (fx(1.02), 0.83)], 0.01)
        .line([(fx(0.08), 0.84), (fx(0.22), 0.9)], 0.01)
    )
    fg.paint(broken.mask(), hex_color("#d6d9dd"))
    grass = fg.shapes()
    for x in np.linspace(0.0, 1.0, 40):
        grass.poly(
            [
                (float(x), 1.02),
                (float(x) + 0.01, 0.93 - 0.03 * float(b.rng.random())),
                (float(x) + 0.02, 1.02),
            ]
        )
    fg.paint(grass.mask(), hex_color("#2f4f25"))
    b.add("rocks and verge", fg, FORE)


def typhoon(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#3f4f57", "#8d9a96"),
        "dusk": ("#2a2e45", "#6f6a7c"),
        "overcast": ("#383f45", "#7f8b8d"),
    }[t]
    haze = hex_color(low)
    _storm_sky(b, top, haze)
    _rough_sea(b)
    left = b.variant % 2 == 0  # the shore is on the right, the sea to the left (mirrored otherwise)
    _seawall(b, left)
    _bent_palms(b, left)
    _roadside(b, left)
    b.particles(
        FluidKind.RAIN, "far rain", 20.0, 400, (0.0007, 0.001), (0.8, 0.85, 0.9), 0.35, (-9.0, 22.0), 0.035
    )
    b.particles(
        FluidKind.RAIN, "near rain", 6.0, 140, (0.0013, 0.0018), (0.85, 0.9, 0.95), 0.45, (-16.0, 40.0), 0.06
    )


def _storm_sky(b: Builder, top: str, haze: Color) -> None:
    s = b.canvas()
    s.fill(vgradient(b.width, b.height, [(0, hex_color(top)), (0.5, haze)]))
    bands = s.shapes()
    for k in range(6):
        y = 0.05 + k * 0.07
        pts = [(float(x), y + 0.03 * math.sin(x * 6 + k + b.variant)) for x in np.linspace(-0.05, 1.05, 30)]
        bands.line(pts, 0.025 - k * 0.002)
    s.paint(bands.mask(blur=0.01), hex_color("#1f272c"), 0.7)
    b.add("storm sky", s, SKY)


def _rough_sea(b: Builder) -> None:
    sea = b.canvas()
    tex = water_texture(b, hex_color("#1d3a44"), hex_color("#4d6f73"), hex_color("#e8f0ee"), stretch=5)
    sea.under = tex
    horizon = 0.5
    body = sea.shapes().rect(-0.02, horizon, 1.02, 1.02).mask()
    sea.paint(body, tex)
    surf = sea.shapes()
    for k in range(5):
        y = 0.6 + k * 0.06
        pts = [(float(x), y + 0.012 * math.sin(x * 14 + k * 2)) for x in np.linspace(-0.02, 1.02, 40)]
        surf.line(pts, 0.006 + k * 0.002)
    sea.paint(surf.mask(blur=0.002), hex_color("#dfe9e8"), 0.75)
    b.add("rough sea", sea, FAR, FluidKind.WATER, body)
    _, ys_ = b.grid()
    b.flow(FluidKind.WATER, -1.2 - 1.5 * (ys_ - 0.5), 0.6 + 1.6 * (ys_ - 0.5))


def _seawall(b: Builder, left: bool) -> None:
    shore = b.canvas(hex_color("#5a5348"))
    pts = [(0.55, 0.62), (0.75, 0.66), (1.02, 0.68), (1.02, 1.02), (0.45, 1.02)]
    if not left:
        pts = [(1.0 - x, y) for x, y in pts]
    shore.paint(shore.shapes().poly(pts).mask(), hex_color("#6b6152"))
    wall = shore.shapes()
    for k in range(8):
        wall.rect(0.6 + k * 0.05 if left else 0.35 - k * 0.05, 0.64 + k * 0.004, 0.64 + k * 0.05 if left else
                  0.39 - k * 0.05, 0.7)  # fmt: skip
    shore.paint(wall.mask(), hex_color("#8a8a86"))
    b.add("seawall", shore, MID)


def _bent_palms(b: Builder, left: bool) -> None:
    palms = b.canvas(hex_color("#2a3a24"))
    trunks, fronds = palms.shapes(), palms.shapes()
    bx = [0.72, 0.84, 0.95] if left else [0.28, 0.16, 0.05]
    wind = -1.0 if left else 1.0  # the gale blows off the sea: trunks bend and fronds stream downwind
    for i, x in enumerate(bx):
        ground = 0.8 + i * 0.03
        top_x, top_y = x + wind * 0.08, 0.32 + i * 0.03
        trunks.line([(x, ground), (x + wind * 0.01, (ground + top_y) / 2), (top_x, top_y)], 0.016)
        for k in range(7):
            spread = (k - 3) * 0.03
            ex = top_x + wind * (0.12 + 0.025 * math.cos(k))
            ey = top_y + spread + 0.04
            mx_, my_ = top_x + wind * 0.06, top_y + spread * 0.4 - 0.015
            # a leaf: a thin curved wedge, wide at the crown, pointed at the tip
            fronds.poly(
                [
                    (top_x, top_y - 0.008),
                    (mx_, my_ - 0.014),
                    (ex, ey),
                    (mx_, my_ + 0.012),
                    (top_x, top_y + 0.008),
                ]
            )
        fronds.ellipse(top_x, top_y, 0.016)
    palms.paint(trunks.mask(), hex_color("#5a4632"))
    palms.paint(fronds.mask(), hex_color("#2f5a2a"))
    b.add("bent palms", palms, STRUCT, sway=1.0)


def _roadside(b: Builder, left: bool) -> None:
    fg = b.canvas(hex_color("#3c3a34"))
    verge = fg.shapes().poly([(-0.02, 0.9), (1.02, 0.86), (1.02, 1.02), (-0.02, 1.02)])
    fg.paint(verge.mask(), hex_color("#34322d"))
    sign = fg.shapes().line([(0.2 if left else 0.8, 1.0), (0.17 if left else 0.77, 0.72)], 0.008)
    fg.paint(sign.mask(), hex_color("#9aa0a6"))
    fg.paint(fg.shapes().poly([(0.12 if left else 0.72, 0.66), (0.22 if left else 0.82, 0.7),
                               (0.2 if left else 0.8, 0.77), (0.1 if left else 0.7, 0.73)]).mask(),
             hex_color("#f2c230"))  # fmt: skip
    b.add("roadside", fg, FORE)
