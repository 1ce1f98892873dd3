"""ZoeDepth (Bhat et al., "ZoeDepth: Zero-shot Transfer by Combining Relative and Metric
Depth", 2023): the MiDaS v3.1 DPT BEiT-L/16 384 network and metric bins heads.

Module and buffer names follow the official checkpoints ``ZoeD_M12_{N,K,NK}.pt`` (the
state dict under ``model``; test/data/zoedepth_keys.json, generated from the official code
with timm 0.6.12 as MiDaS pins), so those files load unchanged with a strict match:

- ``core.core`` is MiDaS ``DPTDepthModel(backbone="beitl16_384")``: ``pretrained.model`` a
  BEiT-L/16 (our own module with timm 0.6's parameter names, including the unused
  classifier ``fc_norm``/``head`` and the ``relative_position_index`` buffers, which newer
  timm no longer saves), ``pretrained.act_postprocessN`` the DPT reassemble stages
  (readout ``project``, hooks on blocks 5, 11, 17, 23) and ``scratch`` the DPT decoder;
- the metric head(s): ``conv2``, seed bin regressor, projectors, attractors and the
  conditional log-binomial output; ZoeD_NK adds ``patch_transformer`` +
  ``mlp_classifier``, the router that picks the NYU or the KITTI head per image.

The BEiT attention reproduces MiDaS' patch for arbitrary input sizes: the relative position
bias table is resampled bilinearly (align_corners=False) to the input's patch grid and
indexed with the grid's relative position index.

:class:`ZoeDepthNet` runs the official ``DepthModel.infer`` with its defaults (those of
``infer_pil``): the image in [0, 1] at its own size, reflect padding by
``int(sqrt(side / 2) * 3)`` pixels per border, MiDaS' resize (``minimal``, keep aspect
ratio, multiple of 32, bilinear align_corners=True, to near ``img_size``) and 0.5/0.5
normalisation, the network, bicubic (align_corners=False) upsampling of the metric depth to
the padded size, cropping, and the average with the prediction on the mirrored image.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets.dpt_head import Scratch
from depth_ros.core.models.nets.midas import Pretrained, _output_head, vit_postprocess

PATCH = 16
BEIT_WINDOW = (24, 24)  # BEiT-L/16 at 384: the grid its relative position table is for


# ---------------------------------------------------------------------------- BEiT


def relative_position_index(window: tuple[int, int]) -> torch.Tensor:
    """BEiT's index into the relative position bias table for a (rows, cols) patch grid
    plus the class token (timm ``gen_relative_position_index``)."""
    wh, ww = window
    n_rel = (2 * wh - 1) * (2 * ww - 1) + 3
    ys, xs = torch.meshgrid(torch.arange(wh), torch.arange(ww), indexing="ij")
    coords = torch.stack((ys.flatten(), xs.flatten()))  # 2, N
    rel = (coords[:, :, None] - coords[:, None, :]).permute(1, 2, 0)  # N, N, 2
    idx = (rel[..., 0] + wh - 1) * (2 * ww - 1) + (rel[..., 1] + ww - 1)
    out = torch.zeros((wh * ww + 1,) * 2, dtype=torch.int64)
    out[1:, 1:] = idx
    out[0, 0:] = n_rel - 3
    out[0:, 0] = n_rel - 2
    out[0, 0] = n_rel - 1
    return out


class BeitAttention(nn.Module):
    """BEiT self-attention with a relative position bias over the patch grid (q and v biases, no k
    bias)."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int] = BEIT_WINDOW) -> None:
        super().__init__()
        self.num_heads = heads
        self.scale = (dim // heads) ** -0.5
        self.window = window
        self.q_bias = nn.Parameter(torch.zeros(dim))
        self.v_bias = nn.Parameter(torch.zeros(dim))
        n_rel = (2 * window[0] - 1) * (2 * window[1] - 1) + 3
        self.relative_position_bias_table = nn.Parameter(torch.zeros(n_rel, heads))
        # unused at inference (the index follows the input size), but in the official files
        self.register_buffer("relative_position_index", relative_position_index(window))
        self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.proj = nn.Linear(dim, dim)
        self._indices: dict[tuple[int, int], torch.Tensor] = {}

    def rel_pos_bias(self, grid: tuple[int, int]) -> torch.Tensor:
        """(1, heads, N+1, N+1) bias for a patch grid: the table resampled to the grid."""
        table: torch.Tensor = self.relative_position_bias_table
        old_h, old_w = 2 * self.window[0] - 1, 2 * self.window[1] - 1
        new_h, new_w = 2 * grid[0] - 1, 2 * grid[1] - 1
        sub = table[: old_h * old_w].reshape(1, old_w, old_h, -1).permute(0, 3, 1, 2)
        sub = F.interpolate(sub, size=(new_h, new_w), mode="bilinear", align_corners=False)
        sub = sub.permute(0, 2, 3, 1).reshape(new_h * new_w, -1)
        table = torch.cat((sub, table[old_h * old_w :]))
        if grid not in self._indices:
            self._indices[grid] = relative_position_index(grid).to(table.device)
        n = grid[0] * grid[1] + 1
        bias = table[self._indices[grid].view(-1)].view(n, n, -1)
        return bias.permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        b, n, _ = x.shape
        bias = torch.cat((self.q_bias, torch.zeros_like(self.v_bias), self.v_bias))
        qkv = F.linear(x, self.qkv.weight, bias).reshape(b, n, 3, self.num_heads, -1)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attn = (q * self.scale) @ k.transpose(-2, -1) + self.rel_pos_bias(grid)
        out = (attn.softmax(dim=-1) @ v).transpose(1, 2).reshape(b, n, -1)
        projected: torch.Tensor = self.proj(out)
        return projected


class Mlp(nn.Module):
    """fc2(gelu(fc1(x)))."""

    def __init__(self, dim: int, hidden: int) -> None:
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.fc2(self.act(self.fc1(x)))
        return out


class BeitBlock(nn.Module):
    """A pre-norm BEiT block with LayerScale (``gamma_1``, ``gamma_2``)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.gamma_1 = nn.Parameter(torch.ones(dim))
        self.gamma_2 = nn.Parameter(torch.ones(dim))
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = BeitAttention(dim, heads)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = Mlp(dim, 4 * dim)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        x = x + self.gamma_1 * self.attn(self.norm1(x), grid)
        out: torch.Tensor = x + self.gamma_2 * self.mlp(self.norm2(x))
        return out


class PatchEmbed(nn.Module):
    """16 px patches (``proj``, a strided convolution)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(3, dim, kernel_size=PATCH, stride=PATCH)


class Beit(nn.Module):
    """BEiT-L/16 (timm ``beit_large_patch16_384``: no absolute position embedding,
    per-block relative position bias, LayerScale)."""

    def __init__(self, dim: int = 1024, depth: int = 24, heads: int = 16) -> None:
        super().__init__()
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.patch_embed = PatchEmbed(dim)
        self.blocks = nn.ModuleList([BeitBlock(dim, heads) for _ in range(depth)])
        self.fc_norm = nn.LayerNorm(dim, eps=1e-6)  # classifier parts: unused for depth
        self.head = nn.Linear(dim, 1000)


# ---------------------------------------------------------------------------- MiDaS


class MidasBeit(nn.Module):
    """MiDaS v3.1 DPT_BEiT_L_384: (B, 3, H, W) normalised, sides multiples of 32 →
    relative inverse depth (B, H, W) and ZoeDepth's features: the head's 32-channel
    activation (``out_conv``), ``layer4_rn`` and the four fusion outputs r4 … r1."""

    hooks = (5, 11, 17, 23)

    def __init__(self, dim: int = 1024, heads: int = 16) -> None:
        super().__init__()
        chans = (256, 512, 1024, 1024)
        self.pretrained = Pretrained(Beit(dim, heads=heads))
        for i in range(4):
            self.pretrained.add_module(
                f"act_postprocess{i + 1}", nn.Sequential(*vit_postprocess(dim, chans, i))
            )
        self.scratch = Scratch(chans, 256, expand=False, align_corners=True)
        self.scratch.output_conv = _output_head(256, 32, align_corners=True)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
        vit = self.pretrained.model
        grid = (int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH)
        tokens = vit.patch_embed.proj(x).flatten(2).transpose(1, 2)
        tokens = torch.cat((vit.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        taken = []
        for i, block in enumerate(vit.blocks):
            tokens = block(tokens, grid)
            if i in self.hooks:
                taken.append(tokens)
        layers = []
        for level, t in enumerate(taken):
            post: nn.Sequential = getattr(self.pretrained, f"act_postprocess{level + 1}")
            t = post[0](t)
            t = t.transpose(1, 2).reshape(t.shape[0], t.shape[2], grid[0], grid[1])
            for layer in list(post)[3:]:
                t = layer(t)
            layers.append(t)
        s = self.scratch
        l1, l2, l3 = s.layer1_rn(layers[0]), s.layer2_rn(layers[1]), s.layer3_rn(layers[2])
        l4 = s.layer4_rn(layers[3])
        r4 = s.refinenet4(l4, size=l3.shape[2:])
        r3 = s.refinenet3(r4, l3, size=l2.shape[2:])
        r2 = s.refinenet2(r3, l2, size=l1.shape[2:])
        r1 = s.refinenet1(r2, l1)
        head: nn.Sequential = s.output_conv
        out_conv = head[:4](r1)
        rel: torch.Tensor = head[4:](out_conv).squeeze(1)
        return rel, [out_conv, l4, r4, r3, r2, r1]


# ---------------------------------------------------------------------------- metric bins


def _mlp(c_in: int, hidden: int, c_out: int, last: nn.Module) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, c_out, 1), last
    )


def _resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    return F.interpolate(x, size=(int(size[0]), int(size[1])), mode="bilinear", align_corners=True)


class SeedBinRegressor(nn.Module):
    """Initial bin centres from the bottleneck. ``normed``: bin widths normalised on
    (min_depth, max_depth), centres between the cumulative edges; else softplus centres."""

    def __init__(
        self, c_in: int, n_bins: int, mlp_dim: int, min_depth: float, max_depth: float, normed: bool
    ) -> None:
        super().__init__()
        self.normed, self.min_depth, self.max_depth = normed, min_depth, max_depth
        self._net = _mlp(c_in, mlp_dim, n_bins, nn.ReLU(inplace=True) if normed else nn.Softplus())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The seed bin centres (metres), (B, n_bins, h, w)."""
        b: torch.Tensor = self._net(x)
        if not self.normed:
            return b
        b = b + 1e-3
        widths = (self.max_depth - self.min_depth) * (b / b.sum(dim=1, keepdim=True))
        widths = F.pad(widths, (0, 0, 0, 0, 1, 0), mode="constant", value=self.min_depth)
        edges = torch.cumsum(widths, dim=1)
        return 0.5 * (edges[:, :-1] + edges[:, 1:])


class Projector(nn.Module):
    """Two 1x1 convolutions: features → bin embedding."""

    def __init__(self, c_in: int, c_out: int, mlp_dim: int) -> None:
        super().__init__()
        self._net = nn.Sequential(
            nn.Conv2d(c_in, mlp_dim, 1), nn.ReLU(inplace=True), nn.Conv2d(mlp_dim, c_out, 1)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self._net(x)
        return out


class Attractor(nn.Module):
    """Moves the bin centres towards attractor points predicted from the features
    (inverse attractor dx / (1 + alpha dx^gamma), or exponential), averaged or summed over
    the attractors. ``normed`` (ZoeD_K): centres on (0, 1), rescaled to metres, sorted,
    clipped; the official layer predicts 2 values per attractor and uses the first."""

    def __init__(
        self,
        c_in: int,
        n_attractors: int,
        mlp_dim: int,
        min_depth: float,
        max_depth: float,
        alpha: float,
        gamma: int,
        kind: str,
        inverse: bool,
        normed: bool,
    ) -> None:
        super().__init__()
        self.n_attractors, self.min_depth, self.max_depth = n_attractors, min_depth, max_depth
        self.alpha, self.gamma, self.kind, self.inverse, self.normed = (
            alpha,
            gamma,
            kind,
            inverse,
            normed,
        )
        self._net = _mlp(
            c_in,
            mlp_dim,
            n_attractors * (2 if normed else 1),
            nn.ReLU(inplace=True) if normed else nn.Softplus(),
        )

    def forward(
        self, x: torch.Tensor, b_prev: torch.Tensor, prev_embedding: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        x = x + _resize(prev_embedding, x.shape[-2:])
        a: torch.Tensor = self._net(x)
        n, _, h, w = a.shape
        if self.normed:
            a = (a + 1e-3).view(n, self.n_attractors, 2, h, w)[:, :, 0]
        centers = _resize(b_prev, (h, w))
        dx = a.unsqueeze(2) - centers.unsqueeze(1)
        if self.inverse:
            shift = dx / (1 + self.alpha * dx.pow(self.gamma))
        else:
            shift = torch.exp(-self.alpha * dx.abs().pow(self.gamma)) * dx
        delta = shift.mean(dim=1) if self.kind == "mean" else shift.sum(dim=1)
        new = centers + delta
        if not self.normed:
            return new, new
        metres = (self.max_depth - self.min_depth) * new + self.min_depth
        metres = torch.sort(metres, dim=1)[0].clip(self.min_depth, self.max_depth)
        return new, metres


class LogBinomial(nn.Module):
    """The bin indices and ``n - 1`` of the log-binomial distribution (buffers, as the checkpoints
    hold them)."""

    k_idx: torch.Tensor  # buffers
    K_minus_1: torch.Tensor

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        self.n_classes = n_classes
        self.register_buffer("k_idx", torch.arange(0, n_classes).view(1, -1, 1, 1))
        self.register_buffer("K_minus_1", torch.tensor([float(n_classes - 1)]).view(1, -1, 1, 1))


def _log_binom(n: torch.Tensor, k: torch.Tensor, eps: float = 1e-7) -> torch.Tensor:
    """log(n choose k), Stirling's approximation (as the official code)."""
    n = n + eps
    k = k + eps
    return n * torch.log(n) - k * torch.log(k) - (n - k) * torch.log(n - k + eps)


class ConditionalLogBinomial(nn.Module):
    """Per-pixel probabilities over the bins: a binomial with success probability p and
    temperature t predicted from the features and the bin embedding, softmax over bins."""

    def __init__(
        self,
        c_in: int,
        c_cond: int,
        n_classes: int,
        bottleneck_factor: int,
        min_temp: float,
        max_temp: float,
        p_eps: float = 1e-4,
    ) -> None:
        super().__init__()
        self.p_eps, self.min_temp, self.max_temp = p_eps, min_temp, max_temp
        self.log_binomial_transform = LogBinomial(n_classes)
        hidden = (c_in + c_cond) // bottleneck_factor
        self.mlp = nn.Sequential(
            nn.Conv2d(c_in + c_cond, hidden, 1), nn.GELU(), nn.Conv2d(hidden, 4, 1), nn.Softplus()
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        pt = self.mlp(torch.cat((x, cond), dim=1))
        p, t = pt[:, :2] + self.p_eps, pt[:, 2:] + self.p_eps
        prob = (p[:, 0] / (p[:, 0] + p[:, 1])).unsqueeze(1)
        temp = (t[:, 0] / (t[:, 0] + t[:, 1])).unsqueeze(1)
        temp = (self.max_temp - self.min_temp) * temp + self.min_temp
        lb = self.log_binomial_transform
        k = lb.k_idx
        eps = 1e-4
        y = (
            _log_binom(lb.K_minus_1, k)
            + k * torch.log(prob.clamp(eps, 1))
            + (lb.n_classes - 1 - k) * torch.log((1 - prob).clamp(eps, 1))
        )
        return torch.softmax(y / temp, dim=1)


# ---------------------------------------------------------------------------- ZoeDepth


@dataclass(frozen=True)
class HeadConfig:
    """One metric head of the official configs (config_zoedepth*.json)."""

    name: str  # "nyu" | "kitti" (ZoeD_NK's router names)
    max_depth: float
    normed: bool  # bin_centers_type "normed" (ZoeD_K) or "softplus"
    min_depth: float = 1e-3
    n_bins: int = 64


def _run_head(
    x_d0: torch.Tensor,
    blocks: Sequence[torch.Tensor],
    last: torch.Tensor,
    seed: nn.Module,
    seed_projector: nn.Module,
    projectors: nn.ModuleList,
    attractors: nn.ModuleList,
    clb: nn.Module,
    cfg: HeadConfig,
) -> torch.Tensor:
    centers = seed(x_d0)
    b_prev = (centers - cfg.min_depth) / (cfg.max_depth - cfg.min_depth) if cfg.normed else centers
    prev_embedding = seed_projector(x_d0)
    embedding = prev_embedding
    for projector, attractor, block in zip(projectors, attractors, blocks, strict=True):
        embedding = projector(block)
        b_prev, centers = attractor(embedding, b_prev, prev_embedding)
        prev_embedding = embedding
    probs = clb(last, _resize(embedding, last.shape[-2:]))
    centers = _resize(centers, probs.shape[-2:])
    out: torch.Tensor = torch.sum(probs * centers, dim=1, keepdim=True)
    return out


def _attractor(n: int, mlp_dim: int, cfg: HeadConfig) -> Attractor:
    # The configs say attractor_alpha 1000, but the official layers call the attractor
    # function without it, so its default, alpha = 300 (gamma = 2), is what runs.
    return Attractor(
        128,
        n,
        mlp_dim,
        cfg.min_depth,
        cfg.max_depth,
        alpha=300,
        gamma=2,
        kind="mean",
        inverse=True,
        normed=cfg.normed,
    )


class PatchTransformerEncoder(nn.Module):
    """ZoeD_NK's router features: 1x1 patch embedding, a zero class token, sinusoidal
    positions, four transformer encoder layers (sequence first)."""

    def __init__(self, c_in: int, embedding_dim: int = 128, heads: int = 4) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(embedding_dim, heads, dim_feedforward=1024)
        self.transformer_encoder = nn.TransformerEncoder(
            layer, num_layers=4, enable_nested_tensor=False
        )
        self.embedding_convPxP = nn.Conv2d(c_in, embedding_dim, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        emb = F.pad(self.embedding_convPxP(x).flatten(2), (1, 0)).permute(2, 0, 1)
        s, n, e = emb.shape
        position = torch.arange(0, s, dtype=torch.float32, device=x.device).unsqueeze(1)
        index = torch.arange(0, e, 2, dtype=torch.float32, device=x.device).unsqueeze(0)
        div = torch.exp(index * (-torch.log(torch.tensor(10000.0, device=x.device)) / e))
        pos = position * div
        pos = torch.cat((torch.sin(pos), torch.cos(pos)), dim=1).unsqueeze(1).repeat(1, n, 1)
        out: torch.Tensor = self.transformer_encoder(emb + pos)
        return out


class ZoeDepthNet(nn.Module):
    """ZoeD_M12_N / _K (one metric head) or ZoeD_M12_NK (NYU and KITTI heads and the
    router). ``forward``: image (B, 3, H, W) in [0, 1] at its own size → metric depth
    (B, H, W) in metres, by the official ``infer`` (see the module docstring)."""

    def __init__(
        self,
        heads: Sequence[HeadConfig],
        img_size: tuple[int, int],
        pad_input: bool = True,
        flip_aug: bool = True,
        beit_dim: int = 1024,
        beit_heads: int = 16,
    ) -> None:
        """``beit_dim``/``beit_heads``: the official 1024/16; smaller only for tests."""
        super().__init__()
        self.head_configs = tuple(heads)
        self.img_size = img_size  # (height, width) the MiDaS resize aims at
        self.pad_input, self.flip_aug = pad_input, flip_aug
        self.core = _Core(MidasBeit(beit_dim, beit_heads))
        self.conv2 = nn.Conv2d(256, 256, kernel_size=1)
        if len(self.head_configs) == 1:
            cfg = self.head_configs[0]
            self.seed_bin_regressor = SeedBinRegressor(
                256, cfg.n_bins, 256, cfg.min_depth, cfg.max_depth, cfg.normed
            )
            self.seed_projector = Projector(256, 128, 128)
            self.projectors = nn.ModuleList([Projector(256, 128, 128) for _ in range(4)])
            self.attractors: nn.ModuleList | nn.ModuleDict = nn.ModuleList(
                [_attractor(n, 128, cfg) for n in (16, 8, 4, 1)]
            )
            self.conditional_log_binomial: nn.Module = ConditionalLogBinomial(
                33, 128, cfg.n_bins, 2, min_temp=0.0212, max_temp=50.0
            )
        else:
            self.patch_transformer = PatchTransformerEncoder(256)
            self.mlp_classifier = nn.Sequential(nn.Linear(128, 128), nn.ReLU(), nn.Linear(128, 2))
            self.seed_bin_regressors = nn.ModuleDict(
                {
                    c.name: SeedBinRegressor(256, c.n_bins, 64, c.min_depth, c.max_depth, c.normed)
                    for c in self.head_configs
                }
            )
            self.seed_projector = Projector(256, 128, 64)
            self.projectors = nn.ModuleList([Projector(256, 128, 64) for _ in range(4)])
            # the official NK head passes the attractor counts as n_bins: 16 attractors each
            self.attractors = nn.ModuleDict(
                {
                    c.name: nn.ModuleList([_attractor(16, 128, c) for _ in range(4)])
                    for c in self.head_configs
                }
            )
            self.conditional_log_binomial = nn.ModuleDict(
                {
                    c.name: ConditionalLogBinomial(
                        32, 128, c.n_bins, 4, min_temp=0.0212, max_temp=50.0
                    )
                    for c in self.head_configs
                }
            )

    def network_size(self, height: int, width: int) -> tuple[int, int]:
        """MiDaS ``Resize(img_size, keep_aspect_ratio=True, ensure_multiple_of=32,
        resize_method="minimal")`` for an input of height x width."""
        net_h, net_w = self.img_size
        sh, sw = net_h / height, net_w / width
        scale = sw if abs(1 - sw) < abs(1 - sh) else sh
        return _multiple(scale * height), _multiple(scale * width)

    def metric(self, x: torch.Tensor) -> torch.Tensor:
        """ZoeDepth.forward(x)["metric_depth"]: (B, 3, H, W) in [0, 1] → (B, 1, h, w)."""
        h, w = self.network_size(int(x.shape[-2]), int(x.shape[-1]))
        x = F.interpolate(x, (h, w), mode="bilinear", align_corners=True)
        x = (x - 0.5) / 0.5
        rel, (out_conv, btlnck, *blocks) = self.core.core(x)
        x_d0 = self.conv2(btlnck)
        if len(self.head_configs) == 1:
            last = torch.cat((out_conv, _resize(rel.unsqueeze(1), out_conv.shape[2:])), dim=1)
            return _run_head(
                x_d0,
                blocks,
                last,
                self.seed_bin_regressor,
                self.seed_projector,
                self.projectors,
                _entries(self.attractors),
                self.conditional_log_binomial,
                self.head_configs[0],
            )
        embedding = self.patch_transformer(x_d0)[0]
        vote = torch.softmax(self.mlp_classifier(embedding).sum(dim=0, keepdim=True), dim=-1)
        name = ("nyu", "kitti")[int(torch.argmax(vote, dim=-1).squeeze().item())]
        cfg = next(c for c in self.head_configs if c.name == name)
        return _run_head(
            x_d0,
            blocks,
            out_conv,
            self.seed_bin_regressors[name],
            self.seed_projector,
            self.projectors,
            _entries(self.attractors, name),
            _entry(self.conditional_log_binomial, name),
            cfg,
        )

    def _padded(self, x: torch.Tensor) -> torch.Tensor:
        h, w = int(x.shape[-2]), int(x.shape[-1])
        pad_h = int(math.sqrt(h / 2) * 3) if self.pad_input else 0
        pad_w = int(math.sqrt(w / 2) * 3) if self.pad_input else 0
        if self.pad_input:
            x = F.pad(x, [pad_w, pad_w] + ([pad_h, pad_h] if pad_h > 0 else []), mode="reflect")
        out = self.metric(x)
        if out.shape[-2:] != x.shape[-2:]:
            out = F.interpolate(
                out, size=(int(x.shape[2]), int(x.shape[3])), mode="bicubic", align_corners=False
            )
        return out[:, :, pad_h : pad_h + h, pad_w : pad_w + w]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self._padded(x)
        if self.flip_aug:
            out = (out + torch.flip(self._padded(torch.flip(x, dims=[3])), dims=[3])) / 2
        return out.squeeze(1)


class _Core(nn.Module):
    """The official ``core`` wrapper around MiDaS (its key prefix ``core.core``)."""

    def __init__(self, core: MidasBeit) -> None:
        super().__init__()
        self.core = core


def _entry(container: nn.Module, name: str | None = None) -> nn.Module:
    """A head's part: ``container`` itself (one head) or its ``name`` entry (the NK
    network's per-head ModuleDict)."""
    return container[name] if isinstance(container, nn.ModuleDict) and name else container


def _entries(container: nn.Module, name: str | None = None) -> nn.ModuleList:
    """:func:`_entry` for a part that is a list of modules (the attractors)."""
    part = _entry(container, name)
    if not isinstance(part, nn.ModuleList):
        raise TypeError(f"expected a ModuleList, got {type(part).__name__}")
    return part


def _multiple(x: float, multiple: int = 32) -> int:
    """MiDaS' constrain_to_multiple_of without bounds (round half to even)."""
    return int(round(x / multiple) * multiple)


#: The official configs. ZoeD_K's normed bins span (1e-3, 80) m as in the official KITTI
#: evaluation (get_config("zoedepth", ..., dataset="kitti") sets max_depth 80, the setting
#: of the published numbers); the hub entry point ZoeD_K builds without a dataset and so
#: keeps ZoeDepth's default max_depth 10, which would clip KITTI scenes at 10 m.
ZOEDEPTH = {
    "n": ((HeadConfig("nyu", 10.0, normed=False),), (384, 512)),
    "k": ((HeadConfig("kitti", 80.0, normed=True),), (384, 768)),
    "nk": (
        (HeadConfig("nyu", 10.0, normed=False), HeadConfig("kitti", 80.0, normed=False)),
        (384, 512),
    ),
}


def img_size(variant: str, height: int | None = None) -> tuple[int, int]:
    """The official MiDaS resize target (height, width): (384, 512) for N and NK, (384,
    768) for K; ``height`` scales it keeping that aspect ratio."""
    h, w = ZOEDEPTH[variant][1]
    if height is None or height == h:
        return h, w
    return height, height * w // h


def zoedepth_net(
    variant: str,
    pad_input: bool = True,
    flip_aug: bool = True,
    height: int | None = None,
    beit_dim: int = 1024,
    beit_heads: int = 16,
) -> ZoeDepthNet:
    """The ZoeDepth network of ``variant`` (n, k, nk) at the official resize target (``height``:
    another input height, same aspect); ``beit_dim``/``beit_heads`` smaller only in tests."""
    heads, _size = ZOEDEPTH[variant]
    return ZoeDepthNet(
        heads,
        img_size(variant, height),
        pad_input=pad_input,
        flip_aug=flip_aug,
        beit_dim=beit_dim,
        beit_heads=beit_heads,
    )
