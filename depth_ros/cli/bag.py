"""``depth-ros bag``: rosbag2 tools. Actions are sub-subcommands listed in ``ACTIONS``.

``depth-ros bag make`` writes a bag of images and camera_info that ``ros2 bag play``
accepts, from a stereo pair of folders, a mono folder, or the embedded sample::

    depth-ros bag make --stereo left/ right/ --calib stereo.yaml --output stereo_bag
    depth-ros bag make --mono images/ --calib camera.yaml --output mono_bag --rate 5
    depth-ros bag make --sample motorcycle --output moto_bag --frames 10

``depth-ros bag run`` plays a bag through a depth node over DDS and records its outputs::

    depth-ros bag run moto_bag --node stereo_depth --model sgbm --output moto_depth

Adding an action: a function ``_register_<name>(actions)`` that adds a parser with a
``func`` default, and its entry in ``ACTIONS``.
"""

from __future__ import annotations

import argparse
import itertools
import re
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.cli import options
from depth_ros.core.errors import InputError
from depth_ros.core.imagefile import IMAGE_SUFFIXES

DEFAULT_FRAME_ID = "camera_optical_frame"
DEFAULT_START_S = 1_700_000_000.0  # a plausible wall-clock epoch (stamp 0 means "unset")


def register(subparsers: Any) -> None:
    """Add the ``bag`` command (``make`` and ``run``) to the CLI's subparsers."""
    parser = subparsers.add_parser(
        "bag",
        help="rosbag2 tools (make a bag from images, run a bag through a node)",
        description="rosbag2 tools.",
    )
    actions = parser.add_subparsers(dest="bag_command", required=True, metavar="ACTION")
    for _name, add in ACTIONS:
        add(actions)


# ---------------------------------------------------------------- make


