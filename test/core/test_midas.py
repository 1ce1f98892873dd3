"""MiDaS v2.1 small, DPT-Hybrid, DPT-Large: official checkpoint layout, strict loading
(with key translation for MiDaS small), official pre/post-processing.

Checkpoints are built with random weights in the official key layout
(test/data/midas_keys.json, generated once from the official code) and saved as the
official files are: torch.save of a plain state dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models.loading import MonoNetworkModel

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.errors import WeightsError
from depth_ros.core.models import ModelConfig, OutputKind, get_model
from depth_ros.core.models.loading import network_size, prepare

KEYS = json.loads((Path(__file__).resolve().parents[1] / "data" / "midas_keys.json").read_text())


def official_state(model_id: str, seed: int = 0) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in KEYS[model_id]:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0, dtype=torch.long)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        elif name.endswith("running_mean"):
            state[name] = torch.randn(shape, generator=g) * 0.1
        else:
            scale = 0.1 if len(shape) > 1 else 0.05
            state[name] = torch.randn(shape, generator=g) * scale
            if len(shape) == 1 and ("norm" in name or ".bn" in name) and "weight" in name:
                state[name] += 1.0
    return state


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "midas_v21_small_256.pt"
    torch.save(official_state("midas_v21_small"), path)
    return path


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (50, 70, 3), dtype=np.uint8)


def test_specs() -> None:
    for mid, size, name in (
        ("midas_v21_small", 256, "midas_v21_small_256.pt"),
        ("dpt_hybrid", 384, "dpt_hybrid_384.pt"),
        ("dpt_large", 384, "dpt_large_384.pt"),
    ):
        spec = get_model(mid)
        assert spec.output_kind is OutputKind.RELATIVE
        assert spec.default_input_size == size
        assert spec.weights_file == name
        assert "github.com/isl-org/MiDaS/releases" in (spec.weights_source or "")
        assert next(p for p in spec.params if p.name == "input_size").default == size


@pytest.mark.parametrize("model_id", ["midas_v21_small", "dpt_hybrid", "dpt_large"])
def test_network_matches_official_layout(model_id: str) -> None:
    from depth_ros.core.models.midas import _net

    with torch.device("meta"):
        net, _from_official, to_official = _net(model_id)
    ours = {to_official(k): list(v.shape) for k, v in net.state_dict().items()}
    assert ours == {k: s for k, s in KEYS[model_id]}


def test_small_key_translation_round_trips() -> None:
    from depth_ros.core.models.nets.midas import small_from_official, small_to_official

    for name, _shape in KEYS["midas_v21_small"]:
        assert small_to_official(small_from_official(name)) == name
    assert small_from_official("pretrained.layer1.3.0.conv_dw.weight") == (
        "encoder.blocks.0.0.conv_dw.weight"
    )
    assert small_from_official("pretrained.layer4.1.0.bn3.bias") == "encoder.blocks.6.0.bn3.bias"


def test_resize_rules_match_official() -> None:
    from depth_ros.core.models.midas import _MODELS

    small, dpt = _MODELS["midas_v21_small"][4], _MODELS["dpt_large"][4]
    # values from the official Resize (upper_bound for v2.1 small, minimal for DPT)
    assert network_size(480, 640, 256, small) == (192, 256)
    assert network_size(480, 623, 384, small) == (288, 384)
    assert network_size(375, 1242, 256, small) == (64, 256)
    assert network_size(480, 640, 256, dpt) == (256, 352)
    assert network_size(375, 1242, 256, dpt) == (256, 832)
    assert network_size(640, 480, 384, dpt) == (512, 384)
    assert network_size(10, 1000, 64, small) == (32, 64)  # never a zero side


def test_dpt_normalisation_is_half() -> None:
    from depth_ros.core.models.midas import _MODELS

    x = prepare(np.zeros((32, 32, 3), np.uint8), 32, _MODELS["dpt_hybrid"][4])
    np.testing.assert_allclose(x, -1.0)
    y = prepare(np.zeros((32, 32, 3), np.uint8), 32, _MODELS["midas_v21_small"][4])
    np.testing.assert_allclose(
        y[0, :, 0, 0], -np.array([0.485, 0.456, 0.406]) / [0.229, 0.224, 0.225], rtol=1e-6
    )


def test_small_predict_matches_network_and_bicubic(small_file: Path, rgb: np.ndarray) -> None:
    model = build_as(
        "midas_v21_small", MonoNetworkModel, ModelConfig(weights=small_file, input_size=64)
    )
    out = model.predict(rgb)
    assert out.shape == rgb.shape[:2]
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert np.ptp(out) > 0
    from depth_ros.core.models.nets.midas import MidasSmallNet, small_from_official

    net = MidasSmallNet().eval()
    state = torch.load(small_file, weights_only=True)
    net.load_state_dict({small_from_official(k): v for k, v in state.items()}, strict=True)
    x = prepare(rgb, 64, model.pre)
    assert x.shape == (1, 3, 32, 64)
    with torch.no_grad():
        raw = net(torch.from_numpy(x))
        ref = torch.nn.functional.interpolate(
            raw[:, None], rgb.shape[:2], mode="bicubic", align_corners=False
        )[0, 0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5 * max(1.0, float(np.ptp(ref))))


def test_missing_key_reported_in_official_names(tmp_path: Path) -> None:
    state = official_state("midas_v21_small")
    del state["pretrained.layer2.0.0.conv_pw.weight"]
    state["pretrained.layer5.0.weight"] = torch.zeros(3)
    path = tmp_path / "midas_v21_small_256.pt"
    torch.save(state, path)
    with pytest.raises(WeightsError) as info:
        build_as("midas_v21_small", MonoNetworkModel, ModelConfig(weights=path, input_size=64))
    msg = str(info.value)
    assert "missing keys: pretrained.layer2.0.0.conv_pw.weight" in msg
    assert "unexpected keys: pretrained.layer5.0.weight" in msg
    assert str(path) in msg


def test_dpt_checkpoint_given_to_small_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "dpt_hybrid_384.pt"
    torch.save({"pretrained.model.cls_token": torch.zeros(1, 1, 768)}, path)
    with pytest.raises(WeightsError, match=r"missing keys.*unexpected keys"):
        build_as("midas_v21_small", MonoNetworkModel, ModelConfig(weights=path, input_size=64))


def test_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "midas_v21_small_256.pt"
    path.write_bytes(b"\x80\x02garbage" * 10)
    with pytest.raises(WeightsError, match=r"midas_v21_small_256\.pt"):
        build_as("midas_v21_small", MonoNetworkModel, ModelConfig(weights=path, input_size=64))


def test_offline_without_weights(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("dpt_large", MonoNetworkModel, ModelConfig())
    assert "dpt_large_384.pt" in str(info.value)
    assert "https://github.com/isl-org/MiDaS/releases/download/v3/dpt_large_384.pt" in str(
        info.value
    )


def test_cached_older_release_name_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    (tmp_path / "dpt_hybrid-midas-501f0c75.pt").write_bytes(b"corrupt")
    with pytest.raises(WeightsError, match=r"dpt_hybrid-midas-501f0c75\.pt"):
        build_as("dpt_hybrid", MonoNetworkModel, ModelConfig())


@pytest.mark.slow
def test_dpt_hybrid_predicts(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "dpt_hybrid_384.pt"
    torch.save(official_state("dpt_hybrid"), path)
    model = build_as("dpt_hybrid", MonoNetworkModel, ModelConfig(weights=path, input_size=64))
    out = model.predict(rgb)
    assert out.shape == rgb.shape[:2]
    assert np.isfinite(out).all()
