"""Depth Pro: official checkpoint layout, strict loading, the official infer() math.

The official network (3 ViT-L, 952 M parameters, fixed 1536x1536 input) is too large for
unit tests: its layout is checked against test/data/depth_pro_keys.json (generated once
from the official code) on the meta device, and the behaviour runs on a small network of
the same architecture (SMALL: 128-pixel tiles of 8x8 tokens, 512x512 input) with random
weights saved as the official file is (torch.save of a plain state dict).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.models import (
    ModelConfig,
    OutputKind,
    build_as,
    get_model,
)
from depth_ros.core.models.base import CameraUse, MonoOutput, run_mono
from depth_ros.core.models.depth_pro import (
    DepthProModel,
    build,
    network_input,
    random_state,
    resize_bilinear,
    torch_module,
)
from depth_ros.core.models.nets.depth_pro import DepthProConfig, DepthProNet

KEYS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "depth_pro_keys.json").read_text()
)["depth_pro"]
SMALL = DepthProConfig(
    embed_dim=32,
    depth=2,
    num_heads=2,
    patch_size=16,
    vit_size=128,
    hook_ids=(0, 1),
    encoder_dims=(8, 16, 16, 16),
    decoder_features=16,
    last_dims=(4, 1),
)


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "depth_pro.pt"
    torch.save(random_state(SMALL, seed=0), path)
    return path


@pytest.fixture(scope="module")
def model(small_file: Path) -> DepthProModel:
    return build(ModelConfig(weights=small_file), SMALL)


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (45, 61, 3), dtype=np.uint8)


def camera(fx: float, w: int = 61, h: int = 45) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(w, h, fx, fx, w / 2, h / 2)


def reference(net: DepthProNet, rgb: np.ndarray, f_px: float | None) -> tuple[np.ndarray, float]:
    """The official infer() written with torch ops: [-1, 1] image, bilinear resize to the
    network size, network, f_px from the FOV when absent, inverse depth resized back."""
    import torch.nn.functional as F

    h, w = rgb.shape[:2]
    x = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    x = F.interpolate(x[None], size=(net.img_size,) * 2, mode="bilinear", align_corners=False)
    with torch.no_grad():
        canonical, fov = net(x)
    if f_px is None:
        f = 0.5 * w / torch.tan(0.5 * torch.deg2rad(fov.float()))
    else:
        f = torch.tensor(f_px)
    inverse = F.interpolate(canonical * (w / f), size=(h, w), mode="bilinear", align_corners=False)
    depth = 1.0 / torch.clamp(inverse, min=1e-4, max=1e4)
    return depth[0, 0].numpy(), float(f.squeeze())


def close(depth: np.ndarray, ref: np.ndarray) -> None:
    """Equal inverse depth within 1e-5 of its range (the input resize differs from torch's
    by float rounding, which random weights amplify a little)."""
    np.testing.assert_allclose(1 / depth, 1 / ref, atol=1e-5 * float(np.ptp(1 / ref)))


def test_spec() -> None:
    spec = get_model("depth_pro")
    assert spec.output_kind is OutputKind.METRIC
    assert spec.camera is CameraUse.OPTIONAL
    assert spec.weights_file == "depth_pro.pt"
    assert "ml-site.cdn-apple.com/models/depth-pro/depth_pro.pt" in (spec.weights_source or "")
    assert spec.default_input_size == 1536
    assert spec.random_checkpoint is not None
    from depth_ros.core.models.export import ExportSpec

    assert isinstance(spec.export, ExportSpec)
    assert spec.export.output_names == ("inverse_depth", "fov_deg")
    assert spec.export.example_inputs(1536, 1536)[0].shape == (1, 3, 1536, 1536)


def test_network_matches_official_layout() -> None:
    with torch.device("meta"):
        net = DepthProNet()
    assert [[k, list(v.shape)] for k, v in net.state_dict().items()] == KEYS
    assert sum(v.numel() for v in net.state_dict().values()) == 951_991_330
    assert not list(net.buffers())  # to_empty() leaves nothing uninitialised
    assert net.img_size == 1536


def test_official_random_state_has_official_layout() -> None:
    state = random_state(DepthProConfig(depth=1))  # shapes of one block suffice
    names = {k for k, _ in KEYS if ".blocks." not in k or ".blocks.0." in k}
    assert set(state) == names
    shapes = dict((k, s) for k, s in KEYS)
    assert all(list(v.shape) == shapes[k] for k, v in state.items())


def test_small_config_validation() -> None:
    with pytest.raises(ValueError, match="multiple of 8"):
        DepthProNet(DepthProConfig(vit_size=96))


@pytest.mark.parametrize(
    "size",
    [(480, 640, 1536, 1536), (1536, 1536, 480, 640), (7, 9, 20, 13), (1536, 1536, 375, 1242)],
)
def test_resize_matches_torch_bilinear(size: tuple[int, int, int, int]) -> None:
    import torch.nn.functional as F

    h, w, oh, ow = size
    src = np.random.default_rng(0).random((h, w, 2)).astype(np.float32) * 2 - 1
    ref = (
        F.interpolate(
            torch.from_numpy(src).permute(2, 0, 1)[None],
            size=(oh, ow),
            mode="bilinear",
            align_corners=False,
        )[0]
        .permute(1, 2, 0)
        .numpy()
    )
    out = resize_bilinear(src, oh, ow)
    assert out.dtype == np.float32
    assert out.shape == (oh, ow, 2)
    np.testing.assert_allclose(out, ref, atol=3e-7)


def test_network_input_is_official_transform(rgb: np.ndarray) -> None:
    import torch.nn.functional as F

    x = network_input(rgb, 512)
    assert x.shape == (1, 3, 512, 512)
    assert x.dtype == np.float32
    t = (torch.from_numpy(rgb).permute(2, 0, 1).float() / 255 - 0.5) / 0.5
    ref = F.interpolate(t[None], size=(512, 512), mode="bilinear", align_corners=False)
    np.testing.assert_allclose(x, ref.numpy(), atol=3e-7)
    assert network_input(np.full((4, 4, 3), 255, np.uint8), 4).min() == 1.0
    with pytest.raises(InputError, match="uint8"):
        network_input(rgb.astype(np.float32))


def test_infer_with_camera_matches_official_math(
    model: DepthProModel, small_file: Path, rgb: np.ndarray
) -> None:
    out = model.infer(rgb, camera(80.0))
    assert isinstance(out, MonoOutput)
    assert out.focal_px == 80.0
    assert out.focal_estimated is False
    assert out.depth.shape == rgb.shape[:2]
    assert out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all()
    assert (out.depth > 0).all()
    net = torch_module(small_file, SMALL)
    ref, _ = reference(net, rgb, 80.0)
    assert np.ptp(ref) > 0
    close(out.depth, ref)


def test_doubling_fx_doubles_depth(model: DepthProModel, rgb: np.ndarray) -> None:
    d1 = model.infer(rgb, camera(80.0)).depth
    d2 = model.infer(rgb, camera(160.0)).depth
    assert (d1 < 1e4).all()  # no pixel at the clamp: the relation is exact everywhere
    np.testing.assert_allclose(d2, 2.0 * d1, rtol=1e-6)
    assert not np.allclose(d1, model.infer(rgb, camera(100.0)).depth)


def test_without_camera_the_fov_head_gives_the_focal(
    model: DepthProModel, small_file: Path, rgb: np.ndarray
) -> None:
    out = model.infer(rgb, None)
    assert out.focal_estimated is True
    assert out.focal_px is not None
    assert out.focal_px > 0
    net = torch_module(small_file, SMALL)
    ref, f_ref = reference(net, rgb, None)
    assert out.focal_px == pytest.approx(f_ref, rel=1e-5)
    close(out.depth, ref)
    # the estimated focal is used exactly as a given one would be
    given = model.infer(rgb, camera(out.focal_px))
    np.testing.assert_allclose(given.depth, out.depth, rtol=1e-6)
    np.testing.assert_array_equal(model.predict(rgb), out.depth)


def test_pipeline_runs_without_camera_and_reports_focal(
    model: DepthProModel, rgb: np.ndarray
) -> None:
    from depth_ros.core.mono_pipeline import MonoPipeline

    assert isinstance(run_mono(model, rgb, None), MonoOutput)
    pipe = MonoPipeline(model, OutputKind.METRIC, camera_use=CameraUse.OPTIONAL)
    res = pipe.process(rgb, None, cloud=False)
    assert res.focal_estimated is True
    assert res.focal_px is not None
    assert res.focal_px > 0
    assert res.depth is not None
    res = pipe.process(rgb, camera(70.0))
    assert res.focal_px == 70.0
    assert res.focal_estimated is False
    assert res.cloud is not None


def test_bad_inputs(model: DepthProModel, rgb: np.ndarray, small_file: Path) -> None:
    with pytest.raises(InputError, match=r"\(H, W, 3\)"):
        model.infer(rgb[:, :, 0], None)
    with pytest.raises(InputError, match="focal"):
        model.infer(rgb, camera(0.0))
    with pytest.raises(ConfigError, match="fixed at 512x512"):
        build(ModelConfig(weights=small_file, input_size=518), SMALL)


def test_half_precision_checkpoint_loads(tmp_path: Path, rgb: np.ndarray) -> None:
    state = {k: v.half() for k, v in random_state(SMALL, seed=1).items()}
    torch.save(state, tmp_path / "depth_pro.pt")
    net = torch_module(tmp_path / "depth_pro.pt", SMALL)
    assert all(p.dtype == torch.float32 for p in net.parameters())
    first = net.head[0]
    assert isinstance(first, torch.nn.Conv2d)
    assert torch.equal(first.weight, state["head.0.weight"].float())


def _build_small(path: Path) -> None:
    build(ModelConfig(weights=path), SMALL).runner.run(
        [network_input(np.zeros((8, 8, 3), np.uint8), SMALL.img_size)]
    )


def test_missing_unexpected_and_mismatched_keys_are_named(tmp_path: Path) -> None:
    state = random_state(SMALL)
    del state["fov.head.4.weight"]
    torch.save(state, tmp_path / "a.pt")
    with pytest.raises(WeightsError, match=r"missing keys: fov\.head\.4\.weight"):
        _build_small(tmp_path / "a.pt")
    state = random_state(SMALL)
    state["encoder.patch_encoder.blocks.2.ls1.gamma"] = torch.ones(32)  # a third block
    torch.save(state, tmp_path / "b.pt")
    with pytest.raises(WeightsError, match=r"unexpected keys: encoder\.patch_encoder\.blocks\.2"):
        _build_small(tmp_path / "b.pt")
    state = random_state(SMALL)
    state["encoder.image_encoder.pos_embed"] = torch.zeros(1, 577, 32)
    torch.save(state, tmp_path / "c.pt")
    with pytest.raises(WeightsError, match=r"shape mismatch.*image_encoder\.pos_embed"):
        _build_small(tmp_path / "c.pt")


def test_corrupt_missing_and_offline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = tmp_path / "depth_pro.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"not a PyTorch checkpoint.*Depth Pro checkpoint"):
        _build_small(bad)
    with pytest.raises(WeightsError, match=r"not found.*depth_pro\.pt"):
        _build_small(tmp_path / "nope.pt")
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("depth_pro", DepthProModel, ModelConfig())
    assert "depth_pro.pt" in str(info.value)
    assert "ml-site.cdn-apple.com/models/depth-pro/depth_pro.pt" in str(info.value)


def test_onnx_export_runs_on_onnxruntime(
    model: DepthProModel, small_file: Path, rgb: np.ndarray, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    import warnings

    from depth_ros.core.backends import BackendRequest, create_backend

    net = torch_module(small_file, SMALL)
    onnx_path = tmp_path / "depth_pro_small.onnx"
    x = torch.from_numpy(network_input(rgb, SMALL.img_size))
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            net,
            (x,),
            str(onnx_path),
            input_names=["image"],
            output_names=["inverse_depth", "fov_deg"],
            opset_version=17,
            dynamo=False,
        )
    request = BackendRequest(
        onnx_path, input_names=("image",), output_names=("inverse_depth", "fov_deg")
    )
    runner = create_backend(None, request)
    assert runner.name == "onnxruntime"
    onnx_model = DepthProModel(runner, SMALL.img_size)
    for cam in (camera(80.0), None):
        a = model.infer(rgb, cam)
        b = onnx_model.infer(rgb, cam)
        assert b.focal_estimated is a.focal_estimated
        assert b.focal_px == pytest.approx(a.focal_px, rel=1e-4)
        np.testing.assert_allclose(b.depth, a.depth, rtol=1e-4)
