"""Error types of the core. Every message names what was wrong and what was expected."""

from __future__ import annotations


class DepthRosError(Exception):
    """Base class of all errors raised deliberately by depth_ros."""


class InputError(DepthRosError, ValueError):
    """An input message or array is malformed (encoding, size, step, NaN intrinsics...)."""


class CalibrationError(InputError):
    """Camera intrinsics or extrinsics are missing, zero or inconsistent."""


class ConfigError(DepthRosError, ValueError):
    """A parameter, model ID, backend or device is invalid or unavailable."""


class WeightsError(DepthRosError, OSError):
    """A weights file is missing, corrupt or does not match the model architecture."""
