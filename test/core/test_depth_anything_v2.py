"""Depth Anything V2: official checkpoint layout, strict loading, pre/post-processing.

The official weights are not available here; checkpoints are built with random weights in
the official key layout (test/data/depth_anything_v2_keys.json, generated once from the
official code) and saved as the official files are: torch.save of a plain state dict.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models._focal import FocalScaled
from depth_ros.core.models.loading import MonoNetworkModel

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.models import (
    InputKind,
    ModelConfig,
    OutputKind,
    get_model,
    model_ids,
)
from depth_ros.core.models.loading import (
    Preprocess,
    WeightsSource,
    fetch_weights,
    network_size,
    prepare,
    resize_prediction,
)

KEYS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "depth_anything_v2_keys.json").read_text()
)
SMALL = 70  # network input size for fast tests (5x5 patches on the short side)


def official_state(encoder: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official layout and order (LayerScale near 1, norms near 1)."""
    return state_from_keys(KEYS[encoder], seed)


def state_from_keys(keys: list[list[Any]], seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights for an official key list of (name, shape) pairs, in its order:
    N(0, 0.05), and LayerScale (``gamma``) and norm weights (a ``weight`` under a module
    named ``norm...``) near 1. Used for every ViT + DPT family (Depth Anything V1/V2/V3,
    Video Depth Anything)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in keys:
        t = torch.randn(shape, generator=g) * 0.05
        *parents, leaf = name.split(".")
        if leaf == "gamma" or (leaf == "weight" and any("norm" in p for p in parents)):
            t += 1.0
        state[name] = t
    return state


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "depth_anything_v2_vits.pth"
    torch.save(official_state("vits"), path)
    return path


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (45, 61, 3), dtype=np.uint8)


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for enc in ("vits", "vitb", "vitl"):
        rel = get_model(f"depth_anything_v2_{enc}")
        assert rel.output_kind is OutputKind.RELATIVE
        assert rel.max_depth is None
        assert rel.weights_file == f"depth_anything_v2_{enc}.pth"
        assert rel.default_input_size == 518
        for dataset, depth in (("hypersim", 20.0), ("vkitti", 80.0)):
            mid = f"depth_anything_v2_metric_{dataset}_{enc}"
            assert mid in ids
            spec = get_model(mid)
            assert spec.output_kind is OutputKind.METRIC
            assert spec.max_depth == depth
            assert spec.weights_file == f"depth_anything_v2_metric_{dataset}_{enc}.pth"
            assert "huggingface.co/depth-anything/" in (spec.weights_source or "")


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_network_matches_official_layout(encoder: str) -> None:
    from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

    with torch.device("meta"):
        net = DepthAnythingV2Net(encoder)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == {k: s for k, s in KEYS[encoder]}


def test_resize_rule_matches_official_examples() -> None:
    pre = get_model("depth_anything_v2_vits").build  # noqa: F841 (spec exists)
    from depth_ros.core.models.depth_anything_v2 import PREPROCESS

    # 640x480 at 518 → 686x518 (official infer_image); portrait and tiny images too
    assert network_size(480, 640, 518, PREPROCESS) == (518, 686)
    assert network_size(640, 480, 518, PREPROCESS) == (686, 518)
    assert network_size(500, 741, 364, PREPROCESS) == (364, 546)
    assert network_size(10, 10, 70, PREPROCESS) == (70, 70)
    h, w = network_size(375, 1242, 518, PREPROCESS)
    assert h == 518
    assert w % 14 == 0
    assert abs(w / h - 1242 / 375) < 0.03


def test_prepare_normalises_like_official(rgb: np.ndarray) -> None:
    from depth_ros.core.models.depth_anything_v2 import PREPROCESS

    x = prepare(rgb, SMALL, PREPROCESS)
    assert x.shape == (1, 3, 70, 98)
    assert x.dtype == np.float32
    flat = np.full((14, 14, 3), 255, np.uint8)
    y = prepare(flat, 14, PREPROCESS)[0, :, 0, 0]
    np.testing.assert_allclose(
        y, (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225], rtol=1e-6
    )


