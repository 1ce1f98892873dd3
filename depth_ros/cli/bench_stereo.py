"""``depth-ros bench stereo``: bare matcher time, point-cloud build time and the stereo
node's latency (synchronised input in → disparity, depth and points published, measured
inside the node) plus end-to-end latency over DDS, on the demo frames, in one run: node
frames and bare matcher runs take turns in blocks of 5 (:func:`depth_ros.cli.bench.node_latency`),
so both see the same machine."""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from depth_ros.cli.bench import median_ms, node_latency, report


def register(sub: Any) -> None:
    """Add ``bench stereo`` (matcher time against the stereo_depth node's latency)."""
    p = sub.add_parser("stereo", help="matcher vs stereo node latency on the Motorcycle pair")
    p.add_argument("--model", default="sgbm")
    p.add_argument("--weights", default="")
    p.add_argument("--backend", default="auto")
    p.add_argument("--frames", type=int, default=20)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``bench stereo``: time the matcher on the Motorcycle pair, then the node over DDS."""
    from sensor_msgs.msg import Image, PointCloud2
    from stereo_msgs.msg import DisparityImage

    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.models import ModelConfig, build_model
    from depth_ros.core.pointcloud import depth_to_cloud
    from depth_ros.core.stereo import StereoPipeline
    from depth_ros.tools.player import StereoPlayer

    sample = load_sample("motorcycle")
    config = ModelConfig(weights=Path(args.weights) if args.weights else None, backend=args.backend)
    model: Any = build_model(args.model, config)
    result = StereoPipeline(model).process(
        sample.left, sample.right, sample.left_camera, sample.right_camera
    )
    matcher: list[float] = []
    cloud_ms: list[float] = []

    def bare() -> None:  # between two node frames, in this process
        t0 = time.perf_counter()
        model.compute(sample.left, sample.right)
        matcher.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        depth_to_cloud(result.depth, sample.left_camera, sample.left)
        cloud_ms.append((time.perf_counter() - t0) * 1e3)

    def publisher(node: Any) -> Any:
        player = StereoPlayer(node)
        return (
            lambda: player.publish(
                sample.left, sample.right, sample.left_camera, sample.right_camera
            )
        ), player.pubs

    params: dict[str, object] = {"model": args.model}
    if args.weights:
        params["weights"] = args.weights
    topics = {"disparity": DisparityImage, "depth": Image, "points": PointCloud2}
    node = node_latency("stereo_depth", params, publisher, topics, args.frames, bare)
    matcher_ms = median_ms(matcher)
    figures: dict[str, Any] = {
        "model": args.model,
        "frames": node["frames"],
        "matcher_ms": matcher_ms,
        "pointcloud_ms": median_ms(cloud_ms),
        "node_latency_ms": node["node_latency_ms"],
        "node_over_matcher": node["node_latency_ms"] / matcher_ms,
        "node_processing_ms": node["node_processing_ms"],
        "e2e_latency_ms": node["e2e_latency_ms"],
        "node_stages_ms": node["node_stages_ms"],
    }
    report(
        figures,
        args.json,
        f"bench stereo: {args.model} on Motorcycle 741x500, "
        "node and bare matcher taking turns in blocks of 5 frames",
    )
    return 0
