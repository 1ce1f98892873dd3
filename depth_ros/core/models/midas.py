"""MiDaS (Ranftl et al.): v2.1 small (EfficientNet-Lite3, input 256) and the v3 DPT
models DPT-Hybrid and DPT-Large (input 384). Relative inverse depth.

Loads the official release files unchanged with a strict key match. Pre- and
post-processing follow the official ``run.py``: aspect-preserving resize to a multiple of
32 (v2.1 small: ``upper_bound``, ImageNet normalisation; DPT: ``minimal``, mean/std 0.5),
bicubic image resizing (OpenCV), and bicubic (align_corners=False) resizing of the
prediction back to the image size.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.models.loading import (
    DOWNLOAD,
    HALF,
    IMAGENET_MEAN,
    IMAGENET_STD,
    Preprocess,
    WeightsSource,
)
from depth_ros.core.params import ParamSpec

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.models.export import ExportSpec
    from depth_ros.core.models.loading import MonoNetworkModel

#: a key name translation, official ↔ ours
KeyMap = Callable[[str], str]

_RELEASES = "https://github.com/isl-org/MiDaS/releases/download"


def _input_size(default: int) -> ParamSpec:
    return ParamSpec(
        "input_size",
        default,
        "Network input size: the image is resized, keeping its aspect ratio, so that its "
        "sides are near this, multiples of 32 (larger: finer and slower)",
        min=64,
        max=1024,
        step=32,
    )


# The GitHub releases publish no SHA-256 for these files (WeightsSource.sha256 None: a
# download is not verified).
# model ID → (description, official file, alternative file names, default input size,
#             preprocessing, what)
_MODELS: dict[str, tuple[str, WeightsSource, tuple[str, ...], int, Preprocess]] = {
    "midas_v21_small": (
        "MiDaS v2.1 small (EfficientNet-Lite3), relative inverse depth, fast",
        WeightsSource("midas_v21_small_256.pt", url=f"{_RELEASES}/v2_1/midas_v21_small_256.pt"),
        (),
        256,
        Preprocess(32, "upper_bound", IMAGENET_MEAN, IMAGENET_STD, output_resize="bicubic"),
    ),
    "dpt_hybrid": (
        "MiDaS v3 DPT-Hybrid (ViT-B with ResNet-50 stem), relative inverse depth",
        WeightsSource("dpt_hybrid_384.pt", url=f"{_RELEASES}/v3/dpt_hybrid_384.pt"),
        ("dpt_hybrid-midas-501f0c75.pt",),
        384,
        Preprocess(32, "minimal", HALF, HALF, output_resize="bicubic"),
    ),
    "dpt_large": (
        "MiDaS v3 DPT-Large (ViT-L/16), relative inverse depth",
        WeightsSource("dpt_large_384.pt", url=f"{_RELEASES}/v3/dpt_large_384.pt"),
        ("dpt_large-midas-2f21e586.pt",),
        384,
        Preprocess(32, "minimal", HALF, HALF, output_resize="bicubic"),
    ),
}


def _net(model_id: str) -> tuple[nn.Module, KeyMap, KeyMap]:
    """The torch module for ``model_id`` and its key translation (official ↔ ours)."""
    from depth_ros.core.models.nets import midas as nets

    if model_id == "midas_v21_small":
        return nets.MidasSmallNet(), nets.small_from_official, nets.small_to_official
    return nets.DPTNet(model_id), (lambda k: k), (lambda k: k)


def _random_checkpoint(model_id: str) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout with random weights (benchmarks)."""

    def write(path: Path) -> None:
        import torch

        from depth_ros.core.models.checkpoints import random_state

        net, _, to_official = _net(model_id)
        state = random_state(net.state_dict())
        torch.save({to_official(k): v for k, v in state.items()}, path)

    return write


def _weights(config: ModelConfig, model_id: str) -> Path:
    from depth_ros.core.models.loading import cache_dir, fetch_weights

    _d, source, alternatives, _s, _p = _MODELS[model_id]
    weights = config.weights
    if weights is None:  # an older release name already in the cache serves too
        weights = next((cache_dir() / n for n in alternatives if (cache_dir() / n).is_file()), None)
    return fetch_weights(
        weights,
        source,
        _what(model_id),
        allow_download=bool(dict(config.params).get("download", True)),
    )


def _what(model_id: str) -> str:
    return f"MiDaS {model_id} checkpoint ({_MODELS[model_id][1].filename})"


def _torch_module(model_id: str, path: Path) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state

    what = _what(model_id)
    state = read_official_state(path, what)
    net, from_official, to_official = _net(model_id)
    load_official_checkpoint(net, path, what, from_official, to_official, state)
    return net.eval()


def _builder(model_id: str) -> Callable[[ModelConfig], MonoNetworkModel]:
    _description, _source, _alternatives, default_size, pre = _MODELS[model_id]
    input_param = _input_size(default_size)

    def build(config: ModelConfig) -> MonoNetworkModel:
        from depth_ros.core.backends import BackendRequest, create_backend
        from depth_ros.core.models.loading import MONO_INPUTS, MONO_OUTPUTS, MonoNetworkModel

        path = _weights(config, model_id)
        request = BackendRequest(
            path,
            config.device,
            module_factory=lambda: _torch_module(model_id, path),
            input_names=MONO_INPUTS,
            output_names=MONO_OUTPUTS,
        )
        runner = create_backend(config.backend, request)
        size = config.input_size or int(dict(config.params).get("input_size", default_size))
        return MonoNetworkModel(runner, pre, size, input_param)

    return build


def _export(model_id: str) -> ExportSpec:
    from depth_ros.core.models.export import ExportSpec
    from depth_ros.core.models.loading import example_input

    pre = _MODELS[model_id][4]
    size = _MODELS[model_id][3]
    return ExportSpec(
        module_factory=lambda config: _torch_module(model_id, _weights(config, model_id)),
        input_names=("image",),
        output_names=("depth",),
        example_inputs=lambda h, w: (example_input(h, w, pre),),
        dynamic_axes={
            "image": {0: "batch", 2: "height", 3: "width"},
            "depth": {0: "batch", 1: "height", 2: "width"},
        },
        size_multiple=32,
        min_size=32,
        default_size=(size * 3 // 4 // 32 * 32, size),
    )


def _register() -> None:
    for model_id, (description, source, _alternatives, size, _pre) in _MODELS.items():
        register_model(
            ModelSpec(
                id=model_id,
                family="midas",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.RELATIVE,
                description=description,
                build=_builder(model_id),
                params=(_input_size(size), DOWNLOAD),
                weights_file=source.filename,
                weights_source=source.describe(),
                default_input_size=size,
                export=_export(model_id),
                random_checkpoint=_random_checkpoint(model_id),
            )
        )


_register()
