"""Depth Anything 3 (Lin et al., "Depth Anything 3: Recovering the Visual Space from Any
Views", 2025): a DINOv2 ViT with DA3's changes and a DPT-style head, for one image.

Our own implementation, with the official module names so the released
``model.safetensors`` files load with a strict key match (every key has the ``model.``
prefix of the official ``DepthAnything3`` wrapper):

- ``model.backbone.pretrained``: the ViT (``patch_embed.proj``, ``cls_token``,
  ``pos_embed``, ``blocks.N``, ``norm``). Any-view releases add ``camera_token`` (two
  learned tokens; for one image the first replaces the class token at block
  ``alt_start``), query/key LayerNorms from block ``qknorm_start`` and 2-D rotary position
  embeddings (base 100) from block ``rope_start``. From ``alt_start`` on, odd blocks are the
  "global" (cross-view) blocks: for one image they attend over the same tokens as the
  local ones, with every patch at position (1, 1) instead of its grid position. Decoder
  inputs concatenate the last local block's tokens (not normalised) with the current ones
  (normalised; ``cat_token``). Block LayerNorms use eps 1e-6, the final norm and the
  query/key norms 1e-5 (as the official code). Giant: SwiGLU feed-forward (``w12``, ``w3``).
- ``model.head``: ``DualDPT`` (any-view: depth + confidence; the ray branch ``*_aux``
  is loaded but not run: the official single-image path discards the rays when the camera
  decoder is present) or ``DPT`` (Mono / Metric: depth + sky). Both add sine/cosine UV
  position features (``pos_embed``) where the official heads do.
- ``model.cam_dec``: the camera decoder; only its field-of-view branch is run, for the
  estimated focal length. ``model.cam_enc`` (camera conditioning with known poses) and
  ``model.gs_head`` (Giant's Gaussian head) are held for strict loading and not run.

The official ray head shares one LayerNorm across its four levels
(``output_conv2_aux.{0..3}.2``); ``save_pretrained`` (safetensors) stores it once, under
level 0, so it lives there only here and the last level uses it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets.dinov2 import PATCH, PatchEmbed, SwiGLU, resize_pos_embed
from depth_ros.core.models.nets.dpt_head import FusionBlock


@dataclass(frozen=True)
class ViTConfig:
    """One DINOv2 size: width, depth, heads, SwiGLU (Giant)."""

    embed_dim: int
    depth: int
    heads: int
    swiglu: bool = False  # Giant: SwiGLU feed-forward


VITS = {
    "vits": ViTConfig(384, 12, 6),
    "vitb": ViTConfig(768, 12, 12),
    "vitl": ViTConfig(1024, 24, 16),
    "vitg": ViTConfig(1536, 40, 24, swiglu=True),
}


@dataclass(frozen=True)
class DA3Config:
    """One official configuration (``src/depth_anything_3/configs/*.yaml``)."""

    encoder: str
    out_layers: tuple[int, int, int, int]
    alt_start: int  # -1: no camera token, global blocks, query/key norms or RoPE
    qknorm_start: int
    rope_start: int
    cat_token: bool
    features: int
    out_channels: tuple[int, int, int, int]
    dual: bool  # DualDPT head (any-view) with camera decoder/encoder; else DPT with sky
    gs_head: bool = False  # Giant: the Gaussian head's weights (not run)


CONFIGS = {
    "da3-small": DA3Config("vits", (5, 7, 9, 11), 4, 4, 4, True, 64, (48, 96, 192, 384), True),
    "da3-base": DA3Config("vitb", (5, 7, 9, 11), 4, 4, 4, True, 128, (96, 192, 384, 768), True),
    "da3-large": DA3Config(
        "vitl", (11, 15, 19, 23), 8, 8, 8, True, 256, (256, 512, 1024, 1024), True
    ),
    "da3-giant": DA3Config(
        "vitg", (19, 27, 33, 39), 13, 13, 13, True, 256, (256, 512, 1024, 1024), True, True
    ),
    "da3mono-large": DA3Config(
        "vitl", (4, 11, 17, 23), -1, -1, -1, False, 256, (256, 512, 1024, 1024), False
    ),
    "da3metric-large": DA3Config(
        "vitl", (4, 11, 17, 23), -1, -1, -1, False, 256, (256, 512, 1024, 1024), False
    ),
}


# ---------------------------------------------------------------------------- ViT


class LayerScale(nn.Module):
    """x * gamma, a learned per-channel scale."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gamma = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.gamma


class Mlp(nn.Module):
    """fc2(gelu(fc1(x))), output width ``out`` (default: the input's)."""

    def __init__(self, dim: int, hidden: int, out: int | None = None) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, out or dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))
        return out


def rope_tables(
    positions: torch.Tensor, head_dim: int, base: float = 100.0
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cos and sin (N, head_dim) of the official 2-D RoPE for ``positions`` (N, 2) of
    (y, x): the first half of a head's features rotates with y, the second with x."""
    per_axis = head_dim // 2
    exponents = torch.arange(0, per_axis, 2, dtype=torch.float32, device=positions.device)
    inv_freq = 1.0 / (base ** (exponents / per_axis))
    tables = []
    for axis in (0, 1):
        angles = positions[:, axis].to(torch.float32)[:, None] * inv_freq[None]
        tables.append(torch.cat((angles, angles), dim=-1))
    angles = torch.cat(tables, dim=-1)  # (N, head_dim): y half, then x half
    return angles.cos(), angles.sin()


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """``x`` (B, heads, N, head_dim): each half rotated by its own axis' angles."""
    half = x.shape[-1] // 2
    c, s = cos.to(x.dtype), sin.to(x.dtype)
    y, xx = x[..., :half], x[..., half:]
    y = y * c[:, :half] + _rotate_half(y) * s[:, :half]
    xx = xx * c[:, half:] + _rotate_half(xx) * s[:, half:]
    return torch.cat((y, xx), dim=-1)


class Attention(nn.Module):
    """Multi-head self-attention, optional QK LayerNorm and 2-D RoPE."""

    def __init__(self, dim: int, heads: int, qk_norm: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3)
        self.q_norm: nn.Module = nn.LayerNorm(dim // heads) if qk_norm else nn.Identity()
        self.k_norm: nn.Module = nn.LayerNorm(dim // heads) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).reshape(b, n, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        q, k = self.q_norm(q), self.k_norm(k)
        if rope is not None:
            q, k = apply_rope(q, *rope), apply_rope(k, *rope)
        out = F.scaled_dot_product_attention(q, k, v)
        projected: torch.Tensor = self.proj(out.transpose(1, 2).reshape(b, n, c))
        return projected


class Block(nn.Module):
    """A pre-norm transformer block with LayerScale (``eps``: the LayerNorms' epsilon)."""

    def __init__(
        self,
        dim: int,
        heads: int,
        qk_norm: bool = False,
        swiglu: bool = False,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps)
        self.attn = Attention(dim, heads, qk_norm)
        self.ls1 = LayerScale(dim)
        self.norm2 = nn.LayerNorm(dim, eps=eps)
        self.mlp: nn.Module = SwiGLU(dim, 4 * dim) if swiglu else Mlp(dim, 4 * dim)
        self.ls2 = LayerScale(dim)

    def forward(
        self, x: torch.Tensor, rope: tuple[torch.Tensor, torch.Tensor] | None = None
    ) -> torch.Tensor:
        x = x + self.ls1(self.attn(self.norm1(x), rope))
        out: torch.Tensor = x + self.ls2(self.mlp(self.norm2(x)))
        return out


class DinoV2(nn.Module):
    """The backbone ViT (``backbone.pretrained``) for one image per batch element."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        vit = VITS[cfg.encoder]
        self.cfg = cfg
        self.embed_dim = vit.embed_dim
        self.head_dim = vit.embed_dim // vit.heads
        self.patch_embed = PatchEmbed(vit.embed_dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, vit.embed_dim))
        if cfg.alt_start != -1:
            self.camera_token = nn.Parameter(torch.zeros(1, 2, vit.embed_dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (518 // PATCH) ** 2 + 1, vit.embed_dim))
        self.blocks = nn.ModuleList(
            [
                Block(
                    vit.embed_dim,
                    vit.heads,
                    qk_norm=cfg.qknorm_start != -1 and i >= cfg.qknorm_start,
                    swiglu=vit.swiglu,
                )
                for i in range(vit.depth)
            ]
        )
        self.norm = nn.LayerNorm(vit.embed_dim)  # eps 1e-5, as the official code

    def _pos_embed(self, patch_h: int, patch_w: int) -> torch.Tensor:
        pos: torch.Tensor = self.pos_embed
        return resize_pos_embed(pos, patch_h, patch_w).to(pos.dtype)

    def _rope(
        self, patch_h: int, patch_w: int, device: torch.device
    ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
        """RoPE tables of the local blocks (patches at their grid position + 1, the
        class/camera token at 0) and of the global ones (every patch at (1, 1))."""
        ys = torch.arange(patch_h, device=device).repeat_interleave(patch_w)
        xs = torch.arange(patch_w, device=device).repeat(patch_h)
        zero = torch.zeros(1, 2, dtype=torch.long, device=device)
        local = torch.cat((zero, torch.stack((ys, xs), dim=-1) + 1), dim=0)
        ones = torch.ones(patch_h * patch_w, 2, dtype=torch.long, device=device)
        glob = torch.cat((zero, ones), dim=0)
        return rope_tables(local, self.head_dim), rope_tables(glob, self.head_dim)

    def forward(self, x: torch.Tensor) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(B, 3, H, W) → four (patch tokens (B, N, C'), camera token (B, C')) pairs of the
        ``out_layers``; C' = 2C with ``cat_token``."""
        cfg = self.cfg
        patch_h, patch_w = int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH
        b = x.shape[0]
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(b, -1, -1), tokens), dim=1)
        tokens = tokens + self._pos_embed(patch_h, patch_w)
        local_rope, global_rope = (
            self._rope(patch_h, patch_w, x.device) if cfg.rope_start != -1 else (None, None)
        )
        local = tokens
        taken = []
        for i, block in enumerate(self.blocks):
            rope = cfg.rope_start != -1 and i >= cfg.rope_start
            if cfg.alt_start != -1 and i == cfg.alt_start:
                # the reference view's camera token replaces the class token (in the
                # official code in place, so the last local output changes with it)
                tokens = torch.cat((self.camera_token[:, :1].expand(b, -1, -1), tokens[:, 1:]), 1)
                local = tokens
            if cfg.alt_start != -1 and i >= cfg.alt_start and i % 2 == 1:
                tokens = block(tokens, global_rope if rope else None)
            else:
                tokens = block(tokens, local_rope if rope else None)
                local = tokens
            if i in cfg.out_layers:
                taken.append(torch.cat((local, tokens), dim=-1) if cfg.cat_token else tokens)
        out = []
        for t in taken:
            cam = t[:, 0]
            if cfg.cat_token:
                t = torch.cat((t[..., : self.embed_dim], self.norm(t[..., self.embed_dim :])), -1)
            else:
                t = self.norm(t)
            out.append((t[:, 1:], cam))
        return out


class Backbone(nn.Module):
    """The official ``backbone`` container: the DINOv2 encoder as ``pretrained``."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        self.pretrained = DinoV2(cfg)


# ---------------------------------------------------------------------------- heads


def uv_embedding(
    channels: int, height: int, width: int, aspect: float, device: torch.device
) -> torch.Tensor:
    """The official heads' position features (channels, height, width): sine/cosine of
    UV coordinates spanning the image's aspect ratio (normalised by its diagonal), omega 100,
    times 0.1."""
    diag = (aspect**2 + 1.0) ** 0.5
    span_x, span_y = aspect / diag, 1.0 / diag
    xs = torch.linspace(
        -span_x * (width - 1) / width, span_x * (width - 1) / width, width, device=device
    )
    ys = torch.linspace(
        -span_y * (height - 1) / height, span_y * (height - 1) / height, height, device=device
    )
    uu, vv = torch.meshgrid(xs, ys, indexing="xy")  # (height, width)
    half = channels // 2
    omega = torch.arange(half // 2, dtype=torch.float32, device=device) / (half / 2.0)
    omega = 1.0 / 100.0**omega
    parts = []
    for coord in (uu.reshape(-1), vv.reshape(-1)):
        angles = coord[:, None] * omega[None]
        parts += [angles.sin(), angles.cos()]
    emb = torch.cat(parts, dim=-1).reshape(height, width, channels)
    return emb.permute(2, 0, 1) * 0.1


def _add_uv(x: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The input plus the position features for an image of ``height`` x ``width`` pixels."""
    pe = uv_embedding(x.shape[1], x.shape[-2], x.shape[-1], width / height, x.device)
    return x + pe.to(x.dtype)[None]


def _fusion_chain(scratch: nn.Module, suffix: str, features: int) -> None:
    for i in (1, 2, 3, 4):
        setattr(scratch, f"refinenet{i}{suffix}", FusionBlock(features, residual=i != 4))


def _out_head(features: int, out: int, norm: nn.Module | None = None) -> nn.Sequential:
    """Conv 3x3 → (LayerNorm over channels) → ReLU → conv 1x1, with the official
    indices (the LayerNorm at 2, between two permutes)."""
    mid: list[nn.Module] = [Permute((0, 2, 3, 1)), norm, Permute((0, 3, 1, 2))] if norm else []
    return nn.Sequential(
        nn.Conv2d(features, 32, 3, padding=1), *mid, nn.ReLU(), nn.Conv2d(32, out, 1)
    )


class Permute(nn.Module):
    """``x.permute(*dims)`` as a module (in the official heads' Sequentials)."""

    def __init__(self, dims: tuple[int, ...]) -> None:
        super().__init__()
        self.dims = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.permute(*self.dims)


class DPTHead(nn.Module):
    """The official ``DPT`` (Mono/Metric: depth + sky; Giant's ``gs_head``: its layout
    only) and ``DualDPT`` (any-view: depth + confidence, and the ray branch's weights)."""

    def __init__(
        self,
        dim_in: int,
        features: int,
        out_channels: Sequence[int],
        dual: bool,
        output_dim: int,
        sky: bool = False,
        images_merger: bool = False,
    ) -> None:
        super().__init__()
        self.dual = dual
        self.norm: nn.Module = nn.LayerNorm(dim_in) if dual else nn.Identity()
        self.projects = nn.ModuleList([nn.Conv2d(dim_in, c, 1) for c in out_channels])
        self.resize_layers = nn.ModuleList(
            [
                nn.ConvTranspose2d(out_channels[0], out_channels[0], 4, stride=4),
                nn.ConvTranspose2d(out_channels[1], out_channels[1], 2, stride=2),
                nn.Identity(),
                nn.Conv2d(out_channels[3], out_channels[3], 3, stride=2, padding=1),
            ]
        )
        scratch = nn.Module()
        for i, c in enumerate(out_channels, start=1):
            setattr(scratch, f"layer{i}_rn", nn.Conv2d(c, features, 3, padding=1, bias=False))
        _fusion_chain(scratch, "", features)
        scratch.output_conv1 = nn.Conv2d(features, features // 2, 3, padding=1)
        scratch.output_conv2 = _out_head(features // 2, output_dim)
        if sky:
            scratch.sky_output_conv2 = _out_head(features // 2, 1)
        if dual:
            _fusion_chain(scratch, "_aux", features)
            f, h = features, features // 2
            scratch.output_conv1_aux = nn.ModuleList(
                [
                    nn.Sequential(
                        nn.Conv2d(f, h, 3, padding=1),
                        nn.Conv2d(h, f, 3, padding=1),
                        nn.Conv2d(f, h, 3, padding=1),
                        nn.Conv2d(h, f, 3, padding=1),
                        nn.Conv2d(f, h, 3, padding=1),
                    )
                    for _ in range(4)
                ]
            )
            # one LayerNorm shared by the four levels: stored (and held) under level 0
            ln: nn.Module = nn.LayerNorm(32)
            scratch.output_conv2_aux = nn.ModuleList(
                [_out_head(h, 7, ln)]
                + [
                    nn.Sequential(
                        nn.Conv2d(h, 32, 3, padding=1),
                        Permute((0, 2, 3, 1)),
                        nn.Identity(),
                        Permute((0, 3, 1, 2)),
                        nn.ReLU(),
                        nn.Conv2d(32, 7, 1),
                    )
                    for _ in range(3)
                ]
            )
        self.scratch = scratch
        if images_merger:
            m = features // 2
            self.images_merger = nn.Sequential(
                nn.Conv2d(3, m // 4, 3, padding=1),
                nn.GELU(),
                nn.Conv2d(m // 4, m // 2, 3, padding=1),
                nn.GELU(),
                nn.Conv2d(m // 2, m, 3, padding=1),
                nn.GELU(),
            )

    def forward(self, tokens: Sequence[torch.Tensor], height: int, width: int) -> torch.Tensor:
        """Four (B, N, C) patch-token maps → (B, 2, height, width) logits: the main
        prediction's two channels (any-view: depth, confidence; Mono/Metric: depth, sky),
        before their activations."""
        ph, pw = height // PATCH, width // PATCH
        levels = []
        for i, t in enumerate(tokens):
            x = self.norm(t)
            x = x.permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], ph, pw)
            x = self.projects[i](x)
            if self.dual:
                x = _add_uv(x, height, width)
            levels.append(self.resize_layers[i](x))
        s = self.scratch.get_submodule  # its parts are named as in the checkpoints
        l1, l2, l3, l4 = (s(f"layer{i}_rn")(x) for i, x in enumerate(levels, 1))
        out = s("refinenet4")(l4, size=l3.shape[2:])
        out = s("refinenet3")(out, l3, size=l2.shape[2:])
        out = s("refinenet2")(out, l2, size=l1.shape[2:])
        out = s("output_conv1")(s("refinenet1")(out, l1))
        out = F.interpolate(out, (ph * PATCH, pw * PATCH), mode="bilinear", align_corners=True)
        if self.dual:
            logits: torch.Tensor = s("output_conv2")(_add_uv(out, height, width))
            return logits
        return torch.cat((s("output_conv2")(out), s("sky_output_conv2")(out)), dim=1)


# ---------------------------------------------------------------------------- camera


class CameraDec(nn.Module):
    """The camera decoder; only the field-of-view branch is run (``fov``)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.backbone = nn.Sequential(
            nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim), nn.ReLU()
        )
        self.fc_t = nn.Linear(dim, 3)
        self.fc_qvec = nn.Linear(dim, 4)
        self.fc_fov = nn.Sequential(nn.Linear(dim, 2), nn.ReLU())

    def fov(self, token: torch.Tensor) -> torch.Tensor:
        """(B, C) camera token → (B, 2) vertical and horizontal field of view (radians)."""
        # the official code casts to float32 here (its heads run outside autocast); the
        # network's own dtype here (float32, or float16 on the torch backend's request)
        out: torch.Tensor = self.fc_fov(self.backbone(token))
        return out


class CameraEnc(nn.Module):
    """The camera encoder (pose-conditioned multi-view inference): weights only."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.trunk = nn.Sequential(*[Block(dim, 16, eps=1e-5) for _ in range(4)])
        self.token_norm = nn.LayerNorm(dim)
        self.trunk_norm = nn.LayerNorm(dim)
        self.pose_branch = Mlp(9, dim // 2, dim)


# ---------------------------------------------------------------------------- network


class DA3Model(nn.Module):
    """One official ``DepthAnything3Net``: backbone, head and, for the any-view releases,
    camera decoder/encoder (and Giant's Gaussian head)."""

    def __init__(self, cfg: DA3Config) -> None:
        super().__init__()
        self.cfg = cfg
        dim = VITS[cfg.encoder].embed_dim
        dim_in = 2 * dim if cfg.cat_token else dim
        self.backbone = Backbone(cfg)
        self.head = DPTHead(
            dim_in, cfg.features, cfg.out_channels, cfg.dual, 2 if cfg.dual else 1, sky=not cfg.dual
        )
        if cfg.dual:
            self.cam_dec = CameraDec(dim_in)
            self.cam_enc = CameraEnc(dim)
        if cfg.gs_head:
            self.gs_head = DPTHead(
                dim_in, cfg.features, cfg.out_channels, False, 38, images_merger=True
            )

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        height, width = int(x.shape[-2]), int(x.shape[-1])
        feats = self.backbone.pretrained(x)
        logits = self.head([f[0] for f in feats], height, width)
        depth = torch.exp(logits[:, 0])
        if not self.cfg.dual:
            return depth, torch.relu(logits[:, 1])
        conf = torch.exp(logits[:, 1]) + 1.0
        fov = self.cam_dec.fov(feats[-1][1])
        fy = (height / 2.0) / torch.clamp(torch.tan(fov[:, 0] / 2.0), min=1e-6)
        fx = (width / 2.0) / torch.clamp(torch.tan(fov[:, 1] / 2.0), min=1e-6)
        return depth, conf, torch.stack((fx, fy), dim=-1)


#: nested releases: (any-view configuration, metric configuration)
NESTED = {"da3nested-giant-large": ("da3-giant", "da3metric-large")}


class NestedModel(nn.Module):
    """The nested releases' ``model``: the any-view network as ``da3`` and the Metric one
    as ``da3_metric`` (key names as the checkpoints)."""

    def __init__(self, da3: DA3Model, da3_metric: DA3Model) -> None:
        super().__init__()
        self.da3 = da3
        self.da3_metric = da3_metric


class DepthAnything3Net(nn.Module):
    """The whole network: (B, 3, H, W) normalised image, H and W multiples of 14, in.

    Out:

    - any-view: (depth (B, H, W), confidence (B, H, W), focal (B, 2)): depth up to scale
      (``exp``), the official confidence ``1 + exp`` (> 1), and the camera decoder's
      (fx, fy) in network-input pixels;
    - Mono / Metric: (depth (B, H, W), sky (B, H, W)): ``exp`` depth (relative, or metres
      x 300 / focal for Metric) and the sky head's ReLU output (sky where >= 0.3);
    - nested (``model.da3`` any-view + ``model.da3_metric`` Metric): the any-view outputs
      followed by the metric branch's two; the official alignment of the two is done on
      these outside the network (``depth_anything_v3.nested_metric``).
    """

    def __init__(self, config: str) -> None:
        super().__init__()
        self.config = config
        if config in NESTED:
            anyview, metric = NESTED[config]
            self.model: DA3Model | NestedModel = NestedModel(
                DA3Model(CONFIGS[anyview]), DA3Model(CONFIGS[metric])
            )
        else:
            self.model = DA3Model(CONFIGS[config])

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if isinstance(self.model, NestedModel):
            out: tuple[torch.Tensor, ...] = self.model.da3(x) + self.model.da3_metric(x)
            return out
        result: tuple[torch.Tensor, ...] = self.model(x)
        return result
