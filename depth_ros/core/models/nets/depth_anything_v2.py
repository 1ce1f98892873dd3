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

import torch
from torch import nn

from depth_ros.core.models.nets import as_vit, vit_tokens
from depth_ros.core.models.nets.dinov2 import PATCH, resize_pos_embed
from depth_ros.core.models.nets.dpt_head import DPTHead


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
        import timm

        cfg = ENCODERS[encoder]
        self.encoder = encoder
        self.layers = layers or cfg.layers
        self.pretrained = as_vit(
            timm.create_model(
                cfg.timm_name, pretrained=False, num_classes=0, img_size=518, weight_init="skip"
            )
        )
        # weight_init="skip": the weights come from a checkpoint, random init is wasted time.
        # DINOv2's mask token: unused at inference, present in the official checkpoints.
        self.pretrained.register_parameter(
            "mask_token", nn.Parameter(torch.zeros(1, cfg.embed_dim))
        )
        self.depth_head = DPTHead(
            cfg.embed_dim, cfg.features, cfg.out_channels, PATCH, metric_max_depth=max_depth
        )

    def _pos_embed(self, patch_h: int, patch_w: int) -> torch.Tensor:
        return resize_pos_embed(vit_tokens(self.pretrained)[1], patch_h, patch_w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Python ints: an ONNX export bakes the position embedding for its input size
        patch_h, patch_w = int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH
        vit = self.pretrained
        tokens = vit.patch_embed.norm(vit.patch_embed.proj(x).flatten(2).transpose(1, 2))
        cls_token = vit_tokens(vit)[0]
        tokens = torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self._pos_embed(patch_h, patch_w)
        taken = []
        for i, block in enumerate(vit.blocks):
            tokens = block(tokens)
            if i in self.layers:
                taken.append(vit.norm(tokens)[:, 1:])
        out: torch.Tensor = self.depth_head(taken, patch_h, patch_w)
        return out.squeeze(1)
