"""Backend registry, and the one place a backend is chosen for a weights file.

Adding a backend: one module here that calls :func:`register_backend`, its name in
``BACKEND_NAMES`` and the file types it runs in ``WEIGHTS_BACKENDS`` (a plugin backend
lists its file types in ``BackendSpec.extensions`` instead).

``auto`` (or no backend named) is resolved by :func:`resolve_backend` only: the launch
planner, ``bag run`` and every model go through it.
"""

from __future__ import annotations

from pathlib import Path

from depth_ros.core.backends.base import Backend, BackendRequest, BackendSpec
from depth_ros.core.errors import ConfigError
from depth_ros.core.registry import Registry

__all__ = [
    "AUTO",
    "BACKENDS",
    "BACKEND_NAMES",
    "WEIGHTS_BACKENDS",
    "Backend",
    "BackendRequest",
    "BackendSpec",
    "backend_for_weights",
    "create_backend",
    "is_exported",
    "register_backend",
    "resolve_backend",
]

#: the backend value that means "chosen from the weights file"
AUTO = "auto"

#: built-in backends; backend ``<name>`` is registered by module ``<name>_backend``
BACKEND_NAMES: tuple[str, ...] = ("torch", "onnxruntime", "tensorrt")

#: Weights file type (suffix, lower case) → the backend that runs it: the one table
#: ``auto`` is resolved with. ``.bin``: Hugging Face's ``pytorch_model.bin`` (UniDepth).
WEIGHTS_BACKENDS: dict[str, str] = {
    ".pth": "torch",
    ".pt": "torch",
    ".tar": "torch",
    ".ckpt": "torch",
    ".safetensors": "torch",
    ".bin": "torch",
    ".onnx": "onnxruntime",
    ".engine": "tensorrt",
    ".plan": "tensorrt",
    ".trt": "tensorrt",
}

#: filled on the first lookup: the modules of BACKEND_NAMES, then the plugins
BACKENDS: Registry[BackendSpec] = Registry(
    "backend", __name__, tuple(f"{n}_backend" for n in BACKEND_NAMES)
)


def register_backend(spec: BackendSpec) -> BackendSpec:
    """Register ``spec``; the file types in ``spec.extensions`` join
    :data:`WEIGHTS_BACKENDS` (ConfigError if another backend runs one already)."""
    for suffix in spec.extensions:
        key = suffix.lower()
        owner = WEIGHTS_BACKENDS.get(key, spec.name)
        if owner != spec.name:
            raise ConfigError(
                f"backend {spec.name!r} claims {key} files, which backend {owner!r} runs"
            )
    BACKENDS.register(spec.name, spec)
    WEIGHTS_BACKENDS.update((s.lower(), spec.name) for s in spec.extensions)
    return spec


def backend_for_weights(weights: Path | str) -> str | None:
    """The backend that runs the type of file ``weights`` is (its suffix, see
    :data:`WEIGHTS_BACKENDS`); None for a type not in the table (or a folder)."""
    BACKENDS.load()  # plugin backends add their file types
    return WEIGHTS_BACKENDS.get(Path(weights).suffix.lower())


def is_exported(weights: Path | str) -> bool:
    """True for an exported network file (ONNX, TensorRT engine, ...): a file type that a
    backend other than PyTorch runs; False for checkpoints and unknown types."""
    return backend_for_weights(weights) not in (None, "torch")


def _suffixes(backend: str | None = None) -> str:
    return ", ".join(s for s, b in sorted(WEIGHTS_BACKENDS.items()) if backend in (None, b))


def resolve_backend(
    requested: str | None,
    weights: Path | str | None = None,
    default: str | None = None,
    unknown: str | None = None,
) -> str:
    """The backend that runs ``weights``.

    ``requested`` (a node's, launch file's or command's ``backend``) unless it is empty or
    ``auto``; then ``default`` (a profile's ``backend``) likewise; then the backend of the
    weights file's type (:data:`WEIGHTS_BACKENDS`); then ``unknown`` for a file of a type
    not in the table (a model with a PyTorch implementation passes ``"torch"``: its loader
    judges the file). ``auto`` when nothing is named and there is no weights file (a node
    decides once it has its default file).

    ConfigError: an unknown backend name, a named backend that does not run the weights
    file's type (``torch`` with an ``.onnx`` file), or a file type no backend runs.
    """
    named = next((n for n in (requested, default) if n and n != AUTO), None)
    path = Path(weights) if weights is not None and str(weights) != "" else None
    kind = backend_for_weights(path) if path is not None else None
    if named is not None:
        BACKENDS.get(named)  # ConfigError naming the known backends
        if path is not None and kind is not None and kind != named:
            raise ConfigError(
                f"backend {named!r} cannot run {path.name}: {path.suffix.lower()} files are "
                f"run by {kind!r}; {named!r} runs {_suffixes(named) or 'its own file types'}. "
                "Leave backend 'auto' to follow the file type"
            )
        return named
    if kind is not None:
        return kind
    if path is None:
        return AUTO
    if unknown is not None:
        return unknown
    raise ConfigError(
        f"cannot tell the backend of weights file {path} from its type; known: "
        f"{_suffixes()}; set the backend explicitly"
    )


def create_backend(name: str | None, request: BackendRequest) -> Backend:
    """Create the backend ``name`` for ``request``: the one path every model opens its
    network through. ``name`` None, empty or ``auto`` is resolved by
    :func:`resolve_backend` from ``request.weights`` (PyTorch for a file of unknown type
    when the request has a ``module_factory``)."""
    unknown = "torch" if request.module_factory is not None else None
    chosen = resolve_backend(name, request.weights, unknown=unknown)
    if chosen == AUTO:
        raise ConfigError("no weights file given and no backend named")
    spec = BACKENDS.get(chosen)
    reason = spec.unavailable()
    if reason:
        raise ConfigError(f"backend {chosen!r} is not available: {reason}")
    return spec.create(request)
