"""What every depth_ros node shares: parameter declaration from the core schema, QoS,
a newest-frame worker thread, rate-limited error reporting and diagnostics."""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Generic, TypeVar

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import (
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

from depth_ros.core.params import ParamSpec, Value

T = TypeVar("T")


def qos(name: str, depth: int) -> QoSProfile:
    """``sensor_data`` (best effort, keep last) or ``reliable`` (keep last)."""
    if name == "sensor_data":
        profile = QoSProfile(
            history=HistoryPolicy.KEEP_LAST,
            depth=depth,
            reliability=qos_profile_sensor_data.reliability,
            durability=qos_profile_sensor_data.durability,
        )
        return profile
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=depth, reliability=ReliabilityPolicy.RELIABLE
    )


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """An rclpy descriptor with description, range and read-only flag from a ParamSpec."""
    d = ParameterDescriptor(
        name=spec.name, description=spec.describe(), read_only=spec.read_only
    )
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, bool):
        return d
    if isinstance(spec.default, int) and (spec.min is not None or spec.max is not None):
        d.integer_range = [
            IntegerRange(
                from_value=int(spec.min if spec.min is not None else -(2**31)),
                to_value=int(spec.max if spec.max is not None else 2**31 - 1),
                step=int(spec.step or (2 if spec.odd else 1)) if spec.step or spec.odd else 1,
            )
        ]
        if spec.odd and not spec.step:
            # the range must then start on an odd value for ROS's step check
            d.integer_range[0].from_value |= 1
    elif isinstance(spec.default, float) and (spec.min is not None or spec.max is not None):
        d.floating_point_range = [
            FloatingPointRange(
                from_value=float(spec.min if spec.min is not None else -1e300),
                to_value=float(spec.max if spec.max is not None else 1e300),
                step=0.0,
            )
        ]
    return d


def declare(node: Node, specs: Mapping[str, ParamSpec]) -> dict[str, Value]:
    """Declare every parameter with its descriptor; return the values in force."""
    values: dict[str, Value] = {}
    for name, spec in specs.items():
        if node.has_parameter(name):
            values[name] = node.get_parameter(name).value
            continue
        param: Parameter[Any] = node.declare_parameter(name, spec.default, descriptor(spec))
        values[name] = param.value
    return values


def invalid_reasons(
    specs: Mapping[str, ParamSpec], params: list[Parameter[Any]]
) -> list[str]:
    """Reasons why a parameter update must be rejected (empty list: accept)."""
    reasons = []
    for p in params:
        spec = specs.get(p.name)
        if spec is None:
            continue
        reason = spec.validate(p.value)
        if reason:
            reasons.append(reason)
    return reasons


def result(reasons: list[str]) -> SetParametersResult:
    return SetParametersResult(successful=not reasons, reason="; ".join(reasons))


class LatestSlot(Generic[T]):
    """A one-element mailbox: ``put`` replaces what has not been taken yet (counted as
    dropped), so the worker always processes the newest frame and no queue grows."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0
        self._closed = False

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Worker:
    """Runs ``process(item)`` for the newest item of a :class:`LatestSlot` on its own
    thread, so that long inference never blocks the executor (parameter services and
    diagnostics stay responsive)."""

    def __init__(self, process: Callable[[Any], None], name: str = "depth_ros_worker") -> None:
        self.slot: LatestSlot[Any] = LatestSlot()
        self._process = process
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            item = self.slot.take(timeout=0.5)
            if item is not None and self._running:
                self._process(item)

    def submit(self, item: Any) -> None:
        self.slot.put(item)

    def stop(self) -> None:
        self._running = False
        self.slot.close()
        self._thread.join(timeout=5.0)


class RateLimitedLog:
    """Logs each distinct message at most once per ``period`` seconds (no per-frame spam),
    and counts the errors for diagnostics."""

    def __init__(self, node: Node, period: float = 5.0) -> None:
        self._node = node
        self._period = period
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self.count = 0
        self.last_error = ""

    def _due(self, key: str) -> bool:
        """Whether ``key`` was not logged in the last ``period`` seconds (and mark it)."""
        now = time.monotonic()
        if now - self._last.get(key, -1e9) < self._period:
            return False
        self._last[key] = now
        return True

    def error(self, key: str, message: str) -> None:
        with self._lock:
            self.count += 1
            self.last_error = message
            due = self._due(key)
        if due:
            self._node.get_logger().error(message)

    def warn(self, key: str, message: str) -> None:
        with self._lock:
            due = self._due(key)
        if due:
            self._node.get_logger().warning(message)


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


class Diagnostics:
    """Publishes one DiagnosticStatus per node on /diagnostics at a fixed period."""

    def __init__(
        self, node: Node, period: float, collect: Callable[[], tuple[int, str, dict[str, str]]]
    ) -> None:
        self._node = node
        self._collect = collect
        self._pub = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period, self.publish)

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


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
