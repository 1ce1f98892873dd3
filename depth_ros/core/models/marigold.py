"""Marigold (Ke et al., "Repurposing Diffusion-Based Image Generators for Monocular Depth
Estimation", CVPR 2024): a Stable Diffusion 2 UNet fine-tuned to denoise a depth latent
conditioned on the image latent. Run through diffusers' ``MarigoldDepthPipeline`` (the
denoising loop, the test-time ensembling and the resizing are the library's, not ours).

* ``marigold_depth``: prs-eth/marigold-depth-v1-1 (DDIM, 4 steps by default).
* ``marigold_depth_lcm``: prs-eth/marigold-depth-lcm-v1-0 (latent consistency
  distillation: LCM scheduler, 1 step by default).

Both are slow (seconds to minutes per frame on a CPU): offline or bag-replay models.

**Weights**: the official Hugging Face repository folder as it is published, diffusers
format, unchanged: ``model_index.json``, ``unet/``, ``vae/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``. The three networks load with a strict key match (a
missing or unexpected tensor is a WeightsError); an fp16-only download
(``*.fp16.safetensors``) loads as float32. Without ``weights`` the folder is taken from
the cache, else downloaded there once with ``huggingface_hub``.

**Output**: Marigold predicts affine-invariant *depth* ``d`` in [0, 1] (0 = nearest,
1 = farthest; the training target was ``(D - D_2%) / (D_98% - D_2%)``), not inverse depth.
This project's relative kind is affine-invariant inverse depth, larger = nearer, so the
model outputs::

    rel = 1 / (r + (1 - r) * d)          r = near_far_ratio (D_2% / D_98%)

which is exactly inverse depth up to scale when the scene's near/far ratio is ``r``
(``1/rel`` is always affine in ``d``, so a least-squares alignment in *depth*, e.g.
``depth-ros eval --align lstsq``, is exact whatever ``r``; the inverse-depth scale sources
are exact only when ``r`` matches the scene). Checkpoints whose ``prediction_type`` is
``disparity`` are passed through unchanged.

Heavy imports (torch, diffusers, transformers) happen inside ``build``.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import shutil
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypeAlias

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import ConfigError, WeightsError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.params import ParamSpec, Value

if TYPE_CHECKING:
    import torch
    from torch import nn

#: a network config (the keyword arguments of a diffusers / transformers constructor)
Config: TypeAlias = dict[str, object]


class _PipelineConfig(Protocol):
    @property
    def prediction_type(self) -> str | None: ...


class _PipelineOutput(Protocol):
    @property
    def prediction(self) -> NDArray[np.float32]: ...  # (N, H, W, 1) in [0, 1]


class DepthPipeline(Protocol):
    """What this package uses of diffusers' ``MarigoldDepthPipeline`` (diffusers is
    imported by name, not type-checked: its typing costs mypy minutes)."""

    @property
    def config(self) -> _PipelineConfig:
        """The pipeline's config (its ``prediction_type``: depth or disparity)."""
        ...

    @property
    def default_denoising_steps(self) -> int:
        """Denoising steps when the ``denoising_steps`` parameter is 0."""
        ...

    @property
    def unet(self) -> nn.Module:
        """The denoising UNet."""
        ...

    @property
    def scheduler(self) -> object:
        """The diffusion scheduler (DDIM or LCM)."""
        ...

    def __call__(
        self,
        image: torch.Tensor,
        *,
        num_inference_steps: int,
        ensemble_size: int,
        processing_resolution: int,
        generator: torch.Generator | None,
        output_type: str,
    ) -> _PipelineOutput:
        """Predict the depth of ``image`` (1, 3, H, W) uint8."""
        ...

    def save_pretrained(self, save_directory: str, safe_serialization: bool) -> None:
        """Write the pipeline's folder (model_index.json and a folder per component)."""
        ...


