"""Backend registry. Adding a backend: one module here that calls
:func:`register_backend`, and its name in ``BACKEND_MODULES``.
"""

from __future__ import annotations

import importlib
from pathlib import Path

from depth_ros.core.backends.base import Backend, BackendRequest, BackendSpec
from depth_ros.core.errors import ConfigError
from depth_ros.core.registry import Registry

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendRequest",
    "BackendSpec",
    "backend_for_weights",
    "create_backend",
    "register_backend",
]

BACKEND_MODULES: tuple[str, ...] = ("torch_backend", "onnxruntime_backend", "tensorrt_backend")

BACKENDS: Registry[BackendSpec] = Registry("backend")
_loaded = False


def register_backend(spec: BackendSpec) -> BackendSpec:
    return BACKENDS.register(spec.name, spec)


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in BACKEND_MODULES:
            importlib.import_module(f"depth_ros.core.backends.{name}")


def backend_for_weights(weights: Path | str) -> str:
    """The default backend for a weights file, from its extension."""
    _load()
    name = str(weights).lower()
    for backend in BACKENDS:
        if any(name.endswith(ext) for ext in BACKENDS.get(backend).extensions):
            return backend
    known = sorted(e for b in BACKENDS for e in BACKENDS.get(b).extensions)
    raise ConfigError(
        f"cannot tell the backend of weights file {weights!s} from its extension; "
        f"known: {', '.join(known)}; set the backend explicitly"
    )


def create_backend(name: str | None, request: BackendRequest) -> Backend:
    """Create a backend; ``name`` None or "auto" picks it from ``request.weights``."""
    _load()
    if not name or name == "auto":
        if request.weights is None:
            raise ConfigError("no weights file given and no backend named")
        name = backend_for_weights(request.weights)
    spec = BACKENDS.get(name)
    reason = spec.unavailable()
    if reason:
        raise ConfigError(f"backend {name!r} is not available: {reason}")
    return spec.create(request)
