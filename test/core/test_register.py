"""Depth registration against an independent, pixel-by-pixel transcription of
depth_image_proc's register.cpp (``RegisterNode::convert<float>``, image_pipeline 5.0.1)
on a hand-built scene, and against hand-computed single points."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError, InputError
from depth_ros.core.register import DepthRegistrar, register_depth, rigid_transform


def _rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    """Rotation matrix of an axis-angle vector (Rodrigues)."""
    v = np.array([rx, ry, rz], dtype=np.float64)
    angle = float(np.linalg.norm(v))
    if angle == 0.0:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    rotation = np.eye(3) + math.sin(angle) * kx + (1 - math.cos(angle)) * kx @ kx
    return np.asarray(rotation, np.float64)


def reference_register(
    depth: np.ndarray,
    src: PinholeCamera,
    dst: PinholeCamera,
    m: np.ndarray,
    fill_upsampling_holes: bool = False,
) -> tuple[np.ndarray, int]:
    """register.cpp's loop, statement by statement, in Python doubles (C++ ``int()`` and
    Python ``int()`` both truncate toward zero). Returns the image and how many writes
    the z-buffer refused (a nearer surface was already there). Two deliberate
    differences of depth_ros are applied: depth <= 0 is invalid and points with z <= 0
    in the target frame are dropped."""
    inv_fx, inv_fy = 1.0 / src.fx, 1.0 / src.fy
    cx, cy, tx, ty = src.cx, src.cy, src.p[3], src.p[7]
    rfx, rfy, rcx, rcy, rtx, rty = dst.fx, dst.fy, dst.cx, dst.cy, dst.p[3], dst.p[7]
    out = np.full((dst.height, dst.width), np.nan, dtype=np.float32)
    refused = 0

    rows = [[float(c) for c in row] for row in m[:3]]

    def to_rgb(x: float, y: float, z: float) -> tuple[float, float, float]:
        """Eigen's Affine3d * (x, y, z, 1)."""
        r0, r1, r2 = ((a * x + b * y + c * z + t) for a, b, c, t in rows)
        return r0, r1, r2

    def store(nv: int, nu: int, z: float) -> None:
        nonlocal refused
        new = np.float32(z)
        reg = out[nv, nu]
        if not math.isfinite(reg) or reg > new:
            if math.isfinite(reg):
                refused += 1
            out[nv, nu] = new
        else:
            refused += 1

    for v in range(depth.shape[0]):
        for u in range(depth.shape[1]):
            d = float(depth[v, u])
            if not math.isfinite(d) or d <= 0:  # (d <= 0: depth_ros)
                continue
            if not fill_upsampling_holes:
                xr, yr, zr = to_rgb(((u - cx) * d - tx) * inv_fx, ((v - cy) * d - ty) * inv_fy, d)
                if zr <= 0:  # (depth_ros)
                    continue
                inv_z = 1.0 / zr
                u_rgb = int((rfx * xr + rtx) * inv_z + rcx + 0.5)
                v_rgb = int((rfy * yr + rty) * inv_z + rcy + 0.5)
                if u_rgb < 0 or u_rgb >= dst.width or v_rgb < 0 or v_rgb >= dst.height:
                    continue
                store(v_rgb, u_rgb, zr)
            else:
                x1, y1, z1 = to_rgb(
                    ((u - 0.5 - cx) * d - tx) * inv_fx, ((v - 0.5 - cy) * d - ty) * inv_fy, d
                )
                x2, y2, z2 = to_rgb(
                    ((u + 0.5 - cx) * d - tx) * inv_fx, ((v + 0.5 - cy) * d - ty) * inv_fy, d
                )
                if z1 <= 0 or z2 <= 0:  # (depth_ros)
                    continue
                u1 = int((rfx * x1 + rtx) / z1 + rcx + 0.5)
                v1 = int((rfy * y1 + rty) / z1 + rcy + 0.5)
                u2 = int((rfx * x2 + rtx) / z2 + rcx + 0.5)
                v2 = int((rfy * y2 + rty) / z2 + rcy + 0.5)
                if u1 < 0 or u2 >= dst.width or v1 < 0 or v2 >= dst.height:
                    continue
                for nv in range(v1, v2 + 1):
                    for nu in range(u1, u2 + 1):
                        store(nv, nu, 0.5 * (z1 + z2))
    return out, refused


