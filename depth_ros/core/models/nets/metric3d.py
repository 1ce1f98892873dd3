"""Metric3D v2 (Hu et al., TPAMI 2024): a DINOv2 ViT encoder with four register tokens and
the RAFT-style iterative depth-normal decoder (``RAFTDepthNormalDPT5``).

The module tree matches the official checkpoints (``model_state_dict`` with keys
``depth_model.encoder.*`` and ``depth_model.decoder.*``), so the released ``.pth`` files
load with a strict key match. The transformer blocks are timm's ``Block`` (its parameter
names and maths equal the official DINOv2 block: LayerNorm eps 1e-6, qkv bias, layer scale,
exact GELU); the giant variant's SwiGLU feed-forward is written here with the official
``w12``/``w3`` names. The official blocks sit in one chunk, hence ``blocks.0.<i>``.

The network computes, for a (B, 3, H, W) normalised image with H and W multiples of 28,
what the official ``DepthModel.inference`` returns: depth in the canonical camera
(focal 1000 px) clamped to [0.1, 200], the depth confidence, and the normal output
(unit normal, 3 channels, and its kappa), all at (H, W).

Two details of the official code are reproduced on purpose:

* position embeddings are resampled with a *scale factor* (bicubic, 0.1 offset), as DINOv2;
* the decoder's ``ConvBlock`` applies an in-place ReLU to its input, so its residual adds
  ``relu(x)``, and the two encoder features that pass through a fusion branch reach the
  context encoder rectified (``relu``) as well.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets.dinov2 import PATCH, PatchEmbed, SwiGLU, resize_pos_embed

REGISTERS = 4
#: network input sides must be multiples of this (1/14 patches, a 1/4 decoder, x7/4 steps)
SIZE_MULTIPLE = 28
CANONICAL_FOCAL = 1000.0
DEPTH_MIN, DEPTH_MAX = 0.1, 200.0  # the configs' depth_normalize
REGRESS_SCALE = 100.0
DEPTH_BINS = 256


@dataclass(frozen=True)
class VariantConfig:
    """One Metric3D v2 size: encoder shape, decoder widths and RAFT iterations."""

    embed_dim: int
    depth: int
    num_heads: int
    swiglu: bool  # giant2: SwiGLU feed-forward
    multi_output: bool  # giant2: features of every quarter of the blocks, not normalised
    feature_channels: tuple[int, int, int, int]
    decoder_channels: tuple[int, int, int, int, int]
    hidden: int
    iters: int


VARIANTS = {
    # mono/configs/HourglassDecoder/vit.raft5.{small,large,giant2}.py and their bases
    "vits": VariantConfig(
        384, 12, 6, False, False, (96, 192, 384, 768), (48, 96, 192, 384, 384), 48, 4
    ),
    "vitl": VariantConfig(
        1024, 24, 16, False, False, (256, 512, 1024, 1024), (128, 256, 512, 1024, 1024), 128, 8
    ),
    "vitg": VariantConfig(
        1536, 40, 24, True, True, (384, 768, 1536, 1536), (192, 384, 768, 1536, 1536), 192, 8
    ),
}


# ------------------------------------------------------------------------------- encoder


class LayerNorm6(nn.LayerNorm):
    """LayerNorm with DINOv2's eps 1e-6, as timm's Block builds its norm layers."""

    def __init__(
        self, dim: int, device: torch.device | None = None, dtype: torch.dtype | None = None
    ) -> None:
        super().__init__(dim, eps=1e-6, device=device, dtype=dtype)


class DinoV2RegEncoder(nn.Module):
    """DINOv2 ViT with register tokens, built for 518 px (1369 patch positions)."""

    def __init__(self, cfg: VariantConfig) -> None:
        super().__init__()
        from timm.layers.mlp import Mlp
        from timm.models.vision_transformer import Block

        dim = cfg.embed_dim
        self.multi_output = cfg.multi_output
        self.patch_embed = PatchEmbed(dim)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embed = nn.Parameter(torch.zeros(1, (518 // PATCH) ** 2 + 1, dim))
        self.register_tokens = nn.Parameter(torch.zeros(1, REGISTERS, dim))
        self.mask_token = nn.Parameter(torch.zeros(1, dim))  # pre-training only
        mlp: type[nn.Module] = SwiGLU if cfg.swiglu else Mlp
        blocks = [
            Block(
                dim,
                cfg.num_heads,
                mlp_ratio=4.0,
                qkv_bias=True,
                init_values=1e-5,
                norm_layer=LayerNorm6,
                mlp_layer=mlp,
            )
            for _ in range(cfg.depth)
        ]
        self.blocks = nn.ModuleList([nn.ModuleList(blocks)])  # one chunk: blocks.0.<i>
        self.norm = nn.LayerNorm(dim, eps=1e-6)

    def _pos_embed(self, patch_h: int, patch_w: int) -> torch.Tensor:
        return resize_pos_embed(self.pos_embed, patch_h, patch_w)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Four token maps (B, 1 + 4 + h*w, D) for the decoder: the final normalised tokens
        four times, or (giant2) the raw tokens after each quarter of the blocks."""
        patch_h, patch_w = int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH
        tokens = self.patch_embed(x)
        tokens = torch.cat((self.cls_token.expand(tokens.shape[0], -1, -1), tokens), dim=1)
        tokens = tokens + self._pos_embed(patch_h, patch_w)
        tokens = torch.cat(
            (tokens[:, :1], self.register_tokens.expand(tokens.shape[0], -1, -1), tokens[:, 1:]),
            dim=1,
        )
        blocks = self.blocks[0]
        if not isinstance(blocks, nn.ModuleList):
            raise TypeError(f"expected the block list, got {type(blocks).__name__}")
        if not self.multi_output:
            for block in blocks:
                tokens = block(tokens)
            normed = self.norm(tokens)
            return [normed, normed, normed, normed]
        features = []
        step = len(blocks) // 4
        for i, block in enumerate(blocks):
            tokens = block(tokens)
            if (i + 1) % step == 0:
                features.append(tokens)
        return features


