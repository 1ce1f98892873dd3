"""``stereo_depth``: rectified (or raw) stereo pair → disparity, depth and point cloud.

Subscribes ``left/image_rect``, ``left/camera_info``, ``right/image_rect``,
``right/camera_info`` (image_pipeline's names); publishes ``disparity``
(stereo_msgs/DisparityImage), ``depth`` (32FC1 metres, NaN invalid) with
``depth/camera_info``, ``points`` (PointCloud2), ``depth/color`` (turbo, rgb8, only
while subscribed) and ``disparity/confidence`` (32FC1 in [0, 1], the disparity's header
and size; classical matchers, only while subscribed; see depth_ros.core.confidence).
Outside the valid region (``valid_roi``, :mod:`depth_ros.core.region`: camera_info's
ROI on a full-size image, or an explicit rectangle) no depth, disparity or points. The
topics are the node catalogue's (:mod:`depth_ros.core.catalogue`). The work happens in
:class:`depth_ros.core.stereo.StereoPipeline`; this file only translates messages.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo
from typing_extensions import override

from depth_ros.core import cdr
from depth_ros.core.catalogue import COMPRESSED, node_info
from depth_ros.core.cdr import CdrMessage
from depth_ros.core.colorize import colorize
from depth_ros.core.messages import rgb_from_msg
from depth_ros.core.models.opencv_stereo import OpenCVStereo, size_problem
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.pointcloud import cloud_fields
from depth_ros.core.region import camera_and_region
from depth_ros.core.schema import stereo_node_params
from depth_ros.core.stereo import StereoOptions, StereoPipeline, StereoResult
from depth_ros.core.stopwatch import Stopwatch
from depth_ros.nodes import base, process, topics
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.nodes.serialized import SerializedOutputs

INFO = node_info("stereo_depth")  # topics, default model: depth_ros.core.catalogue


class StereoDepth(base.DepthComponent):
    """The ``stereo_depth`` node: disparity, depth and point cloud of a rectified stereo pair."""

    name = INFO.name
    input_kind = INFO.model_kind
    default_model = INFO.default_model
    option_params = frozenset(("points", "points_decimation", "min_depth", "max_depth", "rectify"))
    live_params = base.DepthComponent.live_params | {"valid_roi"}  # read every frame
    pipeline: StereoPipeline
    outputs: SerializedOutputs

    @override
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        return stereo_node_params(model_params)

    def flags(self) -> set[str]:
        """The catalogue's topic flags that hold (depth_ros.core.catalogue)."""
        return {COMPRESSED} if self.params.get("image_transport") == COMPRESSED else set()

    @override
    def inputs(self) -> Sequence[tuple[str, type]]:
        return topics.synced_inputs(INFO, self.flags())

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

    @override
    def setup(self) -> None:
        self.pipeline = StereoPipeline(self.model, self._options())
        self.outputs = SerializedOutputs()

    @override
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

    @override
    def create_publishers(self, qos: Any) -> dict[str, Any]:
        return topics.publishers(self, INFO, qos, self.flags())

    def handle(self, msgs: list[Any]) -> dict[str, float]:
        """Depth, disparity and points are written straight into their serialized
        messages (a :class:`StereoFrame`'s buffers, reused frame after frame); a second
        thread fills the cloud's colours while the matcher runs, and publishes depth and
        disparity, off the GIL, while the cloud's points are computed. Returns the
        milliseconds of each stage (one stopwatch lapped through the frame)."""
        watch = Stopwatch()
        left_msg, left_info, right_msg, right_info = msgs
        left = rgb_from_msg(left_msg, self.max_pixels(), "left image")
        right = rgb_from_msg(right_msg, self.max_pixels(), "right image")
        h, w = left.shape[:2]
        self.last_size = (w, h)
        valid_roi, raw = str(self.params.get("valid_roi", "auto")), bool(self.params["rectify"])
        left_cam, region = camera_and_region(left_info, w, h, valid_roi, raw)
        right_cam, _ = camera_and_region(right_info, w, h, valid_roi, raw)
        header = left_msg.header
        with StereoFrame(self.outputs, header, h, w) as frame:
            points = self._points_buffer(frame, left)
            watch.lap("convert_in")
            result = self.pipeline.process(
                left,
                right,
                left_cam,
                right_cam,
                cloud=False,
                depth_out=frame.float_image("depth"),
                confidence=self.wanted("confidence"),
                allow_no_baseline=True,
                watch=watch,
                valid_region=region,
            )
            if not result.geometry.has_baseline:  # as stereo_image_proc: disparity only
                self._no_baseline_once(right_info)
                self._publish_disparity(frame, result)
                watch.lap("publish")
                return watch.ms
            frame.publish(self.pubs["depth"], frame.image("depth"))
            self._publish_disparity(frame, result)
            if result.confidence is not None:
                frame.float_image("confidence")[:] = result.confidence
                frame.publish(self.pubs["confidence"], frame.image("confidence"))
            watch.lap("publish")
            if points is not None:
                colors_written = self.pipeline.colors_first()
                self.pipeline.points(result, points, colors_written, watch=watch)
                frame.cloud().set("is_dense", result.cloud is not None and result.cloud.is_dense)
                frame.wait()  # colours written; depth and disparity out
                frame.publish(self.pubs["points"], frame.cloud(), background=False)
        self.pubs["depth_info"].publish(camera_info_msg(left_cam, header))
        if self.wanted("color"):
            self.pubs["color"].publish(
                numpy_to_image(colorize(result.depth, invert=True), "rgb8", header)
            )
        watch.lap("publish")
        return watch.ms

    def _points_buffer(self, frame: StereoFrame, left: Any) -> NDArray[np.float32] | None:
        """The cloud's float32 points in its message when someone listens (else None),
        its colours being filled on the publishing thread while the matcher runs."""
        shape = self.pipeline.cloud_shape(frame.height, frame.width)
        if shape is None or not self.wanted("points"):
            return None
        points = frame.cloud_points(shape)
        if self.pipeline.colors_first():
            frame.outputs.background(self.pipeline.colors, left, points)
        return points

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

    def _publish_disparity(self, frame: StereoFrame, result: StereoResult) -> None:
        msg = frame.disparity()
        lo, hi = self.pipeline.disparity_range(frame.width)
        cdr.write_disparity(msg, result.disparity, result.geometry, lo, hi, region=result.region)
        frame.publish(self.pubs["disparity"], msg)

    @override
    def teardown(self) -> None:
        outputs = getattr(self, "outputs", None)  # None when configure failed early
        if outputs is not None:
            outputs.close()


