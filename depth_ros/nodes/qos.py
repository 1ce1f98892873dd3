"""The two QoS presets of the ``input_qos`` / ``output_qos`` parameters."""

from __future__ import annotations

from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy, qos_profile_sensor_data


def qos_profile(name: str, depth: int) -> QoSProfile:
    """``sensor_data`` (best effort, keep last) or ``reliable`` (keep last)."""
    if name == "sensor_data":
        return QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE
    )
