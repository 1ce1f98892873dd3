"""stereo_depth as a managed (lifecycle) node, driven over its lifecycle services.

As ros2/demos' lifecycle talker: unconfigured → configure → inactive (the outputs are
advertised as lifecycle publishers, nothing is subscribed or published) → activate → the
inputs are subscribed and outputs flow → deactivate → no subscriptions, nothing published,
the outputs still advertised → cleanup → unconfigured, nothing advertised → configure and
activate again work; configure with an unknown model fails and the node stays alive.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from sensor_msgs.msg import Image

from depth_ros import processes
from depth_ros.core.eval.samples import load_sample
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import spin_for, wait_for

pytestmark = pytest.mark.ros
NS = "/lifecycle_test"
BAD_NS = "/lifecycle_bad"
INPUT = f"{NS}/left/image_rect"
OUTPUT = f"{NS}/depth"


@contextmanager
def managed(log: Path, params: dict[str, object], ns: str) -> Iterator[subprocess.Popen[bytes]]:
    args = ["--lifecycle", *processes.ros_args(params, namespace=ns)]
    proc = processes.start("stereo_depth", args, log=log)
    try:
        yield proc
    finally:
        code = processes.stop(proc)
        assert code in (0, -2, 130), f"exited with {code}:\n{log.read_text()[-3000:]}"


@pytest.fixture(scope="module")
def nodes(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, tuple[subprocess.Popen[bytes], Path]]]:
    """Both managed nodes start together (their start-up overlaps)."""
    tmp = tmp_path_factory.mktemp("lifecycle")
    with ExitStack() as stack:
        good_log, bad_log = tmp / "good.log", tmp / "bad.log"
        good = stack.enter_context(managed(good_log, {"model": "sgbm"}, NS))
        bad = stack.enter_context(managed(bad_log, {"model": "no_such_model"}, BAD_NS))
        yield {NS: (good, good_log), BAD_NS: (bad, bad_log)}


class Lifecycle:
    """Client of ``<node>/get_state`` and ``<node>/change_state``."""

    def __init__(self, node: Any, target: str) -> None:
        self.node = node
        self.get = node.create_client(GetState, f"{target}/get_state")
        self.change = node.create_client(ChangeState, f"{target}/change_state")
        assert self.get.wait_for_service(timeout_sec=30), f"{target}/get_state not found"
        assert self.change.wait_for_service(timeout_sec=30), f"{target}/change_state not found"

    def _call(self, client: Any, request: Any, timeout: float = 30.0) -> Any:
        import rclpy

        future = client.call_async(request)
        rclpy.spin_until_future_complete(self.node, future, timeout_sec=timeout)
        assert future.done(), f"{client.srv_name} did not answer within {timeout} s"
        return future.result()

    def state(self) -> int:
        return int(self._call(self.get, GetState.Request()).current_state.id)

    def transition(self, transition_id: int) -> bool:
        request = ChangeState.Request()
        request.transition = Transition(id=transition_id)
        return bool(self._call(self.change, request).success)


def _flows(
    node: Any, player: StereoPlayer, collector: Collector, frames: int = 3, wait: float = 15.0
) -> int:
    """Publish frames; return how many depth images came back within ``wait`` s."""
    s = load_sample("motorcycle")
    before = collector.count(OUTPUT)
    for _ in range(frames):
        player.publish(s.left, s.right, s.left_camera, s.right_camera)
        spin_for(node, 0.3)
    wait_for(node, lambda: collector.count(OUTPUT) >= before + frames, wait)
    spin_for(node, 0.5)
    return collector.count(OUTPUT) - before


def test_transitions(ros_node: Any, nodes: Any) -> None:
    node = ros_node
    proc, log = nodes[NS]
    lc = Lifecycle(node, f"{NS}/stereo_depth")
    player = StereoPlayer(node, prefix=NS)
    collector = Collector(node, {OUTPUT: Image})
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert node.count_publishers(OUTPUT) == 0
    assert node.count_subscribers(INPUT) == 0

    for cycle in range(2):  # the second cycle: configure again after cleanup
        assert lc.transition(Transition.TRANSITION_CONFIGURE), log.read_text()[-2000:]
        assert lc.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(node, lambda: node.count_publishers(OUTPUT) > 0, 10), (
            "configure creates the (lifecycle) publishers"
        )
        spin_for(node, 0.5)
        assert node.count_subscribers(INPUT) == 0, "inactive node subscribes to inputs"
        assert _flows(node, player, collector, frames=2, wait=1.5) == 0, "published inactive"

        assert lc.transition(Transition.TRANSITION_ACTIVATE)
        assert lc.state() == State.PRIMARY_STATE_ACTIVE
        assert wait_for(
            node,
            lambda: (
                node.count_publishers(OUTPUT) > 0
                and all(p.get_subscription_count() for p in player.pubs)
            ),
            20,
        )
        assert wait_for(node, collector.publishers_matched, 20)
        spin_for(node, 0.5)
        assert _flows(node, player, collector) >= 2, f"cycle {cycle}: no outputs"

        assert lc.transition(Transition.TRANSITION_DEACTIVATE)
        assert lc.state() == State.PRIMARY_STATE_INACTIVE
        assert wait_for(node, lambda: node.count_subscribers(INPUT) == 0, 10)
        assert node.count_publishers(OUTPUT) > 0, "deactivate keeps the publishers"
        assert _flows(node, player, collector, frames=2, wait=1.5) == 0, "published inactive"

        assert lc.transition(Transition.TRANSITION_CLEANUP)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        assert wait_for(node, lambda: node.count_publishers(OUTPUT) == 0, 10), (
            "cleanup removes the publishers"
        )
    assert proc.poll() is None
    assert "Traceback" not in log.read_text()


def test_configure_with_unknown_model_fails_and_node_stays(ros_node: Any, nodes: Any) -> None:
    node = ros_node
    proc, log = nodes[BAD_NS]
    lc = Lifecycle(node, f"{BAD_NS}/stereo_depth")
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not lc.transition(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not lc.transition(Transition.TRANSITION_CONFIGURE)  # again: same answer
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert proc.poll() is None, log.read_text()[-2000:]
    text = log.read_text()
    assert "no_such_model" in text, text
    assert "Traceback" not in text
    assert node.count_publishers(f"{BAD_NS}/depth") == 0
