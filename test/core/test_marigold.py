"""Marigold through diffusers' MarigoldDepthPipeline: the official diffusers folder layout
(written with random weights at toy size by the spec's random_checkpoint), strict loading,
clear errors for broken folders, the parameters' effect on the work done, and the
depth → inverse-depth conversion."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest

from depth_ros.core.models import build_as
from depth_ros.core.models.marigold import MarigoldModel

if TYPE_CHECKING:
    import torch
else:
    torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")
pytest.importorskip("transformers")

from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models import (
    InputKind,
    ModelConfig,
    OutputKind,
    get_model,
    model_ids,
)
from depth_ros.core.models.base import run_mono
from depth_ros.core.models.marigold import (
    RELEASES,
    depth_to_inverse,
    resolve_folder,
)

SMALL = {"processing_resolution": 64}  # latent 8x6 for a 61x45 image: milliseconds a step
REPO = "marigold-depth-v1-1"


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("marigold") / REPO
    spec = get_model("marigold_depth")
    assert spec.random_checkpoint is not None
    spec.random_checkpoint(path)
    return path


@pytest.fixture(scope="module")
def model(folder: Path) -> MarigoldModel:
    built = build_as("marigold_depth", MarigoldModel, ModelConfig(weights=folder, params=SMALL))
    assert isinstance(built, MarigoldModel)
    return built


@pytest.fixture
def rgb() -> np.ndarray:
    return np.random.default_rng(3).integers(0, 256, (45, 61, 3), dtype=np.uint8)


@pytest.fixture
def copy_of(folder: Path, tmp_path: Path) -> Callable[[], Path]:
    def make() -> Path:
        dst = tmp_path / "copy" / REPO
        shutil.copytree(folder, dst)
        return dst

    return make


@pytest.fixture
def unet_calls(model: MarigoldModel) -> Iterator[list[int]]:
    calls: list[int] = []
    handle = model._pipeline().unet.register_forward_hook(lambda *_: calls.append(1))
    yield calls
    handle.remove()


def test_registered_specs() -> None:
    assert {"marigold_depth", "marigold_depth_lcm"} <= set(model_ids(InputKind.MONO))
    for model_id, repo in (
        ("marigold_depth", "prs-eth/marigold-depth-v1-1"),
        ("marigold_depth_lcm", "prs-eth/marigold-depth-lcm-v1-0"),
    ):
        spec = get_model(model_id)
        assert spec.output_kind is OutputKind.RELATIVE
        assert spec.weights_file == repo.split("/")[1]
        assert f"huggingface.co/{repo}" in (spec.weights_source or "")
        names = [p.name for p in spec.params]
        assert names == [
            "denoising_steps",
            "ensemble_size",
            "processing_resolution",
            "seed",
            "near_far_ratio",
            "download",
        ]
        assert spec.random_checkpoint is not None


def test_module_imports_without_torch_or_diffusers() -> None:
    code = (
        "import sys\n"
        "for m in ('torch', 'diffusers', 'transformers'): sys.modules[m] = None\n"
        "from depth_ros.core.models import get_model\n"
        "print(get_model('marigold_depth').family)\n"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "marigold"


def test_random_checkpoint_has_the_official_layout(folder: Path) -> None:
    files = {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}
    assert files == {
        "model_index.json",
        "unet/config.json",
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/config.json",
        "text_encoder/model.safetensors",
        "scheduler/scheduler_config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/special_tokens_map.json",
        "tokenizer/tokenizer_config.json",
    }
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == "MarigoldDepthPipeline"
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["scheduler"] == ["diffusers", "DDIMScheduler"]
    assert index["prediction_type"] == "depth"
    from safetensors import safe_open

    with safe_open(str(folder / "text_encoder" / "model.safetensors"), "pt") as f:
        keys = list(f.keys())
    assert keys
    assert all(k.startswith("text_model.") for k in keys)  # transformers 4's layout
    unet = json.loads((folder / "unet" / "config.json").read_text())
    assert unet["in_channels"] == 8  # image latent + depth latent
    assert unet["out_channels"] == 4


def test_one_frame_end_to_end_is_the_pipelines_depth_as_inverse_depth(
    model: MarigoldModel, rgb: np.ndarray
) -> None:
    out = run_mono(model, rgb, None)
    assert out.depth.shape == rgb.shape[:2]
    assert out.depth.dtype == np.float32
    assert np.isfinite(out.depth).all()
    r = model.near_far_ratio
    assert out.depth.min() >= 1.0 - 1e-6
    assert out.depth.max() <= 1.0 / r + 1e-4
    assert out.depth.std() > 0  # not a constant image
    # the pipeline's own output for the same noise, converted
    image = torch.from_numpy(rgb).permute(2, 0, 1)[None]
    ref = model._pipeline()(
        image,
        num_inference_steps=4,
        ensemble_size=1,
        processing_resolution=64,
        generator=torch.Generator().manual_seed(0),
        output_type="np",
    ).prediction[0, :, :, 0]
    np.testing.assert_allclose(out.depth, 1.0 / (r + (1.0 - r) * ref), rtol=1e-5)


@pytest.mark.parametrize(
    ("steps", "ensemble", "calls"), [(0, 1, 4), (1, 1, 1), (3, 1, 3), (2, 3, 6)]
)
def test_steps_and_ensemble_set_the_unet_passes(
    model: MarigoldModel,
    rgb: np.ndarray,
    unet_calls: list[int],
    steps: int,
    ensemble: int,
    calls: int,
) -> None:
    m = copy.copy(model)
    m.update({"denoising_steps": steps, "ensemble_size": ensemble})
    m.predict(rgb)
    assert len(unet_calls) == calls  # 0 steps = the checkpoint's default_denoising_steps (4)


def test_ensemble_and_steps_change_the_prediction(model: MarigoldModel, rgb: np.ndarray) -> None:
    base = copy.copy(model).predict(rgb)
    more_steps = copy.copy(model)
    more_steps.update({"denoising_steps": 2})
    ensembled = copy.copy(model)
    ensembled.update({"ensemble_size": 3})
    assert np.abs(more_steps.predict(rgb) - base).max() > 1e-4
    assert np.abs(ensembled.predict(rgb) - base).max() > 1e-4


def test_processing_resolution_sets_the_latent_size(model: MarigoldModel, rgb: np.ndarray) -> None:
    sizes: list[tuple[int, ...]] = []
    handle = model._pipeline().unet.register_forward_hook(
        lambda _m, a, _o: sizes.append(a[0].shape)
    )
    try:
        for res in (64, 128):
            m = copy.copy(model)
            m.update({"processing_resolution": res, "denoising_steps": 1})
            assert m.predict(rgb).shape == rgb.shape[:2]
    finally:
        handle.remove()
    # longer side 61 px → 64 or 128 px, latents 1/8 of that; padded to a multiple of 8 px
    assert [s[-1] for s in sizes] == [8, 16]


def test_seed_fixes_the_noise(model: MarigoldModel, rgb: np.ndarray) -> None:
    a, b = copy.copy(model), copy.copy(model)
    np.testing.assert_array_equal(a.predict(rgb), b.predict(rgb))
    b.update({"seed": 1})
    assert np.abs(a.predict(rgb) - b.predict(rgb)).max() > 1e-4
    fresh = copy.copy(model)
    fresh.update({"seed": -1})
    assert np.abs(fresh.predict(rgb) - fresh.predict(rgb)).max() > 1e-4


def test_update_validates_and_leaves_the_original_alone(model: MarigoldModel) -> None:
    m = copy.copy(model)
    for bad in (
        {"ensemble_size": 0},
        {"denoising_steps": -1},
        {"processing_resolution": 100},  # not a multiple of 8
        {"near_far_ratio": 0.0},
        {"seed": 1.5},
    ):
        with pytest.raises(ConfigError):
            m.update(bad)
    m.update({"denoising_steps": 7, "near_far_ratio": 0.5})
    assert (m.steps(), m.near_far_ratio) == (7, 0.5)
    assert (model.steps(), model.near_far_ratio) == (4, 0.1)


def test_build_refuses_bad_params_and_backends(folder: Path) -> None:
    with pytest.raises(ConfigError, match="ensemble_size"):
        build_as(
            "marigold_depth",
            MarigoldModel,
            ModelConfig(weights=folder, params={"ensemble_size": 0}),
        )
    with pytest.raises(ConfigError, match="torch backend"):
        build_as(
            "marigold_depth", MarigoldModel, ModelConfig(weights=folder, backend="onnxruntime")
        )


def test_input_size_is_the_processing_resolution(folder: Path) -> None:
    m = build_as("marigold_depth", MarigoldModel, ModelConfig(weights=folder, input_size=128))
    assert isinstance(m, MarigoldModel)
    assert m.processing_resolution == 128


def test_depth_to_inverse_is_exact_inverse_depth_for_its_ratio() -> None:
    near, far = 2.0, 20.0  # r = 0.1
    depth = np.array([[2.0, 5.0], [11.0, 20.0]])
    d = (depth - near) / (far - near)  # Marigold's normalised depth
    rel = depth_to_inverse(np.append(d, np.nan).reshape(1, 5), near / far)
    assert rel.dtype == np.float32
    np.testing.assert_allclose(rel[0, :4], (far / depth).ravel(), rtol=1e-6)  # 1/depth x far
    assert np.isnan(rel[0, 4])
    other = depth_to_inverse(d, 0.3)  # another ratio: 1/rel still affine in d, order kept
    np.testing.assert_allclose(1.0 / other, 0.3 + 0.7 * d, rtol=1e-6)
    assert (np.diff(other.ravel()) < 0).all()  # farther = smaller


def test_disparity_checkpoints_pass_through(copy_of: Callable[[], Path], rgb: np.ndarray) -> None:
    path = copy_of()
    index = json.loads((path / "model_index.json").read_text())
    index["prediction_type"] = "disparity"
    (path / "model_index.json").write_text(json.dumps(index))
    m = build_as("marigold_depth", MarigoldModel, ModelConfig(weights=path, params=SMALL))
    assert isinstance(m, MarigoldModel)
    out = m.predict(rgb)
    assert out.min() >= 0.0
    assert out.max() <= 1.0


def test_lcm_release_loads_with_its_scheduler(tmp_path: Path, rgb: np.ndarray) -> None:
    spec = get_model("marigold_depth_lcm")
    assert spec.random_checkpoint is not None
    spec.random_checkpoint(tmp_path / "lcm")
    m = build_as(
        "marigold_depth_lcm", MarigoldModel, ModelConfig(weights=tmp_path / "lcm", params=SMALL)
    )
    assert isinstance(m, MarigoldModel)
    assert type(m._pipeline().scheduler).__name__ == "LCMScheduler"
    assert m.steps() == 1
    assert np.isfinite(m.predict(rgb)).all()


def test_model_index_path_and_fp16_only_folders_load(
    copy_of: Callable[[], Path], rgb: np.ndarray
) -> None:
    from safetensors.torch import load_file, save_file

    path = copy_of()
    unet = path / "unet" / "diffusion_pytorch_model.safetensors"
    state = {k: v.half() for k, v in load_file(str(unet)).items()}
    save_file(state, str(unet.with_name("diffusion_pytorch_model.fp16.safetensors")))
    unet.unlink()
    m = build_as(
        "marigold_depth",
        MarigoldModel,
        ModelConfig(weights=path / "model_index.json", params=SMALL),
    )
    assert isinstance(m, MarigoldModel)
    assert next(m._pipeline().unet.parameters()).dtype == torch.float32
    assert np.isfinite(m.predict(rgb)).all()


def _drop_tensor(path: Path, sub: str, name: str) -> None:
    from safetensors.torch import load_file, save_file

    f = path / sub / name
    state = load_file(str(f))
    del state[sorted(state)[0]]
    save_file(state, str(f), {"format": "pt"})


def _extra_tensor(path: Path, sub: str, name: str) -> None:
    from safetensors.torch import load_file, save_file

    f = path / sub / name
    state = load_file(str(f))
    state["text_model.surplus.weight"] = torch.zeros(3)
    save_file(state, str(f), {"format": "pt"})


def _index(path: Path, **changes: Any) -> None:
    index = json.loads((path / "model_index.json").read_text())
    index.update(changes)
    (path / "model_index.json").write_text(json.dumps(index))


BROKEN: dict[str, tuple[Callable[[Path], object], str]] = {
    "no model_index.json": (lambda p: (p / "model_index.json").unlink(), "model_index.json"),
    "model_index.json not JSON": (
        lambda p: (p / "model_index.json").write_text("{oops"),
        "not valid JSON",
    ),
    "another pipeline": (
        lambda p: _index(p, unet=["diffusers", "UNet2DModel"]),
        "component 'unet'",
    ),
    "no vae folder": (lambda p: shutil.rmtree(p / "vae"), "vae not found"),
    "no unet weights": (
        lambda p: (p / "unet" / "diffusion_pytorch_model.safetensors").unlink(),
        "has no weights file",
    ),
    "truncated unet weights": (
        lambda p: (p / "unet" / "diffusion_pytorch_model.safetensors").write_bytes(b"\0" * 64),
        "cannot load",
    ),
    "unet tensor missing": (
        lambda p: _drop_tensor(p, "unet", "diffusion_pytorch_model.safetensors"),
        "1 missing",
    ),
    "text encoder tensor missing": (
        lambda p: _drop_tensor(p, "text_encoder", "model.safetensors"),
        "1 missing",
    ),
    "text encoder tensor surplus": (
        lambda p: _extra_tensor(p, "text_encoder", "model.safetensors"),
        "1 unexpected",
    ),
    "no tokenizer files": (
        lambda p: (p / "tokenizer" / "vocab.json").unlink(),
        "neither vocab.json",
    ),
    "no scheduler config": (
        lambda p: (p / "scheduler" / "scheduler_config.json").unlink(),
        "scheduler_config.json not found",
    ),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_broken_folders_are_weights_errors(copy_of: Callable[[], Path], case: str) -> None:
    path = copy_of()
    breaks, message = BROKEN[case]
    breaks(path)
    with pytest.raises(WeightsError, match=message) as err:
        build_as("marigold_depth", MarigoldModel, ModelConfig(weights=path))
    assert "prs-eth/marigold-depth-v1-1" in str(err.value)  # where the real folder is


def test_missing_path_and_file_are_weights_errors(tmp_path: Path) -> None:
    with pytest.raises(WeightsError, match="not found"):
        build_as("marigold_depth", MarigoldModel, ModelConfig(weights=tmp_path / "nothing"))
    (tmp_path / "unet.safetensors").write_bytes(b"x")
    with pytest.raises(WeightsError, match="is not a folder"):
        build_as(
            "marigold_depth", MarigoldModel, ModelConfig(weights=tmp_path / "unet.safetensors")
        )


def test_no_weights_offline_names_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.setenv("DEPTH_ROS_OFFLINE", "1")
    with pytest.raises(WeightsError, match=r"downloads are switched off.*marigold-depth-v1-1"):
        build_as("marigold_depth", MarigoldModel, ModelConfig())
    monkeypatch.delenv("DEPTH_ROS_OFFLINE")
    with pytest.raises(WeightsError, match="downloads are switched off"):
        build_as("marigold_depth", MarigoldModel, ModelConfig(params={"download": False}))


def test_download_lands_in_the_cache_once(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEPTH_ROS_CACHE", str(tmp_path))
    monkeypatch.delenv("DEPTH_ROS_OFFLINE", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    release = RELEASES["marigold_depth"]
    fetched: list[Path] = []

    def broken(_release: Any, target: Path) -> None:
        target.mkdir()
        (target / "model_index.json").write_text("{}")  # an interrupted download
        raise ConnectionError("network unreachable")

    with pytest.raises(WeightsError, match="ConnectionError: network unreachable"):
        resolve_folder(None, release, downloader=broken)
    assert not (tmp_path / REPO).exists()  # nothing half-downloaded is taken for the folder

    def fetch(_release: Any, target: Path) -> None:
        fetched.append(target)
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(folder, target)

    assert resolve_folder(None, release, downloader=fetch) == tmp_path / REPO
    assert resolve_folder(None, release, downloader=fetch) == tmp_path / REPO
    assert len(fetched) == 1
    (tmp_path / REPO / "model_index.json").unlink()  # a broken folder in the cache: said so
    with pytest.raises(WeightsError, match=r"model_index\.json not found"):
        resolve_folder(None, release, downloader=fetch)
    assert len(fetched) == 1


def test_progress_bar_only_when_asked(
    folder: Path, rgb: np.ndarray, capfd: pytest.CaptureFixture[str]
) -> None:
    quiet = build_as("marigold_depth", MarigoldModel, ModelConfig(weights=folder, params=SMALL))
    assert isinstance(quiet, MarigoldModel)
    capfd.readouterr()
    quiet.predict(rgb)
    assert "Diffusion steps" not in capfd.readouterr().err
    shown = build_as(
        "marigold_depth", MarigoldModel, ModelConfig(weights=folder, params=SMALL, progress=True)
    )
    assert isinstance(shown, MarigoldModel)
    shown.predict(rgb)
    assert "Diffusion steps" in capfd.readouterr().err


def test_eval_aligns_in_depth_space_as_marigolds_evaluation() -> None:
    """`depth-ros eval` fits Marigold's output as its evaluation does (least squares scale and
    shift of the affine-invariant depth, in depth space): an output made from the ground
    truth through an affine map and depth_to_inverse is aligned back exactly; the inverse-
    depth fit of the other relative models would not."""
    from depth_ros.core.align import ALIGN_METHODS, align
    from depth_ros.core.eval.evaluation import default_align

    assert default_align(get_model("marigold_depth")) == "lstsq"
    assert default_align(get_model("depth_anything_v2_vits")) == "lstsq-inverse"
    assert default_align(get_model("depth_pro")) == "none"
    for model_id in model_ids():
        spec = get_model(model_id)
        assert spec.eval_align is None or spec.eval_align in ALIGN_METHODS
    gt = np.random.default_rng(0).uniform(0.5, 8.0, (40, 60)).astype(np.float32)
    d = (gt - 0.4) / 9.0  # Marigold's affine-invariant depth: an unknown affine map of depth
    pred = depth_to_inverse(d, 0.05)
    with np.errstate(divide="ignore"):
        inverted = (1.0 / pred).astype(np.float32)  # eval inverts a relative output for lstsq
    aligned, _ = align("lstsq", inverted, gt)
    np.testing.assert_allclose(aligned, gt, rtol=1e-4)
    other, _ = align("lstsq-inverse", pred, gt)
    assert float(np.nanmax(np.abs(other - gt) / gt)) > 0.05
