"""Calibration files: camera_info YAML (camera_calibration_parsers) and stereo YAML."""

from __future__ import annotations

from pathlib import Path

import pytest

from depth_ros.core.calibration import (
    camera_to_yaml,
    read_camera,
    read_camera_info_yaml,
    read_stereo_calibration,
    stereo_from_dict,
)
from depth_ros.core.camera import StereoGeometry
from depth_ros.core.errors import CalibrationError

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
RTABMAP = SHARED / "data" / "rtabmap_samples" / "stereo_rect"

LEFT = """\
image_width: 640
image_height: 480
camera_name: left
camera_matrix:
  rows: 3
  cols: 3
  data: [500.0, 0.0, 320.5, 0.0, 501.0, 240.25, 0.0, 0.0, 1.0]
distortion_model: plumb_bob
distortion_coefficients:
  rows: 1
  cols: 5
  data: [0.1, -0.2, 0.001, 0.002, 0.0]
rectification_matrix:
  rows: 3
  cols: 3
  data: [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
projection_matrix:
  rows: 3
  cols: 4
  data: [480.0, 0.0, 322.0, 0.0, 0.0, 480.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0]
"""

RIGHT = LEFT.replace("322.0, 0.0, 0.0, 480.0", "330.0, -57.6, 0.0, 480.0")


def test_camera_info_yaml() -> None:
    cam = read_camera_info_yaml(LEFT, frame_id="cam")
    assert (cam.width, cam.height) == (640, 480)
    assert cam.k == (500.0, 0.0, 320.5, 0.0, 501.0, 240.25, 0.0, 0.0, 1.0)
    assert cam.d == (0.1, -0.2, 0.001, 0.002, 0.0)
    assert cam.distortion_model == "plumb_bob"
    assert cam.frame_id == "cam"
    # rectified intrinsics come from P
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.tx) == (480.0, 480.0, 322.0, 241.0, 0.0)


def test_opencv_flavour_and_no_projection() -> None:
    text = "%YAML:1.0\n---\n" + LEFT.split("rectification_matrix")[0].replace(
        "camera_matrix:", "camera_matrix: !!opencv-matrix"
    )
    cam = read_camera_info_yaml(text)
    assert cam.p == (500.0, 0.0, 320.5, 0.0, 0.0, 501.0, 240.25, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert cam.r == (1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0)


def test_yaml_round_trip() -> None:
    cam = read_camera_info_yaml(RIGHT)
    assert read_camera_info_yaml(camera_to_yaml(cam)) == cam


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (LEFT.replace("image_width: 640\n", ""), "missing key 'image_width'"),
        (LEFT.replace("image_height: 480", "image_height: -3"), "image_height must be a positive"),
        (LEFT.replace("camera_matrix:", "camera_matrixx:"), "missing key 'camera_matrix'"),
        (
            LEFT.replace("501.0, 240.25, 0.0, 0.0, 1.0]", "501.0, 240.25, 0.0, 0.0]"),
            "camera_matrix has 8 values, expected 3x3 = 9",
        ),
        (
            LEFT.replace("rows: 3\n  cols: 4", "rows: 4\n  cols: 3"),
            "projection_matrix is 4x3, expected 3x4",
        ),
        (LEFT.replace("data: [0.1,", "data: [abc,"), "must be a number"),
        (
            LEFT.replace("[480.0, 0.0, 322.0", "[0.0, 0.0, 322.0").replace("[500.0", "[0.0"),
            "no focal length",
        ),
        ("image_width: [", "not valid YAML"),
        ("- 1\n- 2\n", "expected a mapping"),
    ],
)
def test_camera_info_errors(text: str, message: str) -> None:
    with pytest.raises(CalibrationError, match=message.replace("(", r"\(").replace("[", r"\[")):
        read_camera_info_yaml(text, source="left.yaml")


def test_simple_stereo(tmp_path: Path) -> None:
    f = tmp_path / "stereo.yaml"
    f.write_text(
        "width: 741\nheight: 500\nfx: 994.978\ncx: 311.193\ncy: 254.877\n"
        "baseline: 0.193001\ndoffs: 31.086\n"
    )
    left, right = read_stereo_calibration(f, frame_id="cam")
    assert right.p[3] == pytest.approx(-994.978 * 0.193001)
    assert right.cx == pytest.approx(311.193 + 31.086)
    assert left.fy == 994.978
    assert left.frame_id == right.frame_id == "cam"
    g = StereoGeometry.from_cameras(left, right)
    assert g.baseline == pytest.approx(0.193001)
    assert g.doffs == pytest.approx(31.086)


def test_stereo_from_camera_info_files(tmp_path: Path) -> None:
    (tmp_path / "l.yaml").write_text(LEFT)
    (tmp_path / "r.yaml").write_text(RIGHT)
    (tmp_path / "stereo.yaml").write_text("left: l.yaml\nright: r.yaml\n")
    left, right = read_stereo_calibration(tmp_path / "stereo.yaml")
    g = StereoGeometry.from_cameras(left, right)
    assert g.baseline == pytest.approx(57.6 / 480.0)
    assert g.doffs == pytest.approx(8.0)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"width": 10, "height": 10, "fx": 5.0, "cx": 5.0, "cy": 5.0}, "missing key 'baseline'"),
        ({"width": 10, "height": 10, "fx": 5.0, "cx": 5.0, "baseline": 0.1}, "missing key 'cy'"),
        (
            {"width": 10, "height": 10, "fx": 5.0, "cx": 5.0, "cy": 5.0, "baseline": -0.1},
            "baseline must be > 0",
        ),
        (
            {"width": 10.5, "height": 10, "fx": 5.0, "cx": 5.0, "cy": 5.0, "baseline": 0.1},
            "width must be a positive integer",
        ),
        ({"left": "l.yaml"}, "needs both 'left' and 'right'"),
    ],
)
def test_stereo_errors(data: dict[str, object], message: str) -> None:
    with pytest.raises(CalibrationError, match=message):
        stereo_from_dict(data, "stereo.yaml")


def test_stereo_right_without_baseline() -> None:
    with pytest.raises(CalibrationError, match=r"P\[0,3\] = 0"):
        stereo_from_dict({"left": _parsed(LEFT), "right": _parsed(LEFT)}, "s.yaml")


def _parsed(text: str) -> object:
    import yaml

    return yaml.safe_load(text)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="cannot read calibration file"):
        read_camera(tmp_path / "nope.yaml")


def test_mono_numeric(tmp_path: Path) -> None:
    f = tmp_path / "cam.yaml"
    f.write_text("width: 64\nheight: 48\nfx: 50\nfy: 51\ncx: 32\ncy: 24\n")
    cam = read_camera(f)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.width) == (50.0, 51.0, 32.0, 24.0, 64)


@pytest.mark.skipif(not RTABMAP.is_dir(), reason=f"shared data {RTABMAP} is absent")
def test_real_opencv_files(tmp_path: Path) -> None:
    (tmp_path / "s.yaml").write_text(
        f"left: {RTABMAP / 'stereo_left.yaml'}\nright: {RTABMAP / 'stereo_right.yaml'}\n"
    )
    left, right = read_stereo_calibration(tmp_path / "s.yaml")
    assert (left.width, left.height) == (640, 480)
    g = StereoGeometry.from_cameras(left, right)
    assert g.fx == pytest.approx(487.6087341308594)
    assert g.baseline == pytest.approx(58.36270003294635 / 487.6087341308594)
