"""Depth Anything V2 (Yang et al., NeurIPS 2024): relative (ViT-S/B/L) and metric
(Hypersim indoor, max 20 m; Virtual KITTI outdoor, max 80 m) releases.

Loads the official ``.pth`` files unchanged with a strict key match; pre- and
post-processing follow the official ``infer_image``: aspect-preserving resize with the
short side at least ``input_size`` (a multiple of 14, bicubic), ImageNet normalisation,
and bilinear (align_corners=True) resizing of the prediction back to the image size.
"""

from __future__ import annotations

from typing import Any

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.mono import IMAGENET_MEAN, IMAGENET_STD, Preprocess, WeightsSource
from depth_ros.core.params import ParamSpec

PREPROCESS = Preprocess(
    multiple_of=14,
    resize_method="lower_bound",
    mean=IMAGENET_MEAN,
    std=IMAGENET_STD,
    output_resize="bilinear_align_corners",
)

_SIZES = {"vits": "Small", "vitb": "Base", "vitl": "Large"}
_NAMES = {"vits": "ViT-S", "vitb": "ViT-B", "vitl": "ViT-L"}
_METRIC = {"hypersim": ("Hypersim", 20.0, "indoor"), "vkitti": ("VKITTI", 80.0, "outdoor")}

INPUT_SIZE = ParamSpec(
    "input_size", 518,
    "Network input size: the image is resized so that its shorter side is at least this, "
    "sides multiples of 14 (larger: finer and slower)",
    min=70, max=2002, step=14,
)
DOWNLOAD = ParamSpec(
    "download", True,
    "Download the official weights into the cache when no weights file is given",
    read_only=True,
)
PARAMS = (INPUT_SIZE, DOWNLOAD)


# SHA-256 of the official files as their Hugging Face repos publish them (the LFS object
# id); None: not found, so not verified (depth_anything_v2_vitl.pth and
# depth_anything_v2_metric_hypersim_vits.pth).
SHA256: dict[str, str | None] = {
    "depth_anything_v2_vits.pth":
        "715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378",
    "depth_anything_v2_vitb.pth":
        "0d2b7002e62d39d655571c371333340bd88f67ab95050c03591555aa05645328",
    "depth_anything_v2_vitl.pth": None,
    "depth_anything_v2_metric_hypersim_vits.pth": None,
    "depth_anything_v2_metric_hypersim_vitb.pth":
        "9dc9e274c5eff55c6daf27b660c0ced0eca4e8593a6da90cdcb04d2b4d3f3fa2",
    "depth_anything_v2_metric_hypersim_vitl.pth":
        "6f82ff2bc543ac02ddff4aa31fa363676a8305dd3ccf04e80e2af115a044cb6d",
    "depth_anything_v2_metric_vkitti_vits.pth":
        "9203e538d35255c90dda4b7fedb47ff33fe725497bcca3b1e53b3a65ee63f0cb",
    "depth_anything_v2_metric_vkitti_vitb.pth":
        "4dad67a7cc10b462bca48e6b8569c762b8eb3c1adada170a3851a6d3ba37bb3e",
    "depth_anything_v2_metric_vkitti_vitl.pth":
        "239b1054a369e66da2576e9a118d6d7c12d90dc8ebe609579a9a09cd8e05fe38",
}


def weights_source(encoder: str, dataset: str | None = None) -> WeightsSource:
    if dataset is None:
        name = f"depth_anything_v2_{encoder}.pth"
        return WeightsSource(
            name, hf_repo=f"depth-anything/Depth-Anything-V2-{_SIZES[encoder]}",
            sha256=SHA256.get(name),
        )
    name = f"depth_anything_v2_metric_{dataset}_{encoder}.pth"
    return WeightsSource(
        name,
        hf_repo=f"depth-anything/Depth-Anything-V2-Metric-{_METRIC[dataset][0]}-"
        f"{_SIZES[encoder]}",
        sha256=SHA256.get(name),
    )


def _what(encoder: str, dataset: str | None) -> str:
    return f"Depth Anything V2 {_NAMES[encoder]}" + (
        f" metric {_METRIC[dataset][0]} checkpoint" if dataset else " checkpoint"
    )


