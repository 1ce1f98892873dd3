"""Inference backends and safe checkpoint loading: selection, equivalence, error cases."""

from __future__ import annotations

import collections
import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from depth_ros.core.backends import (
    BACKEND_NAMES,
    BACKENDS,
    WEIGHTS_BACKENDS,
    Backend,
    BackendRequest,
    BackendSpec,
    backend_for_weights,
    create_backend,
    is_exported,
    register_backend,
    resolve_backend,
)
from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models.checkpoints import load_state_dict_file, load_strict

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PSMNET = SHARED / "models" / "psmnet_kitti2015" / "pretrained_model_KITTI2015.tar"
HITNET = SHARED / "models" / "hitnet_eth3d" / "eth3d_converted.onnx"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is absent (real weights live in ../shared on dev machines)")
    return path


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
        self.bn = torch.nn.BatchNorm2d(4)
        self.head = torch.nn.Conv2d(4, 1, 1)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.head(torch.relu(self.bn(self.conv(x - y))))
        return out


def tiny() -> Tiny:
    torch.manual_seed(0)
    m = Tiny()
    mean, var = m.bn.running_mean, m.bn.running_var
    assert mean is not None
    assert var is not None
    mean.uniform_(-0.5, 0.5)
    var.uniform_(0.5, 2.0)
    return m.eval()


# ---------------------------------------------------------------- selection and errors


@pytest.mark.parametrize(
    ("name", "backend"),
    [
        ("m.onnx", "onnxruntime"),
        ("M.ONNX", "onnxruntime"),
        ("m.pth", "torch"),
        ("m.pt", "torch"),
        ("m.tar", "torch"),
        ("m.pth.tar", "torch"),
        ("m.ckpt", "torch"),
        ("m.safetensors", "torch"),
        ("pytorch_model.bin", "torch"),
        ("m.engine", "tensorrt"),
        ("m.plan", "tensorrt"),
        ("m.trt", "tensorrt"),
    ],
)
def test_backend_from_extension(name: str, backend: str) -> None:
    assert backend_for_weights(Path("/x") / name) == backend
    assert resolve_backend(None, Path("/x") / name) == backend
    assert resolve_backend("auto", f"/x/{name}") == backend
    assert is_exported(name) is (backend != "torch")


def test_weights_table_is_the_registered_backends() -> None:
    """Every file type in the table is run by a registered backend, and every built-in
    backend runs at least one file type."""
    assert set(WEIGHTS_BACKENDS.values()) == set(BACKEND_NAMES) == set(BACKENDS.names())
    assert all(s == s.lower() and s.startswith(".") for s in WEIGHTS_BACKENDS)


def test_resolve_backend_order() -> None:
    # requested, then the default (a profile's), then the file type, then `unknown`
    assert resolve_backend("onnxruntime", "m.onnx", default="torch") == "onnxruntime"
    assert resolve_backend("auto", "m.pth", default="torch") == "torch"
    assert resolve_backend("", None, default="tensorrt") == "tensorrt"
    assert resolve_backend("auto", "m.engine", default="auto") == "tensorrt"
    assert resolve_backend(None, "release_folder", unknown="torch") == "torch"
    assert resolve_backend("onnxruntime", "model") == "onnxruntime"  # no suffix: as named
    # nothing named and no file: the node decides once it has its default file
    assert resolve_backend("auto", "") == "auto"
    assert resolve_backend(None, None) == "auto"


def test_resolve_backend_errors() -> None:
    with pytest.raises(ConfigError, match=r"m\.xml from its type; known: .*\.onnx"):
        resolve_backend(None, "m.xml")
    assert backend_for_weights("m.xml") is None
    with pytest.raises(ConfigError, match=r"unknown backend 'openvino'; known: onnxruntime"):
        resolve_backend("openvino", "m.xml")
    with pytest.raises(ConfigError, match=r"unknown backend 'openvino'.*onnxruntime"):
        create_backend("openvino", BackendRequest(Path("m.onnx")))
    # a named backend that does not run the file's type, whichever way it was named
    with pytest.raises(ConfigError, match=r"backend 'torch' cannot run m\.onnx.*'onnxruntime'"):
        resolve_backend("torch", "/x/m.onnx")
    with pytest.raises(ConfigError, match=r"backend 'tensorrt' cannot run m\.onnx"):
        resolve_backend("auto", "m.onnx", default="tensorrt")
    with pytest.raises(ConfigError, match=r"'onnxruntime' cannot run m\.pth.*runs \.onnx"):
        create_backend("onnxruntime", BackendRequest(Path("m.pth"), module_factory=tiny))
    with pytest.raises(ConfigError, match=r"no weights file given and no backend named"):
        create_backend(None, BackendRequest(None, module_factory=tiny))


