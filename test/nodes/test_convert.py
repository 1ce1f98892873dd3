"""Message <-> core conversions of the nodes with rclpy's classes (no DDS: messages are
built and read back), and the same bytes as the rosbags builders."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from builtin_interfaces.msg import Time
from sensor_msgs.msg import PointField
from std_msgs.msg import Header

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.encodings import ENCODINGS
from depth_ros.core.messages import disparity_from_msg, image_to_numpy, packed_from_msg
from depth_ros.core.pointcloud import depth_to_cloud, unpack_rgb
from depth_ros.nodes.convert import camera_info_msg, cloud_msg, disparity_msg, numpy_to_image

HEADER = Header(stamp=Time(sec=12, nanosec=345), frame_id="cam_optical")


@pytest.mark.parametrize("encoding", ["rgb8", "bgra8", "mono8", "16UC1", "32FC1", "64FC1"])
def test_image_round_trip(encoding: str) -> None:
    enc = ENCODINGS.get(encoding)
    rng = np.random.default_rng(0)
    shape = (5, 7) if enc.channels == 1 else (5, 7, enc.channels)
    arr = (rng.random(shape) * 200).astype(enc.dtype)
    msg = numpy_to_image(arr, encoding, HEADER)
    assert (msg.height, msg.width, msg.encoding) == (5, 7, encoding)
    assert msg.step == 7 * enc.pixel_bytes
    assert len(msg.data) == msg.step * msg.height
    assert msg.is_bigendian == 0
    assert msg.header.frame_id == "cam_optical"
    assert msg.header.stamp.nanosec == 345
    back = image_to_numpy(msg)
    assert back.dtype == arr.dtype
    np.testing.assert_array_equal(back, arr)


def test_image_from_a_padded_message() -> None:
    arr = np.arange(12, dtype=np.uint8).reshape(3, 4)
    msg = numpy_to_image(arr, "mono8", HEADER)
    msg.step = 6
    msg.data = bytes(np.pad(arr, ((0, 0), (0, 2)), constant_values=255).tobytes())
    np.testing.assert_array_equal(image_to_numpy(msg), arr)


def test_disparity_round_trip_with_doffs() -> None:
    geo = StereoGeometry(fx=500.0, baseline=0.12, doffs=31.0)
    disp = np.array([[10.0, np.nan, 0.0], [63.0, 5.5, np.nan]], np.float32)
    msg = disparity_msg(disp, geo, 0.0, 63.0, HEADER)
    assert msg.f == 500.0
    assert msg.t == pytest.approx(0.12)
    assert msg.min_disparity == pytest.approx(31.0)  # shifted by doffs
    assert msg.max_disparity == pytest.approx(94.0)
    assert msg.delta_d == pytest.approx(1 / 16)
    assert msg.image.encoding == "32FC1"
    assert msg.header.frame_id == "cam_optical"
    img = image_to_numpy(msg.image)
    # the image holds d + doffs, so that Z = f * T / value; invalid: min_disparity - 1
    assert img[0, 0] == pytest.approx(41.0)
    assert msg.f * msg.t / img[0, 0] == pytest.approx(500 * 0.12 / (10 + 31))
    assert img[0, 1] == pytest.approx(30.0)
    assert np.isfinite(img).all()
    back = disparity_from_msg(msg, geo.doffs)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(disp))
    np.testing.assert_allclose(back[np.isfinite(back)], disp[np.isfinite(disp)])
    assert not np.isnan(disp[0, 2])  # input untouched
    # the valid window bounds the valid pixels
    win = msg.valid_window
    assert (win.x_offset, win.y_offset, win.width, win.height) == (0, 0, 3, 2)


def test_disparity_without_doffs_and_window() -> None:
    geo = StereoGeometry(fx=400.0, baseline=0.1)
    disp = np.full((4, 5), np.nan, np.float32)
    disp[1:3, 2:4] = 7.0
    msg = disparity_msg(disp, geo, 0.0, 15.0, HEADER)
    assert msg.min_disparity == 0.0
    assert image_to_numpy(msg.image)[0, 0] == -1.0
    win = msg.valid_window
    assert (win.x_offset, win.y_offset, win.width, win.height) == (2, 1, 2, 2)
    back = disparity_from_msg(msg)
    np.testing.assert_array_equal(np.isnan(back), np.isnan(disp))
    assert disp[0, 0] != disp[0, 0]  # the caller's array keeps its NaN


def test_disparity_all_invalid() -> None:
    geo = StereoGeometry(fx=400.0, baseline=0.1, doffs=2.0)
    msg = disparity_msg(np.full((2, 2), np.nan, np.float32), geo, 0.0, 15.0, HEADER)
    assert msg.valid_window.width == 0
    assert np.isnan(disparity_from_msg(msg, 2.0)).all()


def test_cloud_msg_layout() -> None:
    cam = PinholeCamera.from_intrinsics(4, 3, 10.0, 10.0, 1.5, 1.0)
    depth = np.ones((3, 4), np.float32)
    depth[0, 0] = np.nan
    rgb = np.arange(36, dtype=np.uint8).reshape(3, 4, 3)
    packed = depth_to_cloud(depth, cam, rgb)
    msg = cloud_msg(packed, HEADER)
    assert (msg.height, msg.width) == (3, 4)
    assert [(f.name, f.offset, f.datatype, f.count) for f in msg.fields] == [
        ("x", 0, PointField.FLOAT32, 1),
        ("y", 4, PointField.FLOAT32, 1),
        ("z", 8, PointField.FLOAT32, 1),
        ("rgb", 12, PointField.FLOAT32, 1),
    ]
    assert (msg.point_step, msg.row_step) == (16, 64)
    assert len(msg.data) == 3 * 64
    assert msg.is_dense is False
    assert msg.is_bigendian is False
    assert msg.header.frame_id == "cam_optical"
    arr = np.frombuffer(bytes(msg.data), np.float32).reshape(3, 4, 4)
    assert math.isnan(arr[0, 0, 2])
    assert arr[2, 3, 0] == pytest.approx((3 - 1.5) / 10)
    np.testing.assert_array_equal(unpack_rgb(arr[:, :, 3]), rgb)
    again = packed_from_msg(msg)
    assert again == packed


def test_camera_info_msg_fields() -> None:
    cam = PinholeCamera(
        640,
        480,
        k=(500.0, 0.0, 320.0, 0.0, 501.0, 240.0, 0.0, 0.0, 1.0),
        p=(490.0, 0.0, 321.0, -49.0, 0.0, 490.0, 241.0, 0.0, 0.0, 0.0, 1.0, 0.0),
        d=(-0.1, 0.01, 0.0, 0.0, 0.001),
        r=(1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0),
        distortion_model="plumb_bob",
        frame_id="cam_optical",
    )
    msg = camera_info_msg(cam, HEADER)
    assert (msg.width, msg.height) == (640, 480)
    assert msg.distortion_model == "plumb_bob"
    assert list(msg.k) == list(cam.k)
    assert list(msg.p) == list(cam.p)
    assert list(msg.d) == list(cam.d)
    assert list(msg.r) == list(cam.r)
    assert msg.header.frame_id == "cam_optical"
    assert msg.header.stamp.sec == 12
    back = PinholeCamera.from_msg(msg)
    assert back == cam
    assert (back.fx, back.cx, back.tx) == (490.0, 321.0, -49.0)


def test_rclpy_and_rosbags_builders_make_the_same_messages() -> None:
    """One builder, two libraries: what the rosbags serializer writes of the bag's messages
    is what rclpy reads as the node's (the bytes themselves differ in padding: rclpy's
    serializer leaves it uninitialised)."""
    from rclpy.serialization import deserialize_message, serialize_message

    from depth_ros.core import bags

    stamp_ns = 12 * 10**9 + 345
    frame = HEADER.frame_id
    cam = dataclasses.replace(
        PinholeCamera.from_intrinsics(6, 4, 10.0, 11.0, 2.5, 1.5, tx=-1.0, frame_id=frame),
        d=(-0.1, 0.01, 0.0, 0.0, 0.001),
        binning_x=2,
    )
    depth = np.linspace(0.5, 3.0, 24, dtype=np.float32).reshape(4, 6)
    depth[1, 2] = np.nan
    rgb = np.arange(72, dtype=np.uint8).reshape(4, 6, 3)
    geo = StereoGeometry(fx=10.0, baseline=0.1, doffs=1.5)
    pairs = [
        (numpy_to_image(rgb, "rgb8", HEADER), bags.image_msg(rgb, stamp_ns, frame, "rgb8")),
        (camera_info_msg(cam, HEADER), bags.camera_info_msg(cam, stamp_ns)),
        (
            cloud_msg(depth_to_cloud(depth, cam, rgb), HEADER),
            bags.cloud_msg(depth_to_cloud(depth, cam, rgb), stamp_ns, frame),
        ),
        (
            disparity_msg(1.0 / depth, geo, 0.0, 8.0, HEADER),
            bags.disparity_msg(1.0 / depth, stamp_ns, geo, 0.0, 8.0, frame),
        ),
    ]
    for ros, bag in pairs:
        msgtype = str(getattr(bag, "__msgtype__"))  # noqa: B009 (the type store's class attribute)
        data = bytes(bags.typestore().serialize_cdr(bag, msgtype))
        # rclpy's float32 fields hold doubles until serialized: compare after a round trip
        expected = deserialize_message(serialize_message(ros), type(ros))
        assert deserialize_message(data, type(ros)) == expected, msgtype
