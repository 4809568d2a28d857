"""Scene backends: one small interface, a registry keyed by name, heavy imports only when a backend is built.

``procedural`` (default, numpy + PIL, no weights) draws every scene; ``ml`` (``render/ml/``) generates one from
a text prompt with local models. ``settings.render.backend`` picks one by name. A backend whose import fails is
reported with the name and the import error, never as a bare ``ModuleNotFoundError`` deep in a render.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cinealert.cap.model import DisasterType
from cinealert.errors import CinealertError
from cinealert.render.scene import Scene

if TYPE_CHECKING:
    from cinealert.config import Settings


@runtime_checkable
class SceneBackend(Protocol):
    """Builds a validated ``Scene``. Must be deterministic in ``(disaster, variant, width, height, seed)``."""

    name: str
    #: bump when output changes, so cached loops of the old drawing are not served (part of the cache key).
    version: str

    def build(self, disaster: DisasterType, variant: int, width: int, height: int, *, seed: int) -> Scene: ...


class BackendError(RuntimeError, CinealertError):
    """A backend is unknown or cannot be loaded (missing optional dependency, missing model directory)."""


#: called as ``factory(settings=settings)``; ``settings`` is the full ``Settings`` (``None`` = defaults), so the
#: ML backend can read ``settings.ml`` model directories and ``settings.render.device``.
BackendFactory = Callable[..., SceneBackend]

_REGISTRY: dict[str, str | BackendFactory] = {
    "procedural": "cinealert.render.procedural:ProceduralBackend",
    "ml": "cinealert.render.ml:MLBackend",
}
_INSTANCES: dict[tuple[str, int], tuple[object, SceneBackend]] = {}


def register_backend(name: str, factory: str | BackendFactory) -> None:
    """Register ``factory`` (a callable taking ``settings=`` or a ``"module:attr"`` path) under ``name``."""
    _REGISTRY[name] = factory
    for key in [k for k in _INSTANCES if k[0] == name]:
        del _INSTANCES[key]


def backend_names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get_backend(name: str, settings: Settings | None = None) -> SceneBackend:
    """The backend instance for ``name`` (one per settings object); ``BackendError`` says why it cannot be had."""
    cached = _INSTANCES.get((name, id(settings)))
    if cached is not None and cached[0] is settings:
        return cached[1]
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise BackendError(f"unknown scene backend {name!r}; known: {', '.join(_REGISTRY)}") from None
    if isinstance(factory, str):
        module_name, _, attr = factory.partition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as exc:
            raise BackendError(f"scene backend {name!r} cannot be loaded from {module_name}: {exc}") from exc
    if not callable(factory):
        raise BackendError(f"scene backend {name!r}: registered factory is not callable")
    backend = factory(settings=settings)
    if not isinstance(backend, SceneBackend):
        raise BackendError(f"scene backend {name!r} does not implement SceneBackend (name, version, build)")
    _INSTANCES[(name, id(settings))] = (settings, backend)
    return backend
