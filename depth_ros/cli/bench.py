"""``depth-ros bench KIND``: measurements that compare side by side in one run.

Each kind is a module ``depth_ros.cli.bench_<kind>`` with ``register(subparsers)``;
adding one is one module and its name in ``KINDS``.
"""

from __future__ import annotations

import importlib
import json
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

KINDS = ("stereo", "mono", "load")


def register(sub: Any) -> None:
    """Add the ``bench`` command and one sub-command per benchmark module that imports."""
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
    """The median of ``samples`` in the samples' unit (NaN when there are none)."""
    return float(statistics.median(samples)) if samples else float("nan")


def report(figures: Mapping[str, Any], as_json: bool, title: str) -> None:
    """Print ``figures`` as JSON, or as an aligned ``key: value`` list under ``title``."""
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
    between: Any = None,
    block: int = 5,
    settle_s: float = 0.1,
) -> dict[str, Any]:
    """Start ``node_name`` in its own process and feed it ``frames`` inputs one at a time
    with ``publish(node) -> (publish_once, publishers)``, each when the outputs of the
    previous one have arrived; ``between()`` (the bare computation, timed by the caller in
    this process while the node is idle) runs as often, so that both are measured side by
    side under the same conditions. They take turns in blocks of ``block`` frames: each
    side runs warm (its weights in the cache, as a node on a robot does frame after frame;
    alternating every frame would measure each side's first run after the other has
    evicted its weights), and each block starts ``settle_s`` after the other's, so that the
    threads one side's runtime keeps spinning after its work (ONNX Runtime's intra-op
    pool, OpenMP) do not slow the other. Returns the node's own latency (synchronised input
    in → all outputs published, median from /diagnostics), its per-stage times, and the
    end-to-end latency (stamp → every output received here)."""
    from depth_ros.runtime import keep_heap, local_dds_env

    local_dds_env()
    keep_heap()  # as the node does: both sides allocate alike
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from depth_ros import processes
    from depth_ros.tools.collector import Collector

    # a name of its own: its /diagnostics status is told from other nodes' by it
    measured = f"{node_name}_bench_{os.getpid()}"
    proc = processes.start(
        node_name,
        processes.ros_args({**params, "diagnostics_period": 0.5}, {"__node": measured}),
    )
    rclpy.init()
    node = rclpy.create_node(f"bench_{node_name}")
    try:
        collector = Collector(node, topics)
        diag = Collector(node, {"/diagnostics": DiagnosticArray})
        publish_once, pubs = publish(node)
        ready = collector.wait(
            lambda c: c.publishers_matched() and all(p.get_subscription_count() > 0 for p in pubs),
            120.0,
        )
        if not ready:
            raise RuntimeError(f"{node_name} did not come up")
        collector.wait(lambda c: False, 1.0)
        e2e = []
        for i in range(frames + 1):  # the first frame warms the node up
            header = publish_once()
            stamp = header.stamp.sec * 1_000_000_000 + header.stamp.nanosec

            def arrived(c: Collector, n: int = i + 1) -> bool:
                return all(c.count(t) >= n for t in topics)

            if not collector.wait(arrived, 120.0):
                raise RuntimeError(f"{node_name} gave no output for frame {i}")
            times = [
                r.wall_ns for t in topics for r in collector.received[t] if r.stamp_ns == stamp
            ]
            if i > 0 and len(times) == len(topics):
                e2e.append((max(times) - stamp) / 1e6)
            if between is not None and i > 0 and (i % block == 0 or i == frames):
                collector.wait(lambda c: False, settle_s)
                for _ in range(i % block or block):
                    between()
                collector.wait(lambda c: False, settle_s)

        def ours(c: Collector) -> list[Any]:
            return [
                s
                for r in c.received["/diagnostics"]
                for s in r.msg.status
                if s.hardware_id == measured
            ]

        diag.wait(lambda c: False, 1.2)  # a report made after the last frame
        if not diag.wait(lambda c: bool(ours(c)), 10.0):
            raise RuntimeError(f"{node_name} published no diagnostics")
        values = {kv.key: kv.value for kv in ours(diag)[-1].values}
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        processes.stop(proc)
    return {
        "frames": len(e2e),
        "node_latency_ms": float(values["latency_ms"]),
        "node_processing_ms": float(values["processing_ms"]),
        "e2e_latency_ms": median_ms(e2e),
        "node_stages_ms": {
            k[:-3]: float(v)
            for k, v in values.items()
            if k.endswith("_ms") and k not in ("latency_ms", "processing_ms")
        },
    }
