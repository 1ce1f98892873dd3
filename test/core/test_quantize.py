"""Int8 quantisation of ONNX stereo networks (depth_ros.core.models.quantize, `depth-ros export
--quantize`), on a small stand-in graph with HITNet's input and output layout."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models import build_as
from depth_ros.core.models import quantize as q
from depth_ros.core.models.hitnet import HITNetStereo

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")


def _tiny_hitnet(path: Path) -> Path:
    """input:0 [N, H, W, 2] -> Conv 3x3 (2 -> 8 -> 1, ReLU) -> reference_output_disparity:0
    [N, H, W, 1], with a depth_ros metadata entry."""
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    w1 = numpy_helper.from_array(rng.normal(0, 0.5, (8, 2, 3, 3)).astype(np.float32), "w1")
    w2 = numpy_helper.from_array(rng.normal(0, 0.5, (1, 8, 3, 3)).astype(np.float32), "w2")
    nodes = [
        helper.make_node("Transpose", ["input:0"], ["x"], perm=[0, 3, 1, 2]),
        helper.make_node("Conv", ["x", "w1"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "w2"], ["c2"], pads=[1, 1, 1, 1]),
        helper.make_node("Transpose", ["c2"], ["reference_output_disparity:0"], perm=[0, 2, 3, 1]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("input:0", TensorProto.FLOAT, ["n", "h", "w", 2])],
        [
            helper.make_tensor_value_info(
                "reference_output_disparity:0", TensorProto.FLOAT, ["n", "h", "w", 1]
            )
        ],
        [w1, w2],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)
    entry = model.metadata_props.add()
    entry.key, entry.value = "depth_ros.model", "hitnet"
    onnx.save(model, str(path))
    return path


def _pairs(n: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(1)
    return [
        (
            rng.integers(0, 256, (40, 60, 3), dtype=np.uint8),
            rng.integers(0, 256, (40, 60, 3), dtype=np.uint8),
        )
        for _ in range(n)
    ]


def _run(path: Path, feed: dict[str, np.ndarray]) -> np.ndarray:
    s = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(s.run(None, feed)[0])


@pytest.mark.parametrize("mode", ["static", "dynamic"])
def test_quantized_file_runs_close_to_fp32_and_keeps_metadata(tmp_path: Path, mode: str) -> None:
    src = _tiny_hitnet(tmp_path / "fp32.onnx")
    feeds = [q.FEEDS["hitnet"](a, b) for a, b in _pairs()]
    result = q.quantize_onnx(src, tmp_path / "int8.onnx", mode, feeds)
    assert result.mode == mode
    assert result.calibration_frames == (2 if mode == "static" else 0)
    model = onnx.load(str(result.path))
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["depth_ros.model"] == "hitnet"
    assert meta[q.META_QUANT] == f"int8-{mode}"
    ops = {n.op_type for n in model.graph.node}
    assert (
        ("QuantizeLinear" in ops)
        if mode == "static"
        else ("ConvInteger" in ops or "DynamicQuantizeLinear" in ops)
    )
    ref = _run(src, feeds[0])
    got = _run(result.path, feeds[0])
    assert got.shape == ref.shape == (1, 64, 64, 1)
    rel = float(np.abs(got - ref).max() / np.abs(ref).max())
    assert 0 < rel < 0.1  # quantised: not identical, but close


def test_errors(tmp_path: Path) -> None:
    src = _tiny_hitnet(tmp_path / "fp32.onnx")
    with pytest.raises(ConfigError, match="calibration"):
        q.quantize_onnx(src, tmp_path / "o.onnx", "static", [])
    with pytest.raises(ConfigError, match="mode"):
        q.quantize_onnx(src, tmp_path / "o.onnx", "int4", [])
    bad = tmp_path / "weights.tar"
    bad.write_bytes(b"x")
    with pytest.raises(WeightsError, match="ONNX"):
        q.quantize_onnx(bad, tmp_path / "o.onnx", "dynamic")
    with pytest.raises(ConfigError, match="no left"):
        q.calibration_pairs(tmp_path)


def test_cli_quantizes_hitnet_and_the_model_runs_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import cv2

    from depth_ros.cli.main import main
    from depth_ros.core.models import ModelConfig

    src = _tiny_hitnet(tmp_path / "fp32.onnx")
    calib = tmp_path / "calib"
    for i, (a, b) in enumerate(_pairs()):
        for side, img in (("left", a), ("right", b)):
            (calib / side).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(calib / side / f"{i}.png"), img[:, :, ::-1])
    out = tmp_path / "int8.onnx"
    rc = main(
        [
            "export",
            "--model",
            "hitnet",
            "--weights",
            str(src),
            "--quantize",
            "int8",
            "--calibration",
            str(calib),
            "--output",
            str(out),
            "--json",
        ]
    )
    assert rc == 0
    report = json.loads(capsys.readouterr().out)
    assert report["quantization"] == "int8-static"
    assert report["calibration_frames"] == 2
    left, right = _pairs(1)[0]
    fp32 = build_as("hitnet", HITNetStereo, ModelConfig(weights=src)).compute(left, right)
    int8 = build_as("hitnet", HITNetStereo, ModelConfig(weights=out)).compute(left, right)
    assert int8.shape == fp32.shape == (40, 60)
    assert float(np.abs(int8 - fp32).max() / np.abs(fp32).max()) < 0.1


def test_calibration_images(tmp_path: Path) -> None:
    import cv2

    assert [im.shape for im in q.calibration_images(None)] == [(500, 741, 3)] * 2
    rng = np.random.default_rng(2)
    for name in ("b.png", "a.jpg"):
        cv2.imwrite(str(tmp_path / name), rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    (tmp_path / "notes.txt").write_text("not an image")
    images = q.calibration_images(tmp_path)
    assert [im.shape for im in images] == [(30, 40, 3)] * 2
    with pytest.raises(ConfigError, match="no image files"):
        q.calibration_images(_empty(tmp_path))
    with pytest.raises(ConfigError, match="not a folder"):
        q.calibration_images(tmp_path / "missing")
    with pytest.raises(ConfigError, match="int8-dynamic"):
        q.calibration_feeds("depth_anything_v2_vits", None)


def _empty(tmp_path: Path) -> Path:
    folder = tmp_path / "empty"
    folder.mkdir()
    return folder


def test_monodepth2_int8_keeps_its_head_float_and_runs_close_to_fp32(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`depth-ros export --quantize int8` of the official release folder (random weights):
    calibrated on the embedded views, the convolutions int8 but the disparity head, and the
    model runs the file with the fp32 network's disparity to within a few % of its range."""
    pytest.importorskip("torch")
    from depth_ros.cli.main import main
    from depth_ros.core.models import ModelConfig, get_model
    from depth_ros.core.models.monodepth2 import Monodepth2Model

    model_id = "monodepth2_mono_640x192"
    spec = get_model(model_id)
    assert spec.random_checkpoint is not None
    folder = tmp_path / "mono_640x192"
    spec.random_checkpoint(folder)
    out = tmp_path / "md2_int8.onnx"
    args = ["export", "--model", model_id, "--weights", str(folder / "encoder.pth")]
    assert main([*args, "--quantize", "int8", "--output", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["calibration_frames"] == 2
    graph = onnx.load(str(out)).graph
    dequantized = {n.output[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    convs = [n for n in graph.node if n.op_type == "Conv"]
    float_convs = [n.name for n in convs if n.input[1] not in dequantized]
    assert float_convs == ["/depth/decoder.10/conv/Conv"]  # the 16 -> 1 disparity head
    assert len(convs) == 31  # the other 30 (encoder 20, decoder 10) take int8 weights
    rgb = q.calibration_images(None)[0]
    fp32 = build_as(model_id, Monodepth2Model, ModelConfig(weights=folder)).predict(rgb)
    int8 = build_as(model_id, Monodepth2Model, ModelConfig(weights=out)).predict(rgb)
    assert int8.shape == fp32.shape == rgb.shape[:2]
    err = np.abs(int8 - fp32) / np.ptp(fp32)
    assert 0 < float(err.mean()) < 0.03
    assert float(err.max()) < 0.15
