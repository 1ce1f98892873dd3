"""Play a rosbag2 through a depth node over DDS and record what it publishes (``depth-ros
bag run``).

The node runs in its own process with ``use_sim_time`` and reliable input QoS; this
process publishes the bag's input topics (the serialized messages unchanged) and
``/clock`` from their header stamps, subscribes to every image, disparity, camera_info and
point cloud topic the node publishes, and writes them to a new bag with their header stamps
as timestamps.

Delivery is lock-step: once every input topic of a frame (one header stamp) is published,
the player waits for the node's outputs with that stamp before it goes on, so that no frame
is dropped by the node's newest-frame worker however slow the model; ``rate`` only slows
playback down to ``rate`` times the bag's speed (0: as fast as the node goes).
"""

from __future__ import annotations

import importlib
import re
import shutil
import time
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import rclpy
from rclpy.node import Node

from depth_ros import processes
from depth_ros.core import bags, messages
from depth_ros.core.catalogue import node_info
from depth_ros.core.errors import InputError
from depth_ros.core.msgtypes import StampedMsg
from depth_ros.nodes.qos import qos_profile

RECORD_TYPES = (
    bags.DISPARITY_IMAGE,
    bags.IMAGE,
    bags.CAMERA_INFO,
    bags.POINT_CLOUD2,
)
GRACE_S = 1.0  # after the main output of a frame, how long to wait for its other outputs


@dataclass
class RunReport:
    """What a bag run did: frames in and out, messages written, input stamps without output."""

    frames_in: int = 0  # frames whose every input topic was published
    frames_out: int = 0  # of those, frames for which the node's outputs came back
    incomplete_inputs: int = 0  # stamps seen on some input topics only (not a frame)
    messages_in: int = 0
    written: dict[str, int] = field(default_factory=dict)  # output topic → messages
    missing: list[int] = field(default_factory=list)  # input stamps without output
    unmatched: int = 0  # output messages whose stamp is no input stamp
    namespace: str = ""
    wall_s: float = 0.0
    log: Path | None = None


# message packages whose types a bag may name: nothing else is ever imported because a
# (possibly foreign) bag says so
MESSAGE_PACKAGES = frozenset(
    (
        "builtin_interfaces",
        "diagnostic_msgs",
        "geometry_msgs",
        "rosgraph_msgs",
        "sensor_msgs",
        "std_msgs",
        "stereo_msgs",
    )
)
_MSGTYPE = re.compile(r"^([a-z][a-z0-9_]*)/msg/([A-Z][A-Za-z0-9]*)$")


def message_class(msgtype: str, topic: str = "") -> Any:
    """The rclpy class of ``pkg/msg/Name``, imported only from :data:`MESSAGE_PACKAGES`;
    InputError in one line for any other, or one that is not installed."""
    where = f" of topic {topic}" if topic else ""
    match = _MSGTYPE.match(msgtype)
    if match is None or match.group(1) not in MESSAGE_PACKAGES:
        raise InputError(
            f"message type {msgtype!r}{where} is not one depth_ros reads; expected a type of "
            f"{', '.join(sorted(MESSAGE_PACKAGES))}"
        )
    pkg, name = match.groups()
    try:
        return getattr(importlib.import_module(f"{pkg}.msg"), name)
    except (ImportError, AttributeError):
        raise InputError(
            f"message type {msgtype}{where} is not installed (no {name} in {pkg}.msg): "
            f"install ROS 2's {pkg}"
        ) from None


def check_inputs(info: bags.BagInfo, node: str, namespace: str | None) -> dict[str, Any]:
    """Input topic → message class, for playing bag ``info`` through ``node``; InputError
    (before any process is started) if the bag lacks one or its type is not readable."""
    inputs = node_info(node).inputs
    ns = find_namespace(list(info.topics), inputs) if namespace is None else namespace
    ns = "/" + ns.strip("/") if ns.strip("/") else ""
    topics = [f"{ns}/{t}" for t in inputs]
    missing = [t for t in topics if t not in info.topics]
    if missing:
        raise InputError(
            f"bag {info.path} has no {', '.join(missing)}; it has {', '.join(sorted(info.topics))}"
        )
    return {t: message_class(info.topics[t].msgtype, t) for t in topics}


def find_namespace(topics: Sequence[str], inputs: Sequence[str]) -> str:
    """The namespace under which a bag holds all of ``inputs`` ('' for none)."""
    first = "/" + inputs[0]
    candidates = sorted(t[: -len(first)] for t in topics if t.endswith(first))
    for ns in candidates:
        if all(f"{ns}/{t}" in topics for t in inputs):
            return ns
    raise InputError(
        f"the bag has no {', '.join(inputs)} topics under one namespace; it has: "
        f"{', '.join(sorted(topics)) or '(none)'} (write one with `depth-ros bag make`, or "
        "give --namespace)"
    )


def _node_args(
    params: Mapping[str, object], params_files: Sequence[Path], namespace: str
) -> list[str]:
    args = processes.ros_args(params, namespace=namespace or None)
    files: list[str] = []
    for f in params_files:
        files += ["--params-file", str(f)]
    return [args[0], *files, *args[1:]]


