"""UniDepth V2: official checkpoint layout, strict loading, the official pre/post-processing
and how the camera's K reaches the network.

The official weights are not available here; checkpoints are built with random weights in
the official key layout (test/data/unidepth_v2_keys.json, generated once from the official
code) and saved as the release is: torch.save of a plain state dict (pytorch_model.bin).
The comparison with the official code itself is benchmarks/oracle_unidepth.py.

The contract (what the official math implies, see depth_ros/core/models/unidepth.py): K
reaches the network only as unit rays at the network input, after the official padding
shift and area scaling; depth = radius * cos(ray angle); with a camera the camera head is
unused; without one the network's predicted camera plays that role exactly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models.unidepth import UniDepthModel

if TYPE_CHECKING:
    import torch

    from depth_ros.core.models.nets.unidepth import UniDepthV2Net
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.models import InputKind, ModelConfig, OutputKind, get_model
from depth_ros.core.models.base import CameraAwareMonoModel, CameraUse
from depth_ros.core.models.unidepth import (
    Geometry,
    geometry,
    network_intrinsics,
    pixels_bounds,
    postprocess,
    prepare_image,
)

KEYS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "unidepth_v2_keys.json").read_text()
)
#: image area bounds for fast tests (the official 0.2-0.6 MP make a 490x644 input)
SMALL = (4000.0, 6000.0)


def official_state(variant: str, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official layout and order (norms and layer scales near 1)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in KEYS[variant]:
        t = torch.randn(shape, generator=g) * 0.05
        if name.endswith("gamma") or (len(shape) == 1 and name.endswith("weight")):
            t += 1.0
        state[name] = t
    return state


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "pytorch_model.bin"
    torch.save(official_state("vits"), path)
    return path


@pytest.fixture(scope="module")
def model(vits_file: Path) -> UniDepthModel:
    m = build_as("unidepth_v2_vits", UniDepthModel, ModelConfig(weights=vits_file))
    m.bounds = SMALL
    return m


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (45, 100, 3), dtype=np.uint8)


def camera(width: int = 100, height: int = 45, f: float = 60.0) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(width, height, f, 1.1 * f, 47.0, 21.0)


def test_registered_ids_and_specs() -> None:
    for variant in ("vits", "vitb", "vitl"):
        spec = get_model(f"unidepth_v2_{variant}")
        assert spec.input_kind is InputKind.MONO
        assert spec.output_kind is OutputKind.METRIC
        assert spec.camera is CameraUse.OPTIONAL
        assert spec.weights_file == "pytorch_model.bin"
        assert f"huggingface.co/lpiccinelli/unidepth-v2-{variant}14" in (spec.weights_source or "")
        assert spec.random_checkpoint is not None
        assert spec.export is not None


@pytest.mark.parametrize("variant", ["vits", "vitb", "vitl"])
def test_network_matches_official_layout(variant: str) -> None:
    from depth_ros.core.models.nets.unidepth import UniDepthV2Net

    with torch.device("meta"):
        net = UniDepthV2Net(variant)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == {k: s for k, s in KEYS[variant]}


def test_geometry_follows_official_rules() -> None:
    # 640x480: within the ratio and area bounds, sides rounded up to multiples of 14
    assert geometry(480, 640) == Geometry((0, 0, 0, 0), (480, 640), 1.0, (490, 644))
    # 1242x375 (ratio 3.3 > 2.5): padded to 1242x496 (60 top, 61 bottom), area scaled
    g = geometry(375, 1242)
    assert g.paddings == (0, 0, 60, 61)
    assert g.padded == (496, 1242)
    assert g.factor == pytest.approx((600_000 / (496 * 1242)) ** 0.5)
    assert g.size == (490, 1232)
    # 100x1000 (ratio 0.1 < 0.5): padded left/right to 500x1000
    g = geometry(1000, 100)
    assert (g.paddings, g.padded, g.factor, g.size) == (
        (200, 200, 0, 0),
        (1000, 500),
        1.0,
        (1008, 504),
    )
    # small images are enlarged to the lower area bound
    g = geometry(48, 64)
    assert g.factor == pytest.approx((200_000 / 3072) ** 0.5)
    assert all(s % 14 == 0 for s in g.size)
    assert pixels_bounds(-1) == (200_000, 600_000)
    assert pixels_bounds(0) == (200_000, 240_000)
    assert pixels_bounds(9) == pytest.approx((560_000, 600_000))


def test_image_preprocessing_matches_official_torch_ops() -> None:
    import torch.nn.functional as F

    rgb = np.random.default_rng(0).integers(0, 256, (20, 70, 3), dtype=np.uint8)
    g = geometry(20, 70, SMALL)  # ratio 3.5: padded, then enlarged
    assert g.paddings[2] > 0
    x = torch.from_numpy(rgb.transpose(2, 0, 1)).float()[None] / 255.0
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    left, right, top, bottom = g.paddings
    x = F.pad((x - mean) / std, (left, right, top, bottom), value=0.0)
    ref = F.interpolate(x, size=g.size, mode="bilinear", align_corners=False)
    np.testing.assert_allclose(prepare_image(rgb, g), ref.numpy(), atol=2e-5)
    # and back: resize to the padded size, crop
    pred = np.random.default_rng(1).random(g.size).astype(np.float32)
    up = F.interpolate(
        torch.from_numpy(pred)[None, None], size=g.padded, mode="bilinear", align_corners=False
    )[0, 0]
    ref_back = up[top : g.padded[0] - bottom, left : g.padded[1] - right].numpy()
    out = postprocess(pred, g)
    assert out.shape == (20, 70)
    np.testing.assert_allclose(out, ref_back, atol=1e-6)


def _official_rays(k: tuple[float, float, float, float], g: Geometry) -> np.ndarray:
    """The official path, written with torch: Pinhole(K).crop(-pad).resize(factor), then
    get_rays (K^-1 [u + 0.5, v + 0.5, 1], normalised)."""
    fx, fy, cx, cy = k
    K = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    K[0, 2] += g.paddings[0]
    K[1, 2] += g.paddings[2]
    K[:2, :] *= g.factor
    h, w = g.size
    u = torch.linspace(0.5, w - 0.5, w).repeat(h, 1)
    v = torch.linspace(0.5, h - 0.5, h).repeat(w, 1).t()
    uv1 = torch.stack([u, v, torch.ones_like(u)]).reshape(3, -1)
    xyz = torch.inverse(K) @ uv1
    xyz = xyz / xyz[2:]
    rays = xyz / xyz.norm(dim=0, keepdim=True)
    return np.asarray(rays.reshape(1, 3, h, w).numpy())


def test_camera_reaches_network_as_official_rays(model: UniDepthModel) -> None:
    rgb = np.zeros((20, 70, 3), np.uint8)  # padded and enlarged
    cam = camera(70, 20, 50.0)
    (image, rays, use), g = model.network_inputs(rgb, cam)
    assert use.tolist() == [1.0]
    assert rays.shape == (1, 3, *g.size) == (1, 3, *image.shape[-2:])
    np.testing.assert_allclose(rays, _official_rays((cam.fx, cam.fy, cam.cx, cam.cy), g), atol=1e-6)
    assert network_intrinsics(1.0, 2.0, 3.0, 4.0, g) == pytest.approx(
        (g.factor, 2 * g.factor, (3 + g.paddings[0]) * g.factor, (4 + g.paddings[2]) * g.factor)
    )
    (_, _none_rays, none_use), _ = model.network_inputs(rgb, None)
    assert none_use.tolist() == [0.0]


def _net(model: UniDepthModel) -> UniDepthV2Net:
    """The network the torch backend runs."""
    from depth_ros.core.backends.torch_backend import TorchBackend
    from depth_ros.core.models.nets.unidepth import UniDepthV2Net

    assert isinstance(model.runner, TorchBackend)
    net = model.runner._module
    assert isinstance(net, UniDepthV2Net)
    return net


def test_depth_is_radius_times_ray_cosine(model: UniDepthModel, rgb: np.ndarray) -> None:
    """depth = exp(clip(log radius) + 2) * z of the given camera's unit rays."""
    net = _net(model)
    captured: dict[str, Any] = {}
    hook = net.pixel_decoder.depth_layer.register_forward_hook(
        lambda mod, args, out: captured.update(logdepth=out[0])
    )
    try:
        inputs, _g = model.network_inputs(rgb, camera())
        with torch.no_grad():
            depth = net(*(torch.from_numpy(x) for x in inputs))[0]
    finally:
        hook.remove()
    radius = torch.exp(captured["logdepth"].clip(-8, 8) + 2.0)
    cos = torch.from_numpy(inputs[1][:, 2:3])
    assert float(cos.min()) < 0.9  # off-axis rays: the relation is not trivial
    torch.testing.assert_close(depth, radius * cos, rtol=1e-6, atol=0)


