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
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.msg import Transition
from lifecycle_msgs.srv import ChangeState
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import Image

from depth_ros import processes
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import load_sample
from depth_ros.runtime import FASTDDS_PROFILE
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import set_params, spin_for, wait_for

pytestmark = pytest.mark.ros
MAIN, SIM, BAD, MANAGED = "/rel_main", "/rel_sim", "/rel_bad", "/rel_managed"
W, H = 160, 120


def _start(
    log: Path,
    params: dict[str, object],
    ns: str,
    extra: tuple[str, ...] = (),
    env: dict[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    return processes.start(
        "stereo_depth", [*extra, *processes.ros_args(params, namespace=ns)], env=env, log=log
    )


def _small_segment_profile(tmp: Path) -> Path:
    text = FASTDDS_PROFILE.read_text().replace("33554432", "65536")
    path = tmp / "fastdds_small_shm.xml"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def procs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, tuple[Any, Path]]]:
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
        out = {}
        for ns, (params, extra, e) in specs.items():
            log = tmp / f"{ns.strip('/')}.log"
            proc = _start(log, params, ns, extra, e)
            stack.callback(_stop_clean, proc, log)
            out[ns] = (proc, log)
        yield out


def _stop_clean(proc: subprocess.Popen[bytes], log: Path) -> None:
    code = processes.stop(proc)
    assert code == 0, f"exited with {code}:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def pair() -> tuple[np.ndarray, np.ndarray, PinholeCamera, PinholeCamera]:
    import cv2

    s = load_sample("motorcycle")
    left = np.ascontiguousarray(cv2.resize(s.left, (W, H), interpolation=cv2.INTER_AREA))
    right = np.ascontiguousarray(cv2.resize(s.right, (W, H), interpolation=cv2.INTER_AREA))
    return left, right, s.left_camera.scaled(W, H), s.right_camera.scaled(W, H)


def _stamp(seconds: float) -> Time:
    return Time(sec=int(seconds), nanosec=round((seconds % 1) * 1e9))


class Rig:
    def __init__(self, node: Any, ns: str, pair: Any, qos_name: str = "reliable") -> None:
        self.node, self.ns, self.pair = node, ns, pair
        self.player = StereoPlayer(node, prefix=ns)
        self.collector = Collector(node, {f"{ns}/depth": Image}, qos_name=qos_name)
        assert wait_for(
            node, lambda: all(p.get_subscription_count() for p in self.player.pubs), 60
        ), f"{ns}: stereo_depth did not subscribe"
        assert wait_for(node, self.collector.publishers_matched, 30)
        spin_for(node, 0.3)

    def send(self, t: float, right_offset: float = 0.0) -> None:
        """One pair, the left stamped ``t``, the right ``right_offset`` s later."""
        from std_msgs.msg import Header

        from depth_ros.nodes.convert import camera_info_msg, numpy_to_image

        left, right, lcam, rcam = self.pair
        pubs = self.player.pubs
        h_left = Header(stamp=_stamp(t), frame_id=lcam.frame_id)
        h_right = Header(stamp=_stamp(t + right_offset), frame_id=lcam.frame_id)
        pubs[0].publish(numpy_to_image(left, "rgb8", h_left))
        pubs[1].publish(camera_info_msg(lcam, h_left))
        pubs[2].publish(numpy_to_image(right, "rgb8", h_right))
        pubs[3].publish(camera_info_msg(rcam, h_right))

    def outputs_at(self, t: float, timeout: float = 10.0) -> bool:
        want = _stamp(t)
        stamp_ns = want.sec * 10**9 + want.nanosec
        return self.collector.wait(
            lambda c: any(r.stamp_ns == stamp_ns for r in c.received[f"{self.ns}/depth"]), timeout
        )


def _lines(log: Path, pattern: str) -> list[str]:
    return [line for line in log.read_text().splitlines() if re.search(pattern, line)]


# ------------------------------------------------------------------ time jumps


