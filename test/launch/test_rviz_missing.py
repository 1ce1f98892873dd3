"""The real ``launch`` runs ``stereo_depth.launch.py rviz:=true`` on a machine without
rviz2: it exits non-zero with a clear message and starts nothing (no orphaned node).

Skipped where ``launch``/``launch_ros`` are not installed, or where rviz2 is installed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("launch.actions", reason="ROS 2 launch is not installed")
pytest.importorskip("launch_ros", reason="launch_ros is not installed")

from depth_ros.launch_description import package_available

LAUNCH_FILE = Path(__file__).resolve().parents[2] / "launch" / "stereo_depth.launch.py"
RUN = """
import sys
from launch import LaunchDescription, LaunchService
from launch.actions import IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
ls = LaunchService()
ls.include_launch_description(LaunchDescription([IncludeLaunchDescription(
    PythonLaunchDescriptionSource(sys.argv[1]),
    launch_arguments={"model": "sgbm", "rviz": "true", "node_name": sys.argv[2]}.items())]))
sys.exit(ls.run())
"""


def test_rviz_missing_exits_before_starting_the_node() -> None:
    if package_available("rviz2"):
        pytest.skip("rviz2 is installed here")
    name = f"rviz_probe_{os.getpid()}"
    env = {**os.environ, "ROS_AUTOMATIC_DISCOVERY_RANGE": "LOCALHOST"}
    r = subprocess.run(
        [sys.executable, "-c", RUN, str(LAUNCH_FILE), name],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    assert "package 'rviz2' is not installed" in out
    assert "nothing was started" in out
    assert "stereo_depth-1" not in out  # launch never started a process
    ps = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout
    assert name not in ps
