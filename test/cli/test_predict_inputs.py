"""``depth-ros predict`` on image files of any bit depth (issue 17): float32 and 16-bit
TIFF/PNG, grey, give the disparity of their 8-bit version; unreadable files are one clear
error naming the path and what it holds."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest
from conftest import shared_path
from numpy.typing import NDArray

from depth_ros.cli.main import main
from depth_ros.core.imagefile import read_rgb8, to_uint8

U8 = NDArray[np.uint8]


def _pair() -> tuple[U8, U8]:
    """A textured RGB pair (right = left shifted 6 px), values 0..255 both reached."""
    rng = np.random.default_rng(5)
    noise = rng.integers(0, 256, (60, 96, 3), dtype=np.uint8)
    left = np.asarray(cv2.GaussianBlur(noise, (3, 3), 0), np.uint8)
    left[0, 0] = 0
    left[0, 1] = 255
    return left, np.roll(left, -6, axis=1)


def _predict(left: Path, right: Path, out: Path) -> int:
    pair = ["--left", str(left), "--right", str(right)]
    return main(["predict", "--model", "sgbm", *pair, "--output", str(out)])


# how each variant stores an 8-bit RGB image v (OpenCV writes BGR)
VARIANTS: dict[str, tuple[str, Callable[[U8], NDArray[np.uint16 | np.float32]]]] = {
    "float32 tiff in [0, 1]": (".tif", lambda v: (v[:, :, ::-1] / np.float32(255)).astype("f4")),
    "float32 tiff in [0, 255]": (".tif", lambda v: v[:, :, ::-1].astype(np.float32)),
    "float32 tiff, other range (min-max)": (
        ".tif",
        lambda v: v[:, :, ::-1].astype(np.float32) * np.float32(4.0) - np.float32(300.0),
    ),
    "16-bit png": (".png", lambda v: v[:, :, ::-1].astype(np.uint16) * np.uint16(257)),
    "16-bit tiff": (".tif", lambda v: v[:, :, ::-1].astype(np.uint16) * np.uint16(257)),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_float_and_16_bit_inputs_give_the_8_bit_result(variant: str, tmp_path: Path) -> None:
    left, right = _pair()
    for name, image in (("left.png", left), ("right.png", right)):
        assert cv2.imwrite(str(tmp_path / name), image[:, :, ::-1])
    assert _predict(tmp_path / "left.png", tmp_path / "right.png", tmp_path / "a") == 0
    suffix, store = VARIANTS[variant]
    paths = []
    for name, image in (("left", left), ("right", right)):
        path = tmp_path / f"{name}_v{suffix}"
        assert cv2.imwrite(str(path), store(image))
        raw = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert raw is not None
        assert raw.dtype == store(image).dtype  # the file really holds that depth
        np.testing.assert_array_equal(read_rgb8(path), image)
        paths.append(path)
    assert _predict(paths[0], paths[1], tmp_path / "b") == 0
    a = np.load(tmp_path / "a" / "disparity.npy")
    b = np.load(tmp_path / "b" / "disparity.npy")
    assert np.isfinite(a).mean() > 0.5
    np.testing.assert_array_equal(a, b)


def test_grey_16_bit_becomes_rgb(tmp_path: Path) -> None:
    grey = np.arange(0, 65536, 16, dtype=np.uint16).reshape(64, 64)
    assert cv2.imwrite(str(tmp_path / "g.png"), grey)
    rgb = read_rgb8(tmp_path / "g.png")
    assert rgb.shape == (64, 64, 3)
    assert rgb.dtype == np.uint8
    expected = (grey >> 8).astype(np.uint8)
    for c in range(3):
        np.testing.assert_array_equal(rgb[:, :, c], expected)


def test_the_conversion_rule() -> None:
    unit = np.array([[0.0, 0.5, 1.0, np.nan]], np.float32)
    assert to_uint8(unit).tolist() == [[0, 128, 255, 0]]  # NaN → 0
    levels = np.array([[0.0, 17.4, 255.0]], np.float64)
    assert to_uint8(levels).tolist() == [[0, 17, 255]]
    wide = np.array([[-1.0, 0.0, 3.0, np.inf]], np.float32)  # min-max over finite values
    assert to_uint8(wide).tolist() == [[0, 64, 255, 0]]
    assert to_uint8(np.array([[0, 256, 65535]], np.uint16)).tolist() == [[0, 1, 255]]
    assert to_uint8(np.full((2, 2), np.nan, np.float32)).tolist() == [[0, 0], [0, 0]]


def test_real_float_rgb_tiff(tmp_path: Path) -> None:
    """Middlebury 2003 Cones as float32 RGB TIFF: reads as RGB (its grey version equals
    the published grey image) and runs."""
    folder = shared_path("data", "middlebury2003_cones_pandora")
    left = folder / "cones_rgb" / "left_rgb.tif"
    rgb = read_rgb8(left)
    assert rgb.shape == (375, 450, 3)
    grey = cv2.imread(str(folder / "Cones_LEFT.tif"), cv2.IMREAD_GRAYSCALE)
    assert grey is not None
    as_grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY).astype(np.int16)
    assert np.abs(as_grey - grey).mean() < 0.5  # channel order RGB (BGR would be ~10)
    out = tmp_path / "out"
    assert _predict(left, folder / "cones_rgb" / "right_rgb.tif", out) == 0
    disparity = np.load(out / "disparity.npy")
    gt = cv2.imread(str(folder / "Cones_LEFT_GT.tif"), cv2.IMREAD_UNCHANGED)
    assert gt is not None
    both = np.isfinite(disparity) & (gt > 0)
    assert np.median(np.abs(disparity[both] - gt[both])) < 1.0  # sgbm on Cones: mostly right


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"", "the file is empty (0 bytes)"),
        (b"hello, world\n", "not an image but a text file of 13 bytes (starts 'hello, world')"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "a PNG file of 16 bytes that OpenCV cannot"),
        (b"\x00\x01\x02\x03\xfe\xff" * 4, "not an image (24 bytes starting with"),
        (None, "is a folder, not an image file"),
        ("missing", "no such file"),
    ],
)
def test_unreadable_inputs_name_the_path_and_what_it_is(
    content: bytes | str | None, said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.png"
    if content is None:
        bad.mkdir()
    elif isinstance(content, bytes):
        bad.write_bytes(content)
    good = tmp_path / "good.png"
    assert cv2.imwrite(str(good), _pair()[0])
    code = main(["predict", "--model", "sgbm", "--left", str(bad), "--right", str(good)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith(f"depth-ros predict: error: {bad}: "), err
    assert said in err
    assert len(err.splitlines()) == 1


def test_mono_reads_a_float_tiff(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The monocular path takes the same files (a random-weight network, tiny input)."""
    pytest.importorskip("torch")
    image = _pair()[0]
    path = tmp_path / "img.tif"
    assert cv2.imwrite(str(path), (image[:, :, ::-1] / np.float32(255)).astype(np.float32))
    model = ["--model", "midas_v21_small", "--random-weights", "--input-size", "64"]
    code = main(["predict", *model, "--image", str(path), "--output", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 0, err
    relative = np.load(tmp_path / "out" / "relative.npy")
    assert relative.shape == image.shape[:2]
    assert json.loads(out)["random_weights"] is True
