"""The options ``predict``, ``bag make``, ``eval`` and ``bag run`` share (issue 17): one
set of calibration options with one set of rules, and one ``-p/--param`` typed against
the model's or node's parameter schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import as_camera_info

from depth_ros.cli.main import main
from depth_ros.core import bags
from depth_ros.core.calibration import camera_to_yaml, stereo_cameras
from depth_ros.core.models import ModelConfig, build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo

FX, BASELINE, DOFFS = 80.0, 0.12, 3.0
W, H = 96, 64


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """A textured rectified pair (right = left shifted 8 px) as PNG files."""
    rng = np.random.default_rng(7)
    left = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3), dtype=np.uint8), (3, 3), 0)
    paths = tmp_path / "left.png", tmp_path / "right.png"
    for path, image in zip(paths, (left, np.roll(left, -8, axis=1)), strict=True):
        assert cv2.imwrite(str(path), image)
    return paths


def _predict(pair: tuple[Path, Path], out: Path, *extra: str) -> tuple[int, str]:
    files = ["--left", str(pair[0]), "--right", str(pair[1]), "--output", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "depth_ros.cli.main", "predict", "--model", "sgbm", *files, *extra],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return run.returncode, run.stderr


def _camera_files(folder: Path) -> tuple[Path, Path]:
    left, right = stereo_cameras(W, H, FX, (W - 1) / 2, (H - 1) / 2, BASELINE, DOFFS)
    paths = folder / "left.yaml", folder / "right.yaml"
    for path, camera, name in zip(paths, (left, right), ("left", "right"), strict=True):
        path.write_text(camera_to_yaml(camera, name))
    return paths


# ---------------------------------------------------------------- calibration


def test_predict_camera_info_pair_equals_the_numbers(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    numbers = ["--fx", str(FX), "--baseline", str(BASELINE), "--doffs", str(DOFFS)]
    files = [str(p) for p in _camera_files(tmp_path)]
    common = ["predict", "--model", "sgbm", "--left", str(pair[0]), "--right", str(pair[1])]
    assert main([*common, "--output", str(tmp_path / "a"), *numbers]) == 0
    assert main([*common, "--output", str(tmp_path / "b"), "--camera-info", *files]) == 0
    a, b = (np.load(tmp_path / d / "depth.npy") for d in "ab")
    assert np.isfinite(a).mean() > 0.5
    np.testing.assert_array_equal(a, b)
    # depth = fx * B / (d + doffs): 8 px of shift
    assert np.nanmedian(a) == pytest.approx(FX * BASELINE / (8 + DOFFS), rel=0.02)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--calib", "CALIB", "--fx", "80"), "--calib and --fx / --camera-info both give"),
        (("--camera-info", "L", "R", "--fx", "80"), "give either --camera-info or --fx"),
        (("--cx", "3"), "--cx needs --fx"),
        (("--fy", "3", "--baseline", "1"), "--fy, --baseline need --fx"),
        (("--fx", "80"), "--fx needs --baseline for stereo depth"),
        (("--camera-info", "L"), "stereo needs two --camera-info files"),
    ],
)
def test_calibration_rules(
    args: tuple[str, ...],
    message: str,
    pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    left, right = _camera_files(tmp_path)
    calib = tmp_path / "stereo.yaml"
    calib.write_text(f"width: {W}\nheight: {H}\nfx: 80\ncx: 40\ncy: 30\nbaseline: 0.1\n")
    names = {"CALIB": str(calib), "L": str(left), "R": str(right)}
    given = [names.get(a, a) for a in args]
    common = ["--left", str(pair[0]), "--right", str(pair[1]), "--output", str(tmp_path / "o")]
    for command in (["predict", "--model", "sgbm", *common], ["bag", "make"]):
        if command[0] == "bag":
            folders = tmp_path / "L", tmp_path / "R"
            for folder, image in zip(folders, pair, strict=True):
                folder.mkdir(exist_ok=True)
                (folder / "0.png").write_bytes(image.read_bytes())
            command = [*command, "--stereo", *map(str, folders), "-o", str(tmp_path / "bag")]
        assert main([*command, *given]) == 2
        err = capsys.readouterr().err
        assert message in err, err
        assert not (tmp_path / "bag").exists()


def test_mono_calibration_rules(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    assert cv2.imwrite(str(folder / "0.png"), np.zeros((H, W, 3), np.uint8))
    base = ["bag", "make", "--mono", str(folder), "-o", str(tmp_path / "bag"), "-q"]
    assert main([*base, "--fx", "80", "--baseline", "0.1"]) == 2
    assert "--baseline and --doffs are for stereo pairs" in capsys.readouterr().err
    left, right = _camera_files(tmp_path)
    assert main([*base, "--camera-info", str(left), str(right)]) == 2
    assert "a monocular camera takes one --camera-info file" in capsys.readouterr().err
    assert main([*base, "--fx", "80", "--cy", "20"]) == 0
    (msg,) = [m for t, _, m in bags.read_messages(tmp_path / "bag") if t == "/camera_info"]
    info = as_camera_info(msg)
    assert list(info.k) == [80.0, 0.0, (W - 1) / 2, 0.0, 80.0, 20.0, 0.0, 0.0, 1.0]


def test_bag_make_takes_the_numbers_and_camera_info_pairs(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    folders = tmp_path / "L", tmp_path / "R"
    for folder, image in zip(folders, pair, strict=True):
        folder.mkdir()
        (folder / "0.png").write_bytes(image.read_bytes())
    stereo = ["bag", "make", "--stereo", *map(str, folders), "-q"]
    numbers = ["--fx", str(FX), "--baseline", str(BASELINE), "--doffs", str(DOFFS)]
    assert main([*stereo, "-o", str(tmp_path / "a"), *numbers]) == 0
    files = [str(p) for p in _camera_files(tmp_path)]
    assert main([*stereo, "-o", str(tmp_path / "b"), "--camera-info", *files]) == 0
    infos = {}
    for bag in ("a", "b"):
        for topic, _, msg in bags.read_messages(tmp_path / bag):
            if topic.endswith("camera_info"):
                cam = as_camera_info(msg)
                infos[bag, topic] = (list(cam.k), list(cam.p), (cam.width, cam.height))
    right = infos["a", "/right/camera_info"]
    assert right[1][3] == pytest.approx(-FX * BASELINE)
    assert right[1][2] == pytest.approx((W - 1) / 2 + DOFFS)
    assert right[2] == (W, H)
    for topic in ("/left/camera_info", "/right/camera_info"):
        np.testing.assert_allclose(infos["a", topic][1], infos["b", topic][1])
        assert infos["a", topic][2] == infos["b", topic][2]


def test_implausible_numbers_warn_in_one_line(pair: tuple[Path, Path], tmp_path: Path) -> None:
    code, err = _predict(pair, tmp_path / "o", "--fx", "80", "--baseline", "120")
    assert code == 0, err
    warning = [line for line in err.splitlines() if "warning" in line]
    assert warning == [
        "depth-ros predict: warning: --fx/--baseline: baseline 120 m is over 2 m: is the "
        "translation in millimetres? (metres expected: that would be 0.12 m)"
    ]


def test_eval_takes_the_calibration(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Motorcycle with its own calibration, then with half its baseline from the command
    line: GT and predicted depth both halve, so RMSE halves and AbsRel stays."""
    docs = []
    intrinsics = ["--fx", "994.978", "--cx", "311.193", "--cy", "254.877", "--doffs", "31.086"]
    for name, extra in (("own", []), ("half", [*intrinsics, "--baseline", str(0.193001 / 2)])):
        out = tmp_path / name
        argv = ["eval", "--dataset", "motorcycle", "-", "--model", "sgbm", "-q", "-o", str(out)]
        assert main([*argv, *extra]) == 0, capsys.readouterr().err
        docs.append(json.loads((out / "metrics.json").read_text()))
    own, half = (d["aggregate"] for d in docs)
    assert half["rmse"] == pytest.approx(own["rmse"] / 2, rel=1e-4)
    assert half["abs_rel"] == pytest.approx(own["abs_rel"], rel=1e-4)
    assert half["bad_2"] == own["bad_2"]  # disparity is untouched
    assert any("calibration from the command line" in n for n in docs[1]["notes"])


