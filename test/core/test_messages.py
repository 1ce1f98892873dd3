"""core/messages.py with rosbags' message classes (no ROS): builders round-trip through the
CDR serializer, the point-cloud reader on hand-made layouts, the DisparityImage encoder."""

from __future__ import annotations

import dataclasses
import struct
from typing import Any

import cv2
import numpy as np
import pytest

from depth_ros.core import messages
from depth_ros.core.bags import bag_types, typestore
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.pointcloud import XYZ_FIELDS, PackedCloud, PointFieldSpec, depth_to_cloud

STAMP_NS = 1_700_000_000_123_456_789
CAM = dataclasses.replace(
    PinholeCamera.from_intrinsics(6, 4, 10.0, 11.0, 2.5, 1.5, tx=-1.0, frame_id="cam"),
    d=(-0.1, 0.01, 0.0, 0.0, 0.001),
)


def _round_trip(msg: Any) -> Any:
    """``msg`` serialized with the rosbags CDR serializer and read back."""
    store = typestore()
    return store.deserialize_cdr(store.serialize_cdr(msg, msg.__msgtype__), msg.__msgtype__)


def _header(frame: str = "cam") -> Any:
    return messages.header_msg(bag_types(), STAMP_NS, frame)


# ---------------------------------------------------------------- stamps, images, camera


def test_stamps() -> None:
    header = _round_trip(
        messages.image_msg(bag_types(), np.zeros((1, 1), np.uint8), None, _header())
    )
    assert messages.stamp_to_ns(header) == STAMP_NS
    assert (header.header.stamp.sec, header.header.stamp.nanosec) == (1_700_000_000, 123_456_789)
    with pytest.raises(InputError, match="timestamps must be >= 0 ns, got -1"):
        messages.time_msg(bag_types(), -1)


@pytest.mark.parametrize(
    ("encoding", "dtype", "channels"),
    [
        ("rgb8", np.uint8, 3),
        ("bgra8", np.uint8, 4),
        ("mono16", np.uint16, 1),
        ("32FC1", np.float32, 1),
    ],
)
def test_image_round_trip(encoding: str, dtype: Any, channels: int) -> None:
    rng = np.random.default_rng(0)
    shape = (4, 6) if channels == 1 else (4, 6, channels)
    pixels = (rng.random(shape) * 250).astype(dtype)
    msg = _round_trip(messages.image_msg(bag_types(), pixels, encoding, _header()))
    assert (msg.height, msg.width, msg.encoding, msg.step) == (4, 6, encoding, pixels[0].nbytes)
    assert msg.header.frame_id == "cam"
    back = messages.image_to_numpy(msg)
    assert back.dtype == pixels.dtype
    np.testing.assert_array_equal(back, pixels)


def test_image_encoding_inferred_or_refused() -> None:
    types = bag_types()
    assert (
        messages.image_msg(types, np.zeros((2, 2, 3), np.uint8), None, _header()).encoding == "rgb8"
    )
    assert (
        messages.image_msg(types, np.zeros((2, 2), np.uint16), None, _header()).encoding == "16UC1"
    )
    with pytest.raises(InputError, match="cannot infer an image encoding for a int64"):
        messages.image_msg(types, np.zeros((2, 2), np.int64), None, _header())


def test_camera_info_round_trip_keeps_binning() -> None:
    binned = dataclasses.replace(CAM, width=12, height=8, binning_x=2, binning_y=2)
    msg = _round_trip(messages.camera_info_msg(bag_types(), binned, _header()))
    assert (msg.binning_x, msg.binning_y) == (2, 2)
    assert list(msg.d) == list(CAM.d)
    # from_msg applies the binning: the camera of the delivered (binned) image
    assert PinholeCamera.from_msg(msg).fx == pytest.approx(CAM.fx / 2)
    assert (
        PinholeCamera.from_msg(_round_trip(messages.camera_info_msg(bag_types(), CAM, _header())))
        == CAM
    )


def test_rgb_from_msg_reads_images_and_compressed_images() -> None:
    rgb = np.random.default_rng(1).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    bgr = messages.image_msg(bag_types(), np.ascontiguousarray(rgb[:, :, ::-1]), "bgr8", _header())
    np.testing.assert_array_equal(messages.rgb_from_msg(bgr), rgb)
    ok, png = cv2.imencode(".png", np.ascontiguousarray(rgb[:, :, ::-1]))
    assert ok
    from rosbags.typesys.stores.ros2_kilted import sensor_msgs__msg__CompressedImage

    compressed = sensor_msgs__msg__CompressedImage(
        header=_header(), format="png", data=png.reshape(-1)
    )
    np.testing.assert_array_equal(messages.rgb_from_msg(compressed), rgb)
    with pytest.raises(InputError, match="compressed image is 6x4 = 24 pixels, more than"):
        messages.rgb_from_msg(compressed, max_pixels=23)
    with pytest.raises(InputError, match="image is 6x4 = 24 pixels, more than"):
        messages.rgb_from_msg(bgr, max_pixels=23)


