"""register_depth in its own process over real DDS: registered depth equal to the core's,
depth_image_proc's headers and camera_info, coloured cloud, parameters, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from functools import partial
from typing import Any, NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray
from rclpy.node import Node
from rclpy.publisher import Publisher
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.core.pointcloud import unpack_rgb
from depth_ros.core.projection import metres_to_depth_image
from depth_ros.core.register import register_depth
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.nodes.qos import qos_profile
from depth_ros.nodes.reference import quaternion_matrix
from depth_ros.tools.collector import Collector
from nodes.helpers import NodeProcess, node_process, send_until, set_params, stamp_ns

pytestmark = pytest.mark.ros
NS = "/register_test"
OUTPUTS = {
    "depth_registered/image_rect": Image,
    "depth_registered/camera_info": CameraInfo,
    "depth_registered/points": PointCloud2,
}
INPUTS = ("depth/image_rect", "depth/camera_info", "rgb/camera_info", "rgb/image_rect_color")
DEPTH_CAM = PinholeCamera.from_intrinsics(64, 48, 57.3, 56.9, 31.6, 23.3, frame_id="depth_opt")
RGB_CAM = PinholeCamera.from_intrinsics(72, 54, 63.7, 63.1, 36.2, 26.9, frame_id="rgb_opt")
EXTRINSICS = {
    "depth_to_rgb_x": -0.0523,
    "depth_to_rgb_y": 0.0071,
    "depth_to_rgb_z": 0.0134,
    "depth_to_rgb_qx": 0.012,
    "depth_to_rgb_qy": -0.016,
    "depth_to_rgb_qz": 0.006,
    "depth_to_rgb_qw": 0.9997,
}


def scene() -> NDArray[np.float32]:
    """A tilted wall 2.3 m away with a box 1.1 m away in front, and a few holes."""
    u, v = np.meshgrid(np.arange(64.0), np.arange(48.0))
    depth = 2.3 / (0.1 * (u - 31.6) / 57.3 - 0.05 * (v - 23.3) / 56.9 + 1.0)
    depth[14:30, 20:38] = 1.1
    depth[5, 5:9] = np.nan
    out: NDArray[np.float32] = depth.astype(np.float32)
    return out


def colours() -> NDArray[np.uint8]:
    u, v = np.meshgrid(np.arange(72), np.arange(54))
    return np.stack([u * 3, v * 4, (u + v) % 256], axis=-1).astype(np.uint8)


@pytest.fixture(scope="module")
def register_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("register")
    with node_process("register_depth", tmp / "register.log", dict(EXTRINSICS), NS) as proc:
        yield proc


class Rig(NamedTuple):
    node: Node
    pubs: list[Publisher[Any]]
    collector: Collector
    proc: NodeProcess


@pytest.fixture
def rig(ros_node: Node, register_node: NodeProcess) -> Rig:
    node = ros_node
    q = qos_profile("sensor_data", 5)
    types = (Image, CameraInfo, CameraInfo, Image)
    pubs = [
        node.create_publisher(t, f"{NS}/{name}", q) for name, t in zip(INPUTS, types, strict=True)
    ]
    collector = Collector(node, {f"{NS}/{t}": m for t, m in OUTPUTS.items()})
    register_node.wait(node, lambda: all(p.get_subscription_count() for p in pubs), 30, "inputs")
    register_node.wait(node, collector.publishers_matched, 30, "outputs")
    return Rig(node, pubs, collector, register_node)


def _publish(
    rig: Rig,
    depth: NDArray[np.float32],
    encoding: str = "32FC1",
    depth_cam: PinholeCamera = DEPTH_CAM,
    rgb: NDArray[np.uint8] | None = None,
) -> Header:
    """Publish one set of the four inputs; the depth's header."""
    node, pubs, _, _ = rig
    stamp = node.get_clock().now().to_msg()
    dh = Header(stamp=stamp, frame_id=DEPTH_CAM.frame_id)
    rh = Header(stamp=stamp, frame_id=RGB_CAM.frame_id)
    image = depth if encoding == "32FC1" else metres_to_depth_image(depth, encoding)
    msgs = (
        numpy_to_image(image, encoding, dh),
        camera_info_msg(depth_cam, dh),
        camera_info_msg(RGB_CAM, rh),
        numpy_to_image(colours() if rgb is None else rgb, "rgb8", rh),
    )
    for pub, msg in zip(pubs, msgs, strict=True):
        pub.publish(msg)
    return dh


