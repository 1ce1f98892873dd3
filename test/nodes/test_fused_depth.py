"""fused_depth end to end over real DDS on Middlebury Motorcycle: a stereo_depth node (SGBM)
publishes ``disparity``; fused_depth (with the test-only oracle relative model, see
test/plugins/oracle_model.py) fuses it with the monocular prediction of the same left
image. The test process publishes the left/right pair and checks the fused depth against
the ground truth."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import ExitStack
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image, PointCloud2
from std_msgs.msg import Header

from depth_ros.core.eval.metrics import depth_metrics
from depth_ros.core.eval.samples import StereoSample, load_sample
from depth_ros.core.fusion import SOURCE_MONO, SOURCE_NONE, SOURCE_STEREO
from depth_ros.core.messages import float_image_to_numpy, image_to_numpy
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import (
    NodeProcess,
    node_process,
    publisher_of,
    send_until,
    set_params,
    stamp_ns,
    wait_for,
)

pytestmark = pytest.mark.ros
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


@pytest.fixture(scope="module")
def sample() -> StereoSample:
    return load_sample("motorcycle")


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory, sample: StereoSample
) -> Iterator[dict[str, NodeProcess]]:
    tmp = tmp_path_factory.mktemp("fused")
    gt_file = tmp / "motorcycle_gt.npy"
    np.save(gt_file, np.asarray(sample.depth, dtype=np.float32))
    started: dict[str, NodeProcess] = {}
    with ExitStack() as stack:
        started["stereo"] = stack.enter_context(
            node_process("stereo_depth", tmp / "stereo.log", {"model": "sgbm"}, STEREO_NS)
        )
        started["fused"] = stack.enter_context(
            node_process(
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
                plugins=True,
            )
        )
        yield started


def _logs(nodes: dict[str, NodeProcess]) -> str:
    return "\n".join(n.report() for n in nodes.values())


def _connected(node: Node, nodes: dict[str, NodeProcess]) -> tuple[StereoPlayer, Collector]:
    """A stereo player into the stereo node and a collector of the fused outputs, once
    both are matched."""
    player = StereoPlayer(node, prefix=STEREO_NS)
    c = Collector(node, OUT)
    nodes["fused"].wait(
        node,
        lambda: all(p.get_subscription_count() for p in player.pubs) and c.publishers_matched(),
        60,
        "the stereo inputs and the fused outputs",
    )
    return player, c


def _frame(
    node: Node,
    nodes: dict[str, NodeProcess],
    player: StereoPlayer,
    c: Collector,
    sample: StereoSample,
    topics: tuple[str, ...] = tuple(OUT),
) -> int:
    """Publish the sample pair (again while it goes unanswered: lost as the endpoints
    matched) until every one of ``topics`` carries its stamp; the stamp."""

    def done(s: int) -> bool:
        fit = f"{NS}/scale/fit" not in topics or _fit_of(c, s) is not None
        return fit and all(s in c.stamps(t) for t in topics if _stamped(t))

    return send_until(
        node,
        list(nodes.values()),
        lambda: player.publish(sample.left, sample.right, sample.left_camera, sample.right_camera),
        done,
        60,
        what="the fused outputs",
    )


def _stamped(topic: str) -> bool:
    return OUT.get(topic) is not DiagnosticStatus  # scale/fit: no header


def test_fusion_over_dds_on_motorcycle(
    ros_node: Node, nodes: dict[str, NodeProcess], sample: StereoSample
) -> None:
    node = ros_node
    player, c = _connected(node, nodes)
    diags = Collector(node, {"/diagnostics": DiagnosticArray})
    stamp = _frame(node, nodes, player, c, sample)
    msgs = {
        t: next(r.msg for r in c.received[t] if r.stamp_ns == stamp) for t in OUT if _stamped(t)
    }

    gt = np.asarray(sample.depth)
    fused = float_image_to_numpy(msgs[f"{NS}/depth"])
    stereo = float_image_to_numpy(msgs[f"{STEREO_NS}/depth"])
    conf_msg = msgs[f"{NS}/depth/confidence"]
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

    fit = _fit_of(c, stamp)
    assert fit is not None
    values = {kv.key: kv.value for kv in fit.values}
    assert fit.level == DiagnosticStatus.OK
    assert fit.message == "ok"
    assert float(values["scale"]) > 0
    assert int(values["inliers"]) > 1000
    assert float(values["residual"]) < 0.1
    info = msgs[f"{NS}/depth/camera_info"]
    assert (info.width, info.height) == (gt.shape[1], gt.shape[0])
    cloud = msgs[f"{NS}/points"]
    pts = np.frombuffer(bytes(cloud.data), np.float32).reshape(*gt.shape, cloud.point_step // 4)
    np.testing.assert_allclose(pts[:, :, 2], fused, equal_nan=True)

    def fused_diag() -> DiagnosticStatus | None:
        for r in reversed(diags.received["/diagnostics"]):
            for s in r.msg.status:
                if s.hardware_id == "fused_depth":
                    status: DiagnosticStatus = s
                    return status
        return None

    def diag_values() -> dict[str, str]:
        status = fused_diag()
        return {} if status is None else {kv.key: kv.value for kv in status.values}

    # the next /diagnostics after the frame reports the fit
    assert wait_for(node, lambda: diag_values().get("scale_fit") == "ok", 10), diag_values()
    assert diag_values()["model"] == "test_oracle_relative"


def _fit_of(c: Collector, stamp: int) -> DiagnosticStatus | None:
    """The scale/fit made for the frame of ``stamp`` (its ``frame_stamp``), if received."""
    key = f"{stamp // 1_000_000_000}.{stamp % 1_000_000_000:09d}"
    for r in c.received[f"{NS}/scale/fit"]:
        if {kv.key: kv.value for kv in r.msg.values}.get("frame_stamp") == key:
            fit: DiagnosticStatus = r.msg
            return fit
    return None


def test_disagreement_replaces_stereo_and_range_limits(
    ros_node: Node, nodes: dict[str, NodeProcess], sample: StereoSample
) -> None:
    """max_disagreement and max_depth are live parameters: stereo depths far from the
    aligned mono depth become code 3, depths beyond max_depth none."""
    node = ros_node
    results = set_params(node, f"{NS}/fused_depth", {"max_disagreement": 0.05, "max_depth": 4.0})
    assert all(r.successful for r in results), [r.reason for r in results]
    rejected = set_params(node, f"{NS}/fused_depth", {"scale.inlier_threshold": 5.0})
    assert not rejected[0].successful
    assert "inlier_threshold" in rejected[0].reason
    try:
        player, c = _connected(node, nodes)
        topics = (f"{NS}/depth", f"{NS}/depth/confidence", f"{STEREO_NS}/depth")
        stamp = _frame(node, nodes, player, c, sample, topics)
        got = {t: c.message(t, stamp) for t in topics}
        fused = float_image_to_numpy(got[f"{NS}/depth"])
        conf = image_to_numpy(got[f"{NS}/depth/confidence"])
        stereo = float_image_to_numpy(got[f"{STEREO_NS}/depth"])
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


def test_valid_roi_leaves_no_depth_outside_it(
    ros_node: Node, nodes: dict[str, NodeProcess], sample: StereoSample
) -> None:
    """valid_roi (live, as stereo_depth's): outside the rectangle no depth, not even
    monocular filling, and confidence code 0; inside, the fusion as before."""
    node = ros_node
    x, y, w, h = 100, 50, 400, 300
    results = set_params(node, f"{NS}/fused_depth", {"valid_roi": f"{x},{y},{w},{h}"})
    assert all(r.successful for r in results), [r.reason for r in results]
    try:
        player, c = _connected(node, nodes)
        topics = (f"{NS}/depth", f"{NS}/depth/confidence")
        stamp = _frame(node, nodes, player, c, sample, topics)
        fused = float_image_to_numpy(c.message(f"{NS}/depth", stamp))
        conf = image_to_numpy(c.message(f"{NS}/depth/confidence", stamp))
        inside = np.zeros(fused.shape, bool)
        inside[y : y + h, x : x + w] = True
        assert not np.isfinite(fused[~inside]).any()
        assert (conf[~inside] == SOURCE_NONE).all()
        assert np.isfinite(fused[inside]).mean() > 0.95  # stereo, and mono in its holes
        assert set(np.unique(conf[inside])) >= {SOURCE_STEREO, SOURCE_MONO}
    finally:
        set_params(node, f"{NS}/fused_depth", {"valid_roi": "auto"})


def test_no_stereo_matches_gives_stereo_only_and_says_why(
    ros_node: Node, nodes: dict[str, NodeProcess], sample: StereoSample
) -> None:
    """A disparity with no valid pixel: no fit, so no filling (depth all NaN, confidence 0),
    scale/fit ERROR and the node's diagnostics WARN; a disparity of the wrong size is
    refused with a message naming both sizes."""
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
    nodes["fused"].wait(
        node,
        lambda: (
            all(p.get_subscription_count() for p in (image, info, disp)) and c.publishers_matched()
        ),
        60,
        "the fused node's inputs and outputs",
    )

    def send(disparity: NDArray[np.float32]) -> Header:
        # 5 s later than now: beyond scale.hold_time of any earlier good fit
        stamp = node.get_clock().now().to_msg()
        stamp.sec += 5
        header = Header(stamp=stamp, frame_id=sample.left_camera.frame_id)
        image.publish(numpy_to_image(np.ascontiguousarray(sample.left), "rgb8", header))
        info.publish(camera_info_msg(sample.left_camera, header))
        disp.publish(disparity_msg(disparity, sample.geometry, 0.0, 400.0, header))
        return header

    nothing = np.full(np.asarray(sample.disparity).shape, np.nan, np.float32)
    stamp = send_until(
        node,
        list(nodes.values()),
        lambda: send(nothing),
        partial(_done, c),
        30,
        what="the fused depth of an empty disparity",
    )
    fused = float_image_to_numpy(
        next(r.msg for r in c.received[f"{NS}/depth"] if r.stamp_ns == stamp)
    )
    conf = image_to_numpy(
        next(r.msg for r in c.received[f"{NS}/depth/confidence"] if r.stamp_ns == stamp)
    )
    assert not np.isfinite(fused).any()
    assert (conf == SOURCE_NONE).all()
    fit = _fit_of(c, stamp)
    assert fit is not None
    assert fit.level == DiagnosticStatus.ERROR
    assert fit.message.startswith(("too_few_points", "no_reference")), fit.message

    def status() -> DiagnosticStatus | None:
        """The node's first diagnostics made after that fit (they give its reason)."""
        for r in diags.received["/diagnostics"]:
            for s in r.msg.status:
                values = {kv.key: kv.value for kv in s.values}
                if s.name == f"{NS}/fused_depth: depth" and values.get("scale_fit") == fit.message:
                    found: DiagnosticStatus = s
                    return found
        return None

    nodes["fused"].wait(node, lambda: status() is not None, 10, "diagnostics after the fit")
    diag = status()
    assert diag is not None
    assert diag.level == DiagnosticStatus.WARN
    assert "stereo only" in diag.message

    n = c.count(f"{NS}/depth")
    wrong = stamp_ns(send(nothing[::2, ::2].copy()))
    needle = "disparity is 371x250 but the image is 741x500"
    nodes["fused"].wait(node, partial(_logged, nodes["fused"], needle), 30, repr(needle))
    # refused (logged) before anything was published for it
    assert c.count(f"{NS}/depth") == n
    assert wrong not in c.stamps(f"{NS}/depth")


def _done(c: Collector, stamp: int) -> bool:
    """Whether the fit, depth and confidence of the frame of ``stamp`` have come."""
    got = (f"{NS}/depth", f"{NS}/depth/confidence")
    return _fit_of(c, stamp) is not None and all(stamp in c.stamps(t) for t in got)


def _logged(proc: NodeProcess, needle: str) -> bool:
    return needle in proc.text(None)


def test_fused_node_refuses_a_metric_model(ros_node: Node, tmp_path: Path) -> None:
    """A stereo model or an unknown model: the node stays up, says why, publishes nothing."""
    params = {"model": "sgbm"}
    with node_process("fused_depth", tmp_path / "bad.log", params, "/fz_bad", plugins=True) as p:
        p.wait(ros_node, partial(_logged, p, "needs a mono model"), 60, "the refusal")
        # the refusal comes instead of configuring: no output publisher is ever created
        assert ros_node.count_publishers("/fz_bad/depth") == 0
        assert "Traceback" not in p.text(None)


def test_lifecycle_variant_configures_and_activates(
    ros_node: Node, tmp_path: Path, sample: StereoSample
) -> None:
    """fused_depth_lifecycle: nothing advertised until activate; then it advertises its
    outputs, and subscribes to image, camera_info and disparity while someone listens."""
    import rclpy
    from lifecycle_msgs.msg import Transition
    from lifecycle_msgs.srv import ChangeState
    from rclpy.client import Client

    ns = "/fz_lc"
    gt_file = tmp_path / "gt.npy"
    np.save(gt_file, np.asarray(sample.depth, dtype=np.float32))
    params = {"model": "test_oracle_relative", "gt_file": str(gt_file)}
    with node_process(
        "fused_depth", tmp_path / "lc.log", params, ns, args=["--lifecycle"], plugins=True
    ) as proc:
        client: Client[Any, Any] = ros_node.create_client(
            ChangeState, f"{ns}/fused_depth/change_state"
        )
        assert client.wait_for_service(timeout_sec=60), proc.report()

        def change(tid: int) -> bool:
            future = client.call_async(ChangeState.Request(transition=Transition(id=tid)))
            rclpy.spin_until_future_complete(ros_node, future, timeout_sec=30)
            result = future.result()
            return bool(future.done() and result is not None and result.success)

        topics = ("depth", "depth/camera_info", "depth/confidence", "points", "scale/fit")
        inputs = ("image", "camera_info", "disparity")
        assert change(Transition.TRANSITION_CONFIGURE), proc.report()
        # inactive, as ros2/demos: outputs advertised (lifecycle publishers, created last in
        # configure: the graph that shows them shows every endpoint configure made), no
        # input taken
        proc.wait(
            ros_node,
            lambda: all(ros_node.count_publishers(f"{ns}/{t}") for t in topics),
            20,
            "the outputs advertised",
        )
        assert not any(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs)
        assert change(Transition.TRANSITION_ACTIVATE)
        # lazy: the inputs are subscribed only once someone listens to an output. Activate
        # decides the subscriptions, then starts /diagnostics: once that publisher is seen,
        # so would input subscriptions be
        proc.wait(ros_node, lambda: publisher_of(ros_node, "/diagnostics", ns), 20, "diagnostics")
        assert not any(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs)

        listener = ros_node.create_subscription(Image, f"{ns}/depth", lambda m: None, 1)
        proc.wait(
            ros_node,
            lambda: all(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs),
            20,
            "the inputs subscribed",
        )
        ros_node.destroy_subscription(listener)
        proc.wait(
            ros_node,
            lambda: not any(ros_node.count_subscribers(f"{ns}/{t}") for t in inputs),
            20,
            "the inputs unsubscribed",
        )


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-s"]))
