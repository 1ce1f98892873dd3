"""Process environment for running depth_ros nodes on one machine (no rclpy import).

:func:`local_dds_env` keeps DDS traffic on this host (``ROS_AUTOMATIC_DISCOVERY_RANGE=
LOCALHOST``), isolates a run with its own ``ROS_DOMAIN_ID`` when none is set, and points
Fast DDS at the shipped profile with a 32 MiB shared-memory segment, without which
best-effort messages over ~1 MB (images, clouds) are lost.
"""

from __future__ import annotations

import os
import random
import sys
from collections.abc import MutableMapping
from pathlib import Path

FASTDDS_PROFILE = Path(__file__).resolve().parent / "data" / "fastdds_shm.xml"


def local_dds_env(
    env: MutableMapping[str, str] | None = None, domain_id: int | None = None
) -> MutableMapping[str, str]:
    """Set (in ``env``, default ``os.environ``) what is not set already; return it."""
    target = os.environ if env is None else env
    target.setdefault("ROS_AUTOMATIC_DISCOVERY_RANGE", "LOCALHOST")
    if domain_id is not None:
        target["ROS_DOMAIN_ID"] = str(domain_id)
    elif not target.get("ROS_DOMAIN_ID"):
        target["ROS_DOMAIN_ID"] = str(random.randint(1, 101))
    if not target.get("FASTDDS_DEFAULT_PROFILES_FILE"):
        target["FASTDDS_DEFAULT_PROFILES_FILE"] = str(FASTDDS_PROFILE)
    target.setdefault("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    target.setdefault("PYTHONUNBUFFERED", "1")
    return target


def keep_heap() -> None:
    """Stop glibc from handing large freed blocks back to the kernel. Every frame allocates
    several MB (messages, clouds); with the default thresholds those blocks are mmap'ed
    and unmapped each time and page-faulted in again, which costs as much as building the
    point cloud itself. Memory stays bounded: the same blocks are reused frame after frame."""
    import ctypes
    import ctypes.util

    name = ctypes.util.find_library("c")
    if not name or not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(name)
        m_trim_threshold, m_mmap_threshold = -1, -3
        libc.mallopt(m_mmap_threshold, 256 * 2**20)
        libc.mallopt(m_trim_threshold, 1024 * 2**20)
    except (OSError, AttributeError):  # not glibc
        pass
