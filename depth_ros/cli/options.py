"""Options shared by several subcommands, defined once.

* Calibration (``predict``, ``bag make``, ``eval``): :func:`add_calibration_options` adds
  ``--calib``, ``--camera-info``, ``--fx``/``--fy``/``--cx``/``--cy``/``--baseline``/
  ``--doffs``; :func:`calibration_from_args` turns them into cameras with one set of
  rules (``--calib`` and ``--fx`` exclude each other, and so on).
* Model and node parameters (``predict``, ``eval``, ``bag run``): :func:`add_param_option`
  adds ``-p``/``--param NAME=VALUE`` (``NAME:=VALUE``, the ``ros2 run`` spelling, too);
  :func:`typed_params` types each value against the parameter schema (the model's
  :class:`ParamSpec` s, or the node's) and refuses unknown names and bad values, naming
  the valid ones.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError
from depth_ros.core.params import ParamSpec, Value

# ---------------------------------------------------------------- calibration

#: the numbers that need --fx (dest names)
_NUMBERS = ("fy", "cx", "cy", "baseline", "doffs")


@dataclass(frozen=True)
class Calibration:
    """Cameras from the command line: the camera (mono) or left and right (stereo)."""

    left: PinholeCamera
    right: PinholeCamera | None
    source: str  # what gave them: a file name or "--fx/--baseline"
    raw: bool = False  # unrectified (Kalibr camchain, OpenCV stereoCalibrate): rectify first


def add_calibration_options(parser: argparse.ArgumentParser) -> None:
    """Add the calibration options (one group) to ``parser``."""
    g = parser.add_argument_group(
        "calibration",
        "one of: --calib FILE; --camera-info YAML (mono) or --camera-info LEFT RIGHT "
        "(stereo); --fx F [--fy --cx --cy] (+ --baseline B [--doffs D] for stereo)",
    )
    g.add_argument(
        "--calib",
        type=Path,
        metavar="FILE",
        help="calibration file: stereo YAML (numbers or left/right camera_info), Kalibr "
        "camchain, OpenCV stereoCalibrate FileStorage; a camera_info YAML for one camera",
    )
    g.add_argument(
        "--camera-info",
        type=Path,
        nargs="+",
        metavar="YAML",
        help="camera_info YAML: one (mono) or left and right (stereo, rectified)",
    )
    g.add_argument("--fx", type=float, help="focal length, pixels")
    g.add_argument("--fy", type=float, help="vertical focal length, pixels (default fx)")
    g.add_argument("--cx", type=float, help="principal point x, pixels (default: image centre)")
    g.add_argument("--cy", type=float, help="principal point y, pixels (default: image centre)")
    g.add_argument("--baseline", type=float, help="stereo baseline, metres")
    g.add_argument(
        "--doffs", type=float, help="cx_right - cx_left, pixels (Middlebury's doffs; default 0)"
    )


def calibration_given(args: argparse.Namespace) -> bool:
    """Whether any calibration option was given."""
    return bool(args.calib or args.camera_info) or any(
        getattr(args, name) is not None for name in ("fx", *_NUMBERS)
    )


def check_calibration_args(args: argparse.Namespace, stereo: bool) -> None:
    """ConfigError for calibration options that contradict each other (before any file
    or image is read)."""
    if args.calib and (args.fx is not None or args.camera_info):
        raise ConfigError(
            "--calib and --fx / --camera-info both give the calibration: give one of them"
        )
    if args.camera_info and args.fx is not None:
        raise ConfigError("give either --camera-info or --fx, not both")
    if args.fx is None:
        given = [f"--{n}" for n in _NUMBERS if getattr(args, n) is not None]
        if given:
            verb = "need" if len(given) > 1 else "needs"
            raise ConfigError(f"{', '.join(given)} {verb} --fx (the focal length in pixels)")
    if args.camera_info:
        want = 2 if stereo else 1
        if len(args.camera_info) != want:
            raise ConfigError(
                "stereo needs two --camera-info files: left and right"
                if stereo
                else "a monocular camera takes one --camera-info file"
            )
    if stereo and args.fx is not None and args.baseline is None:
        raise ConfigError("--fx needs --baseline for stereo depth")
    if not stereo and (args.baseline is not None or args.doffs is not None):
        raise ConfigError(
            "--baseline and --doffs are for stereo pairs; one camera takes --fx [--fy --cx --cy]"
        )


def calibration_from_args(
    args: argparse.Namespace, width: int, height: int, *, stereo: bool, frame_id: str = ""
) -> Calibration | None:
    """The cameras the calibration options give for ``width`` x ``height`` images, or
    None when none was given. Implausible numbers warn (core.calibration)."""
    from depth_ros.core import calibration

    check_calibration_args(args, stereo)
    if args.calib:
        if stereo:
            left, right = calibration.read_stereo_calibration(
                args.calib, frame_id, image_size=(width, height)
            )
            raw = calibration.is_raw_stereo_calibration(args.calib)
            return Calibration(left, right, str(args.calib), raw)
        return Calibration(calibration.read_camera(args.calib, frame_id), None, str(args.calib))
    if args.camera_info:
        if stereo:
            first, second = args.camera_info
            pair = calibration.read_stereo_pair(first, second, frame_id)
            return Calibration(*pair, f"{first} + {second}")
        camera = calibration.read_camera(args.camera_info[0], frame_id)
        return Calibration(camera, None, str(args.camera_info[0]))
    if args.fx is None:
        return None
    source = "--fx/--baseline" if stereo else "--fx"
    camera, other = calibration.cameras_from_numbers(
        width,
        height,
        args.fx,
        fy=args.fy,
        cx=args.cx,
        cy=args.cy,
        baseline=args.baseline if stereo else None,
        doffs=args.doffs or 0.0,
        frame_id=frame_id,
        source=source,
    )
    return Calibration(camera, other, source)


# ---------------------------------------------------------------- parameters

_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def add_param_option(parser: argparse.ArgumentParser, example: str) -> None:
    """Add ``-p``/``--param NAME=VALUE`` (repeatable) to ``parser``."""
    parser.add_argument(
        "-p",
        "--param",
        dest="param",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help=f"a parameter (repeatable; NAME:=VALUE too), typed and checked against the "
        f"parameter's declaration (`depth-ros params`), e.g. -p {example}",
    )


def split_param(text: str) -> tuple[str, str]:
    """``NAME=VALUE`` or ``NAME:=VALUE`` → (name, value text)."""
    name, sep, value = text.partition(":=")
    if not sep:
        name, sep, value = text.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ConfigError(f"-p/--param takes NAME=VALUE (or NAME:=VALUE), got {text!r}")
    return name, value.strip()


def parse_value(spec: ParamSpec, text: str) -> Value:
    """``text`` as a value of ``spec``'s type, checked against its range and choices."""
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        text = text[1:-1]  # quoted as in YAML
    want = spec.type
    value: Value
    try:
        if want is bool:
            low = text.lower()
            if low not in _TRUE + _FALSE:
                raise ValueError
            value = low in _TRUE
        elif want is int:
            value = int(text)
        elif want is float:
            value = float(text)
        else:
            value = text
    except ValueError:
        raise ConfigError(
            f"parameter {spec.name} takes a {want.__name__}, got {text!r}: {spec.describe()}"
        ) from None
    reason = spec.validate(value)
    if reason:
        raise ConfigError(f"{reason}: {spec.describe()}")
    return value


