"""stereo_depth as a managed (lifecycle) node, driven over its lifecycle services.

As ros2/demos' lifecycle talker: unconfigured → configure → inactive (the outputs are
advertised as lifecycle publishers, nothing is subscribed or published) → activate → the
inputs are subscribed and outputs flow → deactivate → no subscriptions, nothing published,
the outputs still advertised → cleanup → unconfigured, nothing advertised → configure and
activate again work; configure with an unknown model fails and the node stays alive.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
from lifecycle_msgs.msg import State, Transition
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.client import Client
from rclpy.node import Node
from sensor_msgs.msg import Image

from depth_ros.core.eval.samples import load_sample
from depth_ros.tools.collector import Collector
from depth_ros.tools.player import StereoPlayer
from nodes.helpers import NodeProcess, node_process, send_until

pytestmark = pytest.mark.ros
NS = "/lifecycle_test"
BAD_NS = "/lifecycle_bad"
INPUT = f"{NS}/left/image_rect"
OUTPUT = f"{NS}/depth"


@pytest.fixture(scope="module")
def nodes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, NodeProcess]]:
    """Both managed nodes start together (their start-up overlaps)."""
    tmp = tmp_path_factory.mktemp("lifecycle")
    lifecycle = ["--lifecycle"]
    with ExitStack() as stack:
        good = stack.enter_context(
            node_process("stereo_depth", tmp / "good.log", {"model": "sgbm"}, NS, args=lifecycle)
        )
        bad = stack.enter_context(
            node_process(
                "stereo_depth", tmp / "bad.log", {"model": "no_such_model"}, BAD_NS, args=lifecycle
            )
        )
        yield {NS: good, BAD_NS: bad}


class Lifecycle:
    """Client of ``<node>/get_state`` and ``<node>/change_state``."""

    def __init__(self, node: Node, target: str) -> None:
        self.node = node
        self.get: Client[Any, Any] = node.create_client(GetState, f"{target}/get_state")
        self.change: Client[Any, Any] = node.create_client(ChangeState, f"{target}/change_state")
        assert self.get.wait_for_service(timeout_sec=30), f"{target}/get_state not found"
        assert self.change.wait_for_service(timeout_sec=30), f"{target}/change_state not found"

    def _call(self, client: Client[Any, Any], request: Any, timeout: float = 30.0) -> Any:
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
    node: Node, proc: NodeProcess, player: StereoPlayer, collector: Collector, frames: int = 3
) -> None:
    """Publish ``frames`` frames, each (sent again while unanswered: lost as the endpoints
    matched) until its depth is back."""
    s = load_sample("motorcycle")
    for _ in range(frames):
        send_until(
            node,
            [proc],
            lambda: player.publish(s.left, s.right, s.left_camera, s.right_camera),
            lambda stamp: stamp in collector.stamps(OUTPUT),
            30,
            what="a depth",
        )


def _unreachable(player: StereoPlayer) -> bool:
    """Whether no input publisher of the test reaches a subscriber: nothing can flow."""
    return not any(p.get_subscription_count() for p in player.pubs)


def test_transitions(ros_node: Node, nodes: dict[str, NodeProcess]) -> None:
    node = ros_node
    proc = nodes[NS]
    lc = Lifecycle(node, f"{NS}/stereo_depth")
    player = StereoPlayer(node, prefix=NS)
    collector = Collector(node, {OUTPUT: Image})
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert node.count_publishers(OUTPUT) == 0
    assert node.count_subscribers(INPUT) == 0

    for cycle in range(2):  # the second cycle: configure again after cleanup
        assert lc.transition(Transition.TRANSITION_CONFIGURE), proc.report()
        assert lc.state() == State.PRIMARY_STATE_INACTIVE
        # configure creates the (lifecycle) publishers, last: the graph that shows them
        # shows every endpoint configure made
        proc.wait(node, lambda: node.count_publishers(OUTPUT) > 0, 10, "the output publisher")
        assert node.count_subscribers(INPUT) == 0, "inactive node subscribes to inputs"
        assert _unreachable(player), "an inactive node takes input"

        assert lc.transition(Transition.TRANSITION_ACTIVATE)
        assert lc.state() == State.PRIMARY_STATE_ACTIVE
        proc.wait(
            node,
            lambda: (
                node.count_publishers(OUTPUT) > 0
                and all(p.get_subscription_count() for p in player.pubs)
            ),
            20,
            f"cycle {cycle}: inputs and outputs",
        )
        proc.wait(node, collector.publishers_matched, 20, "the output matched")
        _flows(node, proc, player, collector)

        assert lc.transition(Transition.TRANSITION_DEACTIVATE)
        assert lc.state() == State.PRIMARY_STATE_INACTIVE
        proc.wait(node, lambda: _unreachable(player), 10, "the inputs unsubscribed")
        assert node.count_subscribers(INPUT) == 0
        assert node.count_publishers(OUTPUT) > 0, "deactivate keeps the publishers"

        assert lc.transition(Transition.TRANSITION_CLEANUP)
        assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
        proc.wait(node, lambda: node.count_publishers(OUTPUT) == 0, 10, "publishers removed")
    assert proc.alive()
    assert "Traceback" not in proc.text(None)


def test_configure_with_unknown_model_fails_and_node_stays(
    ros_node: Node, nodes: dict[str, NodeProcess]
) -> None:
    node = ros_node
    proc = nodes[BAD_NS]
    lc = Lifecycle(node, f"{BAD_NS}/stereo_depth")
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not lc.transition(Transition.TRANSITION_CONFIGURE)
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert not lc.transition(Transition.TRANSITION_CONFIGURE)  # again: same answer
    assert lc.state() == State.PRIMARY_STATE_UNCONFIGURED
    assert proc.alive(), proc.report()
    text = proc.text(None)
    assert "no_such_model" in text, text
    assert "Traceback" not in text
    assert node.count_publishers(f"{BAD_NS}/depth") == 0
