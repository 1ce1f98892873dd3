"""StereoPipeline: disparity, depth and cloud agree with each other; options; errors.

Also colorize(), which turns those outputs into pictures.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.colorize import colorize
from depth_ros.core.errors import CalibrationError, InputError
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.geometry import disparity_to_depth, unproject
from depth_ros.core.models import build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.pointcloud import unpack_rgb
from depth_ros.core.stereo import StereoOptions, StereoPipeline


class FixedDisparity:
    """A stand-in matcher: a given disparity image, and a record of what it was given."""

    def __init__(self, disparity: np.ndarray) -> None:
        self.disparity = disparity.astype(np.float32)
        self.seen: list[tuple[np.ndarray, np.ndarray]] = []

    def compute(self, left: np.ndarray, right: np.ndarray) -> np.ndarray:
        self.seen.append((left, right))
        return self.disparity.copy()

    def update(self, params: Mapping[str, Any]) -> None:
        pass

    def disparity_range(self, width: int) -> tuple[float, float]:
        return 0.0, float(width)

    def matched_columns(self, width: int) -> tuple[int, int]:
        return 0, width


W, H = 8, 6
LEFT = PinholeCamera.from_intrinsics(W, H, 100.0, 100.0, 3.5, 2.5)
RIGHT = PinholeCamera.from_intrinsics(W, H, 100.0, 100.0, 5.5, 2.5, tx=-100.0 * 0.2)  # B 0.2


def _images(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (
        rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
    )


def test_depth_and_cloud_by_hand() -> None:
    disp = np.full((H, W), 8.0, np.float32)  # Z = 100 * 0.2 / (8 + 2) = 2 m
    disp[1, 2] = np.nan
    disp[3, 4] = -2.0  # d + doffs = 0
    left, right = _images()
    result = StereoPipeline(FixedDisparity(disp)).process(left, right, LEFT, RIGHT)
    assert result.geometry.doffs == pytest.approx(2.0)
    assert result.geometry.baseline == pytest.approx(0.2)
    assert result.depth[0, 0] == pytest.approx(2.0)
    assert np.isnan(result.depth[1, 2])
    assert np.isnan(result.depth[3, 4])
    assert int(np.isnan(result.depth).sum()) == 2
    np.testing.assert_array_equal(result.disparity, disp)
    assert result.cloud is not None
    arr = result.cloud.as_array()
    assert arr.shape == (H, W, 4)
    assert arr[5, 7, 0] == pytest.approx((7 - 3.5) / 100 * 2.0)
    assert arr[5, 7, 1] == pytest.approx((5 - 2.5) / 100 * 2.0)
    np.testing.assert_array_equal(unpack_rgb(arr[:, :, 3]), left)
    assert not result.cloud.is_dense
    assert result.left_rgb is left
    assert set(result.timings_ms) == {"rectify", "matcher", "depth", "points"}


def test_outputs_agree_on_motorcycle_with_sgbm() -> None:
    sample = load_sample("motorcycle")
    pipe = StereoPipeline(build_as("sgbm", OpenCVStereo))
    result = pipe.process(sample.left, sample.right, sample.left_camera, sample.right_camera)
    disp, depth = result.disparity, result.depth
    assert depth.shape == disp.shape == sample.left.shape[:2]
    np.testing.assert_array_equal(depth, disparity_to_depth(disp, sample.geometry))
    assert np.array_equal(np.isnan(depth), np.isnan(disp))  # no depth limits: same holes
    assert 0.85 < np.isfinite(depth).mean() < 1.0
    assert result.cloud is not None
    arr = result.cloud.as_array()
    z = arr[:, :, 2]
    np.testing.assert_array_equal(np.isnan(z), np.isnan(depth))
    np.testing.assert_array_equal(z[np.isfinite(z)], depth[np.isfinite(depth)])
    np.testing.assert_array_equal(arr[:, :, :3], unproject(depth, sample.left_camera))
    np.testing.assert_array_equal(unpack_rgb(arr[:, :, 3]), sample.left)


def test_cloud_false_and_points_none_skip_the_cloud() -> None:
    model = FixedDisparity(np.full((H, W), 8.0))
    left, right = _images()
    assert StereoPipeline(model).process(left, right, LEFT, RIGHT, cloud=False).cloud is None
    none = StereoPipeline(model, StereoOptions(points="none"))
    result = none.process(left, right, LEFT, RIGHT)
    assert result.cloud is None
    assert np.isfinite(result.depth).all()


def test_xyz_cloud_and_decimation() -> None:
    model = FixedDisparity(np.full((H, W), 8.0))
    pipe = StereoPipeline(model, StereoOptions(points="xyz", decimation=3))
    result = pipe.process(*_images(), LEFT, RIGHT)
    assert result.cloud is not None
    assert (result.cloud.height, result.cloud.width) == (2, 3)
    assert result.cloud.point_step == 12
    assert [f.name for f in result.cloud.fields] == ["x", "y", "z"]
    assert result.cloud.is_dense
    assert result.cloud.as_array()[1, 2, 0] == pytest.approx((6 - 3.5) / 100 * 2.0)


def test_min_and_max_depth_options() -> None:
    disp = np.array([[98.0, 38.0, 18.0, 8.0, 3.0, 0.0, -1.0, 8.0]] * H, np.float32)
    # depths 0.2, 0.5, 1, 2, 4, 10, 20, 2
    pipe = StereoPipeline(FixedDisparity(disp), StereoOptions(min_depth=0.5, max_depth=4.0))
    result = pipe.process(*_images(), LEFT, RIGHT)
    assert np.isfinite(result.depth[0]).tolist() == [
        False,
        True,
        True,
        True,
        True,
        False,
        False,
        True,
    ]
    assert result.cloud is not None
    np.testing.assert_array_equal(
        np.isnan(result.cloud.as_array()[:, :, 2]), np.isnan(result.depth)
    )
    assert np.isfinite(result.disparity).all()  # the disparity is the matcher's, unfiltered


def test_rectify_on_identity_calibration_leaves_the_image() -> None:
    sample = load_sample("motorcycle")
    left = np.ascontiguousarray(sample.left[100:260, 200:440])
    right = np.ascontiguousarray(sample.right[100:260, 200:440])
    f = sample.left_camera.fx  # K = P, no distortion, R = I
    lcam = PinholeCamera.from_intrinsics(240, 160, f, f, 100.0, 80.0)
    rcam = PinholeCamera.from_intrinsics(240, 160, f, f, 110.0, 80.0, tx=-f * 0.2)
    model = FixedDisparity(np.full((160, 240), 20.0))
    raw = StereoPipeline(model, StereoOptions(rectify=True)).process(left, right, lcam, rcam)
    np.testing.assert_array_equal(raw.left_rgb, left)
    np.testing.assert_array_equal(model.seen[-1][0], left)
    np.testing.assert_array_equal(model.seen[-1][1], right)


def test_rectify_applies_the_distortion() -> None:
    k = (80.0, 0.0, 40.0, 0.0, 80.0, 30.0, 0.0, 0.0, 1.0)
    p = (80.0, 0.0, 40.0, 0.0, 0.0, 80.0, 30.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    pr = (80.0, 0.0, 40.0, -8.0, 0.0, 80.0, 30.0, 0.0, 0.0, 0.0, 1.0, 0.0)
    d = (-0.3, 0.1, 0.0, 0.0, 0.0)
    lcam = PinholeCamera(80, 60, k, p, d)
    rcam = PinholeCamera(80, 60, k, pr, d)
    rng = np.random.default_rng(5)
    left = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    model = FixedDisparity(np.full((60, 80), 4.0))
    result = StereoPipeline(model, StereoOptions(rectify=True)).process(left, left, lcam, rcam)
    np.testing.assert_array_equal(result.left_rgb, lcam.rectify(left))
    assert not np.array_equal(result.left_rgb, left)


def test_input_errors() -> None:
    pipe = StereoPipeline(FixedDisparity(np.full((H, W), 8.0)))
    left, right = _images()
    with pytest.raises(InputError, match=r"left image is 8x6 but right image is 7x6"):
        pipe.process(left, right[:, :-1], LEFT, RIGHT)
    with pytest.raises(CalibrationError, match="camera_info is 8x6 but the image is 4x3"):
        pipe.process(left[::2, ::2], right[::2, ::2], LEFT, RIGHT)
    with pytest.raises(CalibrationError, match="zero baseline"):
        pipe.process(left, right, LEFT, LEFT)
    flipped = PinholeCamera.from_intrinsics(W, H, 100.0, 100.0, 3.5, 2.5, tx=20.0)
    with pytest.raises(CalibrationError, match="negative baseline"):
        pipe.process(left, right, LEFT, flipped)
    nan_cam = PinholeCamera.from_intrinsics(W, H, math.nan, 100.0, 3.5, 2.5)
    with pytest.raises(CalibrationError, match="not finite"):
        pipe.process(left, right, nan_cam, RIGHT)


# --- colorize ---------------------------------------------------------------------------


def test_colorize_nan_is_black_and_range_maps_to_turbo_ends() -> None:
    import cv2

    values = np.array([[0.0, 5.0, 10.0, np.nan, np.inf, 20.0]], np.float32)
    out = colorize(values, vmin=0.0, vmax=10.0)
    assert out.shape == (1, 6, 3)
    assert out.dtype == np.uint8
    assert out[0, 3].tolist() == [0, 0, 0]
    assert out[0, 4].tolist() == [0, 0, 0]
    lut = cv2.applyColorMap(np.arange(256, dtype=np.uint8)[None], cv2.COLORMAP_TURBO)[0, :, ::-1]
    assert out[0, 0].tolist() == lut[0].tolist()
    assert out[0, 2].tolist() == lut[255].tolist()
    assert out[0, 5].tolist() == lut[255].tolist()  # clipped
    assert out[0, 1].tolist() == lut[127].tolist()
    inv = colorize(values, vmin=0.0, vmax=10.0, invert=True)
    assert inv[0, 0].tolist() == lut[255].tolist()
    assert inv[0, 3].tolist() == [0, 0, 0]


def test_colorize_all_invalid_and_constant() -> None:
    assert not colorize(np.full((2, 3), np.nan)).any()
    const = colorize(np.full((2, 3), 4.0))
    assert (const == const[0, 0]).all()  # no division by zero, one colour


def test_points_after_process_into_a_buffer_with_colours_first() -> None:
    """The node's order: colours before the matcher has run, depth into a message
    buffer, points later: the same cloud as process() builds by itself."""
    left, right = _images()
    disparity = np.full((H, W), 20.0, np.float32)
    disparity[0, 0] = np.nan
    pipe = StereoPipeline(FixedDisparity(disparity))
    expected = pipe.process(left, right, LEFT, RIGHT)
    shape = pipe.cloud_shape(H, W)
    assert shape == (H, W, 4)
    buf = np.zeros(shape, np.float32)
    pipe.colors(left, buf)
    depth = np.zeros((H, W), np.float32)
    result = pipe.process(left, right, LEFT, RIGHT, cloud=False, depth_out=depth)
    assert result.cloud is None
    assert result.depth is depth
    pipe.points(result, out=buf, colors_written=True)
    assert result.cloud is not None
    assert expected.cloud is not None
    assert bytes(result.cloud.data) == bytes(expected.cloud.data)
    assert (
        StereoPipeline(FixedDisparity(disparity), StereoOptions(points="none")).cloud_shape(H, W)
        is None
    )


def test_colours_come_first_only_without_rectification() -> None:
    """With rectification the cloud is coloured from the rectified image, which exists
    only inside process(): writing colours first is refused."""
    pipe = StereoPipeline(FixedDisparity(np.ones((H, W), np.float32)), StereoOptions(rectify=True))
    assert not pipe.colors_first()
    with pytest.raises(InputError, match="rectified image"):
        pipe.colors(_images()[0], np.zeros((H, W, 4), np.float32))
    assert not StereoPipeline(
        FixedDisparity(np.ones((H, W), np.float32)), StereoOptions(points="xyz")
    ).colors_first()


def test_stopwatch_laps_cover_the_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    """The node's stopwatch through process() and points(): consecutive laps, each
    stage charged once, together the whole frame (a fake clock ticking 1 ms per read)."""
    from depth_ros.core import stopwatch

    ticks = iter(range(1000))
    monkeypatch.setattr("depth_ros.core.stopwatch.time.perf_counter", lambda: next(ticks) * 1e-3)
    watch = stopwatch.Stopwatch()  # reads 0
    watch.lap("convert_in")  # 1
    left, right = _images()
    pipe = StereoPipeline(FixedDisparity(np.full((H, W), 8.0)))
    result = pipe.process(left, right, LEFT, RIGHT, cloud=False, watch=watch)  # 2, 3, 4
    watch.lap("publish")  # 5
    pipe.points(result, watch=watch)  # 6
    watch.lap("publish")  # 7
    assert result.timings_ms is watch.ms
    assert watch.ms == pytest.approx(
        {
            "convert_in": 1.0,
            "rectify": 1.0,
            "matcher": 1.0,
            "depth": 1.0,
            "publish": 2.0,
            "points": 1.0,
        }
    )
    alone = StereoPipeline(FixedDisparity(np.full((H, W), 8.0))).process(left, right, LEFT, RIGHT)
    assert set(alone.timings_ms) == {"rectify", "matcher", "depth", "points"}
    assert alone.timings_ms == pytest.approx(dict.fromkeys(alone.timings_ms, 1.0))