# ------------------------------------------------------------------------------- decoder


def _conv(cin: int, cout: int, k: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2)


class Readout(nn.Module):
    """gelu(project_patch(patch tokens) + project_learn(class and register tokens))."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.project_patch = nn.Linear(dim, dim)
        self.project_learn = nn.Linear((1 + REGISTERS) * dim, dim, bias=False)

    def forward(self, patches: torch.Tensor, learn: torch.Tensor) -> torch.Tensor:
        return F.gelu(self.project_patch(patches) + self.project_learn(learn))


class Token2Feature(nn.Module):
    """Tokens (B, h, w, D) → feature map: identity (x1), transposed conv (x2), or nearest
    upsampling by 3.5 and a 1x1 convolution."""

    def __init__(self, dim: int, channels: int, scale: float) -> None:
        super().__init__()
        self.scale = scale
        self.readoper = Readout(dim)
        self.sample: nn.Module
        if scale == 1:
            self.sample = nn.Identity()
        elif scale == 2:
            self.sample = nn.ConvTranspose2d(dim, channels, kernel_size=2, stride=2)
        else:
            self.sample = nn.Sequential(nn.Conv2d(dim, channels, kernel_size=1))

    def forward(self, patches: torch.Tensor, learn: torch.Tensor) -> torch.Tensor:
        x = self.readoper(patches, learn).permute(0, 3, 1, 2).contiguous()
        if self.scale not in (1, 2):
            x = F.interpolate(x.float(), scale_factor=self.scale, mode="nearest")
        out: torch.Tensor = self.sample(x)
        return out


class EncoderFeature(nn.Module):
    """The four token-to-feature readouts (``read_0`` … ``read_3``) at 3.5x, 2x, 1x and 1x."""

    def __init__(self, dim: int, channels: tuple[int, int, int, int]) -> None:
        super().__init__()
        self.read_3 = Token2Feature(dim, channels[3], 1)
        self.read_2 = Token2Feature(dim, channels[2], 1)
        self.read_1 = Token2Feature(dim, channels[1], 2)
        self.read_0 = Token2Feature(dim, channels[0], 3.5)


class ConvBlock(nn.Module):
    """relu(x) + conv2(relu(conv1(relu(x)))): the official block's ReLU is in place, so
    the residual is the rectified input."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = _conv(channels, channels, 3)
        self.conv2 = _conv(channels, channels, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.relu(x)
        out: torch.Tensor = x + self.conv2(F.relu(self.conv1(x)))
        return out


class FuseBlock(nn.Module):
    """Decoder fusion: trunk block (plus a branch block on the skip), optional bilinear upsampling,
    1x1 projection."""

    def __init__(self, cin: int, cout: int, fuse: bool = True, scale: float | None = 2.0) -> None:
        super().__init__()
        self.scale = scale
        self.way_trunk = ConvBlock(cin)
        if fuse:
            self.way_branch = ConvBlock(cin)
        self.out_conv = nn.Conv2d(cin, cout, kernel_size=1)

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        if skip is not None:
            x = x + self.way_branch(skip)
        out = self.way_trunk(x)
        if self.scale is not None:
            out = F.interpolate(
                out.float(), scale_factor=self.scale, mode="bilinear", align_corners=True
            )
        result: torch.Tensor = self.out_conv(out)
        return result


class DecoderFeature(nn.Module):
    """The mono decoder's three fusion stages (``upconv_3`` … ``upconv_1``)."""

    def __init__(self, ch: tuple[int, int, int, int, int]) -> None:
        super().__init__()
        self.upconv_3 = FuseBlock(ch[4], ch[3], fuse=False, scale=None)
        self.upconv_2 = FuseBlock(ch[3], ch[2])
        self.upconv_1 = FuseBlock(ch[2], ch[1] + 2, scale=7 / 4)


class LayerNorm2d(nn.LayerNorm):
    """LayerNorm over the channels of a (B, C, H, W) map."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return out


class ResidualBlock(nn.Module):
    """RAFT's residual block with layer norm; the 1x1 shortcut's norm is registered both
    as ``norm3`` and ``downsample.1``, as in the official module."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv1 = _conv(cin, cout, 3)
        self.conv2 = _conv(cout, cout, 3)
        self.norm1 = LayerNorm2d(cout)
        self.norm2 = LayerNorm2d(cout)
        self.downsample: nn.Module | None = None
        if cin != cout:
            self.norm3 = LayerNorm2d(cout)
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, kernel_size=1), self.norm3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.norm1(self.conv1(x)))
        y = F.relu(self.norm2(self.conv2(y)))
        if self.downsample is not None:
            x = self.downsample(x)
        return F.relu(x + y)


