"""``depth-ros bench KIND``: measurements that compare side by side in one run.

Each kind is a module ``depth_ros.cli.bench_<kind>`` with ``register(subparsers)``;
adding one is one module and its name in ``KINDS``.
"""

from __future__ import annotations

import importlib
import json
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = ("stereo", "mono", "load")


def register(sub: Any) -> None:
    p = sub.add_parser("bench", help="benchmarks: stereo, mono, load")
    kinds = p.add_subparsers(dest="kind", required=True, metavar="KIND")
    for kind in KINDS:
        try:
            module = importlib.import_module(f"depth_ros.cli.bench_{kind}")
        except ModuleNotFoundError as exc:
            if exc.name == f"depth_ros.cli.bench_{kind}":
                continue
            raise
        module.register(kinds)


def median_ms(samples: Sequence[float]) -> float:
    return float(statistics.median(samples)) if samples else float("nan")


def report(figures: Mapping[str, Any], as_json: bool, title: str) -> None:
    if as_json:
        print(json.dumps(figures, indent=2))
        return
    print(title)
    width = max(len(k) for k in figures)
    for key, value in figures.items():
        text = f"{value:.2f}" if isinstance(value, float) else str(value)
        print(f"  {key:{width}s}  {text}")


def node_latency(
    node_name: str,
    params: Mapping[str, object],
    publish: Any,
    topics: Mapping[str, type],
    frames: int,
    rate: float,
) -> dict[str, Any]:
    """Start ``node_name`` in its own process, feed it ``frames`` inputs at ``rate`` Hz
    with ``publish(node) -> (publish_once, publishers)``, and return the node's own
    latency (synchronised input in → all outputs published, from /diagnostics) and the
    end-to-end latency (stamp → every output received here)."""
    from depth_ros.runtime import local_dds_env

    local_dds_env()
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from depth_ros import processes
    from depth_ros.nodes.collector import Collector

    proc = processes.start(node_name, processes.ros_args({**params, "diagnostics_period": 0.5}))
    rclpy.init()
    node = rclpy.create_node(f"bench_{node_name}")
    try:
        collector = Collector(node, topics)
        diag = Collector(node, {"/diagnostics": DiagnosticArray})
        publish_once, pubs = publish(node)
        ready = collector.wait(
            lambda c: c.publishers_matched()
            and all(p.get_subscription_count() > 0 for p in pubs), 120.0)
        if not ready:
            raise RuntimeError(f"{node_name} did not come up")
        collector.wait(lambda c: False, 1.0)
        sent: list[int] = []
        for _ in range(frames + 1):  # the first frame warms the node up
            header = publish_once()
            sent.append(header.stamp.sec * 1_000_000_000 + header.stamp.nanosec)
            collector.wait(lambda c: False, 1.0 / rate)
        collector.wait(lambda c: all(c.count(t) >= len(sent) for t in topics), 120.0)
        e2e = []
        for stamp in sent[1:]:
            times = [r.wall_ns for t in topics for r in collector.received[t]
                     if r.stamp_ns == stamp]
            if len(times) == len(topics):
                e2e.append((max(times) - stamp) / 1e6)
        diag.wait(lambda c: False, 1.2)
        status = diag.received["/diagnostics"][-1].msg.status[0]
        values = {kv.key: kv.value for kv in status.values}
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        processes.stop(proc)
    return {
        "frames": len(e2e),
        "node_latency_ms": float(values["latency_ms"]),
        "node_processing_ms": float(values["processing_ms"]),
        "e2e_latency_ms": median_ms(e2e),
    }