@pytest.mark.parametrize("mode", ["bilinear_align_corners", "bicubic"])
def test_resize_prediction_matches_torch(mode: str) -> None:
    import torch.nn.functional as F

    src = np.random.default_rng(0).random((7, 9)).astype(np.float32) * 5
    ours = resize_prediction(src, 20, 13, mode)
    t = torch.from_numpy(src)[None, None]
    if mode == "bicubic":
        ref = F.interpolate(t, (20, 13), mode="bicubic", align_corners=False)
    else:
        ref = F.interpolate(t, (20, 13), mode="bilinear", align_corners=True)
    assert ours.dtype == np.float32
    assert ours.shape == (20, 13)
    np.testing.assert_allclose(ours, ref[0, 0].numpy(), atol=1e-5)


def test_predict_relative(vits_file: Path, rgb: np.ndarray) -> None:
    model = build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=vits_file, input_size=SMALL)
    )
    out = model.predict(rgb)
    assert out.shape == rgb.shape[:2]
    assert out.dtype == np.float32
    assert np.isfinite(out).all()
    assert (out >= 0).all()
    assert np.ptp(out) > 0
    # same result as the network on the prepared input, resized like the official code
    from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

    net = DepthAnythingV2Net("vits").eval()
    net.load_state_dict(torch.load(vits_file, weights_only=True), strict=True)
    with torch.no_grad():
        raw = net(torch.from_numpy(prepare(rgb, SMALL, model.pre)))
        ref = torch.nn.functional.interpolate(
            raw[:, None], rgb.shape[:2], mode="bilinear", align_corners=True
        )[0, 0].numpy()
    np.testing.assert_allclose(out, ref, atol=1e-5 * max(1.0, float(np.ptp(ref))))


def test_predict_metric_within_max_depth(tmp_path: Path, rgb: np.ndarray) -> None:
    path = tmp_path / "depth_anything_v2_metric_hypersim_vits.pth"
    torch.save(official_state("vits", seed=1), path)
    model = build_as(
        "depth_anything_v2_metric_hypersim_vits",
        FocalScaled,
        ModelConfig(weights=path, input_size=SMALL),
    )
    out = model.predict(rgb)
    assert out.shape == rgb.shape[:2]
    assert np.isfinite(out).all()
    assert out.min() >= 0
    assert out.max() <= 20.0


def test_input_size_update_and_validation(vits_file: Path, rgb: np.ndarray) -> None:
    model = build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=vits_file, input_size=SMALL)
    )
    model.update({"input_size": 84})
    assert model.network_input(rgb).shape[2] == 84
    with pytest.raises(ConfigError, match="input_size"):
        model.update({"input_size": 85})
    with pytest.raises(InputError, match="uint8"):
        model.predict(rgb.astype(np.float32))
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        model.predict(rgb[:, :, 0])


def _build(path: Path) -> None:
    build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=path, input_size=SMALL)
    )


def test_missing_key_is_named(tmp_path: Path) -> None:
    state = official_state("vits")
    del state["depth_head.scratch.refinenet2.out_conv.bias"]
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"missing keys: depth_head\.scratch\.refinenet2"):
        _build(tmp_path / "w.pth")


def test_unexpected_key_is_named(tmp_path: Path) -> None:
    state = official_state("vits")
    state["pretrained.blocks.12.ls1.gamma"] = torch.ones(384)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"unexpected keys: pretrained\.blocks\.12"):
        _build(tmp_path / "w.pth")


def test_wrong_encoder_checkpoint_reports_shapes(tmp_path: Path) -> None:
    state = official_state("vits")
    state["pretrained.pos_embed"] = torch.zeros(1, 1370, 768)
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"shape mismatch.*pretrained\.pos_embed"):
        _build(tmp_path / "w.pth")


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "depth_anything_v2_vits.pth"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        _build(bad)
    truncated = tmp_path / "t.pth"
    torch.save(official_state("vits"), truncated)
    truncated.write_bytes(truncated.read_bytes()[:5000])
    with pytest.raises(WeightsError, match=str(truncated)):
        _build(truncated)
    with pytest.raises(WeightsError, match=r"not found.*depth_anything_v2_vits\.pth"):
        _build(tmp_path / "nope.pth")


def test_no_weights_offline_names_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("depth_anything_v2_metric_vkitti_vitl", FocalScaled, ModelConfig())
    msg = str(info.value)
    assert "depth_anything_v2_metric_vkitti_vitl.pth" in msg
    assert "depth-anything/Depth-Anything-V2-Metric-VKITTI-Large" in msg