class BagRun:
    """One ``bag run``: the node process, the publishers and the recording."""

    def __init__(
        self,
        node: str,
        bag: Path,
        output: Path,
        *,
        params: Mapping[str, object] | None = None,
        params_files: Sequence[Path] = (),
        namespace: str | None = None,
        storage: str = "mcap",
        overwrite: bool = False,
        rate: float = 1.0,
        startup_timeout: float = 60.0,
        frame_timeout: float = 60.0,
        log: Path | None = None,
    ) -> None:
        self.info = node_info(node)
        self.bag = bag
        self.output = output
        self.params = dict(params or {})
        self.params_files = list(params_files)
        self.namespace = namespace
        self.storage = storage
        self.overwrite = overwrite
        self.rate = rate
        self.startup_timeout = startup_timeout
        self.frame_timeout = frame_timeout
        self.log = log
        self._stamps_out: dict[str, set[int]] = defaultdict(set)
        self._writer: bags.BagWriter | None = None
        self._report = RunReport()
        self._classes: dict[str, Any] = {}
        self._inputs_published: set[int] = set()

    # -- recording --------------------------------------------------------------------
    def _on_output(self, topic: str, msgtype: str) -> Any:
        store = bags.typestore()

        def callback(raw: bytes) -> None:
            msg = store.deserialize_cdr(bytes(raw), msgtype)
            if not isinstance(msg, StampedMsg):
                raise InputError(f"output {topic} ({msgtype}) has no header to match frames by")
            stamp = messages.stamp_to_ns(msg)
            self._stamps_out[topic].add(stamp)
            if self._writer is not None:
                self._writer.write(topic, msg, stamp)

        return callback

    def _frame_done(self, stamp: int, main: str, topics: Sequence[str]) -> bool:
        return stamp in self._stamps_out[main] and all(
            stamp in self._stamps_out[t] for t in topics if self._stamps_out[t]
        )

    # -- run ----------------------------------------------------------------------------
    def run(self) -> RunReport:
        """Start the node, play the bag through it frame by frame and record its outputs; the
        report."""
        t_start = time.monotonic()
        info = bags.bag_info(self.bag)
        ns = self.namespace
        if ns is None:
            ns = find_namespace(list(info.topics), self.info.inputs)
        ns = "/" + ns.strip("/") if ns.strip("/") else ""
        inputs = {f"{ns}/{t}": t for t in self.info.inputs}
        self._classes = check_inputs(info, self.info.name, ns)  # before the node starts
        report = self._report
        report.namespace = ns
        report.log = self.log
        # not lazy: the player finds the outputs by graph query once the inputs are matched
        params = {
            "use_sim_time": True,
            "input_qos": "reliable",
            "output_qos": "reliable",
            "lazy": False,
            **self.params,
        }
        self._writer = bags.BagWriter(self.output, self.storage, overwrite=self.overwrite)
        self._writer.open()
        rclpy.init(args=[])  # not sys.argv: its NAME:=VALUE would be remap rules here
        node = rclpy.create_node("depth_ros_bag_run")
        proc = processes.start(
            self.info.name, _node_args(params, self.params_files, ns), log=self.log
        )
        played = False
        try:
            self._play(node, proc, info, inputs, ns)
            played = True
        finally:
            processes.stop(proc)
            node.destroy_node()
            rclpy.try_shutdown()
            self._writer.close()
            report.written = dict(self._writer.counts)
            self._writer = None
            if not played and report.frames_in == 0:  # failed before any frame: no empty bag
                shutil.rmtree(self.output, ignore_errors=True)
        report.wall_s = time.monotonic() - t_start
        return report

    def _wait(self, node: Node, predicate: Any, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return True
            rclpy.spin_once(node, timeout_sec=0.02)
        return bool(predicate())

    def _watch_startup(self, node: Node, ns: str, failed: list[str]) -> Any:
        """Subscribe to /diagnostics; a status of the node saying it is in state ``error``
        (it stays up, idle, after a failed configure: no weights, a bad parameter) puts
        its message in ``failed``."""
        from diagnostic_msgs.msg import DiagnosticArray

        name = f"{ns}/{self.info.name}: depth"

        def on_status(msg: Any) -> None:
            for status in msg.status:
                state = {kv.key: kv.value for kv in status.values}.get("state")
                if status.name == name and state == "error" and not failed:
                    failed.append(status.message or "no reason given")

        return node.create_subscription(DiagnosticArray, "/diagnostics", on_status, 10)

    def _node_failed(self, proc: Any) -> str:
        text = self.log.read_text(errors="replace")[-3000:] if self.log else ""
        return f"{self.info.name} exited with code {proc.returncode}:\n{text}"

    def _play(
        self, node: Node, proc: Any, info: bags.BagInfo, inputs: dict[str, str], ns: str
    ) -> None:
        from rosgraph_msgs.msg import Clock

        report = self._report
        in_qos = qos_profile("reliable", 10)
        pubs = {
            topic: node.create_publisher(self._classes[topic], topic, in_qos) for topic in inputs
        }
        clock = node.create_publisher(Clock, "/clock", 10)
        failed: list[str] = []  # why the node could not start, from its /diagnostics
        watch = self._watch_startup(node, ns, failed)
        ok = self._wait(
            node,
            lambda: (
                proc.poll() is not None
                or bool(failed)
                or all(p.get_subscription_count() > 0 for p in pubs.values())
            ),
            self.startup_timeout,
        )
        node.destroy_subscription(watch)
        if proc.poll() is not None:
            raise InputError(self._node_failed(proc))
        if failed:
            raise InputError(f"{self.info.name} could not start: {failed[0]}")
        if not ok:
            raise InputError(
                f"{self.info.name} did not subscribe to {', '.join(inputs)} within "
                f"{self.startup_timeout:.0f} s; log: {self.log}"
            )
        outputs = self._discover(node, ns)
        if not outputs:
            raise InputError(
                f"{self.info.name} publishes no image, disparity, camera_info or "
                f"point cloud topic in {ns or '/'}"
            )
        subs = [
            node.create_subscription(
                message_class(t),
                topic,
                self._on_output(topic, t),
                qos_profile("reliable", 10),
                raw=True,
            )
            for topic, t in outputs.items()
        ]
        self._wait(node, lambda: all(s.get_publisher_count() > 0 for s in subs), 10.0)
        self._wait(node, lambda: False, 0.3)  # let the node see its subscribers
        main = self._main_output(outputs, ns)
        topics = list(outputs)

        store = bags.typestore()
        published: dict[int, set[str]] = defaultdict(set)
        last_bag: int | None = None
        last_wall = time.monotonic()
        clock_ns = 0
        for topic, timestamp, msg in bags.read_messages(self.bag, list(inputs)):
            if self.rate > 0 and last_bag is not None:
                due = last_wall + max(0, timestamp - last_bag) / 1e9 / self.rate
                self._wait(node, lambda: False, due - time.monotonic())
            if not isinstance(msg, StampedMsg):
                raise InputError(f"input {topic} of {self.bag} has no header stamp to play by")
            stamp = messages.stamp_to_ns(msg)
            if stamp > clock_ns:
                clock_ns = stamp
                clock.publish(Clock(clock=_time_msg(clock_ns)))
            pubs[topic].publish(bytes(store.serialize_cdr(msg, info.topics[topic].msgtype)))
            report.messages_in += 1
            last_bag, last_wall = timestamp, time.monotonic()
            published[stamp].add(topic)
            if len(published[stamp]) == len(inputs):
                report.frames_in += 1
                self._inputs_published.add(stamp)
                del published[stamp]
                self._await_frame(node, proc, stamp, main, topics)
                last_wall = time.monotonic()
        report.incomplete_inputs = len(published)
        self._wait(node, lambda: False, 0.2)
        report.unmatched = sum(
            1 for t in topics for s in self._stamps_out[t] if s not in self._inputs_published
        )

    def _await_frame(
        self, node: Node, proc: Any, stamp: int, main: str, topics: Sequence[str]
    ) -> None:
        report = self._report
        done = self._wait(node, lambda: self._frame_done(stamp, main, topics), self.frame_timeout)
        if proc.poll() is not None:
            raise InputError(self._node_failed(proc))
        if not done:
            report.missing.append(stamp)
            return
        # the main output is in: give the others a moment to arrive
        grace = GRACE_S if report.frames_out == 0 else 0.2
        self._wait(node, lambda: all(stamp in self._stamps_out[t] for t in topics), grace)
        report.frames_out += 1

    def _discover(self, node: Node, ns: str) -> dict[str, str]:
        """Output topics of the node (absolute name → message type), by graph query."""
        found: dict[str, str] = {}
        deadline = time.monotonic() + 10.0
        while time.monotonic() < deadline:
            try:
                pairs = node.get_publisher_names_and_types_by_node(self.info.name, ns or "/")
            except Exception:  # the node is not in the graph yet
                pairs = []
            found = {
                name: types[0]
                for name, types in pairs
                if types
                and types[0] in RECORD_TYPES
                and name not in {_join(ns, t) for t in self.info.not_recorded}
            }
            if _join(ns, "depth") in found:  # every depth node publishes depth
                break
            rclpy.spin_once(node, timeout_sec=0.1)
        return dict(sorted(found.items()))

    def _main_output(self, outputs: Mapping[str, str], ns: str) -> str:
        for rel in ("depth", *self.info.outputs):
            if _join(ns, rel) in outputs:
                return _join(ns, rel)
        return next(iter(outputs))


def _join(ns: str, rel: str) -> str:
    return f"{ns}/{rel}"


def _time_msg(stamp_ns: int) -> Any:
    from builtin_interfaces.msg import Time

    return Time(sec=stamp_ns // 1_000_000_000, nanosec=stamp_ns % 1_000_000_000)
