"""DINOv2 pieces shared by the networks built on it (Depth Anything V2/V3, Metric3D v2).

Attribute names (``proj``, ``w12``, ``w3``) are the official checkpoints' ones.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

#: DINOv2's patch size in pixels
PATCH = 14


class PatchEmbed(nn.Module):
    """14 px patches → (B, N, D) tokens (a strided convolution)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.proj(x).flatten(2).transpose(1, 2)
        return out


class SwiGLU(nn.Module):
    """DINOv2's fused SwiGLU (``SwiGLUFFNFused``): hidden width (int(h * 2/3) + 7) // 8 * 8,
    ``w3(silu(x1) * x2)``. Other keywords (timm's ``mlp_layer`` call) are ignored."""

    def __init__(self, in_features: int, hidden_features: int, **_: object) -> None:
        super().__init__()
        hidden = (int(hidden_features * 2 / 3) + 7) // 8 * 8
        self.w12 = nn.Linear(in_features, 2 * hidden)
        self.w3 = nn.Linear(hidden, in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x1, x2 = self.w12(x).chunk(2, dim=-1)
        out: torch.Tensor = self.w3(F.silu(x1) * x2)
        return out


def resize_pos_embed(pos: torch.Tensor, patch_h: int, patch_w: int) -> torch.Tensor:
    """The (1, 1 + N, D) position embedding (class token first) for a patch_h x patch_w
    grid: unchanged for its own square grid, else the patch part resampled in float32 as
    the official code does (bicubic with a scale factor with a 0.1 offset, not a size)."""
    n = pos.shape[1] - 1
    if patch_h * patch_w == n and patch_h == patch_w:
        return pos
    pos = pos.float()
    side = math.sqrt(n)
    dim = pos.shape[-1]
    grid = pos[:, 1:].reshape(1, int(side), int(side), dim).permute(0, 3, 1, 2)
    grid = F.interpolate(
        grid,
        scale_factor=((patch_h + 0.1) / side, (patch_w + 0.1) / side),
        mode="bicubic",
        antialias=False,
    )
    grid = grid.permute(0, 2, 3, 1).reshape(1, -1, dim)
    return torch.cat((pos[:, :1], grid), dim=1)
