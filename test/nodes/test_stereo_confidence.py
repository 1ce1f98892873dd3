"""stereo_depth's ``disparity/confidence`` over real DDS: published only while subscribed,
the disparity's header and size, the core's values; min_confidence at runtime."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from rclpy.node import Node
from sensor_msgs.msg import Image
from stereo_msgs.msg import DisparityImage

from depth_ros.core.eval.samples import StereoSample, load_sample
from depth_ros.core.messages import disparity_from_msg, float_image_to_numpy
from depth_ros.core.models import ModelConfig, build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import NodeProcess, node_process, send_until, set_params

pytestmark = pytest.mark.ros
NS = "/stereo_conf_test"


@pytest.fixture(scope="module")
def stereo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("stereo_conf")
    params = {"model": "sgbm", "disparity_range": 32, "sgbm_mode": 2, "points": "none"}
    with node_process("stereo_depth", tmp / "stereo.log", params, NS) as proc:
        yield proc


def _frame(
    node: Node,
    proc: NodeProcess,
    player: StereoPlayer,
    collector: Collector,
    topics: list[str],
    s: StereoSample,
) -> int:
    """Send the pair (again while unanswered: lost as endpoints matched, or before the
    node saw a new lazy subscriber) until every one of ``topics`` brings it; its stamp."""
    return send_until(
        node,
        [proc],
        lambda: player.publish(s.left, s.right, s.left_camera, s.right_camera),
        lambda stamp: all(stamp in collector.stamps(f"{NS}/{t}") for t in topics),
        30,
        what=f"{', '.join(topics)} of a frame",
    )


def test_confidence_output(ros_node: Node, stereo_node: NodeProcess) -> None:
    node, proc = ros_node, stereo_node
    player = StereoPlayer(node, prefix=NS)
    s = load_sample("motorcycle")
    # without a confidence subscriber nothing is published on it
    plain = Collector(node, {f"{NS}/disparity": DisparityImage})
    proc.wait(node, lambda: all(p.get_subscription_count() for p in player.pubs), 30, "inputs")
    proc.wait(node, plain.publishers_matched, 30, "the disparity publisher")
    _frame(node, proc, player, plain, ["disparity"], s)
    assert node.count_publishers(f"{NS}/disparity/confidence") == 1
    topics = {"disparity": DisparityImage, "disparity/confidence": Image, "depth": Image}
    collector = Collector(node, {f"{NS}/{t}": m for t, m in topics.items()})
    proc.wait(node, collector.publishers_matched, 30, "the outputs")
    stamp = _frame(node, proc, player, collector, list(topics), s)
    cmsg = collector.message(f"{NS}/disparity/confidence", stamp)
    dmsg = collector.message(f"{NS}/disparity", stamp)
    assert cmsg.encoding == "32FC1"
    assert cmsg.header.frame_id == dmsg.header.frame_id
    assert (cmsg.header.stamp.sec, cmsg.header.stamp.nanosec) == (
        dmsg.header.stamp.sec,
        dmsg.header.stamp.nanosec,
    )
    assert (cmsg.height, cmsg.width) == (dmsg.image.height, dmsg.image.width)
    conf = float_image_to_numpy(cmsg)
    disparity = disparity_from_msg(dmsg, s.geometry.doffs)
    assert float(conf.min()) >= 0.0
    assert float(conf.max()) <= 1.0
    np.testing.assert_array_equal(conf[np.isnan(disparity)], 0.0)
    model = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={"disparity_range": 32, "sgbm_mode": 2})
    )
    d_core, c_core = model.compute_with_confidence(s.left, s.right)
    assert c_core is not None
    np.testing.assert_allclose(conf, c_core, atol=1e-6)
    # min_confidence at runtime: low-confidence pixels become holes (NaN depth)
    (ok,) = set_params(node, f"{NS}/stereo_depth", {"min_confidence": 0.5})
    assert ok.successful, ok.reason
    (bad,) = set_params(node, f"{NS}/stereo_depth", {"min_confidence": 1.5})
    assert not bad.successful
    stamp = _frame(node, proc, player, collector, list(topics), s)
    depth = float_image_to_numpy(collector.message(f"{NS}/depth", stamp))
    conf = float_image_to_numpy(collector.message(f"{NS}/disparity/confidence", stamp))
    low = c_core < 0.5
    assert low.any()
    assert np.isnan(depth[low]).all()
    np.testing.assert_array_equal(np.isfinite(depth), np.isfinite(d_core) & ~low)
    assert float(conf[np.isfinite(depth)].min()) >= 0.5
