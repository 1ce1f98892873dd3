"""Metric3D v2: official checkpoint layout, strict loading, the canonical-camera contract.

The official weights are not available here; checkpoints are built with fixed-seed random
weights in the official key layout (test/data/metric3d_v2_vits_keys.json, generated once
from the official code) and saved as the official files are:
``torch.save({"model_state_dict": state})``. Tests run ViT-S at a small network input
(56 x 84 instead of the official 616 x 1064; both multiples of 28).
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from numpy.typing import NDArray

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("timm")
pytest.importorskip("cv2")

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.models import (
    InputKind,
    ModelConfig,
    OutputKind,
    build_as,
    get_model,
    model_ids,
)
from depth_ros.core.models.base import CameraUse, MonoOutput
from depth_ros.core.models.metric3d import (
    MEAN,
    STD,
    Metric3DModel,
    prepare,
    restore,
    width_for_height,
)
from depth_ros.core.mono_pipeline import MonoPipeline

KEYS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "metric3d_v2_vits_keys.json").read_text()
)["vits"]
SMALL = {"input_height": 56, "input_width": 84}


@functools.cache
def official_state(seed: int = 0) -> dict[str, torch.Tensor]:
    """Random weights in the official layout and order (layer scales 0.1, norms near 1)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, shape in KEYS:
        t = torch.randn(shape, generator=g) * 0.05
        if name.endswith("gamma"):
            t += 0.1
        elif "norm" in name and name.endswith("weight") and len(shape) == 1:
            t += 1.0
        state[name] = t
    return state


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "metric_depth_vit_small_800k.pth"
    torch.save({"model_state_dict": official_state()}, path)
    return path


@pytest.fixture(scope="module")
def model(vits_file: Path) -> Metric3DModel:
    return build_as("metric3d_v2_vits", Metric3DModel, ModelConfig(weights=vits_file, params=SMALL))


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (45, 61, 3), dtype=np.uint8)


def camera(fx: float, fy: float, w: int = 61, h: int = 45) -> PinholeCamera:
    return PinholeCamera.from_intrinsics(w, h, fx, fy, w / 2 - 0.5, h / 2 - 0.5)


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for variant, size in (("vits", "small"), ("vitl", "large"), ("vitg", "giant2")):
        spec = get_model(f"metric3d_v2_{variant}")
        assert spec.id in ids
        assert spec.output_kind is OutputKind.METRIC
        assert spec.camera is CameraUse.REQUIRED
        assert spec.weights_file == f"metric_depth_vit_{size}_800k.pth"
        assert "huggingface.co/JUGGHM/Metric3D" in str(spec.weights_source)
        assert spec.max_depth == 300.0
        assert spec.random_checkpoint is not None
        assert spec.export is not None
        assert {p.name for p in spec.params} == {"input_height", "input_width", "download"}


def test_our_network_has_the_official_keys_and_shapes() -> None:
    from depth_ros.core.models.nets.metric3d import Metric3DNet

    own = [[k, list(v.shape)] for k, v in Metric3DNet("vits").state_dict().items()]
    assert sorted(own) == sorted(KEYS)
    assert len(KEYS) == 362


def test_prepare_resizes_keeping_aspect_and_pads_with_the_mean_colour(rgb: np.ndarray) -> None:
    x, pad, scale = prepare(rgb, (56, 84))
    assert x.shape == (1, 3, 56, 84)
    assert x.dtype == np.float32
    assert scale == pytest.approx(56 / 45)  # height limits: min(56/45, 84/61)
    assert pad == (0, 0, 4, 5)  # 61 * 56/45 -> 75 columns, 9 padded, 4 left, 5 right
    # padding is drawn on the uint8 image: the mean colour rounds to (124, 116, 104)
    mean, std = np.asarray(MEAN, np.float32), np.asarray(STD, np.float32)
    expected = (np.array([124.0, 116.0, 104.0], np.float32) - mean) / std
    np.testing.assert_array_equal(x[0, :, 10, 0], expected)
    np.testing.assert_array_equal(x[0, :, 30, 83], expected)
    assert not np.allclose(x[0, :, 10, 4], expected)
    assert width_for_height(616) == 1064


def test_restore_unpads_and_resizes() -> None:
    pad = (2, 1, 0, 3)
    maps = np.full((10, 12), 99.0)
    maps[2:9, 0:9] = np.arange(9.0)[None, :]  # the un-padded region: a ramp along x
    out = restore(maps, pad, 7, 9)  # same size: exactly the region
    np.testing.assert_array_equal(out, np.tile(np.arange(9.0), (7, 1)))
    up = restore(maps, pad, 14, 18)  # bilinear, align_corners=False: never the padding
    assert up.max() <= 8.0
    assert up.min() >= 0.0


class FakeRunner:
    """A backend returning fixed canonical depth, confidence and normals (no network)."""

    name = "fake"
    device = "cpu"

    def __init__(self, size: tuple[int, int], depth: float = 50.0) -> None:
        h, w = size
        self.depth = np.full((1, 1, h, w), depth, np.float32)
        self.conf = np.full((1, 1, h, w), 1.5, np.float32)
        self.normal = np.zeros((1, 4, h, w), np.float32)
        self.normal[:, 2] = -2.0
        self.inputs: list[NDArray[np.float32]] = []

    def run(self, inputs: Sequence[NDArray[np.float32]]) -> list[NDArray[np.float32]]:
        self.inputs.append(inputs[0])
        return [self.depth, self.conf, self.normal]

    def close(self) -> None:
        pass


