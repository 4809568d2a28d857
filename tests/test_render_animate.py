"""Animation properties on every disaster type: confined motion, seamless loops, no holes, flash safety."""

from __future__ import annotations

import dataclasses
import threading
from fractions import Fraction

import numpy as np
import pytest

from cinealert.cap.model import DisasterType
from cinealert.render import RenderCancelled
from cinealert.render.animate import Animator, RenderParams, render_loop, shake_offset, wraps_per_loop
from cinealert.render.camera import CAMERAS, cover_zoom, max_shift, pose
from cinealert.render.flash import check_flashes
from cinealert.render.loop import NTSC_FPS
from cinealert.render.procedural import ProceduralBackend

W, H = 160, 90
ALL = list(DisasterType)


@pytest.fixture(scope="module")
def scenes() -> dict[DisasterType, object]:
    backend = ProceduralBackend()
    return {d: backend.build(d, 0, W, H, seed=0) for d in ALL}


def _dilate(mask: np.ndarray, r: int) -> np.ndarray:
    out = mask.copy()
    for dy in range(-r, r + 1):
        for dx in range(-r, r + 1):
            out |= np.roll(np.roll(mask, dy, axis=0), dx, axis=1)
    return out


@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_static_camera_moves_only_the_fluids(scenes, disaster: DisasterType) -> None:
    scene = scenes[disaster]
    frames = render_loop(scene, RenderParams("static", 1.0, 16, shake=False))
    moving = np.zeros((H, W), dtype=bool)
    for mask in scene.masks.values():
        moving |= mask
    changed = np.zeros((H, W), dtype=bool)
    for f in frames[1:]:
        changed |= np.abs(f.astype(np.int16) - frames[0]).max(axis=-1) > 2
    outside = changed & ~_dilate(moving, 1)
    assert not outside.any(), f"{outside.sum()} pixels outside the fluid masks changed"
    assert changed[moving].mean() > 0.02, "the fluids must visibly move"
    # at rest (no cover zoom needed), frame 0 is the scene's own picture wherever nothing moves
    if Animator(scene, RenderParams("static", 1.0, 16, shake=False)).zoom == 1.0 and not moving.all():
        assert np.abs(frames[0].astype(np.int16) - scene.image)[~_dilate(moving, 1)].max() <= 2


@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_loop_is_seamless_and_flash_safe(scenes, disaster: DisasterType) -> None:
    scene = scenes[disaster]
    n = 36
    frames = render_loop(scene, RenderParams("circular", 1.0, n))
    steps = [np.abs(frames[i + 1].astype(np.int16) - frames[i]).mean() for i in range(n - 1)]
    seam = np.abs(frames[0].astype(np.int16) - frames[-1]).mean()
    assert seam <= 1.5 * float(np.median(steps)) + 0.05, (seam, np.median(steps))
    assert max(steps) > 0.05, "the loop must move"
    report = check_flashes(frames, NTSC_FPS)
    assert report.passed, report.summary()


@pytest.mark.parametrize("camera", CAMERAS)
@pytest.mark.parametrize("disaster", ALL, ids=lambda d: d.value)
def test_no_holes_at_max_amplitude(scenes, disaster: DisasterType, camera: str) -> None:
    """Paint every layer white (keeping its alpha): any pixel below white shows the empty background."""
    scene = scenes[disaster]
    white = []
    for layer in scene.layers:
        rgba = layer.rgba.copy()
        rgba[..., :3] = 255
        white.append(dataclasses.replace(layer, rgba=rgba))
    probe = dataclasses.replace(scene, layers=tuple(white))
    frames = render_loop(probe, RenderParams(camera, 2.0, 12))  # type: ignore[arg-type]
    assert frames.min() >= 254, (
        f"hole: min {frames.min()} in frame {int(np.argmin(frames.min(axis=(1, 2, 3))))}"
    )


def test_holes_would_show_without_cover_zoom(scenes, monkeypatch: pytest.MonkeyPatch) -> None:
    """The hole test can fail: bring every layer (sky too) to the nearest depth, so the sky moves as much as
    the foreground; with the cover zoom the frame stays covered, without it the background shows."""
    import cinealert.render.animate as animate

    scene = scenes[DisasterType.FLOOD]
    white = []
    for layer in scene.layers:
        rgba = layer.rgba.copy()
        rgba[..., :3] = 255
        white.append(dataclasses.replace(layer, rgba=rgba, depth=7.0))
    probe = dataclasses.replace(scene, layers=tuple(white))
    covered = render_loop(probe, RenderParams("circular", 2.0, 16))
    assert covered.min() >= 254
    monkeypatch.setattr(animate, "cover_zoom", lambda *a, **k: 1.0)
    holes = render_loop(probe, RenderParams("circular", 2.0, 16))
    assert holes.min() < 100


