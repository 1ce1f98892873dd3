"""stereo_depth's ``disparity/confidence`` over real DDS: published only while subscribed,
the disparity's header and size, the core's values; min_confidence at runtime."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import Image
from stereo_msgs.msg import DisparityImage

from depth_ros.core.eval.samples import load_sample
from depth_ros.core.messages import disparity_from_msg, image_to_numpy
from depth_ros.core.models import ModelConfig, build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import node_process, set_params, spin_for, wait_for

pytestmark = pytest.mark.ros
NS = "/stereo_conf_test"


@pytest.fixture(scope="module")
def node_log(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    tmp = tmp_path_factory.mktemp("stereo_conf")
    params = {"model": "sgbm", "disparity_range": 32, "sgbm_mode": 2, "points": "none"}
    with node_process("stereo_depth", tmp, params, NS) as log:
        yield log


def _frames(node, player, collector, topics, s, n=1):  # type: ignore[no-untyped-def]
    before = {t: collector.count(f"{NS}/{t}") for t in topics}
    for _ in range(n):
        player.publish(s.left, s.right, s.left_camera, s.right_camera)
        spin_for(node, 0.3)
    ok = wait_for(
        node, lambda: all(collector.count(f"{NS}/{t}") >= before[t] + n for t in topics), 30
    )
    assert ok, {t: collector.count(f"{NS}/{t}") for t in topics}


def test_confidence_output(ros_node, node_log) -> None:  # type: ignore[no-untyped-def]
    node = ros_node
    player = StereoPlayer(node, prefix=NS)
    s = load_sample("motorcycle")
    # without a confidence subscriber nothing is published on it
    plain = Collector(node, {f"{NS}/disparity": DisparityImage})
    assert wait_for(node, lambda: all(p.get_subscription_count() for p in player.pubs), 30), (
        node_log.read_text()[-2000:]
    )
    assert wait_for(node, plain.publishers_matched, 30)
    spin_for(node, 0.5)
    _frames(node, player, plain, ["disparity"], s)
    assert node.count_publishers(f"{NS}/disparity/confidence") == 1
    topics = {"disparity": DisparityImage, "disparity/confidence": Image, "depth": Image}
    collector = Collector(node, {f"{NS}/{t}": m for t, m in topics.items()})
    assert wait_for(node, collector.publishers_matched, 30)
    spin_for(node, 0.5)
    _frames(node, player, collector, list(topics), s)
    rx = collector.received
    cmsg = rx[f"{NS}/disparity/confidence"][-1].msg
    dmsg = rx[f"{NS}/disparity"][-1].msg
    assert cmsg.encoding == "32FC1"
    assert cmsg.header.frame_id == dmsg.header.frame_id
    assert (cmsg.header.stamp.sec, cmsg.header.stamp.nanosec) == (
        dmsg.header.stamp.sec,
        dmsg.header.stamp.nanosec,
    )
    assert (cmsg.height, cmsg.width) == (dmsg.image.height, dmsg.image.width)
    conf = image_to_numpy(cmsg)
    disparity = disparity_from_msg(dmsg, s.geometry.doffs)
    assert float(conf.min()) >= 0.0
    assert float(conf.max()) <= 1.0
    np.testing.assert_array_equal(conf[np.isnan(disparity)], 0.0)
    model = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={"disparity_range": 32, "sgbm_mode": 2})
    )
    d_core, c_core = model.compute_with_confidence(s.left, s.right)
    np.testing.assert_allclose(conf, c_core, atol=1e-6)
    # min_confidence at runtime: low-confidence pixels become holes (NaN depth)
    (ok,) = set_params(node, f"{NS}/stereo_depth", {"min_confidence": 0.5})
    assert ok.successful, ok.reason
    (bad,) = set_params(node, f"{NS}/stereo_depth", {"min_confidence": 1.5})
    assert not bad.successful
    _frames(node, player, collector, list(topics), s)
    depth = image_to_numpy(rx[f"{NS}/depth"][-1].msg)
    conf = image_to_numpy(rx[f"{NS}/disparity/confidence"][-1].msg)
    low = c_core < 0.5
    assert low.any()
    assert np.isnan(depth[low]).all()
    np.testing.assert_array_equal(np.isfinite(depth), np.isfinite(d_core) & ~low)
    assert float(conf[np.isfinite(depth)].min()) >= 0.5
