"""Layered-depth-image parallax: per-pixel 3D camera moves over a still lifted to layers (3D photography).

``render.ldi.build`` lifts the still and its depth into an LDI (front layer + inpainted back layers at depth
edges), ``render.ldi.path`` turns the camera path into one linear motion per frame, ``render.ldi.splat``
forward-splats a frame with a z-buffer (numba kernels in ``render.ldi.kernels`` on CPU, torch on CUDA), and
``render.ldi.animator`` drives it behind ``render.animate.render_loop`` (``parallax = "ldi"``). Importing this
package imports neither torch nor numba.
"""

from __future__ import annotations

from cinealert.render.ldi.animator import PARALLAX, LdiAnimator, Parallax, has_depth_map, resolve_parallax
from cinealert.render.ldi.build import Ldi, build_ldi
from cinealert.render.ldi.path import CameraPath, Motion

__all__ = ["PARALLAX", "CameraPath", "Ldi", "LdiAnimator", "Motion", "Parallax", "build_ldi", "has_depth_map",
           "resolve_parallax"]  # fmt: skip
