"""Depth Anything V2 (Yang et al., 2024) and V1 (CVPR 2024): a DINOv2 ViT encoder (timm)
and a DPT decoder.

V1 and V2 share the architecture and the checkpoint layout (key names and shapes checked
against both official codes: test/data/depth_anything_v{1,2}_keys.json); they differ only
in which ViT blocks feed the decoder: V2 takes fixed intermediate blocks
(``intermediate_layer_idx``, :data:`ENCODERS` ``layers``), V1 the last four blocks
(``get_intermediate_layers(x, 4)``, ``depth_anything_v1.LAYERS``). Both take the final-norm patch
tokens without the class token (``use_clstoken=False``).

The module tree matches the official checkpoints (``pretrained.*`` for the encoder,
``depth_head.*`` for the decoder), so the released ``.pth`` files load with a strict key
match. timm's DINOv2 ViT has the same parameter names as the official DINOv2 code except
``mask_token`` (used only in DINOv2 pre-training), which is added here so strict loading
accepts it. The forward pass is our own: it reproduces the official position-embedding
interpolation (bicubic with the 0.1 offset), which timm's dynamic resizing does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
from torch import nn

from depth_ros.core.models.nets import as_vit, vit_tokens
from depth_ros.core.models.nets.dinov2 import PATCH, resize_pos_embed
from depth_ros.core.models.nets.dpt_head import DPTHead

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer


@dataclass(frozen=True)
class EncoderConfig:
    """One DINOv2 encoder size: its timm name, width, decoder width and channels, and the blocks
    that feed the decoder."""

    timm_name: str
    embed_dim: int
    features: int
    out_channels: tuple[int, int, int, int]
    layers: tuple[int, int, int, int]  # blocks whose outputs feed the decoder


ENCODERS = {
    "vits": EncoderConfig("vit_small_patch14_dinov2", 384, 64, (48, 96, 192, 384), (2, 5, 8, 11)),
    "vitb": EncoderConfig("vit_base_patch14_dinov2", 768, 128, (96, 192, 384, 768), (2, 5, 8, 11)),
    "vitl": EncoderConfig(
        "vit_large_patch14_dinov2", 1024, 256, (256, 512, 1024, 1024), (4, 11, 17, 23)
    ),
}


def dinov2(encoder: str) -> VisionTransformer:
    """The DINOv2 ViT of timm for ``encoder`` (vits | vitb | vitl) with the official parameter
    names, ``mask_token`` included (unused at inference, present in the checkpoints).
    ``weight_init="skip"``: the weights come from a checkpoint."""
    import timm

    cfg = ENCODERS[encoder]
    vit = as_vit(
        timm.create_model(
            cfg.timm_name, pretrained=False, num_classes=0, img_size=518, weight_init="skip"
        )
    )
    vit.register_parameter("mask_token", nn.Parameter(torch.zeros(1, cfg.embed_dim)))
    return vit


def intermediate_tokens(
    vit: VisionTransformer, x: torch.Tensor, layers: tuple[int, ...]
) -> tuple[list[torch.Tensor], int, int]:
    """(B, 3, H, W) → the final-norm patch tokens (B, N, C), class token removed, after
    each block in ``layers`` (the official ``get_intermediate_layers(x, layers,
    norm=True)``), and the patch grid (patch_h, patch_w)."""
    # Python ints: an ONNX export bakes the position embedding for its input size
    patch_h, patch_w = int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH
    tokens = vit.patch_embed.norm(vit.patch_embed.proj(x).flatten(2).transpose(1, 2))
    cls_token, position = vit_tokens(vit)
    tokens = torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
    tokens = tokens + resize_pos_embed(position, patch_h, patch_w)
    taken = []
    for i, block in enumerate(vit.blocks):
        tokens = block(tokens)
        if i in layers:
            taken.append(vit.norm(tokens)[:, 1:])
    return taken, patch_h, patch_w


class DepthAnythingV2Net(nn.Module):
    """(B, 3, H, W) normalised image, H and W multiples of 14 → (B, H, W) prediction:
    relative inverse depth (``max_depth`` None) or metres (metric releases).

    ``layers``: the blocks whose outputs feed the decoder (default: V2's)."""

    def __init__(
        self,
        encoder: str = "vits",
        max_depth: float | None = None,
        layers: tuple[int, int, int, int] | None = None,
    ) -> None:
        super().__init__()
        cfg = ENCODERS[encoder]
        self.encoder = encoder
        self.layers = layers or cfg.layers
        self.pretrained = dinov2(encoder)
        self.depth_head = DPTHead(
            cfg.embed_dim, cfg.features, cfg.out_channels, PATCH, metric_max_depth=max_depth
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        taken, patch_h, patch_w = intermediate_tokens(self.pretrained, x, self.layers)
        out: torch.Tensor = self.depth_head(taken, patch_h, patch_w)
        return out.squeeze(1)