DEPTH_CAM = PinholeCamera.from_intrinsics(64, 48, 57.3, 56.9, 31.6, 23.3, frame_id="depth")
RGB_CAM = PinholeCamera.from_intrinsics(72, 54, 63.7, 63.1, 36.2, 26.9, frame_id="rgb")
EXTRINSICS = rigid_transform(_rotation(0.031, -0.022, 0.013), [-0.0523, 0.0071, 0.0134])


def plane_and_box(camera: PinholeCamera = DEPTH_CAM) -> np.ndarray:
    """A tilted wall (n . X = 2.3 m, n ~ (0.1, -0.05, 1)) with a box in front of it (front
    face 1.1 m, fronto-parallel), a few holes (NaN) and an out-of-range (inf) pixel."""
    h, w = camera.height, camera.width
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    n = np.array([0.1, -0.05, 1.0])
    n /= np.linalg.norm(n)
    rays = np.stack([(u - camera.cx) / camera.fx, (v - camera.cy) / camera.fy, np.ones_like(u)])
    depth = 2.3 / np.tensordot(n, rays, axes=1)
    depth[14:30, 20:38] = 1.1
    depth[5, 5:9] = np.nan
    depth[40, 50] = np.inf
    return depth.astype(np.float32)


def test_equals_register_cpp_on_plane_and_box() -> None:
    depth = plane_and_box()
    expected, refused = reference_register(depth, DEPTH_CAM, RGB_CAM, EXTRINSICS)
    got = register_depth(depth, DEPTH_CAM, RGB_CAM, EXTRINSICS)
    assert got.dtype == np.float32
    assert got.shape == (54, 72)
    assert refused > 0  # the box hides part of the wall: the z-buffer decided
    assert np.isfinite(expected).sum() > 0.5 * expected.size
    assert np.isnan(expected).sum() > 0  # holes: the target sees more than the source
    np.testing.assert_array_equal(got, expected)  # bit for bit, NaN where NaN
    # the box stays in front: its registered depth ~ 1.1 m, the wall's beyond 2 m
    assert 1.05 < float(np.nanmin(got)) < 1.15
    assert float(np.nanmax(got)) > 2.0


def test_equals_register_cpp_with_projection_offsets_and_lower_resolution() -> None:
    # depth from a right rectified camera (P[0,3] = -fx B), target with P[0,3], P[1,3]
    src = replace(
        DEPTH_CAM, p=(57.3, 0.0, 31.6, -57.3 * 0.12, 0.0, 56.9, 23.3, 0.0, 0.0, 0.0, 1.0, 0.0)
    )
    dst = replace(
        PinholeCamera.from_intrinsics(41, 29, 35.1, 34.8, 20.3, 14.1),
        p=(35.1, 0.0, 20.3, 1.7, 0.0, 34.8, 14.1, -0.9, 0.0, 0.0, 1.0, 0.0),
    )
    depth = plane_and_box()
    expected, refused = reference_register(depth, src, dst, EXTRINSICS)
    assert refused > 0  # downsampling: many points per pixel
    np.testing.assert_array_equal(register_depth(depth, src, dst, EXTRINSICS), expected)


def test_fill_upsampling_holes_large_rectangles_equal_register_cpp() -> None:
    # 4.3 x the resolution: rectangles of 4-6 px a side (beyond the per-offset passes)
    dst = PinholeCamera.from_intrinsics(275, 206, 246.4, 244.7, 137.3, 102.9)
    depth = plane_and_box()
    expected, refused = reference_register(depth, DEPTH_CAM, dst, EXTRINSICS, True)
    got = register_depth(depth, DEPTH_CAM, dst, EXTRINSICS, fill_upsampling_holes=True)
    assert refused > 0
    np.testing.assert_array_equal(got, expected)
    assert np.isfinite(got).mean() > 0.8


def test_fill_upsampling_holes_equals_register_cpp() -> None:
    dst = PinholeCamera.from_intrinsics(144, 108, 127.4, 126.2, 72.1, 53.7)
    depth = plane_and_box()
    plain = register_depth(depth, DEPTH_CAM, dst, EXTRINSICS)
    expected, refused = reference_register(depth, DEPTH_CAM, dst, EXTRINSICS, True)
    got = register_depth(depth, DEPTH_CAM, dst, EXTRINSICS, fill_upsampling_holes=True)
    assert refused > 0
    np.testing.assert_array_equal(got, expected)
    # twice the resolution: plain registration leaves ~3/4 of the pixels empty, the
    # rectangles fill them
    assert np.isfinite(plain).mean() < 0.4
    assert np.isfinite(got).mean() > 0.8