def test_camera_head_unused_with_camera(model: UniDepthModel, rgb: np.ndarray) -> None:
    cam = camera()
    before_k, before_none = model.infer(rgb, cam).depth, model.infer(rgb, None).depth
    head = _net(model).pixel_decoder.camera_layer
    saved = {k: v.clone() for k, v in head.state_dict().items()}
    try:
        with torch.no_grad():
            for p in head.parameters():
                p.mul_(1.5).add_(0.1)
        np.testing.assert_array_equal(model.infer(rgb, cam).depth, before_k)
        assert not np.allclose(model.infer(rgb, None).depth, before_none, rtol=1e-3)
    finally:
        head.load_state_dict(saved)


def test_without_camera_equals_predicted_camera(model: UniDepthModel, rgb: np.ndarray) -> None:
    own = model.raw(rgb, None)
    np.testing.assert_array_equal(model.predict(rgb), own.depth)
    fx, fy, cx, cy = own.intrinsics
    assert fx > 0
    assert fy > 0
    given = model.raw(rgb, PinholeCamera.from_intrinsics(100, 45, fx, fy, cx, cy))
    np.testing.assert_allclose(given.depth, own.depth, rtol=1e-5)
    np.testing.assert_allclose(given.confidence, own.confidence, rtol=1e-5)


