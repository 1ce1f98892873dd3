"""Test harness: DDS stays on this machine, on a domain of its own for this run."""

from __future__ import annotations

import os
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
os.environ.setdefault("ROS_DOMAIN_ID", str(random.randint(1, 100)))
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
def ros_node() -> Iterator[object]:
    """An rclpy node in the test process (rclpy initialised for this test only)."""
    import rclpy

    rclpy.init()
    node = rclpy.create_node(f"test_{random.randint(0, 1 << 30)}")
    try:
        yield node
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
