"""Rate-limited logging: each distinct message at most once per period, and a bounded
number of distinct messages per period, so that a bad input stream cannot flood the log."""

from __future__ import annotations

import threading
import time

from rclpy.node import Node


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
        """Log an error (counted in ``count`` and ``last_error``) unless ``key`` was logged within
        the period."""
        with self._lock:
            self.count += 1
            self.last_error = message
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().error(message + suffix)

    def warn(self, key: str, message: str) -> None:
        """Log a warning unless ``key`` was logged within the period."""
        with self._lock:
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().warning(message + suffix)

    def info(self, key: str, message: str) -> None:
        """Log an info message unless ``key`` was logged within the period."""
        with self._lock:
            suffix = self._due(key)
        if suffix is not None:
            self._node.get_logger().info(message + suffix)
