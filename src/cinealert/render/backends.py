"""Scene backends: one small interface, a registry keyed by name, heavy imports only when a backend is built.

``procedural`` (default, numpy + PIL, no weights) draws every scene; ``ml`` (``render/ml/``) generates one from
a text prompt with local models. ``settings.render.backend`` picks one by name. A backend whose import fails is
reported with the name and the import error, never as a bare ``ModuleNotFoundError`` deep in a render.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from cinealert.cap.model import DisasterType
from cinealert.errors import CinealertError
from cinealert.render.scene import Scene

if TYPE_CHECKING:
    from cinealert.config import Settings
    from cinealert.render.prompt import SceneBrief


@runtime_checkable
class SceneBackend(Protocol):
    """Builds a validated ``Scene``. Must be deterministic in ``(disaster, variant, width, height, seed)``."""

    name: str
    #: bump when output changes, so cached loops of the old drawing are not served (part of the cache key).
    version: str

    def build(self, disaster: DisasterType, variant: int, width: int, height: int, *, seed: int) -> Scene: ...


@runtime_checkable
class BriefedBackend(SceneBackend, Protocol):
    """A backend whose picture follows the alert's words (``SceneBrief``: setting, time of day, weather, severity).

    ``get_loop`` hands such a backend the brief (``build_brief``) and keys its cache entry on the brief too; a
    backend without ``build_brief`` gets ``(disaster, variant)`` only and keeps its key. Must be deterministic in
    ``(brief, width, height, seed)``; ``build(disaster, variant, ...)`` is the brief without alert words.
    """

    def build_brief(self, brief: SceneBrief, width: int, height: int, *, seed: int) -> Scene: ...


class BackendError(RuntimeError, CinealertError):
    """A backend is unknown or cannot be loaded (missing optional dependency, missing model directory)."""


#: called as ``factory(settings=settings)``; ``settings`` is the full ``Settings`` (``None`` = defaults), so the
#: ML backend can read ``settings.ml`` model directories and ``settings.render.device``.
BackendFactory = Callable[..., SceneBackend]


def _unloadable(name: str, module: str, exc: ImportError) -> BackendError:
    return BackendError(f"scene backend {name!r} cannot be loaded from {module}: {exc}")


def _procedural(settings: Settings | None = None) -> SceneBackend:
    """The default backend (numpy + PIL), imported when first built."""
    try:
        from cinealert.render.procedural import ProceduralBackend
    except ImportError as exc:
        raise _unloadable("procedural", "cinealert.render.procedural", exc) from exc
    return ProceduralBackend(settings=settings)


def _ml(settings: Settings | None = None) -> SceneBackend:
    """The ML backend, imported only when it is chosen (its optional dependencies may be missing).

    It needs the whole ``Settings``: its model directories are ``[ml]``. Handed none (a caller that passed
    only ``[render]``), it refuses rather than read defaults or the environment, which once aired the
    built-in stand-ins from a daemon whose config named every model."""
    if settings is None:
        raise BackendError(
            "scene backend 'ml' needs the whole settings ([ml] model directories), not only [render]: "
            "pass Settings to get_loop/build_scene/prewarm"
        )
    try:
        from cinealert.render.ml import MLBackend
    except ImportError as exc:
        raise _unloadable("ml", "cinealert.render.ml", exc) from exc
    return MLBackend(settings=settings)


_REGISTRY: dict[str, BackendFactory] = {"procedural": _procedural, "ml": _ml}
_INSTANCES: dict[tuple[str, int], tuple[object, SceneBackend]] = {}


def register_backend(name: str, factory: BackendFactory) -> None:
    """Register ``factory`` (a callable taking ``settings=``; import heavy modules inside it) under ``name``."""
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
    if not callable(factory):
        raise BackendError(f"scene backend {name!r}: registered factory is not callable")
    backend = factory(settings=settings)
    if not isinstance(backend, SceneBackend):
        raise BackendError(f"scene backend {name!r} does not implement SceneBackend (name, version, build)")
    _INSTANCES[(name, id(settings))] = (settings, backend)
    return backend
