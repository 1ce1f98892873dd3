"""Calibration formats people have: Kalibr camchains, OpenCV stereoCalibrate/stereoRectify
FileStorage, camera_info pairs (plain and OpenCV YAML); rectification of unrectified pairs
checked by geometry (rows agree, disparity = fx B / Z) and through the nodes' remap maps;
sanity warnings and the "unrecognised calibration format" error."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.calibration import (
    CalibrationWarning,
    calibration_problems,
    is_raw_stereo_calibration,
    read_camera,
    read_stereo_calibration,
)
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import CalibrationError


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    import cv2

    return np.asarray(cv2.Rodrigues(np.array([[rx], [ry], [rz]]))[0])


ROT = _rotation(0.0108, 0.0004, -0.0023)  # EuRoC-like cam0 → cam1
TRANS = np.array([-0.110074, 0.000399, -0.000853])


def _rows(m: np.ndarray) -> str:
    return "\n".join(f"  - [{', '.join(repr(float(v)) for v in row)}]" for row in m)


def kalibr(model: str = "radtan") -> str:
    t = np.eye(4)
    t[:3, :3], t[:3, 3] = ROT, TRANS
    coeffs = (
        "[-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05]"
        if model == "radtan"
        else "[-0.0121, 0.0453, -0.0614, 0.0279]"
    )
    return f"""cam0:
  camera_model: pinhole
  intrinsics: [458.654, 457.296, 367.215, 248.375]
  distortion_model: {model}
  distortion_coeffs: {coeffs}
  resolution: [752, 480]
  rostopic: /cam0/image_raw
cam1:
  T_cn_cnm1:
{_rows(t)}
  camera_model: pinhole
  intrinsics: [457.587, 456.134, 379.999, 255.238]
  distortion_model: {model}
  distortion_coeffs: {coeffs}
  resolution: [752, 480]
  rostopic: /cam1/image_raw
