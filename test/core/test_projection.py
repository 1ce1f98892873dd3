"""Projection of metric references into a camera, against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError, InputError
from depth_ros.core.projection import (
    check_transform,
    depth_image_to_metres,
    metres_to_depth_image,
    project_points,
    reference_from_cloud,
    reproject_depth,
    transform_points,
)

CAM = PinholeCamera.from_intrinsics(5, 3, 100.0, 100.0, 2.0, 1.0)


def _translation(x: float, y: float, z: float) -> np.ndarray:
    t = np.eye(4)
    t[:3, 3] = (x, y, z)
    return t


def test_project_single_point_by_hand() -> None:
    # u = 100 * 0.02 / 2 + 2 = 3, v = 100 * 0.02 / 2 + 1 = 2
    out = project_points(np.array([[0.02, 0.02, 2.0]]), CAM)
    assert out.dtype == np.float32
    assert out.shape == (3, 5)
    assert out[2, 3] == pytest.approx(2.0)
    assert np.isfinite(out).sum() == 1


def test_pixel_rounding_follows_pixel_centres() -> None:
    # u = 100 * x / 1 + 2: x = 0.0149 -> u = 3.49 -> pixel 3; x = 0.0151 -> 3.51 -> pixel 4
    out = project_points(np.array([[0.0149, 0.0, 1.0], [0.0151 * 1.5, 0.0, 1.5]]), CAM)
    assert out[1, 3] == pytest.approx(1.0)
    assert out[1, 4] == pytest.approx(1.5)


def test_nearest_point_wins_in_any_order() -> None:
    pts = np.array([[0.0, 0.0, 4.0], [0.0, 0.0, 2.0], [0.0, 0.0, 3.0]])
    for perm in ([0, 1, 2], [1, 0, 2], [2, 0, 1]):
        out = project_points(pts[perm], CAM)
        assert out[1, 2] == pytest.approx(2.0)
        assert np.isfinite(out).sum() == 1


def test_zbuffer_matches_loop_reference() -> None:
    rng = np.random.default_rng(3)
    cam = PinholeCamera.from_intrinsics(20, 15, 30.0, 30.0, 9.5, 7.0)
    pts = np.column_stack(
        [rng.uniform(-2, 2, 3000), rng.uniform(-2, 2, 3000), rng.uniform(-1, 6, 3000)]
    )
    out = project_points(pts, cam)
    ref = np.full((15, 20), np.inf)
    for x, y, z in pts:
        if z < 1e-3:
            continue
        u = math.floor(30.0 * x / z + 9.5 + 0.5)
        v = math.floor(30.0 * y / z + 7.0 + 0.5)
        if 0 <= u < 20 and 0 <= v < 15:
            ref[v, u] = min(ref[v, u], z)
    ref[np.isinf(ref)] = np.nan
    np.testing.assert_allclose(out, ref.astype(np.float32), rtol=1e-6, equal_nan=True)


def test_points_behind_outside_and_nonfinite_are_dropped() -> None:
    pts = np.array([[0.0, 0.0, -1.0], [10.0, 0.0, 1.0], [np.nan, 0.0, 1.0], [0.0, 0.0, 50.0]])
    out = project_points(pts, CAM, max_depth=20.0)
    assert not np.isfinite(out).any()


def test_transform_moves_points_into_the_camera() -> None:
    # reference frame 1 m behind the camera: p_cam = p_ref + (0, 0, 1)
    out = project_points(np.array([[0.0, 0.0, 1.0]]), CAM, _translation(0, 0, 1))
    assert out[1, 2] == pytest.approx(2.0)
    # 90 deg about y: reference x axis -> camera -z ... and reference z -> camera x
    rot = np.eye(4)
    rot[:3, :3] = [[0, 0, 1], [0, 1, 0], [-1, 0, 0]]
    p = transform_points(np.array([[-2.0, 0.0, 0.0]]), rot)
    np.testing.assert_allclose(p, [[0.0, 0.0, 2.0]])
    out = project_points(np.array([[-2.0, 0.0, 0.0]]), CAM, rot)
    assert out[1, 2] == pytest.approx(2.0)


def test_bad_transforms_are_rejected() -> None:
    with pytest.raises(CalibrationError, match="4x4"):
        check_transform(np.eye(3))
    bad = np.eye(4)
    bad[0, 0] = 2.0
    with pytest.raises(CalibrationError, match="rotation"):
        check_transform(bad)
    bad = np.eye(4)
    bad[3, 0] = 1.0
    with pytest.raises(CalibrationError, match="last row"):
        check_transform(bad)
    with pytest.raises(InputError, match=r"\(N, 3\)"):
        project_points(np.zeros((4, 2)), CAM)


def test_reproject_identity_and_baseline_shift() -> None:
    cam = PinholeCamera.from_intrinsics(40, 30, 50.0, 50.0, 19.5, 14.5)
    depth = np.full((30, 40), 2.0, dtype=np.float32)
    depth[0, 0] = np.nan
    same = reproject_depth(depth, cam, cam, np.eye(4))
    np.testing.assert_array_equal(np.isfinite(same), np.isfinite(depth))
    np.testing.assert_allclose(same[np.isfinite(same)], 2.0)
    # target camera 0.2 m to the right: p_tgt = p_src - (0.2, 0, 0) -> shift by
    # fx * 0.2 / 2 = 5 px to the left
    moved = reproject_depth(depth, cam, cam, _translation(-0.2, 0, 0))
    assert not np.isfinite(moved[:, 35:]).any()
    assert np.isfinite(moved[1:, :35]).all()
    np.testing.assert_allclose(moved[1:, :35], 2.0, rtol=1e-6)


def test_reference_from_cloud_scales_camera_to_shape() -> None:
    cam = PinholeCamera.from_intrinsics(40, 30, 50.0, 50.0, 19.5, 14.5)
    out = reference_from_cloud(np.array([[0.0, 0.0, 3.0]]), cam, None, shape=(15, 20))
    assert out.shape == (15, 20)
    # scaled cx = (19.5 + 0.5) * 0.5 - 0.5 = 9.5 -> u = 10 (round half up), cy 7 -> v = 7
    assert out[7, 10] == pytest.approx(3.0)


def test_depth_image_conversions() -> None:
    mm = np.array([[0, 1000, 65535]], dtype=np.uint16)
    m = depth_image_to_metres(mm, "16UC1")
    assert np.isnan(m[0, 0])
    assert m[0, 1] == pytest.approx(1.0)
    assert m[0, 2] == pytest.approx(65.535)
    f = np.array([[np.nan, np.inf, -1.0, 0.0, 2.5]], dtype=np.float32)
    m = depth_image_to_metres(f, "32FC1")
    assert np.isnan(m[0, :4]).all()
    assert m[0, 4] == pytest.approx(2.5)
    back = metres_to_depth_image(np.array([[np.nan, 1.2345, 70.0]], dtype=np.float32), "16UC1")
    np.testing.assert_array_equal(back, [[0, 1234, 0]])
    with pytest.raises(InputError, match="16UC1"):
        depth_image_to_metres(mm, "rgb8")
    with pytest.raises(InputError, match="uint16"):
        depth_image_to_metres(f, "16UC1")


def test_ground_from_transform_level_and_pitched_camera() -> None:
    import math

    from depth_ros.core.projection import ground_from_transform

    # optical frame (x right, y down, z forward) of a level camera 1.2 m above the floor,
    # base frame x forward, y left, z up: base ← optical rotation
    level = np.eye(4)
    level[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    level[:3, 3] = [0.1, 0.0, 1.2]
    height, down = ground_from_transform(level)
    assert height == pytest.approx(1.2)
    np.testing.assert_allclose(down, (0.0, 1.0, 0.0), atol=1e-12)  # image +y is down
    # pitched down by 30 degrees (a rotation of -30 degrees about the optical x axis):
    # gravity leans towards +z (forward), as the scale sources' pitch parameter has it
    from depth_ros.core.scale import gravity_from_pitch_roll

    a = math.radians(30)
    pitch = np.eye(4)
    pitch[:3, :3] = [
        [1.0, 0.0, 0.0],
        [0.0, math.cos(a), math.sin(a)],
        [0.0, -math.sin(a), math.cos(a)],
    ]
    height, down = ground_from_transform(level @ pitch)
    assert height == pytest.approx(1.2)
    np.testing.assert_allclose(down, (0.0, math.cos(a), math.sin(a)), atol=1e-12)
    np.testing.assert_allclose(down, gravity_from_pitch_roll(a), atol=1e-12)
    below = level.copy()
    below[2, 3] = -0.5
    with pytest.raises(CalibrationError, match="above the base frame's floor"):
        ground_from_transform(below)
