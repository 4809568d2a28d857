"""Files the console serves from the outputs: the path checks and the scene thumbnail.

Every file route resolves ``<channel output root>/<slug>/<name>`` and refuses anything that is not a plain file
inside that root: names are one path segment of ``[A-Za-z0-9._-]`` not starting with a dot, and the resolved
path (symlinks followed) must still lie under the root.
"""

from __future__ import annotations

import io
import re
import threading
from collections import OrderedDict
from pathlib import Path

from cinealert.errors import CinealertError

SEGMENT = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9._-]{0,199}")
TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t", ".vtt": "text/vtt", ".m4s": "video/iso.segment",
    ".mp4": "video/mp4", ".mpd": "application/dash+xml", ".json": "application/json", ".png": "image/png",
    ".xml": "application/xml", ".ttml": "application/ttml+xml", ".aac": "audio/aac", ".jpg": "image/jpeg",
}  # fmt: skip
THUMB_WIDTH = 320


class FileRefusedError(CinealertError):
    """A file route asked for something outside the outputs (a traversal, a hidden or odd name)."""


def output_file(root: Path, slug: str, name: str) -> Path:
    """The file ``name`` of output ``slug`` under ``root``; ``FileRefusedError`` for anything else."""
    for part in (slug, name):
        if SEGMENT.fullmatch(part) is None:
            raise FileRefusedError(f"refused path segment {part!r}")
    base = root.resolve()
    path = (base / slug / name).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        raise FileRefusedError(f"no such output file: {slug}/{name}")
    return path


def content_type(path: Path) -> str:
    return TYPES.get(path.suffix.lower(), "application/octet-stream")


class Thumbnails:
    """The first decoded picture of an output's first segment, as a small JPEG (kept in memory, bounded)."""

    def __init__(self, items: int = 256) -> None:
        self.items = items
        self._cache: OrderedDict[Path, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, segment: Path) -> bytes:
        with self._lock:
            found = self._cache.get(segment)
        if found is not None:
            return found
        data = _first_frame_jpeg(segment)
        with self._lock:
            self._cache[segment] = data
            while len(self._cache) > self.items:
                self._cache.popitem(last=False)
        return data


def _first_frame_jpeg(segment: Path) -> bytes:
    import av

    with av.open(str(segment)) as container:
        stream = container.streams.video[0]
        frame = next(container.decode(stream))
        image = frame.to_image()  # type: ignore[no-untyped-call]
    height = max(1, round(image.height * THUMB_WIDTH / image.width))
    out = io.BytesIO()
    image.resize((THUMB_WIDTH, height)).save(out, format="JPEG", quality=80)
    return out.getvalue()
