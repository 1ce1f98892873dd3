"""Model registry. Adding a model family: one module here that calls
:func:`register_model`, and its name in ``MODEL_MODULES``.
"""

from __future__ import annotations

import importlib

from depth_ros.core.models.base import (
    InputKind,
    ModelConfig,
    ModelSpec,
    MonoModel,
    OutputKind,
    StereoModel,
)
from depth_ros.core.registry import Registry

__all__ = [
    "MODELS",
    "InputKind",
    "ModelConfig",
    "ModelSpec",
    "MonoModel",
    "OutputKind",
    "StereoModel",
    "build_model",
    "get_model",
    "model_ids",
    "register_model",
]

MODEL_MODULES = (
    "opencv_stereo",
    "depth_anything_v2",
    "depth_anything_v1",
    "depth_anything_v3",
    "zoedepth",
    "midas",
    "hitnet",
    "psmnet",
    "unidepth",
    "depth_pro",
    "metric3d",
    "monodepth2",
)

MODELS: Registry[ModelSpec] = Registry("model")
_loaded = False


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.id, spec)


def _load() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for name in MODEL_MODULES:
            importlib.import_module(f"depth_ros.core.models.{name}")
        load_plugins()


def load_plugins() -> None:
    """Import third-party modules that register models, scale sources or backends: the
    ``depth_ros.plugins`` entry-point group, and the comma-separated module names in the
    ``DEPTH_ROS_PLUGINS`` environment variable."""
    import os
    from importlib.metadata import entry_points

    for ep in entry_points(group="depth_ros.plugins"):
        ep.load()
    for name in filter(None, os.environ.get("DEPTH_ROS_PLUGINS", "").split(",")):
        importlib.import_module(name.strip())


def get_model(model_id: str) -> ModelSpec:
    _load()
    return MODELS.get(model_id)


def model_ids(input_kind: InputKind | None = None) -> list[str]:
    _load()
    return [m for m in MODELS if input_kind is None or MODELS.get(m).input_kind == input_kind]


def build_model(model_id: str, config: ModelConfig | None = None) -> object:
    """Build a runnable model; raises ConfigError / WeightsError with the reason."""
    spec = get_model(model_id)
    return spec.build(config or ModelConfig())
