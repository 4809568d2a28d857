"""The LDI's backward warp (``render.ldi.warp``) of a depth map with no edges: the same frames as the splat
it stands in for, used only where it applies (no depth edge; every frame's interpolation checked), and the
frames it declines drawn by the splat."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from cinealert.render.animate import RenderParams, render_loop
from cinealert.render.camera import REF_DEPTH
from cinealert.render.ldi import CameraPath, LdiAnimator, build_ldi
from cinealert.render.ldi.path import Motion
from cinealert.render.ldi.warp import SurfaceWarp, is_one_surface
from cinealert.render.scene import Layer, Scene
from test_render_ldi import H, W, photo_like, smooth_like


def _stills(anim: LdiAnimator, ts: range) -> list[np.ndarray]:
    with torch.inference_mode():
        return [anim.base.frame(t).permute(1, 2, 0).numpy().copy() for t in ts]


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


@pytest.mark.parametrize("camera", ["circular", "up-down"])
def test_the_warp_draws_what_the_splat_draws(camera: str) -> None:
    """One unbroken surface (a ground plane under a far sky, a water region flowing): every frame warped, to
    within interpolation of the splat's frame (textured 4-px blocks: a sub-px shift is levels at their edges);
    a shake (a whole-frame offset) included."""
    n = 24
    anim = LdiAnimator(photo_like(post=False), RenderParams(camera, 2.0, n))
    warp = anim.warp
    assert warp is not None and anim.ldi.back_points == 0
    for t, still in zip(range(1, n, 4), _stills(anim, range(1, n, 4)), strict=True):
        m = anim.path.motions[t]
        for motion in (m, Motion(m.ax, m.ay, m.s, 1.3, -2.6)):
            warped, splatted = np.empty_like(still), np.empty_like(still)
            assert warp.render(still, motion, warped)
            assert anim.splat.render(still, motion, splatted) == 0
            d = _diff(warped, splatted)
            assert float(d.mean()) < 0.3 and np.percentile(d, 99.9) <= 8 and int(d.max()) <= 16, (t, d.mean())
            # a 4-channel still (what the animator hands it: cv2.remap is faster on 4) samples the same bytes
            four, again = np.dstack([still, np.full(still.shape[:2], 99, np.uint8)]), np.empty_like(still)
            assert warp.render(four, motion, again) and np.array_equal(again, warped)
    assert warp.declined == 0 and warp.warped == 4 * len(range(1, n, 4))
    # the horizon is a kink in the depth (one surface, but not a bilinear one): its cells are solved exactly
    assert warp.exact_cells > 0


def test_a_loop_through_the_warp_is_the_splats_loop_to_rounding() -> None:
    scene = photo_like(post=False)
    params = RenderParams("circular", 2.0, 12)
    with_warp = render_loop(scene, params, parallax="ldi")
    anim = LdiAnimator(scene, params, surface_warp=False)
    assert anim.warp is None
    with torch.inference_mode():
        plain = np.stack([anim.frame(t).permute(1, 2, 0).numpy() for t in range(params.num_frames)])
    d = _diff(with_warp, plain)
    assert float(d.mean()) < 0.3 and int(d.max()) <= 16
    assert np.array_equal(with_warp, render_loop(scene, params, parallax="ldi", workers=1)), "deterministic"


def test_depth_edges_keep_the_splat() -> None:
    """A near post (an edge wider than the splat bridges) or a rippled map: the splat, with its back layers;
    with no back layer allowed the edge is still there, so the warp must not paper over the gap either."""
    for scene in (photo_like(), smooth_like()):
        assert LdiAnimator(scene, RenderParams("circular", 2.0, 8)).warp is None
    bare = LdiAnimator(photo_like(), RenderParams("circular", 2.0, 8), max_layers=1)
    assert bare.ldi.back_points == 0 and bare.warp is None
    # the dolly's zoom drifts the horizon's kink apart by more than the bridged gap: an edge there
    assert LdiAnimator(photo_like(post=False), RenderParams("dolly", 2.0, 8)).warp is None


def _rippled(period: int, amplitude_px: float) -> tuple[Scene, CameraPath]:
    """A flat ground whose nearness ripples by ``amplitude_px`` of drift over the loop (an egg-crate relief of
    ``period`` px, peaks at the warp's cell centres), too gentle to be an edge."""
    path = CameraPath.of("circular", 2.0, 8, W, H)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    k = 1.0 + (amplitude_px / path.reach()) * np.sin(2 * np.pi * xx / period) * np.sin(
        2 * np.pi * yy / period
    )
    depth = (REF_DEPTH / k).astype(np.float32)
    base = photo_like(post=False)
    rgba = base.layers[0].rgba
    return dataclasses.replace(base, layers=(Layer("photo", rgba, depth),), depth=depth).validate(), path


def test_a_relief_finer_than_the_cells_goes_to_the_splat() -> None:
    scene, path = _rippled(16, 0.3)
    ldi = build_ldi(scene.image, scene.depth, path, max_layers=1)
    assert is_one_surface(ldi, path), "gentle enough to be one surface"
    warp = SurfaceWarp(ldi)
    still = scene.image.copy()
    out = np.full_like(still, 7)
    m = path.motions[2]
    assert not warp.render(still, m, out), "every cell misses its interpolation: the splat is faster"
    assert warp.declined == 1 and (out == 7).all(), "a declined frame leaves the output alone"
    anim = LdiAnimator(scene, RenderParams("circular", 2.0, 8))
    assert anim.warp is not None
    frames = render_loop(scene, RenderParams("circular", 2.0, 8), parallax="ldi")
    reference = LdiAnimator(scene, RenderParams("circular", 2.0, 8), surface_warp=False)
    with torch.inference_mode():
        plain = np.stack([reference.frame(t).permute(1, 2, 0).numpy() for t in range(8)])
    assert np.array_equal(frames, plain), "declined frames are the splat's own"


def test_a_still_camera_is_the_identity() -> None:
    scene = photo_like(post=False)
    ldi = build_ldi(scene.image, scene.depth, CameraPath.of("static", 0.0, 4, W, H))
    warp = SurfaceWarp(ldi)
    out = np.zeros_like(scene.image)
    assert warp.render(scene.image, Motion(0.0, 0.0, 0.0, 0.0, 0.0), out)
    assert np.array_equal(out, scene.image)
