"""The layered-depth-image renderer: no holes on any camera path, per-pixel parallax, seams, determinism."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
import torch

from cinealert.cap.model import DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.render.animate import Animator, RenderParams, render_loop
from cinealert.render.camera import REF_DEPTH, pose
from cinealert.render.ldi import CameraPath, LdiAnimator, build_ldi, resolve_parallax
from cinealert.render.ldi.path import Motion
from cinealert.render.ldi.splat import NumbaSplat, TorchSplat
from cinealert.render.procedural import ProceduralBackend
from cinealert.render.scene import FluidKind, Layer, Scene
from cinealert.render.service import key_fields

W, H = 192, 108
N = 24
MOVING = ("circular", "up-down", "dolly")


def photo_like(width: int = W, height: int = H, *, post: bool = True) -> Scene:
    """One opaque layer with a per-pixel depth map, as the ml backend makes from a photo: a ground plane
    receding from 4 m (bottom) to 60 m (horizon) under a far sky, a near post (3 m) standing on it, textured
    everywhere (so motion is measurable) and a water region that flows."""
    rng = np.random.default_rng(7)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    horizon = height * 0.35
    ground = yy >= horizon
    u = np.clip((yy - horizon) / (height - horizon), 0.0, 1.0)
    depth = np.where(ground, 60.0 / (1.0 + 14.0 * u), 400.0).astype(np.float32)
    if post:
        block = (xx >= width * 0.45) & (xx < width * 0.55) & (yy >= height * 0.2)
        depth = np.where(block, np.float32(3.0), depth).astype(np.float32)
    noise = rng.integers(0, 255, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8)
    texture = np.repeat(np.repeat(noise, 4, axis=0), 4, axis=1)[:height, :width]
    base = np.where(ground[..., None], [90, 120, 60], [140, 180, 230]).astype(np.float32)
    image = np.clip(base * 0.6 + texture * 0.4, 0, 255).astype(np.uint8)
    water = ground & (yy > height * 0.75) & (xx < width * 0.35)
    flow = np.zeros((height, width, 2), np.float32)
    flow[water] = (1.0, 0.2)
    rgba = np.dstack([image, np.full((height, width), 255, np.uint8)])
    return Scene(
        disaster=DisasterType.FLOOD,
        variant=0,
        width=width,
        height=height,
        layers=(Layer("photo", rgba, depth),),
        masks={FluidKind.WATER: water},
        motion={FluidKind.WATER: flow},
        image=image,
        depth=depth,
        backend="test",
    ).validate()


def smooth_like(width: int = W, height: int = H) -> Scene:
    """``photo_like`` with a post but depth varying along every row too (a tilted, rippled ground), as a depth
    estimate of a photo has: almost no two neighbours share a nearness, so the splat goes pixel by pixel."""
    scene = photo_like(width, height)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    depth = (scene.depth * (1.0 + 0.4 * xx / width + 0.05 * np.sin(xx / 3.0 + yy / 5.0))).astype(np.float32)
    rgba = scene.layers[0].rgba
    return dataclasses.replace(scene, layers=(Layer("photo", rgba, depth),), depth=depth).validate()


@pytest.fixture(scope="module")
def photo() -> Scene:
    return photo_like()


@pytest.fixture(scope="module")
def drawn() -> dict[DisasterType, Scene]:
    backend = ProceduralBackend()
    return {d: backend.build(d, 0, W, H, seed=0) for d in (DisasterType.FLOOD, DisasterType.WILDFIRE)}


def _frames(anim: LdiAnimator) -> list[np.ndarray]:
    with torch.inference_mode():
        return [anim.frame(t).permute(1, 2, 0).numpy().copy() for t in range(anim.n)]


@pytest.mark.parametrize("camera", MOVING)
def test_no_holes_on_any_camera_path_at_amplitude_2(photo: Scene, drawn: dict[DisasterType, Scene],
                                                    camera: str) -> None:  # fmt: skip
    for scene in (photo, *drawn.values()):
        anim = LdiAnimator(scene, RenderParams(camera, 2.0, N))  # type: ignore[arg-type]
        frames = _frames(anim)
        assert anim.holes == 0, f"{scene.disaster.value} {camera}: {anim.holes} px nothing landed on"
        assert all(f.shape == (H, W, 3) for f in frames)


def test_the_back_layers_are_what_fills_the_gaps(photo: Scene) -> None:
    """Without back layers the post's edge opens gaps: the no-holes test above can fail."""
    anim = LdiAnimator(photo, RenderParams("circular", 2.0, N), max_layers=1)
    _frames(anim)
    assert anim.ldi.back_points == 0
    assert anim.holes > 0
    full = LdiAnimator(photo, RenderParams("circular", 2.0, N))
    assert full.ldi.layers >= 2 and full.ldi.back_points > 0


