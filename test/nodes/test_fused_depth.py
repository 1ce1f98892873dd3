"""fused_depth end to end over real DDS on Middlebury Motorcycle: a stereo_depth node (SGBM)
publishes ``disparity``; fused_depth (with the test-only oracle relative model, see
test/plugins/oracle_model.py) fuses it with the monocular prediction of the same left
image. The test process publishes the left/right pair and checks the fused depth against
the ground truth."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from sensor_msgs.msg import CameraInfo, Image, PointCloud2

from depth_ros import processes
from depth_ros.core.eval.metrics import depth_metrics
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.fusion import SOURCE_MONO, SOURCE_NONE, SOURCE_STEREO
from depth_ros.core.messages import image_to_numpy
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import set_params, spin_for, wait_for

pytestmark = pytest.mark.ros
PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
STEREO_NS = "/fz_stereo"
NS = "/fz"
OUT = {
    f"{NS}/depth": Image,
    f"{NS}/depth/camera_info": CameraInfo,
    f"{NS}/depth/confidence": Image,
    f"{NS}/points": PointCloud2,
    f"{NS}/scale/fit": DiagnosticStatus,
    f"{STEREO_NS}/depth": Image,
}


def plugin_env() -> dict[str, str]:
    """The environment of a node process that can load the test-only oracle model."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PLUGINS), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env["DEPTH_ROS_PLUGINS"] = "oracle_model"
    return env


class NodeProc:
    """A node process with its log; checks it exits cleanly."""

    def __init__(
        self,
        name: str,
        log: Path,
        params: dict[str, object],
        namespace: str,
        remap: dict[str, str] | None = None,
    ) -> None:
        self.name, self.log = name, log
        self.proc = processes.start(
            name,
            processes.ros_args(params, remap=remap, namespace=namespace),
            env=plugin_env(),
            log=log,
        )

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        code = processes.stop(self.proc)
        assert code in (0, -2, 130), f"{self.name} exited with {code}:\n{self.text()[-3000:]}"


@pytest.fixture(scope="module")
def sample() -> Any:
    return load_sample("motorcycle")


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory, sample: Any) -> Iterator[dict[str, NodeProc]]:
    tmp = tmp_path_factory.mktemp("fused")
    gt_file = tmp / "motorcycle_gt.npy"
    np.save(gt_file, np.asarray(sample.depth, dtype=np.float32))
    started: dict[str, NodeProc] = {}
    with ExitStack() as stack:
        started["stereo"] = NodeProc(
            "stereo_depth", tmp / "stereo.log", {"model": "sgbm"}, STEREO_NS
        )
        stack.callback(started["stereo"].stop)
        started["fused"] = NodeProc(
            "fused_depth",
            tmp / "fused.log",
            {
                "model": "test_oracle_relative",
                "gt_file": str(gt_file),
                "noise": 0.03,
                "seed": 7,
                "diagnostics_period": 0.5,
            },
            NS,
            remap={
                "image": f"{STEREO_NS}/left/image_rect",
                "camera_info": f"{STEREO_NS}/left/camera_info",
                "disparity": f"{STEREO_NS}/disparity",
            },
        )
        stack.callback(started["fused"].stop)
        yield started


def _logs(nodes: dict[str, NodeProc]) -> str:
    return "\n".join(f"--- {n.name}\n{n.text()[-2000:]}" for n in nodes.values())


