"""``depth-ros eval``: score a model on a dataset with ground truth; metrics.json,
frames.csv and a self-contained HTML report. ``--compare`` puts results side by side."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from depth_ros.cli import options
from depth_ros.core.align import ALIGN_METHODS
from depth_ros.core.errors import ConfigError, InputError


def _key_value(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key.strip(), value.strip()


def register(subparsers: Any) -> None:
    """Add the ``eval`` command (a model on a dataset with ground truth, or ``--compare``)."""
    from depth_ros.core.eval.datasets import dataset_kinds

    p = subparsers.add_parser(
        "eval",
        help="evaluate a model on a dataset with ground truth",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="dataset kinds: "
        + ", ".join(dataset_kinds())
        + "\nexample: depth-ros eval --dataset motorcycle - --model sgbm --output out/eval",
    )
    p.add_argument(
        "--dataset",
        nargs=2,
        metavar=("KIND", "PATH"),
        help="dataset kind and path ('-' for kinds without one, e.g. motorcycle)",
    )
    p.add_argument(
        "--dataset-option",
        action="append",
        type=_key_value,
        default=[],
        metavar="KEY=VALUE",
        help="reader option (e.g. depth_topic=/camera/depth)",
    )
    p.add_argument("--model", help="model ID (see depth-ros predict --list or model_ids())")
    p.add_argument("--weights", type=Path, help="weights file of a learned model")
    p.add_argument("--backend", help="inference backend (default: from the weights file)")
    p.add_argument("--device", default="cpu", help="device (default cpu)")
    p.add_argument("--input-size", type=int, help="network input size (monocular models)")
    options.add_param_option(p, "disparity_range=128")
    options.add_calibration_options(p)
    p.add_argument(
        "--align",
        choices=ALIGN_METHODS,
        help="depth alignment (default: the model's published protocol: lstsq for Marigold, "
        "lstsq-inverse for the other relative models, none for metric ones)",
    )
    p.add_argument("--min-depth", type=float, default=1e-3, help="metres (default 0.001)")
    p.add_argument(
        "--max-depth",
        type=float,
        help="cap in metres (default: the dataset's or model's convention)",
    )
    p.add_argument("--limit", type=int, metavar="N", help="evaluate the first N frames only")
    p.add_argument("--output", "-o", type=Path, help="output folder (default out/eval/MODEL_KIND)")
    p.add_argument(
        "--compare",
        nargs="+",
        type=Path,
        metavar="JSON",
        help="print the aggregate metrics of metrics.json files side by side",
    )
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar")
    p.set_defaults(func=run)


def _with_calibration(dataset: Any, args: argparse.Namespace) -> Any:
    """``dataset`` with the calibration options' cameras in every frame (for datasets
    that publish none, e.g. Middlebury 2003, or to replace theirs): stereo frames get the
    geometry and their GT depth from the GT disparity, RGB-D frames the camera."""
    import dataclasses

    from depth_ros.core.eval.datasets.base import Modality, StereoFrame
    from depth_ros.core.geometry import disparity_to_depth

    if not options.calibration_given(args):
        return dataset
    stereo = dataset.modality is Modality.STEREO
    options.check_calibration_args(args, stereo)
    by_size: dict[tuple[int, int], options.Calibration] = {}  # read (and warned about) once

    def calibrated(load: Any) -> Any:
        def loader() -> Any:
            from depth_ros.core.camera import StereoGeometry

            frame = load()
            h, w = frame.rgb.shape[:2]
            if (w, h) not in by_size:
                calib = options.calibration_from_args(args, w, h, stereo=stereo)
                assert calib is not None  # calibration_given
                if calib.raw:
                    raise ConfigError(
                        f"{calib.source} describes unrectified cameras; evaluation frames are "
                        "rectified: give their rectified calibration"
                    )
                calib.left.validate(w, h)
                by_size[w, h] = calib
            calib = by_size[w, h]
            if isinstance(frame, StereoFrame):
                assert calib.right is not None
                geometry = StereoGeometry.from_cameras(calib.left, calib.right)
                depth = frame.depth
                if frame.disparity is not None:
                    depth = disparity_to_depth(frame.disparity, geometry)
                return dataclasses.replace(frame, geometry=geometry, camera=calib.left, depth=depth)
            return dataclasses.replace(frame, camera=calib.left)

        return loader

    note = "calibration from the command line (--calib / --camera-info / --fx)"
    return dataclasses.replace(
        dataset,
        loaders=[calibrated(load) for load in dataset.loaders],
        notes=[*dataset.notes, note],
    )


def _compare(paths: list[Path]) -> int:
    from depth_ros.core.eval.report import compare_table

    docs = []
    for path in paths:
        if path.is_dir():
            path = path / "metrics.json"
        try:
            docs.append(json.loads(path.read_text()))
        except FileNotFoundError:
            raise InputError(f"{path}: no such metrics.json") from None
        except json.JSONDecodeError as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
    labels = [p.parent.name if p.name == "metrics.json" else p.stem for p in paths]
    print(compare_table(docs, labels))
    return 0


def run(args: argparse.Namespace) -> int:
    """``eval``: evaluate and save metrics.json, frames.csv and report.html, or print the comparison
    table of ``--compare``; exit status 0."""
    if args.compare:
        return _compare(list(args.compare))
    if not args.dataset or not args.model:
        raise ConfigError("give --dataset KIND PATH and --model ID (or --compare A.json B.json)")
    from depth_ros.core.eval.datasets import open_dataset
    from depth_ros.core.eval.evaluation import evaluate
    from depth_ros.core.eval.report import save_results
    from depth_ros.core.models import ModelConfig

    kind, path = args.dataset
    outdir = args.output or Path("out/eval") / f"{args.model}_{kind}"
    if outdir.exists() and not outdir.is_dir():  # before the (long) evaluation
        raise InputError(f"--output {outdir} is an existing file, not a folder: give a folder")
    dataset = open_dataset(kind, path, dict(args.dataset_option)).limit(args.limit)
    dataset = _with_calibration(dataset, args)
    config = ModelConfig(
        weights=args.weights,
        backend=args.backend,
        device=args.device,
        input_size=args.input_size,
        params=options.model_params(args.param, args.model),
    )
    result = evaluate(
        args.model,
        dataset,
        config,
        args.align,
        args.min_depth,
        args.max_depth,
        progress=not args.quiet,
    )
    paths = save_results(result, outdir)
    agg = result.aggregate
    shown = [
        k
        for k in (
            "bad_1",
            "bad_2",
            "bad_3",
            "epe",
            "density",
            "abs_rel",
            "rmse",
            "delta1",
            "seconds_per_frame",
        )
        if k in agg
    ]
    print(
        f"{args.model} on {kind} ({len(result.frames)} frames, {result.target}, "
        f"align {result.align}):"
    )
    print("  " + "  ".join(f"{k}={agg[k]:.4g}" for k in shown))
    for name, p in paths.items():
        print(f"  {name}: {p}")
    sys.stdout.flush()
    return 0
