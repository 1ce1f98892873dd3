"""``register_depth``: a depth image reprojected into another camera, as depth_image_proc's
``register`` (e.g. onto the colour camera of an RGB-D or stereo rig).

Subscribes, synchronised by stamp: ``depth/image_rect`` (32FC1 metres or 16UC1
millimetres), ``depth/camera_info``, ``rgb/camera_info`` and, with ``points:=xyzrgb`` (the
default), ``rgb/image_rect_color`` for the cloud's colours. The depth → rgb transform comes
from TF at the depth stamp (``use_tf``, when tf2_ros is importable) or from the
``depth_to_rgb_*`` parameters. Publishes ``depth_registered/image_rect`` (32FC1 metres
along the rgb optical axis, NaN where no depth lands; z-buffered, nearest surface wins),
``depth_registered/camera_info`` (the rgb camera_info, restamped, as depth_image_proc
does) and ``depth_registered/points`` (organised cloud in the rgb frame). The work happens
in :mod:`depth_ros.core.register`; this file only translates messages.
"""

from __future__ import annotations

import copy
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rclpy.time import Time
from std_msgs.msg import Header
from typing_extensions import override

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.catalogue import node_info
from depth_ros.core.encodings import to_rgb8
from depth_ros.core.errors import CalibrationError, InputError
from depth_ros.core.messages import image_to_numpy
from depth_ros.core.params import ParamSpec
from depth_ros.core.pointcloud import depth_to_cloud
from depth_ros.core.projection import depth_image_to_metres
from depth_ros.core.register import DepthRegistrar
from depth_ros.core.schema import register_node_params
from depth_ros.nodes import base, process, topics
from depth_ros.nodes.convert import cloud_msg, numpy_to_image
from depth_ros.nodes.reference import quaternion_matrix, transform_matrix

PREFIX = "depth_to_rgb"
INFO = node_info("register_depth")  # topics: depth_ros.core.catalogue


class RegisterDepth(base.DepthComponent):
    """A model-less :class:`~depth_ros.nodes.base.DepthComponent`: ``configure`` declares
    the parameters and builds the registrar (the "model" the base class runs frames
    through); the rest (lazy subscriptions, newest-frame worker, rate-limited errors,
    diagnostics, lifecycle) is the base class's."""

    name = INFO.name
    default_model = INFO.default_model
    option_params = frozenset(("fill_upsampling_holes",))
    registrar: DepthRegistrar
    _tf_buffer: Any = None
    _tf_listener: Any = None
    transform_source = "parameters"
    filled = float("nan")

    @override
    def schema(self, model_params: tuple[ParamSpec, ...]) -> dict[str, ParamSpec]:
        return register_node_params()

    @override
    def configure(self) -> bool:
        self.binding.bind(self.schema(()))
        self.binding.warn_startup_invalid()  # and carry on with the defaults
        self.registrar = DepthRegistrar(bool(self.params["fill_upsampling_holes"]))
        self.model = self.registrar
        if bool(self.params["use_tf"]):
            try:
                import tf2_ros
            except ImportError:
                self.node.get_logger().warning(
                    "use_tf is true but tf2_ros is not importable: the depth → rgb transform "
                    f"comes from the {PREFIX}_* parameters"
                )
            else:
                self._tf_buffer = tf2_ros.Buffer()
                self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, self.node)
                self.transform_source = "tf"
        self.create_outputs()
        self.state = "inactive"
        self.node.get_logger().info(
            f"{self.name} configured: depth → rgb transform from {self.transform_source}"
        )
        return True

    @override
    def apply_options(self) -> None:
        self.registrar.fill_upsampling_holes = bool(self.params["fill_upsampling_holes"])

    @override
    def teardown(self) -> None:
        self._tf_listener = self._tf_buffer = None

    def flags(self) -> set[str]:
        """The catalogue's topic flags that hold: ``xyzrgb`` adds the colour image."""
        return {"xyzrgb"} if self.params.get("points") == "xyzrgb" else set()

    @override
    def inputs(self) -> Sequence[tuple[str, type]]:
        return topics.synced_inputs(INFO, self.flags())

    @override
    def create_publishers(self, qos: Any) -> dict[str, Any]:
        return topics.publishers(self, INFO, qos, self.flags())

    def _transform(self, source: str, target: str, stamp: Any) -> NDArray[np.float64]:
        """Depth optical frame → rgb optical frame, as register.cpp looks it up."""
        if self._tf_buffer is None or not source or not target or source == target:
            return quaternion_matrix(self.params, PREFIX)
        try:
            t = self._tf_buffer.lookup_transform(target, source, Time.from_msg(stamp))
        except Exception as exc:  # tf2 raises its own LookupException family
            raise CalibrationError(f"no transform {source} → {target}: {exc}") from exc
        return transform_matrix(t.transform)

    @override
    def handle(self, msgs: list[Any]) -> None:
        depth_msg, depth_info, rgb_info = msgs[:3]
        depth = depth_image_to_metres(image_to_numpy(depth_msg), depth_msg.encoding)
        depth_cam = PinholeCamera.from_msg(depth_info)
        rgb_cam = PinholeCamera.from_msg(rgb_info)
        points = str(self.params["points"])
        rgb = None
        if points == "xyzrgb":  # checked first: a bad frame publishes nothing
            rgb_msg = msgs[3]
            rgb = to_rgb8(image_to_numpy(rgb_msg), rgb_msg.encoding)
            if rgb.shape[:2] != (rgb_cam.height, rgb_cam.width):
                raise InputError(
                    f"rgb/image_rect_color is {rgb.shape[1]}x{rgb.shape[0]} but "
                    f"rgb/camera_info describes {rgb_cam.width}x{rgb_cam.height}"
                )
        transform = self._transform(
            depth_info.header.frame_id, rgb_info.header.frame_id, depth_info.header.stamp
        )
        registered = self.registrar.register(depth, depth_cam, rgb_cam, transform)
        self.filled = float(np.isfinite(registered).mean())
        stamp = (
            rgb_info.header.stamp if self.params["use_rgb_timestamp"] else (depth_msg.header.stamp)
        )
        header = Header(stamp=stamp, frame_id=rgb_info.header.frame_id)
        info = copy.deepcopy(rgb_info)
        info.header = header
        self.pubs["depth"].publish(numpy_to_image(registered, "32FC1", header))
        self.pubs["info"].publish(info)
        if points != "none" and self.wanted("points"):
            cloud = depth_to_cloud(registered, rgb_cam, rgb, int(self.params["points_decimation"]))
            self.pubs["points"].publish(cloud_msg(cloud, header))

    @override
    def extra_diagnostics(self) -> dict[str, str]:
        return {
            "transform_source": self.transform_source,
            "registered_fraction": f"{self.filled:.3f}",
        }


def main(args: list[str] | None = None) -> int:
    """Run ``register_depth`` as a plain node until shutdown; the exit status."""
    return process.run(RegisterDepth, args)


def main_lifecycle(args: list[str] | None = None) -> int:
    """Run ``register_depth`` as a lifecycle node until shutdown; the exit status."""
    return process.run(RegisterDepth, args, lifecycle=True)


if __name__ == "__main__":
    sys.exit(main())
