"""The default scene backend: hand-designed layered illustrations, drawn from code, no weights.

Every disaster type has one recipe; the variant changes layout, palette and time of day. Everything is drawn in
normalised coordinates (see ``draw``), so a scene is the same picture at 720p, 1080p and 2160p. Because every
pixel is drawn, masks and depth are exact. Style: flat, high-contrast broadcast illustration, no people.

The package: ``builder`` (drawing state, depth planes), ``motifs`` (shared painting primitives), the recipes by
what moves in them (``water``: flood, landslide, typhoon; ``heat``: drought, wildfire; ``air``: heavy snow,
earthquake, other), and here the backend that runs a recipe and assembles the exact masks.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from cinealert.cap.model import DisasterType
from cinealert.render.procedural.air import earthquake, heavy_snow, other
from cinealert.render.procedural.builder import Builder
from cinealert.render.procedural.heat import drought, wildfire
from cinealert.render.procedural.water import flood, landslide, typhoon
from cinealert.render.scene import PARTICLE_KINDS, FluidKind, Scene, composite

__all__ = ["RECIPES", "VERSION", "Builder", "ProceduralBackend", "assemble", "scene_seed"]

VERSION = "1"

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
