"""Depth Anything V1: official checkpoint layout, strict loading, V1's decoder inputs and
its post-processing (bilinear, align_corners=False).

Checkpoints are built with random weights in the official key layout
(test/data/depth_anything_v1_keys.json, generated once from the official code,
github.com/LiheYoung/Depth-Anything) and saved as the official files are: torch.save of a
plain state dict. The comparison with the official code itself is
benchmarks/oracle_depth_anything_v1.py.
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

from core.test_depth_anything_v2 import state_from_keys
from depth_ros.core.errors import WeightsError
from depth_ros.core.models import (
    InputKind,
    ModelConfig,
    OutputKind,
    get_model,
    model_ids,
)
from depth_ros.core.models.loading import prepare, resize_prediction

DATA = Path(__file__).resolve().parents[1] / "data"
KEYS = json.loads((DATA / "depth_anything_v1_keys.json").read_text())
SMALL = 70


def official_state(encoder: str, seed: int = 0) -> dict[str, torch.Tensor]:
    return state_from_keys(KEYS[encoder], seed)


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "depth_anything_vits14.pth"
    torch.save(official_state("vits"), path)
    return path


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(5).integers(0, 256, (45, 61, 3), dtype=np.uint8)


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for enc in ("vits", "vitb", "vitl"):
        assert f"depth_anything_v1_{enc}" in ids
        spec = get_model(f"depth_anything_v1_{enc}")
        assert spec.output_kind is OutputKind.RELATIVE
        assert spec.weights_file == f"depth_anything_{enc}14.pth"
        assert "huggingface.co/spaces/LiheYoung/Depth-Anything" in (spec.weights_source or "")
        assert spec.default_input_size == 518
        assert spec.random_checkpoint is not None
        assert spec.export is not None


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_network_matches_official_layout(encoder: str) -> None:
    from depth_ros.core.models.depth_anything_v1 import release

    with torch.device("meta"):
        net = release(encoder).net()
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == {k: s for k, s in KEYS[encoder]}


def test_decoder_takes_the_last_four_blocks() -> None:
    from depth_ros.core.models.depth_anything_v1 import release

    assert release("vits").net().layers == (8, 9, 10, 11)
    with torch.device("meta"):
        assert release("vitl").net().layers == (20, 21, 22, 23)


def test_bilinear_resize_matches_torch() -> None:
    import torch.nn.functional as F

    src = np.random.default_rng(0).random((7, 9)).astype(np.float32) * 5
    t = torch.from_numpy(src)[None, None]
    for size in ((20, 13), (3, 4), (7, 9)):
        ref = F.interpolate(t, size, mode="bilinear", align_corners=False)[0, 0].numpy()
        np.testing.assert_allclose(resize_prediction(src, *size, "bilinear"), ref, atol=1e-5)


def test_predict_equals_network_and_official_resize(vits_file: Path, rgb: np.ndarray) -> None:
    model = build_as(
        "depth_anything_v1_vits", MonoNetworkModel, ModelConfig(weights=vits_file, input_size=SMALL)
    )
    out = model.predict(rgb)
    assert out.shape == rgb.shape[:2]
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert (out >= 0).all()
    assert np.ptp(out) > 0
    from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

    state = torch.load(vits_file, weights_only=True)
    x = torch.from_numpy(prepare(rgb, SMALL, model.pre))
    assert tuple(x.shape) == (1, 3, 70, 98)
    with torch.no_grad():
        v1 = DepthAnythingV2Net("vits", layers=(8, 9, 10, 11)).eval()
        v1.load_state_dict(state, strict=True)
        raw = v1(x)
        ref = torch.nn.functional.interpolate(
            raw[:, None], rgb.shape[:2], mode="bilinear", align_corners=False
        )[0, 0].numpy()
        v2 = DepthAnythingV2Net("vits").eval()
        v2.load_state_dict(state, strict=True)
        other = v2(x)
    np.testing.assert_allclose(out, ref, atol=1e-5 * max(1.0, float(np.ptp(ref))))
    # V2's decoder inputs on the same weights give a different prediction
    assert float((other - raw).abs().max()) > 1e-3 * float(raw.max() - raw.min())


def test_strict_loading_errors(tmp_path: Path) -> None:
    def build(path: Path) -> None:
        build_as(
            "depth_anything_v1_vits", MonoNetworkModel, ModelConfig(weights=path, input_size=SMALL)
        )

    state = official_state("vits")
    del state["depth_head.scratch.output_conv1.weight"]
    torch.save(state, tmp_path / "a.pth")
    with pytest.raises(WeightsError, match=r"missing keys: depth_head\.scratch\.output_conv1"):
        build(tmp_path / "a.pth")
    torch.save(official_state("vitb"), tmp_path / "b.pth")  # a ViT-B file for the ViT-S model
    with pytest.raises(
        WeightsError, match=r"V1 ViT-S checkpoint.*shape mismatch.*depth_head\.projects\.0"
    ):
        build(tmp_path / "b.pth")
    (tmp_path / "c.pth").write_bytes(b"garbage")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        build(tmp_path / "c.pth")


def test_no_weights_offline_names_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("depth_anything_v1_vitl", MonoNetworkModel, ModelConfig())
    msg = str(info.value)
    assert "depth_anything_vitl14.pth" in msg
    assert "spaces/LiheYoung/Depth-Anything" in msg


def test_random_checkpoint_loads_and_gives_finite_depth(tmp_path: Path, rgb: np.ndarray) -> None:
    spec = get_model("depth_anything_v1_vits")
    assert spec.random_checkpoint is not None
    path = tmp_path / (spec.weights_file or "w.pth")
    spec.random_checkpoint(path)
    config = ModelConfig(weights=path, input_size=SMALL)
    out = build_as(spec.id, MonoNetworkModel, config).predict(rgb)
    assert np.isfinite(out).all()
    assert np.ptp(out) > 0
