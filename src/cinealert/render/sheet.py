"""Contact sheets and preview files for a scene: what an operator (or a reviewer of docs/scenes) looks at."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw

from cinealert.render.scene import FluidKind, Scene

MASK_COLORS: dict[FluidKind, tuple[int, int, int]] = {
    FluidKind.WATER: (40, 120, 255),
    FluidKind.FIRE: (255, 80, 0),
    FluidKind.SMOKE: (150, 150, 150),
    FluidKind.SNOW: (230, 240, 255),
    FluidKind.RAIN: (90, 200, 255),
    FluidKind.MUD: (150, 90, 30),
    FluidKind.DUST: (220, 190, 140),
    FluidKind.HAZE: (255, 220, 120),
}


def depth_image(depth: npt.NDArray[np.float32]) -> npt.NDArray[np.uint8]:
    """Inverse depth, normalised: near is bright."""
    inv = 1.0 / np.maximum(depth, 1e-3)
    lo, hi = float(inv.min()), float(inv.max())
    norm = (inv - lo) / max(hi - lo, 1e-9)
    return np.clip(norm**0.5 * 255 + 0.5, 0, 255).astype(np.uint8)


def mask_image(scene: Scene) -> npt.NDArray[np.uint8]:
    """Each fluid mask tinted over a dimmed picture (particle kinds, which cover all, are left out)."""
    out = (scene.image.astype(np.float32) * 0.35).astype(np.float32)
    for kind, mask in scene.masks.items():
        if mask.all():
            continue
        color = np.asarray(MASK_COLORS[kind], dtype=np.float32)
        out[mask] = out[mask] * 0.3 + color * 0.7
    return np.clip(out, 0, 255).astype(np.uint8)


def contact_sheet(
    scene: Scene, frames: Sequence[npt.NDArray[np.uint8]], tile_width: int = 480
) -> Image.Image:
    """3 columns: picture, depth, masks, then the sample frames; each tile labelled."""
    tile_h = round(tile_width * scene.height / scene.width)
    tiles: list[tuple[str, npt.NDArray[np.uint8]]] = [
        (f"{scene.disaster.value} v{scene.variant} ({scene.backend})", scene.image),
        ("depth (near = bright)", np.repeat(depth_image(scene.depth)[..., None], 3, axis=2)),
        ("masks: " + ", ".join(sorted(k.value for k in scene.masks)), mask_image(scene)),
    ]
    step = max(1, len(frames) // 6)
    tiles += [(f"frame {i}", frames[i]) for i in range(0, len(frames), step)][:6]
    cols = 3
    rows = (len(tiles) + cols - 1) // cols
    sheet = Image.new("RGB", (cols * tile_width, rows * tile_h), (20, 20, 20))
    draw = ImageDraw.Draw(sheet)
    for i, (label, arr) in enumerate(tiles):
        img = Image.fromarray(arr).resize((tile_width, tile_h), Image.Resampling.LANCZOS)
        x, y = (i % cols) * tile_width, (i // cols) * tile_h
        sheet.paste(img, (x, y))
        draw.rectangle((x, y, x + 8 + 7 * len(label), y + 16), fill=(0, 0, 0))
        draw.text((x + 4, y + 2), label, fill=(255, 255, 255))
    return sheet


def write_mp4(frames: Sequence[npt.NDArray[np.uint8]], path: Path, fps: Fraction) -> None:
    """A preview clip (H.264, yuv420p, CRF 20) written to a temp name and renamed."""
    import av

    h, w = frames[0].shape[:2]
    tmp = path.with_suffix(".part.mp4")
    with av.open(str(tmp), mode="w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height = w - w % 2, h - h % 2
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "20", "preset": "veryfast"}
        for arr in frames:
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(arr[: h - h % 2, : w - w % 2]), format="rgb24"
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tmp.replace(path)


def write_scene_files(scene: Scene, out: Path) -> list[Path]:
    """Layers (RGBA PNG), masks (PNG), depth (PNG) and the composite picture."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, layer in enumerate(scene.layers):
        p = out / "layers" / f"{i:02d}_{layer.name.replace(' ', '_')}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(layer.rgba).save(p)
        written.append(p)
    for kind, mask in scene.masks.items():
        p = out / "masks" / f"{kind.value}.png"
        p.parent.mkdir(exist_ok=True)
        Image.fromarray(mask.astype(np.uint8) * 255).save(p)
        written.append(p)
    for name, arr in (("depth.png", depth_image(scene.depth)), ("image.png", scene.image)):
        Image.fromarray(arr).save(out / name)
        written.append(out / name)
    return written