DENOISING_STEPS = ParamSpec(
    "denoising_steps",
    0,
    "Denoising diffusion steps per prediction; 0 = the checkpoint's default_denoising_steps "
    "(v1-1: 4, LCM: 1); more: slower, usually finer",
    min=0,
    max=100,
)
ENSEMBLE_SIZE = ParamSpec(
    "ensemble_size",
    1,
    "Predictions from different noise, aligned and median-ensembled (each costs all the "
    "denoising steps again); 1 = no ensembling, the official evaluation used 10",
    min=1,
    max=20,
)
PROCESSING_RESOLUTION = ParamSpec(
    "processing_resolution",
    768,
    "Longer image side the networks run at (the official 768; multiple of 8); the prediction "
    "is resized back to the image; 0 = the image's own size",
    min=0,
    max=4096,
    step=8,
)
SEED = ParamSpec(
    "seed",
    0,
    "Seed of the initial noise, the same for every frame (reproducible); -1 = new noise "
    "every frame",
    min=-1,
    max=2**31 - 1,
)
NEAR_FAR_RATIO = ParamSpec(
    "near_far_ratio",
    0.1,
    "Assumed ratio of near to far depth (Marigold's 0 and 1) for the conversion of its "
    "affine-invariant depth d to inverse depth 1/(r + (1-r) d); e.g. 0.1 for 1-10 m",
    min=0.001,
    max=0.99,
)
DOWNLOAD = ParamSpec(
    "download",
    True,
    "Download the official diffusers folder from Hugging Face into the cache when no "
    "weights folder is given",
    read_only=True,
)
PARAMS = (
    DENOISING_STEPS,
    ENSEMBLE_SIZE,
    PROCESSING_RESOLUTION,
    SEED,
    NEAR_FAR_RATIO,
    DOWNLOAD,
)
_BY_NAME = {p.name: p for p in PARAMS}

#: model_index.json component → (library, class) the pipeline is built from
COMPONENTS = {
    "unet": ("diffusers", "UNet2DConditionModel"),
    "vae": ("diffusers", "AutoencoderKL"),
    "text_encoder": ("transformers", "CLIPTextModel"),
    "tokenizer": ("transformers", "CLIPTokenizer"),
    "scheduler": ("diffusers", ("DDIMScheduler", "LCMScheduler")),
}
CONFIG_FILES = {
    "unet": "config.json",
    "vae": "config.json",
    "text_encoder": "config.json",
    "scheduler": "scheduler_config.json",
}
WEIGHT_FILES = {
    "unet": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "vae": ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin"),
    "text_encoder": ("model.safetensors", "pytorch_model.bin"),
}
TOKENIZER_FILES = (("vocab.json", "merges.txt"), ("tokenizer.json",))
FP16 = "fp16"
#: what the official repositories hold besides the fp16 variants (downloads skip those)
DOWNLOAD_PATTERNS = (
    "model_index.json",
    "scheduler/*",
    "tokenizer/*",
    "*/config.json",
    "unet/diffusion_pytorch_model.safetensors",
    "vae/diffusion_pytorch_model.safetensors",
    "text_encoder/model.safetensors",
)


@dataclass(frozen=True)
class Release:
    """One official Marigold depth checkpoint on Hugging Face."""

    model_id: str
    hf_repo: str
    what: str
    default_steps: int  # when model_index.json has no default_denoising_steps
    scheduler: str  # the scheduler class of the release (random checkpoints)

    @property
    def folder(self) -> str:
        """The folder name: the repository's name (``weights_dir`` joins it)."""
        return self.hf_repo.split("/")[-1]

    def describe(self) -> str:
        """Where the release is published, for error messages."""
        return f"https://huggingface.co/{self.hf_repo} (the whole diffusers folder)"


RELEASES = {
    "marigold_depth": Release(
        "marigold_depth",
        "prs-eth/marigold-depth-v1-1",
        "Marigold depth v1-1 diffusers folder",
        default_steps=4,
        scheduler="DDIMScheduler",
    ),
    "marigold_depth_lcm": Release(
        "marigold_depth_lcm",
        "prs-eth/marigold-depth-lcm-v1-0",
        "Marigold depth LCM v1-0 diffusers folder",
        default_steps=1,
        scheduler="LCMScheduler",
    ),
}


# ---------------------------------------------------------------------------- output


