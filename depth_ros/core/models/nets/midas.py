"""MiDaS v2.1 small and DPT-Hybrid / DPT-Large (MiDaS v3), Ranftl et al. 2020/2021.

Encoders come from timm (built without pretrained weights): ``tf_efficientnet_lite3`` for
MiDaS v2.1 small, ``vit_base_r50_s16_384`` for DPT-Hybrid and ``vit_large_patch16_384``
for DPT-Large. The decoders are ours (``dpt_head``).

Checkpoint layout: the DPT networks keep the official module tree (``pretrained.model``
= the timm ViT, ``pretrained.act_postprocessN`` = the reassemble stages, ``scratch``), so
their files load unchanged. MiDaS small's official encoder is a set of ``nn.Sequential``
slices of gen-efficientnet (``pretrained.layer1.0`` = stem conv, ...); here the timm
EfficientNet keeps its own names and :func:`small_from_official` /
:func:`small_to_official` translate the keys.
"""

from __future__ import annotations

from typing import Generic, TypeVar

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets import as_vit, vit_tokens
from depth_ros.core.models.nets.dpt_head import Scratch

_V = TypeVar("_V", bound=nn.Module)

# official MiDaS-small key prefix → timm EfficientNet prefix (under ``encoder.``)
_SMALL_PREFIXES = (
    ("pretrained.layer1.0.", "encoder.conv_stem."),
    ("pretrained.layer1.1.", "encoder.bn1."),
    ("pretrained.layer1.3.", "encoder.blocks.0."),
    ("pretrained.layer1.4.", "encoder.blocks.1."),
    ("pretrained.layer2.0.", "encoder.blocks.2."),
    ("pretrained.layer3.0.", "encoder.blocks.3."),
    ("pretrained.layer3.1.", "encoder.blocks.4."),
    ("pretrained.layer4.0.", "encoder.blocks.5."),
    ("pretrained.layer4.1.", "encoder.blocks.6."),
)


def small_from_official(key: str) -> str:
    """An official MiDaS small key → ours (``pretrained.layerN`` → timm EfficientNet's
    ``encoder.*``)."""
    for official, ours in _SMALL_PREFIXES:
        if key.startswith(official):
            return ours + key[len(official) :]
    return key


def small_to_official(key: str) -> str:
    """Our MiDaS small key → the official one (inverse of :func:`small_from_official`)."""
    for official, ours in _SMALL_PREFIXES:
        if key.startswith(ours):
            return official + key[len(ours) :]
    return key


