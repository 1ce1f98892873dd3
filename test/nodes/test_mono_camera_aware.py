"""Camera-aware metric mono through ``mono_depth`` over real DDS: Metric3D v2 ViT-S with a
random checkpoint in the official layout (the real weights are not reachable here; the
values are meaningless, the camera contract is not). The node hands the synchronised
CameraInfo to the network: with fx and fy doubled the published depth doubles, exactly as
Metric3D's canonical-camera math implies; normals (32FC3) and depth/confidence come with
it; an uncalibrated camera (K all zero) is refused with the reason and nothing is
published."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import Image

from nodes.helpers import node_process, stamp_ns

pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import float_image_to_numpy, image_to_numpy
from depth_ros.core.models import get_model
from depth_ros.tools.collector import Collector
from nodes.test_mono_depth import Inputs

pytestmark = pytest.mark.ros
NS = "/mono_camera_aware"


def _doubled(camera: PinholeCamera) -> PinholeCamera:
    k, p = list(camera.k), list(camera.p)
    k[0], k[4], p[0], p[5] = 2 * k[0], 2 * k[4], 2 * p[0], 2 * p[5]
    return replace(camera, k=tuple(k), p=tuple(p))


def test_metric3d_depth_follows_the_focal_length(ros_node: Node, tmp_path: Path) -> None:
    import cv2

    node = ros_node
    spec = get_model("metric3d_v2_vits")
    assert spec.random_checkpoint is not None
    weights = tmp_path / "metric_depth_vit_small_800k.pth"
    spec.random_checkpoint(weights)
    s = load_sample("motorcycle")
    rgb = np.ascontiguousarray(
        cv2.resize(s.left, (148, 100), interpolation=cv2.INTER_AREA), np.uint8
    )
    camera = s.left_camera.scaled(148, 100)
    params = {
        "model": "metric3d_v2_vits",
        "weights": str(weights),
        "input_height": 112,
        "input_width": 168,
    }
    topics = {f"{NS}/depth": Image, f"{NS}/normals": Image, f"{NS}/depth/confidence": Image}
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, NS) as proc:
        c = Collector(node, topics)
        proc.wait(node, c.publishers_matched, 90, "the outputs")
        inputs = Inputs(node, proc, NS)
        stamp = inputs.send(c, list(topics), rgb, camera)
        doubled = inputs.send(c, [f"{NS}/depth"], rgb, _doubled(camera))
        count = c.count(f"{NS}/depth")
        uncalibrated = replace(camera, k=(0.0,) * 9, p=(0.0,) * 12)
        refused = stamp_ns(inputs.publish(rgb, uncalibrated))
        proc.wait(node, lambda: "no focal length" in proc.text(None), 90, "the refusal")
        # refused (logged) before anything was published for it
        assert c.count(f"{NS}/depth") == count, "published depth for an uncalibrated camera"
        assert refused not in c.stamps(f"{NS}/depth")
        text = proc.text(None)
    first = float_image_to_numpy(c.message(f"{NS}/depth", stamp))
    second = float_image_to_numpy(c.message(f"{NS}/depth", doubled))
    valid = np.isfinite(first) & (first < 150.0)  # below the 300 m clamp after doubling
    assert valid.mean() > 0.5
    np.testing.assert_allclose(second[valid], 2.0 * first[valid], rtol=1e-5)
    normals = c.message(f"{NS}/normals", stamp)
    assert normals.encoding == "32FC3"
    n = image_to_numpy(normals)
    assert n.shape == (100, 148, 3)
    ok = np.isfinite(n).all(axis=2)
    np.testing.assert_allclose(np.linalg.norm(n[ok], axis=1), 1.0, atol=1e-4)
    conf = float_image_to_numpy(c.message(f"{NS}/depth/confidence", stamp))
    assert conf.shape == (100, 148)
    assert np.nanmin(conf) >= 0.0
    assert np.nanmax(conf) <= 1.0
    assert "no focal length" in text
    assert "Traceback" not in text
