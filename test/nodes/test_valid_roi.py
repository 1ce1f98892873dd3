"""stereo_depth's valid region over real DDS: camera_info's ROI marking the valid part of a
full image (a filled rectification border), then an explicit ``valid_roi`` set at runtime:
outside it no disparity, depth or points, and DisparityImage.valid_window inside it;
inside, the very disparity of the pipeline without a region."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import disparity_from_msg, float_image_to_numpy
from depth_ros.core.models import build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.stereo import StereoPipeline
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.nodes.qos import qos_profile
from depth_ros.tools.collector import Collector
from nodes.helpers import node_process, send_until, set_params

pytestmark = pytest.mark.ros
NS = "/valid_roi_test"
OUT = {f"{NS}/disparity": DisparityImage, f"{NS}/depth": Image, f"{NS}/points": PointCloud2}


def _inside(shape: tuple[int, ...], x: int, y: int, w: int, h: int) -> NDArray[np.bool_]:
    mask = np.zeros(shape[:2], bool)
    mask[y : y + h, x : x + w] = True
    return mask


def test_valid_region_from_camera_info_then_explicit(ros_node: Node, tmp_path: Path) -> None:
    node = ros_node
    s = load_sample("motorcycle")
    whole = StereoPipeline(build_as("sgbm", OpenCVStereo)).process(
        s.left, s.right, s.left_camera, s.right_camera
    )
    q = qos_profile("sensor_data", 5)
    pubs = [
        node.create_publisher(Image, f"{NS}/left/image_rect", q),
        node.create_publisher(CameraInfo, f"{NS}/left/camera_info", q),
        node.create_publisher(Image, f"{NS}/right/image_rect", q),
        node.create_publisher(CameraInfo, f"{NS}/right/camera_info", q),
    ]
    rx = Collector(node, OUT)
    with node_process("stereo_depth", tmp_path / "stereo_depth.log", {"model": "sgbm"}, NS) as proc:
        proc.wait(node, lambda: all(p.get_subscription_count() for p in pubs), 60, "inputs")
        proc.wait(node, rx.publishers_matched, 30, "outputs")

        def publish(roi: tuple[int, int, int, int]) -> Header:
            header = Header(stamp=node.get_clock().now().to_msg(), frame_id="left")
            infos = [camera_info_msg(c, header) for c in (s.left_camera, s.right_camera)]
            for info in infos:
                r = info.roi
                r.x_offset, r.y_offset, r.width, r.height = roi
            pubs[0].publish(numpy_to_image(s.left, "rgb8", header))
            pubs[1].publish(infos[0])
            pubs[2].publish(numpy_to_image(s.right, "rgb8", header))
            pubs[3].publish(infos[1])
            return header

        def send(roi: tuple[int, int, int, int]) -> int:
            """A frame with ``roi`` (again while unanswered) until every output has it."""
            return send_until(
                node,
                [proc],
                lambda: publish(roi),
                lambda stamp: all(stamp in rx.stamps(t) for t in OUT),
                60,
                what="the outputs",
            )

        def check(stamp: int, x: int, y: int, w: int, h: int) -> None:
            inside = _inside(s.left.shape, x, y, w, h)
            dmsg = rx.message(f"{NS}/disparity", stamp)
            disparity = disparity_from_msg(dmsg, s.geometry.doffs)
            assert np.isnan(disparity[~inside]).all()
            np.testing.assert_allclose(
                disparity[inside], whole.disparity[inside], atol=1e-4, equal_nan=True
            )
            win = dmsg.valid_window
            assert (win.x_offset, win.y_offset) >= (x, y)
            assert win.x_offset + win.width <= x + w
            assert win.y_offset + win.height <= y + h
            depth = float_image_to_numpy(rx.message(f"{NS}/depth", stamp))
            assert np.isnan(depth[~inside]).all()
            assert np.isfinite(depth[inside]).mean() > 0.8
            cloud = rx.message(f"{NS}/points", stamp)
            pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(
                cloud.height, cloud.width, -1
            )
            assert np.isnan(pts[~inside][:, 2]).all()

        stamp = send((60, 40, 500, 300))  # the full image with an ROI: its valid region
        check(stamp, 60, 40, 500, 300)
        target = f"{NS}/stereo_depth"
        (bad,) = set_params(node, target, {"valid_roi": "10,20,0,30"})
        assert not bad.successful
        assert "x,y,width,height" in bad.reason
        (ok,) = set_params(node, target, {"valid_roi": "100,50,300,200"})
        assert ok.successful, ok.reason
        stamp = send((0, 0, 0, 0))
        check(stamp, 100, 50, 300, 200)