def depth_to_inverse(depth: FloatArray, near_far_ratio: float) -> NDArray[np.float32]:
    """Marigold's affine-invariant depth ``d`` in [0, 1] (0 near) → affine-invariant inverse
    depth ``1 / (r + (1 - r) d)`` (larger = nearer, in [1, 1/r]); NaN stays NaN."""
    r = np.float32(near_far_ratio)
    inv: NDArray[np.float32] = np.array(depth, dtype=np.float32)  # the one copy
    np.clip(inv, 0.0, 1.0, out=inv)
    inv *= np.float32(1.0) - r
    inv += r
    np.reciprocal(inv, out=inv)
    return inv


# ---------------------------------------------------------------------------- weights


def _hint(release: Release) -> str:
    return (
        f"expected the {release.what}: model_index.json with unet/, vae/, text_encoder/, "
        f"tokenizer/ and scheduler/ as published at {release.describe()}"
    )


def read_index(folder: Path, release: Release) -> dict[str, object]:
    """The folder's model_index.json, checked: every component the pipeline needs, of the
    class it needs, with its config and weights files (WeightsError naming what is not)."""
    hint = _hint(release)
    if not folder.exists():
        raise WeightsError(f"weights folder {folder} not found: {hint}")
    if not folder.is_dir():
        raise WeightsError(f"weights path {folder} is not a folder: {hint}")
    index_file = folder / "model_index.json"
    if not index_file.is_file():
        raise WeightsError(f"{index_file} not found: {hint}")
    try:
        index = json.loads(index_file.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise WeightsError(f"{index_file} is not valid JSON ({exc}): {hint}") from exc
    if not isinstance(index, dict):
        raise WeightsError(f"{index_file} is not a JSON object: {hint}")
    for name, (library, classes) in COMPONENTS.items():
        entry = index.get(name)
        allowed = (classes,) if isinstance(classes, str) else classes
        if not (isinstance(entry, list) and len(entry) == 2 and entry[1] in allowed):
            raise WeightsError(
                f"{index_file}: component {name!r} is {entry!r}, expected "
                f"[{library!r}, {' or '.join(map(repr, allowed))}]: {hint}"
            )
        sub = folder / name
        if not sub.is_dir():
            raise WeightsError(f"{sub} not found: {hint}")
        if name in CONFIG_FILES and not (sub / CONFIG_FILES[name]).is_file():
            raise WeightsError(f"{sub / CONFIG_FILES[name]} not found: {hint}")
    for name in WEIGHT_FILES:
        weights_variant(folder / name, name, hint)
    if not any(all((folder / "tokenizer" / f).is_file() for f in fs) for fs in TOKENIZER_FILES):
        raise WeightsError(
            f"{folder / 'tokenizer'} has neither vocab.json + merges.txt nor tokenizer.json: {hint}"
        )
    return index


def weights_variant(sub: Path, name: str, hint: str = "") -> str | None:
    """None for the full-precision weights file of a component, ``"fp16"`` when only the
    fp16 variant is there; WeightsError when there is none."""
    files = WEIGHT_FILES[name]
    if any((sub / f).is_file() for f in files):
        return None
    fp16 = [f.replace(".", f".{FP16}.", 1) for f in files]
    if any((sub / f).is_file() for f in fp16):
        return FP16
    raise WeightsError(f"{sub} has no weights file ({' or '.join(files + tuple(fp16))}): {hint}")


def _snapshot(release: Release, target: Path) -> None:
    from huggingface_hub import snapshot_download

    from depth_ros.core.models.loading import check_reachable, hf_endpoint

    check_reachable(hf_endpoint())
    snapshot_download(
        repo_id=release.hf_repo, local_dir=str(target), allow_patterns=list(DOWNLOAD_PATTERNS)
    )


def resolve_folder(
    weights: Path | str | None,
    release: Release,
    allow_download: bool = True,
    downloader: Callable[[Release, Path], None] | None = None,
) -> Path:
    """The checkpoint folder: ``weights`` (the folder, or its model_index.json), else
    ``<cache>/<repo name>``, downloaded there once (into ``.part``, renamed when
    complete) unless downloads are off."""
    from depth_ros.core.models.loading import cache_dir, offline

    if weights is not None and str(weights) != "":
        p = Path(weights).expanduser()
        if p.name == "model_index.json" and p.is_file():
            p = p.parent
        read_index(p, release)
        return p
    cached = cache_dir() / release.folder
    if cached.exists():  # placed or downloaded there: used as it is (or why not)
        read_index(cached, release)
        return cached
    hint = (
        f"download {release.describe()} (e.g. `hf download {release.hf_repo} --local-dir "
        f"{release.folder}`) and pass the folder as the weights parameter, or place it at "
        f"{cached}"
    )
    if not allow_download or offline():
        raise WeightsError(
            f"no weights folder given for the {release.what} and {cached} does not exist; "
            f"downloads are switched off; {hint}"
        )
    part = cached.with_name(cached.name + ".part")
    try:
        part.parent.mkdir(parents=True, exist_ok=True)
        (downloader or _snapshot)(release, part)
        read_index(part, release)
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise WeightsError(
            f"no weights folder given for the {release.what} and downloading "
            f"{release.hf_repo} failed ({type(exc).__name__}: {reason}); {hint}"
        ) from exc
    part.replace(cached)
    return cached


# ---------------------------------------------------------------------------- loading


@contextlib.contextmanager
def _loading_bars(enabled: bool) -> Iterator[None]:
    """Turn diffusers' and transformers' own loading bars on or off for the block (restored)."""
    libs = [importlib.import_module(f"{n}.utils.logging") for n in ("diffusers", "transformers")]
    before = [lib.is_progress_bar_enabled() for lib in libs]
    for lib in libs:
        (lib.enable_progress_bar if enabled else lib.disable_progress_bar)()
    try:
        yield
    finally:
        for lib, was in zip(libs, before, strict=True):
            (lib.enable_progress_bar if was else lib.disable_progress_bar)()


def _names(info: Mapping[str, object], key: str) -> list[str]:
    value = info.get(key)
    return sorted(map(str, value)) if isinstance(value, (list, tuple, set)) else []


def _strict(info: Mapping[str, object], sub: Path, what: str) -> None:
    problems = [
        f"{len(names)} {label} ({', '.join(names[:5])}...)"
        for key, label in (
            ("missing_keys", "missing"),
            ("unexpected_keys", "unexpected"),
            ("mismatched_keys", "of another shape"),
        )
        if (names := _names(info, key))
    ]
    if problems:
        raise WeightsError(
            f"{sub} does not match its config: tensors {'; '.join(problems)}: {what}"
        )


def _class(index: Mapping[str, object], name: str) -> str:
    """The class name model_index.json gives component ``name`` (checked by read_index)."""
    entry = index[name]
    if not isinstance(entry, list) or len(entry) != 2:
        raise WeightsError(f"model_index.json: component {name!r} is {entry!r}")
    return str(entry[1])


def load_pipeline(
    folder: Path, release: Release, device: str, progress: bool = False
) -> DepthPipeline:
    """The diffusers MarigoldDepthPipeline of an official folder, every network loaded
    strictly; WeightsError for a missing, corrupt or mismatching file."""
    import torch

    index = read_index(folder, release)
    hint = _hint(release)
    diffusers = importlib.import_module("diffusers")
    transformers = importlib.import_module("transformers")
    libs = {"diffusers": diffusers, "transformers": transformers}
    parts: dict[str, object] = {}
    with _loading_bars(progress):
        for name in ("unet", "vae", "text_encoder"):
            library, cls = COMPONENTS[name]
            variant = weights_variant(folder / name, name, hint)
            # diffusers without accelerate: say so instead of warning about it
            extra = {"low_cpu_mem_usage": False} if library == "diffusers" else {}
            try:
                net, info = getattr(libs[library], str(cls)).from_pretrained(
                    str(folder),
                    subfolder=name,
                    variant=variant,
                    torch_dtype=torch.float32,
                    local_files_only=True,
                    output_loading_info=True,
                    **extra,
                )
            except Exception as exc:
                raise WeightsError(
                    f"cannot load {folder / name} ({type(exc).__name__}: {exc}): {hint}"
                ) from exc
            _strict(info, folder / name, hint)
            parts[name] = net.eval()
        try:
            parts["scheduler"] = getattr(diffusers, _class(index, "scheduler")).from_pretrained(
                str(folder), subfolder="scheduler", local_files_only=True
            )
            parts["tokenizer"] = transformers.CLIPTokenizer.from_pretrained(
                str(folder), subfolder="tokenizer", local_files_only=True
            )
        except Exception as exc:
            raise WeightsError(
                f"cannot load the scheduler or tokenizer of {folder} "
                f"({type(exc).__name__}: {exc}): {hint}"
            ) from exc
    raw = diffusers.MarigoldDepthPipeline(
        **parts,
        prediction_type=index.get("prediction_type") or "depth",
        scale_invariant=index.get("scale_invariant", True),
        shift_invariant=index.get("shift_invariant", True),
        default_denoising_steps=index.get("default_denoising_steps") or release.default_steps,
        default_processing_resolution=index.get("default_processing_resolution") or 768,
    )
    try:
        raw = raw.to(device)
    except (RuntimeError, AssertionError) as exc:
        raise ConfigError(f"cannot run Marigold on device {device!r}: {exc}") from exc
    raw.set_progress_bar_config(disable=not progress)
    pipe: DepthPipeline = raw
    return pipe


# ---------------------------------------------------------------------------- model


def check_params(params: Mapping[str, Value]) -> None:
    """ConfigError naming the first of this model's parameters in ``params`` that is out of
    its range (other names are ignored)."""
    for name, value in params.items():
        spec = _BY_NAME.get(name)
        why = spec.validate(value) if spec is not None else None
        if why:
            raise ConfigError(why)


class MarigoldModel:
    """A :class:`~depth_ros.core.models.base.MonoModel` around a MarigoldDepthPipeline."""

    def __init__(self, pipe: DepthPipeline | None, params: Mapping[str, Value]) -> None:
        self.pipe = pipe
        self.denoising_steps = int(DENOISING_STEPS.default)
        self.ensemble_size = int(ENSEMBLE_SIZE.default)
        self.processing_resolution = int(PROCESSING_RESOLUTION.default)
        self.seed = int(SEED.default)
        self.near_far_ratio = float(NEAR_FAR_RATIO.default)
        self.update(params)

    def _pipeline(self) -> DepthPipeline:
        if self.pipe is None:
            raise ConfigError("this Marigold model was closed")
        return self.pipe

    @property
    def prediction_type(self) -> str:
        """What the pipeline predicts: ``depth`` (affine-invariant depth) or ``disparity``."""
        return str(self._pipeline().config.prediction_type or "depth")

    def steps(self) -> int:
        """Denoising steps one prediction runs (the parameter, or the checkpoint's)."""
        return self.denoising_steps or int(self._pipeline().default_denoising_steps)

    def update(self, params: Mapping[str, Value]) -> None:
        """Apply (and first validate) changed parameters; ``download`` is read at build."""
        check_params(params)
        for name in ("denoising_steps", "ensemble_size", "processing_resolution", "seed"):
            if name in params:
                setattr(self, name, int(params[name]))
        if "near_far_ratio" in params:
            self.near_far_ratio = float(params["near_far_ratio"])

    def predict(self, rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """Relative inverse depth (H, W) at the image's size (see the module docstring)."""
        import torch

        from depth_ros.core.models.loading import check_rgb

        check_rgb(rgb)
        image = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)  # uint8 view (1, 3, H, W)
        generator = None if self.seed < 0 else torch.Generator().manual_seed(self.seed)
        out = self._pipeline()(
            image,
            num_inference_steps=self.steps(),
            ensemble_size=self.ensemble_size,
            processing_resolution=self.processing_resolution,
            generator=generator,
            output_type="np",
        )
        pred = np.asarray(out.prediction)[0, :, :, 0]  # (H, W) in [0, 1]
        if self.prediction_type == "disparity":
            return pred.astype(np.float32, copy=False)
        return depth_to_inverse(pred, self.near_far_ratio)

    def close(self) -> None:
        """Drop the pipeline (its networks and their memory)."""
        self.pipe = None


def builder(release: Release) -> Callable[[ModelConfig], MarigoldModel]:
    """The ``ModelSpec.build`` of a release: torch backend only, the folder checked before the slow
    load."""

    def build(config: ModelConfig) -> MarigoldModel:
        if config.backend not in (None, "", "auto", "torch"):
            raise ConfigError(
                f"{release.model_id} runs only on the torch backend (diffusers' pipeline), "
                f"not {config.backend!r}"
            )
        params = dict(config.params)
        if config.input_size:  # --input-size of the CLI: the processing resolution
            params["processing_resolution"] = int(config.input_size)
        folder = resolve_folder(
            config.weights, release, allow_download=bool(params.get("download", True))
        )
        check_params(params)  # before the slow load
        return MarigoldModel(load_pipeline(folder, release, config.device, config.progress), params)

    return build


# ---------------------------------------------------------------------------- random checkpoints

#: network sizes of the official releases (their unet/, vae/ and text_encoder/ config.json:
#: the Stable Diffusion 2 UNet with 8 input channels, SD2's VAE and OpenCLIP ViT-H text)
OFFICIAL_UNET: Config = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": ["CrossAttnDownBlock2D"] * 3 + ["DownBlock2D"],
    "downsample_padding": 1,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "out_channels": 4,
    "sample_size": 96,
    "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * 3,
    "use_linear_projection": True,
}
OFFICIAL_VAE: Config = {
    "act_fn": "silu",
    "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4,
    "in_channels": 3,
    "latent_channels": 4,
    "layers_per_block": 2,
    "norm_num_groups": 32,
    "out_channels": 3,
    "sample_size": 768,
    "scaling_factor": 0.18215,
    "up_block_types": ["UpDecoderBlock2D"] * 4,
}
OFFICIAL_TEXT_ENCODER: Config = {
    "hidden_act": "gelu",
    "hidden_size": 1024,
    "intermediate_size": 4096,
    "max_position_embeddings": 77,
    "num_attention_heads": 16,
    "num_hidden_layers": 23,
    "projection_dim": 512,
    "vocab_size": 49408,
}
#: the same structure at toy size (tests, ``--random-weights``: a frame in well under 1 s)
TINY_UNET: Config = {
    **OFFICIAL_UNET,
    "attention_head_dim": [2, 2],
    "block_out_channels": [8, 16],
    "cross_attention_dim": 16,
    "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D"],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "sample_size": 8,
    "up_block_types": ["UpBlock2D", "CrossAttnUpBlock2D"],
}
TINY_VAE: Config = {  # four levels: latents 1/8 of the image, as the official
    **OFFICIAL_VAE,
    "block_out_channels": [4, 8, 8, 8],
    "layers_per_block": 1,
    "norm_num_groups": 4,
    "sample_size": 64,
}
TINY_TEXT_ENCODER: Config = {
    **OFFICIAL_TEXT_ENCODER,
    "hidden_size": 16,
    "intermediate_size": 32,
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "projection_dim": 16,
}
#: schedulers of the random checkpoints: v1-1's DDIM (v-prediction, trailing timesteps)
#: and diffusers' LCM defaults with v-prediction (a real folder brings its own config)
SCHEDULERS: dict[str, Config] = {
    "DDIMScheduler": {
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "timestep_spacing": "trailing",
    },
    "LCMScheduler": {
        "beta_end": 0.012,
        "beta_schedule": "scaled_linear",
        "beta_start": 0.00085,
        "clip_sample": False,
        "num_train_timesteps": 1000,
        "original_inference_steps": 50,
        "prediction_type": "v_prediction",
        "set_alpha_to_one": False,
        "steps_offset": 1,
        "timestep_scaling": 10.0,
        "timestep_spacing": "leading",
    },
}


