"""Depth Anything V2 (Yang et al., NeurIPS 2024): relative (ViT-S/B/L) and metric
(Hypersim indoor, max 20 m; Virtual KITTI outdoor, max 80 m) releases.

The metric releases take ``focal_scaling`` (off by default, as the official code, which
ignores the camera): depth x f_camera / f_train with both focal lengths in network-input
pixels (``_focal``): Hypersim fx 886.81 px at 1024x768, Virtual KITTI 2 fx 725.0087 px at
1242x375, both trained at input size 518 on the short side.

Loads the official ``.pth`` files unchanged with a strict key match; pre- and
post-processing follow the official ``infer_image``: aspect-preserving resize with the
short side at least ``input_size`` (a multiple of 14, bicubic), ImageNet normalisation,
and bilinear (align_corners=True) resizing of the prediction back to the image size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from depth_ros.core.models import register_model
from depth_ros.core.models._focal import FOCAL_SCALING, HYPERSIM, VKITTI2, FocalScaled
from depth_ros.core.models.base import InputKind, ModelConfig, ModelSpec, OutputKind
from depth_ros.core.models.loading import (
    DOWNLOAD,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MonoNetworkModel,
    Preprocess,
    WeightsSource,
)
from depth_ros.core.params import ParamSpec

if TYPE_CHECKING:
    from torch import nn

    from depth_ros.core.models.export import ExportSpec
    from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

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
    "input_size",
    518,
    "Network input size: the image is resized so that its shorter side is at least this, "
    "sides multiples of 14 (larger: finer and slower)",
    min=70,
    max=2002,
    step=14,
)
PARAMS = (INPUT_SIZE, DOWNLOAD)
PARAMS_METRIC = (INPUT_SIZE, FOCAL_SCALING, DOWNLOAD)
#: training cameras of the metric releases, and the training input size (metric_depth/
#: train.py --img-size 518: images resized with the short side at 518, then cropped)
TRAIN_CAMERAS = {"hypersim": HYPERSIM, "vkitti": VKITTI2}
TRAIN_SIZE = 518


def resize_scale(model: MonoNetworkModel, height: int, width: int) -> float:
    """Network-input pixels per image pixel: the official lower_bound resize scales the
    short side to ``input_size``."""
    return float(model.input_size) / min(height, width)


def train_scale(dataset: str) -> float:
    """Network-input pixels per image pixel of the training images of ``dataset`` (518 px short
    side)."""
    cam = TRAIN_CAMERAS[dataset]
    return TRAIN_SIZE / min(cam.height, cam.width)


# SHA-256 of the official files as their Hugging Face repos publish them (the LFS object
# id); None: not found, so not verified (depth_anything_v2_vitl.pth and
# depth_anything_v2_metric_hypersim_vits.pth).
SHA256: dict[str, str | None] = {
    "depth_anything_v2_vits.pth": "715fade13be8f229f8a70cc02066f656f2423a59effd0579197bbf57860e1378",  # noqa: E501
    "depth_anything_v2_vitb.pth": "0d2b7002e62d39d655571c371333340bd88f67ab95050c03591555aa05645328",  # noqa: E501
    "depth_anything_v2_vitl.pth": None,
    "depth_anything_v2_metric_hypersim_vits.pth": None,
    "depth_anything_v2_metric_hypersim_vitb.pth": "9dc9e274c5eff55c6daf27b660c0ced0eca4e8593a6da90cdcb04d2b4d3f3fa2",  # noqa: E501
    "depth_anything_v2_metric_hypersim_vitl.pth": "6f82ff2bc543ac02ddff4aa31fa363676a8305dd3ccf04e80e2af115a044cb6d",  # noqa: E501
    "depth_anything_v2_metric_vkitti_vits.pth": "9203e538d35255c90dda4b7fedb47ff33fe725497bcca3b1e53b3a65ee63f0cb",  # noqa: E501
    "depth_anything_v2_metric_vkitti_vitb.pth": "4dad67a7cc10b462bca48e6b8569c762b8eb3c1adada170a3851a6d3ba37bb3e",  # noqa: E501
    "depth_anything_v2_metric_vkitti_vitl.pth": "239b1054a369e66da2576e9a118d6d7c12d90dc8ebe609579a9a09cd8e05fe38",  # noqa: E501
}


def weights_source(encoder: str, dataset: str | None = None) -> WeightsSource:
    """Where the V2 checkpoint of ``encoder`` (relative, or metric on ``dataset``) is published,
    with its SHA-256 where known."""
    if dataset is None:
        name = f"depth_anything_v2_{encoder}.pth"
        return WeightsSource(
            name,
            hf_repo=f"depth-anything/Depth-Anything-V2-{_SIZES[encoder]}",
            sha256=SHA256.get(name),
        )
    name = f"depth_anything_v2_metric_{dataset}_{encoder}.pth"
    return WeightsSource(
        name,
        hf_repo=f"depth-anything/Depth-Anything-V2-Metric-{_METRIC[dataset][0]}-{_SIZES[encoder]}",
        sha256=SHA256.get(name),
    )


def _what(encoder: str, dataset: str | None) -> str:
    return f"Depth Anything V2 {_NAMES[encoder]}" + (
        f" metric {_METRIC[dataset][0]} checkpoint" if dataset else " checkpoint"
    )


@dataclass(frozen=True)
class Release:
    """One official Depth Anything checkpoint: what it is, where it is published, and the
    network it loads into (V1 and V2 share the network, with different decoder inputs)."""

    what: str  # e.g. "Depth Anything V2 ViT-S checkpoint" (in error messages)
    source: WeightsSource
    encoder: str  # vits | vitb | vitl
    max_depth: float | None = None  # metric releases: the sigmoid head's range (m)
    layers: tuple[int, int, int, int] | None = None  # None: V2's decoder inputs
    preprocess: Preprocess = PREPROCESS

    def net(self) -> DepthAnythingV2Net:
        """The network this release loads into (not initialised: the checkpoint sets every
        tensor)."""
        from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

        return DepthAnythingV2Net(self.encoder, max_depth=self.max_depth, layers=self.layers)


def release(encoder: str, dataset: str | None = None) -> Release:
    """The V2 release of ``encoder`` (relative, or metric on ``dataset``)."""
    return Release(
        _what(encoder, dataset),
        weights_source(encoder, dataset),
        encoder,
        max_depth=_METRIC[dataset][1] if dataset else None,
    )


def _weights(config: ModelConfig, rel: Release) -> Path:
    from depth_ros.core.models.loading import config_weights

    return config_weights(config, rel.source, rel.what)


def torch_module(rel: Release, path: Path) -> nn.Module:
    """The network with the official checkpoint at ``path`` loaded (strict), eval mode."""
    from depth_ros.core.models.loading import load_official_checkpoint, read_official_state

    state = read_official_state(path, rel.what)
    net = rel.net()
    load_official_checkpoint(net, path, rel.what, state=state)
    return net.eval()


def random_checkpoint(rel: Release) -> Callable[[Path], None]:
    """Writes a checkpoint in the official layout with random weights (benchmarks)."""

    def write(path: Path) -> None:
        import torch

        from depth_ros.core.models.checkpoints import random_state

        # timm's skipped initialisation leaves memory garbage (NaN outputs): draw the
        # weights, with LayerScale and norm weights near 1 as in trained ViTs
        torch.save(random_state(rel.net().state_dict(), std=0.05), path)

    return write


def network_model(rel: Release, config: ModelConfig) -> MonoNetworkModel:
    """The MonoNetworkModel running ``rel`` with ``config``'s weights, backend and size."""
    from depth_ros.core.backends import BackendRequest, create_backend
    from depth_ros.core.models.loading import MONO_INPUTS, MONO_OUTPUTS

    path = _weights(config, rel)
    request = BackendRequest(
        path,
        config.device,
        module_factory=lambda: torch_module(rel, path),
        input_names=MONO_INPUTS,
        output_names=MONO_OUTPUTS,
    )
    runner = create_backend(config.backend, request)
    size = config.input_size or int(dict(config.params).get("input_size", 518))
    return MonoNetworkModel(runner, rel.preprocess, size, INPUT_SIZE)


