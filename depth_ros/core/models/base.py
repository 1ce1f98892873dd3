"""What every depth model is: a spec (ID, kind, parameters, weights) and a runner.

Model modules must import without torch or onnxruntime: heavy imports happen inside
``ModelSpec.build``. That keeps ``stereo_depth`` with SGBM free of torch start-up cost.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models.export import ExportSpec


class InputKind(enum.Enum):
    """What a model takes: a rectified stereo pair or one image."""

    STEREO = "stereo"
    MONO = "mono"


class OutputKind(enum.Enum):
    """What a model gives: disparity (stereo), relative inverse depth, or metres."""

    DISPARITY = "disparity"  # pixels of the left image (stereo)
    RELATIVE = "relative"  # affine-invariant inverse depth, larger = nearer
    METRIC = "metric"  # metres


class CameraUse(enum.Enum):
    """How a monocular model uses the camera's intrinsics."""

    NONE = "none"  # the prediction does not depend on the camera
    REQUIRED = "required"  # metric scale follows fx/fy: refused without camera_info
    OPTIONAL = "optional"  # uses them when given, else estimates the focal (Depth Pro)


@dataclass(frozen=True)
class MonoOutput:
    """What a monocular network gives for one image, all at the image's size."""

    depth: NDArray[np.float32]  # (H, W): relative inverse depth or metres (spec's kind)
    confidence: NDArray[np.float32] | None = None  # (H, W) in [0, 1], 1 = sure
    normals: NDArray[np.float32] | None = None  # (H, W, 3) unit vectors, camera frame
    focal_px: float | None = None  # focal length used, pixels of the input image
    focal_estimated: bool = False  # focal_px came from the network, not from camera_info


@dataclass(frozen=True)
class ModelConfig:
    """How to build one model instance."""

    weights: Path | None = None
    backend: str | None = None  # None or "auto": from the weights file (core.backends)
    device: str = "cpu"
    input_size: int | None = None  # monocular: network input size (short side / multiple)
    params: Mapping[str, Value] = field(default_factory=dict)  # the spec's own parameters
    #: progress bars for slow inference (diffusion steps) on stderr: the CLI turns them on,
    #: the nodes leave them off
    progress: bool = False


@runtime_checkable
class StereoModel(Protocol):
    """A rectified stereo matcher."""

    def compute(self, left: NDArray[np.uint8], right: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Disparity in pixels of ``left`` (H, W) float32, NaN invalid.

        ``left``/``right`` are rectified RGB (H, W, 3) uint8 of the same size.
        """
        ...

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply changed parameters of the spec's own (validated already)."""
        ...

    def disparity_range(self, width: int) -> tuple[float, float]:
        """(smallest, largest) disparity in pixels that :meth:`compute` can give for
        images ``width`` wide (DisparityImage's bounds, before the doffs shift)."""
        ...

    def matched_columns(self, width: int) -> tuple[int, int]:
        """[start, stop) columns of the left image where :meth:`compute` can give a
        disparity at all ((0, width) for most; OpenCV's matchers leave bands unmatched)."""
        ...


@runtime_checkable
class ConfidenceStereoModel(StereoModel, Protocol):
    """A stereo matcher that also rates its disparity (classical matchers)."""

    def compute_with_confidence(
        self, left: NDArray[np.uint8], right: NDArray[np.uint8]
    ) -> tuple[NDArray[np.float32], NDArray[np.float32] | None]:
        """Disparity as :meth:`compute` and a per-pixel confidence in [0, 1] (0 invalid;
        None where the matcher has none)."""
        ...


@runtime_checkable
class MonoModel(Protocol):
    """A monocular depth network."""

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Prediction (H, W) float32 at the input image's size: relative inverse depth or
        metres, per the spec's output kind. NaN where the network gives no value."""
        ...

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply changed parameters of the spec's own (validated already)."""
        ...


@runtime_checkable
class CameraAwareMonoModel(Protocol):
    """A monocular network that sees the camera (and may give more than depth).

    ``camera`` is the image's pinhole model at the image's size (binning and ROI already
    applied), or None when no camera_info is known. Models whose spec says
    ``CameraUse.REQUIRED`` raise InputError without one.
    """

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        """The network's output for ``rgb`` (H, W, 3) uint8 seen by ``camera``."""
        ...

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply changed parameters of the spec's own (validated already)."""
        ...


#: what the monocular pipeline runs: a plain or a camera-aware network
AnyMonoModel: TypeAlias = "MonoModel | CameraAwareMonoModel"
#: what a model spec builds
AnyModel: TypeAlias = "StereoModel | MonoModel | CameraAwareMonoModel"


@runtime_checkable
class StreamingModel(Protocol):
    """A model whose output depends on earlier frames (a temporal window it keeps, e.g.
    Video Depth Anything): the caller drops that state with :meth:`reset` when the stream
    breaks (a time jump); the model drops it itself when the image size changes."""

    def reset(self) -> None:
        """Drop the frames kept so far: the next output depends on later frames only."""
        ...


def run_mono(
    model: AnyMonoModel, rgb: NDArray[np.uint8], camera: PinholeCamera | None
) -> MonoOutput:
    """One image through any monocular model: ``infer`` where the model has it, else
    ``predict`` (models and plugins that ignore the camera)."""
    if isinstance(model, CameraAwareMonoModel):
        return model.infer(rgb, camera)
    return MonoOutput(np.asarray(model.predict(rgb), dtype=np.float32))


@dataclass(frozen=True)
class ModelSpec:
    """A registered model ID."""

    id: str
    family: str
    input_kind: InputKind
    output_kind: OutputKind
    description: str
    build: Callable[[ModelConfig], AnyModel]
    params: tuple[ParamSpec, ...] = ()  # parameters of this model, declared by the node
    weights_file: str | None = None  # file name of the official release, if any
    weights_source: str | None = None  # where the official release can be obtained
    default_input_size: int | None = None
    max_depth: float | None = None  # metric models: the depth range they were trained for
    needs_weights: bool = True
    camera: CameraUse = CameraUse.NONE  # how the model uses camera_info (monocular)
    #: what the network gives beside depth: "confidence" and/or "normals" (MonoOutput)
    outputs: frozenset[str] = frozenset()
    #: writes a checkpoint in the official layout with random weights (timing, tests)
    random_checkpoint: Callable[[Path], None] | None = None
    export: ExportSpec | None = None  # where the network can be exported to ONNX
    #: the alignment of the model's published evaluation, for ``depth-ros eval`` (None:
    #: ``lstsq-inverse`` for relative models, none for metric ones)
    eval_align: str | None = None
