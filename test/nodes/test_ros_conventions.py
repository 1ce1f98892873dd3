"""ROS conventions of the nodes, in real processes over DDS: ``qos_overrides`` parameters
(rclpy's QoSOverridingOptions, as image_pipeline) change an output's and an input's QoS;
with ``use_sim_time`` and no ``/clock`` the node warns once and its diagnostics go on
(steady-clock housekeeping)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.node import Node
from rclpy.qos import ReliabilityPolicy
from sensor_msgs.msg import Image

from nodes.helpers import node_process, wait_for

pytestmark = pytest.mark.ros
NS = "/conventions_test"
SIM_NS = "/sim_time_test"


def test_qos_overrides_change_output_and_input_qos(ros_node: Node, tmp_path: Path) -> None:
    node = ros_node
    params = {
        "model": "sgbm",
        "output_qos": "reliable",
        "input_qos": "reliable",
        "lazy": False,
        f"qos_overrides.{NS}/depth.publisher.reliability": "best_effort",
        f"qos_overrides.{NS}/left/image_rect.subscription.reliability": "best_effort",
    }
    with node_process("stereo_depth", tmp_path / "stereo_depth.log", params, NS) as proc:

        def infos() -> tuple[list[Any], list[Any], list[Any]]:
            return (
                node.get_publishers_info_by_topic(f"{NS}/depth"),
                node.get_publishers_info_by_topic(f"{NS}/disparity"),
                node.get_subscriptions_info_by_topic(f"{NS}/left/image_rect"),
            )

        assert wait_for(node, lambda: all(infos()), 60), proc.report()
        depth, disparity, left = infos()
        assert depth[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
        assert disparity[0].qos_profile.reliability == ReliabilityPolicy.RELIABLE
        assert left[0].qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT


def test_sim_time_without_clock_warns_and_diagnoses(ros_node: Node, tmp_path: Path) -> None:
    node = ros_node
    seen: list[DiagnosticArray] = []
    node.create_subscription(
        DiagnosticArray,
        "/diagnostics",
        lambda m: seen.append(m) if any(SIM_NS in s.name for s in m.status) else None,
        10,
    )
    node.create_subscription(Image, f"{SIM_NS}/depth", lambda m: None, 1)
    with node_process(
        "stereo_depth",
        tmp_path / "stereo_depth.log",
        {"model": "sgbm", "use_sim_time": True},
        SIM_NS,
    ) as proc:
        assert wait_for(node, lambda: "no /clock has arrived" in proc.text(None), 60), proc.report()
        assert wait_for(node, lambda: len(seen) >= 2, 20), "no diagnostics without /clock"
        text = proc.text(None)
        assert text.count("no /clock has arrived") == 1
        assert "ros2 bag play --clock" in text
