"""Building blocks of the DPT decoder (Ranftl et al., "Vision Transformers for Dense
Prediction", 2021) shared by MiDaS v2.1/v3 and Depth Anything V2.

Module and attribute names (``scratch.layerN_rn``, ``refinenetN``, ``resConfUnitN``,
``out_conv``) follow the names in the official checkpoints, so the decoder parts of those
files load without translation.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn


class ResidualConvUnit(nn.Module):
    """x + conv(relu(conv(relu(x)))), 3x3 convolutions with bias."""

    def __init__(self, features: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(features, features, kernel_size=3, padding=1, bias=True)
        self.conv2 = nn.Conv2d(features, features, kernel_size=3, padding=1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.conv2(F.relu(self.conv1(F.relu(x))))
        return out + x


class FusionBlock(nn.Module):
    """Fuse a coarser path with a skip feature, upsample (bilinear), project (1x1).

    ``expand`` halves the channel count in the projection (MiDaS small). ``residual``
    False: no skip unit (``resConfUnit1``), as the coarsest block of Depth Anything 3.
    """

    def __init__(
        self,
        features: int,
        expand: bool = False,
        align_corners: bool = True,
        residual: bool = True,
    ) -> None:
        super().__init__()
        self.align_corners = align_corners
        out_features = features // 2 if expand else features
        self.out_conv = nn.Conv2d(features, out_features, kernel_size=1, bias=True)
        self.resConfUnit1 = ResidualConvUnit(features) if residual else None
        self.resConfUnit2 = ResidualConvUnit(features)

    def forward(
        self,
        x: torch.Tensor,
        skip: torch.Tensor | None = None,
        size: Sequence[int] | None = None,
    ) -> torch.Tensor:
        out = x
        if skip is not None and self.resConfUnit1 is not None:
            out = out + self.resConfUnit1(skip)
        out = self.resConfUnit2(out)
        if size is None:
            out = F.interpolate(
                out, scale_factor=2.0, mode="bilinear", align_corners=self.align_corners
            )
        else:
            out = F.interpolate(
                out,
                size=(int(size[0]), int(size[1])),
                mode="bilinear",
                align_corners=self.align_corners,
            )
        projected: torch.Tensor = self.out_conv(out)
        return projected


class Scratch(nn.Module):
    """The ``scratch`` module of the official networks: per-level 3x3 projections
    ``layerN_rn`` (no bias) and fusion blocks ``refinenetN``; heads add their output
    convolutions to it."""

    # the heads' output convolutions (DPT: output_conv; Depth Anything: 1 and 2)
    output_conv: nn.Sequential
    output_conv1: nn.Module
    output_conv2: nn.Module

    def __init__(
        self,
        in_channels: Sequence[int],
        features: int,
        expand: bool = False,
        align_corners: bool = True,
    ) -> None:
        super().__init__()
        outs = [features * (2**i) if expand else features for i in range(4)]
        self.layer1_rn = nn.Conv2d(in_channels[0], outs[0], 3, padding=1, bias=False)
        self.layer2_rn = nn.Conv2d(in_channels[1], outs[1], 3, padding=1, bias=False)
        self.layer3_rn = nn.Conv2d(in_channels[2], outs[2], 3, padding=1, bias=False)
        self.layer4_rn = nn.Conv2d(in_channels[3], outs[3], 3, padding=1, bias=False)
        self.refinenet1 = FusionBlock(outs[0], expand=False, align_corners=align_corners)
        self.refinenet2 = FusionBlock(outs[1], expand=expand, align_corners=align_corners)
        self.refinenet3 = FusionBlock(outs[2], expand=expand, align_corners=align_corners)
        self.refinenet4 = FusionBlock(outs[3], expand=expand, align_corners=align_corners)

    def fuse(self, layers: Sequence[torch.Tensor], sized: bool = True) -> torch.Tensor:
        """Run the four fusion stages, coarse to fine. ``sized``: upsample each stage to
        the next level's size (DPT); otherwise by a factor of 2 (MiDaS small)."""
        l1 = self.layer1_rn(layers[0])
        l2 = self.layer2_rn(layers[1])
        l3 = self.layer3_rn(layers[2])
        l4 = self.layer4_rn(layers[3])
        p4 = self.refinenet4(l4, size=l3.shape[2:] if sized else None)
        p3 = self.refinenet3(p4, l3, size=l2.shape[2:] if sized else None)
        p2 = self.refinenet2(p3, l2, size=l1.shape[2:] if sized else None)
        p1: torch.Tensor = self.refinenet1(p2, l1)
        return p1


class DPTHead(nn.Module):
    """The Depth Anything V2 decoder: reassemble four ViT token maps to four scales,
    fuse, and regress one channel.

    ``metric_max_depth`` None: relative head (ReLU output); otherwise a sigmoid output
    scaled by ``metric_max_depth`` metres (the metric releases).
    """

    def __init__(
        self,
        in_channels: int,
        features: int,
        out_channels: Sequence[int],
        patch_size: int = 14,
        metric_max_depth: float | None = None,
    ) -> None:
        super().__init__()
        self.patch_size = patch_size
        self.metric_max_depth = metric_max_depth
        self.projects = nn.ModuleList(
            [nn.Conv2d(in_channels, c, kernel_size=1) for c in out_channels]
        )
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], kernel_size=4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], kernel_size=2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], kernel_size=3, stride=2, padding=1),
            ]
        )
        self.scratch = Scratch(out_channels, features)
        self.scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        last: nn.Module = nn.Sigmoid() if metric_max_depth is not None else nn.ReLU(True)
        self.scratch.output_conv2 = nn.Sequential(
            nn.Conv2d(features // 2, 32, 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(32, 1, kernel_size=1),
            last,
        )

    def forward(self, tokens: Sequence[torch.Tensor], patch_h: int, patch_w: int) -> torch.Tensor:
        """``tokens``: four (B, N, C) patch-token maps (class token removed)."""
        layers = []
        for i, x in enumerate(tokens):
            x = x.permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], patch_h, patch_w)
            x = self.projects[i](x)
            x = self.resize_layers[i](x)
            layers.append(x)
        scratch = self.scratch
        path = scratch.fuse(layers, sized=True)
        out: torch.Tensor = scratch.output_conv1(path)
        out = F.interpolate(
            out,
            (patch_h * self.patch_size, patch_w * self.patch_size),
            mode="bilinear",
            align_corners=True,
        )
        out = scratch.output_conv2(out)
        if self.metric_max_depth is not None:
            return out * self.metric_max_depth
        return F.relu(out)
