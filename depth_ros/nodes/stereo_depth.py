"""``stereo_depth``: rectified (or raw) stereo pair → disparity, depth and point cloud.

Subscribes ``left/image_rect``, ``left/camera_info``, ``right/image_rect``,
``right/camera_info`` (image_pipeline's names); publishes ``disparity``
(stereo_msgs/DisparityImage), ``depth`` (32FC1 metres, NaN invalid) with
``depth/camera_info``, ``points`` (PointCloud2) and ``depth/color`` (turbo, rgb8, only
while subscribed). The work happens in
:class:`depth_ros.core.stereo.StereoPipeline`; this file only translates messages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from typing import Any

from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.colorize import colorize
from depth_ros.core.encodings import to_rgb8
from depth_ros.core.models import InputKind
from depth_ros.core.params import ParamSpec
from depth_ros.core.schema import stereo_node_params
from depth_ros.core.stereo import StereoOptions, StereoPipeline
from depth_ros.nodes import base
from depth_ros.nodes.convert import (
    camera_info_msg,
    cloud_msg,
    disparity_msg,
    image_to_numpy,
    numpy_to_image,
)

INPUTS = (
    ("left/image_rect", Image),
    ("left/camera_info", CameraInfo),
    ("right/image_rect", Image),
    ("right/camera_info", CameraInfo),
)


class StereoDepth(base.DepthComponent):
    name = "stereo_depth"
    input_kind = InputKind.STEREO
    default_model = "sgbm"
    option_params = frozenset(
        ("points", "points_decimation", "min_depth", "max_depth", "rectify")
    )
    pipeline: StereoPipeline

    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        return stereo_node_params(model_params)

    def inputs(self) -> Sequence[tuple[str, type]]:
        return INPUTS

    def setup(self) -> None:
        self.pipeline = StereoPipeline(self.model, self._options())

    def apply_options(self) -> None:
        self.pipeline.options = self._options()

    def _options(self) -> StereoOptions:
        p = self.params
        return StereoOptions(
            min_depth=float(p["min_depth"]),
            max_depth=float(p["max_depth"]) or float("inf"),
            points=str(p["points"]),
            decimation=int(p["points_decimation"]),
            rectify=bool(p["rectify"]),
        )

    def create_publishers(self, qos: Any) -> dict[str, Any]:
        node = self.node
        return {
            "disparity": node.create_publisher(DisparityImage, "disparity", qos),
            "depth": node.create_publisher(Image, "depth", qos),
            "depth_info": node.create_publisher(CameraInfo, "depth/camera_info", qos),
            "points": node.create_publisher(PointCloud2, "points", qos),
            "color": node.create_publisher(Image, "depth/color", qos),
        }

    def handle(self, msgs: list[Any]) -> dict[str, float]:
        t0 = time.perf_counter()
        left_msg, left_info, right_msg, right_info = msgs
        left = to_rgb8(image_to_numpy(left_msg), left_msg.encoding)
        right = to_rgb8(image_to_numpy(right_msg), right_msg.encoding)
        left_cam = PinholeCamera.from_msg(left_info)
        result = self.pipeline.process(
            left, right, left_cam, PinholeCamera.from_msg(right_info),
            cloud=self.wanted("points"),
        )
        t1 = time.perf_counter()
        header = left_msg.header
        lo = float(getattr(self.model, "min_disparity", 0.0))
        hi = float(getattr(self.model, "max_disparity", 0.0)) or float(
            self.params.get("max_disparity", 0) or 0
        ) or float(left.shape[1])
        self.pubs["disparity"].publish(
            disparity_msg(result.disparity, result.geometry, lo, hi, header)
        )
        self.pubs["depth"].publish(numpy_to_image(result.depth, "32FC1", header))
        self.pubs["depth_info"].publish(camera_info_msg(left_cam, header))
        if result.cloud is not None:
            self.pubs["points"].publish(cloud_msg(result.cloud, header))
        if self.wanted("color"):
            self.pubs["color"].publish(
                numpy_to_image(colorize(result.depth, invert=True), "rgb8", header)
            )
        t2 = time.perf_counter()
        return {**result.timings_ms, "convert_in": (t1 - t0) * 1e3 - sum(
            result.timings_ms.values()), "publish": (t2 - t1) * 1e3}


def main(args: list[str] | None = None) -> int:
    return base.run(StereoDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    return base.run(StereoDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
