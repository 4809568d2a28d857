"""The scene model every backend produces and the animator consumes.

A scene is a stack of RGBA layers ordered far -> near, each with a depth, plus exact per-fluid masks and
constant-velocity motion fields (Eulerian motion, Holynski et al. 2021; 3D Cinemagraphy, Li et al. 2023).
Layers are *full* images: a layer holds what nearer layers hide, so a parallax camera move disoccludes drawn
pixels, never holes. RGB is straight (not premultiplied) and meaningful where alpha is 0, so warping a fluid
texture never drags in black.

The procedural backend draws everything, so its masks and depth are exact: they double as ground truth for the
ML backends. Only numpy here: importing the model must not import torch.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np
import numpy.typing as npt

from cinealert.cap.model import DisasterType
from cinealert.errors import CinealertError

RGBA = npt.NDArray[np.uint8]
RGB = npt.NDArray[np.uint8]
Mask = npt.NDArray[np.bool_]
Depth = npt.NDArray[np.float32]
Motion = npt.NDArray[np.float32]


class FluidKind(StrEnum):
    """What moves, which decides how it moves (flow, flicker, rise, fall, shimmer)."""

    WATER = "water"
    FIRE = "fire"
    SMOKE = "smoke"
    SNOW = "snow"
    RAIN = "rain"
    MUD = "mud"
    DUST = "dust"
    HAZE = "haze"


#: Kinds drawn as periodic particle sheets that scroll over the whole frame (they wrap, so they loop exactly).
PARTICLE_KINDS: frozenset[FluidKind] = frozenset({FluidKind.SNOW, FluidKind.RAIN, FluidKind.DUST})


class SceneError(ValueError, CinealertError):
    """A scene violates the model's invariants (shapes, dtypes, ordering); the message names the field."""


@dataclass(frozen=True, slots=True, eq=False)
class Layer:
    """One depth layer.

    ``depth`` is metres-like (larger = farther), a scalar for a flat card or an ``HxW`` map; the camera moves a
    layer by its mean depth (parallax ∝ 1/depth). ``fluid`` names the kind that moves *in this layer*, and
    ``fluid_mask`` is where it moves in layer space, including parts nearer layers hide (``None``: use the
    scene's composite mask of that kind). ``wrap`` marks a periodic particle sheet that scrolls with wrap-around
    at ``velocity`` (px/frame, x then y; snapped by the animator to whole wraps per loop so it loops exactly).
    ``sway`` (0..1) makes the layer bend back and forth like trees in a gale, more at the top than at the base.
    """

    name: str
    rgba: RGBA
    depth: float | Depth
    fluid: FluidKind | None = None
    fluid_mask: Mask | None = None
    wrap: bool = False
    velocity: tuple[float, float] | None = None
    sway: float = 0.0

    @property
    def mean_depth(self) -> float:
        if isinstance(self.depth, np.ndarray):
            alpha = self.rgba[..., 3] > 127
            values = self.depth[alpha] if alpha.any() else self.depth
            return float(np.median(values))
        return float(self.depth)

    def depth_map(self, height: int, width: int) -> Depth:
        if isinstance(self.depth, np.ndarray):
            return self.depth.astype(np.float32, copy=False)
        return np.full((height, width), self.depth, dtype=np.float32)


