"""Metric references for the scale sources: the newest reference depth image, point cloud
or disparity, brought into the camera (projection happens in :mod:`depth_ros.core.projection`).
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.time import Time

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError
from depth_ros.core.messages import (
    disparity_from_msg,
    disparity_msg_geometry,
    image_to_numpy,
    points_xyz,
    read_points,
    stamp_to_ns,
)
from depth_ros.core.params import Value
from depth_ros.core.projection import (
    depth_image_to_metres,
    ground_from_transform,
    reference_from_cloud,
    reproject_depth,
)
from depth_ros.core.scale import ScaleContext


def quaternion_matrix(
    p: Mapping[str, Value], prefix: str = "reference_to_camera"
) -> NDArray[np.float64]:
    """4x4 transform from the ``<prefix>_{x,y,z,qx,qy,qz,qw}`` parameters."""
    x, y, z, w = (float(p[f"{prefix}_q{c}"]) for c in "xyzw")
    n = np.sqrt(x * x + y * y + z * z + w * w)
    if not n > 0:
        raise CalibrationError(f"{prefix} quaternion has zero length")
    x, y, z, w = x / n, y / n, z / n, w / n
    t = np.eye(4)
    t[:3, :3] = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ]
    t[:3, 3] = [float(p[f"{prefix}_{c}"]) for c in "xyz"]
    return t


def transform_matrix(transform: Any) -> NDArray[np.float64]:
    """4x4 matrix of a ``geometry_msgs/Transform`` (e.g. a TF lookup's ``.transform``)."""
    q, tr = transform.rotation, transform.translation
    return quaternion_matrix(
        {"t_qx": q.x, "t_qy": q.y, "t_qz": q.z, "t_qw": q.w, "t_x": tr.x, "t_y": tr.y, "t_z": tr.z},
        prefix="t",
    )


class ReferenceTracker:
    """Keeps the newest reference message of each kind and turns it into a ScaleContext."""

    def __init__(self, node: Node, source: str, params: dict[str, Value]) -> None:
        self.node = node
        self.source = source
        self.params = params
        self._lock = threading.Lock()
        self._latest: dict[str, Any] = {}
        self._tf: Any = None
        if bool(params.get("use_tf", False)):
            try:
                import tf2_ros
            except ImportError as exc:
                raise CalibrationError(
                    "use_tf is true but tf2_ros is not importable: install ROS 2's tf2_ros "
                    "or give the reference_to_camera_* parameters"
                ) from exc
            self._tf_buffer = tf2_ros.Buffer()
            self._tf = tf2_ros.TransformListener(self._tf_buffer, node)

    def subscriptions(self, qos: Any, topics: Sequence[tuple[str, type]]) -> list[Any]:
        """Subscriptions keeping the newest message of each reference topic (the scale
        source's, from the node catalogue: depth_ros.core.catalogue)."""
        return [
            self.node.create_subscription(kind, name, self._keep(name), qos)
            for name, kind in topics
        ]

    def stamps(self) -> dict[str, str]:
        """The header stamp (sec.nanosec) of the newest message kept per reference topic
        (in the diagnostics: whether, and which, references arrive)."""
        with self._lock:
            latest = dict(self._latest)
        return {
            topic: f"{msg.header.stamp.sec}.{msg.header.stamp.nanosec:09d}"
            for topic, msg in sorted(latest.items())
        }

    def clear(self) -> None:
        """Forget every reference kept (time went backwards)."""
        with self._lock:
            self._latest.clear()

    def _keep(self, topic: str) -> Any:
        def callback(msg: Any) -> None:
            with self._lock:
                self._latest[topic] = msg

        return callback

    def _transform(self, source_frame: str, camera: PinholeCamera) -> NDArray[np.float64]:
        if self._tf is None or not source_frame or source_frame == camera.frame_id:
            return quaternion_matrix(self.params)
        return self._lookup(camera.frame_id, source_frame)

    def _lookup(self, target: str, source: str) -> NDArray[np.float64]:
        """4x4 mapping points in ``source`` into ``target`` (the newest TF)."""
        try:
            t = self._tf_buffer.lookup_transform(target, source, Time())
        except Exception as exc:  # tf2 raises its own LookupException family
            raise CalibrationError(f"no transform {source} → {target}: {exc}") from exc
        return transform_matrix(t.transform)

    def context(self, camera: PinholeCamera, shape: tuple[int, int], stamp: float) -> ScaleContext:
        """The scale context of a frame: the newest reference (disparity, depth or points) projected
        into ``camera``'s image of ``shape``."""
        with self._lock:
            latest = dict(self._latest)
        if self.source == "stereo" and "reference/disparity" in latest:
            msg = latest["reference/disparity"]
            # DisparityImage holds d + doffs, so depth = f * T / value: doffs 0 here
            return ScaleContext(
                camera=camera,
                disparity=disparity_from_msg(msg),
                stereo=disparity_msg_geometry(msg),
                stamp=stamp,
                reference_stamp=stamp_to_ns(msg) / 1e9,
            )
        if "reference/points" in latest:
            msg = latest["reference/points"]
            ref = reference_from_cloud(
                points_xyz(read_points(msg)),
                camera,
                self._transform(msg.header.frame_id, camera),
                shape,
            )
            return ScaleContext(
                camera=camera,
                reference=ref,
                stamp=stamp,
                reference_stamp=stamp_to_ns(msg) / 1e9,
            )
        if "reference/depth" in latest:
            msg = latest["reference/depth"]
            depth = depth_image_to_metres(image_to_numpy(msg), msg.encoding)
            aligned = depth.shape == shape and (
                not msg.header.frame_id or msg.header.frame_id == camera.frame_id
            )
            if not aligned:
                info = latest.get("reference/camera_info")
                if info is None:
                    raise CalibrationError(
                        f"reference depth is {depth.shape[1]}x{depth.shape[0]} in frame "
                        f"{msg.header.frame_id!r}, not aligned with the camera: publish "
                        "reference/camera_info for it"
                    )
                depth = reproject_depth(
                    depth,
                    PinholeCamera.from_msg(info),
                    camera.scaled(shape[1], shape[0]),
                    self._transform(msg.header.frame_id, camera),
                )
            return ScaleContext(
                camera=camera,
                reference=depth,
                stamp=stamp,
                reference_stamp=stamp_to_ns(msg) / 1e9,
            )
        base = str(self.params.get("base_frame", ""))
        if self.source == "ground_plane" and self._tf is not None and base:
            height, gravity = ground_from_transform(self._lookup(base, camera.frame_id))
            return ScaleContext(camera=camera, camera_height=height, gravity=gravity, stamp=stamp)
        return ScaleContext(camera=camera, stamp=stamp)