def test_camera_parallax_and_periodicity() -> None:
    near = pose("circular", 1.0, 5.0, 10, 40, 1080)
    far = pose("circular", 1.0, 500.0, 10, 40, 1080)
    assert abs(near.dx) > 50 * abs(far.dx) > 0
    for camera in CAMERAS:
        a, b = pose(camera, 2.0, 7.0, 0, 30, 1080), pose(camera, 2.0, 7.0, 30, 30, 1080)
        assert (a.dx, a.dy, a.scale) == pytest.approx((b.dx, b.dy, b.scale), abs=1e-9)
    dolly = [pose("dolly", 1.0, 7.0, t, 30, 1080).scale for t in range(30)]
    assert min(dolly) == 1.0 and max(dolly) > 1.02
    assert cover_zoom(1920, 1080, max_shift("static", 2.0, 7.0, 1080)) == 1.0
    assert cover_zoom(1920, 1080, max_shift("circular", 2.0, 7.0, 1080)) > 1.0


def test_particles_and_shake_loop_exactly() -> None:
    assert wraps_per_loop((0.0, 0.1), 30, 192, 108) == (0, 1)  # too slow: still one full wrap per loop
    assert wraps_per_loop((-9.0, 22.0), 180, 1920, 1080) == (-1, 4)
    assert shake_offset(0, 60, 9.0) == (0.0, 0.0)
    assert max(abs(shake_offset(t, 60, 9.0)[0]) for t in range(60)) > 2.0
    assert abs(shake_offset(59, 60, 9.0)[0]) < 0.5


def test_earthquake_shakes_the_whole_frame(scenes) -> None:
    scene = scenes[DisasterType.EARTHQUAKE]
    calm = render_loop(scene, RenderParams("static", 0.0, 30, shake=False))
    shaken = render_loop(scene, RenderParams("static", 0.0, 30, shake=True))
    # the building band (no fluid there) moves only when shaking
    band = slice(H // 3, H // 2)
    assert (
        np.abs(calm[5][band].astype(int) - calm[0][band]).mean()
        < np.abs(shaken[5][band].astype(int) - shaken[0][band]).mean()
    )


def test_cancel_stops_between_frames(scenes) -> None:
    cancel = threading.Event()
    anim = Animator(scenes[DisasterType.FLOOD], RenderParams("circular", 1.0, 20))
    frames = anim.frames(cancel)
    next(frames)
    cancel.set()
    with pytest.raises(RenderCancelled):
        next(frames)


def test_flash_check_fails_on_strobes_and_red_flashes() -> None:
    fps = Fraction(30)
    black = np.zeros((90, 160, 3), np.uint8)
    white = np.full((90, 160, 3), 255, np.uint8)
    strobe = check_flashes([white if i % 4 < 2 else black for i in range(60)], fps)
    assert not strobe.passed and strobe.max_flashes_per_s > 3
    assert strobe.flash_frames
    slow = check_flashes([white if (i // 15) % 2 else black for i in range(60)], fps)
    assert slow.passed, slow.summary()  # one flash a second is allowed
    grey = np.full((90, 160, 3), 128, np.uint8)
    red = np.zeros((90, 160, 3), np.uint8)
    red[..., 0] = 255
    reds = check_flashes([red if i % 4 < 2 else grey for i in range(60)], fps)
    assert reds.max_flashes_per_s <= 3  # same luminance: no general flash ...
    assert not reds.passed and reds.max_red_flashes_per_s > 3  # ... but a red flash
    small = white.copy()
    small[:] = 0
    small[:20, :20] = 255  # 2.8 % of the screen: under the area threshold
    tiny = check_flashes([small if i % 2 else black for i in range(60)], fps)
    assert tiny.passed


def test_concurrent_renders_restore_the_thread_setting(scenes) -> None:
    import torch

    before = torch.get_num_threads()
    results: list[np.ndarray] = []

    def render(d: DisasterType) -> None:
        results.append(render_loop(scenes[d], RenderParams("circular", 1.0, 6)))

    jobs = [threading.Thread(target=render, args=(d,)) for d in (DisasterType.FLOOD, DisasterType.OTHER)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(timeout=120)
    assert len(results) == 2
    assert torch.get_num_threads() == before
