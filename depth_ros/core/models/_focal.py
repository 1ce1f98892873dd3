"""``focal_scaling``: metric depth rescaled from the training camera's focal length to the
camera's.

A metric network trained on one camera reads distance from apparent size: an object of size
S at depth Z spans S·f/Z pixels of the network input, f the focal length in network-input
pixels. Seen through another camera, its prediction is off by f_train / f_camera, so

    depth = prediction · f_camera / f_train,

with both focal lengths in pixels of the **network input**: f = fx · s, where s is the
model's own resize scale (network-input pixels per image pixel): for the camera, the scale
its H x W image gets now (at the current input size); for the training camera, the scale
the training images got at the training input size (a constant of the release). That makes
the factor exactly 1 for the training camera at its training resolution and input size,
independent of binning or resizing of the camera (fx and 1/s scale together), and right
for resizes that fix the short side (Depth Anything V2: s = input_size / min(H, W)) as
well as for ZoeDepth's "minimal" resize. For two images of the same aspect ratio at the
default input size it equals the equal-width rule (fx_cam / W_cam) / (fx_train / W_train);
for different aspect ratios the equal-width rule compares the wrong side (a 640x480 camera
against Virtual KITTI 2's 1242x375 under Depth Anything V2: 1.41 by width, 0.57 in network
pixels).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.models.base import MonoModel, MonoOutput
from depth_ros.core.params import ParamSpec, Value


@dataclass(frozen=True)
class TrainingCamera:
    """The camera a metric release was trained on, with the source of its intrinsics."""

    name: str
    fx: float  # pixels, at width x height
    width: int
    height: int
    source: str


#: Hypersim (Roberts et al., ICCV 2021): 1024x768 renders with a 60° horizontal field of
#: view (github.com/apple/ml-hypersim, README "camera ... fov_x = pi/3"):
#: fx = 512 / tan(30°) = 886.81 px.
HYPERSIM = TrainingCamera(
    "Hypersim",
    512.0 / float(np.tan(np.pi / 6)),
    1024,
    768,
    "Hypersim renders: 1024x768, 60 degree horizontal FOV (apple/ml-hypersim)",
)
#: Virtual KITTI 2 (Cabon et al., 2020): 1242x375, K = [725.0087 0 620.5; 0 725.0087 187.0]
#: (the dataset's intrinsic.txt, identical for all scenes and cameras).
VKITTI2 = TrainingCamera(
    "Virtual KITTI 2",
    725.0087,
    1242,
    375,
    "Virtual KITTI 2 intrinsic.txt: fx = fy = 725.0087, 1242x375",
)
#: NYU Depth V2 (Silberman et al., ECCV 2012), Kinect RGB 640x480: fx_rgb =
#: 5.1885790117450188e+02 (the NYU toolbox's camera_params.m).
NYU = TrainingCamera(
    "NYU Depth V2", 518.8579, 640, 480, "NYU Depth V2 toolbox camera_params.m: fx_rgb"
)
#: KITTI (Geiger et al., 2012), Eigen split as ZoeDepth trains on it: the 2011_09_26
#: calibration's P_rect_02[0, 0] = 721.5377, images cropped to 1216x352 (kb_crop).
KITTI = TrainingCamera(
    "KITTI",
    721.5377,
    1216,
    352,
    "KITTI raw calib_cam_to_cam.txt 2011_09_26 P_rect_02: fx = 721.5377; kb_crop 1216x352",
)

FOCAL_SCALING = ParamSpec(
    "focal_scaling",
    False,
    "Rescale the metric depth by the camera's focal length over the training camera's, "
    "both in network-input pixels (needs camera_info with every image)",
)

_M = TypeVar("_M", bound=MonoModel)


def focal_factor(
    camera: PinholeCamera, train: TrainingCamera, scale: float, train_scale: float
) -> float:
    """f_camera / f_train in network-input pixels: (fx_cam · scale) / (fx_train ·
    train_scale), ``scale`` the camera image's resize scale and ``train_scale`` the
    training images' (see the module docstring)."""
    return float((camera.fx * scale) / (train.fx * train_scale))


class FocalScaled(Generic[_M]):
    """A metric MonoModel with the ``focal_scaling`` parameter: camera-aware when it is on
    (``infer`` raises InputError without a camera), the model unchanged when off.
    ``scale``: network-input pixels per image pixel for an image of (height, width),
    given the inner model."""

    def __init__(
        self,
        inner: _M,
        train: TrainingCamera,
        scale: Callable[[_M, int, int], float],
        train_scale: float,
        enabled: bool,
    ) -> None:
        self.inner = inner
        self.train = train
        self.train_scale = float(train_scale)
        self._scale = scale
        self.focal_scaling = bool(enabled)

    def __getattr__(self, name: str) -> object:  # runner, pre, network_input, close ...
        return getattr(self.__dict__["inner"], name)

    def factor(self, camera: PinholeCamera) -> float:
        """The depth factor for ``camera`` (its intrinsics at the image's size)."""
        scale = self._scale(self.inner, camera.height, camera.width)
        return focal_factor(camera, self.train, scale, self.train_scale)

    def infer(self, rgb: NDArray[np.uint8], camera: PinholeCamera | None) -> MonoOutput:
        depth = np.asarray(self.inner.predict(rgb), dtype=np.float32)
        if not self.focal_scaling:
            return MonoOutput(depth)
        if camera is None:
            raise InputError(
                "focal_scaling is on: the metric depth is rescaled by the camera's focal "
                f"length over the training camera's ({self.train.name}), and no camera_info "
                "is known for this image"
            )
        factor = self.factor(camera)
        return MonoOutput((depth * np.float32(factor)).astype(np.float32), focal_px=camera.fx)

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        if self.focal_scaling:
            raise InputError("focal_scaling is on: the model needs the camera (use infer)")
        return np.asarray(self.inner.predict(rgb), dtype=np.float32)

    def update(self, params: Mapping[str, Value]) -> None:
        rest = dict(params)
        if "focal_scaling" in rest:
            self.focal_scaling = bool(rest.pop("focal_scaling"))
        if rest:
            self.inner.update(rest)
