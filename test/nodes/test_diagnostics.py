"""/diagnostics and bad input of live nodes over DDS (node in its own process).

Levels with reasons (no camera_info, stamps never in sync, normal, bad data, unknown
model, corrupt or missing weights), the figures a status carries, no per-frame logging,
and bad input the stereo node test does not cover yet (step/size inconsistencies,
truncated data, all-zero and NaN camera_info, invalid runtime parameters): one log line
per distinct error per 5 s however many bad frames arrive, nothing published from bad
data, the node stays up and processes valid data afterwards.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from functools import partial
from typing import Any, NamedTuple

import pytest
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_ros.core.eval.samples import load_sample
from depth_ros.core.params import Value
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import NodeProcess, node_process, send_until, set_params, spin_for, stamp_ns

pytestmark = pytest.mark.ros
NS = "/diag_test"
OK, WARN, ERROR = 0, 1, 2
KEYS = (
    "model",
    "backend",
    "device",
    "input_rate_hz",
    "output_rate_hz",
    "frames_in",
    "frames_out",
    "processing_ms",
    "latency_ms",
    "dropped_frames",
    "errors",
    "state",
)


@pytest.fixture(scope="module")
def stereo_node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NodeProcess]:
    tmp = tmp_path_factory.mktemp("diag")
    params = {"model": "sgbm", "diagnostics_period": 0.5}
    with node_process("stereo_depth", tmp / "stereo.log", params, NS) as proc:
        yield proc


@pytest.fixture(scope="module")
def broken_nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[NodeProcess, str]]]:
    """Nodes that cannot load their model, started together (start-up runs in parallel)."""
    tmp = tmp_path_factory.mktemp("broken")
    corrupt = tmp / "pretrained_model_KITTI2015.tar"
    corrupt.write_bytes(bytes(range(256)) * 64)  # neither a zip nor a pickle
    cases: dict[str, tuple[str, dict[str, object], str]] = {  # (node, params, words)
        "/diag_unknown": ("stereo_depth", {"model": "no_such_model"}, "no_such_model"),
        "/diag_corrupt": (
            "stereo_depth",
            {"model": "psmnet", "weights": str(corrupt)},
            "not a PyTorch checkpoint",
        ),
        "/diag_missing": ("mono_depth", {"weights": str(tmp / "absent.pth")}, "not found"),
    }
    with ExitStack() as stack:
        nodes = {}
        for ns, (name, params, words) in cases.items():
            proc = stack.enter_context(
                node_process(name, tmp / f"{ns[1:]}.log", {**params, "diagnostics_period": 0.5}, ns)
            )
            nodes[ns] = (proc, words)
        yield nodes


def _statuses(diag: Collector, ns: str) -> list[DiagnosticStatus]:
    return [
        s
        for r in list(diag.received["/diagnostics"])
        for s in r.msg.status
        if s.name.startswith(f"{ns}/")
    ]


def _wait_status(
    node: Node,
    diag: Collector,
    ns: str,
    pred: Callable[[DiagnosticStatus], bool],
    timeout: float,
    between: Callable[[], object] | None = None,
) -> DiagnosticStatus | None:
    """Spin (calling ``between`` every 0.1 s) until the node's newest status satisfies
    ``pred``; return it, or None."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = _statuses(diag, ns)
        if got and pred(got[-1]):
            return got[-1]
        if between is not None:
            between()
        spin_for(node, 0.1)
    return None


def _level(status: DiagnosticStatus) -> int:
    return int(status.level[0])


def _values(status: DiagnosticStatus) -> dict[str, str]:
    return {kv.key: kv.value for kv in status.values}


class Rig(NamedTuple):
    node: Node
    player: StereoPlayer
    outputs: Collector
    diag: Collector
    proc: NodeProcess


@pytest.fixture
def rig(ros_node: Node, stereo_node: NodeProcess) -> Rig:
    """The test's publishers and collectors, matched with the node (no frame sent: the
    first test sees a node that has never had camera_info)."""
    node = ros_node
    player = StereoPlayer(node, prefix=NS)
    outputs = Collector(node, {f"{NS}/depth": Image})
    diag = Collector(node, {"/diagnostics": DiagnosticArray})
    stereo_node.wait(
        node, lambda: all(p.get_subscription_count() for p in player.pubs), 30, "inputs"
    )
    stereo_node.wait(node, outputs.publishers_matched, 30, "the depth publisher")
    return Rig(node, player, outputs, diag, stereo_node)


def _good_frame(rig: Rig) -> int:
    """A valid frame, sent (again while unanswered) until its depth is back; its stamp."""
    return send_until(
        rig.node,
        [rig.proc],
        lambda: _publish(rig.player, _frames(rig.node))[0],
        lambda stamp: stamp in rig.outputs.stamps(f"{NS}/depth"),
        30,
        what="the depth of a valid frame",
    )