def test_create_backend_unknown_file_type_needs_a_pytorch_network(tmp_path: Path) -> None:
    """A file of no known type runs on PyTorch when the model has a PyTorch network
    (its loader judges the file), and is refused when it has none."""
    t = create_backend(None, BackendRequest(tmp_path / "weights.bin.v2", module_factory=tiny))
    assert t.name == "torch"
    t.close()
    with pytest.raises(ConfigError, match=r"cannot tell the backend of weights file"):
        create_backend(None, BackendRequest(tmp_path / "weights.bin.v2"))


def _never_created(request: BackendRequest) -> Backend:
    raise AssertionError("an unavailable backend is not created")


def test_plugin_backend_claims_file_types() -> None:
    spec = BackendSpec("_test_xml", lambda: "test only", _never_created, extensions=(".XML",))
    try:
        register_backend(spec)
        assert resolve_backend(None, "m.xml") == "_test_xml"
        with pytest.raises(ConfigError, match=r"'_test_xml' is not available: test only"):
            create_backend(None, BackendRequest(Path("m.xml")))
        clash = BackendSpec("_test_onnx", lambda: None, spec.create, extensions=(".onnx",))
        with pytest.raises(ConfigError, match=r"'_test_onnx' claims \.onnx files.*onnxruntime"):
            register_backend(clash)
        assert "_test_onnx" not in BACKENDS
    finally:
        WEIGHTS_BACKENDS.pop(".xml", None)
        BACKENDS._entries.pop("_test_xml", None)


@pytest.mark.skipif(torch.cuda.is_available(), reason="a CUDA device is present")
def test_torch_cuda_absent_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'cuda'.*CUDA is not available"):
        create_backend("torch", BackendRequest(None, device="cuda", module_factory=tiny))


def test_torch_bad_device_and_fp16_on_cpu() -> None:
    with pytest.raises(ConfigError, match=r"unknown device 'gpu0'"):
        create_backend("torch", BackendRequest(None, device="gpu0", module_factory=tiny))
    with pytest.raises(ConfigError, match=r"fp16 needs a CUDA device"):
        create_backend("torch", BackendRequest(None, fp16=True, module_factory=tiny))
    with pytest.raises(ConfigError, match=r"no PyTorch implementation|needs a PyTorch"):
        create_backend("torch", BackendRequest(None))


def test_onnxruntime_cuda_absent_is_config_error(tmp_path: Path) -> None:
    import onnxruntime as ort

    if "CUDAExecutionProvider" in ort.get_available_providers():
        pytest.skip("onnxruntime has CUDA here")
    path = export_tiny(tmp_path)
    with pytest.raises(ConfigError, match=r"CUDAExecutionProvider"):
        create_backend(None, BackendRequest(path, device="cuda"))


@pytest.mark.skipif(
    importlib.util.find_spec("tensorrt") is not None, reason="tensorrt is installed"
)
def test_tensorrt_absent_is_config_error() -> None:
    with pytest.raises(ConfigError, match=r"backend 'tensorrt' is not available.*tensorrt"):
        create_backend(None, BackendRequest(Path("model.engine")))


def test_onnxruntime_missing_and_corrupt_files(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"nope.onnx not found"):
        create_backend(None, BackendRequest(tmp_path / "nope.onnx"))
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"\x00not a protobuf" * 20)
    with pytest.raises(WeightsError, match=r"bad\.onnx cannot be loaded by onnxruntime"):
        create_backend(None, BackendRequest(bad))
    good = export_tiny(tmp_path)
    with pytest.raises(WeightsError, match=r"no input named image.*x, y"):
        create_backend(None, BackendRequest(good, input_names=("image",)))


# ---------------------------------------------------------------- equivalence


def export_tiny(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.onnx"
    x = torch.zeros(1, 3, 8, 8)
    torch.onnx.export(
        tiny(),
        (x, x),
        str(path),
        input_names=["x", "y"],
        output_names=["out"],
        dynamic_axes={"x": {2: "h", 3: "w"}, "y": {2: "h", 3: "w"}, "out": {2: "h", 3: "w"}},
        dynamo=False,
    )
    return path


def test_torch_and_onnxruntime_agree_on_tiny_network(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 3, 20, 28)).astype(np.float32)
    y = rng.standard_normal((1, 3, 20, 28)).astype(np.float32)
    t = create_backend("torch", BackendRequest(None, module_factory=tiny))
    o = create_backend(None, BackendRequest(export_tiny(tmp_path), threads=1))
    assert (t.name, o.name) == ("torch", "onnxruntime")
    (a,) = t.run([x, y])
    (b,) = o.run([x, y])
    with torch.no_grad():
        ref = tiny()(torch.from_numpy(x), torch.from_numpy(y)).numpy()
    assert a.dtype == np.float32
    assert a.shape == (1, 1, 20, 28)
    np.testing.assert_array_equal(a, ref)
    np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5)
    with pytest.raises(ConfigError, match=r"takes 2 inputs"):
        o.run([x])
    t.close()
    o.close()


