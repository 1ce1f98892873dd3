"""The CLI on bad files (issue 15): one clear line and a non-zero exit, checked before any
node process is started; message types only from an allow-list of message packages."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from depth_ros import processes
from depth_ros.cli.main import main
from depth_ros.core import bags
from depth_ros.core.camera import PinholeCamera

STEREO = ("/left/image_rect", "/left/camera_info", "/right/image_rect", "/right/camera_info")


@pytest.fixture(autouse=True)
def no_process(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Any node process started is recorded (and not started)."""
    started: list[str] = []

    def start(node: str, *args: object, **kwargs: object) -> None:
        started.append(node)
        raise AssertionError(f"{node} was started")

    monkeypatch.setattr(processes, "start", start)
    yield started
    assert started == []


def _bag(path: Path, fmt: str = "mcap", info_type: object = None) -> Path:
    """A 2-frame stereo bag of 64x48 images (``info_type``: a message for the left info)."""
    cam = PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    image = np.zeros((48, 64, 3), np.uint8)
    with bags.BagWriter(path, fmt) as writer:
        for i in range(2):
            stamp = 1_700_000_000_000_000_000 + i * 100_000_000
            writer.write_image(STEREO[0], stamp, image)
            if info_type is None:
                writer.write_camera_info(STEREO[1], stamp, cam)
            else:
                writer.write(STEREO[1], info_type, stamp)
            writer.write_image(STEREO[2], stamp, image)
            writer.write_camera_info(STEREO[3], stamp, cam)
    return path


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    return code, lines


def _bag_run(capsys: pytest.CaptureFixture[str], bag: Path, tmp: Path) -> tuple[int, str]:
    code, lines = _run(capsys, "bag", "run", str(bag), "--output", str(tmp / "out"), "-q")
    assert code != 0
    assert len(lines) == 1, lines  # one line, no traceback
    assert lines[0].startswith("depth-ros bag: error: ")
    assert not (tmp / "out").exists()  # nothing written either
    return code, lines[0]


def test_truncated_mcap(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = _bag(tmp_path / "bag")
    data = next(bag.glob("*.mcap"))
    data.write_bytes(data.read_bytes()[: data.stat().st_size // 2])
    _, line = _bag_run(capsys, bag, tmp_path)
    assert f"cannot read bag {bag}" in line
    assert "truncated or corrupt" in line


def test_corrupt_sqlite3(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = _bag(tmp_path / "bag", "sqlite3")
    db = next(bag.glob("*.db3"))
    raw = bytearray(db.read_bytes())
    raw[100:4096] = b"\xff" * (4096 - 100)  # the schema pages
    db.write_bytes(bytes(raw))
    with pytest.raises(sqlite3.DatabaseError):  # really corrupt
        sqlite3.connect(db).execute("select * from messages").fetchall()
    _, line = _bag_run(capsys, bag, tmp_path)
    assert f"cannot read bag {bag}" in line


def test_missing_metadata(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = _bag(tmp_path / "bag")
    (bag / "metadata.yaml").unlink()
    _, line = _bag_run(capsys, bag, tmp_path)
    assert "has no metadata.yaml" in line
    assert "ros2 bag reindex" in line


def test_empty_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bag = tmp_path / "bag"
    bag.mkdir()
    _, line = _bag_run(capsys, bag, tmp_path)
    assert "is an empty folder" in line


def test_message_type_outside_the_allow_list(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    odometry = bags.typestore().types["nav_msgs/msg/Odometry"]
    types = bags.typestore().types
    stamp = types["builtin_interfaces/msg/Time"](sec=0, nanosec=0)
    header = types["std_msgs/msg/Header"](stamp=stamp, frame_id="odom")
    pose = types["geometry_msgs/msg/PoseWithCovariance"](
        pose=types["geometry_msgs/msg/Pose"](
            position=types["geometry_msgs/msg/Point"](x=0.0, y=0.0, z=0.0),
            orientation=types["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=0.0, w=1.0),
        ),
        covariance=np.zeros(36),
    )
    twist = types["geometry_msgs/msg/TwistWithCovariance"](
        twist=types["geometry_msgs/msg/Twist"](
            linear=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
            angular=types["geometry_msgs/msg/Vector3"](x=0.0, y=0.0, z=0.0),
        ),
        covariance=np.zeros(36),
    )
    msg = odometry(header=header, child_frame_id="base", pose=pose, twist=twist)
    bag = _bag(tmp_path / "bag", info_type=msg)
    _, line = _bag_run(capsys, bag, tmp_path)
    assert "message type 'nav_msgs/msg/Odometry' of topic /left/camera_info is not one" in line
    assert "sensor_msgs" in line


def test_message_type_not_installed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from rosbags.typesys import get_types_from_msg

    store = bags.typestore()
    name = "sensor_msgs/msg/DepthRosTestInfo"
    if name not in store.types:
        store.register(get_types_from_msg("int32 x", name))
    bag = _bag(tmp_path / "bag", info_type=store.types[name](x=1))
    _, line = _bag_run(capsys, bag, tmp_path)
    assert f"message type {name} of topic /left/camera_info is not installed" in line


def test_a_stray_bag_folder_is_no_bag_for_eval_either(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code, lines = _run(
        capsys,
        "eval",
        "--dataset",
        "rosbag2",
        str(empty),
        "--model",
        "sgbm",
        "--output",
        str(tmp_path / "eval"),
        "--quiet",
    )
    assert code != 0
    assert len(lines) == 1, lines
    assert "is an empty folder" in lines[0]


def test_predict_output_is_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    image = tmp_path / "left.png"
    cv2.imwrite(str(image), np.zeros((48, 64, 3), np.uint8))
    target = tmp_path / "existing"
    target.write_text("keep me")
    code, lines = _run(
        capsys,
        "predict",
        "--model",
        "sgbm",
        "--left",
        str(image),
        "--right",
        str(image),
        "--fx",
        "50",
        "--baseline",
        "0.1",
        "--output",
        str(target),
    )
    assert code != 0
    assert len(lines) == 1, lines
    assert "is an existing file, not a folder" in lines[0]
    assert target.read_text() == "keep me"


def test_eval_output_is_an_existing_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bag = _bag(tmp_path / "bag")
    target = tmp_path / "existing"
    target.write_text("keep me")
    code, lines = _run(
        capsys,
        "eval",
        "--dataset",
        "rosbag2",
        str(bag),
        "--model",
        "sgbm",
        "--output",
        str(target),
        "--quiet",
    )
    assert code != 0
    assert len(lines) == 1, lines
    assert "is an existing file" in lines[0]
    shutil.rmtree(bag)