def test_failed_download_and_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.delenv("DEPTH_ROS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    src = WeightsSource("x.pth", hf_repo="org/repo")

    def fail(source: WeightsSource, target: Path) -> Path:
        raise OSError("network unreachable")

    with pytest.raises(WeightsError, match=r"downloading x\.pth failed.*network unreachable"):
        fetch_weights(None, src, "test checkpoint", downloader=fail)
    with pytest.raises(WeightsError, match="switched off"):
        fetch_weights(None, src, "test checkpoint", allow_download=False)

    def fetch(source: WeightsSource, target: Path) -> Path:
        target.write_bytes(b"x")
        return target

    assert fetch_weights(None, src, "test checkpoint", downloader=fetch) == tmp_path / "x.pth"
    # once cached, no download is attempted
    assert fetch_weights(None, src, "test checkpoint", downloader=fail) == tmp_path / "x.pth"


def test_bad_resize_method() -> None:
    pre = Preprocess(14, "nearest", (0.5,) * 3, (0.5,) * 3)
    with pytest.raises(ConfigError, match="lower_bound"):
        network_size(10, 10, 14, pre)


def test_onnx_export_runs_on_onnxruntime(vits_file: Path, rgb: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from depth_ros.core.models.export import export_onnx

    out = tmp_path / "vits.onnx"
    # fixed size: the network input of a 45x61 image at input size 70 is 70x98
    export_onnx("depth_anything_v2_vits", ModelConfig(weights=vits_file), out, 70, 98)
    onnx_model = build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=out, input_size=SMALL)
    )
    assert onnx_model.runner.name == "onnxruntime"
    ref = build_as(
        "depth_anything_v2_vits", MonoNetworkModel, ModelConfig(weights=vits_file, input_size=SMALL)
    )
    a = ref.predict(rgb)
    b = onnx_model.predict(rgb)
    np.testing.assert_allclose(b, a, atol=1e-4 * float(np.ptp(a)))


def test_focal_scaling_relation(tmp_path: Path, rgb: np.ndarray) -> None:
    """focal_scaling: depth = depth without x (fx · input_size / min(H, W)) / (fx_train ·
    518 / min(H_train, W_train)); InputError without a camera; off by default."""
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models._focal import VKITTI2
    from depth_ros.core.models.base import run_mono

    def camera(fx: float, w: int = 61, h: int = 45) -> PinholeCamera:
        return PinholeCamera(
            w,
            h,
            (fx, 0, w / 2, 0, fx, h / 2, 0, 0, 1),
            (fx, 0, w / 2, 0, 0, fx, h / 2, 0, 0, 0, 1, 0),
        )

    path = tmp_path / "depth_anything_v2_metric_vkitti_vits.pth"
    torch.save(official_state("vits", seed=2), path)
    model_id = "depth_anything_v2_metric_vkitti_vits"
    assert "focal_scaling" in {p.name for p in get_model(model_id).params}
    config = ModelConfig(weights=path, input_size=SMALL)
    model: FocalScaled[MonoNetworkModel] = build_as(model_id, FocalScaled, config)
    cam = camera(50.0)
    plain = run_mono(model, rgb, cam)  # off: the camera is ignored
    np.testing.assert_array_equal(plain.depth, model.predict(rgb))
    model.update({"focal_scaling": True})
    with pytest.raises(InputError, match="camera_info"):
        run_mono(model, rgb, None)
    scaled = run_mono(model, rgb, cam)
    factor = (50.0 * SMALL / 45) / (725.0087 * 518 / 375)
    assert model.factor(cam) == pytest.approx(factor, rel=1e-12)
    np.testing.assert_allclose(scaled.depth, plain.depth * np.float32(factor), rtol=1e-6)
    doubled = run_mono(model, rgb, camera(100.0))
    np.testing.assert_allclose(doubled.depth, 2 * scaled.depth, rtol=1e-6)
    # the training camera at the training input size: factor 1; at twice its size: still 1
    model.update({"input_size": 518})
    vk = camera(VKITTI2.fx, 1242, 375)
    assert model.factor(vk) == pytest.approx(1.0, abs=1e-12)
    big = camera(2 * VKITTI2.fx, 2484, 750)
    assert model.factor(big) == pytest.approx(1.0, abs=1e-12)