@dataclass(frozen=True, slots=True, eq=False)
class Scene:
    """A complete, validated scene. ``image``/``depth`` are the composite of ``layers`` at rest."""

    disaster: DisasterType
    variant: int
    width: int
    height: int
    layers: tuple[Layer, ...]
    masks: Mapping[FluidKind, Mask]
    motion: Mapping[FluidKind, Motion]
    image: RGB
    depth: Depth
    backend: str
    prompt: str | None = None
    seed: int = 0
    #: camera shake amplitude in px at 1080p (earthquakes); the animator adds decaying looped bursts.
    shake: float = 0.0
    meta: Mapping[str, str] = field(default_factory=dict)

    def validate(self) -> Scene:
        """Raise ``SceneError`` on a broken invariant; returns ``self`` (``return scene.validate()``)."""
        h, w = self.height, self.width
        if h < 8 or w < 8:
            raise SceneError(f"scene too small: {w}x{h}")
        if not self.layers:
            raise SceneError("scene has no layers")
        for layer in self.layers:
            if layer.rgba.dtype != np.uint8 or layer.rgba.shape != (h, w, 4):
                raise SceneError(
                    f"layer {layer.name!r}: rgba must be uint8 {h}x{w}x4, got {layer.rgba.shape}"
                )
            if isinstance(layer.depth, np.ndarray) and layer.depth.shape != (h, w):
                raise SceneError(f"layer {layer.name!r}: depth map must be {h}x{w}")
            if layer.fluid_mask is not None and layer.fluid_mask.shape != (h, w):
                raise SceneError(f"layer {layer.name!r}: fluid_mask must be {h}x{w}")
        if int(self.layers[0].rgba[..., 3].min()) < 255:
            raise SceneError(
                f"farthest layer {self.layers[0].name!r} must be fully opaque (it backs every hole)"
            )
        for kind, mask in self.masks.items():
            if mask.dtype != np.bool_ or mask.shape != (h, w):
                raise SceneError(f"mask {kind}: must be bool {h}x{w}")
        for kind, flow in self.motion.items():
            if flow.dtype != np.float32 or flow.shape != (h, w, 2):
                raise SceneError(f"motion {kind}: must be float32 {h}x{w}x2 (px/frame, x then y)")
        if self.image.dtype != np.uint8 or self.image.shape != (h, w, 3):
            raise SceneError(f"image must be uint8 {h}x{w}x3")
        if self.depth.dtype != np.float32 or self.depth.shape != (h, w):
            raise SceneError(f"depth must be float32 {h}x{w}")
        return self


def composite(layers: tuple[Layer, ...] | list[Layer]) -> tuple[RGB, Depth]:
    """Alpha-composite layers far -> near at rest; depth is the nearest solid layer with alpha >= 0.5.

    The two halves of the frame are composited in two threads (numpy leaves the GIL for the big array
    passes): a scene is built before its loop can render, so this sits on the cold path."""
    h, w = layers[0].rgba.shape[:2]
    image = np.empty((h, w, 3), dtype=np.uint8)
    depth = np.empty((h, w), dtype=np.float32)

    def rows(r0: int, r1: int) -> None:
        out = np.zeros((r1 - r0, w, 3), dtype=np.float32)
        near = np.full((r1 - r0, w), np.float32(1e4), dtype=np.float32)
        for layer in layers:
            rgba = layer.rgba[r0:r1]
            a = rgba[..., 3:4].astype(np.float32) / 255.0
            out = out * (1.0 - a) + rgba[..., :3].astype(np.float32) * a
            if not layer.wrap:  # falling flakes and drops are not surfaces: they do not set the depth map
                d = layer.depth[r0:r1] if isinstance(layer.depth, np.ndarray) else np.float32(layer.depth)
                near = np.where(a[..., 0] >= 0.5, d, near)
        image[r0:r1] = np.clip(out + 0.5, 0, 255)
        depth[r0:r1] = near

    half = h // 2
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="composite") as pool:
        for done in [pool.submit(rows, 0, half), pool.submit(rows, half, h)]:
            done.result()
    return image, depth


def layer_for_fluid(scene: Scene, kind: FluidKind) -> int | None:
    """Index of the layer that carries ``kind``: the one that says so, else the nearest opaque one over the mask.

    ML backends need not set ``Layer.fluid``; this infers it from the composite mask.
    """
    for i, layer in enumerate(scene.layers):
        if layer.fluid is kind:
            return i
    mask = scene.masks.get(kind)
    if mask is None or not mask.any():
        return None
    visible = np.full(int(np.count_nonzero(mask)), -1, dtype=np.int32)
    for i, layer in enumerate(scene.layers):
        visible[layer.rgba[..., 3][mask] >= 128] = i
    counts = np.bincount(visible[visible >= 0], minlength=len(scene.layers))
    return int(counts.argmax()) if counts.any() else None
