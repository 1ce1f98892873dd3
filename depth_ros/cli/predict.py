"""``depth-ros predict``: run a model on image files, without ROS.

Stereo: ``--left L.png --right R.png`` (+ calibration for depth and points).
Monocular: ``--image IMG`` (+ intrinsics for points when the model is metric).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.cli import options
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError
from depth_ros.core.models import InputKind, ModelConfig, ModelSpec, build_model, get_model
from depth_ros.core.models.base import CameraUse


def register(sub: Any) -> None:
    p = sub.add_parser("predict", help="run a model on image files (no ROS)")
    p.add_argument("--model", help="model ID (see --list)")
    p.add_argument("--list", action="store_true", help="list the registered models and exit")
    p.add_argument("--weights", type=Path, help="weights file (learned models)")
    p.add_argument("--backend", default="auto", help="auto, torch, onnxruntime, tensorrt")
    p.add_argument("--device", default="cpu")
    p.add_argument("--input-size", type=int, help="network input size (monocular)")
    p.add_argument("--left", type=Path, help="left image (stereo)")
    p.add_argument("--right", type=Path, help="right image (stereo)")
    p.add_argument("--image", type=Path, help="image (monocular)")
    options.add_calibration_options(p)
    options.add_param_option(p, "disparity_range=128")
    p.add_argument(
        "--random-weights",
        action="store_true",
        help="build a checkpoint in the official layout with RANDOM weights in a "
        "temporary folder and use it (tries the pipeline without the real weights: "
        "the output is meaningless)",
    )
    p.add_argument(
        "--raw",
        action="store_true",
        help="monocular: also write the network's raw output as float32 .npy",
    )
    p.add_argument("--output", type=Path, default=Path("out/predict"), help="output folder")
    p.add_argument(
        "--range",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        dest="depth_range",
        help="colours of depth_color.png span MIN..MAX metres (default: the "
        "2nd-98th percentile of each image); fix it to compare two models",
    )
    p.add_argument(
        "--disparity-range",
        type=float,
        nargs=2,
        metavar=("MIN", "MAX"),
        help="colours of disparity_color.png span MIN..MAX pixels",
    )
    p.set_defaults(func=run)


def read_rgb(path: Path) -> NDArray[np.uint8]:
    """An image file as the uint8 RGB the models take: 8-bit, 16-bit or float, grey or
    colour (:mod:`depth_ros.core.imagefile` says how)."""
    from depth_ros.core.imagefile import read_rgb8

    return read_rgb8(path)


def _list() -> int:
    from depth_ros.core.models import model_ids

    for model_id in model_ids():
        spec = get_model(model_id)
        print(
            f"{model_id:40s} {spec.input_kind.value:6s} {spec.output_kind.value:9s} "
            f"{spec.description}"
        )
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list:
        return _list()
    if not args.model:
        raise ConfigError("--model is required (see --list)")
    spec = get_model(args.model)
    if args.random_weights and args.weights is not None:
        raise ConfigError("--random-weights and --weights exclude each other")
    stereo = spec.input_kind is InputKind.STEREO
    options.check_calibration_args(args, stereo)
    if args.random_weights and spec.random_checkpoint is None:
        raise ConfigError(f"{spec.id} cannot build a random checkpoint; give --weights")
    config = ModelConfig(
        weights=args.weights,
        backend=None if args.backend == "auto" else args.backend,  # None: from the file
        device=args.device,
        input_size=args.input_size,
        params=options.model_params(args.param, spec.id),
        progress=True,  # slow models (diffusion steps) show a progress bar on stderr
    )
    from depth_ros.cli import outputs

    out: Path = outputs.output_dir(args.output)
    written: list[Path] = []
    if stereo:
        if not (args.left and args.right):
            raise ConfigError(f"{args.model} is a stereo model: give --left and --right")
        left, right = read_rgb(args.left), read_rgb(args.right)
        calib = options.calibration_from_args(args, left.shape[1], left.shape[0], stereo=True)
        model: Any = build_model(args.model, _with_random_weights(args, spec, config))
        if calib is None:
            disparity = model.compute(left, right)
            written += outputs.write_disparity(out, "disparity", disparity, args.disparity_range)
        else:
            from depth_ros.core.stereo import StereoOptions, StereoPipeline

            assert calib.right is not None  # stereo calibrations have both cameras
            result = StereoPipeline(model, StereoOptions(rectify=calib.raw)).process(
                left, right, calib.left, calib.right
            )
            written += outputs.write_disparity(
                out, "disparity", result.disparity, args.disparity_range
            )
            written += outputs.write_depth(out, "depth", result.depth, args.depth_range)
            if result.cloud is not None:
                written.append(outputs.write_ply(out / "points.ply", result.cloud))
                written.append(outputs.render_cloud(out / "points_view.png", result.cloud))
    else:
        if not args.image:
            raise ConfigError(f"{args.model} is a monocular model: give --image")
        return _mono(args, spec, config, out)
    print(json.dumps({"model": args.model, "outputs": [str(p) for p in written]}, indent=2))
    return 0


def _with_random_weights(
    args: argparse.Namespace, spec: ModelSpec, config: ModelConfig
) -> ModelConfig:
    """``config`` with a random official-layout checkpoint when --random-weights asks."""
    if not args.random_weights or spec.random_checkpoint is None:
        return config
    import atexit
    import dataclasses
    import shutil
    import sys
    import tempfile

    folder = tempfile.mkdtemp(prefix="depth_ros_random_")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    path = Path(folder) / (spec.weights_file or f"{spec.id}.pth")
    print(f"depth-ros predict: RANDOM weights ({path}): the output is meaningless", file=sys.stderr)
    spec.random_checkpoint(path)
    return dataclasses.replace(config, weights=path)


def _mono_camera(args: argparse.Namespace, w: int, h: int) -> PinholeCamera | None:
    """The image's camera from the calibration options; a file of another size with the
    image's aspect ratio is rescaled to it (the same camera, the image resized)."""
    calib = options.calibration_from_args(args, w, h, stereo=False)
    if calib is None:
        return None
    camera = calib.left
    if (camera.width, camera.height) != (w, h):
        if camera.width * h != camera.height * w:
            raise ConfigError(
                f"{calib.source} is for {camera.width}x{camera.height} images but "
                f"{args.image} is {w}x{h} (another aspect ratio)"
            )
        camera = camera.scaled(w, h)
    return camera


