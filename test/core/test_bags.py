"""rosbag2 writer/reader core: round trips in both storages, type hashes, QoS metadata."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from depth_ros.core import bags
from depth_ros.core.bags import STORAGE_FORMATS, BagWriter, bag_info, read_messages
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.messages import (
    disparity_from_msg,
    image_to_numpy,
    read_points,
    stamp_to_ns,
)
from depth_ros.core.msgtypes import (
    CameraInfoMsg,
    ClockMsg,
    DisparityImageMsg,
    ImageMsg,
    PointCloudMsg,
    StampedMsg,
)
from depth_ros.core.pointcloud import depth_to_cloud

RNG = np.random.default_rng(0)
CAM = PinholeCamera.from_intrinsics(32, 24, 30.0, 31.0, 15.5, 11.5, tx=-3.0, frame_id="cam")
RGB = RNG.integers(0, 256, (24, 32, 3), dtype=np.uint8)
GREY = RNG.integers(0, 256, (24, 32), dtype=np.uint8)
DEPTH = RNG.uniform(0.5, 5.0, (24, 32)).astype(np.float32)
DEPTH[3, 4] = np.nan
DISP = RNG.uniform(1.0, 20.0, (24, 32)).astype(np.float32)
DISP[0, :5] = np.nan
STEREO = StereoGeometry(fx=30.0, baseline=0.1, doffs=2.0)
STAMPS = [1_700_000_000_000_000_000 + i * 50_000_000 for i in range(3)]


def _write(path: Path, storage: str) -> None:
    with BagWriter(path, storage) as bag:
        for stamp in STAMPS:
            bag.write_clock(stamp)
            bag.write_image("/rgb", stamp, RGB, "cam")
            bag.write_image("/grey", stamp, GREY, "cam")
            bag.write_depth("/depth", stamp, DEPTH, "cam")
            bag.write_camera_info("/camera_info", stamp, CAM)
            bag.write_disparity("/disparity", stamp, DISP, STEREO, 0.0, 24.0, "cam")
            bag.write_cloud("/points", stamp, depth_to_cloud(DEPTH, CAM, RGB), "cam")


@pytest.mark.parametrize("storage", STORAGE_FORMATS)
def test_round_trip(tmp_path: Path, storage: str) -> None:
    path = tmp_path / "bag"
    _write(path, storage)
    info = bag_info(path)
    assert info.message_count == 7 * len(STAMPS)
    assert (info.start_ns, info.end_ns) == (STAMPS[0], STAMPS[-1])
    assert info.topics["/disparity"].msgtype == "stereo_msgs/msg/DisparityImage"
    assert info.topics["/points"].count == len(STAMPS)

    seen: dict[str, list[int]] = {}
    for topic, stamp, msg in read_messages(path):
        seen.setdefault(topic, []).append(stamp)
        if topic != "/clock":
            assert isinstance(msg, StampedMsg)
            stamped = msg
            assert stamp_to_ns(stamped) == stamp  # header stamp == bag timestamp
            assert stamped.header.frame_id == "cam"
        if topic in ("/rgb", "/grey", "/depth"):
            assert isinstance(msg, ImageMsg)
            image = msg
            encoding, want = {"/rgb": ("rgb8", RGB), "/grey": ("mono8", GREY)}.get(
                topic, ("32FC1", DEPTH)
            )
            assert image.encoding == encoding
            np.testing.assert_array_equal(image_to_numpy(image), want)
        elif topic == "/camera_info":
            assert isinstance(msg, CameraInfoMsg)
            assert PinholeCamera.from_msg(msg) == CAM
        elif topic == "/disparity":
            assert isinstance(msg, DisparityImageMsg)
            d = msg
            # stereo_image_proc's encoding (d + doffs, invalid below min_disparity), undone
            np.testing.assert_allclose(disparity_from_msg(d, STEREO.doffs), DISP, atol=1e-5)
            assert d.f == 30.0
            assert d.t == pytest.approx(0.1)  # float32 field
            assert (d.min_disparity, d.max_disparity) == (2.0, 26.0)
            window = d.valid_window
            assert (window.x_offset, window.y_offset, window.width, window.height) == (0, 0, 32, 24)
        elif topic == "/points":
            assert isinstance(msg, PointCloudMsg)
            points = read_points(msg)
            expected = depth_to_cloud(DEPTH, CAM, RGB).as_array()
            np.testing.assert_array_equal(points["z"], expected[:, :, 2])
            np.testing.assert_array_equal(
                points["rgb"].view(np.uint32), expected[:, :, 3].view(np.uint32)
            )
        elif topic == "/clock":
            assert isinstance(msg, ClockMsg)
            clock = msg.clock
            assert int(clock.sec) * 10**9 + int(clock.nanosec) == stamp
    assert all(v == STAMPS for v in seen.values())
    assert len(seen) == 7

    only = [m.topic for m in read_messages(path, ["/rgb"])]
    assert only == ["/rgb"] * len(STAMPS)


def test_metadata_qos_and_hashes(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    _write(path, "mcap")
    meta = yaml.safe_load((path / "metadata.yaml").read_text())["rosbag2_bagfile_information"]
    assert meta["version"] == 9
    assert meta["storage_identifier"] == "mcap"
    by_name = {
        t["topic_metadata"]["name"]: t["topic_metadata"] for t in meta["topics_with_message_count"]
    }
    qos = by_name["/rgb"]["offered_qos_profiles"]
    assert qos[0]["reliability"] == "reliable"
    assert qos[0]["durability"] == "volatile"
    assert qos[0]["history"] == "keep_last"
    assert qos[0]["depth"] == 10
    assert by_name["/rgb"]["type_description_hash"].startswith("RIHS01_")


# Kilted's own type descriptions, installed with the ROS 2 message wheels.
SHARE = Path(sys.prefix) / "share"


@pytest.mark.parametrize(
    "msgtype",
    [bags.IMAGE, bags.CAMERA_INFO, bags.POINT_CLOUD2, bags.DISPARITY_IMAGE, bags.CLOCK],
)
def test_type_hashes_match_kilted(msgtype: str) -> None:
    pkg, _, name = msgtype.split("/")
    desc = SHARE / pkg / "msg" / f"{name}.json"
    if not desc.exists():
        pytest.skip(f"{desc} absent (ROS 2 message wheels not installed)")
    hashes = json.loads(desc.read_text())["type_hashes"]
    expected = next(h["hash_string"] for h in hashes if h["type_name"] == msgtype)
    assert bags.typestore().hash_rihs01(msgtype) == expected


def test_sqlite3_readable_with_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "bag"
    _write(path, "sqlite3")
    (db,) = path.glob("*.db3")
    with sqlite3.connect(db) as con:
        topics = dict(con.execute("SELECT name, type FROM topics").fetchall())
        count = con.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    assert topics["/rgb"] == "sensor_msgs/msg/Image"
    assert count == 7 * len(STAMPS)


def test_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="unknown bag storage 'rosbag1'"):
        BagWriter(tmp_path / "b", "rosbag1")
    path = tmp_path / "bag"
    _write(path, "mcap")
    with pytest.raises(InputError, match="already exists"):
        BagWriter(path).open()
    with BagWriter(path, overwrite=True) as bag:  # replaces the old bag
        bag.write_image("/x", 5, GREY)
        with pytest.raises(InputError, match="holds sensor_msgs/msg/Image"):
            bag.write_camera_info("/x", 6, CAM)
        with pytest.raises(InputError, match="cannot infer an image encoding"):
            bag.write_image("/y", 6, GREY.astype(np.int64))
    assert bag_info(path).message_count == 1
    (tmp_path / "plain").mkdir()
    with pytest.raises(InputError, match="not a rosbag2 directory"):
        BagWriter(tmp_path / "plain", overwrite=True).open()
    with pytest.raises(InputError, match="has no topic /nope; it has: /x"):
        list(read_messages(path, ["/nope"]))
    with pytest.raises(InputError, match="does not exist"):
        bag_info(tmp_path / "missing")
