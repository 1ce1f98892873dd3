"""Model registry. Adding a model family: one module here that calls
:func:`register_model`, and its name in ``MODEL_MODULES``.
"""

from __future__ import annotations

from depth_ros.core.models.base import (
    InputKind,
    ModelConfig,
    ModelSpec,
    MonoModel,
    OutputKind,
    StereoModel,
)
from depth_ros.core.registry import Registry, load_plugins

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
    "load_plugins",
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
    "marigold",
    "video_depth_anything",
)

#: filled on the first lookup: the modules above, then the plugins (core.registry)
MODELS: Registry[ModelSpec] = Registry("model", __name__, MODEL_MODULES)


def register_model(spec: ModelSpec) -> ModelSpec:
    return MODELS.register(spec.id, spec)


def get_model(model_id: str) -> ModelSpec:
    return MODELS.get(model_id)


def model_ids(input_kind: InputKind | None = None) -> list[str]:
    return [m for m in MODELS if input_kind is None or MODELS.get(m).input_kind == input_kind]


def build_model(model_id: str, config: ModelConfig | None = None) -> object:
    """Build a runnable model; raises ConfigError / WeightsError with the reason."""
    spec = get_model(model_id)
    return spec.build(config or ModelConfig())