def test_fusion_over_dds_on_motorcycle(ros_node, nodes, sample) -> None:  # type: ignore[no-untyped-def]
    node = ros_node
    player = StereoPlayer(node, prefix=STEREO_NS)
    c = Collector(node, OUT)
    diags = Collector(node, {"/diagnostics": DiagnosticArray})
    assert wait_for(
        node,
        lambda: all(p.get_subscription_count() for p in player.pubs) and c.publishers_matched(),
        60,
    ), _logs(nodes)
    spin_for(node, 0.5)
    header = player.publish(sample.left, sample.right, sample.left_camera, sample.right_camera)
    assert wait_for(node, lambda: all(c.count(t) >= 1 for t in OUT), 60), (
        {t: c.count(t) for t in OUT},
        _logs(nodes),
    )
    stamp = (header.stamp.sec, header.stamp.nanosec)
    for topic in OUT:
        msg = c.received[topic][-1].msg
        if hasattr(msg, "header"):
            assert (msg.header.stamp.sec, msg.header.stamp.nanosec) == stamp, topic

    gt = np.asarray(sample.depth)
    fused = image_to_numpy(c.received[f"{NS}/depth"][-1].msg)
    stereo = image_to_numpy(c.received[f"{STEREO_NS}/depth"][-1].msg)
    conf_msg = c.received[f"{NS}/depth/confidence"][-1].msg
    assert conf_msg.encoding == "mono8"
    conf = image_to_numpy(conf_msg)
    assert fused.shape == stereo.shape == gt.shape == conf.shape

    oracle = np.isfinite(gt)  # where the oracle model has a value
    covered = np.isfinite(stereo)
    density = float(np.isfinite(fused[oracle]).mean())
    st = depth_metrics(stereo, gt)
    fu_cov = depth_metrics(fused, gt, covered)
    fu_all = depth_metrics(fused, gt)
    print(
        f"\nstereo (SGBM) density {st['density']:.4f} AbsRel {st['abs_rel']:.4f}; fused "
        f"density on oracle pixels {density:.4f}, AbsRel on stereo pixels "
        f"{fu_cov['abs_rel']:.4f}, AbsRel all {fu_all['abs_rel']:.4f}"
    )
    assert density == 1.0
    assert fu_cov["abs_rel"] <= 1.1 * st["abs_rel"]
    assert fu_all["abs_rel"] < 0.1  # the holes are filled with sensible depths
    # confidence codes: stereo kept bit for bit where it matched, mono in its holes
    assert (conf[covered] == SOURCE_STEREO).all()
    np.testing.assert_array_equal(fused[covered], stereo[covered])
    assert (conf[~covered & oracle] == SOURCE_MONO).all()
    assert (conf[~np.isfinite(fused)] == SOURCE_NONE).all()
    assert set(np.unique(conf)) <= {0, 1, 2, 3}

    fit = c.received[f"{NS}/scale/fit"][-1].msg
    values = {kv.key: kv.value for kv in fit.values}
    assert fit.level == DiagnosticStatus.OK
    assert fit.message == "ok"
    assert float(values["scale"]) > 0
    assert int(values["inliers"]) > 1000
    assert float(values["residual"]) < 0.1
    info = c.received[f"{NS}/depth/camera_info"][-1].msg
    assert (info.width, info.height) == (gt.shape[1], gt.shape[0])
    cloud = c.received[f"{NS}/points"][-1].msg
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(*gt.shape, cloud.point_step // 4)
    np.testing.assert_allclose(pts[:, :, 2], fused, equal_nan=True)

    def fused_diag() -> Any:
        for r in reversed(diags.received["/diagnostics"]):
            for s in r.msg.status:
                if s.hardware_id == "fused_depth":
                    return s
        return None

    def diag_values() -> dict[str, str]:
        status = fused_diag()
        return {} if status is None else {kv.key: kv.value for kv in status.values}

    # the next /diagnostics after the frame reports the fit
    assert wait_for(node, lambda: diag_values().get("scale_fit") == "ok", 10), diag_values()
    assert diag_values()["model"] == "test_oracle_relative"


def test_disagreement_replaces_stereo_and_range_limits(ros_node, nodes, sample) -> None:  # type: ignore[no-untyped-def]
    """max_disagreement and max_depth are live parameters: stereo depths far from the
    aligned mono depth become code 3, depths beyond max_depth none."""
    node = ros_node
    results = set_params(node, f"{NS}/fused_depth", {"max_disagreement": 0.05, "max_depth": 4.0})
    assert all(r.successful for r in results), [r.reason for r in results]
    rejected = set_params(node, f"{NS}/fused_depth", {"scale.inlier_threshold": 5.0})
    assert not rejected[0].successful
    assert "inlier_threshold" in rejected[0].reason
    try:
        player = StereoPlayer(node, prefix=STEREO_NS)
        c = Collector(node, OUT)
        assert wait_for(
            node,
            lambda: all(p.get_subscription_count() for p in player.pubs) and c.publishers_matched(),
            60,
        ), _logs(nodes)
        spin_for(node, 0.5)
        player.publish(sample.left, sample.right, sample.left_camera, sample.right_camera)
        assert wait_for(
            node,
            lambda: c.count(f"{NS}/depth/confidence") >= 1 and c.count(f"{STEREO_NS}/depth") >= 1,
            60,
        ), _logs(nodes)
        fused = image_to_numpy(c.received[f"{NS}/depth"][-1].msg)
        conf = image_to_numpy(c.received[f"{NS}/depth/confidence"][-1].msg)
        stereo = image_to_numpy(c.received[f"{STEREO_NS}/depth"][-1].msg)
        assert np.nanmax(fused) <= 4.0
        assert np.isfinite(fused).mean() > 0.5
        assert (conf[~np.isfinite(fused)] == SOURCE_NONE).all()
        replaced = conf == 3
        assert replaced.sum() > 100  # SGBM has outliers; the oracle is within ~3 %
        assert (np.isfinite(stereo) | ~replaced).all()
        gt = np.asarray(sample.depth)
        # the replaced stereo depths were worse than the mono values that replaced them
        rep = replaced & np.isfinite(gt)
        err_stereo = np.abs(stereo[rep] - gt[rep]) / gt[rep]
        err_fused = np.abs(fused[rep] - gt[rep]) / gt[rep]
        assert err_fused.mean() < err_stereo.mean()
    finally:
        set_params(node, f"{NS}/fused_depth", {"max_disagreement": 0.0, "max_depth": 0.0})


def test_no_stereo_matches_gives_stereo_only_and_says_why(ros_node, nodes, sample) -> None:  # type: ignore[no-untyped-def]
    """A disparity with no valid pixel: no fit, so no filling (depth all NaN, confidence 0),
    scale/fit ERROR and the node's diagnostics WARN; a disparity of the wrong size is
    refused with a message naming both sizes."""
    import time

    from std_msgs.msg import Header
    from stereo_msgs.msg import DisparityImage

    from depth_ros.nodes.convert import camera_info_msg, disparity_msg, numpy_to_image
    from depth_ros.nodes.qos import qos_profile

    node = ros_node
    q = qos_profile("sensor_data", 5)
    image = node.create_publisher(Image, f"{STEREO_NS}/left/image_rect", q)
    info = node.create_publisher(CameraInfo, f"{STEREO_NS}/left/camera_info", q)
    disp = node.create_publisher(DisparityImage, f"{STEREO_NS}/disparity", q)
    c = Collector(node, OUT)
    diags = Collector(node, {"/diagnostics": DiagnosticArray})
    assert wait_for(
        node,
        lambda: (
            all(p.get_subscription_count() for p in (image, info, disp)) and c.publishers_matched()
        ),
        60,
    ), _logs(nodes)
    spin_for(node, 0.5)

    def send(disparity: np.ndarray) -> Header:
        # 5 s later than now: beyond scale.hold_time of any earlier good fit
        stamp = node.get_clock().now().to_msg()
        stamp.sec += 5
        header = Header(stamp=stamp, frame_id=sample.left_camera.frame_id)
        image.publish(numpy_to_image(np.ascontiguousarray(sample.left), "rgb8", header))
        info.publish(camera_info_msg(sample.left_camera, header))
        disp.publish(disparity_msg(disparity, sample.geometry, 0.0, 400.0, header))
        return header

    nothing = np.full(np.asarray(sample.disparity).shape, np.nan, np.float32)
    send(nothing)
    assert wait_for(
        node, lambda: c.count(f"{NS}/depth/confidence") >= 1 and c.count(f"{NS}/scale/fit") >= 1, 30
    ), _logs(nodes)
    fused = image_to_numpy(c.received[f"{NS}/depth"][-1].msg)
    conf = image_to_numpy(c.received[f"{NS}/depth/confidence"][-1].msg)
    assert not np.isfinite(fused).any()
    assert (conf == SOURCE_NONE).all()
    fit = c.received[f"{NS}/scale/fit"][-1].msg
    assert fit.level == DiagnosticStatus.ERROR
    assert fit.message.startswith(("too_few_points", "no_reference")), fit.message
    since = time.time_ns()

    def status() -> Any:
        for r in reversed(diags.received["/diagnostics"]):
            if r.wall_ns < since:
                return None
            for s in r.msg.status:
                if s.name == f"{NS}/fused_depth: depth":
                    return s
        return None

    assert wait_for(node, lambda: status() is not None, 10)
    assert status().level == DiagnosticStatus.WARN
    assert "stereo only" in status().message

    n = c.count(f"{NS}/depth")
    send(nothing[::2, ::2].copy())
    assert wait_for(
        node, lambda: "disparity is 371x250 but the image is 741x500" in nodes["fused"].text(), 30
    ), nodes["fused"].text()[-2000:]
    assert c.count(f"{NS}/depth") == n


def test_fused_node_refuses_a_metric_model(ros_node, tmp_path) -> None:  # type: ignore[no-untyped-def]
    """A stereo model or an unknown model: the node stays up, says why, publishes nothing."""
    proc = NodeProc("fused_depth", tmp_path / "bad.log", {"model": "sgbm"}, "/fz_bad")
    try:
        assert wait_for(ros_node, lambda: "needs a mono model" in proc.text(), 60), proc.text()
        assert ros_node.count_publishers("/fz_bad/depth") == 0
        assert "Traceback" not in proc.text()
    finally:
        proc.stop()


def test_lifecycle_variant_configures_and_activates(ros_node, tmp_path, sample) -> None:  # type: ignore[no-untyped-def]
    """fused_depth_lifecycle: nothing advertised until activate; then it advertises its
    outputs, and subscribes to image, camera_info and disparity while someone listens."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState

    ns = "/fz_lc"
    gt_file = tmp_path / "gt.npy"
    np.save(gt_file, np.asarray(sample.depth, dtype=np.float32))
    args = [
        "--lifecycle",
        *processes.ros_args(
            {"model": "test_oracle_relative", "gt_file": str(gt_file)}, namespace=ns
        ),
    ]
    proc = processes.start("fused_depth", args, env=plugin_env(), log=tmp_path / "lc.log")
    try:
        client = ros_node.create_client(ChangeState, f"{ns}/fused_depth/change_state")
        assert client.wait_for_service(timeout_sec=60), (tmp_path / "lc.log").read_text()

        def change(tid: int) -> bool:
            future = client.call_async(ChangeState.Request(transition=Transition(id=tid)))
            rclpy.spin_until_future_complete(ros_node, future, timeout_sec=30)
            return bool(future.done() and future.result().success)

        assert change(Transition.TRANSITION_CONFIGURE), (tmp_path / "lc.log").read_text()
        spin_for(ros_node, 0.5)
        # inactive, as ros2/demos: outputs advertised (lifecycle publishers), no input taken
        assert ros_node.count_subscribers(f"{ns}/image") == 0
        assert change(Transition.TRANSITION_ACTIVATE)
        topics = ("depth", "depth/camera_info", "depth/confidence", "points", "scale/fit")
        inputs = ("image", "camera_info", "disparity")
        assert wait_for(
            ros_node, lambda: all(ros_node.count_publishers(f"{ns}/{t}") for t in topics), 20
        )
        # lazy: the inputs are subscribed only once someone listens to an output
        spin_for(ros_node, 1.0)
        assert not any(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs)
        from sensor_msgs.msg import Image

        listener = ros_node.create_subscription(Image, f"{ns}/depth", lambda m: None, 1)
        assert wait_for(
            ros_node, lambda: all(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs), 20
        )
        ros_node.destroy_subscription(listener)
        assert wait_for(
            ros_node, lambda: not any(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs), 20
        )
    finally:
        code = processes.stop(proc)
        assert code in (0, -2, 130), (tmp_path / "lc.log").read_text()[-3000:]


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
