"""launch_testing: ``stereo_depth.launch.py`` (sgbm profile, camera namespace,
``register_to:=rgb``) starts the node and register_depth beside it, which subscribe to
their inputs and advertise their outputs in that namespace.

Needs a ROS 2 install with ``launch``, ``launch_ros`` and ``launch_testing`` and depth_ros
built in the workspace (``colcon build``; run with ``colcon test`` or ``launch_test``);
skipped otherwise (pip-only environments have no ``launch``).
"""

from __future__ import annotations

import sys
import unittest
from pathlib import Path

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

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "stereo_depth.launch.py"
NS = "/launch_test_cam"
INPUTS = ("left/image_rect", "left/camera_info", "right/image_rect", "right/camera_info")
OUTPUTS = (
    "disparity",
    "depth",
    "depth/camera_info",
    "points",
    "depth_registered/image_rect",  # register_depth, started by register_to
    "depth_registered/camera_info",
)


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={
            "model": "sgbm",
            "camera": NS,
            "use_sim_time": "false",
            "register_to": "rgb",
        }.items(),
    )
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestTopicsAppear(unittest.TestCase):
    def test_node_advertises_outputs_and_subscribes_inputs(self) -> None:
        check_topics(
            NS, "stereo_depth", INPUTS, OUTPUTS, "depth", Image, companions=("register_depth",)
        )


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info: launch_testing.ProcInfoHandler) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