def builder(rel: Release) -> Callable[[ModelConfig], MonoNetworkModel]:
    """The ``ModelSpec.build`` of a relative release."""

    def build(config: ModelConfig) -> MonoNetworkModel:
        return network_model(rel, config)

    return build


def metric_builder(
    rel: Release, dataset: str
) -> Callable[[ModelConfig], FocalScaled[MonoNetworkModel]]:
    """A metric release with ``focal_scaling``: depth x (fx · input_size / min(H, W)) /
    (fx_train · 518 / min(H_train, W_train)), i.e. the focal lengths compared in
    network-input pixels (``_focal``)."""

    def build(config: ModelConfig) -> FocalScaled[MonoNetworkModel]:
        return FocalScaled(
            network_model(rel, config),
            TRAIN_CAMERAS[dataset],
            resize_scale,
            train_scale(dataset),
            bool(dict(config.params).get("focal_scaling", False)),
        )

    return build


def export_spec(rel: Release) -> ExportSpec:
    """How the release exports to ONNX (fixed size: the position embedding is resampled for it)."""
    from depth_ros.core.models.export import ExportSpec
    from depth_ros.core.models.loading import example_input

    return ExportSpec(
        module_factory=lambda config: torch_module(rel, _weights(config, rel)),
        input_names=("image",),
        output_names=("depth",),
        example_inputs=lambda h, w: (example_input(h, w, rel.preprocess),),
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
                build=builder(release(encoder)),
                params=PARAMS,
                weights_file=src.filename,
                weights_source=src.describe(),
                default_input_size=518,
                export=export_spec(release(encoder)),
                random_checkpoint=random_checkpoint(release(encoder)),
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
                    f"({where}, up to {max_depth:g} m); camera-aware with focal_scaling "
                    f"(trained at fx {TRAIN_CAMERAS[dataset].fx:.1f} px, "
                    f"{TRAIN_CAMERAS[dataset].width}x{TRAIN_CAMERAS[dataset].height})",
                    build=metric_builder(release(encoder, dataset), dataset),
                    params=PARAMS_METRIC,
                    weights_file=src.filename,
                    weights_source=src.describe(),
                    default_input_size=518,
                    max_depth=max_depth,
                    export=export_spec(release(encoder, dataset)),
                    random_checkpoint=random_checkpoint(release(encoder, dataset)),
                )
            )


_register()
