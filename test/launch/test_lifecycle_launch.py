"""launch_testing: ``stereo_depth.launch.py lifecycle:=true`` (autostart, the default)
configures and activates ``stereo_depth_lifecycle`` through launch_ros' lifecycle events:
the node reports ``active`` on its ``get_state`` service and serves its outputs.

Needs ``launch``, ``launch_ros``, ``launch_testing`` and depth_ros installed in an ament
prefix (colcon build); skipped otherwise (CI's pip-only environment has no ``launch``).
"""

from __future__ import annotations

import sys
import time
import unittest
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # launch_test runs us by path
from launch_checks import check_topics, require_launch_stack

require_launch_stack()

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

if TYPE_CHECKING:
    from rclpy.client import Client

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "stereo_depth.launch.py"
NS = "/lifecycle_test_cam"


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={"model": "sgbm", "camera": NS, "lifecycle": "true"}.items(),
    )
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


def _state(timeout: float = 60.0) -> str:
    import rclpy
    from lifecycle_msgs.srv import GetState

    rclpy.init()
    node = rclpy.create_node("depth_ros_lifecycle_probe")
    try:
        client: Client[GetState.Request, GetState.Response] = node.create_client(
            GetState, f"{NS}/stereo_depth/get_state"
        )
        deadline = time.monotonic() + timeout
        label = "unreachable"
        while time.monotonic() < deadline:
            if client.wait_for_service(timeout_sec=0.5):
                future = client.call_async(GetState.Request())
                rclpy.spin_until_future_complete(node, future, timeout_sec=5.0)
                result = future.result()
                if result is not None:
                    label = result.current_state.label
                    if label == "active":
                        break
            time.sleep(0.2)
        return label
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


class TestAutostart(unittest.TestCase):
    def test_node_becomes_active_and_serves_outputs(self) -> None:
        assert _state() == "active"
        check_topics(
            NS,
            "stereo_depth",
            ("left/image_rect", "right/image_rect"),
            ("disparity", "depth"),
            "depth",
            Image,
        )


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info: launch_testing.ProcInfoHandler) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
