"""mono_depth running Marigold in its own process over real DDS: a tiny random folder in
the official diffusers layout, the model's parameters from the node's, the published
relative image equal to the core's prediction (fixed seed), and no progress bar in the
node's log. A parameter change reaches the model live."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import Image

from depth_ros.core.models import build_as
from depth_ros.core.models.marigold import MarigoldModel
from nodes.helpers import node_process, set_params

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.core.models import ModelConfig, get_model
from depth_ros.tools.collector import Collector

pytestmark = pytest.mark.ros


def test_marigold_through_the_node(ros_node: Node, tmp_path: Path) -> None:
    from nodes.test_mono_depth import Inputs  # skips without timm, like that module

    node = ros_node
    spec = get_model("marigold_depth")
    assert spec.random_checkpoint is not None
    folder = tmp_path / "marigold-depth-v1-1"
    spec.random_checkpoint(folder)
    rgb = np.random.default_rng(1).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    camera = PinholeCamera.from_intrinsics(64, 48, 60.0, 60.0, 31.5, 23.5)
    model_params = {"processing_resolution": 64, "denoising_steps": 2}
    params = {"model": "marigold_depth", "weights": str(folder), **model_params}
    ns = "/mono_marigold"
    topic = f"{ns}/depth/relative"
    with node_process("mono_depth", tmp_path / "mono_depth.log", params, ns) as proc:
        c = Collector(node, {topic: Image})
        proc.wait(node, c.publishers_matched, 90, "the relative output")
        inputs = Inputs(node, proc, ns)
        # denoising takes seconds on a CPU: sent again only after a minute unanswered
        first = inputs.send(c, [topic], rgb, camera, every=60.0, timeout=180)
        results = set_params(node, ns + "/mono_depth", {"denoising_steps": 1})
        assert all(r.successful for r in results), results
        second = inputs.send(c, [topic], rgb, camera, every=60.0, timeout=180)
        text = proc.text(None)
    assert "Diffusion steps" not in text  # the node (stdout + stderr here) shows no bars
    assert "Traceback" not in text
    got = [float_image_to_numpy(c.message(topic, s)) for s in (first, second)]
    core = build_as(
        "marigold_depth", MarigoldModel, ModelConfig(weights=folder, params=model_params)
    )
    np.testing.assert_allclose(got[0], core.predict(rgb), rtol=1e-4, atol=1e-5)
    core.update({"denoising_steps": 1})
    np.testing.assert_allclose(got[1], core.predict(rgb), rtol=1e-4, atol=1e-5)