def _register_make(actions: Any) -> None:
    p = actions.add_parser(
        "make",
        help="write a rosbag2 of images and camera_info",
        description=(
            "Write a rosbag2 of rectified images and camera_info (image_pipeline topic names) "
            "that `ros2 bag play` accepts. Stereo: <ns>/left/image_rect, <ns>/left/camera_info, "
            "<ns>/right/image_rect, <ns>/right/camera_info. Mono: <ns>/image, <ns>/camera_info. "
            "Images are rgb8, or mono8 for grey inputs (16-bit and float files are converted "
            "as predict does); files are taken in natural name order."
        ),
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument(
        "--stereo",
        nargs=2,
        metavar=("LEFT_DIR", "RIGHT_DIR"),
        type=Path,
        help="folders of rectified left and right images (paired in name order)",
    )
    src.add_argument("--mono", metavar="DIR", type=Path, help="folder of images")
    src.add_argument("--sample", metavar="NAME", help="an embedded stereo sample (motorcycle)")
    options.add_calibration_options(p)
    p.add_argument(
        "--output", "-o", metavar="BAG", type=Path, required=True, help="output bag directory"
    )
    p.add_argument(
        "--format",
        choices=("mcap", "sqlite3"),
        default="mcap",
        help="storage format (default: mcap)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=10.0,
        metavar="HZ",
        help="frames per second of the stamps (default: 10)",
    )
    p.add_argument(
        "--frame-id",
        default=DEFAULT_FRAME_ID,
        metavar="ID",
        help=f"header frame_id of all messages (default: {DEFAULT_FRAME_ID})",
    )
    p.add_argument("--namespace", default="", metavar="NS", help="topic namespace (default: none)")
    p.add_argument(
        "--frames",
        type=int,
        metavar="N",
        help="sample: number of copies (default 5); folders: use the first N",
    )
    p.add_argument(
        "--start",
        type=float,
        default=DEFAULT_START_S,
        metavar="SEC",
        help=f"stamp of the first frame, seconds since epoch (default {DEFAULT_START_S:.0f})",
    )
    p.add_argument("--clock", action="store_true", help="also write /clock messages")
    p.add_argument("--force", action="store_true", help="overwrite an existing output bag")
    p.add_argument("--quiet", "-q", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=run_make)


def topic_names(namespace: str, stereo: bool) -> dict[str, str]:
    """Topic names by role (left_image, left_info, right_image, right_info | image, info)."""
    ns = "/" + namespace.strip("/") if namespace.strip("/") else ""
    if stereo:
        return {
            "left_image": f"{ns}/left/image_rect",
            "left_info": f"{ns}/left/camera_info",
            "right_image": f"{ns}/right/image_rect",
            "right_info": f"{ns}/right/camera_info",
        }
    return {"image": f"{ns}/image", "info": f"{ns}/camera_info"}


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", path.name)]


def list_images(folder: Path) -> list[Path]:
    """Image files of ``folder`` in natural name order (2.png before 10.png)."""
    if not folder.is_dir():
        raise InputError(f"image folder {folder} does not exist or is not a folder")
    files = [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise InputError(f"no images in {folder} (looked for {', '.join(IMAGE_SUFFIXES)})")
    return sorted(files, key=_natural_key)


def load_image(path: Path) -> NDArray[np.uint8]:
    """An image file as 8-bit RGB (H, W, 3), or (H, W) for grey files; 16-bit and float
    files are converted as ``predict`` does (:mod:`depth_ros.core.imagefile`)."""
    from depth_ros.core.imagefile import read_image8

    return read_image8(path)


def _stamps(start_s: float, rate: float) -> Iterator[int]:
    """Stamps (ns) from ``start_s`` at ``rate`` Hz; checks its arguments at once."""
    if not rate > 0.0:
        raise InputError(f"--rate must be > 0 Hz, got {rate}")
    if start_s < 0.0:
        raise InputError(f"--start must be >= 0 s, got {start_s}")
    start = round(start_s * 1e9)
    period = round(1e9 / rate)
    if period <= 0:
        raise InputError(f"--rate {rate} Hz is too high for nanosecond stamps")
    return (start + i * period for i in itertools.count())


def _frames(args: argparse.Namespace) -> tuple[dict[str, str], int, Iterator[dict[str, Any]]]:
    """(topics, frame count, iterator of {role: array or camera}) for the chosen source.
    The calibration is read with the first image (its size serves --fx and OpenCV files
    without one), so every error comes at the first ``next``, before the bag is created."""
    frame_id = args.frame_id
    if args.frames is not None and args.frames < 1:
        raise InputError(f"--frames must be >= 1, got {args.frames}")
    if args.sample is not None:
        from depth_ros.core.eval.samples import load_sample

        if options.calibration_given(args):
            raise InputError(
                "--calib, --camera-info and --fx do not apply to --sample (the sample has its own)"
            )
        sample = load_sample(args.sample, frame_id)
        n = 5 if args.frames is None else args.frames
        frame = {
            "left_image": sample.left,
            "left_info": sample.left_camera,
            "right_image": sample.right,
            "right_info": sample.right_camera,
        }
        return topic_names(args.namespace, True), n, iter([frame] * n)
    stereo = args.stereo is not None
    if not options.calibration_given(args):
        raise InputError(
            "a calibration is required with --stereo and --mono: --calib FILE, "
            + (
                "--camera-info LEFT RIGHT, or --fx F --baseline B"
                if stereo
                else "--camera-info YAML, or --fx F"
            )
        )
    options.check_calibration_args(args, stereo)

    def cameras(width: int, height: int) -> options.Calibration:
        calib = options.calibration_from_args(args, width, height, stereo=stereo, frame_id=frame_id)
        assert calib is not None  # calibration_given
        return calib

    if stereo:
        left_dir, right_dir = args.stereo
        lefts, rights = list_images(left_dir), list_images(right_dir)
        if len(lefts) != len(rights):
            raise InputError(
                f"{left_dir} has {len(lefts)} images but {right_dir} has {len(rights)}; "
                "stereo folders must hold one right image per left image"
            )
        pairs = list(zip(lefts, rights, strict=True))[: args.frames]

        def stereo_frames() -> Iterator[dict[str, Any]]:
            calib: options.Calibration | None = None
            for lpath, rpath in pairs:
                left, right = load_image(lpath), load_image(rpath)
                if left.shape[:2] != right.shape[:2]:
                    raise InputError(
                        f"{lpath.name} is {left.shape[1]}x{left.shape[0]} but {rpath.name} is "
                        f"{right.shape[1]}x{right.shape[0]}; a rectified pair has one size"
                    )
                calib = calib or cameras(left.shape[1], left.shape[0])
                calib.left.validate(left.shape[1], left.shape[0])
                yield {
                    "left_image": left,
                    "left_info": calib.left,
                    "right_image": right,
                    "right_info": calib.right,
                }

        return topic_names(args.namespace, True), len(pairs), stereo_frames()
    files = list_images(args.mono)[: args.frames]

    def mono_frames() -> Iterator[dict[str, Any]]:
        calib: options.Calibration | None = None
        for path in files:
            image = load_image(path)
            calib = calib or cameras(image.shape[1], image.shape[0])
            calib.left.validate(image.shape[1], image.shape[0])
            yield {"image": image, "info": calib.left}

    return topic_names(args.namespace, False), len(files), mono_frames()


def run_make(args: argparse.Namespace) -> int:
    """``depth-ros bag make``: write the image (pair) files and their calibration to a rosbag2; exit
    status 0."""
    from tqdm import tqdm

    from depth_ros.core.bags import BagWriter
    from depth_ros.core.camera import PinholeCamera

    topics, count, frames = _frames(args)
    stamps = _stamps(args.start, args.rate)
    first = next(frames)  # read and check the first frame before creating the bag
    bar = tqdm(
        total=count,
        unit="frame",
        desc=f"bag make {args.output.name}",
        disable=True if args.quiet else None,
    )
    written = 0
    writer = BagWriter(args.output, args.format, overwrite=args.force)
    writer.open()
    done = False
    try:
        for frame, stamp in zip(itertools.chain([first], frames), stamps, strict=False):
            if args.clock:
                writer.write_clock(stamp)
            for role, value in frame.items():  # left and right of a pair share the stamp
                if isinstance(value, PinholeCamera):
                    writer.write_camera_info(topics[role], stamp, value, args.frame_id)
                else:
                    writer.write_image(topics[role], stamp, value, args.frame_id)
            written += 1
            bar.update(1)
        done = True
    finally:
        bar.close()
        writer.close()
        if not done:  # no half-written bag left behind (we created the folder)
            shutil.rmtree(args.output, ignore_errors=True)
    if not args.quiet:
        span = (written - 1) / args.rate if written else 0.0
        print(
            f"wrote {args.output} ({args.format}): {written} frames at {args.rate:g} Hz "
            f"({span:.3f} s), topics {', '.join(topics.values())}",
            file=sys.stderr,
        )
    return 0


# ---------------------------------------------------------------- run


def _register_run(actions: Any) -> None:
    p = actions.add_parser(
        "run",
        help="play a bag through a depth node over DDS and record its outputs",
        description=(
            "Play BAG through a depth node (its own process, over DDS, use_sim_time with "
            "/clock from the bag's header stamps) and record what it publishes (disparity, "
            "depth, camera_info, point clouds) to a new rosbag2. Each frame is delivered "
            "reliably and the player waits for its outputs before the next, so no frame is "
            "dropped however slow the model; reports frames in and out."
        ),
    )
    p.add_argument("bag", metavar="BAG", type=Path, help="input bag (e.g. from `bag make`)")
    p.add_argument(
        "--node", default="stereo_depth", help="stereo_depth (default), mono_depth or fused_depth"
    )
    p.add_argument(
        "--model", metavar="ID", help="load the profile config/<ID>.yaml (and set model:=ID)"
    )
    p.add_argument(
        "--params",
        metavar="FILE",
        type=Path,
        action="append",
        default=[],
        help="ROS 2 parameters file for the node (after the profile; repeatable)",
    )
    options.add_param_option(p, "disparity_range=128")
    p.add_argument(
        "--weights-dir",
        metavar="DIR",
        default="",
        help="folder of the weights file named in the profile",
    )
    p.add_argument(
        "--output", "-o", metavar="OUT_BAG", type=Path, required=True, help="output bag directory"
    )
    p.add_argument(
        "--format",
        choices=("mcap", "sqlite3"),
        default="mcap",
        help="storage format of the output (default: mcap)",
    )
    p.add_argument(
        "--rate",
        type=float,
        default=1.0,
        metavar="R",
        help="playback speed relative to the bag (default 1; 0 = as fast as the "
        "node goes); never faster than the node",
    )
    p.add_argument(
        "--namespace",
        metavar="NS",
        help="namespace of the input topics (default: found in the bag)",
    )
    p.add_argument(
        "--frame-timeout",
        type=float,
        default=60.0,
        metavar="SEC",
        help="longest wait for one frame's outputs (default 60)",
    )
    p.add_argument(
        "--startup-timeout",
        type=float,
        default=60.0,
        metavar="SEC",
        help="longest wait for the node to come up (default 60)",
    )
    p.add_argument("--force", action="store_true", help="overwrite an existing output bag")
    p.add_argument("--quiet", "-q", action="store_true", help="no summary")
    p.set_defaults(func=run_run)


def _node_values(args: argparse.Namespace, node: str, model: str, values: dict[str, Any]) -> Any:
    """The -p values typed against the schema of ``node`` running ``model`` (with the
    scale source the values choose); YAML values where the node has no schema."""
    from depth_ros.core import profiles

    raw = dict(options.split_param(t) for t in args.param)
    source = raw.get("scale_source") or str(values.get("scale_source", "none"))
    specs = profiles.node_params(node, model, {"scale_source": source})
    if specs is None:
        return {name: options.yaml_value(value) for name, value in raw.items()}
    owner = f"{node} with model {model!r}"
    return options.typed_params(args.param, specs, owner, ignore=("use_sim_time",))


def _check_weights(model: str, weights: str) -> None:
    """A WeightsError now, not after the node's start-up, for a weights path that does
    not exist (the error the model's loader gives). Models without weights pass; an
    empty path is the node's to resolve (its cache or a download)."""
    from depth_ros.core.models import get_model
    from depth_ros.core.models.checkpoints import require_file

    spec = get_model(model)
    if spec.needs_weights and weights and not Path(weights).expanduser().exists():
        require_file(
            weights,
            what=f"{spec.description} weights",
            source=spec.weights_source,
            default_name=spec.weights_file,
        )


def run_params(args: argparse.Namespace) -> tuple[list[Path], dict[str, Any], str]:
    """(parameters files, parameters, model) for the node, checked against its schema."""
    from depth_ros.core import profiles
    from depth_ros.core.backends import AUTO, resolve_backend
    from depth_ros.core.catalogue import NODES, node_info

    node = node_info(args.node).name
    files: list[Path] = []
    params: dict[str, Any] = {}
    values: dict[str, Any] = {}
    if args.model:
        profiles.check_model_for_node(node, args.model)
        profile = profiles.load_profile(args.model)
        files.append(profile.path)
        values.update(profile.params)
        params["model"] = args.model
    for f in args.params:
        if not Path(f).is_file():
            raise InputError(f"parameters file {f} does not exist")
        values.update(profiles.read_params_file(f, node))
        files.append(Path(f))
    chosen = dict(options.split_param(t) for t in args.param).get("model")
    model = str(chosen or params.get("model") or values.get("model") or "")  # -p, --model, files
    model = model or NODES[node].default_model
    profiles.check_model_for_node(node, model)
    params.update(_node_values(args, node, model, values))
    values.update(params)
    if args.weights_dir or values.get("weights"):
        weights = profiles.resolve_weights_path(
            model, str(values.get("weights", "")), "", args.weights_dir
        )
        if weights:
            params["weights"] = values["weights"] = weights
            backend = resolve_backend(str(values.get("backend", AUTO)), weights)
            params["backend"] = values["backend"] = backend
    profiles.check_params(node, model, values, "parameters of bag run")
    _check_weights(model, str(values.get("weights", "")))
    return files, params, model


def run_run(args: argparse.Namespace) -> int:
    """``depth-ros bag run``: play a bag through a node on a private DDS domain and record its
    outputs into a new bag; exit status 0."""
    import tempfile

    from depth_ros.core.bags import bag_info
    from depth_ros.runtime import local_dds_env

    if not args.bag.exists():
        raise InputError(f"bag {args.bag} does not exist")
    if args.rate < 0:
        raise InputError(f"--rate must be >= 0, got {args.rate}")
    if args.output.exists() and not args.force:
        raise InputError(f"output bag {args.output} already exists (overwrite it with --force)")
    files, params, model = run_params(args)
    info = bag_info(args.bag)  # a clear error for a folder that is no bag, before anything
    local_dds_env()
    from depth_ros.tools.bag_player import BagRun, check_inputs

    check_inputs(info, args.node, args.namespace)  # topics and message types, likewise

    log = Path(tempfile.mkdtemp(prefix="depth_ros_bag_run_")) / f"{args.node}.log"
    runner = BagRun(
        args.node,
        args.bag,
        args.output,
        params=params,
        params_files=files,
        namespace=args.namespace,
        storage=args.format,
        overwrite=args.force,
        rate=args.rate,
        startup_timeout=args.startup_timeout,
        frame_timeout=args.frame_timeout,
        log=log,
    )
    report = runner.run()
    if not args.quiet:
        written = ", ".join(f"{t} {n}" for t, n in sorted(report.written.items())) or "nothing"
        print(
            f"bag run {args.node} ({model}): {report.frames_in} frames in, "
            f"{report.frames_out} out in {report.wall_s:.1f} s; wrote {args.output} "
            f"({args.format}): {written}",
            file=sys.stderr,
        )
        if report.incomplete_inputs:
            print(
                f"  {report.incomplete_inputs} stamps had only some of the input topics "
                "(not frames; left and right must share a stamp)",
                file=sys.stderr,
            )
        if report.missing:
            print(
                f"  no outputs for {len(report.missing)} frames (stamps "
                f"{', '.join(str(s) for s in report.missing[:5])}); node log: {report.log}",
                file=sys.stderr,
            )
        if report.unmatched:
            print(
                f"  {report.unmatched} outputs had a stamp that is no input stamp", file=sys.stderr
            )
    if report.frames_in == 0:
        raise InputError(f"bag {args.bag} holds no complete input frame")
    return 0 if report.frames_out == report.frames_in and not report.unmatched else 1


# Sub-subcommands of ``depth-ros bag``: (name, function adding its parser).
ACTIONS: tuple[tuple[str, Callable[[Any], None]], ...] = (
    ("make", _register_make),
    ("run", _register_run),
)