def _tiny_vocab() -> dict[str, int]:
    """A CLIP BPE vocabulary of the 256 byte symbols (and their end-of-word forms) and
    the two special tokens: enough for the empty prompt Marigold encodes."""
    from tokenizers.pre_tokenizers import ByteLevel

    chars = sorted(ByteLevel.alphabet())
    vocab = {c: i for i, c in enumerate(chars)}
    vocab.update({c + "</w>": len(chars) + i for i, c in enumerate(chars)})
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def build_random_pipeline(release: Release, full: bool = False, seed: int = 0) -> DepthPipeline:
    """A MarigoldDepthPipeline with random weights: the official network sizes (``full``)
    or the tiny ones, the release's scheduler and a byte-level tokenizer."""
    import torch

    diffusers = importlib.import_module("diffusers")
    transformers = importlib.import_module("transformers")
    torch.manual_seed(seed)
    vocab = _tiny_vocab()
    text_config = dict(OFFICIAL_TEXT_ENCODER if full else TINY_TEXT_ENCODER)
    if not full:
        text_config["vocab_size"] = len(vocab)
    text_config.update(
        bos_token_id=vocab["<|startoftext|>"],
        eos_token_id=vocab["<|endoftext|>"],
        pad_token_id=vocab["<|endoftext|>"],
    )
    pipe: DepthPipeline = diffusers.MarigoldDepthPipeline(
        unet=diffusers.UNet2DConditionModel(**(OFFICIAL_UNET if full else TINY_UNET)),
        vae=diffusers.AutoencoderKL(**(OFFICIAL_VAE if full else TINY_VAE)),
        scheduler=getattr(diffusers, release.scheduler)(**SCHEDULERS[release.scheduler]),
        text_encoder=transformers.CLIPTextModel(transformers.CLIPTextConfig(**text_config)),
        tokenizer=transformers.CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77),
        prediction_type="depth",
        default_denoising_steps=release.default_steps,
        default_processing_resolution=768,
    )
    return pipe


