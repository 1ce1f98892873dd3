"""UniDepth V2 (Piccinelli et al., 2025): a DINOv2 ViT encoder, a camera head that predicts
pinhole intrinsics from the class tokens, and a decoder conditioned on the camera's rays.

Our own implementation of the official architecture (github.com/lpiccinelli-eth/UniDepth,
``unidepth/models/unidepthv2``); the module tree has the official names
(``pixel_encoder.*``, ``pixel_decoder.*``) so the released checkpoints load with a strict
key match. What the official forward does, and this one reproduces:

- encoder: DINOv2 (patch 14, LayerScale 1.0, no registers) with the position embedding
  resampled bicubically to the patch grid *by size* (the official ``interpolate_offset``
  is 0); the final LayerNorm (eps 1e-5, unlike the blocks' 1e-6) is applied to the
  outputs of four blocks (3, 6, 9, 12 for ViT-S/B; 6, 12, 18, 24 for ViT-L), which give
  the patch features and the class tokens.
- camera head: the four class tokens, adapted, go through two self-attention blocks with
  learned latent positions and an MLP to (fx, fy, cx, cy) = (exp(a) * 0.7 * diag,
  exp(b) * 0.7 * diag, sigmoid(c) * W, sigmoid(d) * H) at the network input's size.
- rays: unit vectors K^-1 [u + 0.5, v + 0.5, 1] at every input pixel, from the predicted
  intrinsics, or the rays of the given camera (``rays`` input, chosen by ``use_rays``).
- depth head: the rays, resampled to the patch grid (bilinear, antialiased), become polar
  and azimuth angles in log-spaced sine features; each of the four feature levels attends
  to them (cross-attention), and three residual conv blocks upsample 8x; a log-radius and
  a log-confidence map are upsampled to the input size (bilinear, align_corners=True).
- outputs: radius = exp(clip(log r, -8, 8) + 2), points = rays * radius, depth = the
  points' z (radius * cos of the ray's angle to the optical axis), confidence =
  exp(clip(log c, -8, 8)) (the official training regresses log c on the absolute depth
  error after median scale alignment: larger = less sure).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from numpy.typing import NDArray
from torch import nn

from depth_ros.core.models.nets import as_vit, vit_tokens

PATCH = 14


@dataclass(frozen=True)
class VariantConfig:
    """One UniDepth V2 size: its timm encoder, widths and the blocks that feed the decoder."""

    timm_name: str
    embed_dim: int
    hidden_dim: int  # decoder width
    out_dim: int  # decoder output width (lower bound)
    output_idx: tuple[int, int, int, int]  # 1-based blocks whose outputs feed the decoder


VARIANTS = {
    "vits": VariantConfig("vit_small_patch14_dinov2", 384, 256, 32, (3, 6, 9, 12)),
    "vitb": VariantConfig("vit_base_patch14_dinov2", 768, 384, 48, (3, 6, 9, 12)),
    "vitl": VariantConfig("vit_large_patch14_dinov2", 1024, 512, 64, (6, 12, 18, 24)),
}
NUM_HEADS = 8
EXPANSION = 4


# ---------------------------------------------------------------------------- layers


class LayerScale(nn.Module):
    """x * gamma, a learned per-channel scale."""

    def __init__(self, dim: int, init: float = 1.0) -> None:
        super().__init__()
        self.gamma = nn.Parameter(init * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class MLP(nn.Module):
    """LayerNorm, Linear, GELU, Linear (official ``unidepth.layers.MLP``)."""

    def __init__(self, dim: int, expansion: int = 4, output_dim: int | None = None) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.proj1 = nn.Linear(dim, int(dim * expansion))
        self.proj2 = nn.Linear(int(dim * expansion), output_dim or dim)
        self.act = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.proj2(self.act(self.proj1(self.norm(x))))
        return out


class AttentionBlock(nn.Module):
    """Pre-norm (cross-)attention and MLP with optional LayerScale (official
    ``AttentionBlock``): the query and the context have their own LayerNorm, keys/values
    come from one projection split as (kv, heads, dim), a position embedding is added to
    the heads' queries."""

    def __init__(self, dim: int, layer_scale: float, use_bias: bool = False) -> None:
        super().__init__()
        self.num_heads = NUM_HEADS
        self.mlp = MLP(dim, expansion=EXPANSION)
        self.kv = nn.Linear(dim, dim * 2, bias=use_bias)
        self.q = nn.Linear(dim, dim, bias=use_bias)
        self.norm_attnx = nn.LayerNorm(dim)
        self.norm_attnctx = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, dim, bias=use_bias)
        self.ls1: nn.Module = LayerScale(dim, layer_scale) if layer_scale > 0 else nn.Identity()
        self.ls2: nn.Module = LayerScale(dim, layer_scale) if layer_scale > 0 else nn.Identity()

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        return x.reshape(b, n, self.num_heads, c // self.num_heads).transpose(1, 2)

    def attn(
        self, x: torch.Tensor, context: torch.Tensor, pos_embed: torch.Tensor | None
    ) -> torch.Tensor:
        x = self.norm_attnx(x)
        context = self.norm_attnctx(context)
        k, v = self.kv(context).chunk(2, dim=-1)
        q = self.q(x)
        if pos_embed is not None:
            q = q + pos_embed
        out = F.scaled_dot_product_attention(self._heads(q), self._heads(k), self._heads(v))
        b, _, n, _ = out.shape
        result: torch.Tensor = self.out(out.transpose(1, 2).reshape(b, n, -1))
        return result

    def forward(
        self,
        x: torch.Tensor,
        context: torch.Tensor | None = None,
        pos_embed: torch.Tensor | None = None,
    ) -> torch.Tensor:
        context = x if context is None else context
        x = self.ls1(self.attn(x, context, pos_embed)) + x
        out: torch.Tensor = self.ls2(self.mlp(x)) + x
        return out


class AttentionLayer(nn.Module):
    """Cross-attention from the tokens to a context (the camera prompt of the depth head)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([AttentionBlock(dim, layer_scale=-1.0)])

    def forward(self, x: torch.Tensor, context: torch.Tensor) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, context=context)
        return x


class ResidualConvUnit(nn.Module):
    """x + gamma * conv(act(conv(act(x)))), a learned residual scale."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(dim, dim, 3, padding=1)
        self.conv2 = nn.Conv2d(dim, dim, 3, padding=1)
        self.activation = nn.LeakyReLU()
        self.gamma = nn.Parameter(torch.ones(1, dim, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.activation(self.conv1(self.activation(x))))
        result: torch.Tensor = self.gamma * out + x
        return result


class ResUpsampleBil(nn.Module):
    """Residual units, then a 1x1 projection and 2x bilinear upsampling."""

    def __init__(self, dim: int, output_dim: int, num_layers: int = 2) -> None:
        super().__init__()
        self.convs = nn.ModuleList([ResidualConvUnit(dim) for _ in range(num_layers)])
        self.up = nn.Sequential(
            nn.Conv2d(dim, output_dim, 1),
            nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
        out: torch.Tensor = self.up(x)
        return out


class ListAdapter(nn.Module):
    """One linear adapter per encoder level."""

    def __init__(self, input_dim: int, hidden_dim: int, n: int = 4) -> None:
        super().__init__()
        self.input_adapters = nn.ModuleList([nn.Linear(input_dim, hidden_dim) for _ in range(n)])

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        return [adapter(x) for adapter, x in zip(self.input_adapters, xs, strict=True)]


# ---------------------------------------------------------------------------- helpers


def pixel_grid(height: int, width: int, device: torch.device | str | None = None) -> torch.Tensor:
    """(3, H, W) homogeneous pixel centres (u + 0.5, v + 0.5, 1), as the official
    ``coords_grid``."""
    xs = torch.linspace(0.5, width - 0.5, width, device=device)
    ys = torch.linspace(0.5, height - 0.5, height, device=device)
    return torch.stack(
        [xs.repeat(height, 1), ys.repeat(width, 1).t(), torch.ones(height, width, device=device)]
    )


def intrinsics_rays(intrinsics: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """(B, 3, H, W) unit rays of pinhole intrinsics (B, 4) = (fx, fy, cx, cy)."""
    fx, fy, cx, cy = intrinsics.unbind(dim=-1)
    grid = pixel_grid(height, width, intrinsics.device).to(intrinsics.dtype)
    x = (grid[0][None] - cx[:, None, None]) / fx[:, None, None]
    y = (grid[1][None] - cy[:, None, None]) / fy[:, None, None]
    rays = torch.stack([x, y, torch.ones_like(x)], dim=1)
    unit: torch.Tensor = rays / torch.norm(rays, dim=1, keepdim=True).clamp(min=1e-5)
    return unit


@functools.lru_cache(maxsize=32)
def antialiased_weights(n_in: int, n_out: int) -> torch.Tensor:
    """(n_out, n_in) weights of PyTorch's antialiased bilinear resampling
    (``F.interpolate(mode="bilinear", antialias=True, align_corners=False)``) along one
    axis: a triangle filter widened by the scale, normalised per output sample. A matrix
    product with these weights equals the official ``flat_interpolate`` and exports to
    ONNX (whose Resize has no antialiasing before opset 18)."""
    scale = n_in / n_out
    support = scale if scale >= 1.0 else 1.0
    invscale = 1.0 / scale if scale >= 1.0 else 1.0
    import numpy as np

    # numpy, not torch: a traced (ONNX) graph gets the matrix as a constant
    weights = np.zeros((n_out, n_in))
    for i in range(n_out):
        center = scale * (i + 0.5)
        lo = max(int(center - support + 0.5), 0)
        hi = min(int(center + support + 0.5), n_in)
        w = np.maximum(1.0 - np.abs((np.arange(lo, hi) - center + 0.5) * invscale), 0.0)
        weights[i, lo:hi] = w / w.sum()
    return torch.from_numpy(weights.astype(np.float32))


@functools.lru_cache(maxsize=32)
def _log_scales(max_freq: int, bands: int) -> NDArray[np.float32]:
    """2 ** linspace(0, log2(max_freq), bands) as torch computes it in float32, returned
    as a numpy array so that an ONNX trace holds a float32 constant."""
    with torch.no_grad():
        exponents = torch.linspace(0.0, math.log2(max_freq), steps=bands, dtype=torch.float32)
        return (2.0**exponents).numpy().copy()


def fourier_features(x: torch.Tensor, dim: int, max_freq: int) -> torch.Tensor:
    """Sine features at log-spaced frequencies 1..max_freq (official
    ``generate_fourier_features(use_log=True, use_cos=False, cat_orig=False)``)."""
    bands = dim // int(x.shape[-1])
    scales = torch.from_numpy(_log_scales(int(max_freq), bands)).to(x)
    return (x.unsqueeze(-1) * scales * math.pi).sin().flatten(-2)


# ---------------------------------------------------------------------------- heads


class CameraHead(nn.Module):
    """The camera head: attention over the class tokens → pinhole intrinsics."""

    def __init__(self, hidden_dim: int) -> None:
        super().__init__()
        self.aggregate1 = AttentionBlock(hidden_dim, layer_scale=1.0)
        self.aggregate2 = AttentionBlock(hidden_dim, layer_scale=1.0)
        self.latents_pos = nn.Parameter(torch.zeros(1, 4, hidden_dim))
        self.project = MLP(hidden_dim, expansion=1, output_dim=hidden_dim)
        self.out_pinhole = MLP(hidden_dim, expansion=1, output_dim=1)

    def forward(self, cls_tokens: torch.Tensor, height: int, width: int) -> torch.Tensor:
        """(B, 4, C) class tokens → (B, 4) fx, fy, cx, cy at the input's size."""
        tokens = self.project(cls_tokens)
        pos = self.latents_pos.expand(cls_tokens.shape[0], -1, -1)
        tokens = self.aggregate2(self.aggregate1(tokens, pos_embed=pos), pos_embed=pos)
        fx, fy, cx, cy = self.out_pinhole(tokens).squeeze(-1).unbind(dim=-1)
        diagonal = (height**2 + width**2) ** 0.5
        return torch.stack(
            [
                torch.exp(fx) * (0.7 * diagonal),
                torch.exp(fy) * (0.7 * diagonal),
                torch.sigmoid(cx) * width,
                torch.sigmoid(cy) * height,
            ],
            dim=1,
        )


class DepthHead(nn.Module):
    """The depth head: camera-prompted features of the four levels, upsampled and fused to log-depth
    and confidence."""

    def __init__(self, hidden_dim: int, out_dim: int, depths: tuple[int, ...] = (2, 2, 2)) -> None:
        super().__init__()
        self.hidden_dim = hidden_dim
        self.ups = nn.ModuleList()
        self.depth_mlp = nn.ModuleList()
        self.process_features = nn.ModuleList()
        self.prompt_camera = nn.ModuleList([AttentionLayer(hidden_dim) for _ in range(4)])
        self.to_latents = nn.Linear(hidden_dim, hidden_dim)
        mult = 2
        next_dim = output_dim = hidden_dim
        for i, depth in enumerate(depths):
            current_dim = min(hidden_dim, mult * hidden_dim // 2**i)
            next_dim = mult * hidden_dim // 2 ** (i + 1)
            output_dim = max(next_dim, out_dim)
            k = max(1, 2 * i)
            self.process_features.append(nn.ConvTranspose2d(hidden_dim, current_dim, k, k))
            self.ups.append(ResUpsampleBil(current_dim, output_dim, depth))
            self.depth_mlp.append(
                nn.Sequential(nn.LayerNorm(next_dim), nn.Linear(next_dim, output_dim))
                if i == len(depths) - 1
                else nn.Identity()
            )
        self.confidence_mlp = nn.Sequential(nn.LayerNorm(next_dim), nn.Linear(next_dim, output_dim))

        def lowres() -> nn.Module:
            return nn.Conv2d(output_dim, output_dim // 2, 3, padding=1, padding_mode="reflect")

        def highres() -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(output_dim // 2, 32, 3, padding=1, padding_mode="reflect"),
                nn.LeakyReLU(),
                nn.Conv2d(32, 1, 1),
            )

        self.to_depth_lr = lowres()
        self.to_confidence_lr = lowres()
        self.to_depth_hr = highres()
        self.to_confidence_hr = highres()

    def embed_rays(self, rays: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        """(B, 3, H, W) rays → (B, h*w, C) sine features of their polar and azimuth angles
        on the patch grid."""
        height, width = int(rays.shape[-2]), int(rays.shape[-1])
        grid = (int(grid[0]), int(grid[1]))  # Python ints (tracing gives tensors)
        if (height, width) != grid:
            wh = antialiased_weights(height, grid[0]).to(rays)
            ww = antialiased_weights(width, grid[1]).to(rays)
            rays = torch.matmul(torch.matmul(wh, rays), ww.t())
        rays = rays.flatten(2).transpose(1, 2)
        rays = rays / torch.norm(rays, dim=-1, keepdim=True).clip(min=1e-4)
        x, y, z = rays.unbind(dim=-1)
        polar = torch.acos(z)
        x_clipped = x.abs().clip(min=1e-3) * (2 * (x >= 0).to(x.dtype) - 1)
        azimuth = torch.atan2(y, x_clipped)
        angles = torch.stack([polar, azimuth], dim=-1)
        return fourier_features(angles, self.hidden_dim, max(grid) // 2)

    def _project(
        self,
        features: torch.Tensor,
        mlp: nn.Module,
        lowres: nn.Module,
        highres: nn.Module,
        size: tuple[int, int],
    ) -> torch.Tensor:
        x = mlp(features.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        x = F.interpolate(lowres(x), size=size, mode="bilinear", align_corners=True)
        out: torch.Tensor = highres(x)
        return out

    def forward(
        self, features: list[torch.Tensor], rays: torch.Tensor, size: tuple[int, int]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Features (B, h, w, C) x 4 and rays (B, 3, H, W) → log radius, log confidence
        (B, 1, H, W)."""
        b, h, w, c = features[0].shape
        embedding = self.embed_rays(rays, (h, w))
        cond = [
            prompt(f.reshape(b, h * w, c), embedding)
            for prompt, f in zip(self.prompt_camera, features, strict=True)
        ]
        maps = [x.transpose(1, 2).reshape(b, c, h, w) for x in cond]
        latents = self.to_latents(cond[0]).transpose(1, 2).reshape(b, c, h, w)
        for i, up in enumerate(self.ups):
            latents = up(latents + self.process_features[i](maps[i + 1]))
        logdepth = self._project(
            latents, self.depth_mlp[-1], self.to_depth_lr, self.to_depth_hr, size
        )
        logconf = self._project(
            latents, self.confidence_mlp, self.to_confidence_lr, self.to_confidence_hr, size
        )
        return logdepth, logconf


class PixelDecoder(nn.Module):
    """The official ``pixel_decoder``: level adapters, camera head and depth head."""

    def __init__(self, embed_dim: int, hidden_dim: int, out_dim: int) -> None:
        super().__init__()
        # unused at inference (the official position/level embeddings reach no output);
        # a fixed buffer-like parameter in the official checkpoints
        self.level_embeds = nn.Parameter(torch.zeros(1, 1, 4, hidden_dim), requires_grad=False)
        self.input_adapter = ListAdapter(embed_dim, hidden_dim)
        self.camera_token_adapter = ListAdapter(embed_dim, hidden_dim)
        self.camera_layer = CameraHead(hidden_dim)
        self.depth_layer = DepthHead(hidden_dim, out_dim)


# ---------------------------------------------------------------------------- network


class UniDepthV2Net(nn.Module):
    """(B, 3, H, W) normalised image (H, W multiples of 14), (B, 3, H, W) unit rays of the
    given camera and ``use_rays`` (a 1-element tensor: 1 = use those rays, 0 = use the
    rays of the predicted intrinsics) → depth (B, 1, H, W) in metres, the official
    confidence (B, 1, H, W; larger = less sure) and the predicted intrinsics (B, 4:
    fx, fy, cx, cy in input pixels)."""

    def __init__(self, variant: str = "vits") -> None:
        super().__init__()
        import timm

        cfg = VARIANTS[variant]
        self.variant = variant
        self.take = tuple(i - 1 for i in cfg.output_idx)
        self.pixel_encoder = as_vit(
            timm.create_model(
                cfg.timm_name, pretrained=False, num_classes=0, img_size=518, weight_init="skip"
            )
        )
        # official DINOv2 tokens unused at inference but present in the checkpoints
        self.pixel_encoder.register_parameter(
            "register_tokens", nn.Parameter(torch.zeros(1, 1, cfg.embed_dim))
        )
        self.pixel_encoder.register_parameter(
            "mask_token", nn.Parameter(torch.zeros(1, cfg.embed_dim))
        )
        final_norm = self.pixel_encoder.norm
        if not isinstance(final_norm, nn.LayerNorm):
            raise TypeError(f"expected the ViT's final LayerNorm, got {type(final_norm).__name__}")
        final_norm.eps = 1e-5  # the official final norm is a default LayerNorm (1e-5)
        self.pixel_decoder = PixelDecoder(cfg.embed_dim, cfg.hidden_dim, cfg.out_dim)

    def _pos_embed(self, patch_h: int, patch_w: int, height: int, width: int) -> torch.Tensor:
        pos = vit_tokens(self.pixel_encoder)[1]
        n = pos.shape[1] - 1
        if patch_h * patch_w == n and height == width:
            return pos
        side = int(math.sqrt(n))
        grid = pos[:, 1:].float().reshape(1, side, side, -1).permute(0, 3, 1, 2)
        grid = F.interpolate(grid, size=(patch_h, patch_w), mode="bicubic", antialias=False)
        grid = grid.permute(0, 2, 3, 1).reshape(1, patch_h * patch_w, -1).to(pos.dtype)
        return torch.cat((pos[:, :1], grid), dim=1)

    def encode(self, x: torch.Tensor) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Patch features (B, h, w, C) and class tokens (B, 1, C) of the four blocks."""
        height, width = int(x.shape[-2]), int(x.shape[-1])
        patch_h, patch_w = height // PATCH, width // PATCH
        vit = self.pixel_encoder
        tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        cls_token = vit_tokens(vit)[0]
        tokens = torch.cat((cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self._pos_embed(patch_h, patch_w, height, width)
        features, cls_tokens = [], []
        for i, block in enumerate(vit.blocks):
            tokens = block(tokens)
            if i in self.take:
                normed = vit.norm(tokens)
                cls_tokens.append(normed[:, :1])
                features.append(normed[:, 1:].reshape(x.shape[0], patch_h, patch_w, -1))
        return features, cls_tokens

    def forward(
        self, image: torch.Tensor, rays: torch.Tensor, use_rays: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        height, width = int(image.shape[-2]), int(image.shape[-1])
        features, cls_tokens = self.encode(image)
        dec = self.pixel_decoder
        features = dec.input_adapter(features)
        camera_tokens = torch.cat(dec.camera_token_adapter(cls_tokens), dim=1)
        intrinsics = dec.camera_layer(camera_tokens, height, width)
        predicted = intrinsics_rays(intrinsics, height, width)
        chosen = torch.where(
            use_rays.reshape(-1, 1, 1, 1) > 0.5, rays.to(predicted.dtype), predicted
        )
        logdepth, logconf = dec.depth_layer(features, chosen, (height, width))
        radius = torch.exp(logdepth.clip(min=-8.0, max=8.0) + 2.0)
        depth = chosen[:, 2:3] * radius
        confidence = torch.exp(logconf.clip(min=-8.0, max=8.0))
        return depth, confidence, intrinsics
