"""Motion from the picture: each fluid region's Eulerian velocity field estimated from the image's mask and depth.

The paper predicts a constant-velocity field per fluid region with an image-to-flow network. Without one, the
direction comes from what the photo shows: water and mud run downhill, which in a photo of terrain is from far to
near (the nearness gradient inside the region, smoothed, projected to the image), at a speed that grows with
nearness (perspective) and with the region's size; fire and smoke rise with curl-noise turbulence (divergence
free, so the plume neither piles up nor tears); snow and rain fall with a wind drift; dust and haze drift. A
``direction hint`` (a unit vector, e.g. from the prompt: "water flowing left") leans the estimate that way.

A learned predictor plugs in through ``MotionPredictor``; ``load_predictor`` loads the small convolutional one
this module defines (``TinyFlowNet``) from a local directory (``ml.motion_model_dir``: ``config.json`` +
``model.safetensors``). Its output replaces the estimate inside the mask.

Only numpy and OpenCV at import; torch is imported by the predictor.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from cinealert.render.scene import RGB, FluidKind, Mask, Motion

if TYPE_CHECKING:
    import torch

F32 = npt.NDArray[np.float32]
Hint = tuple[float, float]

#: speed at 1080p, px/frame, and the fallback direction (x, y) where the picture says nothing (a flat region)
FLOW_1080P: dict[FluidKind, tuple[float, float]] = {
    FluidKind.WATER: (2.2, 0.6),
    FluidKind.MUD: (0.6, 1.2),
    FluidKind.FIRE: (0.0, -2.0),
    FluidKind.SMOKE: (0.6, -1.0),
    FluidKind.SNOW: (0.3, 1.6),
    FluidKind.RAIN: (0.8, 7.0),
    FluidKind.DUST: (1.2, -0.2),
    FluidKind.HAZE: (0.5, 0.0),
}
DOWNHILL_KINDS = frozenset({FluidKind.WATER, FluidKind.MUD})
RISING_KINDS = frozenset({FluidKind.FIRE, FluidKind.SMOKE})
FALLING_KINDS = frozenset({FluidKind.SNOW, FluidKind.RAIN})
#: how strongly a direction hint leans the estimate (1: half way between the slope and the hint)
HINT_WEIGHT = 1.0
#: curl-noise turbulence of rising fluids, as a fraction of their speed
TURBULENCE = 0.45

_WORDS: tuple[tuple[str, Hint], ...] = (
    (r"\b(?:to(?:ward)?s? the |)left(?:ward)?s?\b|\bwestward\b", (-1.0, 0.0)),
    (r"\b(?:to(?:ward)?s? the |)right(?:ward)?s?\b|\beastward\b", (1.0, 0.0)),
    (r"\b(?:down(?:hill|stream|ward)?s?|toward(?:s)? (?:the )?(?:viewer|camera|us))\b", (0.0, 1.0)),
    (r"\bup(?:ward)?s?\b", (0.0, -1.0)),
)
_VERBS = r"(?:flow|flowing|flows|rush|rushing|rushes|run|running|runs|pour|pouring|pours|stream|streaming|" \
    r"streams|drift|drifting|drifts|blow|blowing|blows|spill|spilling|spills|surge|surging|surges|sweep|" \
    r"sweeping|sweeps|move|moving|moves|slide|sliding|slides)"  # fmt: skip


def direction_hint(text: str | None) -> Hint | None:
    """A unit image direction from words like "river flowing left" or "smoke drifting to the right" (the
    direction word within a few words after a motion verb); ``None`` when the text says none."""
    if not text:
        return None
    x = y = 0.0
    for m in re.finditer(_VERBS + r"\W+((?:\w+\W+){0,3}\w+)", text.lower()):
        tail = m.group(1)
        for pattern, (dx, dy) in _WORDS:
            if re.search(pattern, tail):
                x, y = x + dx, y + dy
                break
    norm = float(np.hypot(x, y))
    return (x / norm, y / norm) if norm > 0 else None


#: a Gaussian wider than this (px) is made at a reduced size (``_blur``)
_BLUR_SMALL_SIGMA = 6.0


def _blur(a: F32, sigma: float) -> F32:
    """Gaussian blur; a wide one (the slope's ~1/40 and ~1/16 of the frame: 48 and 120 px at 1080p, 1.4 s a
    call at full size on one core) is made on an area-reduced copy whose sigma is ``_BLUR_SMALL_SIGMA`` px,
    then resized back: the reduction's box adds ~1/400 of the variance, and what it smooths is a smooth field."""
    import cv2

    f = int(sigma // _BLUR_SMALL_SIGMA)
    if f < 2:
        return np.asarray(
            cv2.GaussianBlur(a, (0, 0), sigmaX=max(sigma, 0.5), borderType=cv2.BORDER_REPLICATE), np.float32
        )
    h, w = a.shape[:2]
    # the border replicated at full size (3 sigma, whole blocks), as the full-size blur sees it
    p = -(-int(3 * sigma) // f) * f
    big = cv2.copyMakeBorder(a, p, p + (-h) % f, p, p + (-w) % f, cv2.BORDER_REPLICATE)
    hb, wb = big.shape[:2]
    small = cv2.resize(big, (wb // f, hb // f), interpolation=cv2.INTER_AREA)
    small = cv2.GaussianBlur(small, (0, 0), sigmaX=sigma / f, borderType=cv2.BORDER_REPLICATE)
    out = cv2.resize(small, (wb, hb), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(out[p : p + h, p : p + w], np.float32)


def _smooth_noise(h: int, w: int, cell: int, rng: np.random.Generator) -> F32:
    import cv2

    coarse = rng.standard_normal((max(2, h // cell), max(2, w // cell))).astype(np.float32)
    return np.asarray(cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC), np.float32)


def slope_direction(mask: Mask, nearness: F32) -> tuple[F32, F32, F32]:
    """Per pixel, the image direction in which the region gets nearer (downhill for a ground surface), smoothed
    over about a tenth of the frame inside the mask: unit ``(dx, dy)`` and a confidence 0..1 (how consistent
    the slope is there)."""
    h, w = mask.shape
    m = mask.astype(np.float32)
    sigma = max(h, w) / 40.0
    inside = _blur(m, sigma)
    near = _blur(nearness.astype(np.float32) * m, sigma) / np.maximum(inside, 1e-4)
    near = np.where(mask, near, nearness).astype(np.float32)  # outside: no false edge at the mask's border
    gy, gx = np.gradient(near)
    # direction vectors averaged over a wider window: a local bump does not turn the whole stream
    wide = 2.5 * sigma
    sx, sy = _blur(gx.astype(np.float32) * m, wide), _blur(gy.astype(np.float32) * m, wide)
    mag = np.hypot(sx, sy)
    ref = float(np.median(mag[mask])) if mask.any() else 0.0
    conf = np.clip(mag / max(ref, 1e-9), 0.0, 1.0) if ref > 1e-7 else np.zeros_like(mag)
    safe = np.maximum(mag, 1e-12)
    return (sx / safe).astype(np.float32), (sy / safe).astype(np.float32), conf.astype(np.float32)


def estimate_motion(
    kind: FluidKind, mask: Mask, nearness: F32 | None, *, seed: int, hint: Hint | None = None
) -> Motion:
    """The velocity field (px/frame, ``HxWx2``, zero outside ``mask``) of ``kind`` from the picture.

    ``nearness`` is 0..1, larger = nearer (``render.ml.depth``); ``None`` means a flat card (the kind's default
    direction). Deterministic in ``seed``."""
    h, w = mask.shape
    flow = np.zeros((h, w, 2), np.float32)
    if not mask.any():
        return flow
    rng = np.random.default_rng(seed)
    bx, by = FLOW_1080P[kind]
    speed = float(np.hypot(bx, by)) * h / 1080.0
    near = np.full((h, w), 0.5, np.float32) if nearness is None else nearness.astype(np.float32)
    lo, hi = float(near[mask].min()), float(near[mask].max())
    rel = (near - lo) / max(hi - lo, 1e-6) if hi - lo > 1e-3 else np.full_like(near, 0.5)
    # perspective: the same ground speed covers more pixels nearer the camera
    persp = (0.6 + 0.8 * np.clip(rel, 0.0, 1.0)).astype(np.float32)
    hx, hy = hint if hint is not None else (0.0, 0.0)
    if kind in DOWNHILL_KINDS:
        dx, dy, conf = slope_direction(mask, near) if nearness is not None else (None, None, None)
        fx, fy = bx / np.hypot(bx, by), by / np.hypot(bx, by)
        if dx is None or dy is None or conf is None:
            ux, uy = np.full((h, w), fx, np.float32), np.full((h, w), fy, np.float32)
        else:  # where the slope is unclear, lean on the region's overall slope, then on the default
            mx, my = float(dx[mask].mean()), float(dy[mask].mean())
            mn = float(np.hypot(mx, my))
            gx, gy = (mx / mn, my / mn) if mn > 0.2 else (fx, fy)
            ux, uy = conf * dx + (1 - conf) * gx, conf * dy + (1 - conf) * gy
        ux, uy = ux + HINT_WEIGHT * hx, uy + HINT_WEIGHT * hy
        # region size: a wide river flows faster across the frame than a puddle
        size = float(np.sqrt(np.count_nonzero(mask) / mask.size))
        mag = speed * persp * float(np.clip(0.4 + size, 0.6, 1.0))
        # gentle seeded variation, so the water does not slide as one rigid sheet
        angle = _smooth_noise(h, w, 64, rng) * 0.15
        mag = mag * (1.0 + _smooth_noise(h, w, 64, rng) * 0.12)
    elif kind in RISING_KINDS:
        drift = bx / abs(by) if by else 0.0
        ux = np.full((h, w), drift + HINT_WEIGHT * hx, np.float32)
        uy = np.full((h, w), -1.0, np.float32)
        # curl noise: the rotated gradient of a smooth stream function, divergence free
        psi = _smooth_noise(h, w, max(8, h // 12), rng)
        py, px = np.gradient(psi)
        cx, cy = py, -px
        cn = float(np.percentile(np.hypot(cx, cy)[mask], 90)) if mask.any() else 1.0
        ux = ux + TURBULENCE * cx / max(cn, 1e-6)
        uy = uy + TURBULENCE * cy / max(cn, 1e-6)
        mag = speed * persp
        angle = np.zeros((h, w), np.float32)
    elif kind in FALLING_KINDS:
        wind = bx / by if by else 0.0
        ux = np.full((h, w), wind + HINT_WEIGHT * hx, np.float32)
        uy = np.full((h, w), 1.0, np.float32)
        mag = speed * persp
        angle = _smooth_noise(h, w, 96, rng) * 0.08
    else:  # dust, haze: a drift, the hint's way if there is one
        ux = np.full((h, w), (hx if hint is not None else bx / speed), np.float32)
        uy = np.full((h, w), (hy if hint is not None else by / speed), np.float32)
        mag = np.full((h, w), speed, np.float32)
        angle = _smooth_noise(h, w, 64, rng) * 0.2
    norm = np.maximum(np.hypot(ux, uy), 1e-6)
    if kind in RISING_KINDS:  # keep the turbulence's own strength: the rise is the unit part
        norm = np.maximum(np.abs(uy), 1e-6)
    dirx, diry = ux / norm, uy / norm
    cos, sin = np.cos(angle), np.sin(angle)
    flow[..., 0] = (dirx * cos - diry * sin) * mag
    flow[..., 1] = (dirx * sin + diry * cos) * mag
    flow[~mask] = 0.0
    return flow


class MotionPredictor(Protocol):
    """A learned image-to-flow model: the velocity field (px/frame, ``HxWx2``) of ``kind`` inside ``mask``."""

    def predict(self, kind: FluidKind, image: RGB, mask: Mask, nearness: F32) -> Motion: ...


KINDS = tuple(FluidKind)
#: the predictor's working height (its output is smooth and upsampled)
PREDICT_HEIGHT = 128


def tiny_flow_net(width: int = 16) -> torch.nn.Module:
    """The small convolutional predictor ``load_predictor`` loads: RGB, mask, nearness and the kind (one-hot)
    in, velocity at 1080p (px/frame) out."""
    import torch

    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(5 + len(KINDS), width, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(width, width, 3, padding=2, dilation=2),
        nn.ReLU(),
        nn.Conv2d(width, 2, 3, padding=1),
    )


class TorchMotionPredictor:
    """``MotionPredictor`` over a ``tiny_flow_net`` module (CPU; it is a few thousand weights)."""

    def __init__(self, net: torch.nn.Module) -> None:
        self.net = net.eval()

    def predict(self, kind: FluidKind, image: RGB, mask: Mask, nearness: F32) -> Motion:
        import cv2
        import torch

        h, w = mask.shape
        ph = min(h, PREDICT_HEIGHT)
        pw = max(2, round(w * ph / h))
        small = cv2.resize(image, (pw, ph), interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        m = cv2.resize(mask.astype(np.float32), (pw, ph), interpolation=cv2.INTER_AREA)
        near = cv2.resize(nearness.astype(np.float32), (pw, ph), interpolation=cv2.INTER_AREA)
        x = np.zeros((5 + len(KINDS), ph, pw), np.float32)
        x[:3] = small.transpose(2, 0, 1)
        x[3], x[4] = m, near
        x[5 + KINDS.index(kind)] = 1.0
        with torch.inference_mode():
            out = self.net(torch.from_numpy(x)[None])[0].numpy()
        stacked = np.stack([cv2.resize(c, (w, h), interpolation=cv2.INTER_LINEAR) for c in out], axis=-1)
        flow = np.asarray(stacked * (h / 1080.0), np.float32)
        flow[~mask] = 0.0
        return flow


def save_predictor(net: torch.nn.Module, path: Path, width: int = 16) -> None:
    """Write ``net`` (a ``tiny_flow_net(width)``) as a predictor directory ``load_predictor`` reads."""
    from safetensors.torch import save_file

    path.mkdir(parents=True, exist_ok=True)
    (path / "config.json").write_text(json.dumps({"arch": "tiny-flow-net", "width": width}))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(path / "model.safetensors"))


def load_predictor(path: Path | None) -> MotionPredictor | None:
    """The predictor in ``path`` (``ml.motion_model_dir``), or ``None`` when it is not set."""
    if path is None:
        return None
    from safetensors.torch import load_file

    from cinealert.render.ml.runtime import model_dir

    root = model_dir(path, "motion_model_dir")
    config: dict[str, Any] = json.loads((root / "config.json").read_text())
    if config.get("arch") != "tiny-flow-net":
        raise ValueError(f"ml.motion_model_dir = {root}: unknown arch {config.get('arch')!r}")
    net = tiny_flow_net(int(config.get("width", 16)))
    net.load_state_dict(load_file(str(root / "model.safetensors")))
    return TorchMotionPredictor(net)