def _shift(a: np.ndarray, b: np.ndarray, rows: slice, cols: slice) -> int:
    """Whole-px vertical shift of ``b`` against ``a`` in a window, by the best match over -12..12."""
    ref = a[rows, cols].astype(np.float32)
    best, arg = math.inf, 0
    for d in range(-12, 13):
        cand = b[rows.start + d : rows.stop + d, cols].astype(np.float32)
        err = float(np.abs(cand - ref).mean())
        if err < best:
            best, arg = err, d
    return arg


def test_parallax_is_per_pixel_within_one_region() -> None:
    """One layer, one region (the ground plane, no post): its near rows move more than its far rows, in
    proportion to nearness; the bands renderer moves the whole layer rigidly."""
    scene = photo_like(post=False)
    n = 8
    anim = LdiAnimator(scene, RenderParams("up-down", 2.0, n, shake=False))
    quarter = n // 4  # up-down: the largest shift
    f0, f1 = (anim.frame(t).permute(1, 2, 0).numpy() for t in (0, quarter))
    cols = slice(W // 2, W - 8)  # away from the water (whose colour flows)
    near_rows, far_rows = slice(H - 24, H - 14), slice(int(H * 0.42), int(H * 0.42) + 8)
    near, far = _shift(f0, f1, near_rows, cols), _shift(f0, f1, far_rows, cols)
    k_near = REF_DEPTH / float(np.median(scene.depth[near_rows, cols]))
    k_far = REF_DEPTH / float(np.median(scene.depth[far_rows, cols]))
    expected = pose("up-down", 2.0, REF_DEPTH, quarter, n, H).dy
    assert abs(near - expected * k_near) <= 1.0
    assert abs(far - expected * k_far) <= 1.0
    assert abs(near) > abs(far) + 2
    bands = Animator(scene, RenderParams("up-down", 2.0, n, shake=False))
    b0, b1 = (bands.frame(t).permute(1, 2, 0).numpy() for t in (0, quarter))
    assert _shift(b0, b1, near_rows, cols) == _shift(b0, b1, far_rows, cols)


def test_deterministic(photo: Scene, drawn: dict[DisasterType, Scene]) -> None:
    for scene in (photo, drawn[DisasterType.WILDFIRE]):
        params = RenderParams("circular", 1.5, 12)
        a = render_loop(scene, params, parallax="ldi")
        b = render_loop(scene, params, parallax="ldi", workers=1)
        assert np.array_equal(a, b)


def test_static_camera_is_the_image_space_animation(photo: Scene) -> None:
    """No camera move: the splat is the identity, the frames are the fluid animator's own."""
    params = RenderParams("static", 0.0, 6, shake=False)
    ldi = render_loop(photo, params, parallax="ldi")
    bands = render_loop(photo, params, parallax="bands")
    assert np.array_equal(ldi, bands)


@pytest.mark.parametrize("camera", MOVING)
def test_the_camera_path_is_periodic(camera: str) -> None:
    """Frame N would be frame 0 (the loop seams), and consecutive frames move by a small step, the last one
    into frame 0 included."""
    n = 30
    path = CameraPath.of(camera, 2.0, n, W, H, shake=3.0)  # type: ignore[arg-type]
    end = pose(camera, 2.0, REF_DEPTH, n, n, H)  # type: ignore[arg-type]
    first = path.motions[0]
    assert (end.dx, end.dy, end.scale - 1.0) == pytest.approx((first.ax, first.ay, first.s), abs=1e-9)
    steps = [path.motions[(t + 1) % n] for t in range(n)]
    jumps = [abs(a.ax - b.ax) + abs(a.ay - b.ay) for a, b in zip(path.motions, steps, strict=True)]
    assert max(jumps) < 3.0 * (sum(jumps) / n) + 1e-9


def test_loop_seam_frames_match_neighbours(photo: Scene) -> None:
    """The last frame is as close to the first as any two neighbours are (no jump at the seam)."""
    frames = render_loop(photo, RenderParams("circular", 2.0, 16), parallax="ldi").astype(np.float32)
    diffs = [float(np.abs(frames[(t + 1) % 16] - frames[t]).mean()) for t in range(16)]
    assert diffs[-1] <= 1.5 * max(diffs[:-1])


def test_torch_splat_matches_the_kernels(photo: Scene) -> None:
    """The CUDA path's torch ops, run on CPU, make the kernels' frames (to float rounding)."""
    anim = LdiAnimator(photo, RenderParams("dolly", 2.0, 8))
    torch_splat = TorchSplat(anim.ldi, torch.device("cpu"))
    with torch.inference_mode():
        for t in (1, 3, 6):
            still = anim.base.frame(t)
            want = anim.frame(t)
            got = torch_splat.render(still, anim.path.motions[t])
            diff = (want.int() - got.int()).abs()
            assert int(diff.max()) <= 2 and float(diff.float().mean()) < 0.05
    assert torch_splat.holes == 0


@pytest.mark.parametrize("camera", MOVING)
def test_fused_kernel_matches_the_separate_passes(photo: Scene, drawn: dict[DisasterType, Scene],
                                                 camera: str) -> None:  # fmt: skip
    """``kernels.splat_frame`` (bands of rows, runs as shifts) draws what the whole-frame passes draw, to float
    contraction: at most 1 level, on a few pixels; a shake (whole-frame offset) included; a smooth depth map
    (short runs: streamed pixel by pixel) too."""
    for scene in (photo, smooth_like(), *drawn.values()):
        anim = LdiAnimator(scene, RenderParams(camera, 2.0, N))  # type: ignore[arg-type]
        splat = anim.splat
        assert isinstance(splat, NumbaSplat)
        with torch.inference_mode():
            for t in (1, 5, 13, 20):
                still = anim.base.frame(t).permute(1, 2, 0).numpy().copy()
                m = anim.path.motions[t]
                for motion in (m, Motion(m.ax, m.ay, m.s, 1.3, -2.6)):
                    fused, passes = np.empty_like(still), np.empty_like(still)
                    assert splat.render(still, motion, fused) == 0
                    assert splat.render_passes(still, motion, passes) == 0
                    diff = np.abs(fused.astype(np.int16) - passes.astype(np.int16))
                    assert int(diff.max()) <= 1 and int((diff > 0).sum()) <= diff.size // 1000, (
                        scene.backend,
                        t,
                    )


def test_auto_takes_the_ldi_for_depth_maps_only(photo: Scene, drawn: dict[DisasterType, Scene]) -> None:
    assert resolve_parallax("auto", photo) == "ldi"
    assert resolve_parallax("auto", drawn[DisasterType.FLOOD]) == "bands"
    assert resolve_parallax("bands", photo) == "bands"
    assert resolve_parallax("ldi", drawn[DisasterType.FLOOD]) == "ldi"


def test_parallax_is_in_the_cache_key() -> None:
    fields = [
        key_fields(DisasterType.FLOOD, 0, RenderSettings(parallax=p), "procedural", "1")  # type: ignore[arg-type]
        for p in ("auto", "bands", "ldi")
    ]
    assert len({str(f) for f in fields}) == 3


def test_build_keeps_back_layers_behind_the_front(photo: Scene) -> None:
    path = CameraPath.of("circular", 2.0, N, W, H)
    ldi = build_ldi(photo.image, photo.depth, path)
    front = ldi.k[ldi.back_y, ldi.back_x]
    assert ldi.back_points > 0
    assert bool((ldi.back_k < front - ldi.tol).all()), "a back point is not behind the front layer"
    assert ldi.margin >= path.inward(float(ldi.k.max())) - 2
