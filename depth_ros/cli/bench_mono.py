"""``depth-ros bench mono``: the network's forward time and the mono_depth node's latency
(input in → outputs published, measured inside the node) side by side in one run, node
frames and bare forward passes taking turns in blocks of 5, on the Motorcycle left image
(741x500) with its camera_info."""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.cli.bench import median_ms, node_latency, report
from depth_ros.core.errors import ConfigError


def register(sub: Any) -> None:
    """Add ``bench mono`` (network time against the mono_depth node's latency)."""
    p = sub.add_parser("mono", help="monocular forward time vs mono_depth node latency")
    p.add_argument("--model", default="depth_anything_v2_vits")
    p.add_argument(
        "--weights",
        type=Path,
        help="official checkpoint or exported file; omit with --random-weights",
    )
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="write a checkpoint in the official layout with random weights "
        "(timing only: the output is meaningless)",
    )
    p.add_argument("--input-size", type=int, default=0, help="network input size")
    p.add_argument("--frames", type=int, default=10)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``bench mono``: time the network alone, then the node over DDS, and print both."""
    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.models import ModelConfig, build_model, get_model
    from depth_ros.core.models.base import StreamingModel, run_mono

    spec = get_model(args.model)
    weights: Path | None = args.weights
    if weights is None:
        if not args.random_weights:
            raise ConfigError("give --weights, or --random-weights for a timing-only run")
        make = spec.random_checkpoint
        if make is None:
            raise ConfigError(f"{args.model} cannot make a random checkpoint; give --weights")
        weights = Path(tempfile.mkdtemp(prefix="depth_ros_bench_")) / (
            spec.weights_file or f"{args.model}.pth"
        )
        make(weights)
    size = args.input_size or spec.default_input_size or 0
    model: Any = build_model(args.model, ModelConfig(weights=weights, input_size=size or None))
    sample = load_sample("motorcycle")
    rgb, cam = sample.left, sample.left_camera
    run_mono(model, rgb, cam)  # warm-up (with the camera: camera-aware models need it)
    forward: list[float] = []
    predict: list[float] = []
    x = model.network_input(rgb) if hasattr(model, "network_input") else None

    def bare() -> None:  # between two node frames, in this process
        if x is not None:
            t0 = time.perf_counter()
            model.runner.run([x])
            forward.append((time.perf_counter() - t0) * 1e3)
        t0 = time.perf_counter()
        run_mono(model, rgb, cam)
        predict.append((time.perf_counter() - t0) * 1e3)

    # a streaming model's window must survive the gaps between node frames (wall stamps)
    streaming = isinstance(model, StreamingModel)
    node = _node(args, weights, size, bare, streaming)
    forward_ms = median_ms(forward) if forward else median_ms(predict)
    figures: dict[str, Any] = {
        "model": args.model,
        "input_size": size,
        "random_weights": args.weights is None,
        "streaming": streaming,
        "frames": node["frames"],
        "forward_ms": forward_ms,
        "predict_ms": median_ms(predict),
        "node_latency_ms": node["node_latency_ms"],
        "node_over_forward": node["node_latency_ms"] / forward_ms,
        # the same computation outside ROS (pre- and post-processing included)
        "node_over_predict": node["node_latency_ms"] / median_ms(predict),
        "node_processing_ms": node["node_processing_ms"],
        "e2e_latency_ms": node["e2e_latency_ms"],
        "node_stages_ms": node["node_stages_ms"],
    }
    report(figures, args.json, f"bench mono: {args.model} at {size} on a 741x500 image")
    return 0


def _node(
    args: argparse.Namespace, weights: Path, size: int, between: Any, streaming: bool = False
) -> dict[str, Any]:
    from sensor_msgs.msg import CameraInfo, Image
    from std_msgs.msg import Header

    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.models import OutputKind, get_model
    from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
    from depth_ros.nodes.qos import qos_profile

    sample = load_sample("motorcycle")
    rgb: np.ndarray = sample.left
    params: dict[str, object] = {"model": args.model, "weights": str(weights)}
    if size:
        params["input_size"] = size
    if streaming:
        params["temporal_reset_gap_seconds"] = 0.0  # only stamps going backwards reset it

    def publisher(node: Any) -> Any:
        q = qos_profile("sensor_data", 5)
        image_pub = node.create_publisher(Image, "image", q)
        info_pub = node.create_publisher(CameraInfo, "camera_info", q)

        def once() -> Any:
            header = Header(stamp=node.get_clock().now().to_msg(), frame_id="camera")
            image_pub.publish(numpy_to_image(rgb, "rgb8", header))
            info_pub.publish(camera_info_msg(sample.left_camera, header))
            return header

        return once, [image_pub, info_pub]

    metric = get_model(args.model).output_kind is OutputKind.METRIC
    topics: dict[str, type] = {"depth": Image} if metric else {"depth/relative": Image}
    return node_latency("mono_depth", params, publisher, topics, args.frames, between)
