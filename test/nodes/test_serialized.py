"""Serialized-in-place outputs (core/cdr.py + nodes/serialized.py) through rclpy: rclpy's
deserializer reads them as the messages the node used to build, they arrive over DDS,
the GIL is released while the middleware copies them, and the fallback path works."""

from __future__ import annotations

import ctypes
import time

import numpy as np
import pytest
from rclpy.node import Node
from rclpy.publisher import Publisher
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.serialization import deserialize_message, serialize_message
from sensor_msgs.msg import Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core import cdr
from depth_ros.core.camera import StereoGeometry
from depth_ros.core.pointcloud import XYZRGB_FIELDS, depth_to_cloud
from depth_ros.nodes.convert import cloud_msg, disparity_msg, numpy_to_image
from depth_ros.nodes.serialized import PublishQueue, SerializedOutputs, SerializedPublisher
from nodes.helpers import wait_for

pytestmark = pytest.mark.ros

HEADER = Header(frame_id="left_optical")
HEADER.stamp.sec, HEADER.stamp.nanosec = 1_700_000_123, 456


def _depth(h: int = 6, w: int = 9) -> np.ndarray:
    depth = np.linspace(0.5, 4.0, h * w, dtype=np.float32).reshape(h, w)
    depth[2, 3] = np.nan
    return depth


def _depth_cdr(depth: np.ndarray) -> cdr.CdrMessage:
    h, w = depth.shape
    msg = cdr.image(HEADER.frame_id, h, w, "32FC1", 4 * w)
    msg.array("data", np.float32, (h, w))[:] = depth
    msg.stamp(HEADER.stamp.sec, HEADER.stamp.nanosec)
    return msg


def test_rclpy_reads_them_as_the_messages_built_field_by_field() -> None:
    depth = _depth()
    h, w = depth.shape
    built = numpy_to_image(depth, "32FC1", HEADER)
    assert deserialize_message(bytes(_depth_cdr(depth)), Image) == built

    disparity = (50.0 / depth).astype(np.float32)  # float32 already: the type made plain
    geometry = StereoGeometry(fx=500.0, baseline=0.1, doffs=1.5)
    msg = cdr.disparity_image(HEADER.frame_id, h, w)
    cdr.write_disparity(msg, disparity, geometry, 0.0, 64.0)
    msg.stamp(HEADER.stamp.sec, HEADER.stamp.nanosec)
    expected = disparity_msg(disparity, geometry, 0.0, 64.0, HEADER)
    round_trip = deserialize_message(serialize_message(expected), DisparityImage)  # float32
    assert deserialize_message(bytes(msg), DisparityImage) == round_trip

    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    from depth_ros.core.camera import PinholeCamera

    camera = PinholeCamera.from_intrinsics(w, h, 8.0, 8.0, 4.0, 3.0)
    packed = depth_to_cloud(depth, camera, rgb)
    cloud = cdr.point_cloud(HEADER.frame_id, h, w, XYZRGB_FIELDS, 16)
    cloud.array("data", np.float32, (h, w, 4))[:] = packed.as_array()
    cloud.stamp(HEADER.stamp.sec, HEADER.stamp.nanosec)
    cloud.set("is_dense", packed.is_dense)
    assert deserialize_message(bytes(cloud), PointCloud2) == cloud_msg(packed, HEADER)


class _NoHandle:
    """A publisher without rclpy's C handle (a test double, another client library)."""

    def __init__(self, inner: Publisher[Image]) -> None:
        self.inner = inner

    def publish(self, msg: Image) -> None:
        self.inner.publish(msg)


@pytest.mark.parametrize("fast", [True, False])
def test_published_buffers_arrive_over_dds(ros_node: Node, fast: bool) -> None:
    qos = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
    got: list[Image] = []
    ros_node.create_subscription(Image, "serialized_depth", got.append, qos)
    pub = ros_node.create_publisher(Image, "serialized_depth", qos)
    raw = SerializedPublisher(pub if fast else _NoHandle(pub))
    assert raw.releases_gil is fast  # the fast path is live on this rclpy
    assert wait_for(ros_node, lambda: pub.get_subscription_count() > 0, 10.0)
    depth = _depth(480, 640)  # 1.2 MB
    raw.publish(_depth_cdr(depth))
    assert wait_for(ros_node, lambda: len(got) == 1, 10.0)
    assert got[0] == numpy_to_image(depth, "32FC1", HEADER)


def test_the_gil_is_released_while_the_middleware_copies(ros_node: Node) -> None:
    """The raw publish goes through a ctypes CDLL function, which ctypes calls with the
    GIL released (a PyDLL function would hold it): another Python thread runs while the
    middleware copies. How much that frees the other thread is measured side by side with
    rclpy's own publish in ``benchmarks/gil_release.py`` (a timing, not a unit test)."""
    pub = ros_node.create_publisher(PointCloud2, "serialized_points", 1)
    raw = SerializedPublisher(pub)
    assert raw.releases_gil
    fn = raw._fn
    assert fn is not None
    # a CDLL function (the GIL is released), not a PyDLL one (PYTHONAPI: the GIL is held)
    assert fn._flags_ == ctypes.CDLL._func_flags_ != ctypes.PyDLL._func_flags_
    assert fn.__name__ == "rcl_publish_serialized_message"
    # and the call really goes through it: a message published this way arrives
    received: list[PointCloud2] = []
    ros_node.create_subscription(PointCloud2, "serialized_points", received.append, 1)
    msg = cdr.point_cloud("f", 2, 3, XYZRGB_FIELDS, 16)
    assert wait_for(ros_node, lambda: pub.get_subscription_count() > 0, 10)

    def published() -> bool:
        raw.publish(msg)
        return bool(received)

    assert wait_for(ros_node, published, 10)
    assert (received[-1].height, received[-1].width) == (2, 3)


def test_queue_waits_for_everything_and_reraises() -> None:
    queue = PublishQueue()
    done: list[int] = []

    def fail() -> None:
        raise RuntimeError("middleware said no")

    queue.submit(fail)

    def slow() -> None:
        time.sleep(0.05)  # still running when the failure is seen
        done.append(1)

    queue.submit(slow)
    with pytest.raises(RuntimeError, match="middleware said no"):
        queue.wait()
    assert done == [1]  # the later job had finished before wait() raised
    queue.wait()  # nothing pending any more
    queue.close()


def test_outputs_reuse_a_message_until_its_layout_changes() -> None:
    outputs = SerializedOutputs()
    first = outputs.message("depth", ("cam", 4, 5), lambda: cdr.image("cam", 4, 5, "32FC1", 20))
    again = outputs.message("depth", ("cam", 4, 5), lambda: cdr.image("cam", 4, 5, "32FC1", 20))
    other = outputs.message("depth", ("cam2", 4, 5), lambda: cdr.image("cam2", 4, 5, "32FC1", 20))
    assert first is again
    assert other is not first
    outputs.close()
