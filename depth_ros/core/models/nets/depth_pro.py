"""Depth Pro (Bochkovskii et al., ICLR 2025): a multi-scale ViT encoder, a multi-resolution
convolutional decoder and a field-of-view head.

The module tree reproduces the official ``DepthPro`` network (github.com/apple/ml-depth-pro,
``create_model_and_transforms``) so that the released ``depth_pro.pt`` (a plain state dict)
loads with a strict key match:

- ``encoder.patch_encoder`` / ``encoder.image_encoder`` / ``fov.encoder.0``: three DINOv2
  ViT-L backbones (timm's ``vit_large_patch14_dinov2`` re-cut to 16-pixel patches at 384x384,
  i.e. a 24x24 token grid; LayerScale, final LayerNorm, class token);
- ``encoder.upsample_*`` / ``encoder.fuse_lowres``: projections and transposed convolutions
  of the patch encodings;
- ``decoder.convs`` / ``decoder.fusions``: the DPT-style fusion blocks;
- ``head``: the canonical inverse depth head; ``fov``: the field-of-view head.

The forward pass is our own and follows the official one: a 3-level image pyramid (1536,
768, 384), 5x5 and 3x3 overlapping 384-pixel tiles (25 % and 50 % overlap) and the whole
image at 384 through the patch encoder in one batch, tiles merged back with the official
overlap trimming (3 and 6 tokens), intermediate outputs of blocks 5 and 11 of the patch
encoder as the two highest-resolution features, the image encoder on the 384 image, and the
FOV head on the 384 image plus the lowest-resolution decoder feature. It returns the
canonical inverse depth at the input size and the estimated horizontal field of view in
degrees, as the official ``DepthPro.forward``.

:class:`DepthProConfig` parametrises the sizes; the default is the official configuration.
Smaller ones (used in tests) keep every official ratio: the token grid of a backbone is a
multiple of 8, the tile trimming is 1/8 and 1/4 of it, the FOV head's last kernel 1/4 of it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets import as_vit, vit_tokens

if TYPE_CHECKING:
    from timm.models.vision_transformer import VisionTransformer


@dataclass(frozen=True)
class DepthProConfig:
    """Sizes of the network; the defaults are the official ``dinov2l16_384`` preset."""

    embed_dim: int = 1024
    depth: int = 24
    num_heads: int = 16
    patch_size: int = 16
    vit_size: int = 384  # side of a backbone input (one tile); the network input is 4x that
    hook_ids: tuple[int, int] = (5, 11)  # patch-encoder blocks giving the two finest features
    encoder_dims: tuple[int, int, int, int] = (256, 512, 1024, 1024)
    decoder_features: int = 256
    last_dims: tuple[int, int] = (32, 1)
    layer_scale: float = 1e-5  # DINOv2's LayerScale (its presence gives the ``gamma`` keys)

    @property
    def grid(self) -> int:
        """Tokens per side of one backbone input (24 in the official network)."""
        return self.vit_size // self.patch_size

    @property
    def img_size(self) -> int:
        """Side of the (square) network input: 1536 in the official network."""
        return 4 * self.vit_size

    def validate(self) -> None:
        if self.vit_size % self.patch_size or self.grid % 8:
            raise ValueError(f"vit_size/patch_size must be a multiple of 8 tokens, got {self.grid}")


OFFICIAL = DepthProConfig()


def _vit(cfg: DepthProConfig) -> VisionTransformer:
    """A DINOv2-style ViT with the official Depth Pro backbone's parameter names."""
    from timm.models.vision_transformer import VisionTransformer

    return VisionTransformer(
        img_size=cfg.vit_size,
        patch_size=cfg.patch_size,
        embed_dim=cfg.embed_dim,
        depth=cfg.depth,
        num_heads=cfg.num_heads,
        init_values=cfg.layer_scale,
        num_classes=0,
        weight_init="skip",  # the weights come from a checkpoint
    )


def vit_features(
    vit: VisionTransformer, x: torch.Tensor, hooks: tuple[int, ...] = ()
) -> list[torch.Tensor]:
    """The timm ``forward_features`` of a ViT at its native size (patch embedding, class token,
    position embedding, blocks, final norm), plus the raw outputs of the blocks in ``hooks``
    (as the official forward hooks take them): ``[block outputs..., normed tokens]``."""
    tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
    cls_token, pos_embed = vit_tokens(vit)
    tokens = torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
    tokens = tokens + pos_embed
    taken = []
    for i, block in enumerate(vit.blocks):
        tokens = block(tokens)
        if i in hooks:
            taken.append(tokens)
    taken.append(vit.norm(tokens))
    return taken


