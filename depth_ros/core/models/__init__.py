"""Model registry. Adding a model family: one module here that calls
:func:`register_model`, and its name in ``MODEL_MODULES``.
"""

from __future__ import annotations

from typing import TypeVar

from depth_ros.core.errors import ConfigError
from depth_ros.core.models.base import (
    AnyModel,
    AnyMonoModel,
    CameraAwareMonoModel,
    InputKind,
    ModelConfig,
    ModelSpec,
    MonoModel,
    OutputKind,
    StereoModel,
)
from depth_ros.core.registry import Registry, load_plugins

_M = TypeVar("_M")

__all__ = [
    "MODELS",
    "InputKind",
    "ModelConfig",
    "ModelSpec",
    "MonoModel",
    "OutputKind",
    "StereoModel",
    "build_as",
    "build_model",
    "build_mono",
    "build_stereo",
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
    """Add a model ID to :data:`MODELS` (model modules and plugins call this)."""
    return MODELS.register(spec.id, spec)


def get_model(model_id: str) -> ModelSpec:
    """The spec of ``model_id``; ConfigError naming the known IDs."""
    return MODELS.get(model_id)


def model_ids(input_kind: InputKind | None = None) -> list[str]:
    """The registered model IDs (of ``input_kind`` only, when given)."""
    return [m for m in MODELS if input_kind is None or MODELS.get(m).input_kind == input_kind]


def build_model(model_id: str, config: ModelConfig | None = None) -> AnyModel:
    """Build a runnable model; raises ConfigError / WeightsError with the reason."""
    spec = get_model(model_id)
    return spec.build(config or ModelConfig())


def build_as(model_id: str, cls: type[_M], config: ModelConfig | None = None) -> _M:
    """:func:`build_model` checked to be a ``cls`` (ConfigError otherwise): the model's own
    methods and attributes, typed (tests, tools that know the model family)."""
    model = build_model(model_id, config)
    if not isinstance(model, cls):
        raise ConfigError(
            f"model {model_id!r} builds a {type(model).__name__}, not a {cls.__name__}"
        )
    return model


def build_stereo(model_id: str, config: ModelConfig | None = None) -> StereoModel:
    """:func:`build_model` for a stereo matcher; ConfigError if ``model_id`` is none."""
    model = build_model(model_id, config)
    if not isinstance(model, StereoModel):
        raise ConfigError(f"model {model_id!r} is not a stereo matcher")
    return model


def build_mono(model_id: str, config: ModelConfig | None = None) -> AnyMonoModel:
    """:func:`build_model` for a monocular network; ConfigError if ``model_id`` is none."""
    model = build_model(model_id, config)
    if not isinstance(model, (MonoModel, CameraAwareMonoModel)):
        raise ConfigError(f"model {model_id!r} is not a monocular network")
    return model