def test_hitnet_onnx_runs_with_dynamic_size() -> None:
    path = need(HITNET)
    b = create_backend(None, BackendRequest(path, threads=2))
    assert b.name == "onnxruntime"
    rng = np.random.default_rng(0)
    x = rng.random((1, 64, 96, 2), dtype=np.float32)
    (out,) = b.run([x])
    assert out.shape == (1, 64, 96, 1)
    assert np.isfinite(out).all()


# ---------------------------------------------------------------- checkpoints


def test_real_psmnet_checkpoint_unwraps() -> None:
    state = load_state_dict_file(need(PSMNET), expected="PSMNet checkpoint")
    assert len(state) == 429
    assert "feature_extraction.firstconv.0.0.weight" in state  # module. prefix stripped
    assert not any(k.startswith("module.") for k in state)


def test_checkpoint_wrappings_and_safetensors(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    sd = tiny().state_dict()
    for i, obj in enumerate(
        [
            sd,
            {"state_dict": {f"module.{k}": v for k, v in sd.items()}, "epoch": 3},
            {"model": sd},
        ]
    ):
        torch.save(obj, tmp_path / f"c{i}.pth")
        got = load_state_dict_file(tmp_path / f"c{i}.pth")
        assert set(got) == set(sd)
        m = Tiny()
        load_strict(m, got, tmp_path / f"c{i}.pth")
        for k, v in m.state_dict().items():
            assert torch.equal(v, sd[k])
    save_file({k: v.contiguous() for k, v in sd.items()}, str(tmp_path / "c.safetensors"))
    assert set(load_state_dict_file(tmp_path / "c.safetensors")) == set(sd)


def test_checkpoint_without_batch_counters_loads(tmp_path: Path) -> None:
    sd = {k: v for k, v in tiny().state_dict().items() if "num_batches_tracked" not in k}
    m = Tiny()
    load_strict(m, sd, "old.pth")
    loaded, expected = m.bn.running_var, tiny().bn.running_var
    assert loaded is not None
    assert expected is not None
    assert torch.equal(loaded, expected)


def test_checkpoint_errors_name_file_and_expectation(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match=r"missing.pth not found: expected the Foo net"):
        load_state_dict_file(tmp_path / "missing.pth", expected="Foo net")
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"this is not a checkpoint" * 10)
    with pytest.raises(WeightsError, match=r"corrupt.pth is not a PyTorch checkpoint.*Foo net"):
        load_state_dict_file(corrupt, expected="Foo net")
    good = tmp_path / "good.pth"
    torch.save(tiny().state_dict(), good)
    truncated = tmp_path / "truncated.pth"
    truncated.write_bytes(good.read_bytes()[:300])
    with pytest.raises(WeightsError, match=r"truncated.pth"):
        load_state_dict_file(truncated, expected="Foo net")
    pickled = tmp_path / "pickled.pth"
    torch.save({"net": tiny()}, pickled)  # a whole module: refused by weights_only
    with pytest.raises(WeightsError, match=r"pickled.pth cannot be loaded safely.*Unsupported"):
        load_state_dict_file(pickled, expected="Foo net")
    notstate = tmp_path / "notstate.pth"
    torch.save({"epoch": 3, "lr": 0.1}, notstate)
    with pytest.raises(WeightsError, match=r"notstate.pth: found a dict with keys epoch, lr"):
        load_state_dict_file(notstate, expected="Foo net")


def test_wrong_checkpoint_lists_keys() -> None:
    other = collections.OrderedDict(
        (k, v) for k, v in tiny().state_dict().items() if not k.startswith("head.")
    )
    other["extra.weight"] = torch.zeros(2)
    other["conv.weight"] = torch.zeros(8, 3, 3, 3)
    with pytest.raises(WeightsError) as info:
        load_strict(Tiny(), other, "wrong.pth", "Tiny checkpoint")
    msg = str(info.value)
    assert "wrong.pth does not match the Tiny architecture" in msg
    assert "2 missing keys: head.bias, head.weight" in msg
    assert "1 unexpected keys: extra.weight" in msg
    assert "conv.weight (8, 3, 3, 3) vs (4, 3, 3, 3)" in msg
