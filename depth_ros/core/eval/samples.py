"""Embedded samples: small rectified stereo pairs with calibration and ground truth.

The only sample today is ``motorcycle``: the Middlebury 2014 *Motorcycle* pair at quarter
resolution (741x500), shipped with scikit-image (``skimage.data.stereo_motorcycle``, no
download). Its calibration (quarter of Middlebury's ``calib.txt``):

* f = 994.978 px, cx_left = 311.193 px, cy = 254.877 px
* doffs = cx_right - cx_left = 31.086 px
* baseline = 0.193001 m

so depth = baseline * f / (disparity + doffs). The right camera follows the ROS
convention for a rectified pair: P[0,3] = -fx * baseline and cx_right = cx_left + doffs;
both cameras share one ``frame_id`` (P of the right camera projects points given in the
left camera's frame).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Array
from depth_ros.core.calibration import stereo_cameras
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.registry import Registry

DEFAULT_FRAME_ID = "camera_optical_frame"

MOTORCYCLE_F = 994.978
MOTORCYCLE_CX = 311.193
MOTORCYCLE_CY = 254.877
MOTORCYCLE_DOFFS = 31.086
MOTORCYCLE_BASELINE = 0.193001
MOTORCYCLE_SIZE = (741, 500)  # width, height


@dataclass(frozen=True)
class StereoSample:
    """A rectified stereo pair with its calibration and ground-truth disparity.

    Arrays are read-only (they are cached and shared); copy before modifying.
    """

    name: str
    left: NDArray[np.uint8]  # (H, W, 3) RGB
    right: NDArray[np.uint8]  # (H, W, 3) RGB
    disparity: NDArray[np.float32]  # (H, W) pixels of the left image, NaN = no ground truth
    left_camera: PinholeCamera
    right_camera: PinholeCamera

    @property
    def geometry(self) -> StereoGeometry:
        """The pair's rectified geometry (fx, baseline, doffs)."""
        return StereoGeometry.from_cameras(self.left_camera, self.right_camera)

    @property
    def width(self) -> int:
        """Image width, pixels."""
        return int(self.left.shape[1])

    @property
    def height(self) -> int:
        """Image height, pixels."""
        return int(self.left.shape[0])

    @property
    def depth(self) -> NDArray[np.float32]:
        """Ground-truth depth in metres (NaN = none): baseline * f / (disparity + doffs)."""
        return _depth(self.disparity, self.geometry)

    def with_frame_id(self, frame_id: str) -> StereoSample:
        """The same sample with both cameras in ``frame_id``."""
        return StereoSample(
            self.name,
            self.left,
            self.right,
            self.disparity,
            _reframe(self.left_camera, frame_id),
            _reframe(self.right_camera, frame_id),
        )


def _reframe(camera: PinholeCamera, frame_id: str) -> PinholeCamera:
    return PinholeCamera(
        camera.width,
        camera.height,
        camera.k,
        camera.p,
        camera.d,
        camera.r,
        camera.distortion_model,
        frame_id,
        camera.binning_x,
        camera.binning_y,
    )


def _depth(disparity: NDArray[np.float32], geometry: StereoGeometry) -> NDArray[np.float32]:
    out = disparity_to_depth(disparity, geometry)
    out.flags.writeable = False
    return out


def motorcycle_cameras(frame_id: str = DEFAULT_FRAME_ID) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras of the Motorcycle sample."""
    w, h = MOTORCYCLE_SIZE
    return stereo_cameras(
        w,
        h,
        MOTORCYCLE_F,
        MOTORCYCLE_CX,
        MOTORCYCLE_CY,
        MOTORCYCLE_BASELINE,
        MOTORCYCLE_DOFFS,
        frame_id=frame_id,
    )


def _readonly(arr: Array) -> None:
    arr.flags.writeable = False


@functools.lru_cache(maxsize=1)
def _motorcycle() -> StereoSample:
    from skimage import data  # lazy: skimage import costs ~0.3 s

    left, right, disp = data.stereo_motorcycle()  # type: ignore[no-untyped-call]
    left = np.ascontiguousarray(left, dtype=np.uint8)
    right = np.ascontiguousarray(right, dtype=np.uint8)
    disparity = np.ascontiguousarray(disp, dtype=np.float32)
    disparity[~np.isfinite(disparity)] = np.nan  # the file marks "no ground truth" with inf
    for arr in (left, right, disparity):
        _readonly(arr)
    lcam, rcam = motorcycle_cameras()
    return StereoSample("motorcycle", left, right, disparity, lcam, rcam)


def motorcycle(frame_id: str = DEFAULT_FRAME_ID) -> StereoSample:
    """The Middlebury 2014 Motorcycle pair (741x500), with calibration and GT disparity."""
    sample = _motorcycle()
    return sample if frame_id == DEFAULT_FRAME_ID else sample.with_frame_id(frame_id)


SAMPLES: Registry[Callable[[str], StereoSample]] = Registry("sample")
SAMPLES.register("motorcycle", motorcycle)


def load_sample(name: str, frame_id: str = DEFAULT_FRAME_ID) -> StereoSample:
    """A sample by name (raises ConfigError listing the known ones)."""
    return SAMPLES.get(name)(frame_id)
