"""stereo_depth in its own process over real DDS: outputs, conventions, parameters, bad input."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pytest
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import disparity_from_msg, float_image_to_numpy
from depth_ros.core.models import build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.stereo import StereoPipeline
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import NodeProcess, node_process, set_params, stamp_ns

pytestmark = pytest.mark.ros
NS = "/stereo_test"
TOPICS = {
    "disparity": DisparityImage,
    "depth": Image,
    "depth/camera_info": CameraInfo,
    "points": PointCloud2,
}


@pytest.fixture(scope="module")
def stereo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("stereo")
    with node_process("stereo_depth", tmp / "stereo.log", {"model": "sgbm"}, NS) as proc:
        yield proc


class Rig(NamedTuple):
    node: Node
    player: StereoPlayer
    collector: Collector
    proc: NodeProcess


@pytest.fixture
def rig(ros_node: Node, stereo_node: NodeProcess) -> Rig:
    """The test's publishers and collector, matched with the node, which has answered a
    first frame (every endpoint matched both ways: no fixed wait)."""
    node = ros_node
    player = StereoPlayer(node, prefix=NS)
    collector = Collector(node, {f"{NS}/{t}": m for t, m in TOPICS.items()})
    stereo_node.wait(
        node, lambda: all(p.get_subscription_count() for p in player.pubs), 30, "subscriptions"
    )
    stereo_node.wait(node, collector.publishers_matched, 30, "output publishers")
    r = Rig(node, player, collector, stereo_node)
    s = load_sample("motorcycle")
    _send(r, s.left, s.right, s.left_camera, s.right_camera)
    return r


def _answered(rig: Rig, stamp: int) -> bool:
    return all(stamp in rig.collector.stamps(f"{NS}/{t}") for t in TOPICS)


def _send(
    rig: Rig,
    left: NDArray[np.uint8],
    right: NDArray[np.uint8],
    lcam: PinholeCamera,
    rcam: PinholeCamera,
    n: int = 1,
) -> list[Header]:
    """Publish ``n`` frames, each once the previous one's every output has come back (a
    busy node drops frames); their headers."""
    headers = []
    for _ in range(n):
        header = rig.player.publish(left, right, lcam, rcam)
        headers.append(header)
        stamp = stamp_ns(header)
        rig.proc.wait(rig.node, partial(_answered, rig, stamp), 30, f"the outputs of {stamp}")
    return headers


def test_outputs_headers_and_conventions(rig: Rig) -> None:
    collector = rig.collector
    s = load_sample("motorcycle")
    headers = _send(rig, s.left, s.right, s.left_camera, s.right_camera, n=3)
    rx = collector.received
    # every frame arrived (best effort + SHM profile), with the input's header
    for topic in TOPICS:
        got = [r.msg.header.stamp for r in rx[f"{NS}/{topic}"]]
        assert [(t.sec, t.nanosec) for t in got[-3:]] == [
            (h.stamp.sec, h.stamp.nanosec) for h in headers
        ]
        assert rx[f"{NS}/{topic}"][-1].msg.header.frame_id == s.left_camera.frame_id

    # the same frame through the core directly gives the same disparity, bit for bit
    direct = StereoPipeline(build_as("sgbm", OpenCVStereo)).process(
        s.left, s.right, s.left_camera, s.right_camera
    )
    dmsg = rx[f"{NS}/disparity"][-1].msg
    assert dmsg.image.encoding == "32FC1"
    assert dmsg.f == pytest.approx(s.left_camera.fx)
    assert dmsg.t == pytest.approx(0.193001, rel=1e-6)
    disparity = disparity_from_msg(dmsg, s.geometry.doffs)
    np.testing.assert_array_equal(np.isnan(disparity), np.isnan(direct.disparity))
    np.testing.assert_allclose(disparity, direct.disparity, rtol=0, atol=1e-4, equal_nan=True)
    # DisparityImage convention: Z = f * T / value on valid pixels
    raw = float_image_to_numpy(dmsg.image)
    depth = float_image_to_numpy(rx[f"{NS}/depth"][-1].msg)
    valid = raw >= dmsg.min_disparity
    np.testing.assert_allclose(depth[valid], dmsg.f * dmsg.t / raw[valid], rtol=1e-5)
    assert np.isnan(depth[~valid]).all()
    assert rx[f"{NS}/depth"][-1].msg.encoding == "32FC1"
    # depth/camera_info describes the depth image
    info = rx[f"{NS}/depth/camera_info"][-1].msg
    assert (info.width, info.height) == (depth.shape[1], depth.shape[0])
    # organized xyzrgb cloud, NaN where depth is NaN, z equal to depth
    cloud = rx[f"{NS}/points"][-1].msg
    assert (cloud.height, cloud.width) == depth.shape
    assert [f.name for f in cloud.fields] == ["x", "y", "z", "rgb"]
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(cloud.height, cloud.width, 4)
    np.testing.assert_array_equal(np.isnan(pts[:, :, 2]), np.isnan(depth))
    np.testing.assert_allclose(pts[:, :, 2], depth, equal_nan=True)
    assert not cloud.is_dense


def test_runtime_parameters(rig: Rig) -> None:
    node, _, collector, _ = rig
    target = f"{NS}/stereo_depth"
    (ok,) = set_params(node, target, {"correlation_window_size": 7})
    assert ok.successful, ok.reason
    (bad,) = set_params(node, target, {"correlation_window_size": 8})
    assert not bad.successful
    assert "odd" in bad.reason or "step" in bad.reason
    (out_of_range,) = set_params(node, target, {"disparity_range": 20})
    assert not out_of_range.successful
    assert "disparity_range" in out_of_range.reason
    # one request is validated as a whole (issue 15): an inconsistent pair changes nothing
    p1, p2 = set_params(node, target, {"P1": 900.0, "P2": 100.0})
    assert not p1.successful
    assert not p2.successful
    assert "P2 (100) must be larger than P1 (900)" in p2.reason
    (p1,) = set_params(node, target, {"P1": 900.0})  # alone: P2 = 0 means 32*3*7^2 = 4704
    assert p1.successful, p1.reason
    (read_only,) = set_params(node, target, {"model": "bm"})
    assert not read_only.successful
    results = set_params(node, target, {"points": "xyz", "points_decimation": 2, "P1": 0.0})
    assert all(r.successful for r in results), results
    s = load_sample("motorcycle")
    _send(rig, s.left, s.right, s.left_camera, s.right_camera)
    cloud = collector.received[f"{NS}/points"][-1].msg
    assert [f.name for f in cloud.fields] == ["x", "y", "z"]
    assert (cloud.height, cloud.width) == (250, 371)
    set_params(
        node, target, {"points": "xyzrgb", "points_decimation": 1, "correlation_window_size": 5}
    )


def _logged(proc: NodeProcess, needle: str) -> bool:
    return needle in proc.text(None)


def _zero_baseline(cam: PinholeCamera) -> PinholeCamera:
    p = list(cam.p)
    p[3] = 0.0
    return replace(cam, p=tuple(p))


def test_bad_input_is_rejected_and_node_recovers(rig: Rig) -> None:
    node, player, collector, proc = rig
    s = load_sample("motorcycle")
    count = collector.count(f"{NS}/depth")
    half = np.ascontiguousarray(s.right[:, : s.right.shape[1] // 2])
    cases = [
        ((s.left, half, s.left_camera, s.right_camera), "but right image is"),  # sizes differ
        (
            (s.left, s.right, replace(s.left_camera, k=(0.0,) * 9, p=(0.0,) * 12), s.right_camera),
            "focal length",
        ),  # no intrinsics
        ((s.left, s.right, s.left_camera.scaled(370, 250), s.right_camera), "camera_info is"),
    ]
    bad_stamps = []
    for (left, right, lcam, rcam), needle in cases:  # each one refused before the next
        bad_stamps.append(stamp_ns(player.publish(left, right, lcam, rcam)))
        proc.wait(node, partial(_logged, proc, needle), 30, repr(needle))
    # an unsupported encoding: publish raw messages by hand
    from depth_ros.nodes.convert import camera_info_msg, numpy_to_image

    header = Header(stamp=node.get_clock().now().to_msg(), frame_id=s.left_camera.frame_id)
    bad = numpy_to_image(s.left, "rgb8", header)
    bad.encoding = "yuv422"
    for pub, msg in zip(
        player.pubs,
        (
            bad,
            camera_info_msg(s.left_camera, header),
            numpy_to_image(s.right, "rgb8", header),
            camera_info_msg(s.right_camera, header),
        ),
        strict=True,
    ):
        pub.publish(msg)
    bad_stamps.append(stamp_ns(header))
    proc.wait(node, lambda: "yuv422" in proc.text(None), 30, "the yuv422 error")
    # every bad frame was refused (logged): nothing was published from one
    assert collector.count(f"{NS}/depth") == count
    assert not set(bad_stamps) & set(collector.stamps(f"{NS}/depth"))
    # and the node still works
    _send(rig, s.left, s.right, s.left_camera, s.right_camera)
    depth = float_image_to_numpy(collector.received[f"{NS}/depth"][-1].msg)
    assert math.isfinite(float(np.nanmedian(depth)))


def test_no_baseline_publishes_disparity_only(rig: Rig) -> None:
    """As stereo_image_proc with image_pipeline's own test fixture (right P[0,3] = 0): the
    DisparityImage is published, depth and points are not, and the node says why once."""
    node, player, collector, proc = rig
    s = load_sample("motorcycle")
    depth_before = collector.count(f"{NS}/depth")
    points_before = collector.count(f"{NS}/points")
    stamps = []
    for _ in range(2):
        header = player.publish(s.left, s.right, s.left_camera, _zero_baseline(s.right_camera))
        stamps.append(stamp_ns(header))
        proc.wait(
            node, lambda: stamps[-1] in collector.stamps(f"{NS}/disparity"), 60, "the disparity"
        )
    msg = collector.received[f"{NS}/disparity"][-1].msg
    assert msg.t == 0.0
    assert msg.f == pytest.approx(s.right_camera.fx)
    d = float_image_to_numpy(msg.image)
    valid = d >= msg.min_disparity
    assert valid.mean() > 0.5  # the matcher ran: disparity needs no baseline
    assert proc.text(None).count("no baseline. Publishing disparity only") == 1
    # with the baseline back, depth flows again; the frames before it published none
    _send(rig, s.left, s.right, s.left_camera, s.right_camera)
    assert collector.count(f"{NS}/depth") == depth_before + 1
    assert collector.count(f"{NS}/points") == points_before + 1
    for topic in ("depth", "points"):
        assert not set(stamps) & set(collector.stamps(f"{NS}/{topic}"))


def test_missing_camera_info_publishes_nothing(rig: Rig) -> None:
    node, player, collector, _ = rig
    s = load_sample("motorcycle")
    from depth_ros.nodes.convert import numpy_to_image

    before = collector.count(f"{NS}/depth")
    stamps = []
    for _ in range(3):
        header = Header(stamp=node.get_clock().now().to_msg(), frame_id="cam")
        player.pubs[0].publish(numpy_to_image(s.left, "rgb8", header))
        player.pubs[2].publish(numpy_to_image(s.right, "rgb8", header))
        stamps.append(stamp_ns(header))
    # a complete frame after them: once its depth is back, the images before it (same
    # topics, in order) were taken, and none of them, without camera_info, gave a depth
    _send(rig, s.left, s.right, s.left_camera, s.right_camera)
    assert collector.count(f"{NS}/depth") == before + 1
    assert not set(stamps) & set(collector.stamps(f"{NS}/depth"))


def test_compressed_input_gives_the_raw_result(ros_node: Node, tmp_path: Path) -> None:
    """``image_transport:=compressed``: the node reads ``left/image_rect/compressed`` and
    ``right/image_rect/compressed`` (PNG, lossless) and its depth equals the core on the
    raw pair."""
    import cv2
    from sensor_msgs.msg import CompressedImage

    from depth_ros.nodes.convert import camera_info_msg
    from depth_ros.nodes.qos import qos_profile

    node = ros_node
    ns = "/stereo_compressed_test"
    s = load_sample("motorcycle")
    params = {"model": "sgbm", "image_transport": "compressed", "points": "none"}
    with node_process("stereo_depth", tmp_path / "stereo_depth.log", params, ns) as proc:
        collector = Collector(node, {f"{ns}/depth": Image})
        q = qos_profile("sensor_data", 5)
        pubs = [
            node.create_publisher(CompressedImage, f"{ns}/left/image_rect/compressed", q),
            node.create_publisher(CameraInfo, f"{ns}/left/camera_info", q),
            node.create_publisher(CompressedImage, f"{ns}/right/image_rect/compressed", q),
            node.create_publisher(CameraInfo, f"{ns}/right/camera_info", q),
        ]
        proc.wait(node, lambda: all(p.get_subscription_count() for p in pubs), 60, "inputs")
        proc.wait(node, collector.publishers_matched, 60, "the depth publisher")
        assert node.count_subscribers(f"{ns}/left/image_rect") == 0
        header = Header(stamp=node.get_clock().now().to_msg(), frame_id=s.left_camera.frame_id)

        def png(rgb: NDArray[np.uint8]) -> CompressedImage:
            ok, data = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
            assert ok
            return CompressedImage(
                header=header, format="rgb8; png compressed bgr8", data=data.tobytes()
            )

        for pub, msg in zip(
            pubs,
            (
                png(s.left),
                camera_info_msg(s.left_camera, header),
                png(s.right),
                camera_info_msg(s.right_camera, header),
            ),
            strict=True,
        ):
            pub.publish(msg)
        proc.wait(node, lambda: collector.count(f"{ns}/depth") >= 1, 60, "the depth")
    got = float_image_to_numpy(collector.received[f"{ns}/depth"][-1].msg)
    expected = (
        StereoPipeline(build_as("sgbm", OpenCVStereo))
        .process(s.left, s.right, s.left_camera, s.right_camera, cloud=False)
        .depth
    )
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got, expected, rtol=1e-6, equal_nan=True)
