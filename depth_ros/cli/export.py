r"""``depth-ros export``: export a model's PyTorch network to ONNX.

    depth-ros export --model psmnet --weights pretrained_model_KITTI2015.tar \
        --output psmnet.onnx [--height 384 --width 1248] [--verify]

Without --height/--width the file takes any size the model accepts (dynamic axes).
The exported file runs with ``--weights psmnet.onnx`` (backend onnxruntime) anywhere
the model is used.

    depth-ros export --model hitnet --weights eth3d_converted.onnx \
        --quantize int8 --output hitnet_int8.onnx [--calibration DIR]

``--quantize int8`` writes an int8 ONNX file (ONNX Runtime static quantisation, ranges
calibrated on DIR/left/* + DIR/right/* pairs for stereo models, on the images in DIR for
mono models (Monodepth2), default the embedded Motorcycle pair; ``int8-dynamic``: weights
only). A model without a PyTorch network (hitnet) is quantised from its ONNX file; others
are exported first. See depth_ros.core.models.quantize.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.cli import options
from depth_ros.core.errors import InputError


def register(subparsers: Any) -> None:
    """Add the ``export`` command (ONNX export, optionally int8 quantisation)."""
    p = subparsers.add_parser(
        "export",
        help="export a model's PyTorch network to ONNX",
        description=(
            "Export a model's PyTorch network (with its checkpoint) to an ONNX file for "
            "onnxruntime or TensorRT. Fixed size with --height and --width, else dynamic."
        ),
    )
    p.add_argument("--model", required=True, help="model ID (e.g. psmnet)")
    p.add_argument("--weights", required=True, type=Path, help="PyTorch checkpoint file")
    p.add_argument("--output", "-o", required=True, type=Path, help="ONNX file to write")
    p.add_argument("--height", type=int, help="fixed input height (with --width)")
    p.add_argument("--width", type=int, help="fixed input width (with --height)")
    p.add_argument("--opset", type=int, help="ONNX opset (default: the model's, usually 17)")
    options.add_param_option(p, "max_disparity=192 (baked into the graph)")
    p.add_argument(
        "--verify",
        action="store_true",
        help="run the file in onnxruntime and the PyTorch model on the same input and "
        "report the largest relative difference (fails above 1e-3)",
    )
    p.add_argument(
        "--quantize",
        choices=("int8", "int8-dynamic"),
        help="write an int8 ONNX file (onnxruntime.quantization; int8 = static, calibrated)",
    )
    p.add_argument(
        "--calibration",
        type=Path,
        help="with --quantize int8: the frames to calibrate on: for a stereo model a folder "
        "with left/ and right/ images (paired by name), for a mono model a folder of "
        "images (default: the embedded Motorcycle pair, or its two views)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=run)


def verify(model_id: str, config: Any, path: Path, height: int, width: int) -> float:
    """Largest |onnx - torch| / max|torch| over the outputs, on the model's example input."""
    import onnxruntime as ort
    import torch

    from depth_ros.core.models.export import export_spec

    ex = export_spec(model_id)
    inputs = ex.example_inputs(height, width)
    module = ex.module_factory(config).eval()
    with torch.inference_mode():
        ref = module(*(torch.from_numpy(x) for x in inputs))
    refs = [r.numpy() for r in (ref if isinstance(ref, (tuple, list)) else (ref,))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    outs = session.run(list(ex.output_names), dict(zip(ex.input_names, inputs, strict=True)))
    worst = 0.0
    for o, r in zip(outs, refs, strict=True):
        scale = max(float(np.abs(r).max()), 1e-12)
        worst = max(worst, float(np.abs(np.asarray(o) - r).max()) / scale)
    return worst


def quantize(args: argparse.Namespace) -> int:
    """--quantize: the model's ONNX file (given, or exported first) to int8."""
    import tempfile

    from depth_ros.core.models import quantize as q

    mode = "dynamic" if args.quantize == "int8-dynamic" else "static"
    feeds = q.calibration_feeds(args.model, args.calibration) if mode == "static" else []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(args.weights)
        if src.suffix.lower() != ".onnx":  # a PyTorch checkpoint: export it first
            from depth_ros.core.models import ModelConfig
            from depth_ros.core.models.export import export_onnx

            config = ModelConfig(weights=src, params=options.model_params(args.param, args.model))
            src = export_onnx(
                args.model, config, Path(tmp) / "fp32.onnx", args.height, args.width, args.opset
            ).path
        result = q.quantize_onnx(src, args.output, mode, feeds)
    report = {
        "model": args.model,
        "output": str(result.path),
        "quantization": f"int8-{mode}",
        "calibration_frames": result.calibration_frames,
        "seconds": round(result.seconds, 2),
        "bytes_in": result.bytes_in,
        "bytes": result.bytes_out,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"wrote {report['output']} (int8-{mode}, {result.bytes_out / 1e6:.1f} MB from "
            f"{result.bytes_in / 1e6:.1f} MB, {result.calibration_frames} calibration "
            f"frames) in {report['seconds']} s"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    """``export``: write the ONNX file (or quantise one) and print what was written."""
    from depth_ros.core.models import ModelConfig
    from depth_ros.core.models.export import export_onnx, export_spec

    if args.quantize:
        return quantize(args)

    if Path(args.output).is_dir():
        raise InputError(f"--output {args.output} is a folder: give the .onnx file to write")
    ex = export_spec(args.model)
    config = ModelConfig(weights=args.weights, params=options.model_params(args.param, args.model))
    result = export_onnx(args.model, config, args.output, args.height, args.width, args.opset)
    report: dict[str, Any] = {
        "model": result.model_id,
        "output": str(result.path),
        "size": "dynamic" if result.height is None else f"{result.height}x{result.width}",
        "inputs": list(result.input_names),
        "outputs": list(result.output_names),
        "seconds": round(result.seconds, 2),
        "bytes": result.path.stat().st_size,
        "metadata": result.metadata,
    }
    failed = False
    if args.verify:
        h, w = (result.height, result.width) if result.height else ex.default_size
        rel = verify(args.model, config, result.path, int(h), int(w or 0))
        report["max_relative_difference"] = rel
        failed = rel > 1e-3
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(
            f"wrote {report['output']} ({report['bytes'] / 1e6:.1f} MB, {report['size']}, "
            f"inputs {', '.join(report['inputs'])} → outputs {', '.join(report['outputs'])}) "
            f"in {report['seconds']} s"
        )
        if args.verify:
            verdict = "FAILED (> 1e-3)" if failed else "ok"
            print(
                f"onnxruntime vs PyTorch: max relative difference "
                f"{report['max_relative_difference']:.2e} {verdict}"
            )
    return 1 if failed else 0
