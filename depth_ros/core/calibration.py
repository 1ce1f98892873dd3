"""Reading camera calibration files into :class:`~depth_ros.core.camera.PinholeCamera`.

Two formats:

* **camera_info YAML**, as written by ``camera_calibration_parsers`` (and the ROS
  ``camera_calibration`` tool, OpenCV's ``%YAML:1.0`` flavour included)::

      image_width: 640
      image_height: 480
      camera_name: left
      camera_matrix: {rows: 3, cols: 3, data: [fx, 0, cx, 0, fy, cy, 0, 0, 1]}
      distortion_model: plumb_bob
      distortion_coefficients: {rows: 1, cols: 5, data: [k1, k2, t1, t2, k3]}
      rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
      projection_matrix: {rows: 3, cols: 4, data: [fx, 0, cx, Tx, 0, fy, cy, 0, 0, 0, 1, 0]}

* **stereo YAML** (for ``depth-ros bag make --stereo``), either a rectified pair given by
  its numbers (``fy`` defaults to ``fx``; ``doffs`` = cx_right - cx_left, default 0)::

      width: 741
      height: 500
      fx: 994.978
      cx: 311.193
      cy: 254.877
      baseline: 0.193001   # metres
      doffs: 31.086

  or two camera_info files (paths relative to the stereo file) or mappings::

      left: left.yaml
      right: right.yaml

A mono ``--calib`` file is a camera_info YAML, or the numbers above without ``baseline``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError

_IDENTITY3 = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)

# camera_info key → (rows, cols); cols None = any length (distortion)
_MATRICES: dict[str, tuple[int, int | None]] = {
    "camera_matrix": (3, 3),
    "distortion_coefficients": (1, None),
    "rectification_matrix": (3, 3),
    "projection_matrix": (3, 4),
}


def _load_yaml(text: str, source: str) -> Any:
    import yaml

    # OpenCV FileStorage writes "%YAML:1.0" (not valid YAML) and tags matrices.
    text = re.sub(r"^%YAML:1\.0[^\n]*\n", "", text.lstrip("\ufeff"))
    text = text.replace("!!opencv-matrix", "")
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise CalibrationError(f"{source} is not valid YAML: {exc}") from None


def _read_text(path: str | Path) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise CalibrationError(f"cannot read calibration file {path}: {exc.strerror}") from None


def _number(value: Any, key: str, source: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise CalibrationError(f"{source}: {key} must be a number, got {value!r}")
    out = float(value)
    if not math.isfinite(out):
        raise CalibrationError(f"{source}: {key} must be finite, got {value!r}")
    return out


def _size(data: Mapping[str, Any], key: str, source: str) -> int:
    if key not in data:
        raise CalibrationError(f"{source}: missing key {key!r} (image size in pixels)")
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise CalibrationError(f"{source}: {key} must be a positive integer, got {value!r}")
    return value


def _matrix(data: Mapping[str, Any], key: str, source: str) -> tuple[float, ...]:
    rows, cols = _MATRICES[key]
    if key not in data:
        raise CalibrationError(f"{source}: missing key {key!r}")
    entry = data[key]
    if not isinstance(entry, Mapping) or "data" not in entry:
        raise CalibrationError(
            f"{source}: {key} must be a mapping with rows, cols and data, got {entry!r}"
        )
    values = entry["data"]
    if not isinstance(values, list):
        raise CalibrationError(f"{source}: {key}.data must be a list, got {values!r}")
    floats = tuple(_number(v, f"{key}.data", source) for v in values)
    want_rows = entry.get("rows", rows)
    want_cols = entry.get("cols", cols if cols is not None else len(floats))
    if not isinstance(want_rows, int) or not isinstance(want_cols, int):
        raise CalibrationError(f"{source}: {key}.rows and .cols must be integers")
    if cols is not None and (want_rows, want_cols) != (rows, cols):
        raise CalibrationError(
            f"{source}: {key} is {want_rows}x{want_cols}, expected {rows}x{cols}"
        )
    if len(floats) != want_rows * want_cols:
        raise CalibrationError(
            f"{source}: {key} has {len(floats)} values, expected "
            f"{want_rows}x{want_cols} = {want_rows * want_cols}"
        )
    return floats


def camera_from_dict(
    data: Any, source: str = "camera_info", frame_id: str = ""
) -> PinholeCamera:
    """A camera from a parsed camera_info YAML mapping (camera_calibration_parsers keys)."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{source}: expected a mapping of calibration keys, got {data!r}")
    width = _size(data, "image_width", source)
    height = _size(data, "image_height", source)
    k = _matrix(data, "camera_matrix", source)
    d: tuple[float, ...] = ()
    if "distortion_coefficients" in data:
        d = _matrix(data, "distortion_coefficients", source)
    r = _matrix(data, "rectification_matrix", source) if "rectification_matrix" in data else None
    if "projection_matrix" in data:
        p = _matrix(data, "projection_matrix", source)
    else:  # no rectification: P = [K | 0]
        p = (*k[0:3], 0.0, *k[3:6], 0.0, *k[6:9], 0.0)
    model = data.get("distortion_model", "plumb_bob" if len(d) in (0, 5) else "rational_polynomial")
    if not isinstance(model, str):
        raise CalibrationError(f"{source}: distortion_model must be a string, got {model!r}")
    camera = PinholeCamera(
        width=width,
        height=height,
        k=k,
        p=p,
        d=d,
        r=r if r is not None else _IDENTITY3,
        distortion_model=model,
        frame_id=frame_id,
    )
    _check(camera, source)
    return camera


def _check(camera: PinholeCamera, source: str) -> None:
    try:
        camera.validate()
    except CalibrationError as exc:
        raise CalibrationError(f"{source}: {exc}") from None


