"""The scenes whose motion is in the air: heavy snow (falling flakes), earthquake (falling dust under camera
shake) and the neutral ``other`` scene (drifting clouds)."""

from __future__ import annotations

import numpy as np

from cinealert.render.draw import Point, hex_color, noise, radial, vgradient
from cinealert.render.procedural.builder import FAR, FORE, MID, SKY, STRUCT, Builder, time_of_day
from cinealert.render.procedural.motifs import (
    below,
    building,
    house,
    mountains,
    pine,
    ridge,
    sky,
    skyline,
    y_at,
)
from cinealert.render.scene import FluidKind


def heavy_snow(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#8fa6c0", "#dfe6ee"),
        "dusk": ("#3c4a72", "#9aa6c8"),
        "overcast": ("#7b8794", "#cfd5db"),
    }[t]
    haze = hex_color(low)
    white = (0.96, 0.97, 1.0)
    b.add("sky", sky(b, [(0, hex_color(top)), (0.55, haze)], None, 5, hex_color("#b8c2cc"), 0.7), SKY)
    b.add("snowy mountains", mountains(b, 0.45, 0.12, hex_color("#7d8da3"), haze, 0.4, snow=white), FAR)
    mid = b.canvas(white)
    hill = ridge(b.rng, 0.58, 0.03, 3)
    mid.paint(mid.shapes().poly(below(hill)).mask(), hex_color("#e6ecf3"))
    trees = mid.shapes()
    for x in np.linspace(0.0, 1.0, 22):
        xx = float(x + b.rng.uniform(-0.02, 0.02))
        pine(trees, xx, y_at(hill, xx) + 0.01, float(b.rng.uniform(0.07, 0.12)))
    mid.paint(trees.mask(), hex_color("#2d4a3e"))
    caps = mid.shapes()
    for x in np.linspace(0.0, 1.0, 22):
        caps.ellipse(float(x), y_at(hill, float(x)) - 0.05, 0.012, 0.006)
    mid.paint(caps.mask(), white)
    mid.tint(haze, 0.25)
    b.add("snowy pines", mid, MID)
    houses = b.canvas(white)
    n = 3 + b.variant % 2
    window = hex_color("#ffd36a") if t != "day" else hex_color("#51647d")
    for i, x in enumerate(np.linspace(0.1, 0.75, n)):
        house(houses, float(x), 0.74, 0.13, 0.12, hex_color(["#b5523b", "#6a7f99", "#c9a46a", "#8a5a44"][i % 4]),
              hex_color("#4a3a3a"), window, snow=0.035)  # fmt: skip
    lamp = houses.shapes()
    for x in (0.05, 0.92):
        lamp.rect(x, 0.55, x + 0.006, 0.8).rect(x - 0.012, 0.545, x + 0.018, 0.56)
    houses.paint(lamp.mask(), hex_color("#303840"))
    if t != "day":
        for x in (0.053, 0.923):
            houses.paint(radial(b.width, b.height, x, 0.565, 0.06), hex_color("#ffd890"), 0.6)
    b.add("snowed-in houses", houses, STRUCT)
    fg = b.canvas(white)
    road = fg.shapes().poly([(-0.02, 0.76), (1.02, 0.76), (1.02, 1.02), (-0.02, 1.02)]).mask()
    fg.paint(road, vgradient(b.width, b.height, [(0.76, hex_color("#dfe7f0")), (1, hex_color("#f7f9fc"))]))
    tracks = fg.shapes()
    for off in (-0.09, -0.03, 0.03, 0.09):
        tracks.poly([(0.5 + off * 0.3, 0.77), (0.5 + off * 0.3 + 0.004, 0.77), (0.5 + off * 4 + 0.03, 1.02),
                     (0.5 + off * 4, 1.02)])  # fmt: skip
    fg.paint(tracks.mask(), hex_color("#b7c3d2"))
    banks = fg.shapes()
    banks.ellipse(0.05, 0.95, 0.2, 0.12).ellipse(0.95, 0.97, 0.22, 0.13).ellipse(0.25, 1.0, 0.12, 0.06)
    fg.paint(banks.mask(), white)
    car = fg.shapes().ellipse(0.83, 0.86, 0.1, 0.05)
    fg.paint(car.mask(), hex_color("#f2f5fa"))
    fg.paint(fg.shapes().rect(0.78, 0.865, 0.84, 0.885).mask(), hex_color("#a02c2c"))
    b.add("deep snow road", fg, FORE)
    b.particles(FluidKind.SNOW, "far snow", 40.0, 500, (0.0012, 0.0022), white, 0.8, (0.3, 1.2))
    b.particles(FluidKind.SNOW, "snow", 14.0, 220, (0.0025, 0.004), white, 0.9, (0.6, 2.4))
    b.particles(FluidKind.SNOW, "near snow", 5.0, 60, (0.005, 0.008), white, 0.95, (1.2, 4.5))