def test_stamps_jumping_back_clear_the_synchroniser_once(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    rig = Rig(ros_node, MAIN, pair)
    log = procs[MAIN][1]
    for t in (1000.0, 1000.1, 1000.2):
        rig.send(t)
        assert rig.outputs_at(t), "no output before the jump:\n" + log.read_text()[-2000:]
    for t in (5.0, 5.1, 5.2):  # a bag loop / simulator reset: far below the old maximum
        rig.send(t)
        assert rig.outputs_at(t), f"frame {t} after the jump dropped:\n{log.read_text()[-2000:]}"
    jumps = _lines(log, "jumped back")
    assert len(jumps) == 1, log.read_text()[-2000:]
    assert "995.200 s" in jumps[0]
    assert "synchroniser cleared" in jumps[0]


# ------------------------------------------------------------------ accepted, then ignored


def test_approximate_sync_tolerance_takes_effect_at_runtime(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    rig = Rig(ros_node, MAIN, pair)
    ns = f"{MAIN}/stereo_depth"
    # right images 30 ms after the left: beyond 10 ms, no set; within 50 ms, paired
    rig.send(2000.0, right_offset=0.03)
    spin_for(ros_node, 1.0)
    assert not rig.outputs_at(2000.0, timeout=0.5)
    assert [
        r.successful for r in set_params(ros_node, ns, {"approximate_sync_tolerance_seconds": 0.05})
    ] == [True]
    rig.send(2001.0, right_offset=0.03)
    assert rig.outputs_at(2001.0), procs[MAIN][1].read_text()[-2000:]


def test_min_depth_beyond_max_depth_is_rejected(ros_node, procs):  # type: ignore[no-untyped-def]
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


def test_p1_and_p2_in_one_request_are_applied_together(ros_node, procs):  # type: ignore[no-untyped-def]
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


def test_min_disparity_that_cannot_match_the_images_is_refused(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    rig = Rig(ros_node, MAIN, pair)
    rig.send(3000.0)
    assert rig.outputs_at(3000.0)
    ns = f"{MAIN}/stereo_depth"
    assert not set_params(ros_node, ns, {"min_disparity": -1024})[0].successful  # out of range
    res = set_params(ros_node, ns, {"min_disparity": -400})  # in range, too wide for 160 px
    assert not res[0].successful
    assert "160 px wide" in res[0].reason
    res = set_params(ros_node, ns, {"min_disparity": -16})
    assert res[0].successful
    rig.send(3001.0)
    assert rig.outputs_at(3001.0)
    assert set_params(ros_node, ns, {"min_disparity": 0})[0].successful


# ------------------------------------------------------------------ rectification input


def test_a_distortion_vector_of_the_wrong_length_is_named(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    rig = Rig(ros_node, MAIN, pair)
    log = procs[MAIN][1]
    ns = f"{MAIN}/stereo_depth"
    assert set_params(ros_node, ns, {"rectify": True})[0].successful
    left, right, lcam, rcam = pair
    bad = (replace(lcam, d=(0.01, 0.0, 0.0)), replace(rcam, d=(0.01, 0.0, 0.0)))
    try:
        rig.player.publish(left, right, *bad, stamp=_stamp(3500.0))
        assert wait_for(ros_node, lambda: _lines(log, "D has 3 values"), 10), log.read_text()
        line = _lines(log, "D has 3 values")[0]
        assert "distortion_model 'plumb_bob' needs 5 (k1, k2, t1, t2, k3)" in line
        assert "error:" not in line  # no raw OpenCV assertion
        rig.player.publish(
            left,
            right,
            replace(lcam, d=(0.0,) * 5),
            replace(rcam, d=(0.0,) * 5),
            stamp=_stamp(3501.0),
        )
        assert rig.outputs_at(3501.0), log.read_text()[-2000:]
    finally:
        assert set_params(ros_node, ns, {"rectify": False})[0].successful


# ------------------------------------------------------------------ resource limits


def test_the_log_rate_limiter_bounds_distinct_messages(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    rig = Rig(ros_node, MAIN, pair)
    log = procs[MAIN][1]
    left, right, lcam, rcam = pair
    before = len(log.read_text().splitlines())
    for i in range(30):  # 30 different errors: each right image one column narrower
        narrow = np.ascontiguousarray(right[:, : W - 1 - i])
        rig.player.publish(
            left, narrow, lcam, replace(rcam, width=W - 1 - i), stamp=_stamp(4000.0 + i * 0.1)
        )
        spin_for(ros_node, 0.05)
    spin_for(ros_node, 2.0)
    lines = log.read_text().splitlines()[before:]
    errors = [line for line in lines if "dropping frame" in line]
    assert 1 <= len(errors) <= 10, "\n".join(lines)
    rig.send(4010.0)
    assert rig.outputs_at(4010.0)


# ------------------------------------------------------------------ use_sim_time, segment


def test_ros_time_reset_is_detected_and_big_best_effort_outputs_warn(ros_node, procs, pair):  # type: ignore[no-untyped-def]
    node = ros_node
    log = procs[SIM][1]
    clock = node.create_publisher(
        Clock, "/clock", QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    )
    clock_subscribed = lambda: clock.get_subscription_count() > 0  # noqa: E731
    assert wait_for(node, clock_subscribed, 60), log.read_text()[-2000:]
    for t in (100.0, 100.5, 101.0):
        clock.publish(Clock(clock=_stamp(t)))
        spin_for(node, 0.2)
    rig = Rig(node, SIM, pair, qos_name="sensor_data")
    rig.send(101.0)  # depth is 160*120*4 = 75 KiB: beyond the 64 KiB segment
    assert wait_for(node, lambda: _lines(log, "shared-memory segment"), 15), log.read_text()
    clock.publish(Clock(clock=_stamp(3.0)))  # the simulator restarts
    assert wait_for(node, lambda: _lines(log, "ROS time jumped back"), 15), log.read_text()
    assert "98.000 s" in _lines(log, "ROS time jumped back")[0]
    warning = _lines(log, f"{SIM}/depth exceeds")
    assert len(warning) == 1
    assert re.search(r"a 75\.\d KiB message", warning[0])  # the image and its header
    assert "64.0 KiB shared-memory segment" in warning[0]
    assert "output_qos:=reliable" in warning[0]
    rig.send(103.0)
    spin_for(node, 1.0)
    assert len(_lines(log, f"{SIM}/depth exceeds")) == 1  # once per topic


# ------------------------------------------------------------------ start-up parameters


def _diagnostic(node: Any, ns: str, timeout: float = 30.0) -> Any:
    got: list[Any] = []
    sub = node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: got.extend(s for s in m.status if s.name.startswith(f"{ns}/")),
        10,
    )
    wait_for(node, lambda: bool(got), timeout)
    node.destroy_subscription(sub)
    return got[-1] if got else None


def test_invalid_start_up_values_leave_the_plain_node_up_in_error(ros_node, procs):  # type: ignore[no-untyped-def]
    proc, log = procs[BAD]
    status = _diagnostic(ros_node, BAD)
    assert status is not None, log.read_text()
    assert status.level in (b"\x02", 2)
    assert proc.poll() is None
    text = log.read_text()
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


def _change(node: Any, ns: str, transition: int) -> bool:
    client = node.create_client(ChangeState, f"{ns}/stereo_depth/change_state")
    assert client.wait_for_service(timeout_sec=60)
    future = client.call_async(ChangeState.Request(transition=Transition(id=transition)))
    import rclpy

    rclpy.spin_until_future_complete(node, future, timeout_sec=30)
    node.destroy_client(client)
    return bool(future.result().success)


def test_lifecycle_configure_fails_with_the_reason(ros_node, procs):  # type: ignore[no-untyped-def]
    proc, log = procs[MANAGED]
    assert not _change(ros_node, MANAGED, Transition.TRANSITION_CONFIGURE)
    lines = _lines(log, "cannot start")
    assert len(lines) == 1, log.read_text()
    assert "disparity_range must be 16 + a multiple of 16, got 17" in lines[0]
    assert "Traceback" not in log.read_text()
    # a valid value replaces the refused one: configure now succeeds
    assert set_params(ros_node, f"{MANAGED}/stereo_depth", {"disparity_range": 32})[0].successful
    assert _change(ros_node, MANAGED, Transition.TRANSITION_CONFIGURE), log.read_text()
    assert proc.poll() is None


# ------------------------------------------------------------------ signals, import hygiene


STRAY = """import pathlib
pathlib.Path(__file__).with_name("STRAY_IMPORTED").write_text("imported")
raise SystemExit("a stray rclpy.py in the current folder was imported")
"""


def test_repeated_signals_shut_down_cleanly_and_cwd_is_not_imported(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
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
    started = []
    for i, _ in enumerate(plans):
        log = tmp_path / f"sig{i}.log"
        proc = _start(log, {"model": "sgbm", "lazy": False}, f"/rel_sig{i}")
        started.append((proc, log))
    try:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and not all(
            "configured" in log.read_text() or p.poll() is not None for p, log in started
        ):
            time.sleep(0.2)
        time.sleep(0.5)
        t0 = time.monotonic()
        for (proc, _), (first, second, gap) in zip(started, plans, strict=True):
            proc.send_signal(first)
            if gap:
                time.sleep(gap)
            proc.send_signal(second)
            if first == signal.SIGINT and second == signal.SIGINT and gap == 0.0:
                proc.send_signal(signal.SIGINT)  # and a third
        for (proc, log), plan in zip(started, plans, strict=True):
            code = proc.wait(30)
            text = log.read_text()
            assert code == 0, f"{plan}: exit {code}\n{text[-3000:]}"
            assert "Traceback" not in text, text
            assert "RCLError" not in text, text
            assert "configured" in text, text
        # all gone before ros2 launch would escalate to SIGTERM (5 s after SIGINT)
        assert time.monotonic() - t0 < 5.0
    finally:
        for proc, _ in started:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert not (tmp_path / "STRAY_IMPORTED").exists()
