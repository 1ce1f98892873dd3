"""``stereo_depth``: rectified (or raw) stereo pair → disparity, depth and point cloud.

Subscribes ``left/image_rect``, ``left/camera_info``, ``right/image_rect``,
``right/camera_info`` (image_pipeline's names); publishes ``disparity``
(stereo_msgs/DisparityImage), ``depth`` (32FC1 metres, NaN invalid) with
``depth/camera_info``, ``points`` (PointCloud2), ``depth/color`` (turbo, rgb8, only
while subscribed) and ``disparity/confidence`` (32FC1 in [0, 1], the disparity's header
and size; classical matchers, only while subscribed; see depth_ros.core.confidence).
The work happens in :class:`depth_ros.core.stereo.StereoPipeline`; this file only
translates messages.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from depth_ros.core import cdr
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.colorize import colorize
from depth_ros.core.models import InputKind
from depth_ros.core.models.opencv_stereo import OpenCVStereo, size_problem
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.pointcloud import cloud_fields
from depth_ros.core.schema import stereo_node_params
from depth_ros.core.stereo import (
    DELTA_D,
    StereoOptions,
    StereoPipeline,
    StereoResult,
    encode_disparity,
)
from depth_ros.nodes import base, process
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image, rgb_from_msg
from depth_ros.nodes.serialized import SerializedOutputs

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
    option_params = frozenset(("points", "points_decimation", "min_depth", "max_depth", "rectify"))
    pipeline: StereoPipeline
    outputs: SerializedOutputs

    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        return stereo_node_params(model_params)

    def inputs(self) -> Sequence[tuple[str, type]]:
        if self.params.get("image_transport") == "compressed":
            return tuple(
                (f"{topic}/compressed", CompressedImage) if kind is Image else (topic, kind)
                for topic, kind in INPUTS
            )
        return INPUTS

    last_size: tuple[int, int] | None = None  # (width, height) of the last input
    _warned_no_baseline = False  # said once: a right camera_info without P[0,3]

    def cross_reasons(self, values: Mapping[str, Value]) -> list[str]:
        """Also: OpenCV matcher parameters that could not match the last image's size
        (refused at once instead of failing every frame)."""
        reasons = super().cross_reasons(values)
        if isinstance(self.model, OpenCVStereo) and self.last_size is not None:
            merged = {
                **self.model.params,
                **{k: v for k, v in values.items() if k in self.model.params},
            }
            problem = size_problem(self.model.algorithm, merged, *self.last_size)
            if problem:
                reasons.append(problem)
        return reasons

    def setup(self) -> None:
        self.pipeline = StereoPipeline(self.model, self._options())
        self.outputs = SerializedOutputs()

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
        return {
            "disparity": self.publisher(DisparityImage, "disparity", qos),
            "depth": self.publisher(Image, "depth", qos),
            "depth_info": self.publisher(CameraInfo, "depth/camera_info", qos),
            "points": self.publisher(PointCloud2, "points", qos),
            "color": self.publisher(Image, "depth/color", qos),
            "confidence": self.publisher(Image, "disparity/confidence", qos),
        }

    def handle(self, msgs: list[Any]) -> dict[str, float]:
        """Depth, disparity and points are written straight into their serialized
        messages (:mod:`depth_ros.nodes.serialized`, reused frame after frame); a second
        thread fills the cloud's colours while the matcher runs, and publishes depth and
        disparity, off the GIL, while the cloud's points are computed."""
        t0 = time.perf_counter()
        left_msg, left_info, right_msg, right_info = msgs
        left = rgb_from_msg(left_msg, self.max_pixels(), "left image")
        right = rgb_from_msg(right_msg, self.max_pixels(), "right image")
        self.last_size = (int(left.shape[1]), int(left.shape[0]))
        left_cam = PinholeCamera.from_msg(left_info)
        header = left_msg.header
        try:
            result, t1 = self._compute_and_publish(left, right, left_cam, right_info, header)
        finally:  # nothing of this frame may still be in flight when buffers are reused
            self.outputs.wait()
        if not result.geometry.has_baseline:
            return {**result.timings_ms, "publish": (time.perf_counter() - t1) * 1e3}
        self.pubs["depth_info"].publish(camera_info_msg(left_cam, header))
        if self.wanted("color"):
            self.pubs["color"].publish(
                numpy_to_image(colorize(result.depth, invert=True), "rgb8", header)
            )
        t2 = time.perf_counter()
        stages = result.timings_ms
        points = stages.get("points", 0.0)
        convert = (t1 - t0) * 1e3 - sum(stages.values()) + points
        return {**stages, "convert_in": convert, "publish": (t2 - t1) * 1e3 - points}

    def _compute_and_publish(
        self, left: Any, right: Any, left_cam: PinholeCamera, right_info: CameraInfo, header: Any
    ) -> tuple[StereoResult, float]:
        """Returns the result and when publishing began (perf_counter)."""
        out = self.outputs
        frame, (h, w) = header.frame_id, left.shape[:2]
        depth = out.message("depth", (frame, h, w), lambda: cdr.image(frame, h, w, "32FC1", 4 * w))
        shape = self.pipeline.cloud_shape(h, w) if self.wanted("points") else None
        cloud = points = None
        if shape is not None:
            cloud = out.message(
                "points",
                (frame, shape),
                lambda: cdr.point_cloud(
                    frame, shape[0], shape[1], cloud_fields(shape[2] == 4), 4 * shape[2]
                ),
            )
            points = cloud.array("data", np.float32, shape)
            if self.pipeline.colors_first():  # filled during the matcher
                out.background(self.pipeline.colors, left, points)
        result = self.pipeline.process(
            left,
            right,
            left_cam,
            PinholeCamera.from_msg(right_info),
            cloud=False,
            depth_out=depth.array("data", np.float32, (h, w)),
            confidence=self.wanted("confidence"),
            allow_no_baseline=True,
        )
        t_publish = time.perf_counter()
        stamp = header.stamp.sec, header.stamp.nanosec
        if not result.geometry.has_baseline:  # as stereo_image_proc: disparity only
            self._no_baseline_once(right_info)
            self._publish_disparity(result, frame, stamp)
            return result, t_publish
        depth.stamp(*stamp)
        out.publish(self.pubs["depth"], depth, background=True)
        self._publish_disparity(result, frame, stamp)
        if result.confidence is not None:
            msg = out.message(
                "confidence", (frame, h, w), lambda: cdr.image(frame, h, w, "32FC1", 4 * w)
            )
            msg.array("data", np.float32, (h, w))[:] = result.confidence
            msg.stamp(*stamp)
            out.publish(self.pubs["confidence"], msg, background=True)
        if cloud is not None and shape is not None:
            self.pipeline.points(result, out=points, colors_written=self.pipeline.colors_first())
            cloud.stamp(*stamp)
            cloud.set("is_dense", result.cloud is not None and result.cloud.is_dense)
            out.wait()  # colours written; depth and disparity out
            out.publish(self.pubs["points"], cloud)
        return result, t_publish

    def _no_baseline_once(self, right_info: CameraInfo) -> None:
        if not self._warned_no_baseline:
            self._warned_no_baseline = True
            self.log.warn(
                "no_baseline",
                (
                    f"right camera_info P[0,3] = {float(right_info.p[3])}: no baseline. "
                    "Publishing disparity only; depth, depth/camera_info and points need "
                    "P[0,3] = -fx * baseline (metres) in the right camera_info"
                ),
            )

    def _publish_disparity(self, result: StereoResult, frame: str, stamp: tuple[int, int]) -> None:
        h, w = result.disparity.shape
        msg = self.outputs.message(
            "disparity", (frame, h, w), lambda: cdr.disparity_image(frame, h, w)
        )
        lo = float(getattr(self.model, "min_disparity", 0.0))
        hi = (
            float(getattr(self.model, "max_disparity", 0.0))
            or float(self.params.get("max_disparity", 0) or 0)
            or float(w)
        )
        geometry = result.geometry
        encoded = encode_disparity(
            result.disparity, geometry, lo, hi, out=msg.array("image.data", np.float32, (h, w))
        )
        msg.stamp(*stamp)
        for key, value in (
            ("f", geometry.fx),
            ("t", geometry.baseline),
            ("min_disparity", encoded.min_disparity),
            ("max_disparity", encoded.max_disparity),
            ("delta_d", DELTA_D),
        ):
            msg.set(key, value)
        for key, value in zip(
            ("x_offset", "y_offset", "width", "height"), encoded.valid_window, strict=True
        ):
            msg.set(f"valid_window.{key}", value)
        self.outputs.publish(self.pubs["disparity"], msg, background=True)

    def teardown(self) -> None:
        outputs = getattr(self, "outputs", None)  # None when configure failed early
        if outputs is not None:
            outputs.close()


def main(args: list[str] | None = None) -> int:
    return process.run(StereoDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    return process.run(StereoDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
