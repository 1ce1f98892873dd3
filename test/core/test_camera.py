"""PinholeCamera and StereoGeometry: CameraInfo fields, validation, scaling, rectification."""

from __future__ import annotations

import math
from dataclasses import replace
from types import SimpleNamespace

import cv2
import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import CalibrationError, InputError


def _cam(**kw: float) -> PinholeCamera:
    args = dict(width=640, height=480, fx=500.0, fy=510.0, cx=319.5, cy=239.5, tx=0.0)
    args.update(kw)
    return PinholeCamera.from_intrinsics(
        int(args["width"]),
        int(args["height"]),
        args["fx"],
        args["fy"],
        args["cx"],
        args["cy"],
        args["tx"],
    )


def test_from_intrinsics_fills_k_and_p() -> None:
    cam = _cam(tx=-50.0)
    assert cam.k == (500.0, 0.0, 319.5, 0.0, 510.0, 239.5, 0.0, 0.0, 1.0)
    assert cam.p == (500.0, 0.0, 319.5, -50.0, 0.0, 510.0, 239.5, 0.0, 0.0, 0.0, 1.0, 0.0)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.tx) == (500.0, 510.0, 319.5, 239.5, -50.0)


def test_intrinsics_come_from_p_then_k() -> None:
    k = (400.0, 0.0, 300.0, 0.0, 410.0, 200.0, 0.0, 0.0, 1.0)
    p = (420.0, 0.0, 310.0, -42.0, 0.0, 430.0, 210.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    cam = PinholeCamera(640, 480, k, p)
    assert (cam.fx, cam.fy, cam.cx, cam.cy, cam.tx) == (420.0, 430.0, 310.0, 210.0, -42.0)
    unrectified = PinholeCamera(640, 480, k, (0.0,) * 12)  # P left empty by the driver
    assert (unrectified.fx, unrectified.fy, unrectified.cx, unrectified.cy) == (
        400.0,
        410.0,
        300.0,
        200.0,
    )
    no_p = PinholeCamera(640, 480, k, ())
    assert (no_p.fx, no_p.cx, no_p.tx) == (400.0, 300.0, 0.0)


def test_from_msg() -> None:
    msg = SimpleNamespace(
        width=4,
        height=2,
        k=[2.0, 0, 1.5, 0, 3.0, 0.5, 0, 0, 1],
        p=[2.0, 0, 1.5, -0.2, 0, 3.0, 0.5, 0, 0, 0, 1, 0],
        d=[0.1, 0, 0, 0, 0],
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        distortion_model="plumb_bob",
        header=SimpleNamespace(frame_id="cam"),
        binning_x=2,
        binning_y=1,
    )
    cam = PinholeCamera.from_msg(msg)
    # binning 2x1 applied (REP 104): the camera of the 2x2 image that is delivered
    assert (cam.width, cam.height, cam.frame_id) == (2, 2, "cam")
    assert (cam.fx, cam.cx, cam.tx) == (1.0, 0.75, -0.1)
    assert (cam.fy, cam.cy) == (3.0, 0.5)
    assert cam.d == (0.1, 0.0, 0.0, 0.0, 0.0)
    assert (cam.binning_x, cam.binning_y) == (0, 0)
    assert isinstance(cam.k[1], float)
    cam.validate(2, 2)


def _info(binning: int = 0, roi: tuple[int, int, int, int] = (0, 0, 0, 0)) -> SimpleNamespace:
    fx, cx, cy = 600.0, 320.0, 240.0
    return SimpleNamespace(
        width=640,
        height=480,
        k=[fx, 0, cx, 0, fx, cy, 0, 0, 1],
        p=[fx, 0, cx, -fx * 0.1, 0, fx, cy, 0, 0, 0, 1, 0],
        d=[0.0] * 5,
        r=[1.0, 0, 0, 0, 1, 0, 0, 0, 1],
        distortion_model="plumb_bob",
        header=SimpleNamespace(frame_id="cam"),
        binning_x=binning,
        binning_y=binning,
        roi=SimpleNamespace(x_offset=roi[0], y_offset=roi[1], width=roi[2], height=roi[3]),
    )


def test_binning_and_roi_as_image_geometry() -> None:
    """K and P as image_geometry's PinholeCameraModel adjusts them for binning and ROI;
    the same 3D point projects to the same place in the binned / cropped image."""
    full = PinholeCamera.from_msg(_info())
    binned = PinholeCamera.from_msg(_info(binning=2))
    assert (binned.width, binned.height) == (320, 240)
    assert (binned.fx, binned.fy, binned.cx, binned.cy) == (300.0, 300.0, 160.0, 120.0)
    assert binned.tx == full.tx / 2  # the baseline (-Tx / fx) is unchanged
    assert -binned.tx / binned.fx == pytest.approx(-full.tx / full.fx)
    crop = PinholeCamera.from_msg(_info(roi=(100, 50, 320, 240)))
    assert (crop.width, crop.height, crop.cx, crop.cy, crop.fx) == (320, 240, 220.0, 190.0, 600)
    both = PinholeCamera.from_msg(_info(binning=2, roi=(100, 50, 320, 240)))
    assert (both.width, both.height, both.cx, both.cy, both.fx) == (160, 120, 110.0, 95.0, 300)
    x, y, z = 0.3, -0.2, 2.0
    u_full, v_full = full.fx * x / z + full.cx, full.fy * y / z + full.cy
    assert both.fx * x / z + both.cx == pytest.approx((u_full - 100) / 2)
    assert both.fy * y / z + both.cy == pytest.approx((v_full - 50) / 2)
    both.validate(160, 120)


def test_binned_depth_is_not_too_far() -> None:
    """Unprojecting the binned image with the adjusted camera gives the same metres (the
    unadjusted K put points 2x off sideways: depth from a mono model scaled by fx too)."""
    from depth_ros.core.geometry import unproject

    binned = PinholeCamera.from_msg(_info(binning=2))
    depth = np.full((240, 320), 2.0, np.float32)
    points = unproject(depth, binned)
    # the right border column is at x = (319 - 160) / 300 * 2 m
    assert points[0, 319, 0] == pytest.approx((319 - 160) / 300 * 2.0)


@pytest.mark.parametrize(
    ("binning", "roi", "match"),
    [
        (-1, (0, 0, 0, 0), "must not be negative"),
        (0, (600, 0, 100, 10), "outside"),
    ],
)
def test_bad_binning_or_roi(binning: int, roi: tuple[int, int, int, int], match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        PinholeCamera.from_msg(_info(binning=binning, roi=roi))


# --- validation -------------------------------------------------------------------------


def test_valid_camera_passes() -> None:
    _cam().validate()
    _cam().validate(640, 480)


@pytest.mark.parametrize("kw", [{"fx": 0.0}, {"fy": -1.0}])
def test_zero_or_negative_focal_length(kw: dict[str, float]) -> None:
    cam = _cam(**kw)
    if cam.fx == 0.0:  # P[0] = 0 falls back to K[0] = 0 too
        assert cam.k[0] == 0.0
    with pytest.raises(CalibrationError, match=r"no focal length.*is the camera calibrated"):
        cam.validate()


def test_all_zero_camera_info() -> None:
    cam = PinholeCamera(640, 480, (0.0,) * 9, (0.0,) * 12)
    with pytest.raises(CalibrationError, match="no focal length"):
        cam.validate()


@pytest.mark.parametrize("field", ["fx", "fy", "cx", "cy", "tx"])
def test_nan_intrinsics(field: str) -> None:
    cam = _cam(**{field: math.nan})
    with pytest.raises(CalibrationError, match="not finite"):
        cam.validate()


def test_inf_intrinsics() -> None:
    with pytest.raises(CalibrationError, match="not finite"):
        _cam(cx=math.inf).validate()


def test_malformed_k_or_p() -> None:
    with pytest.raises(CalibrationError, match=r"malformed K \(4 values\)"):
        PinholeCamera(640, 480, (1.0, 0.0, 0.0, 1.0), ()).validate()
    with pytest.raises(CalibrationError, match=r"P \(9\)"):
        PinholeCamera(640, 480, _cam().k, _cam().k).validate()


def test_no_size() -> None:
    with pytest.raises(CalibrationError, match=r"no size \(0x480\)"):
        _cam(width=0).validate()


def test_size_mismatch() -> None:
    with pytest.raises(CalibrationError, match="camera_info is 640x480 but the image is 320x240"):
        _cam().validate(320, 240)


def test_binning_divides_the_camera_info_size() -> None:
    cam = PinholeCamera(640, 480, _cam().k, _cam().p, binning_x=2, binning_y=2)
    cam.validate(320, 240)
    with pytest.raises(CalibrationError, match="camera_info is 320x240 but the image is 640x480"):
        cam.validate(640, 480)
    # binning 0 and 1 both mean "no binning" (REP 104)
    PinholeCamera(640, 480, _cam().k, _cam().p, binning_x=1, binning_y=0).validate(640, 480)
    half_x = PinholeCamera(640, 480, _cam().k, _cam().p, binning_x=2, binning_y=1)
    half_x.validate(320, 480)


def test_calibration_error_is_an_input_error() -> None:
    with pytest.raises(InputError):
        _cam(fx=0.0).validate()


# --- scaling ----------------------------------------------------------------------------


def test_scaled_by_hand() -> None:
    cam = _cam(tx=-60.0).scaled(320, 240)
    assert (cam.width, cam.height) == (320, 240)
    assert cam.fx == pytest.approx(250.0)
    assert cam.fy == pytest.approx(255.0)
    # pixel centres: (319.5 + 0.5) * 0.5 - 0.5 = 159.5
    assert cam.cx == pytest.approx(159.5)
    assert cam.cy == pytest.approx(119.5)
    assert cam.tx == pytest.approx(-30.0)  # -fx * B scales with fx: baseline unchanged
    assert cam.k[0] == pytest.approx(250.0)
    assert cam.k[2] == pytest.approx(159.5)
    cam.validate(320, 240)


def test_scaled_keeps_the_ray_of_each_pixel_centre() -> None:
    cam = _cam(cx=300.0, cy=200.0)
    small = cam.scaled(160, 120)  # a quarter
    # the full-resolution pixel-centre position of small pixel (u, v) is 4u + 1.5
    for u, v in [(0, 0), (10, 7), (159, 119)]:
        full_u, full_v = 4 * u + 1.5, 4 * v + 1.5
        assert (u - small.cx) / small.fx == pytest.approx((full_u - cam.cx) / cam.fx)
        assert (v - small.cy) / small.fy == pytest.approx((full_v - cam.cy) / cam.fy)


def test_scaled_keeps_stereo_baseline_and_doffs_ratio() -> None:
    left = _cam()
    right = _cam(cx=339.5, tx=-500.0 * 0.12)
    geo = StereoGeometry.from_cameras(left.scaled(320, 240), right.scaled(320, 240))
    assert geo.baseline == pytest.approx(0.12)
    assert geo.fx == pytest.approx(250.0)
    assert geo.doffs == pytest.approx(10.0)


# --- rectification ----------------------------------------------------------------------


def _textured(h: int, w: int) -> np.ndarray:
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    img = 127 + 60 * np.sin(xx / 7.0) * np.cos(yy / 5.0) + 40 * np.sin((xx + yy) / 13.0)
    return np.asarray(np.clip(img, 0, 255), np.uint8)


def test_rectify_matches_opencv_on_a_synthetic_distortion() -> None:
    w, h = 160, 120
    k = (150.0, 0.0, 80.3, 0.0, 148.0, 59.1, 0.0, 0.0, 1.0)
    d = (-0.25, 0.08, 0.001, -0.002, 0.0)
    # a small rotation, as stereo rectification gives, and a new projection
    r_mat, _ = cv2.Rodrigues(np.array([0.01, -0.02, 0.005]))
    p = (140.0, 0.0, 78.0, 0.0, 0.0, 140.0, 60.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    cam = PinholeCamera(w, h, k, p, d, tuple(float(v) for v in r_mat.ravel()))
    img = np.dstack([_textured(h, w), _textured(h, w)[::-1], _textured(h, w)[:, ::-1]])
    m1, m2 = cv2.initUndistortRectifyMap(
        np.array(k).reshape(3, 3),
        np.array(d),
        r_mat,
        np.array(p).reshape(3, 4),
        (w, h),
        cv2.CV_32FC1,
    )
    want = cv2.remap(img, m1, m2, cv2.INTER_LINEAR)
    got = cam.rectify(img)
    assert got.shape == img.shape
    assert got.dtype == np.uint8
    diff = np.abs(got.astype(np.int16) - want.astype(np.int16))
    # fixed-point maps (1/32 px) against float maps: a few grey levels at most
    assert diff.max() <= 4
    assert diff.mean() < 0.5
    # and the distortion really moved the pixels
    assert np.abs(got.astype(np.int16) - img.astype(np.int16)).mean() > 5
    assert cam.rectify(img) is not got  # cached maps, fresh output
    np.testing.assert_array_equal(cam.rectify(img), got)


def test_rectify_identity_leaves_the_image() -> None:
    cam = _cam(width=64, height=48, fx=50.0, fy=50.0, cx=31.5, cy=23.5)
    img = _textured(48, 64)
    np.testing.assert_array_equal(cam.rectify(img), img)


def test_rectify_fisheye_model_uses_four_coefficients() -> None:
    w, h = 96, 64
    k = (60.0, 0.0, 47.5, 0.0, 60.0, 31.5, 0.0, 0.0, 1.0)
    d = (0.05, -0.01, 0.002, 0.0)
    p = (50.0, 0.0, 47.5, 0.0, 0.0, 50.0, 31.5, 0.0, 0.0, 0.0, 1.0, 0.0)
    cam = PinholeCamera(w, h, k, p, d, distortion_model="equidistant")
    img = _textured(h, w)
    m1, m2 = cv2.fisheye.initUndistortRectifyMap(
        np.array(k).reshape(3, 3),
        np.array(d),
        np.eye(3),
        np.array(p).reshape(3, 4),
        (w, h),
        cv2.CV_32FC1,
    )
    want = cv2.remap(img, m1, m2, cv2.INTER_LINEAR)
    diff = np.abs(cam.rectify(img).astype(np.int16) - want.astype(np.int16))
    assert diff.max() <= 4


# --- stereo geometry --------------------------------------------------------------------


def test_stereo_geometry_from_cameras_by_hand() -> None:
    left = _cam()
    right = _cam(cx=331.5, tx=-500.0 * 0.075)
    geo = StereoGeometry.from_cameras(left, right)
    assert geo.fx == 500.0
    assert geo.baseline == pytest.approx(0.075)
    assert geo.doffs == pytest.approx(12.0)  # cx_r - cx_l
    geo.validate()


@pytest.mark.parametrize(
    ("tx", "match"),
    [
        (0.0, "zero baseline"),
        (30.0, "negative baseline.*swapped"),
        (math.nan, "not finite"),
    ],
)
def test_stereo_geometry_refuses_bad_baselines(tx: float, match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        StereoGeometry.from_cameras(_cam(), _cam(tx=tx))


def test_stereo_geometry_checks_both_cameras() -> None:
    with pytest.raises(CalibrationError, match="no focal length"):
        StereoGeometry.from_cameras(_cam(fx=0.0), _cam(tx=-50.0))


@pytest.mark.parametrize(
    ("geo", "match"),
    [
        (StereoGeometry(0.0, 0.1), "focal length must be > 0"),
        (StereoGeometry(500.0, 0.0), "baseline must be > 0"),
        (StereoGeometry(500.0, -0.1), "baseline must be > 0"),
        (StereoGeometry(math.nan, 0.1), "not finite"),
        (StereoGeometry(500.0, 0.1, math.inf), "not finite"),
    ],
)
def test_stereo_geometry_validate(geo: StereoGeometry, match: str) -> None:
    with pytest.raises(CalibrationError, match=match):
        geo.validate()


@pytest.mark.parametrize(
    ("model", "n", "expected"),
    [
        ("plumb_bob", 3, 5),
        ("plumb_bob", 8, 5),
        ("rational_polynomial", 5, 8),
        ("equidistant", 5, 4),
    ],
)
def test_rectify_refuses_a_distortion_vector_of_the_wrong_length(
    model: str, n: int, expected: int
) -> None:
    cam = replace(
        PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5),
        d=(0.01,) * n,
        distortion_model=model,
    )
    image = np.zeros((48, 64, 3), np.uint8)
    with pytest.raises(
        CalibrationError,
        match=rf"D has {n} values but distortion_model "
        rf"'{model}' needs {expected} \(",
    ):
        cam.rectify(image)


def test_rectify_refuses_an_unknown_distortion_model() -> None:
    cam = replace(
        PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5),
        d=(0.0,) * 5,
        distortion_model="kannala",
    )
    with pytest.raises(CalibrationError, match="'kannala' is not supported"):
        cam.rectify(np.zeros((48, 64), np.uint8))


@pytest.mark.parametrize(
    ("model", "n"),
    [
        ("plumb_bob", 5),
        ("plumb_bob", 0),
        ("rational_polynomial", 8),
        ("equidistant", 4),
        ("equidistant", 0),
    ],
)
def test_rectify_accepts_the_model_lengths_and_an_empty_d(model: str, n: int) -> None:
    cam = replace(
        PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5),
        d=(0.0,) * n,
        distortion_model=model,
    )
    image = (np.arange(48 * 64) % 251).astype(np.uint8).reshape(48, 64)
    out = cam.rectify(image)
    assert out.shape == image.shape
    if model != "equidistant":  # (zero fisheye coefficients are no identity: r = theta)
        assert np.array_equal(out[5:-5, 5:-5], image[5:-5, 5:-5])  # no distortion, R = I


def test_rectify_maps_are_cached_across_camera_objects() -> None:
    """A node builds a new PinholeCamera from every frame's camera_info: the maps must be
    built once per calibration, not once per object (they cost ~25 ms per stereo frame)."""
    w, h = 96, 64
    k = (60.0, 0.0, 47.5, 0.0, 60.0, 31.5, 0.0, 0.0, 1.0)
    d = (-0.2, 0.05, 0.0, 0.0, 0.0)
    p = (55.0, 0.0, 47.0, 0.0, 0.0, 55.0, 31.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    first = PinholeCamera(w, h, k, p, d).rectify_maps()
    again = PinholeCamera(w, h, tuple(k), tuple(p), tuple(d)).rectify_maps()
    assert again[0] is first[0]
    assert again[1] is first[1]
    assert not first[0].flags.writeable  # shared: read-only
    # another calibration (one coefficient changed) gets its own maps
    other = PinholeCamera(w, h, k, p, (-0.21, *d[1:])).rectify_maps()
    assert other[0] is not first[0]
    assert not np.array_equal(other[0], first[0])
    img = _textured(h, w)
    np.testing.assert_array_equal(
        PinholeCamera(w, h, k, p, d).rectify(img), PinholeCamera(w, h, k, p, d).rectify(img)
    )