def _handled(rig: Rig, target: int) -> DiagnosticStatus:
    """The node's first status whose errors and dropped frames add up to ``target``:
    every bad frame sent so far refused or dropped, waited for."""
    got: list[DiagnosticStatus] = []

    def done() -> bool:
        for status in _statuses(rig.diag, NS):
            v = _values(status)
            if int(v["errors"]) + int(v["dropped_frames"]) >= target:
                got.append(status)
                return True
        return False

    rig.proc.wait(rig.node, done, 30, f"{target} frames refused or dropped")
    return got[0]


def _handled_so_far(rig: Rig) -> int:
    """Errors plus dropped frames in the node's newest status (one is waited for)."""
    rig.proc.wait(rig.node, lambda: bool(_statuses(rig.diag, NS)), 10, "a diagnostic")
    v = _values(_statuses(rig.diag, NS)[-1])
    return int(v["errors"]) + int(v["dropped_frames"])


def _frames(node: Node, stamp_offset_ns: int = 0) -> list[Any]:
    """The four messages of one Motorcycle frame; the right pair stamped later by
    ``stamp_offset_ns``."""
    s = load_sample("motorcycle")
    now = node.get_clock().now()
    left = Header(stamp=now.to_msg(), frame_id=s.left_camera.frame_id)
    right = Header(stamp=(now + _duration(stamp_offset_ns)).to_msg(), frame_id=left.frame_id)
    return [
        numpy_to_image(s.left, "rgb8", left),
        camera_info_msg(s.left_camera, left),
        numpy_to_image(s.right, "rgb8", right),
        camera_info_msg(s.right_camera, right),
    ]


def _duration(ns: int) -> Any:
    from rclpy.duration import Duration

    return Duration(nanoseconds=ns)


def _publish(
    player: StereoPlayer, msgs: list[Any], which: tuple[int, ...] = (0, 1, 2, 3)
) -> list[Header]:
    """Publish ``msgs[i]`` for each ``i`` of ``which``; the headers of the published."""
    for i in which:
        player.pubs[i].publish(msgs[i])
    return [msgs[i].header for i in which]


def test_warn_without_camera_info_then_without_sync(rig: Rig) -> None:
    """First test on a fresh node: camera_info has never arrived."""
    node, player, outputs, diag, _ = rig
    status = _wait_status(
        node,
        diag,
        NS,
        lambda s: "camera_info" in s.message,
        8.0,
        between=lambda: _publish(player, _frames(node), (0, 2)),
    )
    assert status is not None, [s.message for s in _statuses(diag, NS)[-3:]]
    assert _level(status) == WARN
    assert status.message == "no messages on left/camera_info, right/camera_info"
    # all four topics, but the right pair is always 1 ms later: nothing ever pairs
    status = _wait_status(
        node,
        diag,
        NS,
        lambda s: "synchronise" in s.message,
        8.0,
        between=lambda: _publish(player, _frames(node, 1_000_000)),
    )
    assert status is not None, [s.message for s in _statuses(diag, NS)[-3:]]
    assert _level(status) == WARN
    assert "stamps differ" in status.message
    assert float(_values(status)["input_rate_hz"]) == 0.0
    assert outputs.count(f"{NS}/depth") == 0


def test_ok_with_figures_and_no_per_frame_logging(rig: Rig) -> None:
    node, player, outputs, diag, log = rig
    lines_before = log.text(None).splitlines()
    for _ in range(12):
        _publish(player, _frames(node))
        spin_for(node, 0.2)  # pacing, as a camera
    log.wait(node, lambda: outputs.count(f"{NS}/depth") >= 8, 20, "8 of the 12 depths")
    status = _wait_status(node, diag, NS, lambda s: _level(s) == OK, 3.0)
    assert status is not None, [(s.level, s.message) for s in _statuses(diag, NS)[-3:]]
    assert status.message == "ok"
    values = _values(status)
    assert set(KEYS) <= set(values), values
    assert values["model"] == "sgbm"
    assert values["state"] == "active"
    assert values["device"] == "cpu"
    assert values["backend"]
    assert float(values["input_rate_hz"]) > 0
    assert float(values["output_rate_hz"]) > 0
    assert float(values["processing_ms"]) > 0
    assert float(values["latency_ms"]) >= float(values["processing_ms"]) * 0.9
    assert int(values["dropped_frames"]) >= 0
    assert int(values["frames_out"]) >= 8  # the depths received
    assert int(values["frames_in"]) >= int(values["frames_out"])
    assert status.hardware_id == "stereo_depth"
    assert status.name == f"{NS}/stereo_depth: depth"
    new = log.text(None).splitlines()[len(lines_before) :]
    assert new == [], f"the node logged while processing valid frames: {new[:5]}"