def read_camera_info_yaml(
    text: str, source: str = "camera_info YAML", frame_id: str = ""
) -> PinholeCamera:
    """Parse camera_info YAML text (camera_calibration_parsers format)."""
    return camera_from_dict(_load_yaml(text, source), source, frame_id)


def _simple_camera(
    data: Mapping[str, Any], source: str, frame_id: str
) -> tuple[PinholeCamera, float | None, float]:
    """(left camera, baseline or None, doffs) from the numeric format."""
    for key in ("fx", "cx", "cy"):
        if key not in data:
            raise CalibrationError(f"{source}: missing key {key!r} (pixels)")
    width = _size(data, "width", source)
    height = _size(data, "height", source)
    fx = _number(data["fx"], "fx", source)
    fy = _number(data.get("fy", fx), "fy", source)
    cx = _number(data["cx"], "cx", source)
    cy = _number(data["cy"], "cy", source)
    baseline = _number(data["baseline"], "baseline", source) if "baseline" in data else None
    doffs = _number(data.get("doffs", 0.0), "doffs", source)
    camera = PinholeCamera.from_intrinsics(width, height, fx, fy, cx, cy, frame_id=frame_id)
    _check(camera, source)
    return camera, baseline, doffs


def read_camera(path: str | Path, frame_id: str = "") -> PinholeCamera:
    """A mono camera from a camera_info YAML file, or the numeric format (no baseline)."""
    source = str(path)
    data = _load_yaml(_read_text(path), source)
    if isinstance(data, Mapping) and "camera_matrix" not in data and "fx" in data:
        return _simple_camera(data, source, frame_id)[0]
    return camera_from_dict(data, source, frame_id)


def stereo_cameras(
    width: int,
    height: int,
    fx: float,
    cx: float,
    cy: float,
    baseline: float,
    doffs: float = 0.0,
    fy: float | None = None,
    frame_id: str = "",
) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras of a rectified pair: right P[0,3] = -fx * baseline and
    cx_right = cx_left + doffs. Both share ``frame_id`` (the left camera's frame)."""
    fy = fx if fy is None else fy
    if not baseline > 0.0:
        raise CalibrationError(f"stereo baseline must be > 0 metres, got {baseline}")
    left = PinholeCamera.from_intrinsics(width, height, fx, fy, cx, cy, 0.0, frame_id)
    right = PinholeCamera.from_intrinsics(
        width, height, fx, fy, cx + doffs, cy, -fx * baseline, frame_id
    )
    return left, right


def _stereo_side(value: Any, base: Path, source: str, side: str, frame_id: str) -> PinholeCamera:
    if isinstance(value, str):
        path = Path(value) if Path(value).is_absolute() else base / value
        return read_camera(path, frame_id)
    return camera_from_dict(value, f"{source} ({side})", frame_id)


def read_stereo_calibration(
    path: str | Path, frame_id: str = ""
) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras from a stereo YAML file (see module doc)."""
    source = str(path)
    data = _load_yaml(_read_text(path), source)
    return stereo_from_dict(data, source, Path(path).parent, frame_id)


def stereo_from_dict(
    data: Any, source: str = "stereo calibration", base: Path | None = None, frame_id: str = ""
) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras from a parsed stereo YAML mapping."""
    if not isinstance(data, Mapping):
        raise CalibrationError(f"{source}: expected a mapping of calibration keys, got {data!r}")
    if "left" in data or "right" in data:
        if "left" not in data or "right" not in data:
            raise CalibrationError(f"{source}: needs both 'left' and 'right' camera_info")
        base = base if base is not None else Path.cwd()
        left = _stereo_side(data["left"], base, source, "left", frame_id)
        right = _stereo_side(data["right"], base, source, "right", frame_id)
        if (left.width, left.height) != (right.width, right.height):
            raise CalibrationError(
                f"{source}: left is {left.width}x{left.height} but right is "
                f"{right.width}x{right.height}; a rectified pair has one size"
            )
        if right.tx == 0.0:
            raise CalibrationError(
                f"{source}: right projection_matrix has P[0,3] = 0; a rectified right camera "
                "needs P[0,3] = -fx * baseline (metres)"
            )
        return left, right
    camera, baseline, doffs = _simple_camera(data, source, frame_id)
    if baseline is None:
        raise CalibrationError(
            f"{source}: missing key 'baseline' (metres), or 'left' and 'right' camera_info"
        )
    try:
        return stereo_cameras(
            camera.width,
            camera.height,
            camera.fx,
            camera.cx,
            camera.cy,
            baseline,
            doffs,
            camera.fy,
            frame_id,
        )
    except CalibrationError as exc:
        raise CalibrationError(f"{source}: {exc}") from None


def camera_to_yaml(camera: PinholeCamera, name: str = "camera") -> str:
    """camera_info YAML text for ``camera`` (camera_calibration_parsers layout)."""

    def mat(rows: int, cols: int, values: tuple[float, ...]) -> str:
        data = ", ".join(repr(float(v)) for v in values)
        return f"\n  rows: {rows}\n  cols: {cols}\n  data: [{data}]"

    return (
        f"image_width: {camera.width}\nimage_height: {camera.height}\ncamera_name: {name}\n"
        f"camera_matrix:{mat(3, 3, camera.k)}\n"
        f"distortion_model: {camera.distortion_model}\n"
        f"distortion_coefficients:{mat(1, len(camera.d), camera.d)}\n"
        f"rectification_matrix:{mat(3, 3, camera.r)}\n"
        f"projection_matrix:{mat(3, 4, camera.p)}\n"
    )
