"""An entry's ``scene.npz``: the scene's layers, depth, masks and motion, plus its metadata as JSON.

Apart from the cache proper because it is a file format (the CLI reads it back on its own too) and knows
nothing of keys, tiers or eviction. ``save_scene`` writes the stacked arrays part by part so that saving never
makes one more full copy of the layers while a render is at its peak; the bytes are those ``np.savez`` writes.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from cinealert.cap.model import DisasterType
from cinealert.render.scene import FluidKind, Layer, Scene


def _write_stacked(zf: zipfile.ZipFile, name: str, parts: list[Any], empty: Any) -> None:
    """Write ``np.stack(parts)`` as ``name.npy`` into ``zf`` one part at a time: the same bytes ``np.savez``
    writes, without building the stacked copy (~60-100 MB at 1080p, made while a render is at its peak)."""
    arrays = [np.ascontiguousarray(a) for a in parts]
    first = arrays[0] if arrays else empty
    if any(a.shape != first.shape or a.dtype != first.dtype for a in arrays):
        raise ValueError(f"{name}: parts differ in shape or dtype")
    shape = (len(arrays), *first.shape) if arrays else empty.shape
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False, "shape": shape}
    with zf.open(f"{name}.npy", "w", force_zip64=True) as fh:
        np.lib.format.write_array_header_1_0(fh, header)
        for a in arrays:
            fh.write(a.data.cast("B"))


def save_scene(scene: Scene, path: Path) -> None:
    kinds = sorted(scene.motion)
    mask_kinds = sorted(scene.masks)
    stacked: dict[str, tuple[list[Any], Any]] = {
        "layers": ([layer.rgba for layer in scene.layers], np.zeros((0, 1, 1, 4), np.uint8)),
        "masks": ([scene.masks[k] for k in mask_kinds], np.zeros((0, 1, 1), bool)),
        "motion": ([scene.motion[k] for k in kinds], np.zeros((0, 1, 1, 2), np.float32)),
    }
    arrays: dict[str, Any] = {"image": scene.image, "depth": scene.depth}
    for i, layer in enumerate(scene.layers):
        if layer.fluid_mask is not None:
            arrays[f"fluid_mask_{i}"] = layer.fluid_mask
        if isinstance(layer.depth, np.ndarray):  # flat cards keep their scalar depth in the metadata
            arrays[f"layer_depth_{i}"] = layer.depth
    meta = {
        "disaster": scene.disaster.value,
        "variant": scene.variant,
        "backend": scene.backend,
        "prompt": scene.prompt,
        "seed": scene.seed,
        "shake": scene.shake,
        "mask_kinds": [k.value for k in mask_kinds],
        "motion_kinds": [k.value for k in kinds],
        "layers": [
            {
                "name": layer.name,
                "scalar_depth": None if isinstance(layer.depth, np.ndarray) else float(layer.depth),
                "fluid": layer.fluid.value if layer.fluid else None,
                "wrap": layer.wrap,
                "velocity": list(layer.velocity) if layer.velocity else None,
                "sway": layer.sway,
            }
            for layer in scene.layers
        ],
    }
    arrays["meta"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    with path.open("wb") as fh, zipfile.ZipFile(fh, mode="w", compression=zipfile.ZIP_STORED) as zf:
        for name, (parts, empty) in stacked.items():
            _write_stacked(zf, name, parts, empty)
        for name, value in arrays.items():
            with zf.open(f"{name}.npy", "w", force_zip64=True) as out:
                np.lib.format.write_array(out, np.asanyarray(value), allow_pickle=False)


def load_scene(path: Path) -> Scene:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        # each ``z[name]`` reads the whole array again: read every stacked array once, not once per element
        rgba, mask_stack, motion_stack = z["layers"], z["masks"], z["motion"]
        layers = []
        for i, info in enumerate(meta["layers"]):
            depth = info["scalar_depth"] if info["scalar_depth"] is not None else z[f"layer_depth_{i}"]
            fmask = z[f"fluid_mask_{i}"] if f"fluid_mask_{i}" in z.files else None
            velocity = tuple(info["velocity"]) if info["velocity"] else None
            layers.append(
                Layer(
                    info["name"],
                    rgba[i],
                    depth,
                    FluidKind(info["fluid"]) if info["fluid"] else None,
                    fmask,
                    info["wrap"],
                    velocity,
                    info["sway"],
                )
            )
        masks = {FluidKind(k): mask_stack[i] for i, k in enumerate(meta["mask_kinds"])}
        motion = {FluidKind(k): motion_stack[i] for i, k in enumerate(meta["motion_kinds"])}
        h, w = z["image"].shape[:2]
        return Scene(
            disaster=DisasterType(meta["disaster"]), variant=meta["variant"], width=w, height=h,
            layers=tuple(layers), masks=masks, motion=motion, image=z["image"], depth=z["depth"],
            backend=meta["backend"], prompt=meta["prompt"], seed=meta["seed"], shake=meta["shake"],
        ).validate()  # fmt: skip
