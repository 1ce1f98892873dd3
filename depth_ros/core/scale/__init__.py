"""Metric scale sources for relative (affine-invariant inverse depth) predictions.

Adding a source: one module here defining a :class:`ScaleSource` subclass decorated with
:func:`register_scale_source`, and its name in ``SCALE_MODULES``. A node picks a source by
name, declares its ``params`` (ParamSpec tuples) and calls ``fit`` each frame, then
:func:`apply`. See :mod:`depth_ros.core.scale.base` for the math and the failure codes.
"""

from __future__ import annotations

from collections.abc import Mapping

from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.registry import Registry
from depth_ros.core.scale.base import (
    DEGENERATE_FIT,
    FAILURE_CODES,
    NO_REFERENCE,
    STALE_REFERENCE,
    TOO_FEW_POINTS,
    ScaleContext,
    ScaleFit,
    ScaleSource,
    apply,
    gravity_from_pitch_roll,
)

__all__ = [
    "DEGENERATE_FIT",
    "FAILURE_CODES",
    "NO_REFERENCE",
    "SCALE_MODULES",
    "SCALE_SOURCES",
    "STALE_REFERENCE",
    "TOO_FEW_POINTS",
    "ScaleContext",
    "ScaleFit",
    "ScaleSource",
    "apply",
    "build_scale_source",
    "get_scale_source",
    "gravity_from_pitch_roll",
    "register_scale_source",
    "scale_source_names",
    "scale_source_params",
]

SCALE_MODULES = (
    "fixed",
    "ground_plane",
    "sparse_depth",
    "stereo",
)

#: filled on the first lookup: the modules above, then the plugins (core.registry)
SCALE_SOURCES: Registry[type[ScaleSource]] = Registry("scale source", __name__, SCALE_MODULES)


def register_scale_source(cls: type[ScaleSource]) -> type[ScaleSource]:
    """Class decorator: register ``cls`` under ``cls.name``."""
    return SCALE_SOURCES.register(cls.name, cls)


def get_scale_source(name: str) -> type[ScaleSource]:
    return SCALE_SOURCES.get(name)


def scale_source_names() -> list[str]:
    return SCALE_SOURCES.names()


def scale_source_params(name: str) -> tuple[ParamSpec, ...]:
    """The parameters a node declares for source ``name``."""
    return get_scale_source(name).params


def build_scale_source(name: str, params: Mapping[str, Value] | None = None) -> ScaleSource:
    """A new source instance; ConfigError for an unknown name or invalid parameters."""
    return get_scale_source(name)(params)
