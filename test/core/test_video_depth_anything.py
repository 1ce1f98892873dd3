"""Video Depth Anything (streaming): official checkpoint layout, strict loading, and the
temporal window kept across frames (dropped on a reset, an image-size or input-size change,
and by the monocular pipeline on a time jump).

The official weights are not available here; checkpoints are random weights in the
official key layout (test/data/video_depth_anything_keys.json, generated once from the
official code), saved as the official files are. Equality with the official streaming
inference is benchmarks/oracle_video_depth_anything.py (it needs the official code).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("timm")

from core.test_depth_anything_v2 import state_from_keys  # noqa: E402
from depth_ros.core.errors import ConfigError, WeightsError  # noqa: E402
from depth_ros.core.models import (  # noqa: E402
    InputKind,
    ModelConfig,
    OutputKind,
    build_as,
    build_model,
    get_model,
    model_ids,
)
from depth_ros.core.models.base import StreamingModel  # noqa: E402
from depth_ros.core.models.video_depth_anything import VideoDepthModel  # noqa: E402
from depth_ros.core.mono_pipeline import MonoOptions, MonoPipeline  # noqa: E402
from depth_ros.core.temporal import TemporalOptions  # noqa: E402

DATA = Path(__file__).resolve().parents[1] / "data"
KEYS = json.loads((DATA / "video_depth_anything_keys.json").read_text())
SMALL = 70  # network input size for fast tests (5x5 patches on the short side)
MODEL = "video_depth_anything_vits"


def official_state(encoder: str, seed: int = 0) -> dict[str, Any]:
    """Random weights in the official layout and order (norm weights near 1)."""
    return state_from_keys(KEYS[encoder], seed)


@pytest.fixture(scope="module")
def vits_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("w") / "video_depth_anything_vits.pth"
    torch.save(official_state("vits"), path)
    return path


@pytest.fixture(scope="module")
def frames() -> list[np.ndarray]:
    """Three different 45x61 frames."""
    rng = np.random.default_rng(3)
    return [rng.integers(0, 256, (45, 61, 3), dtype=np.uint8) for _ in range(3)]


def _model(path: Path, backend: str | None = None) -> VideoDepthModel:
    config = ModelConfig(weights=path, input_size=SMALL, backend=backend)
    return build_as(MODEL, VideoDepthModel, config)


def test_registered_ids_and_specs() -> None:
    ids = model_ids(InputKind.MONO)
    for enc in ("vits", "vitb", "vitl"):
        for prefix, kind in (("", OutputKind.RELATIVE), ("metric_", OutputKind.METRIC)):
            mid = f"{prefix}video_depth_anything_{enc}"
            assert mid in ids
            spec = get_model(mid)
            assert spec.output_kind is kind
            assert spec.family == "video_depth_anything"
            assert spec.weights_file == f"{mid}.pth"
            assert spec.default_input_size == 518
            assert spec.random_checkpoint is not None
            repo = "Metric-" if prefix else ""
            assert f"depth-anything/{repo}Video-Depth-Anything-" in (spec.weights_source or "")


@pytest.mark.parametrize("encoder", ["vits", "vitb", "vitl"])
def test_network_matches_official_layout(encoder: str) -> None:
    from depth_ros.core.models.nets.video_depth_anything import VideoDepthAnythingNet

    with torch.device("meta"):
        net = VideoDepthAnythingNet(encoder)
    ours = [[k, list(v.shape)] for k, v in net.state_dict().items()]
    assert ours == KEYS[encoder]  # names, shapes and order


def test_random_checkpoint_loads_and_keeps_the_frame_encodings(tmp_path: Path) -> None:
    spec = get_model(MODEL)
    assert spec.random_checkpoint is not None
    path = tmp_path / "video_depth_anything_vits.pth"
    spec.random_checkpoint(path)
    state = torch.load(path, weights_only=True)
    pe = state[
        "head.motion_modules.2.temporal_transformer.transformer_blocks.0."
        "attention_blocks.0.pos_encoder.pe"
    ]
    assert pe.shape == (1, 32, 64)
    torch.testing.assert_close(pe[0, :, 0], torch.sin(torch.arange(32.0)))
    out = _model(path).predict(np.zeros((30, 40, 3), np.uint8))
    assert out.shape == (30, 40)
    assert np.isfinite(out).all()


def test_missing_motion_module_key_is_named(tmp_path: Path) -> None:
    state = official_state("vits")
    del state["head.motion_modules.3.temporal_transformer.proj_out.bias"]
    torch.save(state, tmp_path / "w.pth")
    with pytest.raises(WeightsError, match=r"missing keys: head\.motion_modules\.3"):
        _model(tmp_path / "w.pth")


def test_an_image_model_checkpoint_is_refused(tmp_path: Path) -> None:
    """A Depth Anything V2 file (no motion modules, ``depth_head.*``) is not this model."""
    v2 = json.loads((DATA / "depth_anything_v2_keys.json").read_text())["vits"]
    torch.save({k: torch.zeros(s) for k, s in v2}, tmp_path / "depth_anything_v2_vits.pth")
    with pytest.raises(WeightsError) as info:
        _model(tmp_path / "depth_anything_v2_vits.pth")
    msg = str(info.value)
    assert "Video Depth Anything ViT-S checkpoint" in msg
    assert "missing keys: head." in msg
    assert "unexpected keys: depth_head." in msg


def test_wrong_encoder_checkpoint_reports_shapes(tmp_path: Path) -> None:
    torch.save(official_state("vits"), tmp_path / "w.pth")
    with pytest.raises(
        WeightsError,
        match=r"ViT-B checkpoint.*shape mismatches.*motion_modules\.0.*\(192,\) vs \(384,\)",
    ):
        build_model("video_depth_anything_vitb", ModelConfig(weights=tmp_path / "w.pth"))


def test_exported_file_and_other_backends_are_refused(tmp_path: Path, vits_file: Path) -> None:
    onnx = tmp_path / "video_depth_anything_vits.onnx"
    onnx.write_bytes(b"x")
    with pytest.raises(ConfigError, match="PyTorch only"):
        _model(onnx)
    with pytest.raises(ConfigError, match="torch backend only"):
        _model(vits_file, backend="onnxruntime")


def test_no_weights_offline_names_file_and_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError) as info:
        build_model("metric_video_depth_anything_vitl", ModelConfig())
    assert "metric_video_depth_anything_vitl.pth" in str(info.value)
    assert "depth-anything/Metric-Video-Depth-Anything-Large" in str(info.value)


def test_state_is_kept_across_frames(vits_file: Path, frames: list[np.ndarray]) -> None:
    a, b, c = frames
    model = _model(vits_file)
    assert isinstance(model, StreamingModel)
    first = model.predict(a)
    assert first.shape == a.shape[:2]
    assert first.dtype == np.float32
    assert np.isfinite(first).all()
    assert (first >= 0).all()
    assert np.ptp(first) > 0
    after_a = model.predict(b)
    assert model.frames == 2
    model.reset()
    assert model.frames == 0
    alone = model.predict(b)  # b as the first frame of a stream
    model.reset()
    model.predict(c)
    after_c = model.predict(b)
    # frame 2 depends on frame 1
    assert np.abs(after_a - after_c).max() > 1e-3 * np.ptp(alone)
    assert np.abs(after_a - alone).max() > 1e-3 * np.ptp(alone)
    # and a reset gives exactly a fresh stream
    fresh = _model(vits_file)
    np.testing.assert_array_equal(fresh.predict(b), alone)
    np.testing.assert_array_equal(fresh.predict(a), fresh_next(vits_file, b, a))


def fresh_next(path: Path, *seq: np.ndarray) -> np.ndarray:
    """The last output of a new model run on ``seq`` in order."""
    model = _model(path)
    out = np.empty(0, np.float32)
    for rgb in seq:
        out = model.predict(rgb)
    return out


def test_window_follows_the_official_schedule(vits_file: Path, frames: list[np.ndarray]) -> None:
    """The first frame fills the 32-frame window; the cache grows to 42 frames over the
    first 11, then drops its second entry each frame, keeping the first as an anchor."""
    model = _model(vits_file)
    net = model.net
    lengths = []
    for i in range(14):
        model.predict(frames[i % 3])
        if i == 0:
            anchor = net._window[0]
        lengths.append(len(net._window))
    assert lengths == [32, *range(33, 43), 42, 42, 42]
    assert net._window[0] is anchor
    assert len({id(c) for c in net._window}) == 14  # frame 0 (28 copies + anchor), 1..13


def test_size_changes_start_a_new_stream(vits_file: Path, frames: list[np.ndarray]) -> None:
    a, b, _ = frames
    small = np.ascontiguousarray(b[:40, :50])
    model = _model(vits_file)
    model.predict(a)
    model.predict(b)
    np.testing.assert_array_equal(model.predict(small), fresh_next(vits_file, small))
    assert model.frames == 1
    # input_size: a new stream too (the window's features have the old size)
    model.predict(b)
    model.update({"input_size": 84})
    ref = build_as(MODEL, VideoDepthModel, ModelConfig(weights=vits_file, input_size=84))
    np.testing.assert_array_equal(model.predict(a), ref.predict(a))
    with pytest.raises(ConfigError, match="input_size"):
        model.update({"input_size": 85})


def test_wide_images_use_the_official_smaller_input() -> None:
    from depth_ros.core.models.video_depth_anything import stream_input_size

    assert stream_input_size(480, 640, 518) == 518
    assert stream_input_size(720, 1280, 518) == 518  # 16:9 is below 1.78
    # 2:1: int(518 * 1.777 / 2) = 460 → round(460 / 14) * 14 = 462
    assert stream_input_size(400, 800, 518) == 462
    assert stream_input_size(375, 1242, 518) % 14 == 0


def test_pipeline_resets_the_window_on_a_time_jump(
    vits_file: Path, frames: list[np.ndarray]
) -> None:
    a, b, _ = frames
    model = _model(vits_file)
    options = MonoOptions(temporal=TemporalOptions(reset_gap_seconds=0.5))
    pipe = MonoPipeline(model, OutputKind.RELATIVE, options=options)
    alone = fresh_next(vits_file, b)
    after_a = fresh_next(vits_file, a, b)
    pipe.process(a, None, stamp=10.0)
    np.testing.assert_array_equal(pipe.process(b, None, stamp=10.1).prediction, after_a)
    assert pipe.stream_resets == 0
    # a gap longer than reset_gap_seconds: a new stream
    np.testing.assert_array_equal(pipe.process(b, None, stamp=11.0).prediction, alone)
    assert pipe.stream_resets == 1
    pipe.process(a, None, stamp=11.1)
    # backwards (bag loop)
    np.testing.assert_array_equal(pipe.process(b, None, stamp=5.0).prediction, alone)
    assert pipe.stream_resets == 2
    # reset_stream (the node's on_time_jump)
    pipe.reset_stream()
    assert model.frames == 0


def test_metric_release_gives_metres(tmp_path: Path, frames: list[np.ndarray]) -> None:
    path = tmp_path / "metric_video_depth_anything_vits.pth"
    torch.save(official_state("vits", seed=1), path)
    model = build_as(
        "metric_video_depth_anything_vits",
        VideoDepthModel,
        ModelConfig(weights=path, input_size=SMALL),
    )
    pipe = MonoPipeline(model, OutputKind.METRIC)
    for i, rgb in enumerate(frames):
        out = pipe.process(rgb, None, stamp=i / 30)
        assert out.prediction.shape == rgb.shape[:2]
        assert (out.prediction >= 0).all()
        assert out.depth is not None
