"""Output publishers that warn once when a message cannot pass the shared-memory segment
of the Fast DDS profile in use (best-effort subscribers would lose it silently)."""

from __future__ import annotations

import os
from typing import Any

from depth_ros.nodes.log_limit import RateLimitedLog
from depth_ros.runtime import shm_segment_bytes


def payload_bytes(msg: Any) -> int:
    """Bytes of a message's bulk data (Image, PointCloud2, DisparityImage, serialized)."""
    if isinstance(msg, (bytes, bytearray, memoryview)):
        return len(msg)
    data = getattr(msg, "data", None)
    if data is None and hasattr(msg, "image"):
        data = getattr(msg.image, "data", None)
    try:
        return len(data) if data is not None else 0
    except TypeError:
        return 0


def _size(nbytes: int) -> str:
    return f"{nbytes / 2**20:.1f} MiB" if nbytes >= 2**20 else f"{nbytes / 2**10:.1f} KiB"


class SizeCheckedPublisher:
    """A best-effort publisher that warns once per topic when a message exceeds the
    shared-memory segment of the Fast DDS profile in use: such messages are lost
    silently by best-effort subscribers. Everything else is the wrapped publisher's."""

    def __init__(self, publisher: Any, limit: int, log: RateLimitedLog, profile: str) -> None:
        self._publisher = publisher
        self._limit = limit
        self._log = log
        self._profile = profile
        self._warned = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self._publisher, name)

    def check_size(self, nbytes: int) -> None:
        """Warn once when a ``nbytes`` message would not fit the shared-memory segment."""
        if nbytes > self._limit and not self._warned:
            self._warned = True
            self._log.warn(
                f"shm:{self._publisher.topic_name}",
                f"a {_size(nbytes)} message on {self._publisher.topic_name} exceeds "
                f"the {_size(self._limit)} shared-memory segment of {self._profile}: "
                "best-effort subscribers lose it silently; set output_qos:=reliable, or "
                "raise segment_size and maxMessageSize in that profile",
            )

    def publish(self, msg: Any) -> None:
        """Publish ``msg`` after :meth:`check_size`."""
        self.check_size(payload_bytes(msg))
        self._publisher.publish(msg)


def size_checked(pubs: dict[str, Any], output_qos: str, log: RateLimitedLog) -> dict[str, Any]:
    """``pubs`` with best-effort (``sensor_data``) outputs wrapped in
    :class:`SizeCheckedPublisher` when the shared-memory segment size is known."""
    limit = shm_segment_bytes()
    if output_qos != "sensor_data" or limit is None:
        return pubs
    profile = os.environ.get("FASTDDS_DEFAULT_PROFILES_FILE", "the Fast DDS profile")
    return {name: SizeCheckedPublisher(pub, limit, log, profile) for name, pub in pubs.items()}


def unwrapped(pub: Any) -> Any:
    """The rclpy publisher behind ``pub`` (itself unless size-checked)."""
    return pub._publisher if isinstance(pub, SizeCheckedPublisher) else pub