# ---------------------------------------------------------------- point clouds


def _cloud(
    fields: list[tuple[str, int, int, int]],
    step: int,
    row_step: int,
    h: int,
    w: int,
    data: bytes,
    bigendian: bool = False,
) -> PackedCloud:
    return PackedCloud(
        height=h,
        width=w,
        fields=tuple(PointFieldSpec(*f) for f in fields),
        point_step=step,
        row_step=row_step,
        data=data,
        is_dense=False,
        is_bigendian=bigendian,
    )


def test_read_points_xyz_and_xyzrgb_through_a_bag_message() -> None:
    depth = np.linspace(0.5, 3.0, 24, dtype=np.float32).reshape(4, 6)
    depth[1, 2] = np.nan  # organized: a NaN point keeps its place
    rgb = np.random.default_rng(2).integers(0, 256, (4, 6, 3), dtype=np.uint8)
    for colours in (None, rgb):
        packed = depth_to_cloud(depth, CAM, colours)
        msg = _round_trip(messages.cloud_msg(bag_types(), packed, _header()))
        points = messages.read_points(msg)
        assert points.shape == (4, 6)
        assert points.dtype.names == (
            ("x", "y", "z") if colours is None else ("x", "y", "z", "rgb")
        )
        arr = packed.as_array()
        for i, name in enumerate(points.dtype.names):
            np.testing.assert_array_equal(
                points[name].view(np.uint32), arr[:, :, i].view(np.uint32)
            )
        assert np.isnan(points["z"][1, 2])
        assert np.isnan(points["x"][1, 2])
        assert messages.packed_from_msg(msg) == dataclasses.replace(packed, data=bytes(packed.data))
        xyz = messages.points_xyz(points)
        assert xyz.shape == (24, 3)
        assert xyz.dtype == np.float32
        np.testing.assert_array_equal(xyz, arr[:, :, :3].reshape(-1, 3))


# x float32 @0, intensity uint16 @4, ring uint8 @6, time float64 @8, normal float32[3] @16,
# 4 bytes of padding per point (point_step 32) and 8 per row
MIXED = [
    ("x", 0, 7, 1),
    ("intensity", 4, 4, 1),
    ("ring", 6, 2, 1),
    ("time", 8, 8, 1),
    ("normal", 16, 7, 3),
]


def _mixed_bytes(h: int, w: int, order: str) -> bytes:
    rows = []
    for v in range(h):
        row = b"".join(
            struct.pack(order + "fHBxd3f4x", 0.5 * u - v, 100 * v + u, u, 1e9 + u, u, v, -1.0)
            for u in range(w)
        )
        rows.append(row + b"\xee" * 8)
    return b"".join(rows)


@pytest.mark.parametrize("bigendian", [False, True])
def test_read_points_mixed_types_padding_and_byte_order(bigendian: bool) -> None:
    h, w = 2, 3
    data = _mixed_bytes(h, w, ">" if bigendian else "<")
    points = messages.read_points(_cloud(MIXED, 32, 32 * w + 8, h, w, data, bigendian))
    assert points.shape == (h, w)
    assert points.dtype.itemsize == 32
    assert points.dtype["intensity"].isnative is not bigendian  # the cloud's own order
    v, u = np.mgrid[0:h, 0:w]
    np.testing.assert_array_equal(points["x"], 0.5 * u - v)
    np.testing.assert_array_equal(points["intensity"], 100 * v + u)
    assert points["intensity"].dtype.kind == "u"
    assert points["ring"].dtype == np.uint8
    np.testing.assert_array_equal(points["ring"], u)
    np.testing.assert_array_equal(points["time"], 1e9 + u)
    assert points["normal"].shape == (h, w, 3)
    np.testing.assert_array_equal(points["normal"][..., 1], v)
    assert not points.flags.writeable  # a view on the message's bytes


