"""``depth-ros predict`` with Marigold as a user would run it: a random diffusers-format
folder (``--random-weights``), the model's parameters given with ``--param``, and the
denoising progress bar on stderr."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")
CLI = [sys.executable, "-m", "depth_ros.cli.main", "predict", "--model", "marigold_depth"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=280)


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import cv2

    path = tmp_path_factory.mktemp("marigold_predict") / "image.png"
    rgb = np.random.default_rng(0).integers(0, 256, (60, 80, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), rgb)
    return path


def test_random_weights_with_params_and_progress_bar(image: Path, tmp_path: Path) -> None:
    r = run(
        "--random-weights",
        "--param",
        "denoising_steps=3",
        "--param",
        "processing_resolution=64",
        "--image",
        str(image),
        "--output",
        str(tmp_path),
    )
    assert r.returncode == 0, r.stderr
    assert "RANDOM weights" in r.stderr
    assert "Diffusion steps" in r.stderr  # diffusers' tqdm bar
    assert "0/3" in r.stderr  # ... over the three denoising steps (total shown at start)
    info = json.loads(r.stdout)
    assert info["random_weights"] is True
    rel = np.load(tmp_path / "relative.npy")
    assert rel.shape == (60, 80)
    assert np.isfinite(rel).all()
    assert rel.min() >= 1.0 - 1e-6  # inverse depth 1 / (r + (1 - r) d), d in [0, 1]


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("ensemble_size=0", "ensemble_size must be >= 1"),
        ("processing_resolution=100", "processing_resolution must be 0 + a multiple of 8"),
        ("steps=4", "unknown parameter 'steps' for model 'marigold_depth'; valid: denoising_steps"),
    ],
)
def test_bad_params_are_refused(image: Path, tmp_path: Path, param: str, message: str) -> None:
    r = run("--random-weights", "--param", param, "--image", str(image), "--output", str(tmp_path))
    assert r.returncode != 0
    assert message in r.stderr, r.stderr
    assert "Traceback" not in r.stderr
