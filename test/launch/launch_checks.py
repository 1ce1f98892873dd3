"""What the launch_testing tests check once a launch file is up: the node exists in its
namespace, advertises its outputs and, once something listens to an output (the nodes
subscribe lazily), subscribes to its inputs."""

from __future__ import annotations

import os
import random
import time
from collections.abc import Sequence


def require_launch_stack() -> None:
    """Skip the calling test module unless ``launch``, ``launch_ros`` and
    ``launch_testing`` are importable and depth_ros is installed in an ament prefix (what
    ``Node`` actions need to find the executables); keep DDS on this machine."""
    import pytest

    pytest.importorskip("launch_testing", reason="launch_testing is not installed")
    pytest.importorskip("launch.actions", reason="ROS 2 launch is not installed")
    pytest.importorskip("launch_ros", reason="launch_ros is not installed")
    from depth_ros.launch_description import package_available

    if not package_available("depth_ros"):
        pytest.skip(
            "depth_ros is not installed in an ament prefix (colcon build, then "
            "source install/setup.bash)",
            allow_module_level=True,
        )
    os.environ.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))


def check_topics(
    ns: str,
    node_name: str,
    inputs: Sequence[str],
    outputs: Sequence[str],
    listen: str,
    listen_type: type,
    timeout: float = 60.0,
    companions: Sequence[str] = (),
) -> None:
    """``listen``/``listen_type``: an output to subscribe to (its message type);
    ``companions``: other nodes the launch file starts in ``ns``."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node("depth_ros_launch_test")
    try:
        # the nodes subscribe to their inputs only while an output has a subscriber
        node.create_subscription(listen_type, f"{ns}/{listen}", lambda msg: None, 1)
        want_pubs = {f"{ns}/{t}" for t in outputs}
        want_subs = {f"{ns}/{t}" for t in inputs}
        # (node names are discovered apart from topics, sometimes after them: waited for too)
        want_nodes = {f"{ns}/{name}" for name in (node_name, *companions)}
        deadline = time.monotonic() + timeout
        pubs: set[str] = set()
        subs: set[str] = set()
        nodes: set[str] = set()
        while time.monotonic() < deadline:
            rclpy.spin_once(node, timeout_sec=0.2)
            names = [n for n, _ in node.get_topic_names_and_types()]
            pubs = {n for n in names if node.count_publishers(n)}
            subs = {n for n in names if node.count_subscribers(n)}
            nodes = set(node.get_fully_qualified_node_names())
            if want_pubs <= pubs and want_subs <= subs and want_nodes <= nodes:
                break
        assert want_pubs <= pubs, f"missing publishers: {sorted(want_pubs - pubs)}"
        assert want_subs <= subs, f"missing subscriptions: {sorted(want_subs - subs)}"
        assert want_nodes <= nodes, f"missing nodes: {sorted(want_nodes - nodes)}"
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
