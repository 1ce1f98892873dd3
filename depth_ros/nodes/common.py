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
from rclpy.clock import Clock
from rclpy.clock_type import ClockType
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
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
    d = ParameterDescriptor(name=spec.name, description=spec.describe(), read_only=spec.read_only)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    elif spec.pattern_help:
        d.additional_constraints = spec.pattern_help
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


def declare(
    node: Node, specs: Mapping[str, ParamSpec], invalid: dict[str, str] | None = None
) -> dict[str, Value]:
    """Declare every parameter with its descriptor; return the values in force.

    A start-up value (``-p name:=value``, a parameters file) that is invalid does not raise:
    the parameter is declared with its default instead and the reason is put in ``invalid``
    (name → reason), so that the node can refuse to start with one clear line."""
    values: dict[str, Value] = {}
    for name, spec in specs.items():
        if node.has_parameter(name):
            values[name] = node.get_parameter(name).value
            continue
        try:
            param: Parameter[Any] = node.declare_parameter(name, spec.default, descriptor(spec))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            param = node.declare_parameter(
                name, spec.default, descriptor(spec), ignore_override=True
            )
            if invalid is not None:  # (after: declaring the default passes on_set)
                overrides = getattr(node, "_parameter_overrides", {})
                given = overrides[name].value if name in overrides else None
                own = spec.validate(given) if given is not None else None
                invalid[name] = own or startup_reason(spec, exc)
        values[name] = param.value
    return values


def startup_reason(spec: ParamSpec, exc: Exception) -> str:
    """rclpy's exception about a start-up value as one short sentence."""
    if isinstance(exc, InvalidParameterTypeException):
        hint = " (write it with a decimal point, e.g. 5.0)" if spec.type is float else ""
        return f"{spec.name} must be {spec.type.__name__}{hint}"
    text = str(exc.args[0]) if exc.args else str(exc)
    reason = text.split("Reason: ", 1)[-1].strip().removesuffix(f": {spec.name}")
    return reason if reason.startswith(spec.name) else f"{spec.name}: {reason}"


def invalid_reasons(specs: Mapping[str, ParamSpec], params: list[Parameter[Any]]) -> list[str]:
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
    and at most ``burst`` distinct messages per period in all: messages that differ every
    frame (a size, a stamp in the text) are then counted, not logged, and the next line
    logged says how many were suppressed. Keys older than the period are forgotten, so the
    table never holds more than ``burst`` entries. Errors are counted for diagnostics."""

    def __init__(self, node: Node, period: float = 5.0, burst: int = 10) -> None:
        self._node = node
        self._period = period
        self._burst = burst
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()
        self._suppressed = 0
        self.count = 0
        self.last_error = ""

    def _due(self, key: str) -> str | None:
        """None if ``key`` must not be logged now; else a suffix (suppressed count)."""
        now = time.monotonic()
        for old in [k for k, t in self._last.items() if now - t >= self._period]:
            del self._last[old]
        if key in self._last:
            return None
        if len(self._last) >= self._burst:
            self._suppressed += 1
            return None
        self._last[key] = now
        suffix = f" ({self._suppressed} other messages suppressed)" if self._suppressed else ""
        self._suppressed = 0
        return suffix

    def keys(self) -> int:
        """Distinct messages remembered now (at most ``burst``)."""
        with self._lock:
            return len(self._last)

    def error(self, key: str, message: str) -> None:
        with self._lock:
            self.count += 1
            self.last_error = message
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().error(message + suffix)

    def warn(self, key: str, message: str) -> None:
        with self._lock:
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().warning(message + suffix)

    def info(self, key: str, message: str) -> None:
        with self._lock:
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().info(message + suffix)


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
        self.check_size(payload_bytes(msg))
        self._publisher.publish(msg)


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


def stamp_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)
