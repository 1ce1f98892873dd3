"""The stereo depth pipeline without ROS: rectified pair + cameras → disparity, depth, cloud.

Used identically by the ``stereo_depth`` node, ``depth-ros predict`` and the benchmarks, so
the node adds only message conversion on top of :meth:`StereoPipeline.process`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.pointcloud import PackedCloud, depth_to_cloud

POINT_FORMATS = ("none", "xyz", "xyzrgb")


@dataclass(frozen=True)
class StereoOptions:
    min_depth: float = 0.0
    max_depth: float = float("inf")
    points: str = "xyzrgb"  # one of POINT_FORMATS
    decimation: int = 1
    rectify: bool = False  # input is raw: undistort and rectify with D, K, R, P first


@dataclass
class StereoResult:
    disparity: NDArray[np.float32]  # matcher disparity, pixels of the left image, NaN invalid
    depth: NDArray[np.float32]  # metres, NaN invalid
    cloud: PackedCloud | None
    geometry: StereoGeometry
    left_rgb: NDArray[np.uint8]
    timings_ms: dict[str, float] = field(default_factory=dict)


class StereoPipeline:
    """Run a :class:`~depth_ros.core.models.StereoModel` and derive depth and points."""

    def __init__(self, model: Any, options: StereoOptions | None = None) -> None:
        self.model = model
        self.options = options or StereoOptions()

    def process(
        self,
        left: NDArray[np.uint8],
        right: NDArray[np.uint8],
        left_camera: PinholeCamera,
        right_camera: PinholeCamera,
        cloud: bool = True,
    ) -> StereoResult:
        """``left``/``right``: RGB uint8 (H, W, 3). ``cloud=False`` skips the point cloud
        (nobody listens). Raises InputError/CalibrationError."""
        opts = self.options
        if left.shape != right.shape:
            raise InputError(
                f"left image is {left.shape[1]}x{left.shape[0]} but right image is "
                f"{right.shape[1]}x{right.shape[0]}"
            )
        h, w = left.shape[:2]
        left_camera.validate(w, h)
        right_camera.validate(w, h)
        geometry = StereoGeometry.from_cameras(left_camera, right_camera)
        timings: dict[str, float] = {}
        t0 = time.perf_counter()
        if opts.rectify:
            left = left_camera.rectify(left)
            right = right_camera.rectify(right)
        t1 = time.perf_counter()
        disparity = self.model.compute(left, right)
        t2 = time.perf_counter()
        depth = disparity_to_depth(disparity, geometry, opts.min_depth, opts.max_depth)
        packed = None
        if cloud and opts.points != "none":
            rgb = left if opts.points == "xyzrgb" else None
            packed = depth_to_cloud(depth, left_camera, rgb, opts.decimation)
        t3 = time.perf_counter()
        timings.update(
            rectify=(t1 - t0) * 1e3, matcher=(t2 - t1) * 1e3, depth_points=(t3 - t2) * 1e3
        )
        return StereoResult(disparity, depth, packed, geometry, left, timings)
