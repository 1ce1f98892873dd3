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
from collections.abc import Mapping, MutableMapping
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


def shm_segment_bytes(env: Mapping[str, str] | None = None) -> int | None:
    """The shared-memory segment size of the Fast DDS profile in use
    (``FASTDDS_DEFAULT_PROFILES_FILE``), or None when unknown (another middleware, no
    profile, no SHM transport in it). Best-effort messages larger than it are lost."""
    import xml.etree.ElementTree as ET

    source = os.environ if env is None else env
    rmw = source.get("RMW_IMPLEMENTATION", "rmw_fastrtps_cpp")
    path = source.get("FASTDDS_DEFAULT_PROFILES_FILE", "")
    if not rmw.startswith("rmw_fastrtps") or not path:
        return None
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError):
        return None
    sizes = []
    for descriptor in root.iter():
        if not descriptor.tag.endswith("transport_descriptor"):
            continue
        fields = {child.tag.rsplit("}", 1)[-1]: (child.text or "").strip() for child in descriptor}
        if fields.get("type", "").upper() == "SHM" and fields.get("segment_size", "").isdigit():
            sizes.append(int(fields["segment_size"]))
    return min(sizes) if sizes else None


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
