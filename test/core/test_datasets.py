"""Dataset readers: synthetic files in each layout (conventions checked value by value),
and the real samples in ../shared when present."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import cv2
import numpy as np
import pytest

from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.eval.datasets import (
    Frame,
    Modality,
    RGBDFrame,
    StereoFrame,
    dataset_kinds,
    open_dataset,
)
from depth_ros.core.eval.datasets.rgbd import associate, nyu_raw_depth, sun_depth

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared" / "data"
needs_shared = pytest.mark.skipif(
    not SHARED.is_dir(), reason=f"real sample data not found at {SHARED.resolve()}"
)
RNG = np.random.default_rng(0)


def _rgb(h: int = 12, w: int = 16) -> np.ndarray:
    return RNG.integers(0, 255, size=(h, w, 3), dtype=np.uint8)


def _write_rgb(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), rgb[:, :, ::-1])


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), arr)


def _only(ds: Iterable[Frame]) -> Frame:
    frames = list(ds)
    assert len(frames) == 1
    return frames[0]


def test_kinds_registered() -> None:
    assert {
        "middlebury",
        "motorcycle",
        "kitti-stereo",
        "kitti-depth",
        "tum",
        "nyu",
        "redwood",
        "sun",
        "folder",
        "rosbag2",
    } <= set(dataset_kinds())
    with pytest.raises(ConfigError, match="unknown dataset kind 'eth3d'"):
        open_dataset("eth3d", "/")
    with pytest.raises(ConfigError, match="no option bogus"):
        open_dataset("tum", "/", {"bogus": "1"})
    with pytest.raises(InputError, match="does not exist"):
        open_dataset("redwood", "/nonexistent/redwood")


def test_middlebury_2014_pfm_and_calib(tmp_path: Path) -> None:
    scene = tmp_path / "Motorcycle-perfect"
    left, right = _rgb(), _rgb()
    _write_rgb(scene / "im0.png", left)
    _write_rgb(scene / "im1.png", right)
    disp = RNG.uniform(5, 30, size=(12, 16)).astype(np.float32)
    disp[0, 0] = np.inf
    with open(scene / "disp0.pfm", "wb") as f:  # PFM: bottom-up rows, little endian
        f.write(b"Pf\n16 12\n-1.0\n" + disp[::-1].astype("<f4").tobytes())
    (scene / "calib.txt").write_text(
        "cam0=[100 0 8; 0 100 6; 0 0 1]\ncam1=[100 0 10; 0 100 6; 0 0 1]\n"
        "doffs=2\nbaseline=200.0\nwidth=16\nheight=12\n"
    )
    fr = _only(open_dataset("middlebury", tmp_path))
    assert isinstance(fr, StereoFrame)
    np.testing.assert_array_equal(fr.left, left)
    np.testing.assert_array_equal(fr.right, right)
    assert fr.disparity is not None
    assert np.isnan(fr.disparity[0, 0])
    np.testing.assert_allclose(fr.disparity[1:], disp[1:])
    assert fr.geometry is not None
    assert fr.geometry.baseline == pytest.approx(0.2)
    assert fr.depth is not None
    assert fr.depth[3, 4] == pytest.approx(100 * 0.2 / (disp[3, 4] + 2), rel=1e-5)


def test_middlebury_2003_png_divided_by_4(tmp_path: Path) -> None:
    _write_rgb(tmp_path / "im2.png", _rgb())
    _write_rgb(tmp_path / "im6.png", _rgb())
    raw = np.full((12, 16), 40, np.uint8)
    raw[2, 3] = 0
    _write(tmp_path / "disp2.png", raw)
    fr = _only(open_dataset("middlebury", tmp_path))
    assert isinstance(fr, StereoFrame)
    assert fr.geometry is None
    assert fr.disparity is not None
    assert fr.disparity[0, 0] == 10.0
    assert np.isnan(fr.disparity[2, 3])


def test_kitti_stereo_and_depth(tmp_path: Path) -> None:
    root = tmp_path / "training"
    _write_rgb(root / "image_2" / "000000_10.png", _rgb())
    _write_rgb(root / "image_3" / "000000_10.png", _rgb())
    d = np.zeros((12, 16), np.uint16)
    d[5, 5] = 256 * 20 + 128
    _write(root / "disp_occ_0" / "000000_10.png", d)
    (root / "calib_cam_to_cam").mkdir()
    (root / "calib_cam_to_cam" / "000000.txt").write_text(
        "P_rect_02: 700 0 8 45 0 700 6 0 0 0 1 0\nP_rect_03: 700 0 8 -332 0 700 6 0 0 0 1 0\n"
    )
    fr = _only(open_dataset("kitti-stereo", tmp_path))
    assert isinstance(fr, StereoFrame)
    assert fr.disparity is not None
    assert fr.disparity[5, 5] == 20.5
    assert np.isnan(fr.disparity[0, 0])
    assert fr.geometry is not None
    assert fr.geometry.baseline == pytest.approx(377 / 700)
    assert fr.depth is not None
    assert fr.depth[5, 5] == pytest.approx(377 / 20.5, rel=1e-5)

    kd = tmp_path / "depth"
    _write_rgb(kd / "image" / "a.png", _rgb())
    g = np.zeros((12, 16), np.uint16)
    g[1, 1] = 256 * 10
    _write(kd / "groundtruth_depth" / "a.png", g)
    (kd / "intrinsics").mkdir()
    (kd / "intrinsics" / "a.txt").write_text("721 0 8 0 721 6 0 0 1")
    ds = open_dataset("kitti-depth", kd)
    assert ds.modality == Modality.RGBD
    assert ds.max_depth == 80.0
    fr2 = _only(ds)
    assert isinstance(fr2, RGBDFrame)
    assert fr2.depth[1, 1] == 10.0
    assert np.isnan(fr2.depth[0, 0])
    assert fr2.camera is not None
    assert fr2.camera.fx == 721.0


def test_tum_sequence_association_and_scale(tmp_path: Path) -> None:
    rgb = _rgb()
    for i, t in enumerate((1.00, 1.10)):
        _write_rgb(tmp_path / "rgb" / f"{t:.6f}.png", rgb)
        _write(
            tmp_path / "depth" / f"{t + 0.005:.6f}.png",
            np.full((12, 16), 5000 * (i + 1), np.uint16),
        )
    (tmp_path / "rgb.txt").write_text(
        "# color images\n1.000000 rgb/1.000000.png\n1.100000 rgb/1.100000.png\n"
        "2.000000 rgb/missing.png\n"
    )
    (tmp_path / "depth.txt").write_text(
        "1.005000 depth/1.005000.png\n1.105000 depth/1.105000.png\n"
    )
    frames = list(open_dataset("tum", tmp_path))
    # uint16 / 5000; 2.0 s unmatched
    assert [f.depth[0, 0] for f in frames if f.depth is not None] == [1.0, 2.0]


def test_associate_nearest_within_tolerance() -> None:
    a = [(0.0, "a0"), (1.0, "a1"), (2.0, "a2")]
    b = [(0.01, "b0"), (1.5, "b1"), (1.99, "b2")]
    assert associate(a, b, 0.02) == [("a0", "b0"), ("a2", "b2")]


def test_depth_conversions_hand_worked() -> None:
    # SUN: value v stores mm rotated left by 3 bits: 1000 mm → (1000 << 3) | (1000 >> 13)
    v = np.array([[1000 << 3, 0]], np.uint16)
    np.testing.assert_allclose(sun_depth(v), [[1.0, np.nan]])
    big = np.array([[((40000 << 3) & 0xFFFF) | (40000 >> 13)]], np.uint16)
    assert sun_depth(big)[0, 0] == pytest.approx(40.0)
    # NYU: 351.3 / (1092.5 - raw); 2047 = none
    raw = np.array([[742, 2047]], np.uint16)
    np.testing.assert_allclose(nyu_raw_depth(raw), [[351.3 / 350.5, np.nan]], rtol=1e-6)


def test_nyu_pgm_little_endian(tmp_path: Path) -> None:
    raw = np.full((12, 16), 742, np.uint16)
    (tmp_path / "NYU_depth.pgm").write_bytes(b"P5 16 12 65535\n" + raw.astype("<u2").tobytes())
    _write_rgb(tmp_path / "NYU_color.ppm", _rgb())
    ds = open_dataset("nyu", tmp_path)
    fr = _only(ds)
    assert isinstance(fr, RGBDFrame)
    assert fr.depth[0, 0] == pytest.approx(351.3 / 350.5, rel=1e-6)
    assert "not registered" in ds.notes[0]


def test_redwood_and_folder_opencv_yaml(tmp_path: Path) -> None:
    red = tmp_path / "redwood"
    _write_rgb(red / "color" / "00000.jpg", _rgb())
    _write(red / "depth" / "00000.png", np.full((12, 16), 1500, np.uint16))
    fr = _only(open_dataset("redwood", red))
    assert isinstance(fr, RGBDFrame)
    assert fr.depth[0, 0] == 1.5
    assert fr.camera is not None
    assert fr.camera.fx == pytest.approx(525 * 16 / 640)

    fol = tmp_path / "folder"
    _write_rgb(fol / "rgb" / "f1.png", _rgb())
    _write_rgb(fol / "rgb" / "nogt.png", _rgb())
    d = np.full((12, 16), 2.5, np.float32)
    d[0, 0] = 0
    (fol / "depth").mkdir()
    np.save(fol / "depth" / "f1.npy", d)
    (fol / "intrinsics.yaml").write_text(
        "%YAML:1.0\n---\nimage_width: 16\nimage_height: 12\ncamera_matrix:\n   rows: 3\n"
        "   cols: 3\n   data: [ 20., 0., 7.5, 0., 21., 5.5, 0., 0., 1. ]\n"
    )
    ds = open_dataset("folder", fol)
    assert ds.names == ["f1"]
    fr = _only(ds)
    assert isinstance(fr, RGBDFrame)
    assert fr.depth[1, 1] == 2.5
    assert np.isnan(fr.depth[0, 0])
    assert fr.camera is not None
    assert (fr.camera.fx, fr.camera.fy, fr.camera.cy) == (20, 21, 5.5)


def test_rosbag2_pairs_image_and_depth(tmp_path: Path) -> None:
    from rosbags.rosbag2 import Writer
    from rosbags.typesys import Stores, get_typestore

    ts = get_typestore(Stores.ROS2_HUMBLE)
    Image = ts.types["sensor_msgs/msg/Image"]
    Info = ts.types["sensor_msgs/msg/CameraInfo"]
    Header = ts.types["std_msgs/msg/Header"]
    Time = ts.types["builtin_interfaces/msg/Time"]
    RoI = ts.types["sensor_msgs/msg/RegionOfInterest"]
    rgb = _rgb()
    bag = tmp_path / "bag"
    with Writer(bag, version=8) as w:
        ci = w.add_connection("/cam/color/image_raw", Image.__msgtype__, typestore=ts)
        cd = w.add_connection("/cam/depth/image_rect", Image.__msgtype__, typestore=ts)
        cc = w.add_connection("/cam/color/camera_info", Info.__msgtype__, typestore=ts)
        for i in range(2):
            stamp = Time(sec=10 + i, nanosec=0)
            hdr = Header(stamp=stamp, frame_id="cam")
            img = Image(
                header=hdr,
                height=12,
                width=16,
                encoding="rgb8",
                is_bigendian=0,
                step=48,
                data=rgb.reshape(-1),
            )
            dep = np.full((12, 16), 1000 * (i + 1), np.uint16)
            dmsg = Image(
                header=Header(stamp=Time(sec=10 + i, nanosec=5_000_000), frame_id="cam"),
                height=12,
                width=16,
                encoding="16UC1",
                is_bigendian=0,
                step=32,
                data=dep.view(np.uint8).reshape(-1),
            )
            info = Info(
                header=hdr,
                height=12,
                width=16,
                distortion_model="plumb_bob",
                d=np.zeros(5),
                k=np.array([30.0, 0, 7.5, 0, 30.0, 5.5, 0, 0, 1]),
                r=np.eye(3).reshape(-1),
                p=np.array([30.0, 0, 7.5, 0, 0, 30.0, 5.5, 0, 0, 0, 1, 0]),
                binning_x=0,
                binning_y=0,
                roi=RoI(x_offset=0, y_offset=0, height=0, width=0, do_rectify=False),
            )
            t = (10 + i) * 10**9
            w.write(cc, t, ts.serialize_cdr(info, Info.__msgtype__))
            w.write(ci, t + 1, ts.serialize_cdr(img, Image.__msgtype__))
            w.write(cd, t + 2, ts.serialize_cdr(dmsg, Image.__msgtype__))
    ds = open_dataset("rosbag2", bag)
    frames = list(ds)
    assert len(frames) == 2
    assert [f.depth[0, 0] for f in frames if f.depth is not None] == [1.0, 2.0]
    np.testing.assert_array_equal(frames[0].rgb, rgb)
    assert frames[0].camera is not None
    assert frames[0].camera.fx == 30.0
    with pytest.raises(ConfigError, match="not an Image topic"):
        open_dataset("rosbag2", bag, {"depth_topic": "/nope"})


def test_motorcycle_sample() -> None:
    fr = _only(open_dataset("motorcycle", "-"))
    assert isinstance(fr, StereoFrame)
    assert fr.left.shape == (500, 741, 3)
    assert fr.geometry is not None
    assert fr.geometry.fx == pytest.approx(994.978)
    assert fr.depth is not None
    assert fr.disparity is not None
    i = np.argwhere(np.isfinite(fr.disparity))[1000]
    assert fr.depth[tuple(i)] == pytest.approx(
        0.193001 * 994.978 / (fr.disparity[tuple(i)] + 31.086), rel=1e-5
    )


@needs_shared
def test_real_cones_and_rgbd_samples() -> None:
    cones = _only(open_dataset("middlebury", SHARED / "middlebury2003_cones_pandora"))
    assert isinstance(cones, StereoFrame)
    assert cones.left.shape == (375, 450, 3)
    assert cones.disparity is not None
    assert np.nanmin(cones.disparity) > 0
    assert np.nanmax(cones.disparity) <= 64
    rgbd = SHARED / "open3d_rgbd_samples" / "TestData" / "RGBD"
    red = list(open_dataset("redwood", rgbd))
    assert len(red) == 5
    for kind in ("tum", "sun", "nyu"):
        fr = _only(open_dataset(kind, rgbd))
        assert isinstance(fr, RGBDFrame)
        med = float(np.nanmedian(fr.depth))
        assert 0.5 < med < 6.0, (kind, med)  # an indoor scene, in metres
    rt = list(open_dataset("folder", SHARED / "rtabmap_samples" / "rgbd"))
    assert len(rt) == 2
    assert rt[0].camera is not None
    assert rt[0].camera.fx == 525.0