def _bad_cases(node: Node) -> list[tuple[str, Callable[[], list[Any]]]]:
    def step_small() -> list[Any]:
        m = _frames(node)
        m[0].step -= 3
        return m

    def truncated() -> list[Any]:
        m = _frames(node)
        m[0].data = bytes(m[0].data)[: len(m[0].data) // 2]
        return m

    def step_large() -> list[Any]:  # rows claimed longer than the data holds
        m = _frames(node)
        m[2].step += 16
        return m

    def height_large() -> list[Any]:
        m = _frames(node)
        m[0].height += 1
        return m

    def zero_info() -> list[Any]:
        m = _frames(node)
        m[1] = CameraInfo(header=m[1].header)
        return m

    def nan_p() -> list[Any]:
        m = _frames(node)
        p = list(m[3].p)
        p[3] = math.nan
        m[3].p = p
        return m

    return [
        ("step 2220 is smaller than width*3 = 2223", step_small),
        ("truncated: 555750 bytes for 741x500 rgb8", truncated),
        ("741x500 rgb8 with step 2239", step_large),
        ("741x501 rgb8 with step 2223", height_large),
        ("no focal length", zero_info),
        ("not finite", nan_p),
    ]


def test_bad_input_one_message_per_error_nothing_published(rig: Rig) -> None:
    node, player, outputs, diag, log = rig
    _good_frame(rig)  # the endpoints answer
    before = outputs.count(f"{NS}/depth")
    errors_before = int(_values(_statuses(diag, NS)[-1])["errors"]) if _statuses(diag, NS) else 0
    handled = _handled_so_far(rig)
    t0 = time.monotonic()
    sent = 0
    for _, build in _bad_cases(node):
        for _ in range(20):  # 20 bad frames in 1 s
            _publish(player, build())
            sent += 1
            spin_for(node, 0.05)  # pacing, as a camera
    # every bad frame refused (an error) or dropped for a newer one: all handled
    status = _handled(rig, handled + sent)
    assert time.monotonic() - t0 < 5.0 * len(_bad_cases(node))
    text = log.text(None)
    counts = {needle: text.count(needle) for needle, _ in _bad_cases(node)}
    assert all(n == 1 for n in counts.values()), f"log lines per error: {counts}\n{text[-3000:]}"
    assert outputs.count(f"{NS}/depth") == before, "published from bad data"
    # many bad frames were processed and counted, only one line each was logged
    assert int(_values(status)["errors"]) - errors_before >= 3 * len(counts)
    # the node is up and valid data is processed as before
    _good_frame(rig)
    assert outputs.count(f"{NS}/depth") == before + 1


def test_error_diagnostic_names_the_bad_input(rig: Rig) -> None:
    """Only bad frames for 5 s (no output): ERROR with the reason."""
    node, player, _, diag, _ = rig
    needle, build = _bad_cases(node)[-1]
    status = _wait_status(
        node,
        diag,
        NS,
        lambda s: _level(s) == ERROR,
        10.0,
        between=lambda: _publish(player, build()),
    )
    assert status is not None, [(s.level, s.message) for s in _statuses(diag, NS)[-3:]]
    assert needle in status.message
    assert "dropping frame" in status.message


def test_invalid_runtime_parameters_rejected_once_each(rig: Rig) -> None:
    node, log = rig.node, rig.proc
    target = f"{NS}/stereo_depth"
    bad: dict[str, Value] = {
        "points": "bogus",
        "points_decimation": 0,
        "min_depth": -1.0,
        "uniqueness_ratio": math.nan,
        "disparity_range": 100,
    }
    for _ in range(3):  # the same rejections again within 5 s are not logged again
        for name, value in bad.items():
            (result,) = set_params(node, target, {name: value})
            assert not result.successful, (name, value)
            assert name in result.reason or "step" in result.reason, result.reason
    # a rejection is logged before set_parameters answers (stderr, unbuffered)
    lines = [ln for ln in log.text(None).splitlines() if "rejected parameter update" in ln]
    # range violations are refused by rclpy's descriptors (reason returned, nothing
    # logged); the node's own checks log each distinct rejection once per 5 s
    assert len(lines) == len(set(ln.split("]: ")[1] for ln in lines)), lines
    assert sum("bogus" in ln for ln in lines) == 1, lines
    assert sum("'nonsense'" in ln for ln in lines) == 0
    for _ in range(3):
        (result,) = set_params(node, target, {"points": "nonsense"})
        assert not result.successful
        assert "nonsense" in result.reason
    lines = [ln for ln in log.text(None).splitlines() if "rejected parameter update" in ln]
    assert sum("'nonsense'" in ln for ln in lines) == 1, lines  # distinct: logged too
    # values unchanged, node still processes with them
    _good_frame(rig)


def test_nan_intrinsics_k_rejected(rig: Rig) -> None:
    node, player, outputs, _, _ = rig
    _good_frame(rig)  # the endpoints answer
    before = outputs.count(f"{NS}/depth")
    m = _frames(node)
    k = list(m[1].k)
    k[0] = math.nan
    m[1].k = k
    bad = stamp_ns(_publish(player, m)[0])
    # a valid frame after it, on the same topics: once its depth is back, the bad one
    # was taken too, and gave none
    _good_frame(rig)
    assert outputs.count(f"{NS}/depth") == before + 1
    assert bad not in outputs.stamps(f"{NS}/depth")


def test_unloadable_models_error_stay_up_publish_nothing(
    ros_node: Node, broken_nodes: dict[str, tuple[NodeProcess, str]]
) -> None:
    node = ros_node
    diag = Collector(node, {"/diagnostics": DiagnosticArray})
    seen: dict[str, int] = {}
    for ns, (proc, words) in broken_nodes.items():
        status = _wait_status(node, diag, ns, lambda s: True, 60.0)
        assert status is not None, f"{ns}: no diagnostics\n{proc.report()}"
        assert _level(status) == ERROR, (ns, status.message)
        assert words in status.message, (ns, status.message)
        assert _values(status)["state"] == "error"
        assert proc.alive(), proc.report()
        assert node.count_publishers(f"{ns}/depth") == 0
        assert node.count_subscribers(f"{ns}/left/image_rect") == 0
        assert node.count_subscribers(f"{ns}/image") == 0
        text = proc.text(None)
        assert text.count(words) == 1, text  # said once, clearly
        assert "Traceback" not in text
        seen[ns] = len(_statuses(diag, ns))
    # still up later: each publishes its diagnostics again
    for ns, (proc, _) in broken_nodes.items():
        proc.wait(node, partial(_more, diag, ns, seen[ns]), 10, "more diagnostics")
    assert all(proc.alive() for proc, _ in broken_nodes.values())


def _more(diag: Collector, ns: str, count: int) -> bool:
    return len(_statuses(diag, ns)) > count


def test_mono_scale_fit_failing_is_an_error(ros_node: Node) -> None:
    """mono_depth with a scale source that cannot fit (ground_plane without a camera
    height; in-process, a stub network instead of weights): ERROR with the fit's reason,
    the fit state among the values, and no metric depth published."""
    import numpy as np
    from rclpy.parameter import Parameter

    import depth_ros.nodes.base as base
    from depth_ros.nodes.mono_depth import MonoDepth

    class Stub:
        def predict(self, rgb: Any) -> Any:
            h, w = rgb.shape[:2]
            return np.tile(np.linspace(1.0, 2.0, h, dtype=np.float32)[:, None], (1, w))

        def update(self, params: Any) -> None:
            pass

    import rclpy

    node = rclpy.create_node(
        "mono_fit",
        parameter_overrides=[
            Parameter("scale_source", value="ground_plane"),
            Parameter("diagnostics_period", value=60.0),
        ],
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(base, "build_model", lambda *a, **k: Stub())
        comp = MonoDepth(node)
        assert comp.configure(), comp.log.last_error
    comp.activate()
    published: list[str] = []

    class Spy:
        def __init__(self, name: str) -> None:
            self.name = name

        def publish(self, msg: Any) -> None:
            published.append(self.name)

        def get_subscription_count(self) -> int:
            return 1

    try:
        comp.pubs = {k: Spy(k) for k in comp.pubs}
        header = Header(frame_id="cam")
        header.stamp = node.get_clock().now().to_msg()
        s = load_sample("motorcycle")
        for i, msg in enumerate(
            (numpy_to_image(s.left, "rgb8", header), camera_info_msg(s.left_camera, header))
        ):
            comp.input_stage.callback(i)(msg)
        deadline = time.monotonic() + 10
        while "fit" not in published and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "fit" in published, published
        level, message, values = comp._diagnose()
        assert level == ERROR, (level, message)  # no depth is published at all
        assert message.startswith("no metric depth: "), message
        assert values["scale_source"] == "ground_plane"
        assert values["scale_fit"] != "ok"
        assert values["scale_fit"] in message  # the reason, in both
        assert "camera_height" in message
        assert "depth" not in published
        assert "relative" in published
    finally:
        comp.deactivate()
        node.destroy_node()
