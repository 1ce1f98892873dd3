"""Shared plumbing of the learned stereo models (HITNet, PSMNet): input checks, padding,
backend creation. Not a model module itself (not in MODEL_MODULES)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.backends import Backend, BackendRequest, create_backend
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.models.base import ModelConfig, ModelSpec
from depth_ros.core.models.checkpoints import require_file
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    from torch import nn

INPUT_SCALE = ParamSpec(
    "input_scale",
    1.0,
    "Run the network on the images resized by this factor (faster on CPU: about its "
    "square), then upsample the disparity to the input size and scale its values by the "
    "width ratio",
    0.25,
    1.0,
    read_only=True,
)


class LearnedStereo:
    """What HITNet and PSMNet share: a backend, and parameters fixed at start-up."""

    id: str
    params: dict[str, Value]
    backend: Backend

    def update(self, params: Mapping[str, Value]) -> None:
        for name, value in params.items():
            if name in self.params and value != self.params[name]:
                raise ConfigError(f"{self.id} parameter {name} is read-only (set at start-up)")

    def close(self) -> None:
        self.backend.close()

    def disparity_range(self, width: int) -> tuple[float, float]:
        """Non-negative disparities, up to the image width."""
        return 0.0, float(width)

    def matched_columns(self, width: int) -> tuple[int, int]:
        """Every column (the network gives a disparity everywhere)."""
        return 0, width


def scaled_size(width: int, height: int, scale: float) -> tuple[int, int]:
    """The size :func:`at_scale` runs the network at."""
    return max(round(width * scale), 1), max(round(height * scale), 1)


def at_scale(
    left: NDArray[np.uint8],
    right: NDArray[np.uint8],
    scale: float,
    infer: Callable[[NDArray[np.uint8], NDArray[np.uint8]], NDArray[np.float32]],
) -> NDArray[np.float32]:
    """``infer`` on the pair resized by ``scale`` (area interpolation), its disparity
    resized back (bilinear; pixel centres aligned as cv2.resize does) and multiplied by
    width / scaled width: disparities in pixels of the input image. Scale 1: ``infer``."""
    import cv2

    h, w = left.shape[:2]
    sw, sh = scaled_size(w, h, scale)
    if (sw, sh) == (w, h):
        return infer(left, right)
    small: list[NDArray[np.uint8]] = [
        np.asarray(cv2.resize(x, (sw, sh), interpolation=cv2.INTER_AREA), np.uint8)
        for x in (left, right)
    ]
    disp = infer(small[0], small[1])
    out = np.asarray(cv2.resize(disp, (w, h), interpolation=cv2.INTER_LINEAR), np.float32)
    out *= np.float32(w / sw)
    return out


def check_pair(left: NDArray[np.uint8], right: NDArray[np.uint8]) -> None:
    for name, img in (("left", left), ("right", right)):
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise InputError(
                f"{name} image must be RGB (H, W, 3) uint8, got {img.dtype} {img.shape}"
            )
    if left.shape != right.shape:
        raise InputError(f"left image {left.shape} and right image {right.shape} differ")


def padded_size(size: int, multiple: int, minimum: int = 1) -> int:
    return max(-(-size // multiple) * multiple, minimum)


def stereo_backend(
    spec: ModelSpec,
    config: ModelConfig,
    module_factory: Callable[[], nn.Module] | None,
    input_names: tuple[str, ...],
    output_names: tuple[str, ...],
    fp16: bool = False,
    rewrite_graph: bool = False,
) -> Backend:
    """The backend running ``config.weights`` (clear WeightsError when it is missing),
    created by :func:`~depth_ros.core.backends.create_backend` like every model's.
    ``rewrite_graph``: see :class:`~depth_ros.core.backends.BackendRequest`."""
    weights = require_file(
        config.weights,
        what=f"{spec.description} weights",
        source=spec.weights_source,
        default_name=spec.weights_file,
    )
    request = BackendRequest(
        weights,
        config.device,
        fp16=fp16,
        module_factory=module_factory,
        input_names=input_names,
        output_names=output_names,
        rewrite_graph=rewrite_graph,
    )
    return create_backend(config.backend, request)
