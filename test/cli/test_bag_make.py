"""`depth-ros bag make`, run as a user would, and its bags read by rosbags and mcap."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import as_camera_info, as_image, as_stamped

from depth_ros.cli.main import main
from depth_ros.core.bags import bag_info, read_messages
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.eval.samples import motorcycle
from depth_ros.core.messages import image_to_numpy, stamp_to_ns

STEREO_TOPICS = ["/left/image_rect", "/left/camera_info", "/right/image_rect", "/right/camera_info"]


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "depth_ros.cli.main", "bag", "make", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("fmt", ["mcap", "sqlite3"])
def test_sample_bag(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / "moto"
    res = _cli(
        "--sample",
        "motorcycle",
        "--output",
        str(out),
        "--format",
        fmt,
        "--frames",
        "3",
        "--rate",
        "4",
    )
    assert res.returncode == 0, res.stderr
    assert "3 frames" in res.stderr

    info = bag_info(out)
    assert sorted(info.topics) == sorted(STEREO_TOPICS)
    assert all(t.count == 3 for t in info.topics.values())
    s = motorcycle()
    stamps: dict[str, list[int]] = {}
    for topic, stamp, msg in read_messages(out):
        stamps.setdefault(topic, []).append(stamp)
        assert stamp_to_ns(as_stamped(msg)) == stamp
        assert as_stamped(msg).header.frame_id == "camera_optical_frame"
        if topic.endswith("image_rect"):
            image = as_image(msg)
            assert image.encoding == "rgb8"
            expected = s.left if topic.startswith("/left") else s.right
            np.testing.assert_array_equal(image_to_numpy(image), expected)
        elif topic == "/right/camera_info":
            cam = as_camera_info(msg)
            p = list(cam.p)
            assert p[3] == pytest.approx(-994.978 * 0.193001)
            assert p[2] == pytest.approx(311.193 + 31.086)
            assert (cam.width, cam.height) == (741, 500)
        else:
            cam = as_camera_info(msg)
            assert list(cam.p)[3] == 0.0
            assert PinholeCamera.from_msg(cam).fx == pytest.approx(994.978)
    left = stamps["/left/image_rect"]
    assert all(v == left for v in stamps.values())  # pair and infos share stamps
    assert np.diff(left).tolist() == [250_000_000, 250_000_000]  # --rate 4

    if fmt == "mcap":
        from mcap.reader import make_reader

        (file,) = out.glob("*.mcap")
        with file.open("rb") as f:
            summary = make_reader(f).get_summary()
        assert summary is not None
        assert summary.statistics is not None
        assert summary.statistics.message_count == 12
        channels = {c.topic: c for c in summary.channels.values()}
        assert sorted(channels) == sorted(STEREO_TOPICS)
        schema = summary.schemas[channels["/left/image_rect"].schema_id]
        assert schema.name == "sensor_msgs/msg/Image"
        assert schema.encoding == "ros2msg"
        assert channels["/left/camera_info"].message_encoding == "cdr"
    else:
        assert len(list(out.glob("*.db3"))) == 1


def _write_images(folder: Path, images: list[np.ndarray]) -> None:
    folder.mkdir()
    for i, img in enumerate(images):
        bgr = img if img.ndim == 2 else img[:, :, ::-1]
        # names that sort wrongly as strings: 1, 2, 10
        assert cv2.imwrite(str(folder / f"frame{[1, 2, 10][i]}.png"), bgr)


def test_stereo_folders(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    lefts = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)]
    rights = [rng.integers(0, 256, (24, 32), dtype=np.uint8) for _ in range(3)]  # grey
    _write_images(tmp_path / "L", lefts)
    _write_images(tmp_path / "R", rights)
    calib = tmp_path / "stereo.yaml"
    calib.write_text("width: 32\nheight: 24\nfx: 30\ncx: 16\ncy: 12\nbaseline: 0.05\n")
    out = tmp_path / "bag"
    code = main(
        [
            "bag",
            "make",
            "--stereo",
            str(tmp_path / "L"),
            str(tmp_path / "R"),
            "--calib",
            str(calib),
            "--output",
            str(out),
            "--namespace",
            "/stereo/",
            "--frame-id",
            "stereo_link",
            "--start",
            "100",
            "--clock",
            "-q",
        ]
    )
    assert code == 0
    msgs = list(read_messages(out))
    got = {t: [m for tt, _, m in msgs if tt == t] for t in bag_info(out).topics}
    assert set(got) == {"/clock", *("/stereo" + t for t in STEREO_TOPICS)}
    for i in range(3):
        left = as_image(got["/stereo/left/image_rect"][i])
        np.testing.assert_array_equal(image_to_numpy(left), lefts[i])
        right = as_image(got["/stereo/right/image_rect"][i])
        assert right.encoding == "mono8"
        np.testing.assert_array_equal(image_to_numpy(right), rights[i])
    info = as_camera_info(got["/stereo/right/camera_info"][0])
    assert info.header.frame_id == "stereo_link"
    assert list(info.p)[3] == pytest.approx(-30 * 0.05)
    assert stamp_to_ns(as_stamped(got["/stereo/left/image_rect"][0])) == 100_000_000_000


def test_mono_folder(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    images = [rng.integers(0, 256, (24, 32, 3), dtype=np.uint8) for _ in range(3)]
    _write_images(tmp_path / "imgs", images)
    calib = tmp_path / "cam.yaml"
    calib.write_text(
        "image_width: 32\nimage_height: 24\ncamera_matrix: {rows: 3, cols: 3, "
        "data: [30, 0, 16, 0, 30, 12, 0, 0, 1]}\n"
    )
    out = tmp_path / "bag"
    res = _cli(
        "--mono",
        str(tmp_path / "imgs"),
        "--calib",
        str(calib),
        "--output",
        str(out),
        "--frames",
        "2",
        "--format",
        "sqlite3",
    )
    assert res.returncode == 0, res.stderr
    info = bag_info(out)
    assert {t: v.count for t, v in info.topics.items()} == {"/image": 2, "/camera_info": 2}
    got = [m for t, _, m in read_messages(out, ["/image"])]
    np.testing.assert_array_equal(image_to_numpy(as_image(got[1])), images[1])  # frame 2 after 1


def test_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(3)
    _write_images(tmp_path / "imgs", [rng.integers(0, 256, (24, 32), dtype=np.uint8)])
    out = str(tmp_path / "bag")
    assert main(["bag", "make", "--mono", str(tmp_path / "imgs"), "--output", out]) == 2
    assert "a calibration is required with --stereo and --mono: --calib FILE" in (
        capsys.readouterr().err
    )

    calib = tmp_path / "cam.yaml"
    calib.write_text("width: 64\nheight: 48\nfx: 30\ncx: 16\ncy: 12\n")
    assert (
        main(
            [
                "bag",
                "make",
                "--mono",
                str(tmp_path / "imgs"),
                "--calib",
                str(calib),
                "--output",
                out,
                "-q",
            ]
        )
        == 2
    )
    assert "camera_info is 64x48 but the image is 32x24" in capsys.readouterr().err

    assert main(["bag", "make", "--sample", "nope", "--output", out]) == 2
    assert "unknown sample 'nope'; known: motorcycle" in capsys.readouterr().err

    assert main(["bag", "make", "--sample", "motorcycle", "--output", out, "--rate", "0"]) == 2
    assert "--rate must be > 0" in capsys.readouterr().err