def test_depth_is_canonical_depth_times_scaled_fx_over_1000(rgb: np.ndarray) -> None:
    m = Metric3DModel(FakeRunner((56, 84)), (56, 84))
    out = m.infer(rgb, camera(300.0, 280.0))
    assert isinstance(out, MonoOutput)
    # 50 m canonical at focal 1000 px; the image is enlarged by 56/45, and so is fx
    np.testing.assert_allclose(out.depth, 50.0 * 300.0 * (56 / 45) / 1000.0, rtol=1e-6)
    assert out.focal_px == 300.0
    np.testing.assert_array_equal(out.confidence, 1.0)  # clipped to [0, 1]
    assert out.normals is not None
    np.testing.assert_allclose(out.normals, np.broadcast_to([0, 0, -1.0], (45, 61, 3)))
    big = Metric3DModel(FakeRunner((56, 84), depth=200.0), (56, 84))
    assert float(big.infer(rgb, camera(5000.0, 5000.0)).depth.max()) == 300.0  # clamp


def test_loads_the_official_layout_and_gives_depth_normals_confidence(
    model: Metric3DModel, rgb: np.ndarray
) -> None:
    out = model.infer(rgb, camera(60.0, 60.0))
    assert out.depth.shape == (45, 61)
    assert out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all()
    assert (out.depth > 0).all()
    assert out.depth.std() > 0  # an image-dependent prediction, not a constant
    assert out.normals is not None
    assert out.normals.shape == (45, 61, 3)
    np.testing.assert_allclose(np.linalg.norm(out.normals, axis=2), 1.0, atol=1e-5)
    assert out.confidence is not None
    assert out.confidence.shape == (45, 61)
    assert ((out.confidence >= 0) & (out.confidence <= 1)).all()


def test_doubling_fx_and_fy_doubles_depth_exactly(model: Metric3DModel, rgb: np.ndarray) -> None:
    a = model.infer(rgb, camera(40.0, 41.0))
    b = model.infer(rgb, camera(80.0, 82.0))
    np.testing.assert_array_equal(b.depth, 2.0 * a.depth)
    np.testing.assert_array_equal(b.normals, a.normals)  # normals do not depend on fx
    # fy and the principal point do not enter the official recipe
    c = model.infer(rgb, PinholeCamera.from_intrinsics(61, 45, 40.0, 90.0, 10.0, 5.0))
    np.testing.assert_array_equal(c.depth, a.depth)


def test_no_camera_is_an_input_error(model: Metric3DModel, rgb: np.ndarray) -> None:
    with pytest.raises(InputError, match="camera"):
        model.infer(rgb, None)
    pipe = MonoPipeline(model, OutputKind.METRIC, camera_use=get_model("metric3d_v2_vits").camera)
    with pytest.raises(InputError, match="camera_info"):
        pipe.process(rgb, None)
    result = pipe.process(rgb, camera(60.0, 60.0))
    assert result.depth is not None
    assert result.depth.shape == (45, 61)
    with pytest.raises(InputError, match="fx"):
        model.infer(rgb, camera(0.0, 60.0))


def test_input_size_is_validated(vits_file: Path, model: Metric3DModel) -> None:
    with pytest.raises(ConfigError, match="input_height"):
        build_as(
            "metric3d_v2_vits",
            Metric3DModel,
            ModelConfig(weights=vits_file, params={"input_height": 50, "input_width": 84}),
        )
    with pytest.raises(ConfigError, match="input_width"):
        model.update({"input_width": 90})
    assert model.size == (56, 84)


def _write(tmp_path: Path, state: dict[str, torch.Tensor], name: str = "m.pth") -> Path:
    path = tmp_path / name
    torch.save({"model_state_dict": state}, path)
    return path


def _build(path: Path) -> Metric3DModel:
    return build_as("metric3d_v2_vits", Metric3DModel, ModelConfig(weights=path, params=SMALL))


def test_strict_loading_errors(tmp_path: Path) -> None:
    state = official_state()
    missing = dict(state)
    del missing["depth_model.decoder.depth_regressor.0.weight"]
    with pytest.raises(WeightsError, match=r"missing keys: depth_model\.decoder\.depth_regressor"):
        _build(_write(tmp_path, missing))
    extra = {**state, "depth_model.decoder.extra.weight": torch.zeros(3)}
    with pytest.raises(WeightsError, match="unexpected keys"):
        _build(_write(tmp_path, extra))
    wrong = {**state, "depth_model.encoder.pos_embed": torch.zeros(1, 10, 384)}
    with pytest.raises(WeightsError, match="shape mismatches"):
        _build(_write(tmp_path, wrong))
    other = {k.replace("depth_model.", ""): v for k, v in state.items()}
    with pytest.raises(WeightsError, match="model_state_dict"):
        _build(_write(tmp_path, other))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"corrupt\.pth"):
        _build(corrupt)
    with pytest.raises(WeightsError, match=r"huggingface\.co/JUGGHM/Metric3D"):
        _build(tmp_path / "absent.pth")


def test_checkpoint_without_mask_token_loads(tmp_path: Path, rgb: np.ndarray) -> None:
    state = official_state()
    del state["depth_model.encoder.mask_token"]  # unused at inference
    m = _build(_write(tmp_path, state))
    assert m.infer(rgb, camera(60.0, 60.0)).depth.shape == (45, 61)


def test_random_checkpoint_is_the_official_layout(tmp_path: Path) -> None:
    path = tmp_path / "random.pth"
    make = get_model("metric3d_v2_vits").random_checkpoint
    assert make is not None
    make(path)
    obj = torch.load(path, weights_only=True)
    assert list(obj) == ["model_state_dict"]
    assert sorted([k, list(v.shape)] for k, v in obj["model_state_dict"].items()) == sorted(KEYS)
