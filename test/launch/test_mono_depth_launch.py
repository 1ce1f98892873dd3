"""launch_testing: ``mono_depth.launch.py`` (Depth Anything V2 ViT-S profile, camera
namespace) starts the node, which subscribes to its inputs and advertises its outputs in
that namespace.

Runs the real weights from DEPTH_ROS_WEIGHTS_DIR (a folder with depth_anything_v2_vits.pth)
when given, else a checkpoint in the official layout with random weights written for the
test (the topics, not the depth values, are checked). Needs ``launch``, ``launch_ros`` and
``launch_testing`` and depth_ros built in the workspace (``colcon build``; run with
``colcon test`` or ``launch_test``); skipped otherwise (pip-only environments have no
``launch``). No module-level skip for missing weights: launch_testing's collector imports
every file of this folder when collecting any of them, and a module-level skip here would
skip them all (the skips in launch_checks.require_launch_stack apply to all of them alike).
"""

from __future__ import annotations

import os
import sys
import unittest
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # launch_test runs us by path
from launch_checks import check_topics, require_launch_stack

require_launch_stack()
MODEL = "depth_anything_v2_vits"
WEIGHTS_DIR = os.environ.get("DEPTH_ROS_WEIGHTS_DIR", "")

import launch_testing.actions  # noqa: E402
import launch_testing.asserts  # noqa: E402
from launch.actions import IncludeLaunchDescription  # noqa: E402
from launch.launch_description import LaunchDescription  # noqa: E402
from launch.launch_description_sources import PythonLaunchDescriptionSource  # noqa: E402
from sensor_msgs.msg import Image  # noqa: E402

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "mono_depth.launch.py"
NS = "/launch_test_cam"
INPUTS = ("image", "camera_info")
OUTPUTS = ("depth/relative",)  # a relative model: no metric depth


def _weights_dir() -> str:
    if (Path(WEIGHTS_DIR) / f"{MODEL}.pth").is_file():
        return WEIGHTS_DIR
    import tempfile

    from depth_ros.core.models import get_model

    spec = get_model(MODEL)
    assert spec.random_checkpoint is not None
    folder = tempfile.mkdtemp(prefix="depth_ros_launch_test_")
    spec.random_checkpoint(Path(folder) / f"{MODEL}.pth")
    return folder


@pytest.mark.launch_test
def generate_test_description() -> LaunchDescription:
    include = IncludeLaunchDescription(
        PythonLaunchDescriptionSource(str(LAUNCH_FILE)),
        launch_arguments={"model": MODEL, "camera": NS, "weights_dir": _weights_dir()}.items(),
    )
    return LaunchDescription([include, launch_testing.actions.ReadyToTest()])


class TestTopicsAppear(unittest.TestCase):
    def test_node_advertises_outputs_and_subscribes_inputs(self) -> None:
        check_topics(NS, "mono_depth", INPUTS, OUTPUTS, "depth/relative", Image)


@launch_testing.post_shutdown_test()
class TestShutdown(unittest.TestCase):
    def test_exit_code(self, proc_info: launch_testing.ProcInfoHandler) -> None:
        launch_testing.asserts.assertExitCodes(proc_info, allowable_exit_codes=[0, -2, -15])
