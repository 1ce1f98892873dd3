"""Messages serialized in place (core/cdr.py) against the rosbags CDR serializer: the same
bytes, for frame ids of every length modulo 4 (all padding cases), and views that write
into the message."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from depth_ros.core import cdr, messages
from depth_ros.core.bags import bag_types, typestore
from depth_ros.core.camera import StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.msgtypes import DisparityImageMsg
from depth_ros.core.pointcloud import XYZ_FIELDS, XYZRGB_FIELDS, PointFieldSpec

FRAMES = ["", "a", "ab", "abc", "left_camera_optical_frame"]


def _types() -> Any:
    return typestore().types


def _header(sec: int, nanosec: int, frame: str) -> Any:
    t = _types()
    return t["std_msgs/msg/Header"](
        stamp=t["builtin_interfaces/msg/Time"](sec=sec, nanosec=nanosec), frame_id=frame
    )


def _reference(msg: Any, name: str) -> bytes:
    return bytes(typestore().serialize_cdr(msg, name))


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize(
    ("encoding", "dtype", "channels"),
    [("32FC1", np.float32, 1), ("rgb8", np.uint8, 3), ("mono16", np.uint16, 1)],
)
def test_image_bytes_match_rosbags(frame: str, encoding: str, dtype: Any, channels: int) -> None:
    h, w = 3, 5
    rng = np.random.default_rng(1)
    pixels = (rng.random((h, w, channels)) * 200).astype(dtype)
    step = w * channels * np.dtype(dtype).itemsize
    msg = cdr.image(frame, h, w, encoding, step)
    msg.stamp(1_700_000_000, 999)
    msg.array("data", dtype, (h, w, channels))[:] = pixels
    ref = _types()["sensor_msgs/msg/Image"](
        header=_header(1_700_000_000, 999, frame),
        height=h,
        width=w,
        encoding=encoding,
        is_bigendian=0,
        step=step,
        data=pixels.reshape(-1).view(np.uint8),
    )
    assert bytes(msg) == _reference(ref, "sensor_msgs/msg/Image")


@pytest.mark.parametrize("frame", FRAMES)
def test_disparity_image_bytes_match_rosbags(frame: str) -> None:
    t = _types()
    h, w = 4, 6
    values = np.arange(h * w, dtype=np.float32).reshape(h, w) / 3
    msg = cdr.disparity_image(frame, h, w)
    msg.stamp(12, 345)
    msg.array("image.data", np.float32, (h, w))[:] = values
    scalars = {
        "f": 700.5,
        "t": 0.12,
        "min_disparity": -1.5,
        "max_disparity": 127.25,
        "delta_d": 0.0625,
    }
    for key, value in scalars.items():
        msg.set(key, value)
    window = {"x_offset": 1, "y_offset": 2, "width": 3, "height": 1}
    for key, value in window.items():
        msg.set(f"valid_window.{key}", value)
    ref = t["stereo_msgs/msg/DisparityImage"](
        header=_header(12, 345, frame),
        image=t["sensor_msgs/msg/Image"](
            header=_header(12, 345, frame),
            height=h,
            width=w,
            encoding="32FC1",
            is_bigendian=0,
            step=4 * w,
            data=values.reshape(-1).view(np.uint8),
        ),
        valid_window=t["sensor_msgs/msg/RegionOfInterest"](**window, do_rectify=False),
        **scalars,
    )
    assert bytes(msg) == _reference(ref, "stereo_msgs/msg/DisparityImage")
    assert msg.get("max_disparity") == 127.25


@pytest.mark.parametrize("frame", FRAMES)
@pytest.mark.parametrize(
    "fields", [XYZ_FIELDS, XYZRGB_FIELDS, (PointFieldSpec("intensity", 0, 7, 1),)]
)
@pytest.mark.parametrize("dense", [True, False])
def test_point_cloud_bytes_match_rosbags(
    frame: str, fields: tuple[PointFieldSpec, ...], dense: bool
) -> None:
    t = _types()
    h, w, nf = 2, 3, len(fields)
    points = np.random.default_rng(2).random((h, w, nf)).astype(np.float32)
    msg = cdr.point_cloud(frame, h, w, fields, 4 * nf)
    msg.stamp(5, 6)
    msg.set("is_dense", dense)
    msg.array("data", np.float32, (h, w, nf))[:] = points
    ref = t["sensor_msgs/msg/PointCloud2"](
        header=_header(5, 6, frame),
        height=h,
        width=w,
        fields=[
            t["sensor_msgs/msg/PointField"](
                name=f.name, offset=f.offset, datatype=f.datatype, count=f.count
            )
            for f in fields
        ],
        is_bigendian=False,
        point_step=4 * nf,
        row_step=4 * nf * w,
        data=points.reshape(-1).view(np.uint8),
        is_dense=dense,
    )
    assert bytes(msg) == _reference(ref, "sensor_msgs/msg/PointCloud2")


def test_arrays_are_views_and_stamps_reach_nested_headers() -> None:
    msg = cdr.disparity_image("cam", 2, 2)
    view = msg.array("image.data", np.float32, (2, 2))
    view[1, 1] = 42.0
    assert np.frombuffer(msg.data, np.float32, 4, msg.data.index(b"32FC1\0") + 16)[3] == 42.0
    msg.stamp(77, 88)
    assert msg.get("header.sec") == 77
    assert msg.get("image.header.sec") == 77
    assert msg.get("header.nanosec") == 88
    assert msg.get("image.header.nanosec") == 88
    decoded = typestore().deserialize_cdr(bytes(msg), "stereo_msgs/msg/DisparityImage")
    assert isinstance(decoded, DisparityImageMsg)
    assert decoded.image.header.stamp.sec == 77
    assert np.asarray(decoded.image.data).view(np.float32)[3] == 42.0


def test_pixel_views_are_aligned_for_their_dtype() -> None:
    for frame in FRAMES:
        msg = cdr.image(frame, 2, 3, "32FC1", 12)
        view = msg.array("data", np.float32, (2, 3))
        assert view.ctypes.data % 4 == 0
        assert view.flags.writeable
        assert view.flags.c_contiguous


@pytest.mark.parametrize("frame", FRAMES)
def test_write_disparity_matches_the_message_builder(frame: str) -> None:
    """The serialized fast path and the message objects share one DisparityImage encoder:
    the same bytes as the rosbags serializer writes of messages.disparity_msg."""
    h, w = 4, 6
    disparity = np.linspace(1.0, 30.0, h * w, dtype=np.float32).reshape(h, w)
    disparity[0, :] = np.nan
    disparity[:, 5] = np.nan
    geometry = StereoGeometry(fx=700.5, baseline=0.12, doffs=2.5)
    msg = cdr.disparity_image(frame, h, w)
    encoded = cdr.write_disparity(msg, disparity, geometry, 0.0, 64.0)
    msg.stamp(12, 345)
    assert encoded.valid_window == (0, 1, 5, 3)
    built = messages.disparity_msg(
        bag_types(), disparity, geometry, 0.0, 64.0, _header(12, 345, frame)
    )
    assert bytes(msg) == _reference(built, "stereo_msgs/msg/DisparityImage")


@pytest.mark.parametrize("little_endian", [True, False])
def test_read_stamp_in_either_byte_order(little_endian: bool) -> None:
    msg = _types()["sensor_msgs/msg/Image"](
        header=_header(1_700_000_000, 987_654_321, "cam"),
        height=0,
        width=0,
        encoding="",
        is_bigendian=0,
        step=0,
        data=np.zeros(0, np.uint8),
    )
    raw = bytes(
        typestore().serialize_cdr(msg, "sensor_msgs/msg/Image", little_endian=little_endian)
    )
    assert cdr.read_stamp(raw) == (1_700_000_000, 987_654_321)
    with pytest.raises(InputError, match="serialized message of 6 bytes has no header stamp"):
        cdr.read_stamp(raw[:6])
