"""The load-time ONNX graph rewrite (Tile before Transpose): same outputs, fewer moved
values; on a small hand-built graph and on HITNet's real graph."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from depth_ros.core.errors import WeightsError

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

from onnx import ModelProto, TensorProto, helper, numpy_helper  # noqa: E402

from depth_ros.core.backends import BackendRequest  # noqa: E402
from depth_ros.core.backends.onnx_graph import rewritten_model, swap_tile_transpose  # noqa: E402
from depth_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
HITNET = SHARED / "models" / "hitnet_eth3d" / "eth3d_converted.onnx"


def _tile_graph(second_reader: bool) -> ModelProto:
    """x (1, 3, 4, 5) → Tile (1, 4, 1, 1) → Transpose (0, 2, 3, 1) → Relu; with
    ``second_reader`` the tiled tensor is also an output (so it must stay)."""
    nodes = [
        helper.make_node("Tile", ["x", "reps"], ["tiled"], name="tile"),
        helper.make_node("Transpose", ["tiled"], ["nhwc"], name="t", perm=[0, 2, 3, 1]),
        helper.make_node("Relu", ["nhwc"], ["y"], name="relu"),
    ]
    outputs = [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, "h", "w", 12])]
    if second_reader:
        outputs.append(helper.make_tensor_value_info("tiled", TensorProto.FLOAT, [1, 12, "h", "w"]))
    graph = helper.make_graph(
        nodes,
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, "h", "w"])],
        outputs,
        [numpy_helper.from_array(np.array([1, 4, 1, 1], np.int64), "reps")],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], ir_version=8)


def _run(model: ModelProto, x: np.ndarray) -> np.ndarray:
    sess = ort.InferenceSession(
        model.SerializeToString(),
        providers=["CPUExecutionProvider"],
    )
    return np.asarray(sess.run(["y"], {"x": x})[0])


def test_swap_keeps_values_and_moves_the_transpose_first() -> None:
    model = _tile_graph(second_reader=False)
    x = np.random.default_rng(0).standard_normal((1, 3, 4, 5)).astype(np.float32) - 0.3
    before = _run(model, x)
    assert swap_tile_transpose(model) == 1
    onnx.checker.check_model(model)
    assert [n.op_type for n in model.graph.node] == ["Transpose", "Tile", "Relu"]
    after = _run(model, x)
    assert after.shape == (1, 4, 5, 12)
    np.testing.assert_array_equal(after, before)


def test_tile_with_another_reader_is_left_alone() -> None:
    model = _tile_graph(second_reader=True)
    assert swap_tile_transpose(model) == 0
    assert [n.op_type for n in model.graph.node] == ["Tile", "Transpose", "Relu"]


def test_not_an_onnx_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(WeightsError, match="cannot be loaded as an ONNX model"):
        rewritten_model(bad)


def test_hitnet_rewritten_graph_gives_the_plain_disparity() -> None:
    if not HITNET.exists():
        pytest.skip(f"{HITNET} is absent (real weights live in ../shared on dev machines)")
    from depth_ros.core.eval.samples import motorcycle
    from depth_ros.core.models import ModelConfig, StereoModel, build_model
    from depth_ros.core.models.hitnet import INPUTS, OUTPUTS, preprocess

    s = motorcycle()
    left = np.ascontiguousarray(s.left[150:246, 300:428])  # 96 x 128
    right = np.ascontiguousarray(s.right[150:246, 300:428])
    x = preprocess(left, right, 96, 128)
    request = BackendRequest(HITNET, input_names=INPUTS, output_names=OUTPUTS)
    plain = OnnxRuntimeBackend(request)
    (expected,) = plain.run([x])
    expected = expected.reshape(96, 128)
    assert np.isfinite(expected).all()
    assert float(expected.max()) > 1.0
    model = build_model("hitnet", ModelConfig(weights=HITNET, device="cpu"))
    assert isinstance(model, StereoModel)
    got = model.compute(left, right)
    # measured: identical (the rewrite moves values, computes nothing)
    assert float(np.abs(got - expected).max()) <= 1e-3
    assert swap_tile_transpose(onnx.load(str(HITNET))) == 5
