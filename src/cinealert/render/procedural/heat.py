"""The dry scenes: drought (heat haze over cracked earth) and wildfire (smoke and flames on a burning ridge)."""

from __future__ import annotations

import math

import numpy as np

from cinealert.render.draw import hex_color, mix, noise, radial, vgradient
from cinealert.render.procedural.builder import FAR, FORE, HAZARD, MID, SKY, STRUCT, Builder, time_of_day
from cinealert.render.procedural.motifs import below, crack_mosaic, mountains, pine, ridge, sky, y_at
from cinealert.render.scene import FluidKind


def drought(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low, sun = {"day": ("#f2a23a", "#fbe3a0", "#fff3c4"), "dusk": ("#d9542b", "#f6b45e", "#ffe08a"),
                     "overcast": ("#d8913f", "#efd2a0", "#fff0c0")}[t]  # fmt: skip
    haze = hex_color(low)
    sx = 0.25 + 0.5 * (b.variant % 3) / 2
    b.add("sky", sky(b, [(0, hex_color(top)), (0.55, haze)], (sx, 0.2, 0.07, hex_color(sun)), 2,
                     hex_color("#f5d7a8"), 0.5), SKY)  # fmt: skip
    b.add("far hills", mountains(b, 0.5, 0.04, hex_color("#b98b5a"), haze, 0.5), FAR)
    field_ = b.canvas(hex_color("#c9a066"))
    horizon = ridge(b.rng, 0.55, 0.01, 2)
    body = field_.shapes().poly(below(horizon)).mask()
    field_.paint(body, vgradient(b.width, b.height, [(0.5, hex_color("#d8b27a")), (1, hex_color("#b8874e"))]))
    cracks = field_.shapes()
    crack_mosaic(cracks, b.rng, 0.585, 0.8, rows=6, cols=26, width=(0.001, 0.0025))
    field_.paint(cracks.mask(), hex_color("#7a5632"))
    b.add("dry fields", field_, MID)
    trees = b.canvas(hex_color("#4a3424"))
    sh = trees.shapes()
    tx = 0.72 if b.variant % 2 == 0 else 0.2
    sh.line([(tx, 0.78), (tx + 0.005, 0.55)], 0.016)
    for ang, length in ((-0.9, 0.12), (-0.3, 0.14), (0.5, 0.13), (1.0, 0.1), (-1.3, 0.08)):
        ex = tx + 0.005 + math.sin(ang) * length * 0.56
        ey = 0.6 - math.cos(ang) * length
        sh.line([(tx + 0.004, 0.62), (ex, ey)], 0.007)
        sh.line([(ex, ey), (ex + math.sin(ang + 0.6) * 0.03, ey - 0.03)], 0.004)
    trees.paint(sh.mask(), hex_color("#4a3424"))
    stubs = trees.shapes()
    for r in range(4):
        for k in range(30):
            x = k / 29 + (r % 2) * 0.015
            y = 0.62 + r * 0.035
            stubs.line([(x, y), (x + 0.004, y - 0.02)], 0.002)
    trees.paint(stubs.mask(), hex_color("#8c6a3e"))
    b.add("dead tree and crops", trees, STRUCT)
    shimmer = b.canvas(haze)
    xs_, ys_ = b.grid()
    ripple = noise(b.width, b.height, b.rng, (4, 40), octaves=2)
    band = np.clip(1 - np.abs(ys_ - 0.55) / 0.09, 0, 1) ** 0.7
    shimmer.under = np.broadcast_to(
        np.asarray(mix(haze, (1, 1, 1), 0.4), dtype=np.float32), (b.height, b.width, 3)
    )
    shimmer.paint(band * (0.15 + 0.55 * ripple), mix(haze, (1, 1, 1), 0.4))
    b.add("heat haze", shimmer, HAZARD, FluidKind.HAZE, band > 0.02)
    b.flow(FluidKind.HAZE, 1.2 * np.sin(ys_ * 120), -0.9 - 0.4 * np.sin(xs_ * 50))
    fg = b.canvas(hex_color("#a8743f"))
    ground = fg.shapes().poly([(-0.02, 0.8), (0.5, 0.77), (1.02, 0.8), (1.02, 1.02), (-0.02, 1.02)]).mask()
    fg.paint(ground, vgradient(b.width, b.height, [(0.75, hex_color("#c99459")), (1, hex_color("#a36d3a"))]))
    plates = fg.shapes()
    crack_mosaic(plates, b.rng, 0.79, 1.03, rows=5, cols=9, width=(0.003, 0.008))
    fg.paint(plates.mask() * ground, hex_color("#5c3b1f"))
    b.add("cracked earth", fg, FORE)


def wildfire(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#8a5a4a", "#f0a050"),
        "dusk": ("#3a1f3a", "#e0562a"),
        "overcast": ("#5a4848", "#d9773c"),
    }[t]
    haze = hex_color(low)
    b.add("sky", sky(b, [(0, hex_color(top)), (0.6, haze)], (0.7, 0.28, 0.03, hex_color("#ffd08a")), 0,
                     (0, 0, 0)), SKY)  # fmt: skip
    b.add("far mountains", mountains(b, 0.5, 0.08, hex_color("#4a2c3a"), haze, 0.35), FAR)
    xs_, ys_ = b.grid()
    ridge_line = ridge(b.rng, 0.52, 0.06, 3)
    smoke = b.canvas(hex_color("#6a6060"))
    puff = noise(b.width, b.height, b.rng, (8, 6), octaves=4)
    smoke.under = np.stack([0.42 + 0.3 * puff, 0.4 + 0.28 * puff, 0.4 + 0.27 * puff], -1).astype(np.float32)
    plume = smoke.shapes()
    for x in np.linspace(0.15, 0.9, 6):
        y = y_at(ridge_line, float(x))
        plume.poly(
            [(float(x) - 0.05, y), (float(x) + 0.06, y), (float(x) + 0.25, -0.05), (float(x) - 0.05, -0.05)]
        )
    plume_m = plume.mask(blur=0.04)
    density = plume_m * np.clip(0.3 + 0.9 * (puff - 0.3), 0, 1)
    smoke.paint(density, smoke.under, 0.85)
    b.add("smoke", smoke, MID + 10, FluidKind.SMOKE, plume_m > 0.02)
    b.flow(FluidKind.SMOKE, 0.9 + 0.4 * (1 - ys_), -1.4 - 0.5 * np.sin(xs_ * 17))
    forest = b.canvas(hex_color("#1d1410"))
    forest.paint(forest.shapes().poly(below(ridge_line)).mask(), hex_color("#2b1a14"))
    trees = forest.shapes()
    for x in np.linspace(-0.01, 1.01, 55):
        xx = float(x + b.rng.uniform(-0.006, 0.006))
        pine(trees, xx, y_at(ridge_line, xx) + 0.03, float(b.rng.uniform(0.06, 0.11)))
    forest.paint(trees.mask(), hex_color("#1a100c"))
    glow = np.clip(1 - np.abs(ys_ - 0.6) / 0.12, 0, 1)
    forest.tint(hex_color("#7a2a10"), glow * 0.5)
    b.add("burning ridge", forest, MID)
    fire = b.canvas(hex_color("#ff8a1a"))
    heat = noise(b.width, b.height, b.rng, (30, 8), octaves=3)
    fire_col = np.stack([np.ones_like(heat), 0.35 + 0.6 * heat, 0.05 + 0.3 * heat**3], -1).astype(np.float32)
    fire.under = fire_col
    flames = fire.shapes()
    for x in np.linspace(0.0, 1.0, 70):
        xx = float(x + b.rng.uniform(-0.005, 0.005))
        if math.sin(xx * 9 + b.variant) < -0.55:
            continue
        base_y = y_at(ridge_line, xx) + 0.03
        h = float(b.rng.uniform(0.05, 0.13))
        w = float(b.rng.uniform(0.008, 0.016))
        flames.poly([(xx - w, base_y + 0.02), (xx - w * 0.6, base_y - h * 0.5), (xx, base_y - h),
                     (xx + w * 0.6, base_y - h * 0.45), (xx + w, base_y + 0.02)])  # fmt: skip
    flame_m = flames.mask(blur=0.002)
    fire.paint(flame_m, fire_col)
    core = np.clip(flame_m * 2 - 1, 0, 1) * np.clip(1 - (heat - 0.5) * 2, 0, 1)
    fire.paint(core * flame_m, hex_color("#fff0a0"), 0.6)
    region = flames.mask(blur=0.02) > 0.02
    b.add("flames", fire, MID - 5, FluidKind.FIRE, region)
    b.flow(FluidKind.FIRE, 0.25 * np.sin(xs_ * 140), -1.6 - 0.5 * np.sin(xs_ * 70 + 1))
    fg = b.canvas(hex_color("#140c08"))
    ground = fg.shapes().poly([(-0.02, 0.86), (0.4, 0.83), (1.02, 0.88), (1.02, 1.02), (-0.02, 1.02)])
    fg.paint(ground.mask(), hex_color("#1b110c"))
    trunks = fg.shapes()
    for x, lean in ((0.08, 0.02), (0.17, -0.03), (0.88, 0.01)):
        trunks.line([(x, 0.9), (x + lean, 0.35)], 0.018)
        for k, (y, side, length) in enumerate(
            ((0.62, 1, 0.05), (0.52, -1, 0.045), (0.44, 1, 0.035), (0.4, -1, 0.03))
        ):
            bx = x + lean * (0.9 - y) / 0.55
            tip = (bx + side * length, y - 0.05 - 0.01 * k)
            trunks.line([(bx, y), tip], 0.007 - 0.001 * k)
            trunks.line([tip, (tip[0] + side * 0.012, tip[1] - 0.025)], 0.004)
    fg.paint(trunks.mask(), hex_color("#120a07"))
    fg.paint(radial(b.width, b.height, 0.5, 1.0, 0.35), hex_color("#c2401a"), 0.35)
    b.add("charred trees", fg, FORE)