def _weights(config: ModelConfig, encoder: str, dataset: str | None) -> Any:
    from depth_ros.core.mono import resolve_weights

    return resolve_weights(
        config.weights, weights_source(encoder, dataset), _what(encoder, dataset),
        allow_download=bool(dict(config.params).get("download", True)),
    )


def _torch_module(encoder: str, dataset: str | None, path: Any) -> Any:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    from depth_ros.core.checkpoints import load_state_dict_file
    from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net
    from depth_ros.core.mono import EXPORTED_EXTENSIONS, load_official_checkpoint

    what = _what(encoder, dataset)
    if str(path).lower().endswith(EXPORTED_EXTENSIONS):
        raise ConfigError(f"{path} is an exported network; the PyTorch network needs the {what}")
    state = load_state_dict_file(path, expected=what)
    net = DepthAnythingV2Net(encoder, max_depth=_METRIC[dataset][1] if dataset else None)
    load_official_checkpoint(net, path, what, state=state)
    return net.eval()


def _random_checkpoint(encoder: str, dataset: str | None) -> Any:
    """Writes a checkpoint in the official layout with random weights (benchmarks)."""

    def write(path: Any) -> None:
        import torch

        from depth_ros.core.checkpoints import random_state
        from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

        net = DepthAnythingV2Net(encoder, max_depth=_METRIC[dataset][1] if dataset else None)
        torch.save(random_state(net.state_dict()), path)

    return write


def _builder(encoder: str, dataset: str | None) -> Any:
    def build(config: ModelConfig) -> Any:
        from depth_ros.core.mono import MonoNetworkModel, create_runner

        path = _weights(config, encoder, dataset)
        runner = create_runner(
            path, config.backend, config.device, lambda: _torch_module(encoder, dataset, path)
        )
        size = config.input_size or int(dict(config.params).get("input_size", 518))
        return MonoNetworkModel(runner, PREPROCESS, size, INPUT_SIZE)

    return build


def _export(encoder: str, dataset: str | None) -> Any:
    from depth_ros.core.export import ExportSpec
    from depth_ros.core.mono import example_input

    return ExportSpec(
        module_factory=lambda config: _torch_module(
            encoder, dataset, _weights(config, encoder, dataset)
        ),
        input_names=("image",),
        output_names=("depth",),
        example_inputs=lambda h, w: (example_input(h, w, PREPROCESS),),
        # fixed size: the position embedding is resampled for the exported input size
        dynamic_axes={},
        size_multiple=14,
        min_size=14,
        default_size=(518, 686),
    )


def _register() -> None:
    for encoder in ("vits", "vitb", "vitl"):
        src = weights_source(encoder)
        register_model(
            ModelSpec(
                id=f"depth_anything_v2_{encoder}",
                family="depth_anything_v2",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.RELATIVE,
                description=f"Depth Anything V2 {_NAMES[encoder]}, relative inverse depth",
                build=_builder(encoder, None),
                params=PARAMS,
                weights_file=src.filename,
                weights_source=src.describe(),
                default_input_size=518,
                export=_export(encoder, None),
                random_checkpoint=_random_checkpoint(encoder, None),
            )
        )
        for dataset, (label, max_depth, where) in _METRIC.items():
            src = weights_source(encoder, dataset)
            register_model(
                ModelSpec(
                    id=f"depth_anything_v2_metric_{dataset}_{encoder}",
                    family="depth_anything_v2",
                    input_kind=InputKind.MONO,
                    output_kind=OutputKind.METRIC,
                    description=f"Depth Anything V2 {_NAMES[encoder]} metric, {label} "
                    f"({where}, up to {max_depth:g} m)",
                    build=_builder(encoder, dataset),
                    params=PARAMS,
                    weights_file=src.filename,
                    weights_source=src.describe(),
                    default_input_size=518,
                    max_depth=max_depth,
                    export=_export(encoder, dataset),
                    random_checkpoint=_random_checkpoint(encoder, dataset),
                )
            )


_register()
