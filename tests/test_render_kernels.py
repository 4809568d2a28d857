"""The fused CPU kernels against the torch path they replace on CPU: same frames to rounding, every type and
camera; the 1080p shortcuts (water warped every 2nd column, mud and fire every 2nd px, smoke every 4th) stay
close to it and keep motion confined; without numba the torch path renders instead."""

from __future__ import annotations

import sys

import numpy as np
import pytest
import structlog
import torch

from cinealert import render
from cinealert.cap.model import DisasterType
from cinealert.render import compositor_fused
from cinealert.render.animate import Animator, RenderParams, kernels_ready
from cinealert.render.procedural import ProceduralBackend

ALL = list(DisasterType)
CAMERAS = ["static", "circular", "up-down", "dolly"]


@pytest.fixture(scope="module")
def small() -> dict[DisasterType, object]:
    # 180 rows: two compositing bands, so band edges are crossed
    backend = ProceduralBackend()
    return {d: backend.build(d, 1, 320, 180, seed=0) for d in ALL}


def _frames(anim: Animator, ts: list[int]) -> np.ndarray:
    out = []
    with torch.inference_mode():
        for t in ts:
            frame = torch.from_numpy(np.empty((anim.h, anim.w, 3), np.uint8))
            anim.frame_into(t, frame)
            out.append(frame.numpy().copy())
    return np.stack(out)


def _diff(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a.astype(np.int16) - b.astype(np.int16))


def test_kernels_compile_here() -> None:
    assert kernels_ready(), "numba is a dependency: the fused CPU path must be available in the test env"


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_fused_frames_match_the_torch_path(small, disaster: DisasterType, camera: str) -> None:
    params = RenderParams(camera, 1.5, 24)  # type: ignore[arg-type]
    fused = Animator(small[disaster], params, fused=True)
    plain = Animator(small[disaster], params, fused=False)
    assert fused.fused and not plain.fused
    ts = [0, 5, 11, 17, 23]
    d = _diff(_frames(fused, ts), _frames(plain, ts))
    # the fused warp samples the displacement at every pixel (torch: every 4th, filled in), so sharp fluid
    # detail may differ by a few levels on a few pixels; everything else is the same arithmetic
    assert d.mean() < 0.1, f"mean difference {d.mean():.3f} levels"
    assert (d > 2).mean() < 0.005, f"{(d > 2).mean():.2%} of values differ by more than 2 levels"


@pytest.mark.parametrize(
    "disaster", [DisasterType.FLOOD, DisasterType.WILDFIRE, DisasterType.LANDSLIDE], ids=lambda d: d.value
)
def test_fused_1080p_shortcuts_stay_close_and_confined(disaster: DisasterType) -> None:
    scene = ProceduralBackend().build(disaster, 0, 1920, 1080, seed=0)
    circ = RenderParams("circular", 1.0, 30)
    d = _diff(
        _frames(Animator(scene, circ, fused=True), [3, 16]),
        _frames(Animator(scene, circ, fused=False), [3, 16]),
    )
    assert d.mean() < 0.1 and (d > 8).mean() < 0.002, (d.mean(), (d > 8).mean())
    # under a static camera nothing outside the fluid masks (dilated 1 px for bilinear edges) may change
    still = Animator(scene, RenderParams("static", 1.0, 30, shake=False), fused=True)
    frames = _frames(still, [0, 7, 19])
    moving = np.zeros((1080, 1920), bool)
    for mask in scene.masks.values():
        moving |= mask
    grown = moving.copy()
    for dy in (-1, 0, 1):
        for dx in (-1, 0, 1):
            grown |= np.roll(np.roll(moving, dy, axis=0), dx, axis=1)
    changed = (_diff(frames[1:], frames[0][None]).max(axis=-1) > 2).any(axis=0)
    assert not (changed & ~grown).any(), f"{(changed & ~grown).sum()} px outside the fluid masks changed"
    assert changed[moving].mean() > 0.02


def test_without_numba_the_torch_path_renders(small, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(compositor_fused, "KERNELS", compositor_fused.KernelsHandle())  # not loaded yet
    monkeypatch.setitem(sys.modules, "cinealert.render.kernels", None)  # import fails as if not installed
    monkeypatch.delattr(render, "kernels", raising=False)
    scene = small[DisasterType.TYPHOON]
    params = RenderParams("circular", 1.0, 12)
    with structlog.testing.capture_logs() as logs:
        anim = Animator(scene, params)
        assert not anim.fused and not Animator(scene, params).fused
    assert [e["event"] for e in logs].count("render.kernels_unavailable") == 1, "logged once per process"
    reference = Animator(scene, params, fused=False)
    assert np.array_equal(_frames(anim, [0, 6]), _frames(reference, [0, 6]))


@pytest.mark.parametrize("disaster", [DisasterType.FLOOD, DisasterType.WILDFIRE], ids=lambda d: d.value)
def test_skipping_points_no_moving_pixel_reads_changes_nothing(
    disaster: DisasterType, monkeypatch: pytest.MonkeyPatch
) -> None:
    """At 1080p the fluids' colour is warped at every 2nd (water: column; fire: px) or 4th (smoke) point and
    interpolated; points no moving pixel reads are skipped (``compositor_fused.need``). Warping every point
    instead draws the same bytes, and the skip is real (fire fills under half its window)."""
    scene = ProceduralBackend().build(disaster, 0, 1920, 1080, seed=0)
    params = RenderParams("circular", 1.0, 30)
    skipping = Animator(scene, params, fused=True)
    wanted = [v.need for v in skipping.compositor._views if v.need is not None]  # type: ignore[union-attr]
    assert wanted and min(float(n.mean()) for n in wanted) < 0.9
    monkeypatch.setattr(compositor_fused, "need", lambda weight, sy, sx: np.ones(weight.shape, np.bool_))
    every = Animator(scene, params, fused=True)
    assert np.array_equal(_frames(skipping, [2, 17]), _frames(every, [2, 17]))
