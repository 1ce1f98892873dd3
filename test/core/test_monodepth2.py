"""Monodepth2: the official two-file release folder, strict loading, test_simple.py's
pre/post-processing, the 5.4 stereo scale.

The official weights are not available here; folders are written with random weights in
the official key layout (test/data/monodepth2_keys.json, generated once from the official
code) the way the official trainer saves them: ``encoder.pth`` = the encoder state dict
plus ``height``, ``width``, ``use_stereo``; ``depth.pth`` = the decoder state dict.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from depth_ros.core.errors import ConfigError, InputError, WeightsError  # noqa: E402
from depth_ros.core.models import (  # noqa: E402
    InputKind,
    ModelConfig,
    OutputKind,
    build_as,
    get_model,
    model_ids,
)
from depth_ros.core.models import monodepth2 as md2  # noqa: E402

KEYS = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "monodepth2_keys.json").read_text()
)
MONO, STEREO = "monodepth2_mono_640x192", "monodepth2_stereo_640x192"


def _build(model_id: str, config: ModelConfig) -> md2.Monodepth2Model:
    """``build_model`` of a Monodepth2 id, typed."""
    return build_as(model_id, md2.Monodepth2Model, config)


def official_state(part: str, seed: int) -> dict[str, Any]:
    """Random tensors in the official layout and order of ``encoder`` or ``depth``."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, Any] = {}
    for name, shape in KEYS[part]:
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0, dtype=torch.long)
        elif name.endswith("running_var"):
            state[name] = torch.rand(shape, generator=g) + 0.5
        elif ".bn" in name or "downsample.1" in name:
            state[name] = torch.rand(shape, generator=g) * 0.5 + (
                0.75 if name.endswith("weight") else -0.25
            )
        elif len(shape) > 1:  # convolutions, fc: variance-preserving scale
            state[name] = torch.randn(shape, generator=g) / float(np.prod(shape[1:])) ** 0.5
        else:
            state[name] = torch.randn(shape, generator=g) * 0.05
    return state


def write_folder(
    folder: Path, use_stereo: bool, seed: int = 0, height: int = 192, width: int = 640
) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    enc = official_state("encoder", seed)
    enc.update(height=height, width=width, use_stereo=use_stereo)
    torch.save(enc, folder / "encoder.pth")
    torch.save(official_state("depth", seed + 100), folder / "depth.pth")
    return folder


@pytest.fixture(scope="module")
def stereo_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_folder(tmp_path_factory.mktemp("w") / "stereo_640x192", use_stereo=True)


@pytest.fixture
def rgb() -> np.ndarray:
    rng = np.random.default_rng(3)
    return rng.integers(0, 256, (60, 90, 3), dtype=np.uint8)


def test_registered_ids_and_specs() -> None:
    assert {MONO, STEREO} <= set(model_ids(InputKind.MONO))
    mono, stereo = get_model(MONO), get_model(STEREO)
    assert mono.output_kind is OutputKind.RELATIVE
    assert stereo.output_kind is OutputKind.METRIC
    assert mono.weights_file == "mono_640x192/encoder.pth"
    assert stereo.weights_file == "stereo_640x192/encoder.pth"
    assert "niantic-lon-static/research/monodepth2/stereo_640x192.zip" in (
        stereo.weights_source or ""
    )
    assert [p.name for p in mono.params] == ["download"]  # fixed 640x192: no input_size
    assert mono.default_input_size is None


def test_network_matches_official_layout() -> None:
    from depth_ros.core.models.nets.monodepth2 import Monodepth2Net

    net = Monodepth2Net()
    assert [[k, list(v.shape)] for k, v in net.encoder.state_dict().items()] == KEYS["encoder"]
    assert [[k, list(v.shape)] for k, v in net.depth.state_dict().items()] == KEYS["depth"]


def test_prepare_is_lanczos_to_unit_range(rgb: np.ndarray) -> None:
    from PIL import Image

    x = md2.prepare(rgb)
    assert x.shape == (1, 3, 192, 640)
    assert x.dtype == np.float32
    ref = np.asarray(Image.fromarray(rgb).resize((640, 192), Image.Resampling.LANCZOS))
    np.testing.assert_array_equal(x[0].transpose(1, 2, 0) * 255, ref.astype(np.float32))
    flat = np.full((37, 53, 3), 200, np.uint8)
    np.testing.assert_allclose(md2.prepare(flat), 200 / 255, rtol=1e-6)
    with pytest.raises(InputError, match="uint8"):
        md2.prepare(rgb.astype(np.float32))