def test_focal_conditions_depth(model: UniDepthModel, rgb: np.ndarray) -> None:
    """No closed-form law, but the camera matters: doubling f changes the rays' angles,
    hence the decoder's radius (not just a rescaling of cos)."""
    narrow = model.infer(rgb, camera(f=120.0)).depth
    wide = model.infer(rgb, camera(f=60.0)).depth
    assert not np.allclose(narrow, wide, rtol=1e-3)
    ratio = narrow / wide
    assert np.ptp(ratio) > 1e-4  # not a uniform rescaling


def test_infer_outputs(model: UniDepthModel, rgb: np.ndarray) -> None:
    assert isinstance(model, CameraAwareMonoModel)
    cam = camera()
    out = model.infer(rgb, cam)
    assert out.confidence is not None
    assert out.depth.shape == out.confidence.shape == rgb.shape[:2]
    assert out.depth.dtype == out.confidence.dtype == np.float32
    assert np.isfinite(out.depth).all()
    assert (out.depth > 0).all()
    assert (out.confidence > 0).all()
    assert (out.confidence <= 1).all()
    assert out.focal_px == cam.fx
    assert not out.focal_estimated
    raw = model.raw(rgb, cam)
    np.testing.assert_allclose(out.confidence, np.minimum(1.0, 1.0 / raw.confidence), rtol=1e-6)
    est = model.infer(rgb, None)
    assert est.focal_estimated
    assert est.focal_px == pytest.approx(model.raw(rgb, None).intrinsics[0])


def test_resolution_level_update_and_validation(vits_file: Path) -> None:
    m = build_as(
        "unidepth_v2_vits",
        UniDepthModel,
        ModelConfig(weights=vits_file, params={"resolution_level": 0}),
    )
    assert m.geometry(480, 640).size == (434, 574)
    m.update({"resolution_level": 9})
    assert m.geometry(480, 640).size == (658, 868)
    for bad in (10, -2, True, 1.5):
        with pytest.raises(ConfigError, match="resolution_level"):
            m.update({"resolution_level": bad})
    with pytest.raises(InputError, match="uint8"):
        m.infer(np.zeros((10, 10, 3), np.float32), None)