# ---------------------------------------------------------------- parameters


def test_predict_params_reach_the_model(
    pair: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    common = ["predict", "--model", "sgbm", "--left", str(pair[0]), "--right", str(pair[1])]
    given = ["-p", "P2=3000", "--param", "uniqueness_ratio:=5", "-p", "left_right_check=true"]
    assert main([*common, "--output", str(tmp_path / "p"), *given]) == 0
    assert main([*common, "--output", str(tmp_path / "d")]) == 0
    got = np.load(tmp_path / "p" / "disparity.npy")
    default = np.load(tmp_path / "d" / "disparity.npy")
    params = {"P2": 3000.0, "uniqueness_ratio": 5.0, "left_right_check": True}
    left, right = (np.asarray(cv2.imread(str(p)), np.uint8)[:, :, ::-1].copy() for p in pair)
    direct = np.asarray(
        build_as("sgbm", OpenCVStereo, ModelConfig(params=params)).compute(left, right)
    )
    np.testing.assert_array_equal(got, direct)
    assert not np.array_equal(np.isnan(got), np.isnan(default))  # the parameters mattered


@pytest.mark.parametrize("command", ["predict", "eval"])
@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("nope=1", "unknown parameter 'nope' for model 'sgbm'; valid: P1, P2, "),
        ("disparity_range=20", "disparity_range must be 16 + a multiple of 16, got 20: "),
        ("left_right_check=maybe", "parameter left_right_check takes a bool, got 'maybe'"),
        ("P2=lots", "parameter P2 takes a float, got 'lots'"),
        ("P2", "-p/--param takes NAME=VALUE (or NAME:=VALUE), got 'P2'"),
    ],
)
def test_bad_params_are_refused_naming_the_valid_ones(
    command: str,
    param: str,
    message: str,
    pair: tuple[Path, Path],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    if command == "predict":
        argv = ["predict", "--model", "sgbm", "--left", str(pair[0]), "--right", str(pair[1])]
    else:
        argv = ["eval", "--dataset", "motorcycle", "-", "--model", "sgbm", "-q"]
    out = tmp_path / "out"
    assert main([*argv, "--output", str(out), "-p", param]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert not out.exists()


def test_bag_run_params_are_typed_against_the_node(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from depth_ros import processes

    def start(*args: object, **kwargs: object) -> None:
        raise AssertionError("the node was started")

    monkeypatch.setattr(processes, "start", start)
    bag = tmp_path / "bag"
    bag.mkdir()
    base = ["bag", "run", str(bag), "-o", str(tmp_path / "out")]
    assert main([*base, "-p", "no_such=1"]) == 2
    err = capsys.readouterr().err
    assert "unknown parameter 'no_such' for stereo_depth with model 'sgbm'; valid: " in err
    assert "min_depth" in err  # a node parameter, not only the model's
    assert main([*base, "--param", "points=lots"]) == 2
    assert "points must be one of none, xyz, xyzrgb, got 'lots'" in capsys.readouterr().err
    assert main([*base, "-p", "min_depth=far"]) == 2
    assert "parameter min_depth takes a float, got 'far'" in capsys.readouterr().err
    # a weights path that does not exist: refused before anything starts
    assert main([*base, "--model", "hitnet", "--weights-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert f"weights file {tmp_path / 'none' / 'eth3d_converted.onnx'} not found" in err
    assert not (tmp_path / "out").exists()
