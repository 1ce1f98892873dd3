"""Monodepth2 on the CPU: the three ways to run it (PyTorch, ONNX Runtime fp32, ONNX Runtime
int8), each end to end through the ``mono_depth`` node and bare, side by side
(``depth-ros bench mono``, one after the other in this run), and how far the int8 file's
disparity is from the fp32 network's on real frames.

The networks have RANDOM weights in the official layout (the official release is not
reachable here): the timing is that of the real network; the int8 deviation is that of
random weights, a stand-in for what the real weights give (calibrate on your own camera's
frames and measure with ``depth-ros eval``). The int8 file is calibrated on the images in
--calibration (default: the open3d RGB-D colour frames under ../shared, else the embedded
Motorcycle pair)::

    python benchmarks/monodepth2_cpu.py [--frames 20] [--model monodepth2_mono_640x192]
        [--calibration DIR] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEPTH_ROS_SHARED", ROOT / ".." / "shared"))
FRAMES = SHARED / "data" / "open3d_rgbd_samples" / "TestData" / "RGBD" / "color"


def cli(*args: str) -> dict[str, Any]:
    """``depth-ros ARGS --json`` in a fresh process → its JSON report."""
    out = subprocess.run(
        [sys.executable, "-m", "depth_ros.cli.main", *args, "--json"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    report: dict[str, Any] = json.loads(out[out.index("{") :])
    return report


def deviation(fp32: Path, int8: Path, images: list[np.ndarray]) -> dict[str, float]:
    """int8 against fp32 disparity (the network output, sigmoid 0..1), relative to the fp32
    output's range per frame: the mean and the largest absolute difference, each of the
    worst frame."""
    import onnxruntime as ort

    from depth_ros.core.models.monodepth2 import prepare

    a = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    b = ort.InferenceSession(str(int8), providers=["CPUExecutionProvider"])
    worst_mean, worst = 0.0, 0.0
    for rgb in images:
        x = prepare(rgb)
        ref = np.asarray(a.run(None, {"image": x})[0])
        got = np.asarray(b.run(None, {"image": x})[0])
        span = float(np.ptp(ref))
        worst_mean = max(worst_mean, float(np.abs(got - ref).mean()) / span)
        worst = max(worst, float(np.abs(got - ref).max()) / span)
    return {"mean_abs_over_range": worst_mean, "max_abs_over_range": worst}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="monodepth2_mono_640x192")
    p.add_argument("--frames", type=int, default=20, help="node frames per backend")
    p.add_argument("--calibration", type=Path, help="folder of images for the int8 ranges")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()

    from depth_ros.core.models import get_model
    from depth_ros.core.models.quantize import calibration_images

    spec = get_model(args.model)
    assert spec.random_checkpoint is not None
    assert spec.weights_file is not None
    calib = args.calibration or (FRAMES if FRAMES.is_dir() else None)
    with tempfile.TemporaryDirectory(prefix="md2_bench_") as tmp:
        folder = Path(tmp) / spec.weights_file
        spec.random_checkpoint(folder)
        fp32, int8 = Path(tmp) / "md2.onnx", Path(tmp) / "md2_int8.onnx"
        common = ("--model", args.model, "--weights", str(folder))
        cli("export", *common, "--output", str(fp32), "--height", "192", "--width", "640")
        quant = ["export", *common, "--quantize", "int8", "--output", str(int8)]
        quant += ["--calibration", str(calib)] if calib is not None else []
        q = cli(*quant)
        figures: dict[str, Any] = {
            "model": args.model,
            "random_weights": True,
            "calibration": str(calib) if calib else "embedded Motorcycle pair",
            "calibration_frames": q["calibration_frames"],
            "int8_vs_fp32": deviation(fp32, int8, calibration_images(None)),
            "backends": {},
        }
        for label, weights in (("torch", folder), ("onnx fp32", fp32), ("onnx int8", int8)):
            r = cli(
                "bench", "mono", "--model", args.model, "--weights", str(weights),
                "--frames", str(args.frames),
            )  # fmt: skip
            figures["backends"][label] = {
                k: r[k]
                for k in (
                    "forward_ms",
                    "predict_ms",
                    "node_latency_ms",
                    "e2e_latency_ms",
                    "node_over_forward",
                    "node_over_predict",
                )
            }
    if args.json:
        print(json.dumps(figures, indent=2))
        return 0
    dev = figures["int8_vs_fp32"]
    print(
        f"{args.model}, random weights, 741x500 input; int8 calibrated on "
        f"{figures['calibration']} ({figures['calibration_frames']} frames); int8 vs fp32 "
        f"disparity on the Motorcycle views: mean {dev['mean_abs_over_range']:.2%}, "
        f"max {dev['max_abs_over_range']:.2%} of the range"
    )
    print(f"{'backend':10s} {'forward':>8s} {'predict':>8s} {'node':>8s} {'e2e':>8s}  node/pred")
    for label, f in figures["backends"].items():
        print(
            f"{label:10s} {f['forward_ms']:8.1f} {f['predict_ms']:8.1f} "
            f"{f['node_latency_ms']:8.1f} {f['e2e_latency_ms']:8.1f}  {f['node_over_predict']:.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
