"""``depth-ros bag run`` with a model whose weights are missing fails within seconds
with the node's own reason (issue 17), not after the start-up timeout: a real node
process over DDS on a tiny bag."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core import bags
from depth_ros.core.camera import PinholeCamera

pytestmark = pytest.mark.ros

STEREO = ("/left/image_rect", "/left/camera_info", "/right/image_rect", "/right/camera_info")


def _tiny_bag(path: Path) -> Path:
    cam = PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5)
    right = PinholeCamera.from_intrinsics(64, 48, 50.0, 50.0, 31.5, 23.5, -5.0)
    image = np.random.default_rng(0).integers(0, 256, (48, 64, 3), dtype=np.uint8)
    with bags.BagWriter(path) as writer:
        stamp = 1_700_000_000_000_000_000
        writer.write_image(STEREO[0], stamp, image)
        writer.write_camera_info(STEREO[1], stamp, cam)
        writer.write_image(STEREO[2], stamp, image)
        writer.write_camera_info(STEREO[3], stamp, right)
    return path


def test_missing_weights_fail_at_once_with_the_nodes_reason(tmp_path: Path) -> None:
    bag = _tiny_bag(tmp_path / "bag")
    out = tmp_path / "out"
    t0 = time.monotonic()
    args = ["-p", "model:=hitnet", "--startup-timeout", "60", "--output", str(out)]
    run = subprocess.run(
        [sys.executable, "-m", "depth_ros.cli.main", "bag", "run", str(bag), *args],
        capture_output=True,
        text=True,
        timeout=90,
        check=False,
    )
    elapsed = time.monotonic() - t0
    assert run.returncode == 2, run.stderr
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert lines[0].startswith(
        "depth-ros bag: error: stereo_depth could not start: cannot load model 'hitnet': "
        "no weights file given: expected the HITNet"
    ), lines[0]
    assert "eth3d_converted.onnx" in lines[0]  # what to get, and where
    assert elapsed < 30.0, f"took {elapsed:.1f} s (the start-up timeout is 60 s)"
    assert not out.exists()  # no empty bag left behind
