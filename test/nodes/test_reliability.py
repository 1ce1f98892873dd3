"""Regression cases of issue 15 (reliability), on node processes over real DDS.

All processes of the module start together (their start-ups overlap):

* ``main``: stereo_depth (sgbm, approximate sync, not lazy) for time jumps in the stamps,
  runtime parameters (tolerance, min_depth/max_depth, P1/P2 in one request, min_disparity
  against the last image) and the log rate limiter;
* ``sim``: stereo_depth with ``use_sim_time`` and best-effort outputs under a Fast DDS
  profile with a 64 KiB shared-memory segment: a ROS time reset, the segment warning;
* ``bad``: stereo_depth with invalid start-up values (stays up, ERROR, one line);
* ``managed``: the lifecycle stereo_depth with an invalid start-up value (configure fails
  with the reason; configure succeeds once the value is fixed).
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import rclpy
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from numpy.typing import NDArray
from rclpy.client import Client
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import load_sample
from depth_ros.runtime import FASTDDS_PROFILE
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import (
    NodeProcess,
    node_process,
    publisher_of,
    send_until,
    set_params,
    spin_for,
    wait_for,
)

pytestmark = pytest.mark.ros
MAIN, SIM, BAD, MANAGED = "/rel_main", "/rel_sim", "/rel_bad", "/rel_managed"
W, H = 160, 120


Pair = tuple[NDArray[np.uint8], NDArray[np.uint8], PinholeCamera, PinholeCamera]


def _small_segment_profile(tmp: Path) -> Path:
    text = FASTDDS_PROFILE.read_text().replace("33554432", "65536")
    path = tmp / "fastdds_small_shm.xml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    tmp = tmp_path_factory.mktemp("reliability")
    env = {**os.environ, "FASTDDS_DEFAULT_PROFILES_FILE": str(_small_segment_profile(tmp))}
    specs: dict[str, tuple[dict[str, object], tuple[str, ...], dict[str, str] | None]] = {
        MAIN: (
            {
                "model": "sgbm",
                "approximate_sync": True,
                "lazy": False,
                "approximate_sync_tolerance_seconds": 0.01,
                "disparity_range": 16,
                "points": "none",
            },
            (),
            None,
        ),
        SIM: (
            {
                "model": "sgbm",
                "use_sim_time": True,
                "lazy": False,
                "points": "none",
                "output_qos": "sensor_data",
                "disparity_range": 16,
            },
            (),
            env,
        ),
        BAD: (
            {
                "model": "sgbm",
                "disparity_range": 17,
                "backend": "bogus",
                "min_depth": 5.0,
                "max_depth": 2.0,
            },
            (),
            None,
        ),
        MANAGED: ({"model": "sgbm", "disparity_range": 17}, ("--lifecycle",), None),
    }
    with ExitStack() as stack:
        yield {
            ns: stack.enter_context(
                node_process(
                    "stereo_depth",
                    tmp / f"{ns.strip('/')}.log",
                    params,
                    ns,
                    args=extra,
                    env=e,
                    exit_codes=(0,),
                )
            )
            for ns, (params, extra, e) in specs.items()
        }


@pytest.fixture(scope="module")
def pair() -> Pair:
    import cv2

    s = load_sample("motorcycle")
    left = np.ascontiguousarray(cv2.resize(s.left, (W, H), interpolation=cv2.INTER_AREA), np.uint8)
    right = np.ascontiguousarray(
        cv2.resize(s.right, (W, H), interpolation=cv2.INTER_AREA), np.uint8
    )
    return left, right, s.left_camera.scaled(W, H), s.right_camera.scaled(W, H)


def _stamp(seconds: float) -> Time:
    return Time(sec=int(seconds), nanosec=round((seconds % 1) * 1e9))


class Rig:
    """Publishers and a collector of ``depth`` and ``depth/camera_info`` of one node."""

    def __init__(
        self, node: Node, proc: NodeProcess, ns: str, pair: Pair, qos_name: str = "reliable"
    ) -> None:
        self.node, self.proc, self.ns, self.pair = node, proc, ns, pair
        self.player = StereoPlayer(node, prefix=ns)
        topics = {f"{ns}/depth": Image, f"{ns}/depth/camera_info": CameraInfo}
        self.collector = Collector(node, topics, qos_name=qos_name)
        proc.wait(
            node, lambda: all(p.get_subscription_count() for p in self.player.pubs), 60, "inputs"
        )
        proc.wait(node, self.collector.publishers_matched, 30, "outputs")

    def send(self, t: float, right_offset: float = 0.0) -> Header:
        """One pair, the left stamped ``t``, the right ``right_offset`` s later; the left
        header."""
        from depth_ros.nodes.convert import camera_info_msg, numpy_to_image

        left, right, lcam, rcam = self.pair
        pubs = self.player.pubs
        h_left = Header(stamp=_stamp(t), frame_id=lcam.frame_id)
        h_right = Header(stamp=_stamp(t + right_offset), frame_id=lcam.frame_id)
        pubs[0].publish(numpy_to_image(left, "rgb8", h_left))
        pubs[1].publish(camera_info_msg(lcam, h_left))
        pubs[2].publish(numpy_to_image(right, "rgb8", h_right))
        pubs[3].publish(camera_info_msg(rcam, h_right))
        return h_left

    def frame(self, t: float, topic: str = "depth", right_offset: float = 0.0) -> None:
        """Send the pair stamped ``t`` (again while unanswered: lost as the endpoints
        matched) until ``topic`` brings its output."""
        send_until(
            self.node,
            [self.proc],
            lambda: self.send(t, right_offset),
            lambda stamp: stamp in self.collector.stamps(f"{self.ns}/{topic}"),
            30,
            what=f"the {topic} of frame {t}",
        )

    def got(self, t: float) -> bool:
        """Whether a depth stamped ``t`` has come."""
        want = _stamp(t)
        return want.sec * 10**9 + want.nanosec in self.collector.stamps(f"{self.ns}/depth")


def _lines(proc: NodeProcess, pattern: str) -> list[str]:
    return [line for line in proc.text(None).splitlines() if re.search(pattern, line)]


# ------------------------------------------------------------------ time jumps


def test_stamps_jumping_back_clear_the_synchroniser_once(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    log = procs[MAIN]
    rig = Rig(ros_node, log, MAIN, pair)
    for t in (1000.0, 1000.1, 1000.2):
        rig.frame(t)
    for t in (5.0, 5.1, 5.2):  # a bag loop / simulator reset: far below the old maximum
        rig.frame(t)
    jumps = _lines(log, "jumped back")
    assert len(jumps) == 1, log.report()
    assert "995.200 s" in jumps[0]
    assert "synchroniser cleared" in jumps[0]


# ------------------------------------------------------------------ accepted, then ignored


def test_approximate_sync_tolerance_takes_effect_at_runtime(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    rig = Rig(ros_node, procs[MAIN], MAIN, pair)
    ns = f"{MAIN}/stereo_depth"
    rig.frame(1999.0)  # the endpoints answer
    # right images 30 ms after the left: beyond 10 ms, no set; within 50 ms, paired
    rig.send(2000.0, right_offset=0.03)
    # an aligned pair after it, on the same topics: once its depth is back, the node has
    # taken the 30 ms pair too, and paired it with nothing
    rig.frame(2000.5)
    assert not rig.got(2000.0)
    assert [
        r.successful for r in set_params(ros_node, ns, {"approximate_sync_tolerance_seconds": 0.05})
    ] == [True]
    rig.frame(2001.0, right_offset=0.03)


def test_min_depth_beyond_max_depth_is_rejected(
    ros_node: Node, procs: dict[str, NodeProcess]
) -> None:
    ns = f"{MAIN}/stereo_depth"
    res = set_params(ros_node, ns, {"max_depth": 3.0})
    assert res[0].successful
    res = set_params(ros_node, ns, {"min_depth": 4.0})
    assert not res[0].successful
    assert "min_depth (4) must be smaller than max_depth (3" in res[0].reason
    # both in one request: checked on the values after it
    res = set_params(ros_node, ns, {"min_depth": 4.0, "max_depth": 8.0})
    assert [r.successful for r in res] == [True, True]
    res = set_params(ros_node, ns, {"max_depth": 0.0, "min_depth": 0.0})  # back to no limit
    assert [r.successful for r in res] == [True, True]


def test_p1_and_p2_in_one_request_are_applied_together(
    ros_node: Node, procs: dict[str, NodeProcess]
) -> None:
    ns = f"{MAIN}/stereo_depth"
    # P1 = 6000 alone is above the default profile's P2 (4800): refused, nothing changes
    res = set_params(ros_node, ns, {"P1": 6000.0})
    assert not res[0].successful
    assert "P2" in res[0].reason
    # with P2 in the same request: both are applied (one at a time, P1 would fail first)
    res = set_params(ros_node, ns, {"P1": 6000.0, "P2": 7000.0})
    assert [r.successful for r in res] == [True, True], [r.reason for r in res]
    # an inconsistent pair is refused as a whole: neither value changes
    res = set_params(ros_node, ns, {"P1": 100.0, "P2": 50.0})
    assert [r.successful for r in res] == [False, False]
    # one invalid on its own (out of range) is refused alone; the other is applied
    res = set_params(ros_node, ns, {"P1": 100.0, "uniqueness_ratio": 500.0})
    assert [r.successful for r in res] == [True, False]
    res = set_params(ros_node, ns, {"P1": 0.0, "P2": 0.0})
    assert [r.successful for r in res] == [True, True]


def test_min_disparity_that_cannot_match_the_images_is_refused(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    rig = Rig(ros_node, procs[MAIN], MAIN, pair)
    rig.frame(3000.0)
    ns = f"{MAIN}/stereo_depth"
    assert not set_params(ros_node, ns, {"min_disparity": -1024})[0].successful  # out of range
    res = set_params(ros_node, ns, {"min_disparity": -400})  # in range, too wide for 160 px
    assert not res[0].successful
    assert "160 px wide" in res[0].reason
    res = set_params(ros_node, ns, {"min_disparity": -16})
    assert res[0].successful
    rig.frame(3001.0)
    assert set_params(ros_node, ns, {"min_disparity": 0})[0].successful


# ------------------------------------------------------------------ rectification input


def test_a_distortion_vector_of_the_wrong_length_is_named(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    log = procs[MAIN]
    rig = Rig(ros_node, log, MAIN, pair)
    ns = f"{MAIN}/stereo_depth"
    assert set_params(ros_node, ns, {"rectify": True})[0].successful
    left, right, lcam, rcam = pair
    bad = (replace(lcam, d=(0.01, 0.0, 0.0)), replace(rcam, d=(0.01, 0.0, 0.0)))
    try:
        rig.frame(3499.0)  # the endpoints answer
        rig.player.publish(left, right, *bad, stamp=_stamp(3500.0))
        log.wait(ros_node, lambda: bool(_lines(log, "D has 3 values")), 10, "the D error")
        line = _lines(log, "D has 3 values")[0]
        assert "distortion_model 'plumb_bob' needs 5 (k1, k2, t1, t2, k3)" in line
        assert "error:" not in line  # no raw OpenCV assertion
        good = (replace(lcam, d=(0.0,) * 5), replace(rcam, d=(0.0,) * 5))
        send_until(
            ros_node,
            [log],
            lambda: rig.player.publish(left, right, *good, stamp=_stamp(3501.0)),
            lambda stamp: stamp in rig.collector.stamps(f"{MAIN}/depth"),
            30,
            what="the rectified depth",
        )
    finally:
        assert set_params(ros_node, ns, {"rectify": False})[0].successful


# ------------------------------------------------------------------ resource limits


def test_the_log_rate_limiter_bounds_distinct_messages(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    log = procs[MAIN]
    rig = Rig(ros_node, log, MAIN, pair)
    left, right, lcam, rcam = pair
    rig.frame(3999.0)  # the endpoints answer
    before = len(log.text(None).splitlines())
    handled = _handled(ros_node, log, MAIN)
    for i in range(30):  # 30 different errors: each right image one column narrower
        narrow = np.ascontiguousarray(right[:, : W - 1 - i])
        rig.player.publish(
            left, narrow, lcam, replace(rcam, width=W - 1 - i), stamp=_stamp(4000.0 + i * 0.1)
        )
        spin_for(ros_node, 0.05)  # pacing, as a camera
    # every one of them refused (counted as an error) or dropped for a newer: all handled
    log.wait(
        ros_node,
        lambda: _handled(ros_node, log, MAIN) >= handled + 30,
        30,
        "the 30 bad frames counted in the diagnostics",
    )
    lines = log.text(None).splitlines()[before:]
    errors = [line for line in lines if "dropping frame" in line]
    assert 1 <= len(errors) <= 10, "\n".join(lines)
    rig.frame(4010.0)


def _handled(node: Node, proc: NodeProcess, ns: str) -> int:
    """Frames the node has refused (``errors``) or dropped (``dropped_frames``), from a
    /diagnostics message it publishes after this call."""
    status = _diagnostic(node, proc, ns)
    values = {kv.key: kv.value for kv in status.values}
    return int(values["errors"]) + int(values["dropped_frames"])


# ------------------------------------------------------------------ use_sim_time, segment


def test_ros_time_reset_is_detected_and_big_best_effort_outputs_warn(
    ros_node: Node, procs: dict[str, NodeProcess], pair: Pair
) -> None:
    node = ros_node
    log = procs[SIM]
    clock = node.create_publisher(
        Clock, "/clock", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    log.wait(node, lambda: clock.get_subscription_count() > 0, 60, "/clock subscribed")
    for t in (100.0, 100.5, 101.0):
        clock.publish(Clock(clock=_stamp(t)))
        spin_for(node, 0.2)  # pacing, as a simulator's clock
    rig = Rig(node, log, SIM, pair, qos_name="sensor_data")
    # depth is 160*120*4 = 75 KiB: beyond the 64 KiB segment, lost to best-effort readers;
    # its (small) camera_info, published after it, tells the frame was handled
    rig.frame(101.0, topic="depth/camera_info")
    log.wait(node, lambda: bool(_lines(log, "shared-memory segment")), 15, "the segment warning")
    clock.publish(Clock(clock=_stamp(3.0)))  # the simulator restarts
    log.wait(node, lambda: bool(_lines(log, "ROS time jumped back")), 15, "the time jump")
    assert "98.000 s" in _lines(log, "ROS time jumped back")[0]
    warning = _lines(log, f"{SIM}/depth exceeds")
    assert len(warning) == 1
    assert re.search(r"a 75\.\d KiB message", warning[0])  # the image and its header
    assert "64.0 KiB shared-memory segment" in warning[0]
    assert "output_qos:=reliable" in warning[0]
    rig.frame(103.0, topic="depth/camera_info")  # depth published (and checked) before it
    assert len(_lines(log, f"{SIM}/depth exceeds")) == 1  # once per topic


# ------------------------------------------------------------------ start-up parameters


def _diagnostic(node: Node, proc: NodeProcess, ns: str, timeout: float = 30.0) -> DiagnosticStatus:
    """The first status of the node in ``ns`` on /diagnostics after the call (a new
    subscription: no message made before it is taken for one made after)."""
    got: list[DiagnosticStatus] = []
    sub = node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: got.extend(s for s in m.status if s.name.startswith(f"{ns}/")),
        10,
    )
    try:
        proc.wait(node, lambda: bool(got), timeout, f"a diagnostic of {ns}")
    finally:
        node.destroy_subscription(sub)
    return got[0]


def test_invalid_start_up_values_leave_the_plain_node_up_in_error(
    ros_node: Node, procs: dict[str, NodeProcess]
) -> None:
    log = procs[BAD]
    status = _diagnostic(ros_node, log, BAD)
    assert status.level in (b"\x02", 2)
    assert log.alive()
    text = log.text(None)
    assert "Traceback" not in text
    lines = _lines(log, "cannot start")
    assert len(lines) == 1, text
    for part in (
        "disparity_range must be 16 + a multiple of 16, got 17",
        "backend must be one of",
        "min_depth (5) must be smaller than max_depth (2",
    ):
        assert part in lines[0]
    assert "disparity_range" in status.message


def _change(node: Node, ns: str, transition: int) -> bool:
    client: Client[Any, Any] = node.create_client(ChangeState, f"{ns}/stereo_depth/change_state")
    assert client.wait_for_service(timeout_sec=60)
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
    rclpy.spin_until_future_complete(node, future, timeout_sec=30)
    node.destroy_client(client)
    result = future.result()
    return bool(result is not None and result.success)


def test_lifecycle_configure_fails_with_the_reason(
    ros_node: Node, procs: dict[str, NodeProcess]
) -> None:
    log = procs[MANAGED]
    assert not _change(ros_node, MANAGED, Transition.TRANSITION_CONFIGURE)
    lines = _lines(log, "cannot start")
    assert len(lines) == 1, log.report()
    assert "disparity_range must be 16 + a multiple of 16, got 17" in lines[0]
    assert "Traceback" not in log.text(None)
    # a valid value replaces the refused one: configure now succeeds
    assert set_params(ros_node, f"{MANAGED}/stereo_depth", {"disparity_range": 32})[0].successful
    assert _change(ros_node, MANAGED, Transition.TRANSITION_CONFIGURE), log.report()
    assert log.alive()


# ------------------------------------------------------------------ signals, import hygiene


STRAY = """import pathlib
pathlib.Path(__file__).with_name("STRAY_IMPORTED").write_text("imported")
raise SystemExit("a stray rclpy.py in the current folder was imported")
"""


def test_repeated_signals_shut_down_cleanly_and_cwd_is_not_imported(
    ros_node: Node, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "rclpy.py").write_text(STRAY)
    monkeypatch.chdir(tmp_path)  # node processes inherit this folder as their cwd
    # (first, second signal, seconds between them): 2 SIGINTs in quick succession, as
    # Ctrl-C under ros2 launch delivers, also mixed with SIGTERM and in bursts
    plans = [
        (signal.SIGINT, signal.SIGINT, 0.0),
        (signal.SIGINT, signal.SIGINT, 0.002),
        (signal.SIGINT, signal.SIGINT, 0.03),
        (signal.SIGINT, signal.SIGTERM, 0.01),
        (signal.SIGTERM, signal.SIGINT, 0.0),
        (signal.SIGINT, signal.SIGINT, 0.15),
    ]
    with ExitStack() as stack:
        started = [
            stack.enter_context(
                node_process(
                    "stereo_depth",
                    tmp_path / f"sig{i}.log",
                    {"model": "sgbm", "lazy": False},
                    f"/rel_sig{i}",
                    exit_codes=(0,),
                )
            )
            for i in range(len(plans))
        ]
        # running: configured and active (activation starts /diagnostics last)
        assert wait_for(
            ros_node,
            lambda: all(
                publisher_of(ros_node, "/diagnostics", f"/rel_sig{i}") or not p.alive()
                for i, p in enumerate(started)
            ),
            90,
        ), [p.text(1000) for p in started]
        t0 = time.monotonic()
        for p, (first, second, gap) in zip(started, plans, strict=True):
            p.proc.send_signal(first)
            if gap:
                time.sleep(gap)  # the gap under test between the two signals
            p.proc.send_signal(second)
            if first == signal.SIGINT and second == signal.SIGINT and gap == 0.0:
                p.proc.send_signal(signal.SIGINT)  # and a third
        for p, plan in zip(started, plans, strict=True):
            code = p.proc.wait(30)
            text = p.text(None)
            assert code == 0, f"{plan}: exit {code}\n{text[-3000:]}"
            assert "Traceback" not in text, text
            assert "RCLError" not in text, text
            assert "configured" in text, text
        # all gone before ros2 launch would escalate to SIGTERM (5 s after SIGINT)
        assert time.monotonic() - t0 < 5.0
    assert not (tmp_path / "STRAY_IMPORTED").exists()
