"""``depth-ros predict`` pictures: colour bars, a fixed --range that makes two runs'
pictures comparable, points_view.png (stereo with sgbm: no weights needed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depth_ros.cli.main import main
from depth_ros.core.colorize import colorize


def _pair(folder: Path, shift: int, seed: int) -> tuple[Path, Path]:
    """A textured pair, the right image the left shifted by ``shift`` px (constant depth
    fx * B / shift), with a nearer square (twice the shift)."""
    import cv2

    rng = np.random.default_rng(seed)
    left = rng.integers(0, 256, (120, 200, 3), dtype=np.uint8)
    left = np.asarray(cv2.GaussianBlur(left, (3, 3), 0), np.uint8)
    right = np.roll(left, -shift, axis=1)
    right[40:80, 60:100] = np.roll(left, -2 * shift, axis=1)[40:80, 60:100]
    paths = folder / f"left{seed}.png", folder / f"right{seed}.png"
    for path, image in zip(paths, (left, right), strict=True):
        assert cv2.imwrite(str(path), image)
    return paths


def _predict(
    tmp: Path, left: Path, right: Path, *extra: str, capsys: pytest.CaptureFixture[str]
) -> dict[str, object]:
    calib = () if "--calib" in extra else ("--fx", "100", "--baseline", "0.2")
    rc = main(
        [
            "predict",
            "--model",
            "sgbm",
            "--left",
            str(left),
            "--right",
            str(right),
            *calib,
            "--output",
            str(tmp),
            *extra,
        ]
    )
    out, err = capsys.readouterr()
    assert rc == 0, err
    return dict(json.loads(out))


def _outputs(report: dict[str, object]) -> list[str]:
    """The files a report lists."""
    outputs = report["outputs"]
    assert isinstance(outputs, list)
    return [str(o) for o in outputs]


def _read(path: Path) -> np.ndarray:
    import cv2

    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    assert image is not None, path
    return np.asarray(image[:, :, ::-1])


def test_fixed_range_makes_pictures_comparable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a = _pair(tmp_path, 8, 0)
    b = _pair(tmp_path, 12, 1)
    runs = {}
    for name, (left, right) in (("a", a), ("b", b)):
        for fixed in (True, False):
            out = tmp_path / f"{name}_{fixed}"
            extra = ("--range", "1", "4", "--disparity-range", "0", "32") if fixed else ()
            report = _predict(out, left, right, *extra, capsys=capsys)
            assert str(out / "points_view.png") in _outputs(report)
            runs[name, fixed] = out
    for (_, fixed), out in runs.items():
        depth = np.load(out / "depth.npy")
        picture = _read(out / "depth_color.png")
        assert picture.shape[0] == depth.shape[0]
        assert picture.shape[1] > depth.shape[1] + 20  # the bar and its labels
        if fixed:  # the picture is depth through the fixed range
            np.testing.assert_array_equal(
                picture[:, : depth.shape[1]], colorize(depth, 1.0, 4.0, invert=True)
            )
        assert _read(out / "points_view.png").shape == (600, 800, 3)
    w = 200
    for stem in ("depth_color", "disparity_color"):
        fixed_a, fixed_b = (_read(runs[n, True] / f"{stem}.png")[:, w:] for n in "ab")
        np.testing.assert_array_equal(fixed_a, fixed_b)  # one range: one bar
        auto_a, auto_b = (_read(runs[n, False] / f"{stem}.png")[:, w:] for n in "ab")
        assert auto_a.shape != auto_b.shape or not np.array_equal(auto_a, auto_b)


def test_range_must_be_increasing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    left, right = _pair(tmp_path, 8, 0)
    rc = main(
        [
            "predict",
            "--model",
            "sgbm",
            "--left",
            str(left),
            "--right",
            str(right),
            "--fx",
            "100",
            "--baseline",
            "0.2",
            "--output",
            str(tmp_path / "o"),
            "--range",
            "4",
            "1",
        ]
    )
    assert rc == 2
    assert "MIN < MAX, got 4 1" in capsys.readouterr().err


def test_calib_and_fx_together_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    left, right = _pair(tmp_path, 8, 0)
    calib = tmp_path / "stereo.yaml"
    calib.write_text("width: 200\nheight: 120\nfx: 100\ncx: 99.5\ncy: 59.5\nbaseline: 0.2\n")
    rc = main(
        [
            "predict",
            "--model",
            "sgbm",
            "--left",
            str(left),
            "--right",
            str(right),
            "--calib",
            str(calib),
            "--fx",
            "100",
            "--output",
            str(tmp_path / "o"),
        ]
    )
    assert rc == 2
    assert "--calib and --fx / --camera-info both give the calibration" in (capsys.readouterr().err)


def test_unrectified_opencv_calibration_is_rectified_first(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An OpenCV stereoCalibrate file without image size (taken from the images) and
    with a small distortion: predict rectifies with its maps before matching."""
    left, right = _pair(tmp_path, 8, 0)
    calib = tmp_path / "stereo.yml"
    calib.write_text(
        "%YAML:1.0\n---\n"
        "M1: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
        "   data: [ 100., 0., 99.5, 0., 100., 59.5, 0., 0., 1. ]\n"
        "D1: !!opencv-matrix\n   rows: 1\n   cols: 5\n   dt: d\n"
        "   data: [ 0.01, 0., 0., 0., 0. ]\n"
        "M2: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
        "   data: [ 100., 0., 99.5, 0., 100., 59.5, 0., 0., 1. ]\n"
        "D2: !!opencv-matrix\n   rows: 1\n   cols: 5\n   dt: d\n"
        "   data: [ 0.01, 0., 0., 0., 0. ]\n"
        "R: !!opencv-matrix\n   rows: 3\n   cols: 3\n   dt: d\n"
        "   data: [ 1., 0., 0., 0., 1., 0., 0., 0., 1. ]\n"
        "T: !!opencv-matrix\n   rows: 3\n   cols: 1\n   dt: d\n   data: [ -0.2, 0., 0. ]\n"
    )
    report = _predict(tmp_path / "o", left, right, "--calib", str(calib), capsys=capsys)
    assert str(tmp_path / "o" / "depth.npy") in _outputs(report)
    depth = np.load(tmp_path / "o" / "depth.npy")
    # shift 8 px at fx 100, B 0.2 m: the background at 2.5 m
    assert float(np.nanmedian(depth)) == pytest.approx(2.5, rel=0.1)
