"""``stereo_depth``: rectified (or raw) stereo pair → disparity, depth and point cloud.

Subscribes ``left/image_rect``, ``left/camera_info``, ``right/image_rect``,
``right/camera_info``; publishes ``disparity`` (stereo_msgs/DisparityImage), ``depth``
(32FC1 metres, NaN invalid) with ``depth/camera_info``, and ``points`` (PointCloud2).
All matching happens in :class:`depth_ros.core.stereo.StereoPipeline`.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import Any

import rclpy
from rclpy.node import Node
from rclpy.parameter import Parameter
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from stereo_msgs.msg import DisparityImage

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.encodings import to_rgb8
from depth_ros.core.errors import DepthRosError
from depth_ros.core.models import InputKind, ModelConfig, build_model, get_model
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.schema import stereo_node_params
from depth_ros.core.stereo import StereoOptions, StereoPipeline
from depth_ros.core.sync import TimeSynchronizer
from depth_ros.nodes import common
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

_OPTION_PARAMS = ("points", "points_decimation", "min_depth", "max_depth", "rectify")


class StereoDepth:
    """The node's behaviour, usable from a plain or a lifecycle node: ``configure`` builds
    the model, ``activate`` creates publishers and subscriptions, ``deactivate`` and
    ``cleanup`` release them."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.log = common.RateLimitedLog(node)
        self.lock = threading.Lock()
        self.model: Any = None
        self.pipeline: StereoPipeline | None = None
        self.specs: dict[str, ParamSpec] = {}
        self.params: dict[str, Value] = {}
        self.model_params: set[str] = set()
        self.subs: list[Any] = []
        self.pubs: dict[str, Any] = {}
        self.worker: common.Worker | None = None
        self.sync: TimeSynchronizer[Any] | None = None
        self.in_rate = common.RateMeter()
        self.out_rate = common.RateMeter()
        self.proc_ms: deque[float] = deque(maxlen=50)
        self.latency_ms: deque[float] = deque(maxlen=50)
        self.last_input = [0.0] * len(INPUTS)
        self.diagnostics: common.Diagnostics | None = None
        self.state = "unconfigured"
        node.add_on_set_parameters_callback(self._on_set)

    # -- lifecycle ---------------------------------------------------------------------
    def configure(self) -> bool:
        node = self.node
        model_id = str(common.declare(node, {"model": stereo_node_params()["model"]})["model"])
        try:
            spec = get_model(model_id)
            if spec.input_kind is not InputKind.STEREO:
                raise DepthRosError(f"model {model_id!r} is not a stereo model")
            model_specs: tuple[ParamSpec, ...] = spec.params
        except DepthRosError as exc:
            self.log.error("model", f"cannot start stereo_depth: {exc}")
            model_specs = ()
            spec = None
        self.specs = stereo_node_params(model_specs)
        self.params = common.declare(node, self.specs)
        self.model_params = {s.name for s in model_specs}
        if spec is None:
            self.state = "error"
            return False
        weights = str(self.params["weights"]) or None
        try:
            self.model = build_model(
                model_id,
                ModelConfig(
                    weights=None if weights is None else Path(weights),
                    backend=str(self.params["backend"]),
                    device=str(self.params["device"]),
                    params={k: self.params[k] for k in self.model_params},
                ),
            )
        except DepthRosError as exc:
            self.log.error("model", f"cannot load model {model_id!r}: {exc}")
            self.state = "error"
            return False
        self.pipeline = StereoPipeline(self.model, self._options())
        self.state = "inactive"
        node.get_logger().info(
            f"stereo_depth ready: model {model_id}, points {self.params['points']}"
        )
        return True

    def activate(self) -> None:
        node = self.node
        out_qos = common.qos(str(self.params["output_qos"]), 1)
        in_qos = common.qos(str(self.params["input_qos"]), int(self.params["queue_size"]))
        self.pubs = {
            "disparity": node.create_publisher(DisparityImage, "disparity", out_qos),
            "depth": node.create_publisher(Image, "depth", out_qos),
            "depth_info": node.create_publisher(CameraInfo, "depth/camera_info", out_qos),
            "points": node.create_publisher(PointCloud2, "points", out_qos),
        }
        self.sync = TimeSynchronizer(
            len(INPUTS),
            queue_size=int(self.params["queue_size"]),
            approximate=bool(self.params["approximate_sync"]),
            tolerance_ns=int(float(self.params["approximate_sync_tolerance_seconds"]) * 1e9),
        )
        self.worker = common.Worker(self._process, name="stereo_depth_worker")
        self.subs = [
            node.create_subscription(
                msg_type, topic, lambda msg, i=i: self._on_input(i, msg), in_qos
            )
            for i, (topic, msg_type) in enumerate(INPUTS)
        ]
        self.diagnostics = common.Diagnostics(
            node, float(self.params["diagnostics_period"]), self._diagnose
        )
        self.state = "active"

    def deactivate(self) -> None:
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        for pub in self.pubs.values():
            self.node.destroy_publisher(pub)
        self.pubs = {}
        if self.diagnostics is not None:
            self.diagnostics.destroy()
            self.diagnostics = None
        self.state = "inactive"

    def cleanup(self) -> None:
        with self.lock:
            close = getattr(self.model, "close", None)
            if callable(close):
                close()
            self.model = None
            self.pipeline = None
        self.state = "unconfigured"

    # -- parameters --------------------------------------------------------------------
    def _options(self) -> StereoOptions:
        p = self.params
        return StereoOptions(
            min_depth=float(p["min_depth"]),
            max_depth=float(p["max_depth"]) or float("inf"),
            points=str(p["points"]),
            decimation=int(p["points_decimation"]),
            rectify=bool(p["rectify"]),
        )

    def _on_set(self, params: list[Parameter]) -> Any:
        reasons = common.invalid_reasons(self.specs, params)
        changed = {p.name: p.value for p in params if p.name in self.specs}
        model_changes = {k: v for k, v in changed.items() if k in self.model_params}
        if not reasons and model_changes and self.model is not None:
            with self.lock:
                try:
                    self.model.update(model_changes)
                except DepthRosError as exc:
                    reasons.append(str(exc))
        if not reasons:
            self.params.update(changed)
            if any(k in _OPTION_PARAMS for k in changed) and self.pipeline is not None:
                with self.lock:
                    self.pipeline.options = self._options()
        else:
            self.log.warn("param", "rejected parameter update: " + "; ".join(reasons))
        return common.result(reasons)

    # -- data path ---------------------------------------------------------------------
    def _on_input(self, index: int, msg: Any) -> None:
        self.last_input[index] = time.monotonic()
        if self.sync is None or self.worker is None:
            return
        matched = self.sync.add(index, common.stamp_ns(msg.header.stamp), msg)
        if matched is not None:
            self.in_rate.tick()
            self.worker.submit((time.monotonic(), matched))

    def _wanted(self) -> bool:
        return any(pub.get_subscription_count() > 0 for pub in self.pubs.values())

    def _process(self, item: tuple[float, list[Any]]) -> None:
        received, (left_msg, left_info, right_msg, right_info) = item
        if self.pipeline is None or not self.pubs or not self._wanted():
            return  # lazy: nobody listens
        t0 = time.perf_counter()
        try:
            left = to_rgb8(image_to_numpy(left_msg), left_msg.encoding)
            right = to_rgb8(image_to_numpy(right_msg), right_msg.encoding)
            left_cam = PinholeCamera.from_msg(left_info)
            right_cam = PinholeCamera.from_msg(right_info)
            wants_cloud = self.pubs["points"].get_subscription_count() > 0
            with self.lock:
                result = self.pipeline.process(
                    left, right, left_cam, right_cam, cloud=wants_cloud
                )
        except DepthRosError as exc:
            self.log.error(str(exc), f"dropping stereo frame: {exc}")
            return
        header = left_msg.header
        model = self.model
        lo = float(getattr(model, "min_disparity", 0.0))
        hi = float(getattr(model, "max_disparity", 0.0)) or float(
            result.disparity[result.disparity == result.disparity].max(initial=0.0)
        )
        self.pubs["disparity"].publish(disparity_msg(result.disparity, result.geometry, lo, hi,
                                                     header))
        self.pubs["depth"].publish(numpy_to_image(result.depth, "32FC1", header))
        self.pubs["depth_info"].publish(camera_info_msg(left_cam, header))
        if result.cloud is not None:
            self.pubs["points"].publish(cloud_msg(result.cloud, header))
        self.out_rate.tick()
        self.proc_ms.append((time.perf_counter() - t0) * 1e3)
        self.latency_ms.append((time.monotonic() - received) * 1e3)

    def _diagnose(self) -> tuple[int, str, dict[str, str]]:
        now = time.monotonic()
        values = {
            "model": str(self.params.get("model", "")),
            "backend": str(self.params.get("backend", "")),
            "device": str(self.params.get("device", "")),
            "input_rate_hz": f"{self.in_rate.rate():.2f}",
            "output_rate_hz": f"{self.out_rate.rate():.2f}",
            "processing_ms": f"{_mean(self.proc_ms):.1f}",
            "latency_ms": f"{_mean(self.latency_ms):.1f}",
            "dropped_frames": str(self.worker.slot.dropped if self.worker else 0),
            "errors": str(self.log.count),
            "state": self.state,
        }
        if self.state == "error":
            return 2, self.log.last_error or "not configured", values
        stale = [INPUTS[i][0] for i, t in enumerate(self.last_input) if now - t > 5.0]
        if len(stale) == len(INPUTS):
            return 1, "no input received for 5 s", values
        if stale:
            return 1, "no messages on " + ", ".join(stale), values
        if self.in_rate.rate() == 0.0:
            return 1, "inputs arrive but never synchronise (stamps differ?)", values
        if self.log.last_error and self.out_rate.rate() == 0.0:
            return 2, self.log.last_error, values
        return 0, "ok", values


def _mean(values: deque[float]) -> float:
    return sum(values) / len(values) if values else 0.0


class StereoDepthNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("stereo_depth", **kwargs)
        self.impl = StereoDepth(self)
        self.impl.configure()
        if self.impl.state == "inactive":
            self.impl.activate()


def main(args: list[str] | None = None) -> int:
    rclpy.init(args=args if args is not None else sys.argv)
    node = StereoDepthNode()
    try:
        rclpy.spin(node)
    except (KeyboardInterrupt, rclpy.executors.ExternalShutdownException):
        pass
    finally:
        node.impl.deactivate()
        node.destroy_node()
        if rclpy.ok():
            rclpy.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
