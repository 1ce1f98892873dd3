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

* **Kalibr camchain** (``camchain.yaml``: ``cam0``, ``cam1`` with ``intrinsics`` [fu, fv,
  pu, pv], ``distortion_model`` radtan or equidistant, ``distortion_coeffs``,
  ``resolution`` [w, h], ``cam1.T_cn_cnm1`` = T_cam1_cam0 in metres); unrectified, so it
  is rectified with ``cv2.stereoRectify`` (``cv2.fisheye`` for equidistant, zero disparity
  at infinity, only valid pixels) into camera_info K, D, R, P: the maps the nodes'
  ``rectify`` option and :meth:`PinholeCamera.rectify` build from them.

* **OpenCV stereoCalibrate / stereoRectify FileStorage** (``%YAML:1.0``, ``!!opencv-matrix``
  or plain lists): ``M1 D1 M2 D2 R T`` (x2 = R x1 + T, in the calibration's units: metres
  expected), rectified as the camchain unless ``R1 R2 P1 P2`` (and ``Q``) are given; the
  image size comes from ``width``/``height``, ``image_width``/``image_height`` or
  ``image_size``/``imageSize`` [w, h], else from the images (``image_size`` argument).

A mono ``--calib`` file is a camera_info YAML, or the numbers above without ``baseline``.
Numbers given on the command line (``--fx``, ``--baseline``, ...) become cameras through
:func:`cameras_from_numbers`, two camera_info files through :func:`read_stereo_pair`.
Anything else is "unrecognised calibration format; accepted: ..." naming the keys seen.
Implausible numbers (a baseline over 2 m, likely millimetres; a focal length outside 0.1
to 10 x the image width) give a :class:`CalibrationWarning` naming the likely mistake.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import CalibrationError

ACCEPTED_STEREO = (
    "numeric stereo YAML (width, height, fx, cx, cy, baseline[, fy, doffs]); "
    "a left/right pair of camera_info YAMLs (paths or mappings); "
    "a Kalibr camchain (cam0, cam1 with intrinsics, distortion_coeffs, resolution, "
    "T_cn_cnm1); an OpenCV stereoCalibrate FileStorage (M1, D1, M2, D2, R, T[, R1, R2, P1, "
    "P2, Q])"
)
ACCEPTED_MONO = (
    "camera_info YAML (image_width, image_height, camera_matrix, ...); numeric YAML "
    "(width, height, fx, cx, cy[, fy]); a Kalibr camchain (cam0)"
)
MAX_BASELINE_M = 2.0
FOCAL_RANGE = (0.1, 10.0)  # x the image width


class CalibrationWarning(UserWarning):
    """A calibration that loads but is probably wrong (units, image size)."""


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


def camera_from_dict(data: Any, source: str = "camera_info", frame_id: str = "") -> PinholeCamera:
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
    """A mono camera from a camera_info YAML file, or the numeric format (no baseline);
    implausible numbers warn (:func:`warn_implausible`)."""
    camera = _read_camera(path, frame_id)
    warn_implausible(camera, None, str(path))
    return camera


def _read_camera(path: str | Path, frame_id: str = "") -> PinholeCamera:
    source = str(path)
    data = _load_yaml(_read_text(path), source)
    if isinstance(data, Mapping) and "camera_matrix" not in data and "fx" in data:
        camera = _simple_camera(data, source, frame_id)[0]
    elif isinstance(data, Mapping) and "camera_matrix" not in data and "cam0" in data:
        camera = _kalibr_camera(data["cam0"], f"{source} (cam0)", frame_id)
    elif isinstance(data, Mapping) and "camera_matrix" not in data:
        raise _unrecognised(data, source, ACCEPTED_MONO)
    else:
        camera = camera_from_dict(data, source, frame_id)
    return camera


def _unrecognised(data: Any, source: str, accepted: str) -> CalibrationError:
    seen = (
        f"keys {', '.join(map(str, list(data)[:12]))}"
        if isinstance(data, Mapping)
        else f"a {type(data).__name__}"
    )
    return CalibrationError(
        f"{source}: unrecognised calibration format (it has {seen}); accepted: {accepted}"
    )


