"""The embedded Motorcycle sample: shapes, calibration and ground-truth consistency."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.errors import ConfigError
from depth_ros.core.eval.samples import SAMPLES, load_sample, motorcycle


def test_motorcycle_arrays() -> None:
    s = motorcycle()
    assert s.left.shape == (500, 741, 3)
    assert s.left.dtype == np.uint8
    assert s.right.shape == (500, 741, 3)
    assert s.right.dtype == np.uint8
    assert s.disparity.shape == (500, 741)
    assert s.disparity.dtype == np.float32
    assert (s.width, s.height) == (741, 500)
    # invalid ground truth is NaN (the file uses inf), never inf
    assert not np.isinf(s.disparity).any()
    assert 0.05 < np.isnan(s.disparity).mean() < 0.15
    assert not s.left.flags.writeable  # shared cached arrays


def test_motorcycle_calibration() -> None:
    s = motorcycle()
    lc, rc = s.left_camera, s.right_camera
    assert (lc.width, lc.height) == (741, 500)
    assert lc.fx == pytest.approx(994.978)
    assert lc.fy == pytest.approx(994.978)
    assert lc.cx == pytest.approx(311.193)
    assert lc.cy == pytest.approx(254.877)
    assert rc.cx == pytest.approx(311.193 + 31.086)
    assert rc.p[3] == pytest.approx(-994.978 * 0.193001)
    assert lc.tx == 0.0
    g = s.geometry
    assert g.fx == pytest.approx(994.978)
    assert g.baseline == pytest.approx(0.193001)
    assert g.doffs == pytest.approx(31.086)


def test_motorcycle_depth() -> None:
    s = motorcycle()
    depth = s.depth
    assert depth.dtype == np.float32
    valid = np.isfinite(s.disparity)
    np.testing.assert_array_equal(np.isfinite(depth), valid)
    expected = 0.193001 * 994.978 / (s.disparity[valid].astype(np.float64) + 31.086)
    np.testing.assert_allclose(depth[valid], expected, rtol=1e-6)
    # the motorcycle stands about 2-5 m from the camera
    assert np.nanmin(depth) > 1.5
    assert np.nanmax(depth) < 6.0


def test_disparity_matches_images() -> None:
    """Middlebury convention: left pixel x matches right pixel x - d."""
    s = motorcycle()
    h, w = s.height, s.width
    ys, xs = np.mgrid[0:h, 0:w]
    d = s.disparity
    xr = np.rint(xs - np.nan_to_num(d)).astype(int)
    ok = np.isfinite(d) & (xr >= 0)
    left = s.left.astype(np.float64).mean(axis=2)
    right = s.right.astype(np.float64).mean(axis=2)
    matched = np.abs(left[ok] - right[ys[ok], xr[ok]]).mean()
    unmatched = np.abs(left - right).mean()
    assert matched < 12.0 < unmatched


def test_frame_id_and_registry() -> None:
    s = load_sample("motorcycle", frame_id="stereo_left")
    assert s.left_camera.frame_id == "stereo_left" == s.right_camera.frame_id
    assert s.left is motorcycle().left  # shares the cached arrays
    assert "motorcycle" in SAMPLES
    with pytest.raises(ConfigError, match="motorcycle"):
        load_sample("nope")