def test_read_points_refuses_bad_layouts() -> None:
    data = bytes(24)
    cases: list[tuple[PackedCloud, str]] = [
        (_cloud([("x", 0, 9, 1)], 12, 12, 1, 2, data), "field 'x' has datatype 9"),
        (_cloud([("x", 10, 7, 1)], 12, 12, 1, 2, data), r"ends past point_step 12"),
        (_cloud([("x", 0, 7, 1), ("x", 4, 7, 1)], 12, 24, 1, 2, data), "two fields named 'x'"),
        (_cloud([("x", 0, 7, 1)], 12, 12, 1, 2, data), "row_step 12 is smaller"),
        (_cloud([("x", 0, 7, 1)], 12, 24, 2, 2, data), r"truncated: 24 bytes for 2x2 points"),
    ]
    for cloud, match in cases:
        with pytest.raises(InputError, match=match):
            messages.read_points(cloud)
    assert messages.read_points(_cloud([], 12, 0, 0, 0, b"")).shape == (0, 0)
    with pytest.raises(InputError, match="needs scalar fields x, y and z; it has x"):
        messages.points_xyz(messages.read_points(_cloud([("x", 0, 7, 1)], 12, 24, 1, 2, data)))


def test_points_xyz_of_an_unorganized_float64_cloud() -> None:
    pts = np.arange(12, dtype=">f8").reshape(4, 3)
    cloud = _cloud(
        [(n, 8 * i, 8, 1) for i, n in enumerate("xyz")], 24, 96, 1, 4, pts.tobytes(), True
    )
    np.testing.assert_array_equal(
        messages.points_xyz(messages.read_points(cloud)), pts.astype(np.float32)
    )


def test_xyz_fields_layout() -> None:
    points = messages.read_points(depth_to_cloud(np.ones((2, 2), np.float32), CAM))
    assert points.dtype == np.dtype(
        {
            "names": list("xyz"),
            "formats": ["<f4"] * 3,
            "offsets": [f.offset for f in XYZ_FIELDS],
            "itemsize": 12,
        }
    )


# ---------------------------------------------------------------- disparity


def test_encode_disparity_by_hand() -> None:
    """stereo_image_proc's encoding: d + doffs, invalid = min - 1 (shifted), window."""
    disp = np.full((4, 5), np.nan, np.float32)
    disp[1, 1], disp[2, 3], disp[1, 2] = 10.0, 20.0, np.inf
    geometry = StereoGeometry(fx=100.0, baseline=0.2, doffs=2.0)
    out = np.zeros((4, 5), np.float32)
    enc = messages.encode_disparity(disp, geometry, 0.0, 64.0, out=out)
    assert enc.values is out
    assert (enc.min_disparity, enc.max_disparity) == (2.0, 66.0)
    assert out[1, 1] == 12.0
    assert out[2, 3] == 22.0
    invalid = np.ones((4, 5), bool)
    invalid[1, 1] = invalid[2, 3] = False
    assert (out[invalid] == 1.0).all()  # min_disparity - 1
    assert enc.valid_window == (1, 1, 3, 2)  # x, y, width, height
    assert np.isinf(disp[1, 2])  # the input is untouched
    none = messages.encode_disparity(np.full((2, 2), np.nan, np.float32), geometry, 0.0, 8.0)
    assert none.valid_window == (0, 0, 0, 0)
    fields = messages.disparity_fields(enc, geometry)
    assert fields == {
        "f": 100.0,
        "t": 0.2,
        "min_disparity": 2.0,
        "max_disparity": 66.0,
        "delta_d": 1 / 16,
        "valid_window.x_offset": 1,
        "valid_window.y_offset": 1,
        "valid_window.width": 3,
        "valid_window.height": 2,
    }


def test_disparity_round_trip_through_a_bag_message() -> None:
    geometry = StereoGeometry(fx=100.0, baseline=0.2, doffs=3.0)
    disp = np.random.default_rng(3).uniform(1.0, 30.0, (5, 7)).astype(np.float32)
    disp[0, :] = np.nan
    disp[2, 4] = np.nan
    msg = _round_trip(messages.disparity_msg(bag_types(), disp, geometry, 0.0, 32.0, _header()))
    assert msg.header.frame_id == msg.image.header.frame_id == "cam"
    assert (msg.f, msg.min_disparity, msg.max_disparity, msg.delta_d) == (100.0, 3.0, 35.0, 1 / 16)
    window = msg.valid_window
    assert (window.x_offset, window.y_offset, window.width, window.height) == (0, 1, 7, 4)
    back = messages.disparity_from_msg(msg, geometry.doffs)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(disp))
    np.testing.assert_allclose(back, disp, atol=1e-5)
    expected = disparity_to_depth(disp, geometry)
    np.testing.assert_allclose(messages.depth_from_disparity_msg(msg), expected, rtol=1e-6)
    with pytest.raises(InputError, match="disparity must be an"):
        messages.disparity_msg(bag_types(), disp[0], geometry, 0.0, 32.0, _header())
    msg.image.encoding = "16UC1"
    with pytest.raises(InputError, match="disparity image encoding is '16UC1'; expected 32FC1"):
        messages.disparity_from_msg(msg)