def calibration_problems(left: PinholeCamera, right: PinholeCamera | None = None) -> list[str]:
    """Why a calibration that loads is probably wrong: a focal length outside 0.1-10 x
    the image width, a baseline over 2 m (millimetres where metres belong)."""
    found = []
    lo, hi = FOCAL_RANGE
    for name, cam in (("left", left), ("right", right)):
        if cam is None:
            continue
        if not lo * cam.width <= cam.fx <= hi * cam.width:
            found.append(
                f"{name if right is not None else 'camera'} focal length fx = {cam.fx:g} px "
                f"is outside {lo:g}-{hi:g} x the image width ({cam.width} px): is it in "
                "pixels, and for this image size (a calibration of another resolution)?"
            )
    if right is not None:
        try:
            baseline = StereoGeometry.from_cameras(left, right).baseline
        except CalibrationError:
            baseline = 0.0
        if baseline > MAX_BASELINE_M:
            found.append(
                f"baseline {baseline:g} m is over {MAX_BASELINE_M:g} m: is the translation "
                f"in millimetres? (metres expected: that would be {baseline / 1000:g} m)"
            )
    return found


def warn_implausible(left: PinholeCamera, right: PinholeCamera | None, source: str) -> None:
    """:func:`calibration_problems` as :class:`CalibrationWarning` s."""
    for problem in calibration_problems(left, right):
        warnings.warn(f"{source}: {problem}", CalibrationWarning, stacklevel=3)


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


def cameras_from_numbers(
    width: int,
    height: int,
    fx: float,
    *,
    fy: float | None = None,
    cx: float | None = None,
    cy: float | None = None,
    baseline: float | None = None,
    doffs: float = 0.0,
    frame_id: str = "",
    source: str = "intrinsics",
) -> tuple[PinholeCamera, PinholeCamera | None]:
    """The camera of a ``width`` x ``height`` image from its numbers (``fy`` defaults to
    ``fx``, ``cx``/``cy`` to the image centre (w - 1) / 2, (h - 1) / 2), and with a
    ``baseline`` (metres) the right camera of the rectified pair (:func:`stereo_cameras`).
    Implausible numbers warn (:func:`warn_implausible`) naming ``source``."""
    values = {"fx": fx, "fy": fy, "cx": cx, "cy": cy, "baseline": baseline, "doffs": doffs}
    for key, value in values.items():
        if value is not None:
            _number(value, key, source)
    cx = (width - 1) / 2 if cx is None else cx
    cy = (height - 1) / 2 if cy is None else cy
    right: PinholeCamera | None = None
    if baseline is None:
        left = PinholeCamera.from_intrinsics(
            width, height, fx, fx if fy is None else fy, cx, cy, frame_id=frame_id
        )
    else:
        try:
            left, right = stereo_cameras(width, height, fx, cx, cy, baseline, doffs, fy, frame_id)
        except CalibrationError as exc:
            raise CalibrationError(f"{source}: {exc}") from None
    for camera in (left, right):
        if camera is not None:
            _check(camera, source)
    warn_implausible(left, right, source)
    return left, right


def read_stereo_pair(
    left: str | Path, right: str | Path, frame_id: str = ""
) -> tuple[PinholeCamera, PinholeCamera]:
    """A rectified pair from two camera_info files, checked as the stereo YAML's
    ``left``/``right`` form (one size, right P[0,3] = -fx * baseline); warns on
    implausible numbers."""
    source = f"{left} + {right}"
    pair = stereo_from_dict({"left": str(left), "right": str(right)}, source, Path.cwd(), frame_id)
    warn_implausible(*pair, source)
    return pair


def _stereo_side(value: Any, base: Path, source: str, side: str, frame_id: str) -> PinholeCamera:
    if isinstance(value, str):
        path = Path(value) if Path(value).is_absolute() else base / value
        return _read_camera(path, frame_id)  # the pair is checked (and warned about) as one
    return camera_from_dict(value, f"{source} ({side})", frame_id)


