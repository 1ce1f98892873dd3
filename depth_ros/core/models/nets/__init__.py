"""PyTorch networks of the learned models. Importing these modules imports torch: only
model ``build`` functions and the exporter import them."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch
    from timm.models.vision_transformer import VisionTransformer
    from torch import nn


def as_vit(module: nn.Module) -> VisionTransformer:
    """``module`` (what ``timm.create_model`` gave for a ViT name) as timm's
    VisionTransformer, whose attributes are typed; TypeError for another class."""
    from timm.models.vision_transformer import VisionTransformer

    if not isinstance(module, VisionTransformer):
        raise TypeError(f"expected a timm VisionTransformer, got {type(module).__name__}")
    return module


def vit_tokens(vit: VisionTransformer) -> tuple[torch.Tensor, torch.Tensor]:
    """The class token and position embedding of a timm ViT (built with both)."""
    if vit.cls_token is None or vit.pos_embed is None:
        raise TypeError("the ViT has no class token or no position embedding")
    return vit.cls_token, vit.pos_embed
