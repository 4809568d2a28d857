"""The default scene backend: hand-designed layered illustrations, drawn from code, no weights.

Every disaster type has one recipe; the variant changes layout, palette and time of day. Everything is drawn in
normalised coordinates (see ``draw``), so a scene is the same picture at 720p, 1080p and 2160p. Because every
pixel is drawn, masks and depth are exact. Style: flat, high-contrast broadcast illustration, no people.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from cinealert.cap.model import DisasterType
from cinealert.render.draw import F32, Canvas, Color, Point, Shapes, hex_color, mix, noise, radial, vgradient
from cinealert.render.scene import PARTICLE_KINDS, FluidKind, Layer, Scene, composite

VERSION = "1"

# depths (larger = farther); the camera moves a layer by 1/depth
SKY, FAR, MID, STRUCT, HAZARD, FORE = 1000.0, 160.0, 55.0, 26.0, 18.0, 7.0


@dataclass
class Builder:
    """State shared while one scene is drawn: size, seeded RNG and the layers collected so far."""

    width: int
    height: int
    rng: np.random.Generator
    variant: int
    layers: list[Layer] = field(default_factory=list)
    motion: dict[FluidKind, F32] = field(default_factory=dict)
    shake: float = 0.0
    #: layers are turned into uint8 RGBA here, off the drawing thread (numpy releases the GIL), when set
    pool: ThreadPoolExecutor | None = None
    pending: list[Future[Layer]] = field(default_factory=list)

    def _append(self, make: Callable[[], Layer]) -> None:
        if self.pool is None:
            self.layers.append(make())
        else:
            self.pending.append(self.pool.submit(make))

    def finish(self) -> None:
        """Collect the layers still being converted, in the order they were added."""
        self.layers.extend(f.result() for f in self.pending)
        self.pending.clear()

    def canvas(self, base: Color = (0.5, 0.5, 0.5)) -> Canvas:
        return Canvas(self.width, self.height, base)

    def add(
        self,
        name: str,
        canvas: Canvas,
        depth: float,
        fluid: FluidKind | None = None,
        fluid_mask: npt.NDArray[Any] | None = None,
        sway: float = 0.0,
    ) -> None:
        mask = None if fluid_mask is None else fluid_mask > 0.5
        self._append(lambda: Layer(name, canvas.rgba(), depth, fluid, mask, wrap=False, sway=sway))

    def grid(self) -> tuple[F32, F32]:
        ys = ((np.arange(self.height, dtype=np.float32) + 0.5) / self.height)[:, None]
        xs = ((np.arange(self.width, dtype=np.float32) + 0.5) / self.width)[None, :]
        return np.broadcast_to(xs, (self.height, self.width)), np.broadcast_to(ys, (self.height, self.width))

    def flow(self, kind: FluidKind, vx: npt.ArrayLike, vy: npt.ArrayLike) -> None:
        """Velocity in px/frame at 1080p; scaled to this resolution."""
        s = self.height / 1080.0
        field_ = np.zeros((self.height, self.width, 2), dtype=np.float32)
        field_[..., 0] = vx
        field_[..., 1] = vy
        self.motion[kind] = field_ * s

    def particles(
        self,
        kind: FluidKind,
        name: str,
        depth: float,
        count: int,
        radius: tuple[float, float],
        color: Color,
        opacity: float,
        velocity: tuple[float, float],
        streak: float = 0.0,
    ) -> None:
        """A periodic particle sheet (snow flakes, rain streaks, dust) that scrolls with wrap-around."""
        c = self.canvas(color)
        sh = c.shapes()
        pos = self.rng.random((count, 2))
        rad = self.rng.uniform(radius[0], radius[1], count)
        vx, vy = velocity
        norm = math.hypot(vx * self.height / self.width, vy) or 1.0
        dx, dy = vx * self.height / self.width / norm, vy / norm
        for (x, y), r in zip(pos, rad, strict=True):
            for ox in (-1.0, 0.0, 1.0):  # draw wrapped copies so the sheet tiles seamlessly
                for oy in (-1.0, 0.0, 1.0):
                    px, py = float(x + ox), float(y + oy)
                    if not (-0.05 < px < 1.05 and -0.1 < py < 1.1):
                        continue
                    if streak > 0:
                        sh.line([(px, py), (px + dx * streak, py + dy * streak)], float(r))
                    else:
                        sh.ellipse(px, py, float(r))
        c.paint(sh.mask(), color, opacity)
        s = self.height / 1080.0
        self._append(lambda: Layer(name, c.rgba(), depth, kind, None, wrap=True, velocity=(vx * s, vy * s)))
        if kind not in self.motion:
            self.flow(kind, vx, vy)


# ---------------------------------------------------------------------------------------------- shared motifs


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


def pine(sh: object, x: float, ground: float, h: float, aspect: float = 0.28) -> None:
    from cinealert.render.draw import Shapes

    assert isinstance(sh, Shapes)
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


# ------------------------------------------------------------------------------------------------ palettes

TIMES = ("day", "dusk", "overcast")


def time_of_day(variant: int) -> str:
    return TIMES[variant % len(TIMES)]


# ---------------------------------------------------------------------------------------------- the recipes


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
    b.particles(
        FluidKind.RAIN, "rain", 10.0, 300, (0.0008, 0.0012), (0.85, 0.88, 0.95), 0.4, (3.0, 24.0), 0.03
    )


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


def typhoon(b: Builder) -> None:
    t = time_of_day(b.variant)
    top, low = {
        "day": ("#3f4f57", "#8d9a96"),
        "dusk": ("#2a2e45", "#6f6a7c"),
        "overcast": ("#383f45", "#7f8b8d"),
    }[t]
    haze = hex_color(low)
    s = b.canvas()
    s.fill(vgradient(b.width, b.height, [(0, hex_color(top)), (0.5, haze)]))
    bands = s.shapes()
    for k in range(6):
        y = 0.05 + k * 0.07
        pts = [(float(x), y + 0.03 * math.sin(x * 6 + k + b.variant)) for x in np.linspace(-0.05, 1.05, 30)]
        bands.line(pts, 0.025 - k * 0.002)
    s.paint(bands.mask(blur=0.01), hex_color("#1f272c"), 0.7)
    b.add("storm sky", s, SKY)
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
    shore = b.canvas(hex_color("#5a5348"))
    left = b.variant % 2 == 0
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
    fg = b.canvas(hex_color("#3c3a34"))
    verge = fg.shapes().poly([(-0.02, 0.9), (1.02, 0.86), (1.02, 1.02), (-0.02, 1.02)])
    fg.paint(verge.mask(), hex_color("#34322d"))
    sign = fg.shapes().line([(0.2 if left else 0.8, 1.0), (0.17 if left else 0.77, 0.72)], 0.008)
    fg.paint(sign.mask(), hex_color("#9aa0a6"))
    fg.paint(fg.shapes().poly([(0.12 if left else 0.72, 0.66), (0.22 if left else 0.82, 0.7),
                               (0.2 if left else 0.8, 0.77), (0.1 if left else 0.7, 0.73)]).mask(),
             hex_color("#f2c230"))  # fmt: skip
    b.add("roadside", fg, FORE)
    b.particles(
        FluidKind.RAIN, "far rain", 20.0, 400, (0.0007, 0.001), (0.8, 0.85, 0.9), 0.35, (-9.0, 22.0), 0.035
    )
    b.particles(
        FluidKind.RAIN, "near rain", 6.0, 140, (0.0013, 0.0018), (0.85, 0.9, 0.95), 0.45, (-16.0, 40.0), 0.06
    )


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
    b.add("far skyline", _skyline(b, 0.5, 0.25, hex_color("#8a5a58"), hex_color("#f4b860"), 0.5), FAR)
    b.add("city", _skyline(b, 0.62, 0.35, hex_color("#3c2f3a"), hex_color("#f4b860"), 0.1, lit=True), MID)
    fg = b.canvas(hex_color("#2a2228"))
    fg.paint(fg.shapes().rect(-0.02, 0.8, 1.02, 1.02).mask(), hex_color("#2c2428"))
    trees = fg.shapes()
    for x in np.linspace(0.02, 0.98, 9):
        trees.ellipse(float(x), 0.78, 0.04).rect(float(x) - 0.003, 0.78, float(x) + 0.003, 0.82)
    fg.paint(trees.mask(), hex_color("#241c20"))
    b.add("park", fg, FORE)


def _skyline(b: Builder, ground: float, height: float, color: Color, haze: Color, amt: float,
             lit: bool = False) -> Canvas:  # fmt: skip
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


RECIPES: dict[DisasterType, Callable[[Builder], None]] = {
    DisasterType.FLOOD: flood,
    DisasterType.LANDSLIDE: landslide,
    DisasterType.DROUGHT: drought,
    DisasterType.WILDFIRE: wildfire,
    DisasterType.HEAVY_SNOW: heavy_snow,
    DisasterType.TYPHOON: typhoon,
    DisasterType.EARTHQUAKE: earthquake,
    DisasterType.OTHER: other,
}


def scene_seed(disaster: DisasterType, variant: int, seed: int) -> int:
    digest = hashlib.sha256(f"{disaster.value}/{variant}/{seed}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


class ProceduralBackend:
    """``SceneBackend`` that draws from code; deterministic in (disaster, variant, seed) at any resolution."""

    name = "procedural"
    version = VERSION

    def __init__(self, settings: object | None = None) -> None:
        self.settings = settings

    def build(self, disaster: DisasterType, variant: int, width: int, height: int, *, seed: int = 0) -> Scene:
        if width < 16 or height < 16:
            raise ValueError(f"scene size {width}x{height} is too small (min 16x16)")
        b = Builder(width, height, np.random.default_rng(scene_seed(disaster, variant, seed)), variant)
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="layer") as pool:
            b.pool = pool  # each finished layer converts while the recipe draws the next one
            try:
                RECIPES[disaster](b)
            finally:
                b.finish()
            b.pool = None
        return assemble(b, disaster, variant, seed)


def assemble(b: Builder, disaster: DisasterType, variant: int, seed: int) -> Scene:
    """Exact composite masks: where a layer's fluid region is visible through everything nearer."""
    layers = tuple(sorted(b.layers, key=lambda layer: -layer.mean_depth))  # stable: far -> near
    image, depth = composite(layers)
    h, w = b.height, b.width
    masks: dict[FluidKind, np.ndarray] = {}
    for i, layer in enumerate(layers):
        if layer.fluid is None:
            continue
        if layer.fluid in PARTICLE_KINDS:
            region = np.ones((h, w), dtype=bool)
        else:
            region = layer.fluid_mask if layer.fluid_mask is not None else layer.rgba[..., 3] > 0
            cover = np.zeros((h, w), dtype=np.float32)
            for nearer in layers[i + 1 :]:
                if nearer.wrap:
                    continue
                a = nearer.rgba[..., 3].astype(np.float32) / 255.0
                cover = cover + a * (1 - cover)
            region = region & (cover < 0.99)
        masks[layer.fluid] = masks.get(layer.fluid, np.zeros((h, w), dtype=bool)) | region
    return Scene(
        disaster=disaster,
        variant=variant,
        width=w,
        height=h,
        layers=layers,
        masks=masks,
        motion=dict(b.motion),
        image=image,
        depth=depth,
        backend=ProceduralBackend.name,
        prompt=None,
        seed=seed,
        shake=b.shake,
    ).validate()