@pytest.mark.parametrize("size", [(480, 640), (100, 300), (250, 741)])
def test_upsample_matches_torch_bilinear(size: tuple[int, int]) -> None:
    import torch.nn.functional as F

    src = np.random.default_rng(0).random((192, 640)).astype(np.float32)
    ref = F.interpolate(
        torch.from_numpy(src)[None, None], size, mode="bilinear", align_corners=False
    )[0, 0].numpy()
    np.testing.assert_allclose(md2.upsample_bilinear(src, *size), ref, atol=1e-5)


def test_disp_to_depth_formula() -> None:
    scaled, depth = md2.disp_to_depth(np.array([0.0, 0.5, 1.0], np.float32))
    np.testing.assert_allclose(scaled, [0.01, 0.01 + 9.99 * 0.5, 10.0], rtol=1e-6)
    np.testing.assert_allclose(depth, 1 / scaled, rtol=1e-6)


def test_predict_reproduces_the_official_path(stereo_folder: Path, rgb: np.ndarray) -> None:
    """Relative = scaled disparity of the bilinearly resized disp; metric = 5.4 / it."""
    import torch.nn.functional as F

    from depth_ros.core.models.nets.monodepth2 import Monodepth2Net

    rel = _build(MONO, ModelConfig(weights=stereo_folder)).predict(rgb)
    metric = _build(STEREO, ModelConfig(weights=stereo_folder)).predict(rgb)
    assert rel.shape == metric.shape == rgb.shape[:2]
    assert rel.dtype == metric.dtype == np.float32
    assert np.isfinite(rel).all()
    assert np.ptp(rel) > 0
    np.testing.assert_allclose(metric, 5.4 / rel, rtol=1e-5)
    net = Monodepth2Net().eval()
    enc = torch.load(stereo_folder / "encoder.pth", weights_only=True)
    net.encoder.load_state_dict({k: v for k, v in enc.items() if k not in md2.ENCODER_EXTRAS})
    net.depth.load_state_dict(torch.load(stereo_folder / "depth.pth", weights_only=True))
    with torch.no_grad():
        disp = net(torch.from_numpy(md2.prepare(rgb)))
        disp = F.interpolate(disp, rgb.shape[:2], mode="bilinear", align_corners=False)
    ref = 0.01 + (10 - 0.01) * disp[0, 0].numpy()
    np.testing.assert_allclose(rel, ref, atol=1e-5 * float(np.ptp(ref)))


def test_weights_as_folder_encoder_or_depth_file(stereo_folder: Path) -> None:
    want = md2.Monodepth2Weights(stereo_folder / "encoder.pth", stereo_folder / "depth.pth")
    for w in (
        stereo_folder,
        stereo_folder / "encoder.pth",
        stereo_folder / "depth.pth",
        str(stereo_folder),
    ):
        assert md2.resolve(w, "stereo_640x192") == want
    exported = stereo_folder.parent / "m.onnx"
    with pytest.raises(WeightsError, match=r"m\.onnx not found"):
        md2.resolve(exported, "stereo_640x192")
    exported.write_bytes(b"x")
    assert md2.resolve(exported, "stereo_640x192") == exported


def test_missing_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(
        WeightsError,
        match=r"not found.*encoder\.pth and depth\.pth.*"
        r"mono_640x192\.zip",
    ):
        _build(MONO, ModelConfig(weights=tmp_path / "nope"))
    folder = write_folder(tmp_path / "f", use_stereo=False)
    (folder / "depth.pth").unlink()
    with pytest.raises(WeightsError, match=r"depth\.pth not found"):
        _build(MONO, ModelConfig(weights=folder))
    with pytest.raises(WeightsError, match=r"encoder\.pth not found"):
        _build(MONO, ModelConfig(weights=tmp_path))