class StereoFrame:
    """One frame's outgoing messages: serialized buffers of the frame's size and frame id
    (:class:`SerializedOutputs` keeps them, and reuses them while those stay the same),
    stamped with the input's stamp when published. As a context manager it waits, on
    leaving, until nothing of the frame is in flight, so the buffers can be reused."""

    def __init__(self, outputs: SerializedOutputs, header: Any, height: int, width: int) -> None:
        self.outputs = outputs
        self.frame_id = str(header.frame_id)
        self.stamp = (int(header.stamp.sec), int(header.stamp.nanosec))
        self.height, self.width = height, width
        self._cloud_shape: tuple[int, int, int] | None = None

    def __enter__(self) -> StereoFrame:
        return self

    def __exit__(self, *exc: object) -> None:
        self.outputs.wait()

    def image(self, name: str) -> CdrMessage:
        """The 32FC1 image message of output ``name`` (``depth``, ``confidence``)."""
        frame, h, w = self.frame_id, self.height, self.width
        return self.outputs.message(
            name, (frame, h, w), lambda: cdr.image(frame, h, w, "32FC1", 4 * w)
        )

    def float_image(self, name: str) -> NDArray[np.float32]:
        """The (H, W) float32 pixels of :meth:`image` ``name``, in its message."""
        pixels: NDArray[np.float32] = self.image(name).array(
            "data", np.float32, (self.height, self.width)
        )
        return pixels

    def disparity(self) -> CdrMessage:
        """The frame's DisparityImage message (its image filled in by the pipeline)."""
        frame, h, w = self.frame_id, self.height, self.width
        return self.outputs.message(
            "disparity", (frame, h, w), lambda: cdr.disparity_image(frame, h, w)
        )

    def cloud_points(self, shape: tuple[int, int, int]) -> NDArray[np.float32]:
        """The float32 (rows, cols, fields) points of the cloud's message."""
        self._cloud_shape = shape
        points: NDArray[np.float32] = self.cloud().array("data", np.float32, shape)
        return points

    def cloud(self) -> CdrMessage:
        """The frame's PointCloud2 message (after :meth:`cloud_points`)."""
        shape = self._cloud_shape
        if shape is None:
            raise RuntimeError("cloud_points() first: the cloud's shape is not known")
        frame = self.frame_id
        return self.outputs.message(
            "points",
            (frame, shape),
            lambda: cdr.point_cloud(
                frame, shape[0], shape[1], cloud_fields(shape[2] == 4), 4 * shape[2]
            ),
        )

    def publish(self, publisher: Any, msg: CdrMessage, background: bool = True) -> None:
        """Stamp one of the frame's messages and publish it (default: on the publishing
        thread, in order)."""
        msg.stamp(*self.stamp)
        self.outputs.publish(publisher, msg, background=background)

    def wait(self) -> None:
        """Until everything published or submitted so far is out."""
        self.outputs.wait()


def main(args: list[str] | None = None) -> int:
    """Run ``stereo_depth`` as a plain node until shutdown; the exit status."""
    return process.run(StereoDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    """Run ``stereo_depth`` as a lifecycle node until shutdown; the exit status."""
    return process.run(StereoDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
