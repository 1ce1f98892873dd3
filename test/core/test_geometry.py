"""Disparity <-> depth and unprojection against hand-computed values."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import CalibrationError
from depth_ros.core.geometry import depth_to_disparity, disparity_to_depth, unproject

GEO = StereoGeometry(fx=500.0, baseline=0.1, doffs=0.0)  # fx * B = 50
GEO_DOFFS = StereoGeometry(fx=500.0, baseline=0.1, doffs=10.0)


def _f32(rows: list[list[float]]) -> np.ndarray:
    return np.array(rows, dtype=np.float32)


def test_disparity_to_depth_by_hand() -> None:
    disp = _f32([[50.0, 25.0, 10.0], [100.0, 1.0, 0.5]])
    depth = disparity_to_depth(disp, GEO)
    assert depth.dtype == np.float32
    assert depth.shape == disp.shape
    np.testing.assert_allclose(depth, [[1.0, 2.0, 5.0], [0.5, 50.0, 100.0]], rtol=1e-6)


def test_disparity_to_depth_with_doffs() -> None:
    # Z = 50 / (d + 10)
    disp = _f32([[40.0, 0.0, -5.0, -10.0, -12.0]])
    depth = disparity_to_depth(disp, GEO_DOFFS)
    np.testing.assert_allclose(depth[0, :3], [1.0, 5.0, 10.0], rtol=1e-6)
    assert np.isnan(depth[0, 3])  # d + doffs = 0
    assert np.isnan(depth[0, 4])  # d + doffs < 0


def test_invalid_disparities_give_nan() -> None:
    disp = _f32([[0.0, -1.0, math.nan, math.inf, -math.inf, 10.0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no RuntimeWarning leaks out
        depth = disparity_to_depth(disp, GEO)
    assert np.isnan(depth[0, :5]).all()
    assert depth[0, 5] == pytest.approx(5.0)


def test_tiny_disparity_gives_nan_not_inf() -> None:
    # 50 / 1e-40 overflows float32: that is no measurement, not an infinitely far point
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        depth = disparity_to_depth(_f32([[1e-40, 1e-30]]), GEO)
    assert np.isnan(depth[0, 0])
    assert depth[0, 1] == pytest.approx(5e31)


def test_input_is_not_modified() -> None:
    disp = _f32([[0.0, 10.0]])
    disparity_to_depth(disp, GEO_DOFFS, min_depth=4.0)
    assert disp.tolist() == [[0.0, 10.0]]


def test_min_and_max_depth() -> None:
    disp = _f32([[100.0, 50.0, 25.0, 10.0, 5.0]])  # depths 0.5 1 2 5 10
    depth = disparity_to_depth(disp, GEO, min_depth=1.0, max_depth=5.0)
    assert np.isnan(depth[0, [0, 4]]).all()
    np.testing.assert_allclose(depth[0, 1:4], [1.0, 2.0, 5.0], rtol=1e-6)  # bounds inclusive
    only_max = disparity_to_depth(disp, GEO, max_depth=2.0)
    assert np.isfinite(only_max).tolist() == [[True, True, True, False, False]]
    only_min = disparity_to_depth(disp, GEO, min_depth=2.0)
    assert np.isfinite(only_min).tolist() == [[False, False, True, True, True]]


def test_disparity_to_depth_refuses_bad_geometry() -> None:
    with pytest.raises(CalibrationError, match="baseline must be > 0"):
        disparity_to_depth(_f32([[1.0]]), StereoGeometry(500.0, 0.0))
    with pytest.raises(CalibrationError, match="not finite"):
        disparity_to_depth(_f32([[1.0]]), StereoGeometry(math.nan, 0.1))


def test_depth_to_disparity_by_hand() -> None:
    depth = _f32([[1.0, 5.0, 0.0, -1.0, math.nan, math.inf]])
    disp = depth_to_disparity(depth, GEO_DOFFS)
    np.testing.assert_allclose(disp[0, :2], [40.0, 0.0], atol=1e-5)
    assert np.isnan(disp[0, 2:]).all()
    assert disp.dtype == np.float32


@pytest.mark.parametrize("geo", [GEO, GEO_DOFFS, StereoGeometry(994.978, 0.193, 31.086)])
def test_round_trip(geo: StereoGeometry) -> None:
    rng = np.random.default_rng(3)
    depth = rng.uniform(0.3, 30.0, size=(20, 30)).astype(np.float32)
    depth[0, :5] = np.nan
    back = disparity_to_depth(depth_to_disparity(depth, geo), geo)
    assert np.array_equal(np.isnan(back), np.isnan(depth))
    np.testing.assert_allclose(back, depth, rtol=1e-5)


# --- unprojection -----------------------------------------------------------------------

CAM = PinholeCamera.from_intrinsics(8, 6, 100.0, 200.0, 3.5, 2.0)


def test_unproject_chosen_pixels_by_hand() -> None:
    depth = np.full((6, 8), 2.0, dtype=np.float32)
    depth[5, 7] = 4.0
    pts = unproject(depth, CAM)
    assert pts.shape == (6, 8, 3)
    assert pts.dtype == np.float32
    # x = (u - cx) / fx * z, y = (v - cy) / fy * z
    np.testing.assert_allclose(pts[0, 0], [(0 - 3.5) / 100 * 2, (0 - 2.0) / 200 * 2, 2.0])
    np.testing.assert_allclose(pts[2, 3], [(3 - 3.5) / 100 * 2, 0.0, 2.0], atol=1e-7)
    np.testing.assert_allclose(pts[5, 7], [(7 - 3.5) / 100 * 4, (5 - 2.0) / 200 * 4, 4.0])


def test_unproject_invalid_depth_gives_nan_points() -> None:
    depth = np.array([[1.0, math.nan, 0.0, -2.0, math.inf, 1.0]] * 2, dtype=np.float32)
    cam = PinholeCamera.from_intrinsics(6, 2, 10.0, 10.0, 2.5, 0.5)
    pts = unproject(depth, cam)
    bad = np.isnan(pts).all(axis=2)
    assert bad.tolist() == [[False, True, True, True, True, False]] * 2
    assert np.isfinite(pts[:, [0, 5]]).all()


def test_unproject_with_decimation_uses_kept_pixel_centres() -> None:
    depth = np.arange(1, 49, dtype=np.float32).reshape(6, 8)
    pts = unproject(depth, CAM, decimation=3)
    assert pts.shape == (2, 3, 3)  # rows 0, 3; columns 0, 3, 6
    for i, v in enumerate((0, 3)):
        for j, u in enumerate((0, 3, 6)):
            z = depth[v, u]
            np.testing.assert_allclose(
                pts[i, j], [(u - 3.5) / 100 * z, (v - 2.0) / 200 * z, z], rtol=1e-6
            )


def test_unproject_scales_the_camera_to_the_depth_size() -> None:
    # camera_info for 8x6, depth at 4x3: fx 50, fy 100, cx (3.5+.5)/2-.5 = 1.5, cy 0.75
    depth = np.full((3, 4), 3.0, dtype=np.float32)
    pts = unproject(depth, CAM)
    assert pts.shape == (3, 4, 3)
    np.testing.assert_allclose(pts[0, 0], [(0 - 1.5) / 50 * 3, (0 - 0.75) / 100 * 3, 3.0])
    np.testing.assert_allclose(pts[2, 3], [(3 - 1.5) / 50 * 3, (2 - 0.75) / 100 * 3, 3.0])
    # and the scaled cloud is the full-resolution cloud at the same rays
    full = unproject(np.full((6, 8), 3.0, dtype=np.float32), CAM)
    # small pixel (u, v) looks where the full pixel 2u + 0.5 does: between two full pixels
    np.testing.assert_allclose(pts[1, 1], (full[2, 2] + full[3, 3]) / 2, rtol=1e-6)


def test_unproject_refuses_an_uncalibrated_camera() -> None:
    cam = PinholeCamera.from_intrinsics(8, 6, 0.0, 0.0, 3.5, 2.0)
    with pytest.raises(CalibrationError, match="no focal length"):
        unproject(np.ones((6, 8), np.float32), cam)


def test_disparity_to_depth_into_a_buffer_equals_a_new_array() -> None:
    disp = _f32([[10.0, 0.0, np.nan], [-3.0, 40.0, 2.5]])
    for geo in (GEO, GEO_DOFFS):
        out = np.full(disp.shape, 7.0, np.float32)
        result = disparity_to_depth(disp, geo, 0.5, 50.0, out=out)
        assert result is out
        np.testing.assert_array_equal(out, disparity_to_depth(disp, geo, 0.5, 50.0))
