"""One interface for the two ways a frame is composited, and the one place that picks between them.

The animator places every layer (``render.prepared.Window``), cuts the frame into bands and skips what an opaque
layer hides; a ``BandCompositor`` turns the windows of one band into bytes. Which one is decided once per
animator, here: a CUDA device takes the torch compositor (whole-frame bands, no kernels); a CPU takes the fused
numba kernels when they load, else the torch compositor on 128-row bands (``render.kernels_unavailable`` is
logged once per process). Both compute the same frames (``tests/test_render_kernels.py`` bounds the difference).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from cinealert.render import compositor_fused
from cinealert.render.compositor_fused import FusedCompositor
from cinealert.render.compositor_torch import TorchCompositor

if TYPE_CHECKING:
    from torch import Tensor

    from cinealert.render.prepared import Geometry, PreparedLayer, Window


class BandCompositor(Protocol):
    """Composites one band of screen rows of a frame from the layers' windows and writes it as RGB bytes."""

    #: "fused" or "torch" (logs, tests)
    name: str
    #: screen rows per band (the animator's opaque-layer skip works per band)
    band_rows: int

    def band(self, t: int, s0: int, s1: int, windows: Sequence[Window], dst: Tensor, backdrop: bool) -> None:
        """Rows ``s0:s1`` of frame ``t``, ``windows`` far -> near, into ``dst`` (an (H, W, 3) uint8 tensor);
        ``backdrop``: the first window covers every pixel of the band, so the band needs no zero fill."""


def choose_compositor(
    geo: Geometry, layers: Sequence[PreparedLayer], fused: bool | None = None
) -> BandCompositor:
    """The compositor for this device: fused on CPU unless ``fused`` is False or the kernels do not load."""
    if geo.device.type == "cpu" and (fused if fused is not None else True):
        kernels = compositor_fused.KERNELS.get()  # looked up now: tests swap the handle
        if kernels is not None:
            return FusedCompositor(geo, layers, kernels)
    return TorchCompositor(geo)
