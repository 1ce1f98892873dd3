"""Video Depth Anything (Chen et al., CVPR 2025), streaming: one frame in, one depth out,
with the temporal attention's inputs of earlier frames kept in a window.

The network is Depth Anything V2's (the same DINOv2 encoder and DPT head, key for key) plus
four temporal motion modules in the head (``head.motion_modules.N``): temporal
self-attention across frames at every spatial position, after the reassembled ViT levels
3 and 4 and after fusion stages 4 and 3. Each motion module is a GroupNorm, a linear
projection, one transformer block of two temporal self-attention layers (8 heads,
sinusoidal frame positions over 32 frames, the ``pos_encoder.pe`` buffer of the
checkpoints) and a GEGLU feed-forward, and a linear projection back, added to its input.
Module and parameter names follow the official code, so the released
``video_depth_anything_*.pth`` and ``metric_video_depth_anything_*.pth`` files load with a
strict key match.

Streaming follows the official ``infer_video_depth_one`` (``video_depth_stream.py``): each
temporal attention layer attends from the new frame to the new frame plus 31 cached frames
(the inputs of that layer, before the position encoding, of earlier frames). The first
frame after a reset is its own history (copied to fill the 32-frame window). The cache
list grows to 42 frames and then drops its second entry each frame; the frames attended
are its first two entries (the first frame after the reset is kept as an anchor) and its
last 29. :meth:`VideoDepthAnythingNet.reset` drops the window; it is dropped as well when
the input size changes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from depth_ros.core.models.nets.depth_anything_v2 import ENCODERS, dinov2, intermediate_tokens
from depth_ros.core.models.nets.dinov2 import PATCH
from depth_ros.core.models.nets.dpt_head import DPTHead

#: the official streaming constants (``video_depth_stream.py``: "do not change")
INFER_LEN = 32  # frames attended, the new one included
OVERLAP = 10
INTERP_LEN = 8
GAP = (INFER_LEN - OVERLAP) * 2 - 1 - (OVERLAP - INTERP_LEN)  # 41
HEADS = 8

Cache = tuple[torch.Tensor, ...]  # one frame's inputs of the 8 temporal attention layers


class PositionalEncoding(nn.Module):
    """Sinusoidal frame positions (``pe``, saved in the checkpoints), added to the input."""

    def __init__(self, dim: int, max_len: int = INFER_LEN) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div = torch.exp(torch.arange(0, dim, 2) * (-math.log(10000.0) / dim))
        pe = torch.zeros(1, max_len, dim)
        pe[0, :, 0::2] = torch.sin(position * div)
        pe[0, :, 1::2] = torch.cos(position * div)
        self.pe: torch.Tensor
        self.register_buffer("pe", pe)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.pe[:, : x.shape[1]].to(x.dtype)


class TemporalAttention(nn.Module):
    """Self-attention over frames at each spatial position: (positions, frames, C)."""

    def __init__(self, dim: int, heads: int = HEADS, max_len: int = INFER_LEN) -> None:
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(dim, dim, bias=False)
        self.to_k = nn.Linear(dim, dim, bias=False)
        self.to_v = nn.Linear(dim, dim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(dim, dim), nn.Dropout(0.0)])
        self.pos_encoder = PositionalEncoding(dim, max_len)

    def _split(self, t: torch.Tensor) -> torch.Tensor:
        n, f, c = t.shape
        return t.reshape(n, f, self.heads, c // self.heads).transpose(1, 2)

    def forward(
        self, x: torch.Tensor, cached: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``x`` (P, T, C): P spatial positions, T new frames; ``cached`` (P, n, C): the
        earlier frames' inputs of this layer. → (the new frames' output (P, T, C), ``x``
        to cache)."""
        seq = x if cached is None else torch.cat((cached, x), dim=1)
        seq = self.pos_encoder(seq)
        q = self._split(self.to_q(seq[:, seq.shape[1] - x.shape[1] :]))
        k, v = self._split(self.to_k(seq)), self._split(self.to_v(seq))
        out = F.scaled_dot_product_attention(q, k, v)
        out = out.transpose(1, 2).reshape(x.shape)
        return self.to_out[1](self.to_out[0](out)), x


