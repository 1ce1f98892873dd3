"""``depth-ros eval`` as a user runs it: Motorcycle with sgbm, outputs, --compare."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from depth_ros.cli.main import main

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

    from depth_ros.core.eval.datasets import RGBDFrame


def test_eval_motorcycle_sgbm_writes_outputs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "sgbm"
    rc = main(
        ["eval", "--dataset", "motorcycle", "-", "--model", "sgbm", "--output", str(out), "--quiet"]
    )
    assert rc == 0
    printed = capsys.readouterr().out
    assert "sgbm on motorcycle" in printed
    assert "bad_2=" in printed
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["model"] == "sgbm"
    assert doc["target"] == "disparity+depth"
    assert "GT finite and > 0" in doc["valid_mask"]
    agg = doc["aggregate"]
    # SGBM on Motorcycle: a few to ~25 % bad pixels; depth within a few % of GT
    assert 2.0 < agg["bad_2"] < 30.0
    assert agg["bad_1"] >= agg["bad_2"] >= agg["bad_3"]
    assert 0.5 < agg["density"] <= 1.0
    assert 0.0 < agg["abs_rel"] < 0.1
    assert 0.8 < agg["delta1"] <= 1.0
    rows = list(csv.DictReader((out / "frames.csv").open()))
    assert [r["name"] for r in rows] == ["motorcycle"]
    assert float(rows[0]["bad_2"]) == pytest.approx(agg["bad_2"])
    page = (out / "report.html").read_text()
    assert page.count("data:image/png;base64,") >= 8  # input, 2x(pred, GT, error), plots
    assert "http" not in page.replace("http-equiv", "")  # self-contained


def test_eval_compare_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for model in ("sgbm", "bm"):
        assert (
            main(
                [
                    "eval",
                    "--dataset",
                    "motorcycle",
                    "-",
                    "--model",
                    model,
                    "-q",
                    "--output",
                    str(tmp_path / model),
                ]
            )
            == 0
        )
    capsys.readouterr()
    assert (
        main(["eval", "--compare", str(tmp_path / "sgbm" / "metrics.json"), str(tmp_path / "bm")])
        == 0
    )
    table = capsys.readouterr().out
    assert table.splitlines()[0] == "| metric | sgbm | bm |"
    assert "| bad_2 |" in table
    assert "**" in table  # best value marked
    # a stereo model cannot run on RGB-D data; a bad alignment name is refused by argparse
    rc = main(["eval", "--dataset", "nyu", str(tmp_path), "--model", "sgbm", "-q"])
    assert rc == 2
    assert "expected NYU raw" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["eval", "--dataset", "motorcycle", "-", "--model", "sgbm", "--align", "cubic"])


def test_eval_subprocess_progress_bar(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "depth_ros.cli.main",
            "eval",
            "--dataset",
            "motorcycle",
            "-",
            "--model",
            "bm",
            "--output",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "frame" in proc.stderr  # tqdm progress bar
    assert (tmp_path / "report.html").is_file()


def _loader(frame: RGBDFrame) -> Callable[[], RGBDFrame]:
    return lambda: frame


def test_evaluate_relative_mono_model_recovers_exact_depth(tmp_path: Path) -> None:
    """A relative model whose output is exactly affine in inverse depth scores perfectly
    after lstsq-inverse alignment, and not after median scaling."""
    import numpy as np

    from depth_ros.core.eval.datasets import Dataset, Modality, RGBDFrame
    from depth_ros.core.eval.evaluation import evaluate
    from depth_ros.core.eval.report import save_results

    rng = np.random.default_rng(3)
    gts = [rng.uniform(0.5, 8.0, (20, 24)).astype(np.float32) for _ in range(2)]
    gts[0][0, 0] = np.nan
    frames = [RGBDFrame(f"f{i}", np.zeros((20, 24, 3), np.uint8), g) for i, g in enumerate(gts)]
    ds = Dataset(
        "synthetic",
        "-",
        Modality.RGBD,
        ["f0", "f1"],
        [_loader(f) for f in frames],
        max_depth=10.0,
    )

    class Oracle:
        def __init__(self) -> None:
            self.i = 0

        def predict(self, rgb: object) -> NDArray[np.float32]:
            g = np.nan_to_num(gts[self.i % 2], nan=1.0)
            self.i += 1
            return (2.0 / g + 0.3).astype(np.float32)

        def update(self, params: object) -> None:
            pass

    model = "depth_anything_v2_vits"
    r = evaluate(model, ds, align_method=None, progress=False, model=Oracle())
    assert r.align == "lstsq-inverse"
    assert r.aggregate["abs_rel"] == pytest.approx(0.0, abs=1e-5)
    assert r.frames[0].scale == pytest.approx(0.5, rel=1e-4)
    assert r.frames[0].shift == pytest.approx(-0.15, abs=1e-4)
    med = evaluate(model, ds, align_method="median", progress=False, model=Oracle())
    assert med.aggregate["abs_rel"] > 0.01
    paths = save_results(r, tmp_path)
    assert "lstsq-inverse" in paths["json"].read_text()


def test_evaluate_camera_aware_model_sees_the_frames_camera() -> None:
    """A camera-aware metric model is given each frame's intrinsics, as in the node: a
    model whose depth is fx / 100 m scores exactly when the frame's fx makes it right."""
    import numpy as np

    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.eval.datasets import Dataset, Modality, RGBDFrame
    from depth_ros.core.eval.evaluation import evaluate
    from depth_ros.core.models.base import MonoOutput

    cam = PinholeCamera.from_intrinsics(24, 20, fx=300.0, fy=300.0, cx=12.0, cy=10.0)
    gt = np.full((20, 24), 3.0, np.float32)
    frame = RGBDFrame("f0", np.zeros((20, 24, 3), np.uint8), gt, camera=cam)
    ds = Dataset("synthetic", "-", Modality.RGBD, ["f0"], [lambda: frame], max_depth=10.0)
    seen: list[object] = []

    class FocalModel:
        def infer(self, rgb: np.ndarray, camera: PinholeCamera | None) -> MonoOutput:
            seen.append(camera)
            assert camera is not None
            return MonoOutput(np.full(rgb.shape[:2], camera.fx / 100.0, np.float32))

        def update(self, params: object) -> None:
            pass

    r = evaluate("metric3d_v2_vits", ds, align_method="none", progress=False, model=FocalModel())
    assert seen == [cam]
    assert r.aggregate["abs_rel"] == pytest.approx(0.0, abs=1e-6)