def typed_params(
    texts: Sequence[str],
    specs: Mapping[str, ParamSpec],
    owner: str,
    ignore: Sequence[str] = (),
) -> dict[str, Value]:
    """The ``-p`` values typed against ``specs`` (the parameters of ``owner``, e.g.
    ``model 'sgbm'``); ConfigError for an unknown name, listing the valid ones, or a
    value of the wrong type or out of range. Names in ``ignore`` pass as YAML values."""
    out: dict[str, Value] = {}
    for text in texts:
        name, value = split_param(text)
        spec = specs.get(name)
        if spec is None and name in ignore:
            out[name] = yaml_value(value)
            continue
        if spec is None:
            valid = ", ".join(sorted(specs)) or "(none)"
            raise ConfigError(f"unknown parameter {name!r} for {owner}; valid: {valid}")
        out[name] = parse_value(spec, value)
    return out


def yaml_value(text: str) -> Value:
    """A parameter value as ``ros2 run -p`` reads it (YAML scalar), where no schema types
    it."""
    import yaml

    try:
        parsed = yaml.safe_load(text) if text else ""
    except yaml.YAMLError:
        return text
    return parsed if isinstance(parsed, (bool, int, float, str)) else text


def model_params(texts: Sequence[str], model_id: str) -> dict[str, Value]:
    """``-p`` values for a model (``predict``, ``eval``): typed against its ParamSpecs."""
    if not texts:
        return {}
    from depth_ros.core.models import get_model

    specs = {s.name: s for s in get_model(model_id).params}
    return typed_params(texts, specs, f"model {model_id!r}")
