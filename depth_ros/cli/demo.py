"""``depth-ros demo``: the embedded Motorcycle pair through the stereo node, over DDS.

A player process publishes the sample as ROS 2 topics with its camera_info, the
``stereo_depth`` node runs in its own process, and this process collects the outputs,
writes them to ``--output`` and scores them against the ground truth.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros import processes
from depth_ros.core.eval.metrics import depth_metrics, disparity_metrics
from depth_ros.runtime import local_dds_env


def register(sub: Any) -> None:
    p = sub.add_parser("demo", help="run the stereo node on the embedded Motorcycle sample")
    p.add_argument("--model", default="sgbm", help="stereo model ID (default: sgbm)")
    p.add_argument("--weights", default="", help="weights file for learned models")
    p.add_argument("--backend", default="auto")
    p.add_argument("--frames", type=int, default=3, help="pairs to publish (default 3)")
    p.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="pairs per second (default: 2 for classical, 0.3 for learned models)",
    )
    p.add_argument("--output", type=Path, default=Path("out/demo"), help="output folder")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for outputs")
    p.add_argument("--json", action="store_true", help="print the metrics as JSON")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    local_dds_env()
    import rclpy
    from sensor_msgs.msg import CameraInfo, Image, PointCloud2
    from stereo_msgs.msg import DisparityImage

    from depth_ros.cli import outputs
    from depth_ros.core.eval.samples import load_sample
    from depth_ros.core.messages import disparity_from_msg, image_to_numpy, packed_from_msg
    from depth_ros.core.models import get_model
    from depth_ros.tools.collector import Collector

    spec = get_model(args.model)  # unknown model: a clear error before anything starts
    rate = args.rate or (2.0 if not spec.needs_weights else 0.3)
    sample = load_sample("motorcycle")
    from depth_ros.cli.outputs import output_dir

    out: Path = output_dir(args.output)
    logs = Path(tempfile.mkdtemp(prefix="depth_ros_demo_"))
    params: dict[str, object] = {"model": args.model}
    if args.weights:
        params["weights"] = args.weights
    if args.backend != "auto":
        params["backend"] = args.backend

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    say(
        f"depth-ros demo: {args.model} on Motorcycle (741x500), {args.frames} frames over DDS "
        f"(ROS_DOMAIN_ID={os.environ['ROS_DOMAIN_ID']})"
    )

    rclpy.init()
    node = rclpy.create_node("depth_ros_demo")
    topics = {
        "disparity": DisparityImage,
        "depth": Image,
        "depth/camera_info": CameraInfo,
        "points": PointCloud2,
    }
    collector = Collector(node, topics)
    stereo = processes.start(
        "stereo_depth", processes.ros_args(params), log=logs / "stereo_depth.log"
    )
    player = None
    try:
        if not collector.wait(lambda c: c.publishers_matched(), 60.0):
            raise RuntimeError(f"stereo_depth did not come up; see {logs / 'stereo_depth.log'}")
        player = processes.start(
            "player",
            ["--frames", str(args.frames), "--rate", str(rate)],
            log=logs / "player.log",
        )
        done = collector.wait(
            lambda c: all(c.count(t) >= args.frames for t in topics), args.timeout
        )
        if not done:
            counts = {t: collector.count(t) for t in topics}
            raise RuntimeError(
                f"outputs incomplete after {args.timeout:.0f} s: {counts}; logs in {logs}"
            )
    finally:
        for proc in (player, stereo):
            if proc is not None:
                processes.stop(proc)

    rx = collector.received
    disp_msg = rx["disparity"][-1].msg
    info = rx["depth/camera_info"][-1].msg
    doffs = float(info.k[2]) - float(sample.left_camera.cx)  # same camera: 0
    geometry = sample.geometry
    disparity = disparity_from_msg(disp_msg, geometry.doffs + doffs)
    depth = np.array(image_to_numpy(rx["depth"][-1].msg), dtype=np.float32)
    cloud = packed_from_msg(rx["points"][-1].msg)
    latencies = []
    for frame in rx["points"]:
        stamp = frame.stamp_ns
        last = max(r.wall_ns for t in topics for r in rx[t] if r.stamp_ns == stamp)
        latencies.append((last - stamp) / 1e6)
    node.destroy_node()
    rclpy.try_shutdown()

    files = outputs.write_disparity(out, "disparity", disparity)
    files += outputs.write_depth(out, "depth", depth)
    files.append(outputs.write_ply(out / "points.ply", cloud))
    files.append(outputs.render_cloud(out / "points_view.png", cloud))
    files.append(outputs.write_png(out / "left.png", sample.left))
    overview = np.concatenate(
        [sample.left, outputs.colorize(disparity), outputs.colorize(depth, invert=True)], axis=1
    )
    files.append(outputs.write_png(out / "overview.png", overview))

    dm = disparity_metrics(disparity, sample.disparity)
    zm = depth_metrics(depth, sample.depth)
    metrics = {
        "model": args.model,
        "frames": len(latencies),
        "bad_2": dm["bad_2"],
        "bad_1": dm["bad_1"],
        "epe_px": dm["epe"],
        "density": dm["density"],
        "abs_rel": zm["abs_rel"],
        "rmse_m": zm["rmse"],
        "delta1": zm["delta1"],
        "latency_ms_mean": statistics.fmean(latencies),
        "latency_ms_max": max(latencies),
        "valid_mask": "GT disparity finite; bad-N counts pixels without prediction as bad; "
        "depth metrics over pixels valid in both",
        "outputs": sorted(str(f.name) for f in files),
    }
    (out / "metrics.json").write_text(json.dumps(metrics, indent=2) + "\n")
    if args.json:
        print(json.dumps(metrics, indent=2))
    else:
        say(
            f"  bad-2.0   {100 * dm['bad_2']:.1f} % of ground-truth pixels "
            f"(density {100 * dm['density']:.1f} %, EPE {dm['epe']:.2f} px)"
        )
        say(
            f"  depth     AbsRel {zm['abs_rel']:.4f}, RMSE {zm['rmse']:.3f} m, "
            f"delta1 {100 * zm['delta1']:.1f} %"
        )
        say(
            f"  latency   {metrics['latency_ms_mean']:.0f} ms per frame (stamp → all outputs), "
            f"max {metrics['latency_ms_max']:.0f} ms"
        )
        say(f"  wrote     {out}/ ({', '.join(metrics['outputs'])})")
    return 0


if __name__ == "__main__":
    from depth_ros.cli.main import main

    sys.exit(main(["demo", *sys.argv[1:]]))
