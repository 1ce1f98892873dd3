"""A subscriber that records what a node publishes, with receive times (for the demo,
benchmarks, ``bag run`` and tests)."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import rclpy
from rclpy.node import Node

from depth_ros.core.messages import stamp_to_ns
from depth_ros.nodes.qos import qos_profile


@dataclass
class Received:
    """A received message, its header stamp and when it arrived."""

    msg: Any
    stamp_ns: int  # header stamp
    wall_ns: int  # time.time_ns() at reception


class Collector:
    """Subscribe to topics and keep what arrives (thread-safe), for tools and tests."""

    def __init__(
        self,
        node: Node,
        topics: Mapping[str, type],
        qos_name: str = "reliable",
        depth: int = 10,
        keep: bool = True,
    ) -> None:
        self.node = node
        self.received: dict[str, list[Received]] = defaultdict(list)
        self.counts: dict[str, int] = defaultdict(int)
        self._lock = threading.Lock()
        self._keep = keep
        q = qos_profile(qos_name, depth)
        self.subs = [
            node.create_subscription(t, name, self._callback(name), q) for name, t in topics.items()
        ]
        self.topics = dict(topics)

    def _callback(self, name: str) -> Callable[[Any], None]:
        def on_msg(msg: Any) -> None:
            now = time.time_ns()
            header = getattr(msg, "header", None)
            stamp = stamp_to_ns(msg) if header is not None else 0
            with self._lock:
                self.counts[name] += 1
                if self._keep:
                    self.received[name].append(Received(msg, stamp, now))

        return on_msg

    def stamps(self, topic: str) -> list[int]:
        """The header stamps (ns) of what ``topic`` received, in arrival order."""
        with self._lock:
            return [r.stamp_ns for r in self.received[topic]]

    def message(self, topic: str, stamp_ns: int) -> Any:
        """The first message received on ``topic`` with header stamp ``stamp_ns``;
        KeyError when none came."""
        with self._lock:
            for r in self.received[topic]:
                if r.stamp_ns == stamp_ns:
                    return r.msg
        raise KeyError(f"no message stamped {stamp_ns} on {topic}")

    def publishers_matched(self) -> bool:
        """Whether every topic has a publisher."""
        return all(
            self.node.count_publishers(self.node.resolve_topic_name(t)) > 0 for t in self.topics
        )

    def wait(
        self, predicate: Callable[[Collector], bool], timeout: float, spin: bool = True
    ) -> bool:
        """Spin the node until ``predicate(self)`` holds or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            if spin:
                rclpy.spin_once(self.node, timeout_sec=0.05)
            else:
                time.sleep(0.05)
        return predicate(self)

    def count(self, topic: str) -> int:
        """Messages received on ``topic`` so far."""
        with self._lock:
            return self.counts[topic]