def write_random_checkpoint(release: Release, path: Path, full: bool = False) -> None:
    """A folder in the official diffusers layout with random weights (``save_pretrained``),
    its text encoder and tokenizer files rewritten as the official ones are (transformers
    4's ``text_model.``-prefixed tensors; vocab.json + merges.txt)."""
    from safetensors.torch import load_file, save_file

    path = Path(path)
    pipe = build_random_pipeline(release, full=full)
    with _loading_bars(False):
        pipe.save_pretrained(str(path), safe_serialization=True)
    te = path / "text_encoder" / "model.safetensors"
    state = load_file(str(te))
    save_file({f"text_model.{k}": v for k, v in state.items()}, str(te), {"format": "pt"})
    tok = path / "tokenizer"
    shutil.rmtree(tok)
    tok.mkdir()
    (tok / "vocab.json").write_text(json.dumps(_tiny_vocab()))
    (tok / "merges.txt").write_text("#version: 0.2\n")
    special = {
        "bos_token": "<|startoftext|>",
        "eos_token": "<|endoftext|>",
        "pad_token": "<|endoftext|>",
        "unk_token": "<|endoftext|>",
    }
    (tok / "special_tokens_map.json").write_text(json.dumps(special, indent=2))
    config = {"tokenizer_class": "CLIPTokenizer", "model_max_length": 77, **special}
    (tok / "tokenizer_config.json").write_text(json.dumps(config, indent=2))


def random_checkpoint(release: Release) -> Callable[[Path], None]:
    """``ModelSpec.random_checkpoint`` of a release (:func:`write_random_checkpoint`)."""

    def write(path: Path) -> None:
        write_random_checkpoint(release, path)

    return write


def _register() -> None:
    for model_id, release in RELEASES.items():
        scheduler = release.scheduler.removesuffix("Scheduler")
        register_model(
            ModelSpec(
                id=model_id,
                family="marigold",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.RELATIVE,
                description=f"Marigold depth ({release.hf_repo}, diffusion, {scheduler} "
                f"{release.default_steps} step{'s' if release.default_steps > 1 else ''}): "
                "affine-invariant depth as inverse depth; slow, offline / bag replay",
                build=builder(release),
                params=PARAMS,
                weights_file=release.folder,
                weights_source=release.describe(),
                default_input_size=768,
                random_checkpoint=random_checkpoint(release),
                # Marigold's evaluation fits scale and shift to its affine-invariant depth d
                # in depth space; the output 1/(r + (1 - r) d) turned back into 1/output is
                # affine in d, so lstsq on it (eval inverts a relative output) is that fit
                eval_align="lstsq",
            )
        )


_register()
