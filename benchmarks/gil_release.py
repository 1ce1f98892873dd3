"""How much another Python thread is stalled while a 24 MB point cloud is published:
rclpy's own ``publish`` (holds the GIL while the middleware copies) beside the node's
:class:`~depth_ros.nodes.serialized.SerializedPublisher` (ctypes, GIL released),
alternated in rounds so that a load on the machine weighs on both alike.

    python benchmarks/gil_release.py [--rounds 6] [--json]

Prints the median share of time the other thread spent in stalls over 1 ms, for each,
and their ratio (released / held: lower is better; 1.0 = no gain).
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from collections.abc import Callable

import numpy as np


def stalled(publish: Callable[[], object], seconds: float = 0.15) -> float:
    """Share of the time another thread spent in stalls over 1 ms while ``publish``
    loops for ``seconds``."""
    stamps: list[float] = []
    stop = threading.Event()

    def tick() -> None:
        while not stop.is_set():
            stamps.append(time.perf_counter())

    thread = threading.Thread(target=tick)
    thread.start()
    try:
        t0 = time.perf_counter()
        while time.perf_counter() - t0 < seconds:
            publish()
    finally:
        stop.set()
        thread.join()
    gaps = np.diff(np.asarray(stamps))
    return float(gaps[gaps > 1e-3].sum() / (stamps[-1] - stamps[0]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import rclpy
    from sensor_msgs.msg import PointCloud2

    from depth_ros import runtime
    from depth_ros.core import cdr
    from depth_ros.core.pointcloud import XYZRGB_FIELDS
    from depth_ros.nodes.serialized import SerializedPublisher

    runtime.local_dds_env()
    rclpy.init(args=[])
    node = rclpy.create_node("gil_release_bench")
    try:
        pub = node.create_publisher(PointCloud2, "gil_release_points", 1)
        raw = SerializedPublisher(pub)
        msg = cdr.point_cloud("f", 2000, 750, XYZRGB_FIELDS, 16)
        data = bytes(msg)
        held: list[float] = []
        released: list[float] = []
        for _ in range(args.rounds):
            held.append(stalled(lambda: pub.publish(data)))
            released.append(stalled(lambda: raw.publish(msg)))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    result = {
        "message_mb": len(data) / 1e6,
        "releases_gil": raw.releases_gil,
        "stalled_held": float(np.median(held)),
        "stalled_released": float(np.median(released)),
    }
    result["ratio"] = result["stalled_released"] / max(result["stalled_held"], 1e-9)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(
            f"24 MB PointCloud2: other thread stalled {result['stalled_held']:.0%} of the time "
            f"under rclpy's publish, {result['stalled_released']:.0%} under the serialized "
            f"publisher (ratio {result['ratio']:.2f})"
        )


if __name__ == "__main__":
    main()
