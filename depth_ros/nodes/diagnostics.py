"""What a node says about itself on /diagnostics: rates, timings, resident memory, and
one DiagnosticStatus per node at a fixed period on the steady clock."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 5.0) -> None:
        self._times: deque[float] = deque()
        self._window = window
        self._lock = threading.Lock()
        self.total = 0

    def tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self.total += 1
            self._times.append(now)
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()

    def rate(self) -> float:
        now = time.monotonic()
        with self._lock:
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()
            n = len(self._times)
        return n / self._window


def rss_bytes() -> int:
    """Resident memory of this process (Linux), 0 if unknown."""
    try:
        with open(f"/proc/{os.getpid()}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0


class DiagnosticsPublisher:
    """Publishes one DiagnosticStatus per node on /diagnostics at a fixed period."""

    def __init__(
        self, node: Node, period: float, collect: Callable[[], tuple[int, str, dict[str, str]]]
    ) -> None:
        self._node = node
        self._collect = collect
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        # steady clock: diagnostics go on with use_sim_time while no /clock arrives
        self._timer = node.create_timer(
            period, self.publish, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )

    def publish(self) -> None:
        level, message, values = self._collect()
        status = DiagnosticStatus(
            level=bytes([level]),
            name=f"{self._node.get_fully_qualified_name()}: depth",
            message=message,
            hardware_id=self._node.get_name(),
            values=[KeyValue(key=k, value=v) for k, v in values.items()],
        )
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        msg.status = [status]
        self._pub.publish(msg)

    def destroy(self) -> None:
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)