"""


def _cv(name: str, m: np.ndarray) -> str:
    rows, cols = (m.shape[0], m.shape[1]) if m.ndim == 2 else (m.shape[0], 1)
    data = ", ".join(repr(float(v)) for v in m.ravel())
    return (
        f"{name}: !!opencv-matrix\n   rows: {rows}\n   cols: {cols}\n   dt: d\n"
        f"   data: [ {data} ]\n"
    )


M1 = np.array([[520.3, 0.0, 318.6], [0.0, 519.8, 241.2], [0.0, 0.0, 1.0]])
M2 = np.array([[521.1, 0.0, 322.4], [0.0, 520.5, 238.9], [0.0, 0.0, 1.0]])
D1 = np.array([[0.082, -0.191, 0.0011, -0.0007, 0.061]])
D2 = np.array([[0.079, -0.186, 0.0009, 0.0004, 0.058]])


def opencv(translation: np.ndarray = TRANS, size: bool = True, rectified: bool = False) -> str:
    text = "%YAML:1.0\n---\n"
    if size:
        text += "width: 640\nheight: 480\n"
    for name, m in (
        ("M1", M1),
        ("D1", D1),
        ("M2", M2),
        ("D2", D2),
        ("R", ROT),
        ("T", translation.reshape(3, 1)),
    ):
        text += _cv(name, m)
    if rectified:
        p1 = np.array([[500.0, 0, 310.0, 0], [0, 500.0, 240.0, 0], [0, 0, 1, 0]])
        p2 = p1.copy()
        p2[0, 3] = -500.0 * 0.11
        for name, m in (("R1", np.eye(3)), ("R2", ROT.T), ("P1", p1), ("P2", p2)):
            text += _cv(name, m)
    return text


def _write(tmp: Path, name: str, text: str) -> Path:
    path = tmp / name
    path.write_text(text)
    return path


def _check_rectified(left: PinholeCamera, right: PinholeCamera) -> float:
    """Points seen by both rectified cameras (R1, R2 applied to each camera's raw frame)
    land on the same row with disparity fx * B / Z (Z in the rectified left frame), where
    P2 puts them; returns the baseline."""
    geometry = StereoGeometry.from_cameras(left, right)
    r1, r2 = (np.array(c.r).reshape(3, 3) for c in (left, right))
    p1, p2 = (np.array(c.p).reshape(3, 4) for c in (left, right))
    for r in (r1, r2):
        np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-9)
    rng = np.random.default_rng(0)
    pts = np.column_stack(
        [rng.uniform(-1, 1, 20), rng.uniform(-0.7, 0.7, 20), rng.uniform(1.5, 6.0, 20)]
    )
    xl = (r1 @ pts.T).T
    xr = (r2 @ (ROT @ pts.T + TRANS[:, None])).T
    ul = (p1 @ np.vstack([xl.T, np.ones(20)])).T
    ur = (p2[:, :3] @ xr.T).T  # where the right camera, rotated by R2, sees the points
    ul, ur = ul[:, :2] / ul[:, 2:], ur[:, :2] / ur[:, 2:]
    np.testing.assert_allclose(ul[:, 1], ur[:, 1], atol=1e-6)  # rows agree
    via_p2 = (p2 @ np.vstack([xl.T, np.ones(20)])).T
    np.testing.assert_allclose(via_p2[:, :2] / via_p2[:, 2:], ur, atol=1e-6)
    disparity = ul[:, 0] - ur[:, 0] - geometry.doffs
    np.testing.assert_allclose(disparity, geometry.fx * geometry.baseline / xl[:, 2], rtol=1e-9)
    return geometry.baseline


def test_kalibr_camchain_is_rectified(tmp_path: Path) -> None:
    path = _write(tmp_path, "camchain.yaml", kalibr())
    assert is_raw_stereo_calibration(path)
    left, right = read_stereo_calibration(path, frame_id="cam0")
    assert (left.width, left.height) == (752, 480)
    assert left.frame_id == "cam0"
    assert left.k[0] == 458.654
    assert left.d == pytest.approx((-0.28340811, 0.07395907, 0.00019359, 1.76187114e-05, 0.0))
    assert left.distortion_model == "plumb_bob"
    assert _check_rectified(left, right) == pytest.approx(float(np.linalg.norm(TRANS)))


def test_kalibr_equidistant(tmp_path: Path) -> None:
    left, right = read_stereo_calibration(_write(tmp_path, "camchain.yaml", kalibr("equidistant")))
    assert left.distortion_model == right.distortion_model == "equidistant"
    assert len(left.d) == 4
    assert _check_rectified(left, right) == pytest.approx(float(np.linalg.norm(TRANS)))


def test_kalibr_mono_is_cam0(tmp_path: Path) -> None:
    cam = read_camera(_write(tmp_path, "camchain.yaml", kalibr()))
    assert (cam.fx, cam.cx, cam.width) == (458.654, 367.215, 752)
    assert cam.p[3] == 0.0


def test_rectification_uses_the_nodes_maps(tmp_path: Path) -> None:
    """A dot at a point's raw (distorted) pixel lands, after PinholeCamera.rectify (the
    maps of the nodes' rectify option), at the point's rectified projection."""
    import cv2

    left, _ = read_stereo_calibration(_write(tmp_path, "camchain.yaml", kalibr()))
    k, d = np.array(left.k).reshape(3, 3), np.array(left.d)
    point = np.array([[0.35, -0.2, 2.0]])
    raw_px = cv2.projectPoints(point, np.zeros(3), np.zeros(3), k, d)[0].reshape(2)
    yy, xx = np.mgrid[0 : left.height, 0 : left.width]
    raw = 255 * np.exp(-((xx - raw_px[0]) ** 2 + (yy - raw_px[1]) ** 2) / (2 * 1.5**2))
    rectified = left.rectify(raw.astype(np.float32)).astype(np.float64)
    v, u = np.mgrid[0 : left.height, 0 : left.width]
    weights = np.where(rectified > 20, rectified, 0.0)
    found = np.array([(u * weights).sum(), (v * weights).sum()]) / weights.sum()
    r1, p1 = np.array(left.r).reshape(3, 3), np.array(left.p).reshape(3, 4)
    x = p1 @ np.append(r1 @ point[0], 1.0)
    np.testing.assert_allclose(found, x[:2] / x[2], atol=0.3)


def test_opencv_stereo_calibrate(tmp_path: Path) -> None:
    path = _write(tmp_path, "stereo.yml", opencv())
    assert is_raw_stereo_calibration(path)
    left, right = read_stereo_calibration(path)
    assert (left.width, left.height) == (640, 480)
    assert left.k == tuple(M1.ravel())
    assert right.d == pytest.approx(tuple(D2.ravel()))
    assert _check_rectified(left, right) == pytest.approx(float(np.linalg.norm(TRANS)))


def test_opencv_size_from_the_images(tmp_path: Path) -> None:
    path = _write(tmp_path, "stereo.yml", opencv(size=False))
    with pytest.raises(CalibrationError, match="without its image size"):
        read_stereo_calibration(path)
    left, _ = read_stereo_calibration(path, image_size=(640, 480))
    assert (left.width, left.height) == (640, 480)


def test_opencv_stereo_rectify_output_is_used_as_given(tmp_path: Path) -> None:
    left, right = read_stereo_calibration(_write(tmp_path, "s.yml", opencv(rectified=True)))
    assert left.p == (500.0, 0.0, 310.0, 0.0, 0.0, 500.0, 240.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert right.tx == pytest.approx(-55.0)
    assert right.r == pytest.approx(tuple(ROT.T.ravel()))
    assert StereoGeometry.from_cameras(left, right).baseline == pytest.approx(0.11)


def test_millimetres_and_focal_warnings(tmp_path: Path) -> None:
    path = _write(tmp_path, "mm.yml", opencv(translation=TRANS * 1000.0))
    with pytest.warns(CalibrationWarning, match="millimetres"):
        read_stereo_calibration(path)
    numeric = _write(
        tmp_path, "n.yaml", "width: 320\nheight: 240\nfx: 5000.0\ncx: 160\ncy: 120\nbaseline: 0.1\n"
    )
    with pytest.warns(CalibrationWarning, match=r"outside 0.1-10 x the image width \(320 px"):
        read_stereo_calibration(numeric)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a plausible calibration: no warning
        read_stereo_calibration(_write(tmp_path, "ok.yml", opencv()))
    cam = PinholeCamera.from_intrinsics(640, 480, 30.0, 30.0, 320, 240)
    assert len(calibration_problems(cam)) == 1


def test_camera_info_pair_plain_and_opencv_yaml(tmp_path: Path) -> None:
    def info(tx: float, opencv_header: bool) -> str:
        head = "%YAML:1.0\n---\n" if opencv_header else ""
        return head + (
            "image_width: 640\nimage_height: 480\ncamera_name: c\n"
            "camera_matrix: {rows: 3, cols: 3, data: [500, 0, 320, 0, 500, 240, 0, 0, 1]}\n"
            "distortion_model: plumb_bob\n"
            "distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}\n"
            "rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}\n"
            f"projection_matrix: {{rows: 3, cols: 4, data: [500, 0, 320, {tx}, 0, 500, 240, "
            "0, 0, 0, 1, 0]}\n"
        )

    for flavour in (False, True):
        _write(tmp_path, "l.yaml", info(0.0, flavour))
        _write(tmp_path, "r.yaml", info(-60.0, flavour))
        pair = _write(tmp_path, "pair.yaml", "left: l.yaml\nright: r.yaml\n")
        assert not is_raw_stereo_calibration(pair)
        left, right = read_stereo_calibration(pair)
        assert StereoGeometry.from_cameras(left, right).baseline == pytest.approx(0.12)


@pytest.mark.parametrize(
    ("text", "seen"),
    [
        ("K: [1, 2, 3]\nbaseline_mm: 120\n", "keys K, baseline_mm"),
        ("- 1\n- 2\n", "a list"),
    ],
)
def test_unrecognised_format_names_what_it_saw(tmp_path: Path, text: str, seen: str) -> None:
    path = _write(tmp_path, "x.yaml", text)
    with pytest.raises(CalibrationError) as stereo:
        read_stereo_calibration(path)
    message = str(stereo.value)
    assert "unrecognised calibration format" in message
    assert seen in message
    for fmt in ("numeric stereo YAML", "camera_info", "Kalibr camchain", "OpenCV"):
        assert fmt in message
    assert "missing key" not in message
    if text.startswith("K"):  # a mapping: the mono reader says the same
        with pytest.raises(CalibrationError, match="unrecognised calibration format"):
            read_camera(path)


def test_format_specific_errors(tmp_path: Path) -> None:
    broken = kalibr().replace("  T_cn_cnm1:", "  T_other:")
    with pytest.raises(CalibrationError, match="cam1 has no T_cn_cnm1"):
        read_stereo_calibration(_write(tmp_path, "k.yaml", broken))
    text = opencv().split("R: !!opencv-matrix")[0]
    with pytest.raises(CalibrationError, match="needs R and T"):
        read_stereo_calibration(_write(tmp_path, "o.yml", text))
    swapped = opencv(translation=-TRANS)
    with pytest.raises(CalibrationError, match="swapped"):
        read_stereo_calibration(_write(tmp_path, "s.yml", swapped))