def _send(rig: Rig, depth: NDArray[np.float32], encoding: str = "32FC1", **kw: Any) -> int:
    """:func:`_publish` (again while unanswered) until every output has come; the stamp."""
    return send_until(
        rig.node,
        [rig.proc],
        lambda: _publish(rig, depth, encoding, **kw),
        lambda stamp: all(stamp in rig.collector.stamps(f"{NS}/{t}") for t in OUTPUTS),
        30,
        what="the registered outputs",
    )


def test_outputs_equal_the_core_with_depth_image_proc_headers(rig: Rig) -> None:
    collector = rig.collector
    depth = scene()
    stamp = _send(rig, depth)
    expected = register_depth(
        depth, DEPTH_CAM, RGB_CAM, quaternion_matrix(dict(EXTRINSICS), "depth_to_rgb")
    )
    msg = collector.message(f"{NS}/depth_registered/image_rect", stamp)
    assert msg.encoding == "32FC1"  # stamped as the depth (use_rgb_timestamp off)
    assert msg.header.frame_id == "rgb_opt"
    got = float_image_to_numpy(msg)
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).mean() > 0.5
    info = collector.message(f"{NS}/depth_registered/camera_info", stamp)  # the rgb one
    assert (info.width, info.height) == (72, 54)
    assert list(info.k) == list(RGB_CAM.k)
    assert list(info.p) == list(RGB_CAM.p)
    assert info.header.frame_id == "rgb_opt"
    assert info.header.stamp == msg.header.stamp
    cloud = collector.message(f"{NS}/depth_registered/points", stamp)
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    assert cloud.header.frame_id == "rgb_opt"
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(54, 72, 4)
    np.testing.assert_array_equal(pts[:, :, 2], expected)
    valid = np.isfinite(expected)
    np.testing.assert_array_equal(unpack_rgb(pts[:, :, 3])[valid], colours()[valid])


def test_16uc1_input_and_runtime_extrinsics(rig: Rig) -> None:
    node, _, collector, _ = rig
    target = f"{NS}/register_depth"
    moved = {**EXTRINSICS, "depth_to_rgb_x": 0.031}
    results = set_params(node, target, {"depth_to_rgb_x": 0.031})
    assert all(r.successful for r in results), results
    depth = scene()
    stamp = _send(rig, depth, encoding="16UC1")
    millimetres = metres_to_depth_image(depth, "16UC1").astype(np.float32) * np.float32(0.001)
    millimetres[millimetres == 0] = np.nan
    expected = register_depth(
        millimetres, DEPTH_CAM, RGB_CAM, quaternion_matrix(moved, "depth_to_rgb")
    )
    got = float_image_to_numpy(collector.message(f"{NS}/depth_registered/image_rect", stamp))
    np.testing.assert_array_equal(got, expected)
    (bad,) = set_params(node, target, {"points": "xyz"})
    assert not bad.successful  # read-only: it decides the inputs
    set_params(node, target, {"depth_to_rgb_x": EXTRINSICS["depth_to_rgb_x"]})


def _logged(proc: NodeProcess, needle: str) -> bool:
    return needle in proc.text(None)


def test_bad_input_is_rejected_and_node_recovers(rig: Rig) -> None:
    node, _, collector, proc = rig
    depth = scene()
    _send(rig, depth)  # the endpoints answer
    before = collector.count(f"{NS}/depth_registered/image_rect")
    cases: list[tuple[dict[str, Any], str]] = [
        ({"depth_cam": DEPTH_CAM.scaled(32, 24)}, "camera_info is 32x24 but the image is 64x48"),
        (
            {"rgb": colours()[:20]},
            "rgb/image_rect_color is 72x20 but rgb/camera_info describes 72x54",
        ),
    ]
    bad = []
    for kw, needle in cases:  # each refused (logged) before the next
        bad.append(stamp_ns(_publish(rig, depth, **kw)))
        proc.wait(node, partial(_logged, proc, needle), 20, repr(needle))
    # nothing came out of them; and the node still works
    _send(rig, depth)
    assert collector.count(f"{NS}/depth_registered/image_rect") == before + 1
    assert not set(bad) & set(collector.stamps(f"{NS}/depth_registered/image_rect"))
