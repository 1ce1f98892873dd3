"""Depth Anything V1 (Yang et al., "Depth Anything: Unleashing the Power of Large-Scale
Unlabeled Data", CVPR 2024): relative inverse depth, ViT-S/B/L.

The same network and checkpoint layout as Depth Anything V2 (``depth_anything_v2``), run
with V1's parameters, as the official code (github.com/LiheYoung/Depth-Anything) does:

- decoder inputs: the last four ViT blocks (``get_intermediate_layers(x, 4)``), where V2
  takes fixed intermediate blocks;
- pre-processing of ``run.py``: RGB / 255, aspect-preserving resize with the short side at
  least ``input_size`` (518), sides multiples of 14 (``lower_bound``, OpenCV bicubic),
  ImageNet normalisation (the same as V2);
- post-processing of ``run.py``: the prediction is resized to the image size with
  ``F.interpolate(mode="bilinear", align_corners=False)`` (V2's ``infer_image`` uses
  ``align_corners=True``).

The official files ``depth_anything_{vits,vitb,vitl}14.pth`` (a plain state dict) load
unchanged with a strict key match.
"""

from __future__ import annotations

from depth_ros.core.models import register_model
from depth_ros.core.models.base import InputKind, ModelSpec, OutputKind
from depth_ros.core.models.depth_anything_v2 import (
    PARAMS,
    PREPROCESS,
    Release,
    builder,
    export_spec,
    random_checkpoint,
)
from depth_ros.core.models.loading import Preprocess, WeightsSource

_SPACE = "https://huggingface.co/spaces/LiheYoung/Depth-Anything/resolve/main/checkpoints"
_NAMES = {"vits": "ViT-S", "vitb": "ViT-B", "vitl": "ViT-L"}
#: decoder inputs: the last four blocks of the 12 (ViT-S/B) or 24 (ViT-L) blocks
LAYERS = {"vits": (8, 9, 10, 11), "vitb": (8, 9, 10, 11), "vitl": (20, 21, 22, 23)}

#: as V2, except the prediction's resizing back to the image (run.py: align_corners=False)
PREPROCESS_V1 = Preprocess(
    multiple_of=PREPROCESS.multiple_of,
    resize_method=PREPROCESS.resize_method,
    mean=PREPROCESS.mean,
    std=PREPROCESS.std,
    output_resize="bilinear",
)


def weights_source(encoder: str) -> WeightsSource:
    """The official release: the checkpoints folder of the authors' Hugging Face Space
    (linked from the official README, "No network connection" section)."""
    name = f"depth_anything_{encoder}14.pth"
    return WeightsSource(name, url=f"{_SPACE}/{name}")


def release(encoder: str) -> Release:
    """The V1 release of ``encoder``: V2's network with V1's decoder inputs (the last four blocks)
    and V1's pre-processing."""
    return Release(
        f"Depth Anything V1 {_NAMES[encoder]} checkpoint",
        weights_source(encoder),
        encoder,
        layers=LAYERS[encoder],
        preprocess=PREPROCESS_V1,
    )


def _register() -> None:
    for encoder in ("vits", "vitb", "vitl"):
        rel = release(encoder)
        register_model(
            ModelSpec(
                id=f"depth_anything_v1_{encoder}",
                family="depth_anything_v1",
                input_kind=InputKind.MONO,
                output_kind=OutputKind.RELATIVE,
                description=f"Depth Anything V1 {_NAMES[encoder]}, relative inverse depth",
                build=builder(rel),
                params=PARAMS,
                weights_file=rel.source.filename,
                weights_source=rel.source.describe(),
                default_input_size=518,
                export=export_spec(rel),
                random_checkpoint=random_checkpoint(rel),
            )
        )


_register()
