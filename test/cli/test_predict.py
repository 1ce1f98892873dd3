"""``depth-ros predict`` on a monocular model, as a user would: random official-layout
weights (``--random-weights``), a camera_info YAML, the files it writes, and its errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
CLI = [sys.executable, "-m", "depth_ros.cli.main", "predict"]
CAMERA = """image_width: 160
image_height: 120
camera_name: cam
camera_matrix: {rows: 3, cols: 3, data: [100.0, 0, 79.5, 0, 100.0, 59.5, 0, 0, 1]}
distortion_model: plumb_bob
distortion_coefficients: {rows: 1, cols: 5, data: [0, 0, 0, 0, 0]}
rectification_matrix: {rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}
projection_matrix: {rows: 3, cols: 4, data: [100.0, 0, 79.5, 0, 0, 100.0, 59.5, 0, 0, 0, 1, 0]}
"""


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=280)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    import cv2

    folder = tmp_path_factory.mktemp("predict")
    image = folder / "image.png"
    rgb = np.random.default_rng(0).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    assert cv2.imwrite(str(image), rgb)
    camera = folder / "camera.yaml"
    camera.write_text(CAMERA)
    return image, camera


def test_metric_model_with_camera_info_writes_depth_and_points(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    image, camera = files
    r = run(
        "--model",
        "depth_anything_v2_metric_hypersim_vits",
        "--random-weights",
        "--input-size",
        "70",
        "--image",
        str(image),
        "--camera-info",
        str(camera),
        "--output",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "RANDOM weights" in r.stderr
    assert "meaningless" in r.stderr
    report = json.loads(r.stdout)
    assert report["random_weights"] is True
    depth = np.load(tmp_path / "depth.npy")
    assert depth.dtype == np.float32
    assert depth.shape == (120, 160)
    finite = depth[np.isfinite(depth)]
    assert finite.size > 0
    assert (finite > 0).all()
    assert (finite <= 20.0).all()
    assert (tmp_path / "points.ply").stat().st_size > 0


def test_camera_info_of_another_size_is_rescaled_or_refused(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    image, _ = files
    other = tmp_path / "wide.yaml"
    other.write_text(CAMERA.replace("image_width: 160", "image_width: 200"))
    r = run(
        "--model",
        "depth_anything_v2_metric_hypersim_vits",
        "--random-weights",
        "--input-size",
        "70",
        "--image",
        str(image),
        "--camera-info",
        str(other),
        "--output",
        str(tmp_path / "out"),
    )
    assert r.returncode != 0
    assert "200x120 images" in r.stderr
    assert "aspect ratio" in r.stderr
    assert "Traceback" not in r.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--weights", "x.pth"), "exclude each other"),
        (("--output", "IMAGE"), "is an existing file"),
        (("--camera-info", "CAMERA", "--fx", "100"), "not both"),
    ],
)
def test_clear_errors(
    files: tuple[Path, Path], tmp_path: Path, args: tuple[str, ...], message: str
) -> None:
    image, camera = files
    given = [str(image) if a == "IMAGE" else str(camera) if a == "CAMERA" else a for a in args]
    if "--output" not in given:
        given += ["--output", str(tmp_path / "out")]
    r = run(
        "--model",
        "depth_anything_v2_metric_hypersim_vits",
        "--random-weights",
        "--input-size",
        "70",
        "--image",
        str(image),
        *given,
    )
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
