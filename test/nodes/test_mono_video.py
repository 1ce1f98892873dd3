"""mono_depth over real DDS with Video Depth Anything (streaming; a random checkpoint in
the official layout): the temporal window is kept from one frame to the next and dropped
when the stamps jump back (a bag loop)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from conftest import as_image
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from nodes.helpers import node_process, wait_for

pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.core.models import ModelConfig, build_as, get_model
from depth_ros.core.models.video_depth_anything import VideoDepthModel
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.nodes.qos import qos_profile
from depth_ros.tools.collector import Collector

pytestmark = pytest.mark.ros
MODEL = "video_depth_anything_vits"


def test_video_model_keeps_its_window_and_restarts_on_a_time_jump(
    ros_node: Node, tmp_path: Path
) -> None:
    import cv2

    node = ros_node
    spec = get_model(MODEL)
    assert spec.random_checkpoint is not None
    assert spec.weights_file is not None
    weights = tmp_path / spec.weights_file
    spec.random_checkpoint(weights)
    s = load_sample("motorcycle")
    small = cv2.resize(s.left, (185, 125), interpolation=cv2.INTER_AREA)
    rgb1 = np.ascontiguousarray(small, dtype=np.uint8)
    rgb2 = np.ascontiguousarray(rgb1[::-1])  # another frame of the same size
    camera = s.left_camera.scaled(185, 125)
    ns = "/mono_vda"
    params = {
        "model": MODEL,
        "weights": str(weights),
        "input_size": 70,
        "temporal_reset_gap_seconds": 0.0,  # only stamps going backwards restart it
    }
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, ns) as proc:
        c = Collector(node, {f"{ns}/depth/relative": Image})
        q = qos_profile("sensor_data", 5)
        img_pub = node.create_publisher(Image, f"{ns}/image", q)
        info_pub = node.create_publisher(CameraInfo, f"{ns}/camera_info", q)
        assert wait_for(
            node,
            lambda: (
                c.publishers_matched()
                and img_pub.get_subscription_count() > 0
                and info_pub.get_subscription_count() > 0
            ),
            120,
        ), proc.report()

        def frame(rgb: NDArray[np.uint8], sec: int, n: int) -> NDArray[np.float32]:
            header = Header(stamp=Time(sec=sec), frame_id="camera_optical_frame")
            img_pub.publish(numpy_to_image(rgb, "rgb8", header))
            info_pub.publish(camera_info_msg(camera, header))
            topic = f"{ns}/depth/relative"
            # each frame advances the stream: sent once, waited for (not resent)
            assert wait_for(node, lambda: c.count(topic) >= n, 120), proc.report()
            return float_image_to_numpy(as_image(c.received[topic][-1].msg))

        first = frame(rgb1, 100, 1)
        second = frame(rgb2, 101, 2)
        looped = frame(rgb2, 50, 3)  # back in time: a new stream
        assert "Traceback" not in proc.text(None)
    config = ModelConfig(weights=weights, input_size=70)
    model = build_as(MODEL, VideoDepthModel, config)
    p1, p2 = model.predict(rgb1), model.predict(rgb2)
    alone = build_as(MODEL, VideoDepthModel, config).predict(rgb2)
    assert np.abs(p2 - alone).max() > 1e-2 * np.ptp(alone)  # the window changes frame 2
    np.testing.assert_allclose(first, p1, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(second, p2, rtol=1e-4, atol=1e-6)  # window kept
    np.testing.assert_allclose(looped, alone, rtol=1e-4, atol=1e-6)  # window dropped