def _project_upsample(
    dim_in: int, dim_out: int, layers: int, dim_int: int | None = None
) -> nn.Sequential:
    """1x1 projection then ``layers`` stride-2 transposed convolutions (no biases)."""
    mid = dim_out if dim_int is None else dim_int
    blocks: list[nn.Module] = [nn.Conv2d(dim_in, mid, 1, bias=False)]
    blocks += [
        nn.ConvTranspose2d(mid if i == 0 else dim_out, dim_out, 2, stride=2, bias=False)
        for i in range(layers)
    ]
    return nn.Sequential(*blocks)


def _tokens_to_map(tokens: torch.Tensor, side: int) -> torch.Tensor:
    """(B, 1 + side², C) tokens → (B, C, side, side), the class token dropped."""
    b, _, c = tokens.shape
    return tokens[:, 1:].reshape(b, side, side, c).permute(0, 3, 1, 2)


def split_tiles(x: torch.Tensor, tile: int, overlap: float) -> torch.Tensor:
    """Square tiles of side ``tile`` with a sliding window (row-major), batched along dim 0
    as the official ``DepthProEncoder.split``."""
    stride = int(tile * (1 - overlap))
    steps = math.ceil((x.shape[-1] - tile) / stride) + 1
    return torch.cat(
        [
            x[..., j * stride : j * stride + tile, i * stride : i * stride + tile]
            for j in range(steps)
            for i in range(steps)
        ],
        dim=0,
    )