def test_corrupt_and_mismatched_files(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "f", use_stereo=False)
    good = (folder / "encoder.pth").read_bytes()
    (folder / "encoder.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(WeightsError, match=r"encoder\.pth is not a PyTorch checkpoint"):
        _build(MONO, ModelConfig(weights=folder))
    (folder / "encoder.pth").write_bytes(good[:4000])
    with pytest.raises(WeightsError, match=r"encoder\.pth"):
        _build(MONO, ModelConfig(weights=folder))
    (folder / "encoder.pth").write_bytes(good)
    dec = official_state("depth", 1)
    del dec["decoder.13.conv.bias"]
    torch.save(dec, folder / "depth.pth")
    with pytest.raises(WeightsError, match=r"missing keys: decoder\.13\.conv\.bias"):
        _build(MONO, ModelConfig(weights=folder))
    # a ResNet-50 encoder (layer4 with 2048 channels) reports shapes
    enc = torch.load(folder / "encoder.pth", weights_only=True)
    enc["encoder.fc.weight"] = torch.zeros(1000, 2048)
    torch.save(enc, folder / "encoder.pth")
    torch.save(official_state("depth", 1), folder / "depth.pth")
    with pytest.raises(WeightsError, match=r"shape mismatch.*encoder\.fc\.weight"):
        _build(MONO, ModelConfig(weights=folder))


def test_release_checks(tmp_path: Path) -> None:
    big = write_folder(tmp_path / "mono_1024x320", use_stereo=False, height=320, width=1024)
    with pytest.raises(WeightsError, match=r"trained at 1024x320"):
        _build(MONO, ModelConfig(weights=big))
    mono = write_folder(tmp_path / "mono_640x192", use_stereo=False)
    _build(MONO, ModelConfig(weights=mono))
    with pytest.raises(WeightsError, match=r"monocular-trained.*no metric scale"):
        _build(STEREO, ModelConfig(weights=mono))


def test_no_weights_offline_and_download(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rgb: np.ndarray
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"switched off.*stereo_640x192\.zip"):
        _build(STEREO, ModelConfig())
    monkeypatch.delenv("DEPTH_ROS_OFFLINE")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    src = write_folder(tmp_path / "src", use_stereo=True)
    urls: list[str] = []

    def fake(url: str, target: Path) -> None:  # the official zip: files at the top level
        urls.append(url)
        with zipfile.ZipFile(target, "w") as z:
            for name in ("encoder.pth", "depth.pth"):
                z.write(src / name, name)

    files = md2.resolve(None, "stereo_640x192", downloader=fake)
    assert isinstance(files, md2.Monodepth2Weights)
    assert files.encoder == tmp_path / "cache" / "stereo_640x192" / "encoder.pth"
    assert urls == [md2.URL.format("stereo_640x192")]
    assert _build(STEREO, ModelConfig()).predict(rgb).shape == rgb.shape[:2]

    def fail(url: str, target: Path) -> None:
        raise OSError("network unreachable")

    with pytest.raises(WeightsError, match=r"mono_640x192\.zip failed.*unreachable"):
        md2.resolve(None, "mono_640x192", downloader=fail)


def test_random_checkpoint_writes_the_release_layout(tmp_path: Path, rgb: np.ndarray) -> None:
    spec = get_model(STEREO)
    assert spec.random_checkpoint is not None
    assert spec.weights_file is not None
    path = tmp_path / spec.weights_file  # as bench mono and predict --random-weights do
    spec.random_checkpoint(path)
    assert sorted(p.name for p in path.parent.iterdir()) == ["depth.pth", "encoder.pth"]
    enc = torch.load(path, weights_only=True)
    assert (enc["height"], enc["width"], enc["use_stereo"]) == (192, 640, True)
    out = _build(STEREO, ModelConfig(weights=path)).predict(rgb)
    assert np.isfinite(out).all()
    assert (out > 0).all()
    disp = (5.4 / out - 0.01) / 9.99  # the sigmoid output: not saturated
    assert 0.02 < disp.min() < disp.max() < 0.98
    assert np.ptp(disp) > 0.1


def test_onnx_export_runs_on_onnxruntime(
    stereo_folder: Path, rgb: np.ndarray, tmp_path: Path
) -> None:
    pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    from depth_ros.core.models.export import export_onnx

    out = tmp_path / "stereo.onnx"
    export_onnx(STEREO, ModelConfig(weights=stereo_folder), out, 192, 640)
    onnx_model = _build(STEREO, ModelConfig(weights=out))
    assert onnx_model.runner.name == "onnxruntime"
    a = _build(STEREO, ModelConfig(weights=stereo_folder)).predict(rgb)
    b = onnx_model.predict(rgb)
    np.testing.assert_allclose(b, a, atol=1e-4 * float(np.ptp(a)))
    with pytest.raises(ConfigError, match="exported network"):
        export_onnx(STEREO, ModelConfig(weights=out), tmp_path / "again.onnx", 192, 640)
