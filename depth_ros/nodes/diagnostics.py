"""What a node says about itself on /diagnostics: its status (OK, WARN, ERROR with the
reason) and figures (rates, timings per stage, drops, errors, resident memory), one
DiagnosticStatus per node at a fixed period on the steady clock."""

from __future__ import annotations

import os
import statistics
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.node import Node

from depth_ros.core.params import Value
from depth_ros.nodes.log_limit import RateLimitedLog

if TYPE_CHECKING:
    from depth_ros.nodes.inputs import InputStage

OK, WARN, ERROR = 0, 1, 2


class RateMeter:
    """Events per second over a sliding window."""

    def __init__(self, window: float = 5.0) -> None:
        self._times: deque[float] = deque()
        self._window = window
        self._lock = threading.Lock()
        self.total = 0

    def tick(self) -> None:
        """Count one event now."""
        now = time.monotonic()
        with self._lock:
            self.total += 1
            self._times.append(now)
            while self._times and now - self._times[0] > self._window:
                self._times.popleft()

    def rate(self) -> float:
        """Events per second over the last window."""
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
        """Publish one DiagnosticArray with the node's current status."""
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
        """Stop the timer and destroy the publisher."""
        self._node.destroy_timer(self._timer)
        self._node.destroy_publisher(self._pub)


def median(values: deque[float]) -> float:
    """Median of ``values``, 0 when empty."""
    return float(statistics.median(values)) if values else 0.0


class FrameStats:
    """The frames a component processed: output rate, and processing time, latency
    (reception to published) and each stage's time over the last ``window`` frames."""

    def __init__(self, window: int = 50) -> None:
        self.rate = RateMeter()
        self.window = window
        self.processing_ms: deque[float] = deque(maxlen=window)
        self.latency_ms: deque[float] = deque(maxlen=window)
        self.stage_ms: dict[str, deque[float]] = {}

    def record(self, received: float, started: float, stages: Mapping[str, float] | None) -> None:
        """One frame done: ``received`` (monotonic) and ``started`` (perf_counter) times,
        and the milliseconds per stage that ``handle`` reported."""
        self.rate.tick()
        self.processing_ms.append((time.perf_counter() - started) * 1e3)
        for stage, ms in (stages or {}).items():
            self.stage_ms.setdefault(stage, deque(maxlen=self.window)).append(ms)
        self.latency_ms.append((time.monotonic() - received) * 1e3)


def node_values(
    params: Mapping[str, Value],
    inputs: InputStage,
    stats: FrameStats,
    log: RateLimitedLog,
    state: str,
) -> dict[str, str]:
    """The figures every node reports (a node adds its own after them)."""
    return {
        "model": str(params.get("model", "")),
        "backend": str(params.get("backend", "")),
        "device": str(params.get("device", "")),
        "input_rate_hz": f"{inputs.rate.rate():.2f}",
        "output_rate_hz": f"{stats.rate.rate():.2f}",
        "processing_ms": f"{median(stats.processing_ms):.1f}",  # over the last 50 frames
        "latency_ms": f"{median(stats.latency_ms):.1f}",
        "frames_in": str(inputs.rate.total),  # synchronised sets handed to the worker
        "frames_out": str(stats.rate.total),  # frames processed and published
        "dropped_frames": str(inputs.dropped),
        "errors": str(log.count),
        "state": state,
        "rss_mb": f"{rss_bytes() / 2**20:.0f}",
        **{f"{k}_ms": f"{median(v):.1f}" for k, v in stats.stage_ms.items()},
    }


def node_status(
    state: str, inputs: InputStage, stats: FrameStats, log: RateLimitedLog
) -> tuple[int, str]:
    """Level and message: ERROR when not configured or only failing, WARN on missing or
    unsynchronised inputs and when falling behind, OK (idle while lazy) otherwise."""
    if state == "error":
        return ERROR, log.last_error or "not configured"
    if state == "active" and not inputs.subs:
        return OK, "idle: no subscriber to any output (lazy), inputs not subscribed"
    stale = inputs.stale(time.monotonic())
    if stale and len(stale) == len(inputs.topics):
        return WARN, "no input received for 5 s"
    if stale:
        return WARN, "no messages on " + ", ".join(stale)
    if inputs.rate.rate() == 0.0:
        return WARN, "inputs arrive but never synchronise (stamps differ?)"
    if log.last_error and stats.rate.rate() == 0.0:
        return ERROR, log.last_error
    if stats.processing_ms and inputs.rate.rate() * median(stats.processing_ms) > 1000.0:
        return WARN, "falling behind: input faster than processing (dropping frames)"
    return OK, "ok"