def test_identity_returns_the_input() -> None:
    depth = plane_and_box()
    got = register_depth(depth, DEPTH_CAM, DEPTH_CAM, np.eye(4))
    valid = np.isfinite(depth)
    np.testing.assert_array_equal(got[valid], depth[valid])
    assert np.isnan(got[~valid]).all()


def test_single_points_by_hand() -> None:
    cam = PinholeCamera.from_intrinsics(10, 5, 100.0, 100.0, 2.0, 2.0)
    depth = np.full((5, 10), np.nan, dtype=np.float32)
    depth[2, 3] = 2.0  # X = (3 - 2) * 2 / 100 = 0.02 m
    shift = rigid_transform(np.eye(3), [0.1, 0.0, 0.5])  # x' = 0.12, z' = 2.5
    got = register_depth(depth, cam, cam, shift)
    # u' = 100 * 0.12 / 2.5 + 2 = 6.8 -> int(7.3) = 7; v' = 2 -> 2; stored z' = 2.5
    assert got[2, 7] == np.float32(2.5)
    assert np.isfinite(got).sum() == 1


@pytest.mark.parametrize(("x", "column"), [(-0.012, 0), (-0.016, None)])
def test_target_pixel_truncates_toward_zero(x: float, column: int | None) -> None:
    cam = PinholeCamera.from_intrinsics(10, 5, 100.0, 100.0, 2.0, 2.0)
    depth = np.full((5, 10), np.nan, dtype=np.float32)
    depth[2, 0] = 1.0  # X = (0 - 2) / 100 = -0.02 m
    got = register_depth(depth, cam, cam, rigid_transform(np.eye(3), [x, 0.0, 0.0]))
    # u' = 100 * (-0.02 + x) + 2 = -1.2: int(-0.7) = 0, column 0 (register.cpp's C++
    # truncation, not floor); -1.6: int(-1.1) = -1, outside
    if column is None:
        assert np.isnan(got).all()
    else:
        assert got[2, column] == np.float32(1.0)
        assert np.isfinite(got).sum() == 1


def test_nearest_surface_wins_in_any_order() -> None:
    # u' = X / Z = -0.05 and +0.05 in a 1-pixel target: int(0.45) = int(0.55) = 0
    src = PinholeCamera.from_intrinsics(2, 1, 10.0, 10.0, 0.5, 0.0)
    dst = PinholeCamera.from_intrinsics(1, 1, 1.0, 1.0, 0.0, 0.0)
    for pair in ((3.0, 1.0), (1.0, 3.0)):
        got = register_depth(np.array([pair], dtype=np.float32), src, dst, np.eye(4))
        assert got[0, 0] == np.float32(1.0)


def test_invalid_values_and_points_behind_the_target() -> None:
    cam = PinholeCamera.from_intrinsics(6, 4, 50.0, 50.0, 2.5, 1.5)
    depth = np.array([[np.nan, np.inf, -np.inf, 0.0, -1.0, 1.0]] * 4, dtype=np.float32)
    got = register_depth(depth, cam, cam, np.eye(4))
    assert np.isfinite(got).sum() == 4  # only the 1.0 column
    assert (got[:, 5] == 1.0).all()
    behind = rigid_transform(np.eye(3), [0.0, 0.0, -2.0])  # z' = -1: behind the target
    assert np.isnan(register_depth(depth, cam, cam, behind)).all()


def test_registrar_reuses_rays_and_follows_changes() -> None:
    reg = DepthRegistrar()
    depth = plane_and_box()
    a = reg.register(depth, DEPTH_CAM, RGB_CAM, EXTRINSICS)
    b = reg.register(depth, DEPTH_CAM, RGB_CAM, EXTRINSICS)
    np.testing.assert_array_equal(a, b)
    other = rigid_transform(np.eye(3), [0.05, 0.0, 0.0])
    np.testing.assert_array_equal(
        reg.register(depth, DEPTH_CAM, RGB_CAM, other),
        reference_register(depth, DEPTH_CAM, RGB_CAM, other)[0],
    )


def test_bad_inputs() -> None:
    depth = plane_and_box()
    with pytest.raises(InputError, match="shape"):
        register_depth(depth[None], DEPTH_CAM, RGB_CAM, EXTRINSICS)
    with pytest.raises(CalibrationError, match="camera_info is 64x48 but the image is 32x48"):
        register_depth(depth[:, :32], DEPTH_CAM, RGB_CAM, EXTRINSICS)
    with pytest.raises(CalibrationError, match="rotation"):
        register_depth(depth, DEPTH_CAM, RGB_CAM, np.diag([1.0, 1.0, 2.0, 1.0]))
