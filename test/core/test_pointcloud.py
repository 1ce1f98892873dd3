"""PointCloud2 packing without ROS: layout, rgb packing, NaN for invalid points."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.messages import read_points
from depth_ros.core.pointcloud import (
    FLOAT32,
    XYZ_FIELDS,
    XYZRGB_FIELDS,
    depth_to_cloud,
    pack_points,
    pack_rgb,
    unpack_rgb,
)

CAM = PinholeCamera.from_intrinsics(4, 3, 10.0, 10.0, 1.5, 1.0)


def test_pack_rgb_is_0x00rrggbb_in_a_float32() -> None:
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [0x12, 0x34, 0x56]], np.uint8)
    packed = pack_rgb(rgb)
    assert packed.dtype == np.float32
    bits = packed.view(np.uint32).tolist()
    assert bits == [0x00FF0000, 0x0000FF00, 0x000000FF, 0x00123456]
    # as PCL reads it: the little-endian bytes of the float are B, G, R, 0
    assert packed[3].tobytes() == bytes([0x56, 0x34, 0x12, 0x00])
    # and through a Python float (what rviz/pcl tools do with struct)
    as_float = struct.unpack("<f", packed[3].tobytes())[0]
    assert struct.unpack("<I", struct.pack("<f", as_float))[0] == 0x123456


def test_pack_rgb_round_trip_of_every_byte_value() -> None:
    rgb = (
        np.stack([np.arange(256), np.arange(256)[::-1], (np.arange(256) * 7) % 256], axis=-1)
        .astype(np.uint8)
        .reshape(16, 16, 3)
    )
    packed = pack_rgb(rgb)
    assert packed.shape == (16, 16)
    assert not np.isnan(packed).any()  # 0x00RRGGBB is never a NaN pattern
    np.testing.assert_array_equal(unpack_rgb(packed), rgb)
    # one point, and a non-contiguous view
    assert unpack_rgb(packed[3, 4]).tolist() == rgb[3, 4].tolist()
    np.testing.assert_array_equal(unpack_rgb(packed[:, ::3]), rgb[:, ::3])


def test_pack_points_xyz_layout() -> None:
    pts = np.arange(2 * 3 * 3, dtype=np.float32).reshape(2, 3, 3)
    cloud = pack_points(pts)
    assert (cloud.height, cloud.width) == (2, 3)
    assert cloud.fields == XYZ_FIELDS
    assert [(f.name, f.offset, f.datatype, f.count) for f in cloud.fields] == [
        ("x", 0, FLOAT32, 1),
        ("y", 4, FLOAT32, 1),
        ("z", 8, FLOAT32, 1),
    ]
    assert cloud.point_step == 12
    assert cloud.row_step == 36
    assert len(cloud.data) == cloud.row_step * cloud.height
    assert cloud.is_dense
    assert not cloud.is_bigendian
    # point (1, 2) is at byte row*row_step + col*point_step, x y z in order
    off = 1 * cloud.row_step + 2 * cloud.point_step
    assert struct.unpack_from("<3f", cloud.data, off) == (15.0, 16.0, 17.0)
    np.testing.assert_array_equal(cloud.as_array(), pts)


def test_pack_points_xyzrgb_layout() -> None:
    pts = np.zeros((1, 2, 3), np.float32)
    pts[0, 1] = (1.0, 2.0, 3.0)
    rgb = np.array([[[1, 2, 3], [200, 100, 50]]], np.uint8)
    cloud = pack_points(pts, rgb)
    assert cloud.fields == XYZRGB_FIELDS
    assert [(f.name, f.offset) for f in cloud.fields] == [("x", 0), ("y", 4), ("z", 8), ("rgb", 12)]
    assert cloud.point_step == 16
    assert cloud.row_step == 32
    assert len(cloud.data) == 32
    x, y, z = struct.unpack_from("<3f", cloud.data, 16)
    (colour,) = struct.unpack_from("<I", cloud.data, 16 + 12)
    assert (x, y, z) == (1.0, 2.0, 3.0)
    assert colour == (200 << 16) | (100 << 8) | 50


def test_pack_points_is_dense_only_without_nan() -> None:
    pts = np.ones((2, 2, 3), np.float32)
    pts[1, 1] = np.nan
    assert not pack_points(pts).is_dense


def test_pack_points_shape_errors() -> None:
    with pytest.raises(InputError, match=r"points must be \(H, W, 3\), got \(2, 2\)"):
        pack_points(np.zeros((2, 2), np.float32))
    with pytest.raises(InputError, match=r"colour image \(3, 2\) does not match points"):
        pack_points(np.zeros((2, 2, 3), np.float32), np.zeros((3, 2, 3), np.uint8))


def test_depth_to_cloud_by_hand() -> None:
    depth = np.array(
        [[1.0, 2.0, math.nan, 1.0], [1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 1.0, 5.0]], np.float32
    )
    rgb = np.zeros((3, 4, 3), np.uint8)
    rgb[2, 3] = (9, 8, 7)
    cloud = depth_to_cloud(depth, CAM, rgb)
    assert (cloud.height, cloud.width, cloud.point_step, cloud.row_step) == (3, 4, 16, 64)
    assert not cloud.is_dense
    fields = read_points(cloud)
    assert fields.dtype.names == ("x", "y", "z", "rgb")
    # x = (u - cx)/fx * z, y = (v - cy)/fy * z
    assert fields["x"][2, 3] == pytest.approx((3 - 1.5) / 10 * 5)
    assert fields["y"][2, 3] == pytest.approx((2 - 1.0) / 10 * 5)
    assert fields["z"][2, 3] == 5.0
    assert fields["x"][0, 1] == pytest.approx((1 - 1.5) / 10 * 2)
    assert unpack_rgb(fields["rgb"][2, 3]).tolist() == [9, 8, 7]
    # invalid depth: x, y and z are NaN (the colour is still set)
    for name in "xyz":
        assert math.isnan(fields[name][0, 2])
        assert math.isnan(fields[name][1, 1])
    valid = np.isfinite(fields["z"])
    assert int(valid.sum()) == 10
    np.testing.assert_array_equal(fields["z"][valid], depth[valid])


def test_depth_to_cloud_dense_when_all_valid() -> None:
    cloud = depth_to_cloud(np.ones((3, 4), np.float32), CAM)
    assert cloud.is_dense
    assert cloud.fields == XYZ_FIELDS
    assert cloud.point_step == 12


def test_depth_to_cloud_decimation_keeps_colours_aligned() -> None:
    depth = np.ones((3, 4), np.float32)
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    cloud = depth_to_cloud(depth, CAM, rgb, decimation=2)
    assert (cloud.height, cloud.width) == (2, 2)
    assert cloud.row_step == 2 * 16
    arr = cloud.as_array()
    np.testing.assert_array_equal(unpack_rgb(arr[:, :, 3]), rgb[::2, ::2])
    assert arr[1, 1, 0] == pytest.approx((2 - 1.5) / 10)  # kept pixel (u=2, v=2)
    assert arr[1, 1, 1] == pytest.approx((2 - 1.0) / 10)


def test_depth_to_cloud_errors() -> None:
    depth = np.ones((3, 4), np.float32)
    with pytest.raises(InputError, match="decimation must be >= 1, got 0"):
        depth_to_cloud(depth, CAM, decimation=0)
    with pytest.raises(InputError, match=r"colour image \(2, 4\) does not match depth \(3, 4\)"):
        depth_to_cloud(depth, CAM, np.zeros((2, 4, 3), np.uint8))


def test_infinite_and_non_positive_depth_give_nan_points() -> None:
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.pointcloud import depth_to_cloud

    cam = PinholeCamera.from_intrinsics(4, 2, 10.0, 10.0, 1.5, 0.5)
    z = np.array([[1.0, np.inf, np.nan, -1.0], [2.0, 2.0, 0.0, 3.0]], np.float32)
    pts = depth_to_cloud(z, cam).as_array()
    bad = ~(np.isfinite(z) & (z > 0))
    assert np.isnan(pts[bad]).all()
    assert np.isfinite(pts[~bad]).all()


@pytest.mark.parametrize("decimation", [1, 2, 3])
def test_depth_to_cloud_into_a_caller_buffer_equals_the_copying_path(decimation: int) -> None:
    from depth_ros.core.pointcloud import cloud_shape, write_colors

    rng = np.random.default_rng(3)
    depth = (rng.random((3, 4)) * 4 + 0.5).astype(np.float32)
    depth[1, 2] = np.nan
    rgb = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    expected = depth_to_cloud(depth, CAM, rgb, decimation)
    shape = cloud_shape(depth.shape, True, decimation)
    assert shape == (expected.height, expected.width, 4)
    backing = bytearray(4 * int(np.prod(shape)))  # e.g. an outgoing message
    buf = np.frombuffer(backing, np.float32).reshape(shape)
    cloud = depth_to_cloud(depth, CAM, rgb, decimation, out=buf)
    assert bytes(cloud.data) == bytes(expected.data) == bytes(backing)  # written in place
    assert (cloud.is_dense, cloud.fields) == (expected.is_dense, expected.fields)
    # colours first (e.g. while the depth is computed), points later
    buf[:] = 0
    write_colors(buf, rgb, decimation)
    cloud = depth_to_cloud(depth, CAM, None, decimation, out=buf, colors_written=True)
    assert bytes(backing) == bytes(expected.data)
    assert cloud.fields == XYZRGB_FIELDS


def test_depth_to_cloud_buffer_errors() -> None:
    depth = np.ones((3, 4), np.float32)
    with pytest.raises(InputError, match=r"C-contiguous float32 \(3, 4, 3\)"):
        depth_to_cloud(depth, CAM, out=np.empty((3, 4, 4), np.float32))
    with pytest.raises(InputError, match="C-contiguous"):
        depth_to_cloud(depth, CAM, out=np.empty((3, 4, 6), np.float32)[:, :, :3])
    with pytest.raises(InputError, match="colors_written needs"):
        depth_to_cloud(depth, CAM, colors_written=True)