def merge_tiles(x: torch.Tensor, batch: int, padding: int) -> torch.Tensor:
    """Inverse of :func:`split_tiles` on feature maps: each tile loses ``padding`` cells on
    the sides it shares with a neighbour (the official ``DepthProEncoder.merge``)."""
    steps = int(math.sqrt(x.shape[0] // batch))
    rows = []
    for j in range(steps):
        row = []
        for i in range(steps):
            t = x[batch * (j * steps + i) : batch * (j * steps + i + 1)]
            top = padding if j != 0 else 0
            bottom = t.shape[-2] - (padding if j != steps - 1 else 0)
            left = padding if i != 0 else 0
            right = t.shape[-1] - (padding if i != steps - 1 else 0)
            row.append(t[..., top:bottom, left:right])
        rows.append(torch.cat(row, dim=-1))
    return torch.cat(rows, dim=-2)


class DepthProEncoder(nn.Module):
    """Multi-resolution encodings from the patch and image encoders (official names)."""

    def __init__(self, cfg: DepthProConfig) -> None:
        super().__init__()
        self.cfg = cfg
        dims, e = cfg.encoder_dims, cfg.embed_dim
        self.patch_encoder = _vit(cfg)
        self.image_encoder = _vit(cfg)
        self.upsample_latent0 = _project_upsample(e, cfg.decoder_features, 3, dim_int=dims[0])
        self.upsample_latent1 = _project_upsample(e, dims[0], 2)
        self.upsample0 = _project_upsample(e, dims[1], 1)
        self.upsample1 = _project_upsample(e, dims[2], 1)
        self.upsample2 = _project_upsample(e, dims[3], 1)
        self.upsample_lowres = nn.ConvTranspose2d(e, dims[3], 2, stride=2, bias=True)
        self.fuse_lowres = nn.Conv2d(2 * dims[3], dims[3], 1, bias=True)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        cfg = self.cfg
        batch, g = x.shape[0], cfg.grid
        x1 = F.interpolate(x, scale_factor=0.5, mode="bilinear", align_corners=False)
        x2 = F.interpolate(x, scale_factor=0.25, mode="bilinear", align_corners=False)
        tiles0 = split_tiles(x, cfg.vit_size, 0.25)  # 5x5 at full resolution
        tiles1 = split_tiles(x1, cfg.vit_size, 0.5)  # 3x3 at half resolution
        n0, n1 = tiles0.shape[0], tiles1.shape[0]
        hook0, hook1, out = vit_features(
            self.patch_encoder, torch.cat((tiles0, tiles1, x2), dim=0), cfg.hook_ids
        )
        latent0 = merge_tiles(_tokens_to_map(hook0[:n0], g), batch, g // 8)
        latent1 = merge_tiles(_tokens_to_map(hook1[:n0], g), batch, g // 8)
        maps = _tokens_to_map(out, g)
        feat0 = merge_tiles(maps[:n0], batch, g // 8)
        feat1 = merge_tiles(maps[n0 : n0 + n1], batch, g // 4)
        feat2 = maps[n0 + n1 :]
        glob = _tokens_to_map(vit_features(self.image_encoder, x2)[-1], g)
        feat2 = self.upsample2(feat2)
        glob = self.fuse_lowres(torch.cat((feat2, self.upsample_lowres(glob)), dim=1))
        return [
            self.upsample_latent0(latent0),
            self.upsample_latent1(latent1),
            self.upsample0(feat0),
            self.upsample1(feat1),
            glob,
        ]


class _Residual(nn.Module):
    """ReLU-conv3x3-ReLU-conv3x3 with an identity shortcut (``residual.1`` / ``.3``)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.residual = nn.Sequential(
            nn.ReLU(False),
            nn.Conv2d(n, n, 3, padding=1),
            nn.ReLU(False),
            nn.Conv2d(n, n, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = x + self.residual(x)
        return out


class FeatureFusion(nn.Module):
    """The official ``FeatureFusionBlock2d`` (no batch norm)."""

    def __init__(self, n: int, deconv: bool) -> None:
        super().__init__()
        self.resnet1 = _Residual(n)
        self.resnet2 = _Residual(n)
        self.deconv = nn.ConvTranspose2d(n, n, 2, stride=2, bias=False) if deconv else None
        self.out_conv = nn.Conv2d(n, n, 1, bias=True)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.resnet1(skip)
        x = self.resnet2(x)
        if self.deconv is not None:
            x = self.deconv(x)
        out: torch.Tensor = self.out_conv(x)
        return out


class MultiresConvDecoder(nn.Module):
    """Fuses the encodings from the coarsest to the finest (official names)."""

    def __init__(self, dims: list[int], dim: int) -> None:
        super().__init__()
        first: nn.Module = (
            nn.Conv2d(dims[0], dim, 1, bias=False) if dims[0] != dim else nn.Identity()
        )
        self.convs = nn.ModuleList(
            [first] + [nn.Conv2d(d, dim, 3, padding=1, bias=False) for d in dims[1:]]
        )
        self.fusions = nn.ModuleList([FeatureFusion(dim, deconv=i != 0) for i in range(len(dims))])

    def forward(self, encodings: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        lowres = self.convs[-1](encodings[-1])
        features = self.fusions[-1](lowres)
        for i in range(len(encodings) - 2, -1, -1):
            features = self.fusions[i](features, self.convs[i](encodings[i]))
        return features, lowres


class FOVNetwork(nn.Module):
    """Field-of-view head with its own ViT encoder (the official ``FOVNetwork``)."""

    def __init__(self, cfg: DepthProConfig) -> None:
        super().__init__()
        n = cfg.decoder_features
        self.encoder = nn.Sequential(_vit(cfg), nn.Linear(cfg.embed_dim, n // 2))
        self.downsample = nn.Sequential(nn.Conv2d(n, n // 2, 3, stride=2, padding=1), nn.ReLU(True))
        self.head = nn.Sequential(
            nn.Conv2d(n // 2, n // 4, 3, stride=2, padding=1),
            nn.ReLU(True),
            nn.Conv2d(n // 4, n // 8, 3, stride=2, padding=1),
            nn.ReLU(True),
            nn.Conv2d(n // 8, 1, cfg.grid // 4),  # 6x6 in the official network
        )

    def forward(self, x: torch.Tensor, lowres: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, scale_factor=0.25, mode="bilinear", align_corners=False)
        vit, linear = as_vit(self.encoder[0]), self.encoder[1]
        tokens = linear(vit_features(vit, x)[-1])[:, 1:].permute(0, 2, 1)
        low = self.downsample(lowres)
        out: torch.Tensor = self.head(tokens.reshape_as(low) + low)
        return out


class DepthProNet(nn.Module):
    """(B, 3, S, S) image in [-1, 1], S = ``cfg.img_size`` (1536) → canonical inverse depth
    (B, 1, S, S) and the horizontal field of view (B, 1, 1, 1) in degrees."""

    def __init__(self, cfg: DepthProConfig = OFFICIAL) -> None:
        super().__init__()
        cfg.validate()
        self.cfg = cfg
        n = cfg.decoder_features
        self.encoder = DepthProEncoder(cfg)
        self.decoder = MultiresConvDecoder([n, *cfg.encoder_dims], n)
        self.head = nn.Sequential(
            nn.Conv2d(n, n // 2, 3, padding=1),
            nn.ConvTranspose2d(n // 2, n // 2, 2, stride=2, bias=True),
            nn.Conv2d(n // 2, cfg.last_dims[0], 3, padding=1),
            nn.ReLU(True),
            nn.Conv2d(cfg.last_dims[0], cfg.last_dims[1], 1),
            nn.ReLU(),
        )
        self.fov = FOVNetwork(cfg)

    @property
    def img_size(self) -> int:
        return self.cfg.img_size

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if tuple(x.shape[-2:]) != (self.img_size, self.img_size):
            raise ValueError(
                f"Depth Pro takes {self.img_size}x{self.img_size} inputs, got {tuple(x.shape)}"
            )
        features, lowres = self.decoder(self.encoder(x))
        inverse_depth: torch.Tensor = self.head(features)
        return inverse_depth, self.fov(x, lowres.detach())