def _context_branch(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(ResidualBlock(cin, cout), _conv(cout, cout, 3))


class ContextFeatureEncoder(nn.Module):
    """The RAFT context features at 1/4, 1/7 and 1/14 (two branches each: hidden state and GRU
    inputs)."""

    def __init__(self, channels: tuple[int, int, int, int], hidden: int) -> None:
        super().__init__()
        self.outputs04 = nn.ModuleList([_context_branch(channels[0], hidden) for _ in range(2)])
        self.outputs08 = nn.ModuleList([_context_branch(channels[1], hidden) for _ in range(2)])
        self.outputs16 = nn.ModuleList([_context_branch(channels[2], hidden) for _ in range(2)])


class ConvGRU(nn.Module):
    """A convolutional GRU: new hidden state from the old one, context terms and inputs."""

    def __init__(self, hidden: int, inputs: int) -> None:
        super().__init__()
        self.convz = _conv(hidden + inputs, hidden, 3)
        self.convr = _conv(hidden + inputs, hidden, 3)
        self.convq = _conv(hidden + inputs, hidden, 3)

    def forward(
        self,
        h: torch.Tensor,
        cz: torch.Tensor,
        cr: torch.Tensor,
        cq: torch.Tensor,
        *xs: torch.Tensor,
    ) -> torch.Tensor:
        x = torch.cat(xs, dim=1)
        hx = torch.cat([h, x], dim=1)
        z = torch.sigmoid(self.convz(hx) + cz)
        r = torch.sigmoid(self.convr(hx) + cr)
        q = torch.tanh(self.convq(torch.cat([r * h, x], dim=1)) + cq)
        return (1 - z) * h + z * q


class FlowHead(nn.Module):
    """The update head: 2 depth channels and 4 normal channels from the hidden state."""

    def __init__(self, cin: int, hidden: int) -> None:
        super().__init__()
        self.conv1d = _conv(cin, hidden // 2, 3)
        self.conv2d = _conv(hidden // 2, 2, 3)
        self.conv1n = _conv(cin, hidden // 2, 3)
        self.conv2n = _conv(hidden // 2, 4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        depth = self.conv2d(F.relu(self.conv1d(x)))
        normal = self.conv2n(F.relu(self.conv1n(x)))
        return torch.cat((depth, normal), dim=1)


def _pool2x(x: torch.Tensor) -> torch.Tensor:
    return F.avg_pool2d(x, 3, stride=2, padding=1)


def _interp(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x.float(), like.shape[2:], mode="bilinear", align_corners=True)


class BasicMultiUpdateBlock(nn.Module):
    """Three ConvGRUs at 1/4, 1/7 and 1/14 (``gru08``, ``gru16``, ``gru32``)."""

    def __init__(self, hidden: int) -> None:
        super().__init__()
        self.gru08 = ConvGRU(hidden, 6 + hidden)
        self.gru16 = ConvGRU(hidden, 2 * hidden)
        self.gru32 = ConvGRU(hidden, hidden)
        self.flow_head = FlowHead(hidden, 2 * hidden)
        self.mask = nn.Sequential(
            _conv(hidden, hidden, 3), nn.ReLU(), nn.Conv2d(hidden, 16 * 9, kernel_size=1)
        )

    def update(
        self,
        net: list[torch.Tensor],
        inp: list[list[torch.Tensor]],
        flow: torch.Tensor | None = None,
        iter16: bool = True,
    ) -> None:
        """Update the 1/14 GRU, then the 1/7 GRU (``iter16``), then the 1/4 GRU (when
        ``flow`` is given), in place in ``net`` as the official update block."""
        net[2] = self.gru32(net[2], *inp[2], _pool2x(net[1]))
        if iter16:
            net[1] = self.gru16(
                net[1], *inp[1], _interp(_pool2x(net[0]), net[1]), _interp(net[2], net[1])
            )
        if flow is not None:
            net[0] = self.gru08(net[0], *inp[0], flow, _interp(net[1], net[0]))


def norm_normalize(out: torch.Tensor) -> torch.Tensor:
    """(x, y, z, k) → (unit normal, elu(k) + 1.01), as the official ``norm_normalize``."""
    x, y, z, kappa = torch.split(out, 1, dim=1)
    norm = torch.sqrt(x**2.0 + y**2.0 + z**2.0) + 1e-10
    return torch.cat([x / norm, y / norm, z / norm, F.elu(kappa) + 1.0 + 0.01], dim=1)


class RAFTDepthNormalDPT5(nn.Module):
    """The official decoder: DPT-style readout and fusion, then RAFT refinement of depth and
    normals."""

    def __init__(self, cfg: VariantConfig) -> None:
        super().__init__()
        dim, hidden = cfg.embed_dim, cfg.hidden
        self.embed_dim = dim
        self.hidden = hidden
        self.iters = cfg.iters
        used = cfg.decoder_channels[1]
        self.token2feature = EncoderFeature(dim, cfg.feature_channels)
        self.decoder_mono = DecoderFeature(cfg.decoder_channels)
        self.depth_regressor = nn.Sequential(
            _conv(used, DEPTH_BINS, 3), nn.ReLU(), nn.Conv2d(DEPTH_BINS, DEPTH_BINS, 1)
        )
        self.normal_predictor = nn.Sequential(
            _conv(used, 128, 3),
            nn.ReLU(),
            nn.Conv2d(128, 128, 1),
            nn.ReLU(),
            nn.Conv2d(128, 128, 1),
            nn.ReLU(),
            nn.Conv2d(128, 3, 1),
        )
        self.context_feature_encoder = ContextFeatureEncoder(cfg.feature_channels, hidden)
        self.context_zqr_convs = nn.ModuleList([_conv(hidden, hidden * 3, 3) for _ in range(3)])
        self.update_block = BasicMultiUpdateBlock(hidden)
        self.register_buffer("depth_bins", self.bins(), persistent=False)

    @staticmethod
    def bins() -> torch.Tensor:
        """The 256 depth anchors, log-spaced over [0.1, 200], shaped (1, 256, 1, 1)."""
        vec = torch.linspace(math.log(DEPTH_MIN), math.log(DEPTH_MAX), DEPTH_BINS)
        return torch.exp(vec).view(1, -1, 1, 1)

    @staticmethod
    def clamp(x: torch.Tensor) -> torch.Tensor:
        """[0.1, 200] with the official arithmetic (two ReLUs)."""
        y = F.relu(x - DEPTH_MIN) + DEPTH_MIN
        return DEPTH_MAX - F.relu(DEPTH_MAX - y)

    def _upsample(self, flow: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Convex upsampling by 4 (RAFT): softmax weights over each 3x3 neighbourhood."""
        n, d, h, w = flow.shape
        weights = torch.softmax(mask.view(n, 1, 9, 4, 4, h, w), dim=2)
        up = F.unfold(flow, (3, 3), padding=1).view(n, d, 9, 1, 1, h, w)
        up = torch.sum(weights * up, dim=2).permute(0, 1, 4, 2, 5, 3)
        return up.reshape(n, d, 4 * h, 4 * w)

    def forward(
        self, features: list[torch.Tensor], patch_h: int, patch_w: int
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, dim = features[0].shape[0], self.embed_dim
        split = [
            (
                f[:, 1 + REGISTERS :].reshape(b, patch_h, patch_w, dim),
                f[:, : 1 + REGISTERS].reshape(b, 1, 1, dim * (1 + REGISTERS)),
            )
            for f in features
        ]
        t2f = self.token2feature
        x = t2f.read_3(*split[3])  # 1/14
        x2 = t2f.read_2(*split[2])  # 1/14
        x1 = t2f.read_1(*split[1])  # 1/7
        x0 = t2f.read_0(*split[0])  # 1/4
        dec = self.decoder_mono
        ref = dec.upconv_1(dec.upconv_2(dec.upconv_3(x), x2), x1)  # 1/4
        feature_map = ref[:, :-2]
        prob = self.depth_regressor(feature_map).softmax(dim=1)
        d = torch.sum(prob * self.depth_bins, 1, keepdim=True)
        depth_pred = (self.clamp(d) - DEPTH_MAX) / REGRESS_SCALE
        normal_pred = norm_normalize(
            torch.cat([self.normal_predictor(feature_map), ref[:, -1:]], dim=1)
        )
        coords = torch.cat((depth_pred, ref[:, -2:-1], normal_pred), dim=1)  # (B, 6, h, w)

        # the context encoder sees x1 and x2 rectified (the official in-place ReLU)
        cfe = self.context_feature_encoder
        ctx = [
            [f(x0) for f in cfe.outputs04],
            [f(F.relu(x1)) for f in cfe.outputs08],
            [f(F.relu(x2)) for f in cfe.outputs16],
        ]
        net = [torch.tanh(c[0]) for c in ctx]
        inp = [
            list(conv(torch.relu(c[1])).split(self.hidden, dim=1))
            for c, conv in zip(ctx, self.context_zqr_convs, strict=True)
        ]
        ub = self.update_block
        mask = coords
        for _ in range(self.iters):  # slow-fast GRU schedule of the official decoder
            flow = coords
            ub.update(net, inp, iter16=False)
            ub.update(net, inp)
            ub.update(net, inp, flow)
            coords = coords + ub.flow_head(net[0])
            mask = 0.25 * ub.mask(net[0])
        up = self._upsample(coords, mask)
        depth = self.clamp(up[:, :1] * REGRESS_SCALE + DEPTH_MAX)
        return depth, up[:, 1:2], norm_normalize(up[:, 2:])


class DepthModel(nn.Module):
    """The official ``depth_model``: DINOv2 encoder and RAFT decoder (key names as the
    checkpoints)."""

    def __init__(self, cfg: VariantConfig) -> None:
        super().__init__()
        self.encoder = DinoV2RegEncoder(cfg)
        self.decoder = RAFTDepthNormalDPT5(cfg)


class Metric3DNet(nn.Module):
    """(B, 3, H, W) normalised image (H, W multiples of 28) → canonical-camera depth
    (B, 1, H, W) in [0.1, 200], confidence (B, 1, H, W), normals (B, 4, H, W): unit
    normal and kappa. Keys as the official ``model_state_dict``."""

    def __init__(self, variant: str = "vits") -> None:
        super().__init__()
        self.variant = variant
        self.depth_model = DepthModel(VARIANTS[variant])

    @classmethod
    def uninitialised(cls, variant: str = "vits") -> Metric3DNet:
        """The network with uninitialised parameters (fast), for loading a checkpoint into."""
        with torch.device("meta"):
            net = cls(variant)
        net.to_empty(device="cpu")
        net.depth_model.decoder.depth_bins = RAFTDepthNormalDPT5.bins()
        return net

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        patch_h, patch_w = int(x.shape[-2]) // PATCH, int(x.shape[-1]) // PATCH
        features = self.depth_model.encoder(x)
        out: tuple[torch.Tensor, torch.Tensor, torch.Tensor] = self.depth_model.decoder(
            features, patch_h, patch_w
        )
        return out