def _mono(args: argparse.Namespace, spec: ModelSpec, config: ModelConfig, out: Path) -> int:
    """One image through the monocular pipeline (the node's), with the camera when given."""
    import sys

    from depth_ros.cli import outputs
    from depth_ros.core.mono_pipeline import MonoPipeline

    if not args.image:
        raise ConfigError(f"{args.model} is a monocular model: give --image")
    rgb = read_rgb(args.image)
    camera = _mono_camera(args, rgb.shape[1], rgb.shape[0])
    if camera is None and spec.camera is CameraUse.REQUIRED:
        raise ConfigError(
            f"{spec.id} is camera-aware (its metric scale follows the focal length): give "
            "--camera-info cam.yaml or --fx (and --cx/--cy)"
        )
    model = build_model(args.model, _with_random_weights(args, spec, config))
    result = MonoPipeline(model, spec.output_kind, camera_use=spec.camera).process(rgb, camera)
    written: list[Path] = []
    info: dict[str, Any] = {"model": args.model}
    if args.raw:
        np.save(out / "raw.npy", result.prediction)
        written.append(out / "raw.npy")
    if result.depth is not None:
        written += outputs.write_depth(out, "depth", result.depth, args.depth_range)
        if result.cloud is not None:
            written.append(outputs.write_ply(out / "points.ply", result.cloud))
            written.append(outputs.render_cloud(out / "points_view.png", result.cloud))
        else:
            print(
                "depth-ros predict: no intrinsics (--camera-info or --fx): no points.ply",
                file=sys.stderr,
            )
    else:
        np.save(out / "relative.npy", result.prediction)
        written.append(out / "relative.npy")
        written.append(
            outputs.write_png(out / "relative_color.png", outputs.colorize(result.prediction))
        )
    if result.confidence is not None:
        np.save(out / "confidence.npy", result.confidence)
        written.append(out / "confidence.npy")
    if result.normals is not None:
        np.save(out / "normals.npy", result.normals)
        written.append(out / "normals.npy")
        shown = np.nan_to_num((result.normals + 1.0) * 127.5, nan=0).astype(np.uint8)
        written.append(outputs.write_png(out / "normals_color.png", shown))
    if result.focal_px is not None:
        info["focal_px"] = result.focal_px
        info["focal_source"] = "estimated" if result.focal_estimated else "camera_info"
    info["random_weights"] = bool(args.random_weights)
    info["outputs"] = [str(p) for p in written]
    print(json.dumps(info, indent=2))
    return 0
