"""A photo becomes a layered scene: depth layers split at discontinuities, hidden parts filled, motion per fluid.

This is the layered-depth-image step of 3D photography (Shih et al. 2020) in its plainest form: nearness is
quantised into at most K bands at the valleys of its histogram (where depth jumps, few pixels sit), each band is
a layer, and every layer's colour under nearer layers is inpainted (Telea) so a parallax move shows plausible
pixels instead of holes. A layer is also opaque a margin beyond its own pixels into nearer ones: that margin is
what a camera move uncovers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import numpy.typing as npt

from cinealert.cap.model import DisasterType
from cinealert.render.ml.depth import F32, to_metres
from cinealert.render.ml.runtime import stable_seed
from cinealert.render.motion import Hint, MotionPredictor, direction_hint, estimate_motion
from cinealert.render.scene import RGB, FluidKind, Layer, Mask, Motion, Scene, composite

I32 = npt.NDArray[np.int32]


def depth_thresholds(
    nearness: F32, max_layers: int, *, bins: int = 64, min_fraction: float = 0.04
) -> list[float]:
    """Cut points in nearness: histogram valleys, deepest first, keeping every band at least ``min_fraction``.

    A scene with no valley (a smooth ground plane) is cut at equal-count quantiles instead, so it still gets
    parallax; ``max_layers == 1`` gives no cut.
    """
    if max_layers <= 1:
        return []
    values = nearness.ravel()
    hist, edges = np.histogram(values, bins=bins, range=(0.0, 1.0))
    smooth = np.convolve(hist.astype(np.float64), np.ones(5) / 5.0, mode="same")
    valleys: list[float] = []  # bin positions; a flat valley (an empty depth gap) is cut at its middle
    i = 1
    while i < bins - 1:
        j = i
        while j + 1 < bins - 1 and smooth[j + 1] == smooth[i]:
            j += 1
        if smooth[i - 1] > smooth[i] and smooth[j + 1] > smooth[i]:
            valleys.append((i + j) / 2.0)
        i = j + 1
    centre = {v: float(np.interp(v + 0.5, np.arange(bins + 1), edges)) for v in valleys}
    depth_of = {v: smooth[int(v)] for v in valleys}
    chosen: list[float] = []

    def bands_ok(cuts: list[float]) -> bool:
        counts = np.histogram(values, bins=[0.0, *sorted(cuts), 1.0 + 1e-6])[0]
        return bool(counts.min() >= min_fraction * values.size)

    for v in sorted(valleys, key=lambda v: depth_of[v]):
        if len(chosen) == max_layers - 1:
            break
        if bands_ok([*chosen, centre[v]]):
            chosen.append(centre[v])
    if not chosen:
        qs = np.quantile(values, np.linspace(0.0, 1.0, max_layers + 1)[1:-1])
        chosen = [float(q) for q in qs if 0.0 < q < 1.0]
    return sorted(set(chosen))


def layer_labels(nearness: F32, cuts: list[float]) -> I32:
    """0 = farthest band ... len(cuts) = nearest."""
    return np.digitize(nearness, np.asarray(cuts, dtype=np.float32)).astype(np.int32)


def inpaint(image: RGB, hole: Mask, *, max_side: int = 512, radius: int = 5) -> RGB:
    """``image`` with ``hole`` filled by Telea inpainting, run at most ``max_side`` px (it is O(hole area))."""
    import cv2

    if not hole.any():
        return image
    h, w = hole.shape
    scale = min(1.0, max_side / max(h, w))
    sw, sh = max(8, round(w * scale)), max(8, round(h * scale))
    small = cv2.resize(image, (sw, sh), interpolation=cv2.INTER_AREA) if scale < 1 else image
    small_hole = (
        cv2.resize(hole.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) if scale < 1 else hole
    )
    small_hole = cv2.dilate(small_hole.astype(np.uint8), np.ones((3, 3), np.uint8))
    filled = cv2.inpaint(np.ascontiguousarray(small), small_hole, radius, cv2.INPAINT_TELEA)
    if scale < 1:
        filled = cv2.resize(filled, (w, h), interpolation=cv2.INTER_LINEAR)
    out = image.copy()
    out[hole] = filled[hole]
    return out


def split_layers(
    image: RGB, nearness: F32, max_layers: int, fluids: Mapping[FluidKind, Mask] | None = None
) -> tuple[Layer, ...]:
    """Far-to-near layers; the farthest is fully opaque, each is filled where nearer layers hide it.

    Each fluid region becomes a layer of its own (``fluid`` set, at its median depth), as in the procedural
    scenes: water that spans two depth bands still moves as one sheet, and what it covers is filled below it.
    """
    import cv2

    h, w = nearness.shape
    labels = layer_labels(nearness, depth_thresholds(nearness, max_layers))
    claimed = np.zeros((h, w), dtype=np.bool_)
    regions: list[tuple[float, str, FluidKind | None, Mask]] = []
    for kind, mask in (fluids or {}).items():
        own = mask & ~claimed  # where fluids overlap, the first kind listed owns the pixel
        if own.any():
            regions.append((float(np.median(nearness[own])), kind.value, kind, own))
            claimed |= own
    for index in range(int(labels.max()) + 1):
        own = (labels == index) & ~claimed
        if own.any():
            regions.append((float(np.median(nearness[own])), f"depth{index}", None, own))
    regions.sort(key=lambda region: region[0])  # far (least near) first; stable for equal medians
    metres = to_metres(nearness)
    margin = max(2, round(0.03 * min(h, w)))
    # what lies nearer than each region (the union of the regions after it): each layer's inpainting and
    # alpha then depend on nothing else, so the layers are made side by side (cv2 leaves the GIL)
    nearer_than: list[Mask] = [np.zeros((h, w), dtype=np.bool_)] * len(regions)
    for index in range(len(regions) - 2, -1, -1):
        nearer_than[index] = nearer_than[index + 1] | regions[index + 1][3]

    def make(index: int) -> Layer:
        _, name, fluid, own = regions[index]
        nearer = nearer_than[index]
        colour = inpaint(image, nearer)
        if index == 0:
            alpha = np.full((h, w), 255, dtype=np.uint8)
        else:
            # within ``margin`` px of the layer (a distance transform: linear time, unlike a 65 px dilation)
            grown = cv2.distanceTransform((~own).astype(np.uint8), cv2.DIST_L2, 3) <= margin
            alpha = ((own | (grown & nearer)) * 255).astype(np.uint8)
        depth = np.where(own, metres, np.float32(np.median(metres[own]))).astype(np.float32)
        rgba = np.ascontiguousarray(np.dstack([colour, alpha]))
        return Layer(name, rgba, depth, fluid=fluid, fluid_mask=alpha > 0 if fluid is not None else None)

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="split-layers") as pool:
        return tuple(pool.map(make, range(len(regions))))


def motion_field(
    kind: FluidKind,
    mask: Mask,
    *,
    seed: int,
    nearness: F32 | None = None,
    hint: Hint | None = None,
    image: RGB | None = None,
    predictor: MotionPredictor | None = None,
) -> Motion:
    """The velocity field of ``kind`` inside ``mask``: a learned predictor's where one is configured (it needs
    the image and nearness), else estimated from the picture (``render.motion.estimate_motion``: downhill along
    the nearness slope for water and mud, rising with turbulence for fire and smoke, ...)."""
    if predictor is not None and image is not None and nearness is not None:
        return predictor.predict(kind, image, mask, nearness)
    return estimate_motion(kind, mask, nearness, seed=seed, hint=hint)


def photo_scene(
    disaster: DisasterType,
    variant: int,
    image: RGB,
    nearness: F32,
    masks: Mapping[FluidKind, Mask],
    *,
    max_layers: int,
    seed: int,
    backend: str = "ml",
    prompt: str | None = None,
    shake: float = 0.0,
    meta: Mapping[str, str] | None = None,
    predictor: MotionPredictor | None = None,
    particles: Scene | None = None,
) -> Scene:
    """The layered scene of a photo; with the particle sheets of ``particles`` (``particle_sheets``)."""
    h, w = image.shape[:2]
    kept = {kind: mask for kind, mask in masks.items() if mask.any()}
    hint = direction_hint(prompt)  # "water flowing left" leans the estimate that way

    def estimate(kind: FluidKind) -> Motion:
        return motion_field(kind, kept[kind], seed=stable_seed(seed, kind.value), nearness=nearness, hint=hint,
                            image=image, predictor=predictor)  # fmt: skip

    # each fluid's motion reads only the masks and the nearness: estimated beside the layer split
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="motion") as pool:
        estimates = [(kind, pool.submit(estimate, kind)) for kind in kept]
        layers = split_layers(image, nearness, max_layers, kept)
        motion = {kind: done.result() for kind, done in estimates}
    if particles is not None:
        layers, kept, motion = particle_sheets(layers, kept, motion, particles)
    rest, depth = composite(layers)  # once, sheets included: it is on the cold path
    return Scene(
        disaster=disaster,
        variant=variant,
        width=w,
        height=h,
        layers=layers,
        masks=kept,
        motion=motion,
        image=rest,
        depth=depth,
        backend=backend,
        prompt=prompt,
        seed=seed,
        shake=shake,
        meta=dict(meta or {}),
    ).validate()


def particle_sheets(
    layers: Sequence[Layer],
    masks: Mapping[FluidKind, Mask],
    motion: Mapping[FluidKind, Motion],
    source: Scene,
) -> tuple[tuple[Layer, ...], dict[FluidKind, Mask], dict[FluidKind, Motion]]:
    """``layers`` (and their masks and motion) with the particle sheets (rain, snow, dust) of ``source``, the
    procedural scene of the same type.

    Falling particles are not in a photo's masks (SAM finds lying snow, not falling flakes), so the procedural
    backend's periodic sheets supply them, sorted in by depth in front of the opaque back layer.
    """
    sheets = [layer for layer in source.layers if layer.wrap and layer.fluid is not None]
    if not sheets:
        return tuple(layers), dict(masks), dict(motion)
    back, *rest = layers
    kinds = [layer.fluid for layer in sheets if layer.fluid is not None]
    return (
        (back, *sorted([*rest, *sheets], key=lambda layer: -layer.mean_depth)),
        {**masks, **{k: source.masks[k] for k in kinds if k in source.masks}},
        {**motion, **{k: source.motion[k] for k in kinds if k in source.motion}},
    )