def read_stereo_calibration(
    path: str | Path, frame_id: str = "", image_size: tuple[int, int] | None = None
) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras from a stereo calibration file in any accepted format (see
    module doc); ``image_size`` (w, h) serves OpenCV files that do not store it."""
    source = str(path)
    data = _load_yaml(_read_text(path), source)
    left, right = stereo_from_dict(data, source, Path(path).parent, frame_id, image_size)
    warn_implausible(left, right, source)
    return left, right


def stereo_from_dict(
    data: Any,
    source: str = "stereo calibration",
    base: Path | None = None,
    frame_id: str = "",
    image_size: tuple[int, int] | None = None,
) -> tuple[PinholeCamera, PinholeCamera]:
    """Left and right cameras from a parsed stereo calibration mapping."""
    if not isinstance(data, Mapping):
        raise _unrecognised(data, source, ACCEPTED_STEREO)
    if "cam0" in data or "cam1" in data:
        return _kalibr_pair(data, source, frame_id)
    if any(k in data for k in ("M1", "M2", "D1", "D2")):
        return _opencv_pair(data, source, frame_id, image_size)
    if not any(k in data for k in ("left", "right", "fx", "baseline")):
        raise _unrecognised(data, source, ACCEPTED_STEREO)
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


# -- unrectified pairs: Kalibr camchains and OpenCV FileStorage ---------------------------


def _array(value: Any, key: str, source: str) -> NDArray[np.float64]:
    """An OpenCV matrix (mapping with rows, cols, data) or a (nested) list of numbers."""
    if isinstance(value, Mapping):
        if "data" not in value:
            raise CalibrationError(f"{source}: {key} must have rows, cols and data")
        values = value["data"]
        rows, cols = value.get("rows"), value.get("cols")
    else:
        values, rows, cols = value, None, None
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError):
        raise CalibrationError(f"{source}: {key} must hold numbers, got {values!r}") from None
    if not np.isfinite(arr).all():
        raise CalibrationError(f"{source}: {key} is not finite")
    if isinstance(rows, int) and isinstance(cols, int):
        if arr.size != rows * cols:
            raise CalibrationError(f"{source}: {key} has {arr.size} values, expected {rows}x{cols}")
        arr = arr.reshape(rows, cols)
    return arr


def _shaped(
    data: Mapping[str, Any], key: str, source: str, shape: tuple[int, ...]
) -> NDArray[np.float64]:
    if key not in data:
        raise CalibrationError(f"{source}: missing key {key!r}")
    arr = _array(data[key], key, source)
    if arr.size != int(np.prod(shape)):
        raise CalibrationError(
            f"{source}: {key} has {arr.size} values, expected {'x'.join(map(str, shape))}"
        )
    return arr.reshape(shape)


def _camera(
    width: int,
    height: int,
    k: NDArray[np.float64],
    d: NDArray[np.float64],
    r: NDArray[np.float64],
    p: NDArray[np.float64],
    model: str,
    frame_id: str,
    source: str,
) -> PinholeCamera:
    camera = PinholeCamera(
        width=width,
        height=height,
        k=tuple(map(float, k.ravel())),
        p=tuple(map(float, p.ravel())),
        d=tuple(map(float, d.ravel())),
        r=tuple(map(float, r.ravel())),
        distortion_model=model,
        frame_id=frame_id,
    )
    _check(camera, source)
    return camera


def rectify_pair(
    size: tuple[int, int],
    k1: NDArray[np.float64],
    d1: NDArray[np.float64],
    k2: NDArray[np.float64],
    d2: NDArray[np.float64],
    rotation: NDArray[np.float64],
    translation: NDArray[np.float64],
    model: str = "plumb_bob",
    frame_id: str = "",
    source: str = "stereo calibration",
) -> tuple[PinholeCamera, PinholeCamera]:
    """camera_info pair (K, D, R, P) of an unrectified stereo calibration (x2 = R x1 + T),
    by ``cv2.stereoRectify`` (``cv2.fisheye.stereoRectify`` for ``equidistant``) with zero
    disparity at infinity and only valid pixels (alpha / balance 0), as ROS's
    camera_calibration does; the right P[0,3] is then -fx * baseline."""
    import cv2

    w, h = size
    t = np.ascontiguousarray(np.asarray(translation, dtype=np.float64).reshape(3, 1))
    rotation = np.ascontiguousarray(rotation, dtype=np.float64)
    k1, k2 = np.ascontiguousarray(k1), np.ascontiguousarray(k2)
    if model == "equidistant":
        r1, r2, p1, p2, _ = cv2.fisheye.stereoRectify(
            k1,
            np.ascontiguousarray(d1.reshape(-1)[:4]),
            k2,
            np.ascontiguousarray(d2.reshape(-1)[:4]),
            (w, h),
            rotation,
            t,
            flags=cv2.CALIB_ZERO_DISPARITY,
            balance=0.0,
        )
    else:
        r1, r2, p1, p2, *_ = cv2.stereoRectify(
            k1,
            np.ascontiguousarray(d1.reshape(-1)),
            k2,
            np.ascontiguousarray(d2.reshape(-1)),
            (w, h),
            rotation,
            t,
            flags=cv2.CALIB_ZERO_DISPARITY,
            alpha=0.0,
        )
    r1, r2, p1, p2 = (np.asarray(m, dtype=np.float64) for m in (r1, r2, p1, p2))
    left = _camera(w, h, k1, d1, r1, p1, model, frame_id, f"{source} (left)")
    right = _camera(w, h, k2, d2, r2, p2, model, frame_id, f"{source} (right)")
    if right.tx > 0:  # the second camera is to the left of the first
        raise CalibrationError(
            f"{source}: the second camera lies to the left of the first (rectified "
            f"P[0,3] = {right.tx:g} > 0): are the cameras swapped?"
        )
    return left, right


_KALIBR_MODELS = {"radtan": "plumb_bob", "equidistant": "equidistant"}


def _kalibr_intrinsics(
    cam: Any, source: str
) -> tuple[int, int, NDArray[np.float64], NDArray[np.float64], str]:
    if not isinstance(cam, Mapping):
        raise CalibrationError(f"{source}: expected a mapping, got {cam!r}")
    if cam.get("camera_model", "pinhole") != "pinhole":
        raise CalibrationError(
            f"{source}: camera_model {cam.get('camera_model')!r} is not supported (pinhole)"
        )
    fu, fv, pu, pv = _shaped(cam, "intrinsics", source, (4,))
    size = _shaped(cam, "resolution", source, (2,))
    model = str(cam.get("distortion_model", "radtan"))
    if model not in _KALIBR_MODELS:
        raise CalibrationError(
            f"{source}: distortion_model {model!r} is not supported (radtan, equidistant)"
        )
    coeffs = _shaped(cam, "distortion_coeffs", source, (4,))
    d = np.append(coeffs, 0.0) if model == "radtan" else coeffs  # k1 k2 p1 p2 (k3 = 0)
    k = np.array([[fu, 0.0, pu], [0.0, fv, pv], [0.0, 0.0, 1.0]])
    return int(size[0]), int(size[1]), k, d, _KALIBR_MODELS[model]


def _kalibr_camera(cam: Any, source: str, frame_id: str) -> PinholeCamera:
    """One Kalibr camera as a raw camera_info: R = I, P = [K | 0]."""
    w, h, k, d, model = _kalibr_intrinsics(cam, source)
    return _camera(w, h, k, d, np.eye(3), np.hstack([k, np.zeros((3, 1))]), model, frame_id, source)


def _kalibr_pair(
    data: Mapping[str, Any], source: str, frame_id: str
) -> tuple[PinholeCamera, PinholeCamera]:
    for key in ("cam0", "cam1"):
        if key not in data:
            raise CalibrationError(f"{source}: a Kalibr camchain needs cam0 and cam1")
    w0, h0, k0, d0, m0 = _kalibr_intrinsics(data["cam0"], f"{source} (cam0)")
    w1, h1, k1, d1, m1 = _kalibr_intrinsics(data["cam1"], f"{source} (cam1)")
    if (w0, h0) != (w1, h1) or m0 != m1:
        raise CalibrationError(
            f"{source}: cam0 ({w0}x{h0}, {m0}) and cam1 ({w1}x{h1}, {m1}) differ in size or "
            "distortion model; a stereo pair needs one of each"
        )
    cam1 = data["cam1"]
    if not isinstance(cam1, Mapping) or "T_cn_cnm1" not in cam1:
        raise CalibrationError(f"{source}: cam1 has no T_cn_cnm1 (the cam0 → cam1 transform)")
    t = _shaped(cam1, "T_cn_cnm1", f"{source} (cam1)", (4, 4))
    return rectify_pair((w0, h0), k0, d0, k1, d1, t[:3, :3], t[:3, 3], m0, frame_id, source)


def _opencv_size(
    data: Mapping[str, Any], source: str, image_size: tuple[int, int] | None
) -> tuple[int, int]:
    for wk, hk in (("width", "height"), ("image_width", "image_height")):
        if wk in data and hk in data:
            return _size(data, wk, source), _size(data, hk, source)
    for key in ("image_size", "imageSize", "size"):
        if key in data:
            size = _array(data[key], key, source).ravel()
            if size.size != 2 or not (size > 0).all():
                raise CalibrationError(f"{source}: {key} must be [width, height]")
            return int(size[0]), int(size[1])
    if image_size is None:
        raise CalibrationError(
            f"{source}: an OpenCV stereo calibration without its image size (width/height "
            "or image_size [w, h]); add it to the file or give the images"
        )
    return image_size


def _opencv_pair(
    data: Mapping[str, Any], source: str, frame_id: str, image_size: tuple[int, int] | None
) -> tuple[PinholeCamera, PinholeCamera]:
    missing = [k for k in ("M1", "D1", "M2", "D2") if k not in data]
    if missing:
        raise CalibrationError(
            f"{source}: an OpenCV stereo calibration needs M1, D1, M2, D2 (and R, T or R1, "
            f"R2, P1, P2); missing {', '.join(missing)}"
        )
    m1 = _shaped(data, "M1", source, (3, 3))
    m2 = _shaped(data, "M2", source, (3, 3))
    d1 = _array(data["D1"], "D1", source).ravel()
    d2 = _array(data["D2"], "D2", source).ravel()
    w, h = _opencv_size(data, source, image_size)
    model = "plumb_bob" if d1.size <= 5 else "rational_polynomial"
    if all(k in data for k in ("R1", "R2", "P1", "P2")):
        r1, r2 = _shaped(data, "R1", source, (3, 3)), _shaped(data, "R2", source, (3, 3))
        p1, p2 = _shaped(data, "P1", source, (3, 4)), _shaped(data, "P2", source, (3, 4))
        return (
            _camera(w, h, m1, d1, r1, p1, model, frame_id, f"{source} (left)"),
            _camera(w, h, m2, d2, r2, p2, model, frame_id, f"{source} (right)"),
        )
    if "R" not in data or "T" not in data:
        raise CalibrationError(
            f"{source}: an OpenCV stereo calibration needs R and T (stereoCalibrate) or R1, "
            "R2, P1, P2 (stereoRectify)"
        )
    rotation = _array(data["R"], "R", source)
    if rotation.size == 3:  # a rotation vector (Rodrigues), as cv2.stereoCalibrate accepts
        import cv2

        rotation = np.asarray(cv2.Rodrigues(rotation.reshape(3, 1))[0], dtype=np.float64)
    rotation = _shaped({"R": rotation}, "R", source, (3, 3))
    translation = _shaped(data, "T", source, (3,))
    return rectify_pair((w, h), m1, d1, m2, d2, rotation, translation, model, frame_id, source)


def is_raw_stereo_calibration(path: str | Path) -> bool:
    """Whether a stereo calibration file describes the raw cameras only (a Kalibr camchain
    or an OpenCV FileStorage): their images must be rectified before matching."""
    data = _load_yaml(_read_text(path), str(path))
    return isinstance(data, Mapping) and any(k in data for k in ("cam0", "cam1", "M1", "M2"))


def describe_formats(kind: str = "stereo") -> Sequence[str]:
    """The accepted formats, one line each (for help texts)."""
    return (ACCEPTED_STEREO if kind == "stereo" else ACCEPTED_MONO).split("; ")
