"""Where a cold LDI render's time goes, stage by stage (issue 15): per-stage timers, one thread per stage.

    .venv/bin/python bench/bench_ldi_stages.py                      # flood and wildfire, 1080p, circular
    .venv/bin/python bench/bench_ldi_stages.py --types all --frames 12
    .venv/bin/python bench/bench_ldi_stages.py --backend ml        # the photo path (stand-ins): smooth depth

Per type: the scene build, the animator at rest (fluid preparation, with the LDI built beside it), the LDI build
alone (and its Telea inpainting), then per frame over the loop the fluid frame at rest, the splat, the warp that
stands in for it where the depth has no edge (``render.ldi.warp``: the photo path) and the lz4 of the result (the
cache sink's codec), each the median and minimum over ``--frames`` frames spread over the loop. The wall time of
a cold render is about: build + animator + frames x (fluid + (warp or splat) + lz4) / render threads.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import cv2
import numpy as np
import torch

import cinealert.render.ldi.build as ldi_build
from cinealert.cap.model import DisasterType
from cinealert.config.sections import RenderSettings
from cinealert.render import service
from cinealert.render.animate import RenderParams
from cinealert.render.backends import get_backend
from cinealert.render.ldi.animator import LdiAnimator, at_zoom
from cinealert.render.ldi.splat import NumbaSplat


def _ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1e3:5.1f} ms (min {min(values) * 1e3:5.1f})"


def stages(kind: DisasterType, width: int, height: int, camera: str, frames: int, backend: str) -> None:
    import lz4.block  # type: ignore[import-untyped]

    from cinealert.config.settings import Settings

    # the ml backend builds only with the whole Settings (its [ml] section); the defaults are the stand-ins
    settings = Settings() if backend == "ml" else None
    t0 = time.perf_counter()
    scene = get_backend(backend, settings).build(kind, 0, width, height, seed=service.SCENE_SEED)
    t1 = time.perf_counter()
    anim = LdiAnimator(scene, RenderParams(camera, 1.0, 180))  # type: ignore[arg-type]
    t2 = time.perf_counter()
    still = np.asarray(at_zoom(scene.image, anim.base.zoom, nearest=False), np.uint8)
    depth = np.asarray(at_zoom(scene.depth, anim.base.zoom, nearest=True), np.float32)
    painted = [0.0]
    telea = ldi_build.inpaint

    def timed(*args: object, **kwargs: object) -> np.ndarray:
        s = time.perf_counter()
        out = telea(*args, **kwargs)  # type: ignore[arg-type]
        painted[0] += time.perf_counter() - s
        return out

    ldi_build.inpaint = timed
    try:
        s = time.perf_counter()
        ldi_build.build_ldi(still, depth, anim.path)
        lift = time.perf_counter() - s
    finally:
        ldi_build.inpaint = telea
    print(f"{kind.value:11s} scene {t1 - t0:.2f} s, animator at rest + LDI {t2 - t1:.2f} s (LDI alone {lift:.2f} s, "
          f"inpaint {painted[0]:.2f} s; {anim.ldi.layers} layers, {anim.ldi.back_points} back points)")  # fmt: skip
    if not isinstance(anim.splat, NumbaSplat):
        raise SystemExit("the LDI's numba kernels did not load (render.ldi_kernels_unavailable)")
    frame = np.empty((height, width, 3), np.uint8)
    four = np.empty((height, width, 4), np.uint8)  # the warp's still, as the animator hands it
    out = np.empty_like(frame)
    fluid: list[float] = []
    splat: list[float] = []
    warped: list[float] = []
    packed: list[float] = []
    with torch.inference_mode():
        for t in np.linspace(0, anim.n - 1, frames).astype(int):
            s = time.perf_counter()
            anim.base.frame_into(int(t), torch.from_numpy(frame))
            m = time.perf_counter()
            anim.splat.render(frame, anim.path.motions[int(t)], out)
            e = time.perf_counter()
            lz4.block.compress(out.data, store_size=False)
            fluid.append(m - s)
            splat.append(e - m)
            packed.append(time.perf_counter() - e)
            if anim.warp is not None:  # what the animator draws instead of the splat (render.ldi.warp)
                four[..., :3] = frame
                s = time.perf_counter()
                anim.warp.render(four, anim.path.motions[int(t)], out)
                warped.append(time.perf_counter() - s)
    warp = "no warp (depth edges)"
    if anim.warp is not None:
        warp = f"warp {_ms(warped)} ({anim.warp.declined} declined, {anim.warp.exact_cells} cells solved exactly)"
    print(f"{'':11s} per frame: fluid at rest {_ms(fluid)}, splat {_ms(splat)}, {warp}, lz4 {_ms(packed)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--types", nargs="+", default=["flood", "wildfire"], help="'all' or type names")
    parser.add_argument("--resolution", default="1080p", choices=sorted(service.RESOLUTIONS))
    parser.add_argument("--camera", default="circular")
    parser.add_argument("--frames", type=int, default=30, help="frames timed per type, spread over the loop")
    parser.add_argument(
        "--backend", default="procedural", choices=["procedural", "ml"], help="render.backend"
    )
    args = parser.parse_args()
    types = list(DisasterType) if args.types == ["all"] else [DisasterType(t) for t in args.types]
    width, height = service.RESOLUTIONS[args.resolution]
    warm = service.warm_renderer(RenderSettings(parallax="ldi"))
    torch.set_num_threads(1)
    cv2.setNumThreads(1)  # one thread per stage, as when frames render side by side
    print(f"kernels ready in {warm:.2f} s; load {os.getloadavg()[0]:.1f}; {args.resolution}, {args.camera}")
    for kind in types:
        stages(kind, width, height, args.camera, args.frames, args.backend)


if __name__ == "__main__":
    main()
