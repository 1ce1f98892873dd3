"""``depth-ros export`` run as a user would: real PSMNet weights, verified in onnxruntime."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PSMNET = SHARED / "models" / "psmnet_kitti2015" / "pretrained_model_KITTI2015.tar"
CLI = [sys.executable, "-m", "depth_ros.cli.main", "export"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, timeout=280)


@pytest.mark.slow
def test_export_psmnet_fixed_size_verified(tmp_path: Path) -> None:
    if not PSMNET.exists():
        pytest.skip(f"{PSMNET} is absent (real weights live in ../shared on dev machines)")
    out = tmp_path / "psmnet.onnx"
    r = run(
        "--model",
        "psmnet",
        "--weights",
        str(PSMNET),
        "--output",
        str(out),
        "--height",
        "256",
        "--width",
        "256",
        "--verify",
        "--json",
    )
    assert r.returncode == 0, r.stderr
    report = json.loads(r.stdout)
    assert report["size"] == "256x256"
    assert report["max_relative_difference"] <= 1e-3
    assert report["metadata"] == {"depth_ros.model": "psmnet", "param.max_disparity": "192"}
    import onnx

    m = onnx.load(str(out))
    dims = [d.dim_value for d in m.graph.input[0].type.tensor_type.shape.dim]
    assert dims == [1, 3, 256, 256]
    assert [i.name for i in m.graph.input] == ["left", "right"]


def test_export_errors(tmp_path: Path) -> None:
    r = run("--model", "sgbm", "--weights", "x.pth", "--output", str(tmp_path / "a.onnx"))
    assert r.returncode == 2
    assert "has no ONNX export" in r.stderr
    assert "psmnet" in r.stderr
    r = run(
        "--model",
        "psmnet",
        "--weights",
        str(tmp_path / "none.tar"),
        "--output",
        str(tmp_path / "a.onnx"),
    )
    assert r.returncode == 2
    assert "none.tar not found" in r.stderr
    assert "github.com/JiaRenChang/PSMNet" in r.stderr
    r = run(
        "--model",
        "psmnet",
        "--weights",
        "w.tar",
        "--output",
        str(tmp_path / "a.onnx"),
        "--height",
        "250",
        "--width",
        "256",
    )
    assert r.returncode == 2
    assert "height 250" in r.stderr
    assert "multiple of 16" in r.stderr
    r = run(
        "--model",
        "psmnet",
        "--weights",
        "w.tar",
        "--output",
        str(tmp_path / "a.onnx"),
        "--param",
        "max_disparity=100",
    )
    assert r.returncode == 2
    assert "max_disparity" in r.stderr
    assert not (tmp_path / "a.onnx").exists()
