"""Test harness: DDS stays on this machine, on a domain of its own for this run."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rclpy.node import Node

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
from depth_ros.core.msgtypes import CameraInfoMsg, DisparityImageMsg, ImageMsg, StampedMsg
from depth_ros.runtime import local_dds_env

local_dds_env()

REPO = Path(__file__).resolve().parents[1]
SHARED = (REPO / ".." / "shared").resolve()


def shared_path(*parts: str) -> Path:
    """A file under ../shared, or skip the test saying what is missing."""
    path = SHARED.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is absent (../shared holds real data and weights on dev machines)")
    return path


@pytest.fixture(scope="session")
def shared() -> Path:
    if not SHARED.exists():
        pytest.skip("../shared is absent")
    return SHARED


@pytest.fixture
def ros_node() -> Iterator[Node]:
    """An rclpy node in the test process (rclpy initialised for this test only)."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node(f"test_{random.randint(0, 1 << 30)}")
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()


# A message read from a bag is typed ``object`` (rosbags builds its classes from the bag's
# own definitions): these assert it has a message's fields and type it so.
def as_stamped(msg: object) -> StampedMsg:
    """``msg``, asserted to have a header."""
    assert isinstance(msg, StampedMsg), f"a {type(msg).__name__} has no header"
    return msg


def as_image(msg: object) -> ImageMsg:
    """``msg``, asserted to be a sensor_msgs/Image."""
    assert isinstance(msg, ImageMsg), f"a {type(msg).__name__}, not an Image"
    return msg


def as_camera_info(msg: object) -> CameraInfoMsg:
    """``msg``, asserted to be a sensor_msgs/CameraInfo."""
    assert isinstance(msg, CameraInfoMsg), f"a {type(msg).__name__}, not a CameraInfo"
    return msg


def as_disparity(msg: object) -> DisparityImageMsg:
    """``msg``, asserted to be a stereo_msgs/DisparityImage."""
    assert isinstance(msg, DisparityImageMsg), f"a {type(msg).__name__}, not a DisparityImage"
    return msg
