"""PSMNet: own PyTorch network loading the official KITTI 2015 checkpoint unchanged,
through the model interface; torch and onnxruntime backends agree."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from depth_ros.core.errors import ConfigError, InputError, WeightsError
from depth_ros.core.eval.metrics import disparity_metrics
from depth_ros.core.eval.samples import motorcycle
from depth_ros.core.models import ModelConfig, StereoModel, build_as, get_model
from depth_ros.core.models.psmnet import PSMNetStereo

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

SHARED = Path(__file__).resolve().parents[2] / ".." / "shared"
PSMNET = SHARED / "models" / "psmnet_kitti2015" / "pretrained_model_KITTI2015.tar"


def weights() -> Path:
    if not PSMNET.exists():
        pytest.skip(f"{PSMNET} is absent (real weights live in ../shared on dev machines)")
    return PSMNET


def half_motorcycle() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    import cv2

    s = motorcycle()
    size = (370, 250)
    left = cv2.resize(s.left, size, interpolation=cv2.INTER_AREA)
    right = cv2.resize(s.right, size, interpolation=cv2.INTER_AREA)
    gt = cv2.resize(s.disparity, size, interpolation=cv2.INTER_NEAREST) / 2
    return left, right, gt.astype(np.float32)


@pytest.fixture(scope="module")
def model() -> PSMNetStereo:
    m = build_as("psmnet", PSMNetStereo, ModelConfig(weights=weights()))
    assert isinstance(m, StereoModel)  # the stereo protocol (runtime-checkable)
    return m


def test_network_matches_checkpoint_strictly() -> None:
    from depth_ros.core.models.checkpoints import load_state_dict_file, load_strict
    from depth_ros.core.models.nets.psmnet import PSMNet

    net = PSMNet(192)
    state = load_state_dict_file(weights())
    assert set(state) <= set(net.state_dict())  # only BN batch counters are absent
    load_strict(net, state, weights())
    assert sum(p.numel() for p in net.parameters()) == 5_224_768
    for k, v in state.items():
        assert torch.equal(net.state_dict()[k], v)


def test_half_size_motorcycle(model: PSMNetStereo) -> None:
    left, right, gt = half_motorcycle()
    disp = model.compute(left, right)
    assert disp.shape == (250, 370)
    assert disp.dtype == np.float32
    m = disparity_metrics(disp, gt)
    assert m["density"] == 1.0
    assert m["bad_3"] < 0.15, m  # a KITTI-tuned model on an indoor scene: loose bound
    assert m["epe"] < 2.0, m


def test_padding_is_top_right() -> None:
    from depth_ros.core.models.psmnet import MEAN, STD, preprocess

    img = np.full((250, 300, 3), 255, np.uint8)
    x = preprocess(img, 256, 304)
    assert x.shape == (1, 3, 256, 304)
    assert (x[0, :, :6, :] == 0).all()
    assert (x[0, :, :, 300:] == 0).all()
    np.testing.assert_allclose(x[0, :, 6:, :300].mean(axis=(1, 2)), (1 - MEAN) / STD, rtol=1e-6)


def test_errors(tmp_path: Path, model: PSMNetStereo) -> None:
    left, right, _ = half_motorcycle()
    with pytest.raises(InputError, match=r"differ"):
        model.compute(left, right[:, :-2])
    with pytest.raises(WeightsError, match=r"no weights file given.*JiaRenChang/PSMNet"):
        build_as("psmnet", PSMNetStereo, ModelConfig())
    with pytest.raises(WeightsError, match=r"gone.tar not found.*JiaRenChang/PSMNet"):
        build_as("psmnet", PSMNetStereo, ModelConfig(weights=tmp_path / "gone.tar"))
    wrong = tmp_path / "wrong.pth"
    torch.save({"state_dict": torch.nn.Linear(2, 2).state_dict()}, wrong)
    with pytest.raises(WeightsError, match=r"wrong.pth does not match the PSMNet.*missing keys"):
        build_as("psmnet", PSMNetStereo, ModelConfig(weights=wrong))
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match=r"CUDA is not available"):
            build_as("psmnet", PSMNetStereo, ModelConfig(weights=weights(), device="cuda"))
    with pytest.raises(ConfigError, match=r"max_disparity"):
        model.update({"max_disparity": 96})
    names = {p.name for p in get_model("psmnet").params}
    assert {"max_disparity", "fp16"} <= names


@pytest.mark.slow
def test_torch_and_onnxruntime_backends_agree(tmp_path: Path, model: PSMNetStereo) -> None:
    from depth_ros.core.models.export import export_onnx

    path = export_onnx("psmnet", ModelConfig(weights=weights()), tmp_path / "p.onnx", 256, 384).path
    onnx_model = build_as("psmnet", PSMNetStereo, ModelConfig(weights=path))
    assert onnx_model.backend.name == "onnxruntime"
    assert model.backend.name == "torch"
    left, right, _ = half_motorcycle()  # 370 x 250: padded to 384 x 256
    a = model.compute(left, right)
    b = onnx_model.compute(left, right)
    assert float(np.abs(a - b).max() / np.abs(a).max()) <= 1e-3
    with pytest.raises(ConfigError, match=r"max_disparity 192"):
        build_as("psmnet", PSMNetStereo, ModelConfig(weights=path, params={"max_disparity": 96}))


def test_disparity_range_follows_max_disparity_and_input_scale(tmp_path: Path) -> None:
    """Random weights in the official layout: every disparity lies in disparity_range,
    which is the network's [0, max_disparity - 1] in pixels of the input image."""
    from depth_ros.core.models.nets.psmnet import PSMNet

    torch.manual_seed(0)
    state = {f"module.{k}": v for k, v in PSMNet(16).state_dict().items()}
    path = tmp_path / "random_psmnet16.tar"
    torch.save({"state_dict": state}, path)
    rng = np.random.default_rng(0)
    left, right = (rng.integers(0, 256, (64, 100, 3), dtype=np.uint8) for _ in range(2))
    for scale, expected in ((1.0, 15.0), (0.5, 30.0)):
        params = {"max_disparity": 16, "input_scale": scale}
        m = build_as("psmnet", PSMNetStereo, ModelConfig(weights=path, params=params))
        assert isinstance(m, StereoModel)
        assert m.disparity_range(100) == (0.0, expected)
        assert m.matched_columns(100) == (0, 100)
    disp = m.compute(left, right)  # at half size (padded to 256 x 256), scaled back
    assert np.isfinite(disp).all()
    assert disp.min() >= 0.0
    assert disp.max() <= expected
