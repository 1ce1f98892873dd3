"""package.xml is what colcon and rosdep read: it must be well-formed XML (an invalid one
makes colcon build the package as plain Python, without its ament hooks), format 3, and
name the dependencies the package imports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_package_xml_is_well_formed_format_3() -> None:
    root = ET.parse(REPO / "package.xml").getroot()  # raises on malformed XML ("--" etc.)
    assert root.tag == "package"
    assert root.get("format") == "3"
    assert root.findtext("name") == "depth_ros"
    assert root.find("export/build_type") is not None
    assert root.findtext("export/build_type") == "ament_python"
    exec_depends = {e.text for e in root.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "stereo_msgs", "launch_ros", "rviz2"} <= exec_depends
    assert "python3-pytest" in {e.text for e in root.findall("test_depend")}


def test_catkin_pkg_parses_it_where_installed() -> None:
    package = pytest.importorskip("catkin_pkg.package", reason="catkin_pkg is not installed")
    parsed = package.parse_package(str(REPO / "package.xml"))
    assert parsed.name == "depth_ros"
    assert parsed.get_build_type() == "ament_python"
