"""Procedural scenes: structure, exact masks, determinism, resolution independence, the scene model's checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from cinealert.cap.model import DisasterType
from cinealert.render import FluidKind, SceneError, get_backend
from cinealert.render.backends import BackendError, SceneBackend
from cinealert.render.procedural import ProceduralBackend
from cinealert.render.scene import PARTICLE_KINDS, composite, layer_for_fluid

W, H = 320, 180
ALL = list(DisasterType)


@pytest.fixture(scope="module")
def scenes() -> dict[DisasterType, object]:
    backend = ProceduralBackend()
    return {d: backend.build(d, 0, W, H, seed=0) for d in ALL}


@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_scene_has_five_depth_layers_and_valid_arrays(scenes, disaster: DisasterType) -> None:
    scene = scenes[disaster]
    solid = [layer for layer in scene.layers if not layer.wrap]
    assert len(solid) >= 5, [layer.name for layer in scene.layers]
    depths = [layer.mean_depth for layer in scene.layers]
    assert depths == sorted(depths, reverse=True), "layers must be ordered far -> near"
    assert scene.layers[0].rgba[..., 3].min() == 255
    assert scene.image.shape == (H, W, 3) and scene.depth.shape == (H, W)
    assert scene.masks, "every scene has something that moves"
    assert set(scene.masks) <= set(scene.motion)
    scene.validate()
    # the picture is not flat: a recognisable illustration has contrast
    assert scene.image.std() > 20


@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_masks_are_exact(scenes, disaster: DisasterType) -> None:
    """Recolour each fluid layer: the pixels that change are exactly the mask (up to anti-aliased edges)."""
    scene = scenes[disaster]
    for kind, mask in scene.masks.items():
        if kind in PARTICLE_KINDS:
            assert mask.all()
            continue
        idx = layer_for_fluid(scene, kind)
        assert idx is not None
        layers = list(scene.layers)
        probe = layers[idx].rgba.copy()
        probe[..., :3] = (255, 0, 255) if scene.image[..., 1].mean() > 60 else (0, 255, 0)
        layers[idx] = dataclasses.replace(layers[idx], rgba=probe)
        recoloured, _ = composite([layer for layer in layers if not layer.wrap])
        base, _ = composite([layer for layer in scene.layers if not layer.wrap])
        changed = np.abs(recoloured.astype(int) - base).max(axis=-1) > 24
        region = layers[idx].fluid_mask if layers[idx].fluid_mask is not None else mask
        strong = changed & ~region
        assert strong.mean() < 0.002, f"{kind}: {strong.mean():.4f} of pixels change outside the mask"
        assert changed[mask].mean() > 0.5 or kind in (FluidKind.SMOKE, FluidKind.HAZE, FluidKind.FIRE)
        assert mask.any()


def test_depth_is_nearer_in_the_foreground(scenes) -> None:
    scene = scenes[DisasterType.FLOOD]
    assert scene.depth[-1].mean() < scene.depth[0].mean()


def test_same_seed_same_scene_and_variants_differ() -> None:
    backend = ProceduralBackend()
    a = backend.build(DisasterType.WILDFIRE, 1, W, H, seed=7)
    b = backend.build(DisasterType.WILDFIRE, 1, W, H, seed=7)
    c = backend.build(DisasterType.WILDFIRE, 2, W, H, seed=7)
    assert np.array_equal(a.image, b.image)
    assert all(np.array_equal(x.rgba, y.rgba) for x, y in zip(a.layers, b.layers, strict=True))
    assert all(np.array_equal(a.masks[k], b.masks[k]) for k in a.masks)
    assert np.abs(a.image.astype(int) - c.image).mean() > 5


def test_drawn_in_normalised_coordinates() -> None:
    """The same variant at two resolutions is the same picture."""
    backend = ProceduralBackend()
    small = backend.build(DisasterType.EARTHQUAKE, 0, 160, 90, seed=0).image.astype(np.float32)
    big = backend.build(DisasterType.EARTHQUAKE, 0, 320, 180, seed=0).image.astype(np.float32)
    down = big.reshape(90, 2, 160, 2, 3).mean(axis=(1, 3))
    assert np.abs(down - small).mean() < 12


def test_builds_at_2160p() -> None:
    scene = ProceduralBackend().build(DisasterType.DROUGHT, 0, 3840, 2160, seed=0)
    assert scene.image.shape == (2160, 3840, 3)
    assert scene.masks[FluidKind.HAZE].shape == (2160, 3840)
    assert scene.motion[FluidKind.HAZE].shape == (2160, 3840, 2)


def test_validate_rejects_broken_scenes(scenes) -> None:
    scene = scenes[DisasterType.FLOOD]
    bad_layer = dataclasses.replace(scene.layers[1], rgba=scene.layers[1].rgba[:, :-1])
    with pytest.raises(SceneError, match="rgba"):
        dataclasses.replace(scene, layers=(scene.layers[0], bad_layer)).validate()
    see_through = scene.layers[1]
    with pytest.raises(SceneError, match="opaque"):
        dataclasses.replace(scene, layers=(see_through, *scene.layers[2:])).validate()
    with pytest.raises(SceneError, match="motion"):
        dataclasses.replace(scene, motion={FluidKind.WATER: np.zeros((H, W, 2), np.float64)}).validate()


def test_backend_registry() -> None:
    backend = get_backend("procedural")
    assert isinstance(backend, SceneBackend)
    assert backend.name == "procedural"
    with pytest.raises(BackendError, match="unknown scene backend"):
        get_backend("nope")
