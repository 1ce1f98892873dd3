"""The input stage of an active depth component: subscriptions to its synchronised inputs
(lazy, as image_pipeline: only while an output has a subscriber), the time synchroniser,
the newest-frame worker, and time jumping back (input stamps or ROS time).

Its housekeeping runs on the steady clock, so that it works with ``use_sim_time`` before
/clock arrives: the lazy check (a fallback to the outputs' matched events) and one warning
when use_sim_time is on and no /clock has come.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from rclpy.clock import Clock, JumpThreshold
from rclpy.clock_type import ClockType
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.qos_overriding_options import QoSOverridingOptions

from depth_ros.core.messages import stamp_to_ns
from depth_ros.core.params import Value
from depth_ros.core.sync import TimeSynchronizer
from depth_ros.nodes.diagnostics import RateMeter
from depth_ros.nodes.log_limit import RateLimitedLog
from depth_ros.nodes.qos import qos_profile
from depth_ros.nodes.worker import ComputeThread, Worker

CLOCK_WAIT_S = 3.0  # with use_sim_time: warn when no /clock has come after this long
HOUSEKEEPING_S = 0.5  # period of the lazy check and the /clock watchdog
STALE_S = 5.0  # an input silent this long is reported


class InputStage:
    """Between :meth:`start` (activate) and :meth:`stop` (deactivate): subscriptions made
    and destroyed as outputs gain and lose subscribers (``lazy``), synchronised sets
    handed to the newest-frame worker as ``(received, messages)``, and ``on_jump``
    called when time jumps back (the synchroniser starts over)."""

    def __init__(self, node: Node, log: RateLimitedLog, name: str, compute: ComputeThread) -> None:
        self.node = node
        self.compute = compute  # the worker's thread (the model's, for the node's lifetime)
        self.log = log
        self.name = name
        self.topics: tuple[tuple[str, type], ...] = ()
        self.subs: list[Any] = []
        self.sync: TimeSynchronizer[Any] | None = None
        self.worker: Worker | None = None
        self.last_input: list[float] = []  # steady time of the last message per topic
        self.rate = RateMeter()  # synchronised sets per second
        self._qos: Any = None
        self._lazy = False
        self._wanted: Callable[[], bool] = lambda: True
        self._extra: Callable[[Any], list[Any]] = lambda qos: []
        self._on_jump: Callable[[], None] = lambda: None
        self._jump_handle: Any = None
        self._timer: Any = None
        self._started_at = 0.0
        self._clock_warned = False

    def start(
        self,
        topics: Sequence[tuple[str, type]],
        params: Mapping[str, Value],
        process: Callable[[tuple[float, list[Any]]], None],
        *,
        wanted: Callable[[], bool],
        extra_subscriptions: Callable[[Any], list[Any]],
        on_jump: Callable[[], None],
    ) -> None:
        """Synchroniser and worker for ``topics`` (with ``params``' QoS, queue and sync
        settings), the clock-jump callback and the housekeeping timer; subscribe unless
        ``lazy`` and no output is ``wanted``."""
        queue = int(params["queue_size"])
        self._qos = qos_profile(str(params["input_qos"]), queue)
        self._lazy = bool(params.get("lazy", False))
        self._wanted, self._extra, self._on_jump = wanted, extra_subscriptions, on_jump
        self.topics = tuple(topics)
        self.last_input = [0.0] * len(self.topics)
        self.sync = TimeSynchronizer(
            len(self.topics),
            queue_size=queue,
            approximate=bool(params.get("approximate_sync", False)),
            tolerance_ns=int(float(params.get("approximate_sync_tolerance_seconds", 0.0)) * 1e9),
        )
        self.worker = Worker(process, self.compute)
        if self._jump_handle is None:  # ROS time reset (use_sim_time, simulator restart)
            self._jump_handle = self.node.get_clock().create_jump_callback(
                JumpThreshold(
                    min_forward=None, min_backward=Duration(nanoseconds=-1), on_clock_change=False
                ),
                post_callback=self._on_clock_jump,
            )
        self._started_at = time.monotonic()
        self._timer = self.node.create_timer(
            HOUSEKEEPING_S, self._housekeeping, clock=Clock(clock_type=ClockType.STEADY_TIME)
        )
        self.update_subscriptions()

    def set_tolerance(self, seconds: float) -> None:
        """``approximate_sync_tolerance_seconds``, at once."""
        if self.sync is not None:
            self.sync.tolerance_ns = int(seconds * 1e9)

    def update_subscriptions(self) -> None:
        """Subscribe while someone listens to an output (always unless ``lazy``);
        unsubscribe when nobody does."""
        if self.worker is None:  # not started
            return
        listening = not self._lazy or self._wanted()
        if listening and not self.subs:
            self.subs = [
                self.node.create_subscription(
                    t,
                    topic,
                    self.callback(i),
                    copy.copy(self._qos),
                    qos_overriding_options=QoSOverridingOptions.with_default_policies(),
                )
                for i, (topic, t) in enumerate(self.topics)
            ] + self._extra(self._qos)
        elif not listening and self.subs:
            self._unsubscribe()

    def stop(self) -> None:
        """Timer, subscriptions, worker (joined) and clock-jump callback gone."""
        if self._timer is not None:
            self.node.destroy_timer(self._timer)
            self._timer = None
        self._unsubscribe()
        if self.worker is not None:
            self.worker.stop()
            self.worker = None
        if self._jump_handle is not None:
            self._jump_handle.unregister()
            self._jump_handle = None

    @property
    def dropped(self) -> int:
        """Synchronised sets the worker dropped for a newer one."""
        return self.worker.slot.dropped if self.worker is not None else 0

    def stale(self, now: float) -> list[str]:
        """The topics that have had no message for :data:`STALE_S` seconds."""
        return [self.topics[i][0] for i, t in enumerate(self.last_input) if now - t > STALE_S]

    def callback(self, index: int) -> Callable[[Any], None]:
        """The subscription callback of input ``index``."""

        def on_message(msg: Any) -> None:
            self.last_input[index] = time.monotonic()
            sync, worker = self.sync, self.worker
            if sync is None or worker is None:
                return
            jumps = sync.jumps
            matched = sync.add(index, stamp_to_ns(msg), msg)
            if sync.jumps != jumps:
                self._time_jumped(
                    f"input stamps jumped back by {sync.last_jump_ns / 1e9:.3f} s on "
                    f"{self.topics[index][0]} (bag loop or simulator reset?)"
                )
            if matched is not None:
                self.rate.tick()
                worker.submit((time.monotonic(), matched))

        return on_message

    def _unsubscribe(self) -> None:
        for sub in self.subs:
            self.node.destroy_subscription(sub)
        self.subs = []

    def _on_clock_jump(self, jump: Any) -> None:
        if jump.delta.nanoseconds < 0 and self.sync is not None:
            self.sync.reset()
            self._time_jumped(f"ROS time jumped back by {-jump.delta.nanoseconds / 1e9:.3f} s")

    def _time_jumped(self, what: str) -> None:
        """Logged once per jump (rate-limited): the synchroniser starts over."""
        self.log.warn("time jump", f"{what}: synchroniser cleared, carrying on")
        self._on_jump()

    def _housekeeping(self) -> None:
        if self._lazy:
            self.update_subscriptions()
        if (
            not self._clock_warned
            and self.node.get_parameter("use_sim_time").value
            and time.monotonic() - self._started_at > CLOCK_WAIT_S
            and self.node.get_clock().now().nanoseconds == 0
        ):
            self._clock_warned = True
            self.log.warn(
                "clock",
                (
                    f"use_sim_time is true but no /clock has arrived in {CLOCK_WAIT_S:g} s: "
                    "ROS time stands at 0. Play bags with `ros2 bag play --clock`, run the "
                    "simulator's clock bridge, or set use_sim_time:=false"
                ),
            )
