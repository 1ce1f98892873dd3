"""Depth Anything 3: official checkpoint layout, strict loading, pre/post-processing.

The official weights are not available here; checkpoints are built with random weights in
the official key layout (test/data/depth_anything_v3_keys.json, generated once from the
official code) and saved as the Hugging Face releases are: ``model.safetensors`` (keys
``model.*``) beside a ``config.json``. The metric and mono checks use a ViT-S network with
the Mono/Metric head (the Large releases take seconds to build); the logic is the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models.depth_anything_v3 import DepthAnything3Model

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
safetensors_torch = pytest.importorskip("safetensors.torch")

from core.test_depth_anything_v2 import state_from_keys  # noqa: E402
from depth_ros.core.camera import PinholeCamera  # noqa: E402
from depth_ros.core.errors import ConfigError, InputError, WeightsError  # noqa: E402
from depth_ros.core.models import (  # noqa: E402
    InputKind,
    ModelConfig,
    OutputKind,
    get_model,
    model_ids,
)
from depth_ros.core.models import depth_anything_v3 as da3  # noqa: E402
from depth_ros.core.models.base import CameraUse, run_mono  # noqa: E402
from depth_ros.core.models.loading import resize_prediction  # noqa: E402

KEYS: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "depth_anything_v3_keys.json").read_text()
)
SMALL = 42  # processing size for fast tests: a 61x45 image becomes 42x28 (3x2 patches)
IDS = {
    "depth_anything_v3_small": ("da3-small", OutputKind.RELATIVE, "DA3-SMALL"),
    "depth_anything_v3_base": ("da3-base", OutputKind.RELATIVE, "DA3-BASE"),
    "depth_anything_v3_large": ("da3-large", OutputKind.RELATIVE, "DA3-LARGE-1.1"),
    "depth_anything_v3_giant": ("da3-giant", OutputKind.RELATIVE, "DA3-GIANT-1.1"),
    "depth_anything_v3_mono_large": ("da3mono-large", OutputKind.RELATIVE, "DA3MONO-LARGE"),
    "depth_anything_v3_metric_large": ("da3metric-large", OutputKind.METRIC, "DA3METRIC-LARGE"),
    "depth_anything_v3_nested_giant_large": (
        "da3nested-giant-large",
        OutputKind.METRIC,
        "DA3NESTED-GIANT-LARGE-1.1",
    ),
}
#: a ViT-S backbone with the Mono/Metric configuration's head (DPT with sky)
TINY_MONO = "test-mono-vits"


def write_release(folder: Path, state: dict[str, Any], config: str | None) -> Path:
    """A Hugging Face release folder: model.safetensors (+ config.json naming ``config``)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    safetensors_torch.save_file(state, str(path), metadata={"format": "pt"})
    if config is not None:
        (folder / "config.json").write_text(json.dumps({"model_name": config}))
    return path


@pytest.fixture(scope="module")
def small_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_release(
        tmp_path_factory.mktemp("DA3-SMALL"), state_from_keys(KEYS["da3-small"]), "da3-small"
    )


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (45, 61, 3), dtype=np.uint8)


