"""mono_depth over real DDS with Monodepth2 (stereo, metric; a random release folder in the
official layout) and the temporal filter switched on at run time."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import Image

from nodes.helpers import node_process, set_params

pytest.importorskip("torch")

from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import float_image_to_numpy
from depth_ros.core.models import ModelConfig, build_as, get_model
from depth_ros.core.models.monodepth2 import Monodepth2Model
from depth_ros.core.temporal import TemporalFilter, TemporalOptions
from depth_ros.tools.collector import Collector
from nodes.test_mono_depth import Inputs

pytestmark = pytest.mark.ros
MODEL = "monodepth2_stereo_640x192"


def test_monodepth2_node_and_runtime_temporal_filter(ros_node: Node, tmp_path: Path) -> None:
    import cv2

    node = ros_node
    spec = get_model(MODEL)
    assert spec.random_checkpoint is not None
    assert spec.weights_file is not None
    weights = tmp_path / spec.weights_file
    spec.random_checkpoint(weights)
    s = load_sample("motorcycle")
    rgb1 = np.ascontiguousarray(
        cv2.resize(s.left, (185, 125), interpolation=cv2.INTER_AREA), np.uint8
    )
    rgb2 = np.ascontiguousarray(rgb1[:, ::-1])  # a different frame of the same size
    camera = s.left_camera.scaled(185, 125)
    ns = "/mono_md2_temporal"
    with node_process(
        "mono_depth", tmp_path / "mono_depth.log", {"model": MODEL, "weights": str(weights)}, ns
    ) as proc:
        c = Collector(node, {f"{ns}/depth": Image})
        proc.wait(node, c.publishers_matched, 120, "the depth publisher")
        inputs = Inputs(node, proc, ns)

        def frame(rgb: NDArray[np.uint8], every: float = 60.0) -> NDArray[np.float32]:
            """The depth of ``rgb`` (sent again after ``every`` s unanswered; a frame sent
            twice passes the filter twice, with the same stamp: the same values)."""
            stamp = inputs.send(c, [f"{ns}/depth"], rgb, camera, every=every, timeout=240)
            return float_image_to_numpy(c.message(f"{ns}/depth", stamp))

        off = frame(rgb1, every=2.0)  # the endpoints answer
        results = set_params(
            node,
            ns + "/mono_depth",
            {
                "temporal_filter": True,
                "temporal_alpha": 0.4,
                "temporal_reset_gap_seconds": 0.0,  # stamps are wall time: no gap reset here
            },
        )
        assert all(r.successful for r in results), [r.reason for r in results]
        bad = set_params(node, ns + "/mono_depth", {"temporal_alpha": 1.5})
        assert not bad[0].successful
        first = frame(rgb1)
        second = frame(rgb2)
        assert "Traceback" not in proc.text(None)
    model = build_as(MODEL, Monodepth2Model, ModelConfig(weights=weights))
    p1, p2 = model.predict(rgb1), model.predict(rgb2)
    np.testing.assert_allclose(off, p1, rtol=1e-4)
    np.testing.assert_allclose(first, p1, rtol=1e-4)  # switched on: restarts here
    ref = TemporalFilter(TemporalOptions(alpha=0.4, reset_gap_seconds=0.0))
    ref.filter_depth(p1, 0.0)
    want = ref.filter_depth(p2, 1.0)
    assert not np.allclose(want, p2, rtol=1e-3)  # the filter changed this frame
    np.testing.assert_allclose(second, want, rtol=1e-4)