def earthquake(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#9aa8b4", "#e0d6c4"),
        "dusk": ("#6a5a70", "#d8a888"),
        "overcast": ("#8a8e90", "#cfc8bc"),
    }[t]
    haze = hex_color(low)
    b.shake = 9.0
    b.add("sky", sky(b, [(0, hex_color(top)), (0.6, haze)], None, 3, hex_color("#d8d2c8"), 0.6), SKY)
    far = b.canvas(hex_color("#8a8f99"))
    sky_sh = far.shapes()
    x = -0.02
    while x < 1.02:
        w = float(b.rng.uniform(0.03, 0.07))
        sky_sh.rect(x, float(b.rng.uniform(0.3, 0.48)), x + w, 0.7)
        x += w + float(b.rng.uniform(0.0, 0.01))
    far.paint(sky_sh.mask(), hex_color("#7d8592"))
    far.tint(haze, 0.55)
    b.add("far skyline", far, FAR)
    mid = b.canvas(hex_color("#9b8f80"))
    cols = ["#c9b79c", "#a8b3bd", "#d3c6b0", "#b49a84"]
    for i, x0 in enumerate(np.linspace(0.0, 0.85, 5)):
        lean = [0.0, 0.09, -0.05, 0.0, -0.12][(i + b.variant) % 5]
        building(mid, float(x0 + 0.01), 0.72, 0.15, float(b.rng.uniform(0.3, 0.45)), lean,
                 hex_color(cols[i % 4]), hex_color("#3c4856"))  # fmt: skip
    cracks = mid.shapes()
    for _ in range(6):
        x, y = float(b.rng.uniform(0.05, 0.95)), float(b.rng.uniform(0.35, 0.65))
        cracks.line([(x, y), (x + 0.01, y + 0.03), (x - 0.005, y + 0.06), (x + 0.012, y + 0.09)], 0.003)
    mid.paint(cracks.mask(), hex_color("#2a2522"))
    b.add("damaged buildings", mid, MID)
    pole = b.canvas(hex_color("#4a4a4a"))
    sh = pole.shapes()
    px = 0.15 if b.variant % 2 == 0 else 0.82
    sh.line([(px, 0.85), (px + 0.05, 0.3)], 0.01).line([(px + 0.01, 0.37), (px + 0.1, 0.35)], 0.006)
    sh.line([(px + 0.05, 0.33), (0.5, 0.42), (1.02, 0.38)], 0.002)
    pole.paint(sh.mask(), hex_color("#3d3b38"))
    debris = pole.shapes()
    for _ in range(25):
        debris.ellipse(float(b.rng.uniform(0.0, 1.0)), float(b.rng.uniform(0.72, 0.78)),
                       float(b.rng.uniform(0.004, 0.012)), float(b.rng.uniform(0.003, 0.008)))  # fmt: skip
    pole.paint(debris.mask(), hex_color("#8c8276"))
    b.add("leaning pole and debris", pole, STRUCT)
    road = b.canvas(hex_color("#505050"))
    road.paint(road.shapes().rect(-0.02, 0.74, 1.02, 1.02).mask(),
               vgradient(b.width, b.height, [(0.74, hex_color("#5e5e5e")), (1, hex_color("#3e3e3e"))]))  # fmt: skip
    line = road.shapes()
    for k in range(6):
        line.rect(0.05 + k * 0.18, 0.86, 0.13 + k * 0.18, 0.872)
    road.paint(line.mask(), hex_color("#e8e0c8"))
    crack = road.shapes()
    pts: list[Point] = []
    y = 0.76
    x = 0.3 + 0.3 * (b.variant % 3) / 2
    while y < 1.03:
        pts.append((x, y))
        x += float(b.rng.uniform(-0.06, 0.06))
        y += 0.035
    crack.line(pts, 0.018)
    road.paint(crack.mask(), hex_color("#141210"))
    edge = road.shapes().line([(p[0] + 0.01, p[1]) for p in pts], 0.004)
    road.paint(edge.mask(), hex_color("#8a8880"))
    b.add("cracked road", road, FORE)
    b.particles(
        FluidKind.DUST, "falling dust", 15.0, 420, (0.002, 0.0045), hex_color("#b8a890"), 0.7, (0.4, 1.4)
    )


def other(b: Builder) -> None:
    """The neutral alert scene for non-natural hazards: a calm skyline under an amber sky."""
    b.add("amber sky", sky(b, [(0, hex_color("#b4542a")), (0.6, hex_color("#f4b860"))],
                           (0.5, 0.58, 0.06, hex_color("#ffe0a0")), 0, (0, 0, 0)), SKY)  # fmt: skip
    clouds = b.canvas(hex_color("#f6c888"))
    tex = noise(b.width, b.height, b.rng, (8, 24), octaves=3)
    clouds.under = np.broadcast_to(np.asarray(hex_color("#f8d0a0"), dtype=np.float32), (b.height, b.width, 3))
    xs_, ys_ = b.grid()
    band = np.clip(1 - np.abs(ys_ - 0.25) / 0.15, 0, 1)
    puffs = np.clip(0.3 + (tex - tex.mean()) / (tex.std() + 1e-6) * 0.45, 0, 1)
    clouds.paint(band**0.5 * puffs, hex_color("#fde0bc"), 0.85)
    b.add("drifting clouds", clouds, SKY * 0.8, FluidKind.HAZE, band > 0.01)
    b.flow(FluidKind.HAZE, 1.6 + 0 * xs_, 0.1 * np.sin(xs_ * 20))
    b.add("far skyline", skyline(b, 0.5, 0.25, hex_color("#8a5a58"), hex_color("#f4b860"), 0.5), FAR)
    b.add("city", skyline(b, 0.62, 0.35, hex_color("#3c2f3a"), hex_color("#f4b860"), 0.1, lit=True), MID)
    fg = b.canvas(hex_color("#2a2228"))
    fg.paint(fg.shapes().rect(-0.02, 0.8, 1.02, 1.02).mask(), hex_color("#2c2428"))
    trees = fg.shapes()
    for x in np.linspace(0.02, 0.98, 9):
        trees.ellipse(float(x), 0.78, 0.04).rect(float(x) - 0.003, 0.78, float(x) + 0.003, 0.82)
    fg.paint(trees.mask(), hex_color("#241c20"))
    b.add("park", fg, FORE)