def _output_head(features: int, mid: int, align_corners: bool) -> nn.Sequential:
    """Conv 3x3 → 2x bilinear upsampling → conv 3x3 → ReLU → conv 1x1 → ReLU."""

    class Up(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=align_corners)

    return nn.Sequential(
        nn.Conv2d(features, features // 2, 3, padding=1),
        Up(),
        nn.Conv2d(features // 2, mid, 3, padding=1),
        nn.ReLU(True),
        nn.Conv2d(mid, 1, kernel_size=1),
        nn.ReLU(True),
    )


class MidasSmallNet(nn.Module):
    """MiDaS v2.1 small: (B, 3, H, W), sides multiples of 32 → (B, H, W) relative
    inverse depth."""

    def __init__(self) -> None:
        super().__init__()
        import timm
        from timm.models.efficientnet import EfficientNet

        effnet = timm.create_model("tf_efficientnet_lite3", pretrained=False)
        if not isinstance(effnet, EfficientNet):
            raise TypeError(f"expected timm's EfficientNet, got {type(effnet).__name__}")
        # only the stem and the first seven stages are part of MiDaS
        effnet.conv_head = nn.Identity()
        effnet.bn2 = nn.Identity()
        effnet.classifier = nn.Identity()
        self.encoder = effnet
        self.scratch = Scratch((32, 48, 136, 384), 64, expand=True, align_corners=True)
        self.scratch.output_conv = _output_head(64, 32, align_corners=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        e = self.encoder
        blocks = e.blocks
        x = e.bn1(e.conv_stem(x))
        l1 = blocks[1](blocks[0](x))
        l2 = blocks[2](l1)
        l3 = blocks[4](blocks[3](l2))
        l4 = blocks[6](blocks[5](l3))
        scratch = self.scratch
        path = scratch.fuse((l1, l2, l3, l4), sized=False)
        out: torch.Tensor = scratch.output_conv(path)
        return out.squeeze(1)


class ProjectReadout(nn.Module):
    """Concatenate each patch token with the class token and project back (DPT
    ``readout=project``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project = nn.Sequential(nn.Linear(2 * dim, dim), nn.GELU())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        readout = x[:, :1].expand(-1, x.shape[1] - 1, -1)
        out: torch.Tensor = self.project(torch.cat((x[:, 1:], readout), -1))
        return out


DPT_CONFIGS = {
    # timm name, hooks, ViT width, reassemble channels, ResNet stages used as layers 1-2
    "dpt_large": ("vit_large_patch16_384", (5, 11, 17, 23), 1024, (256, 512, 1024, 1024), 0),
    "dpt_hybrid": ("vit_base_r50_s16_384", (0, 1, 8, 11), 768, (256, 512, 768, 768), 2),
}


def vit_postprocess(dim: int, chans: tuple[int, ...], i: int) -> list[nn.Module]:
    """DPT's ``act_postprocess{i+1}`` for a ViT stage, as the official code lays it out:
    readout, (transpose), (unflatten), 1x1 projection, then resampling to 1/4, 1/8, 1/16
    or 1/32 of the input for stages 0..3."""
    layers: list[nn.Module] = [
        ProjectReadout(dim),
        nn.Identity(),
        nn.Identity(),
        nn.Conv2d(dim, chans[i], kernel_size=1),
    ]
    if i == 0:
        layers.append(nn.ConvTranspose2d(chans[0], chans[0], 4, stride=4))
    elif i == 1:
        layers.append(nn.ConvTranspose2d(chans[1], chans[1], 2, stride=2))
    elif i == 3:
        layers.append(nn.Conv2d(chans[3], chans[3], 3, stride=2, padding=1))
    return layers


class Pretrained(nn.Module, Generic[_V]):
    """The official ``pretrained`` container: the transformer as ``model``, then its
    ``act_postprocessN`` stages (added by the network)."""

    def __init__(self, model: _V) -> None:
        super().__init__()
        self.model = model


class DPTNet(nn.Module):
    """DPT-Large / DPT-Hybrid: (B, 3, H, W), sides multiples of 32 → (B, H, W) relative
    inverse depth."""

    def __init__(self, variant: str = "dpt_large") -> None:
        super().__init__()
        import timm

        name, hooks, dim, chans, cnn_stages = DPT_CONFIGS[variant]
        self.hooks = hooks
        self.cnn_stages = cnn_stages
        self.pretrained = Pretrained(
            as_vit(timm.create_model(name, pretrained=False, weight_init="skip"))
        )
        for i in range(4):
            layers: list[nn.Module]
            if i < cnn_stages:  # ResNet stage output, used as is
                layers = [nn.Identity(), nn.Identity(), nn.Identity()]
            else:
                layers = vit_postprocess(dim, chans, i)
            self.pretrained.add_module(f"act_postprocess{i + 1}", nn.Sequential(*layers))
        self.scratch = Scratch(chans, 256, expand=False, align_corners=True)
        self.scratch.output_conv = _output_head(256, 32, align_corners=True)

    def _pos_embed(self, gh: int, gw: int) -> torch.Tensor:
        pos = vit_tokens(self.pretrained.model)[1]
        grid = pos[0, 1:]
        side = round(grid.shape[0] ** 0.5)
        grid = grid.reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(gh, gw), mode="bilinear", align_corners=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, gh * gw, -1)
        return torch.cat((pos[:, :1], grid), dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.pretrained.model
        gh, gw = x.shape[-2] // 16, x.shape[-1] // 16
        feats: list[torch.Tensor] = []
        if self.cnn_stages:
            cnn = vit.patch_embed.backbone
            h = cnn.stem(x)
            for s, stage in enumerate(cnn.stages):
                h = stage(h)
                if s < self.cnn_stages:
                    feats.append(h)
            h = cnn.norm(h)
            tokens = vit.patch_embed.proj(h)
        else:
            tokens = vit.patch_embed.proj(x)
        tokens = tokens.flatten(2).transpose(1, 2)
        cls_token = vit_tokens(vit)[0]
        tokens = torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self._pos_embed(gh, gw)
        taken = {}
        last = max(self.hooks)
        for i, block in enumerate(vit.blocks):
            tokens = block(tokens)
            if i in self.hooks:
                taken[i] = tokens
            if i == last:
                break
        layers = list(feats)
        for level in range(len(feats), 4):
            post: nn.Sequential = getattr(self.pretrained, f"act_postprocess{level + 1}")
            t = post[0](taken[self.hooks[level]])
            t = t.transpose(1, 2).reshape(t.shape[0], t.shape[2], gh, gw)
            for layer in list(post)[3:]:
                t = layer(t)
            layers.append(t)
        scratch = self.scratch
        path = scratch.fuse(layers, sized=True)
        out: torch.Tensor = scratch.output_conv(path)
        return out.squeeze(1)