class GEGLU(nn.Module):
    """Gated GELU: a linear layer to twice ``dim_out``, one half gating the other."""

    def __init__(self, dim_in: int, dim_out: int) -> None:
        super().__init__()
        self.proj = nn.Linear(dim_in, dim_out * 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, gate = self.proj(x).chunk(2, dim=-1)
        out: torch.Tensor = h * F.gelu(gate)
        return out


class FeedForward(nn.Module):
    """The transformer block's feed-forward: GEGLU to ``mult`` x ``dim``, back to ``dim``."""

    def __init__(self, dim: int, mult: int = 4) -> None:
        super().__init__()
        self.net = nn.ModuleList(
            [GEGLU(dim, dim * mult), nn.Dropout(0.0), nn.Linear(dim * mult, dim)]
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for layer in self.net:
            x = layer(x)
        return x


class TemporalTransformerBlock(nn.Module):
    """Two pre-norm temporal self-attention layers and a GEGLU feed-forward, residual."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.attention_blocks = nn.ModuleList([TemporalAttention(dim) for _ in range(2)])
        self.norms = nn.ModuleList([nn.LayerNorm(dim) for _ in range(2)])
        self.ff = FeedForward(dim)
        self.ff_norm = nn.LayerNorm(dim)

    def forward(
        self, x: torch.Tensor, cached: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        new = []
        for i, (attention, norm) in enumerate(zip(self.attention_blocks, self.norms, strict=True)):
            out, inp = attention(norm(x), None if cached is None else cached[i])
            x = x + out
            new.append(inp)
        return x + self.ff(self.ff_norm(x)), new


class TemporalTransformer3DModel(nn.Module):
    """Group norm, projection, temporal transformer blocks across frames, projection back,
    residual (the official module name)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.norm = nn.GroupNorm(32, channels, eps=1e-6, affine=True)
        self.proj_in = nn.Linear(channels, channels)
        self.transformer_blocks = nn.ModuleList([TemporalTransformerBlock(channels)])
        self.proj_out = nn.Linear(channels, channels)

    def forward(
        self, x: torch.Tensor, frames: int, cached: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``x`` (B·T, C, H, W), frame-major within each batch item → same shape, and the
        attention layers' inputs (B·H·W, T, C) to cache."""
        bt, c, h, w = x.shape
        b = bt // frames
        hidden = self.proj_in(self.norm(x).permute(0, 2, 3, 1).reshape(bt, h * w, c))
        # (B·T, HW, C) → (B·HW, T, C): attention runs across frames
        hidden = hidden.reshape(b, frames, h * w, c).transpose(1, 2).reshape(b * h * w, frames, c)
        new: list[torch.Tensor] = []
        n = len(cached) // len(self.transformer_blocks) if cached is not None else 0
        for i, block in enumerate(self.transformer_blocks):
            hidden, inputs = block(hidden, cached[i * n : (i + 1) * n] if cached else None)
            new.extend(inputs)
        hidden = self.proj_out(hidden)
        hidden = hidden.reshape(b, h * w, frames, c).transpose(1, 2).reshape(bt, h, w, c)
        return hidden.permute(0, 3, 1, 2) + x, new


class TemporalModule(nn.Module):
    """One motion module of the head: a :class:`TemporalTransformer3DModel`."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.temporal_transformer = TemporalTransformer3DModel(channels)

    def forward(
        self, x: torch.Tensor, frames: int, cached: list[torch.Tensor] | None
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        out: tuple[torch.Tensor, list[torch.Tensor]] = self.temporal_transformer(x, frames, cached)
        return out


class TemporalDPTHead(DPTHead):
    """Depth Anything V2's relative DPT head with the four motion modules."""

    def __init__(self, in_channels: int, features: int, out_channels: tuple[int, ...]) -> None:
        super().__init__(in_channels, features, out_channels, PATCH)
        self.motion_modules = nn.ModuleList(
            [
                TemporalModule(out_channels[2]),
                TemporalModule(out_channels[3]),
                TemporalModule(features),
                TemporalModule(features),
            ]
        )

    def forward_temporal(
        self,
        tokens: list[torch.Tensor],
        patch_h: int,
        patch_w: int,
        frames: int,
        cached: list[torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """``tokens``: four (B·T, N, C) patch-token maps; ``cached``: 8 tensors (two per
        motion module, in order), each (B·HW, n, C) for n earlier frames, or None → the
        (B·T, 1, H, W) prediction and this frame's 8 attention inputs."""
        layers = []
        for i, x in enumerate(tokens):
            x = x.permute(0, 2, 1).reshape(x.shape[0], x.shape[-1], patch_h, patch_w)
            layers.append(self.resize_layers[i](self.projects[i](x)))
        new: list[torch.Tensor] = []

        def temporal(i: int, x: torch.Tensor) -> torch.Tensor:
            out: torch.Tensor
            out, inputs = self.motion_modules[i](
                x, frames, cached[2 * i : 2 * i + 2] if cached else None
            )
            new.extend(inputs)
            return out

        s = self.scratch
        layer_3 = temporal(0, layers[2])
        layer_4 = temporal(1, layers[3])
        l1, l2 = s.layer1_rn(layers[0]), s.layer2_rn(layers[1])
        l3, l4 = s.layer3_rn(layer_3), s.layer4_rn(layer_4)
        path = temporal(2, s.refinenet4(l4, size=l3.shape[2:]))
        path = temporal(3, s.refinenet3(path, l3, size=l2.shape[2:]))
        path = s.refinenet2(path, l2, size=l1.shape[2:])
        path = s.refinenet1(path, l1)
        out = s.output_conv1(path)
        out = F.interpolate(
            out, (patch_h * PATCH, patch_w * PATCH), mode="bilinear", align_corners=True
        )
        return F.relu(s.output_conv2(out)), new


class VideoDepthAnythingNet(nn.Module):
    """Streaming Video Depth Anything: each call is the next frame of a stream.

    (1, 3, H, W) normalised frame, H and W multiples of 14 → (1, H, W): relative inverse
    depth (``video_depth_anything_*``) or metres (``metric_video_depth_anything_*``), with
    the window of earlier frames updated (module docstring). The state is dropped by
    :meth:`reset` and when the input size changes.
    """

    def __init__(self, encoder: str = "vits") -> None:
        super().__init__()
        cfg = ENCODERS[encoder]
        self.encoder = encoder
        self.layers = cfg.layers
        self.pretrained = dinov2(encoder)
        self.head = TemporalDPTHead(cfg.embed_dim, cfg.features, cfg.out_channels)
        self._window: list[Cache] = []
        self._frames = 0  # frames since the reset (the official ``id`` + 1)
        self._shape: tuple[int, ...] | None = None

    def reset(self) -> None:
        """Forget the earlier frames: the next frame starts a new stream."""
        self._window = []
        self._frames = 0
        self._shape = None

    @property
    def frames(self) -> int:
        """Frames seen since the last reset."""
        return self._frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[0] != 1:
            raise ValueError(f"streaming takes one frame at a time, got a batch of {x.shape[0]}")
        if self._shape != tuple(x.shape):
            self.reset()
            self._shape = tuple(x.shape)
        tokens, patch_h, patch_w = intermediate_tokens(self.pretrained, x, self.layers)
        if not self._window:
            depth, cache = self.head.forward_temporal(tokens, patch_h, patch_w, 1)
            self._window = [tuple(cache)] * INFER_LEN
        else:
            used = self._window[:2] + self._window[-(INFER_LEN - 3) :]
            cached = [torch.cat([c[i] for c in used], dim=1) for i in range(len(used[0]))]
            depth, cache = self.head.forward_temporal(tokens, patch_h, patch_w, 1, cached)
            self._window.append(tuple(cache))
        if self._frames + INFER_LEN > GAP + 1:
            del self._window[1]
        self._frames += 1
        return depth.squeeze(1)