def _build(path: Path) -> None:
    build_as("unidepth_v2_vits", UniDepthModel, ModelConfig(weights=path))


def test_missing_and_unexpected_keys_are_named(tmp_path: Path) -> None:
    state = official_state("vits")
    del state["pixel_decoder.depth_layer.to_depth_hr.2.bias"]
    state["pixel_decoder.camera_layer.aggregate3.q.weight"] = torch.zeros(256, 256)
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"missing keys: pixel_decoder\.depth_layer\.to_de"):
        _build(tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"unexpected keys: pixel_decoder\.camera_layer"):
        _build(tmp_path / "pytorch_model.bin")


def test_other_variant_checkpoint_reports_shapes(tmp_path: Path) -> None:
    state = official_state("vits")
    state["pixel_encoder.pos_embed"] = torch.zeros(1, 1370, 768)  # a ViT-B tensor
    torch.save(state, tmp_path / "pytorch_model.bin")
    with pytest.raises(WeightsError, match=r"shape mismatch.*pixel_encoder\.pos_embed"):
        _build(tmp_path / "pytorch_model.bin")


def test_corrupt_and_missing_files(tmp_path: Path) -> None:
    bad = tmp_path / "pytorch_model.bin"
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a PyTorch checkpoint"):
        _build(bad)
    with pytest.raises(WeightsError, match=r"not found.*pytorch_model\.bin"):
        _build(tmp_path / "nope.bin")


def test_no_weights_offline_names_file_source_and_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("unidepth_v2_vitl", UniDepthModel, ModelConfig())
    msg = str(info.value)
    assert "pytorch_model.bin" in msg
    assert "huggingface.co/lpiccinelli/unidepth-v2-vitl14" in msg
    # each release has its own cache folder (all three files are pytorch_model.bin)
    assert str(tmp_path / "unidepth-v2-vitl14" / "pytorch_model.bin") in msg


def test_random_checkpoint_loads(tmp_path: Path) -> None:
    make = get_model("unidepth_v2_vits").random_checkpoint
    assert make is not None
    make(tmp_path / "pytorch_model.bin")
    state = torch.load(tmp_path / "pytorch_model.bin", weights_only=True)
    assert [[k, list(v.shape)] for k, v in state.items()] == KEYS["vits"]
    assert all(torch.isfinite(v).all() for v in state.values())


@pytest.mark.slow
def test_onnx_export_runs_on_onnxruntime(vits_file: Path, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from depth_ros.core.models.export import export_onnx

    rgb = np.random.default_rng(5).integers(0, 256, (60, 84, 3), dtype=np.uint8)
    ref = build_as("unidepth_v2_vits", UniDepthModel, ModelConfig(weights=vits_file))
    ref.bounds = SMALL
    h, w = ref.geometry(60, 84).size
    out = tmp_path / "unidepth_v2_vits.onnx"
    export_onnx("unidepth_v2_vits", ModelConfig(weights=vits_file), out, h, w)
    onnx_model = build_as("unidepth_v2_vits", UniDepthModel, ModelConfig(weights=out))
    onnx_model.bounds = SMALL
    assert onnx_model.runner.name == "onnxruntime"
    for cam in (camera(84, 60), None):
        a = ref.infer(rgb, cam)
        b = onnx_model.infer(rgb, cam)
        np.testing.assert_allclose(b.depth, a.depth, atol=1e-4 * float(np.ptp(a.depth)))
        assert b.focal_px == pytest.approx(a.focal_px, rel=1e-5)


def test_mono_pipeline_passes_the_camera(model: UniDepthModel, rgb: np.ndarray) -> None:
    from depth_ros.core.mono_pipeline import MonoPipeline

    pipe = MonoPipeline(model, OutputKind.METRIC, camera_use=CameraUse.OPTIONAL)
    cam = camera()
    result = pipe.process(rgb, cam, cloud=False)
    np.testing.assert_array_equal(result.depth, model.infer(rgb, cam).depth)
    assert result.confidence is not None
    assert result.focal_px == cam.fx
    assert not result.focal_estimated
    assert pipe.process(rgb, None, cloud=False).focal_estimated