@pytest.fixture(scope="module")
def tiny_weights(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """A random checkpoint of a ViT-S network with the Mono/Metric head, registered as
    configuration TINY_MONO while the module's tests run."""
    from depth_ros.core.models.nets import depth_anything_v3 as nets

    mono = nets.CONFIGS["da3mono-large"]
    small = nets.CONFIGS["da3-small"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(
            nets.CONFIGS,
            TINY_MONO,
            nets.DA3Config(
                "vits", (2, 5, 8, 11), -1, -1, -1, False, 64, small.out_channels, mono.dual
            ),
        )
        path = tmp_path_factory.mktemp("tiny") / "model.safetensors"
        da3.random_checkpoint(_tiny_release("mono"))(path)
        yield path


def _tiny_release(kind: str) -> da3.Release:
    return da3.Release(f"tiny_{kind}", TINY_MONO, "TINY", "tiny", kind, "test")


def _tiny_model(path: Path, kind: str) -> da3.DepthAnything3Model:
    model: da3.DepthAnything3Model = da3.builder(_tiny_release(kind))(
        ModelConfig(weights=path, input_size=SMALL)
    )
    return model


def camera(fx: float, fy: float | None = None, w: int = 61, h: int = 45) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(w, h, fx, fx if fy is None else fy, w / 2, h / 2)


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for model_id, (_, kind, repo) in IDS.items():
        assert model_id in ids
        spec = get_model(model_id)
        assert spec.output_kind is kind
        assert spec.weights_file == "model.safetensors"
        assert f"huggingface.co/depth-anything/{repo}" in (spec.weights_source or "")
        assert spec.default_input_size == 504
        assert spec.random_checkpoint is not None
        assert spec.export is not None
        short = model_id.removeprefix("depth_anything_v3_")
        assert spec.camera is (CameraUse.REQUIRED if short == "metric_large" else CameraUse.NONE)
        with_conf = short in ("small", "base", "large", "giant", "nested_giant_large")
        assert spec.outputs == (frozenset({"confidence"}) if with_conf else frozenset())


@pytest.mark.parametrize("config", [c for c, _, _ in IDS.values()])
def test_network_matches_official_layout(config: str) -> None:
    from depth_ros.core.models.nets.depth_anything_v3 import DepthAnything3Net

    with torch.device("meta"):
        net = DepthAnything3Net(config)
    ours = {k: list(v.shape) for k, v in net.state_dict().items()}
    assert ours == official_layout(config)


def official_layout(config: str) -> dict[str, list[int]]:
    """Names and shapes of an official file; Metric-Large: Mono-Large's; the nested
    release: Giant's under model.da3 and Metric-Large's under model.da3_metric."""
    if config == "da3nested-giant-large":
        return {
            **{f"model.da3.{k[6:]}": s for k, s in KEYS["da3-giant"]},
            **{f"model.da3_metric.{k[6:]}": s for k, s in KEYS["da3mono-large"]},
        }
    return {k: s for k, s in KEYS["da3mono-large" if config == "da3metric-large" else config]}


def test_resize_rule_matches_official() -> None:
    up, low = da3.RESIZE_METHODS
    # 640x480 at the default 504: 504x378 (InputProcessor, upper_bound_resize)
    assert da3.network_size(480, 640, 504, up) == (378, 504)
    assert da3.network_size(640, 480, 504, up) == (504, 378)
    # 196: 196x147, then 147 → 154 (a tie between 140 and 154 goes up)
    assert da3.network_size(480, 640, 196, up) == (154, 196)
    assert da3.network_size(480, 640, 504, low) == (504, 672)
    # already at the size: no first resize; 1242x375 → 504x152 → 504x154
    assert da3.network_size(375, 1242, 504, up) == (154, 504)
    assert da3.network_size(5, 5, 28, up) == (28, 28)
    with pytest.raises(ConfigError, match="resize_method"):
        da3.network_size(10, 10, 28, "crop")


def test_prepare_resizes_and_normalises_like_official(rgb: np.ndarray) -> None:
    import cv2

    x = da3.prepare(rgb, SMALL, "upper_bound_resize")
    assert x.shape == (1, 3, 28, 42)
    assert x.dtype == np.float32
    # two OpenCV resizes of the uint8 image (shrinking: INTER_AREA), then ToTensor/Normalize
    first = cv2.resize(rgb, (42, 31), interpolation=cv2.INTER_AREA)
    second = cv2.resize(first, (42, 28), interpolation=cv2.INTER_AREA)
    mean = np.array([0.485, 0.456, 0.406], np.float32)
    std = np.array([0.229, 0.224, 0.225], np.float32)
    ref = ((second.astype(np.float32) / np.float32(255) - mean) / std).transpose(2, 0, 1)
    np.testing.assert_array_equal(x[0], ref)
    # enlarging uses INTER_CUBIC
    big = da3.prepare(rgb, 140, "upper_bound_resize")
    assert big.shape == (1, 3, 98, 140)


def test_fill_sky_sets_sky_to_the_quantile() -> None:
    depth = np.arange(100, dtype=np.float32).reshape(10, 10)
    sky = np.zeros((10, 10), np.float32)
    sky[:3] = 0.9  # 30 sky pixels, 70 others
    out = da3.fill_sky(depth, sky)
    np.testing.assert_array_equal(out[3:], depth[3:])
    q = np.quantile(depth[3:], 0.99)
    np.testing.assert_allclose(out[:3], q)
    assert q > depth[3:].max() - 1.0
    sky[:] = 0.0
    sky[0, :5] = 0.9  # 5 sky pixels only: unchanged, as the official code (<= 10)
    np.testing.assert_array_equal(da3.fill_sky(depth, sky), depth)


def test_any_view_relative_confidence_and_focal(small_file: Path, rgb: np.ndarray) -> None:
    from depth_ros.core.models.nets.depth_anything_v3 import DepthAnything3Net

    model: Any = build_as(
        "depth_anything_v3_small",
        DepthAnything3Model,
        ModelConfig(weights=small_file, input_size=SMALL),
    )
    out = run_mono(model, rgb, None)
    assert out.depth.shape == rgb.shape[:2]
    assert out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all()
    assert (out.depth > 0).all()
    assert np.ptp(out.depth) > 0
    assert out.confidence is not None
    assert out.confidence.shape == rgb.shape[:2]
    assert ((out.confidence > 0) & (out.confidence < 1)).all()
    assert out.focal_estimated
    assert out.focal_px is not None
    assert out.focal_px > 0
    np.testing.assert_array_equal(model.predict(rgb), out.depth)
    # the same network run directly: depth = exp, confidence = 1 + exp, published as
    # 1 / depth and 1 - 1 / confidence resized to the image (bilinear)
    net = DepthAnything3Net("da3-small").eval()
    state = safetensors_torch.load_file(str(small_file))
    net.load_state_dict(state, strict=True)
    x = torch.from_numpy(model.network_input(rgb))
    with torch.no_grad():
        depth, conf, focal = net(x)
    ref = 1.0 / resize_prediction(depth[0].numpy(), 45, 61, "bilinear")
    np.testing.assert_allclose(out.depth, ref, rtol=1e-5)
    ref_conf = resize_prediction(1.0 - 1.0 / conf[0].numpy(), 45, 61, "bilinear")
    np.testing.assert_allclose(out.confidence, ref_conf, atol=1e-6)
    assert out.focal_px == pytest.approx(float(focal[0, 0]) * 61 / 42, rel=1e-6)
    # the camera is not used by the any-view release's single-image depth
    np.testing.assert_array_equal(run_mono(model, rgb, camera(50.0)).depth, out.depth)


def test_input_size_and_method_update(small_file: Path, rgb: np.ndarray) -> None:
    model: Any = build_as(
        "depth_anything_v3_small",
        DepthAnything3Model,
        ModelConfig(weights=small_file, input_size=SMALL),
    )
    model.update({"input_size": 56, "resize_method": "lower_bound_resize"})
    # shortest side 45 → 56: 76x56, then 76 → 70 (nearer than 84)
    assert model.network_input(rgb).shape[2:] == (56, 70)
    with pytest.raises(ConfigError, match="resize_method"):
        model.update({"resize_method": "upper_bound_crop"})
    with pytest.raises(ConfigError, match="input_size"):
        model.update({"input_size": 10})
    with pytest.raises(InputError, match="uint8"):
        model.predict(rgb.astype(np.float32))


def test_strict_loading_names_missing_unexpected_and_shapes(tmp_path: Path) -> None:
    def build(state: dict[str, Any], name: str) -> None:
        path = write_release(tmp_path / name, state, "da3-small")
        build_as(
            "depth_anything_v3_small",
            DepthAnything3Model,
            ModelConfig(weights=path, input_size=SMALL),
        )

    full = state_from_keys(KEYS["da3-small"])
    state = dict(full)
    del state["model.cam_dec.fc_fov.0.bias"]
    with pytest.raises(WeightsError, match=r"missing keys: model\.cam_dec\.fc_fov\.0\.bias"):
        build(state, "missing")
    state = dict(full)
    state["model.backbone.pretrained.blocks.12.ls1.gamma"] = torch.ones(384)
    with pytest.raises(
        WeightsError, match=r"unexpected keys: model\.backbone\.pretrained\.blocks\.12"
    ):
        build(state, "unexpected")
    # a ViT-B tensor in the ViT-S file
    state = dict(full)
    state["model.backbone.pretrained.pos_embed"] = torch.zeros(1, 1370, 768)
    with pytest.raises(WeightsError, match=r"shape mismatch.*pretrained\.pos_embed"):
        build(state, "shape")
    # a file without the any-view parts (as the Mono/Metric releases): named
    state = {
        k: v
        for k, v in full.items()
        if not k.startswith(("model.cam_", "model.backbone.pretrained.camera_token"))
    }
    with pytest.raises(WeightsError, match=r"missing keys: model\.backbone\.pretrained\.camera_t"):
        build(state, "no_camera")


def test_config_json_must_name_the_release(tmp_path: Path) -> None:
    path = write_release(tmp_path / "r", state_from_keys(KEYS["da3-small"]), "da3-base")
    with pytest.raises(WeightsError, match=r"names configuration 'da3-base'.*needs 'da3-small'"):
        build_as(
            "depth_anything_v3_small",
            DepthAnything3Model,
            ModelConfig(weights=path, input_size=SMALL),
        )


def test_corrupt_truncated_and_missing_files(tmp_path: Path, small_file: Path) -> None:
    def build(path: Path) -> None:
        build_as(
            "depth_anything_v3_small",
            DepthAnything3Model,
            ModelConfig(weights=path, input_size=SMALL),
        )

    bad = tmp_path / "bad" / "model.safetensors"
    bad.parent.mkdir()
    bad.write_bytes(b"not a checkpoint at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        build(bad)
    cut = tmp_path / "cut" / "model.safetensors"
    cut.parent.mkdir()
    cut.write_bytes(small_file.read_bytes()[: 1 << 20])
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        build(cut)
    with pytest.raises(WeightsError, match=r"not found.*model\.safetensors"):
        build(tmp_path / "nope" / "model.safetensors")
    other = tmp_path / "other" / "model.safetensors"
    other.parent.mkdir()
    safetensors_torch.save_file({"weight": torch.zeros(2)}, str(other))
    with pytest.raises(WeightsError, match=r"no model\.\* keys.*Depth Anything 3 Small"):
        build(other)


def test_no_weights_offline_names_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_as("depth_anything_v3_metric_large", DepthAnything3Model, ModelConfig())
    msg = str(info.value)
    assert "model.safetensors" in msg
    assert "depth-anything/DA3METRIC-LARGE" in msg
    assert str(tmp_path / "DA3METRIC-LARGE" / "model.safetensors") in msg


def test_random_checkpoint_is_the_official_layout(tmp_path: Path) -> None:
    from safetensors import safe_open

    path = tmp_path / "model.safetensors"
    spec = get_model("depth_anything_v3_small")
    assert spec.random_checkpoint is not None
    spec.random_checkpoint(path)
    with safe_open(str(path), framework="pt") as f:
        keys = {k: list(f.get_slice(k).get_shape()) for k in f.keys()}  # noqa: SIM118
        meta = f.metadata()
    assert keys == {k: s for k, s in KEYS["da3-small"]}
    assert meta["model.head.scratch.output_conv2_aux.3.2.weight"] == (
        "model.head.scratch.output_conv2_aux.0.2.weight"
    )


def test_mono_sky_step_and_inverse(tiny_weights: Path, rgb: np.ndarray) -> None:
    model = _tiny_model(tiny_weights, "mono")
    depth, sky = model.raw(rgb)
    x = model.network_input(rgb)
    raw_depth, raw_sky = model.runner.run([x])
    np.testing.assert_array_equal(sky, raw_sky[0])
    np.testing.assert_array_equal(depth, da3.fill_sky(raw_depth[0], raw_sky[0]))
    out = run_mono(model, rgb, None)
    assert out.confidence is None
    assert out.focal_px is None
    np.testing.assert_allclose(
        out.depth, 1.0 / resize_prediction(depth, 45, 61, "bilinear"), rtol=1e-6
    )


def test_metric_needs_camera_and_scales_with_focal(tiny_weights: Path, rgb: np.ndarray) -> None:
    model = _tiny_model(tiny_weights, "metric")
    with pytest.raises(InputError, match="camera_info"):
        run_mono(model, rgb, None)
    with pytest.raises(InputError, match="camera_info"):
        model.predict(rgb)
    with pytest.raises(InputError, match="fx must be positive"):
        model.infer(rgb, camera(-5.0))
    base = run_mono(model, rgb, camera(50.0))
    depth = model.raw(rgb)[0]
    # metres = depth x ((fx * 42/61 + fy * 28/45) / 2) / 300, resized to the image
    f = (50.0 * 42 / 61 + 50.0 * 28 / 45) / 2
    ref = resize_prediction(depth, 45, 61, "bilinear") * np.float32(f / 300.0)
    np.testing.assert_allclose(base.depth, ref, rtol=1e-6)
    assert base.focal_px == 50.0
    assert not base.focal_estimated
    doubled = run_mono(model, rgb, camera(100.0))
    np.testing.assert_allclose(doubled.depth, 2 * base.depth, rtol=1e-6)
    # fx and fy each count half (after their own resize factors)
    fy_only = run_mono(model, rgb, camera(50.0, 150.0))
    f2 = (50.0 * 42 / 61 + 150.0 * 28 / 45) / 2
    np.testing.assert_allclose(fy_only.depth, base.depth * np.float32(f2 / f), rtol=1e-5)


def test_onnx_export_runs_on_onnxruntime(small_file: Path, rgb: np.ndarray, tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from depth_ros.core.models.export import export_onnx

    out = tmp_path / "da3_small.onnx"
    export_onnx("depth_anything_v3_small", ModelConfig(weights=small_file), out, 28, 42)
    onnx_model: Any = build_as(
        "depth_anything_v3_small", DepthAnything3Model, ModelConfig(weights=out, input_size=SMALL)
    )
    assert onnx_model.runner.name == "onnxruntime"
    ref: Any = build_as(
        "depth_anything_v3_small",
        DepthAnything3Model,
        ModelConfig(weights=small_file, input_size=SMALL),
    )
    a, b = ref.infer(rgb, None), onnx_model.infer(rgb, None)
    np.testing.assert_allclose(b.depth, a.depth, atol=1e-4 * float(np.ptp(a.depth)))
    assert a.confidence is not None
    assert b.confidence is not None
    np.testing.assert_allclose(b.confidence, a.confidence, atol=1e-4)
    assert b.focal_px == pytest.approx(a.focal_px, rel=1e-4)


def test_network_runs_in_half_precision(small_file: Path) -> None:
    """The torch backend's fp16 (CUDA) casts the module: every internal table follows."""
    from depth_ros.core.models.nets.depth_anything_v3 import DepthAnything3Net

    net = DepthAnything3Net("da3-small").eval()
    net.load_state_dict(safetensors_torch.load_file(str(small_file)), strict=True)
    x = torch.from_numpy(da3.example_inputs(28, 42)[0])
    with torch.no_grad():
        ref = net(x)
        half = net.half()(x.half())
    assert [t.dtype for t in half] == [torch.float16] * 3
    np.testing.assert_allclose(half[0].float().numpy(), ref[0].numpy(), rtol=0.05)


def test_tied_layernorm_under_other_or_all_levels(
    small_file: Path, tmp_path: Path, rgb: np.ndarray
) -> None:
    """The ray head's shared LayerNorm: stored under level 0 by safetensors; the official
    ``state_dict()`` (torch.save) holds it under all four levels, equal."""
    state = safetensors_torch.load_file(str(small_file))
    ln = "model.head.scratch.output_conv2_aux.{}.2.{}"
    full = dict(state)
    for level in (1, 2, 3):
        for leaf in ("weight", "bias"):
            full[ln.format(level, leaf)] = state[ln.format(0, leaf)]
    path = tmp_path / "full.pth"
    torch.save(full, path)
    config = ModelConfig(weights=small_file, input_size=SMALL)
    ref = build_as("depth_anything_v3_small", DepthAnything3Model, config).predict(rgb)
    model: Any = build_as(
        "depth_anything_v3_small", DepthAnything3Model, ModelConfig(weights=path, input_size=SMALL)
    )
    np.testing.assert_array_equal(model.predict(rgb), ref)
    # stored under another level only: renamed to level 0
    moved = {k: v for k, v in state.items() if ".output_conv2_aux.0.2." not in k}
    for leaf in ("weight", "bias"):
        moved[ln.format(3, leaf)] = state[ln.format(0, leaf)]
    merged = da3.merge_tied(moved, Path("moved"), "test")
    assert merged.keys() == state.keys()
    assert torch.equal(merged[ln.format(0, "bias")], state[ln.format(0, "bias")])
    full[ln.format(2, "bias")] = full[ln.format(2, "bias")] + 1.0
    with pytest.raises(WeightsError, match=r"output_conv2_aux\.2\.2\.bias differs"):
        da3.merge_tied(full, Path("bad.pth"), "test")


def test_nested_alignment_scale_and_sky() -> None:
    """The official nested step on known maps: the metric branch x f / 300 with the
    predicted focal; the relative depth scaled to it by least squares over confident
    non-sky pixels; sky at min(0.99 quantile, 200 m) with confidence 1."""
    rng = np.random.default_rng(0)
    depth = rng.uniform(0.5, 2.0, (12, 10)).astype(np.float32)
    conf = rng.uniform(1.0, 5.0, (12, 10)).astype(np.float32)
    sky = np.zeros((12, 10), np.float32)
    sky[:2] = 1.0  # 20 sky pixels
    focal = np.array([500.0, 700.0], np.float32)  # f = 600: metres = raw x 2
    metric_raw = 3.0 * depth / 2.0  # metres = 3 x depth exactly
    out, c = da3.nested_metric(depth, conf, focal, metric_raw, sky)
    np.testing.assert_allclose(out[2:], 3.0 * depth[2:], rtol=1e-6)
    np.testing.assert_allclose(out[:2], np.quantile(3.0 * depth[2:], 0.99), rtol=1e-6)
    np.testing.assert_array_equal(c[2:], conf[2:])
    np.testing.assert_array_equal(c[:2], 1.0)
    # only confident pixels (>= the median) fit the scale: the others may disagree
    noisy = metric_raw.copy()
    low = conf < np.quantile(conf[2:], 0.5)
    noisy[low] *= 10.0
    out2, _ = da3.nested_metric(depth, conf, focal, noisy, sky)
    np.testing.assert_allclose(out2[2:], out[2:], rtol=1e-6)
    # far sky is capped at 200 m
    far, _ = da3.nested_metric(depth, conf, focal, metric_raw * 1000.0, sky)
    np.testing.assert_array_equal(far[:2], 200.0)
    sky[:] = 1.0
    sky[0, :10] = 0.0
    with pytest.raises(InputError, match="too few to align"):
        da3.nested_metric(depth, conf, focal, metric_raw, sky)


def test_nested_release_end_to_end(tiny_weights: Path, tmp_path: Path, rgb: np.ndarray) -> None:
    """A nested network of the Small any-view branch and the tiny Mono/Metric one, written
    and loaded in the official layout (model.da3.*, model.da3_metric.*)."""
    from depth_ros.core.models.nets import depth_anything_v3 as nets

    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(nets.NESTED, "test-nested", ("da3-small", TINY_MONO))
        release = da3.Release("tiny_nested", "test-nested", "TINY", "tiny", "nested", "test")
        path = tmp_path / "model.safetensors"
        da3.random_checkpoint(release)(path)
        model: Any = da3.builder(release)(ModelConfig(weights=path, input_size=SMALL))
        outs = model.runner.run([model.network_input(rgb)])
        out = run_mono(model, rgb, camera(50.0))
        again = run_mono(model, rgb, None)
    assert len(outs) == 5
    metres, conf = da3.nested_metric(*(o[0] for o in outs))  # batch of one
    np.testing.assert_allclose(out.depth, resize_prediction(metres, 45, 61, "bilinear"), rtol=1e-6)
    assert out.confidence is not None
    ref_conf = resize_prediction(1.0 - 1.0 / conf, 45, 61, "bilinear")
    np.testing.assert_allclose(out.confidence, ref_conf, atol=1e-6)
    assert out.focal_estimated
    np.testing.assert_array_equal(again.depth, out.depth)  # camera_info is not used
