"""PSMNet (Chang & Chen, CVPR 2018), stacked-hourglass variant, in plain PyTorch.

Module and attribute names follow the official release so that its checkpoints (e.g.
``pretrained_model_KITTI2015.tar``) load with a strict key match after the
``module.`` prefix is removed. Upsampling uses ``align_corners=True`` as the official
README prescribes for PyTorch >= 0.4.1. The cost volume is built from shifted copies
(no in-place writes) so the network exports to ONNX with dynamic height and width.

Input: two ImageNet-normalised RGB tensors (N, 3, H, W), H and W multiples of 16 and at
least 256 (the pyramid pooling's 64x64 cell needs 64 feature rows at 1/4 size).
Output: disparity (N, H, W) in pixels, 0..max_disparity-1.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

MIN_SIZE = 256
SIZE_MULTIPLE = 16


def _conv_bn(
    cin: int, cout: int, kernel: int, stride: int, pad: int, dilation: int
) -> nn.Sequential:
    padding = dilation if dilation > 1 else pad
    return nn.Sequential(
        nn.Conv2d(cin, cout, kernel, stride, padding, dilation=dilation, bias=False),
        nn.BatchNorm2d(cout),
    )


def _conv_bn_3d(cin: int, cout: int, kernel: int, stride: int, pad: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv3d(cin, cout, kernel, stride, pad, bias=False), nn.BatchNorm3d(cout)
    )


class ResidualBlock(nn.Module):
    """Two 3x3 conv-BN layers with a ReLU between and an identity (or 1x1) shortcut."""

    def __init__(
        self, cin: int, cout: int, stride: int, downsample: nn.Module | None, dilation: int
    ) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(_conv_bn(cin, cout, 3, stride, 1, dilation), nn.ReLU(True))
        self.conv2 = _conv_bn(cout, cout, 3, 1, 1, dilation)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out: Tensor = self.conv2(self.conv1(x)) + shortcut
        return out


def _stage(cin: int, cout: int, blocks: int, stride: int, dilation: int) -> nn.Sequential:
    down: nn.Module | None = None
    if stride != 1 or cin != cout:
        down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
    layers = [ResidualBlock(cin, cout, stride, down, dilation)]
    layers += [ResidualBlock(cout, cout, 1, None, dilation) for _ in range(blocks - 1)]
    return nn.Sequential(*layers)


def _pool_branch(size: int) -> nn.Sequential:
    return nn.Sequential(
        nn.AvgPool2d((size, size), stride=(size, size)),
        _conv_bn(128, 32, 1, 1, 0, 1),
        nn.ReLU(True),
    )


class FeatureExtraction(nn.Module):
    """ResNet-like trunk at 1/4 resolution plus spatial pyramid pooling → 32 channels."""

    def __init__(self) -> None:
        super().__init__()
        self.firstconv = nn.Sequential(
            _conv_bn(3, 32, 3, 2, 1, 1),
            nn.ReLU(True),
            _conv_bn(32, 32, 3, 1, 1, 1),
            nn.ReLU(True),
            _conv_bn(32, 32, 3, 1, 1, 1),
            nn.ReLU(True),
        )
        self.layer1 = _stage(32, 32, 3, 1, 1)
        self.layer2 = _stage(32, 64, 16, 2, 1)
        self.layer3 = _stage(64, 128, 3, 1, 1)
        self.layer4 = _stage(128, 128, 3, 1, 2)
        self.branch1 = _pool_branch(64)
        self.branch2 = _pool_branch(32)
        self.branch3 = _pool_branch(16)
        self.branch4 = _pool_branch(8)
        self.lastconv = nn.Sequential(
            _conv_bn(320, 128, 3, 1, 1, 1), nn.ReLU(True), nn.Conv2d(128, 32, 1, bias=False)
        )

    def forward(self, x: Tensor) -> Tensor:
        raw = self.layer2(self.layer1(self.firstconv(x)))
        skip = self.layer4(self.layer3(raw))
        size = skip.shape[-2:]
        pooled = [
            F.interpolate(branch(skip), size=size, mode="bilinear", align_corners=True)
            for branch in (self.branch4, self.branch3, self.branch2, self.branch1)
        ]
        out: Tensor = self.lastconv(torch.cat([raw, skip, *pooled], 1))
        return out


class Hourglass(nn.Module):
    """3D encoder-decoder over the cost volume, with the cross-hourglass connections."""

    def __init__(self, c: int) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(_conv_bn_3d(c, 2 * c, 3, 2, 1), nn.ReLU(True))
        self.conv2 = _conv_bn_3d(2 * c, 2 * c, 3, 1, 1)
        self.conv3 = nn.Sequential(_conv_bn_3d(2 * c, 2 * c, 3, 2, 1), nn.ReLU(True))
        self.conv4 = nn.Sequential(_conv_bn_3d(2 * c, 2 * c, 3, 1, 1), nn.ReLU(True))
        self.conv5 = nn.Sequential(
            nn.ConvTranspose3d(2 * c, 2 * c, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm3d(2 * c),
        )
        self.conv6 = nn.Sequential(
            nn.ConvTranspose3d(2 * c, c, 3, 2, 1, output_padding=1, bias=False),
            nn.BatchNorm3d(c),
        )

    def forward(
        self, x: Tensor, presqu: Tensor | None, postsqu: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor]:
        pre = self.conv2(self.conv1(x))
        pre = F.relu(pre if postsqu is None else pre + postsqu)
        out = self.conv4(self.conv3(pre))
        post = F.relu(self.conv5(out) + (pre if presqu is None else presqu))
        return self.conv6(post), pre, post


def _classifier() -> nn.Sequential:
    return nn.Sequential(
        _conv_bn_3d(32, 32, 3, 1, 1), nn.ReLU(True), nn.Conv3d(32, 1, 3, 1, 1, bias=False)
    )


def cost_volume(ref: Tensor, tgt: Tensor, levels: int) -> Tensor:
    """Concatenation volume (N, 2C, levels, H, W): at level d, left features and right
    features shifted right by d, both zero where x < d."""
    slices = [torch.cat([ref, tgt], 1)]
    for d in range(1, levels):
        shifted_ref = F.pad(ref[..., d:], (d, 0))
        shifted_tgt = F.pad(tgt[..., :-d], (d, 0))
        slices.append(torch.cat([shifted_ref, shifted_tgt], 1))
    return torch.stack(slices, 2)


class PSMNet(nn.Module):
    """Stacked-hourglass PSMNet; ``forward`` returns the final (third) disparity."""

    def __init__(self, max_disparity: int = 192) -> None:
        super().__init__()
        if max_disparity % 16 or max_disparity <= 0:
            raise ValueError(
                f"max_disparity must be a positive multiple of 16, got {max_disparity}"
            )
        self.max_disparity = max_disparity
        self.feature_extraction = FeatureExtraction()
        self.dres0 = nn.Sequential(
            _conv_bn_3d(64, 32, 3, 1, 1), nn.ReLU(True), _conv_bn_3d(32, 32, 3, 1, 1), nn.ReLU(True)
        )
        self.dres1 = nn.Sequential(
            _conv_bn_3d(32, 32, 3, 1, 1), nn.ReLU(True), _conv_bn_3d(32, 32, 3, 1, 1)
        )
        self.dres2 = Hourglass(32)
        self.dres3 = Hourglass(32)
        self.dres4 = Hourglass(32)
        self.classif1 = _classifier()
        self.classif2 = _classifier()
        self.classif3 = _classifier()

    def forward(self, left: Tensor, right: Tensor) -> Tensor:
        ref = self.feature_extraction(left)
        tgt = self.feature_extraction(right)
        cost = cost_volume(ref, tgt, self.max_disparity // 4)
        cost0 = self.dres0(cost)
        cost0 = self.dres1(cost0) + cost0
        out1, pre1, post1 = self.dres2(cost0, None, None)
        out1 = out1 + cost0
        out2, _, post2 = self.dres3(out1, pre1, post1)
        out2 = out2 + cost0
        out3, _, _ = self.dres4(out2, pre1, post2)
        out3 = out3 + cost0
        cost1 = self.classif1(out1)
        cost2 = self.classif2(out2) + cost1
        cost3 = self.classif3(out3) + cost2
        height, width = left.shape[-2:]
        cost3 = F.interpolate(
            cost3, size=(self.max_disparity, height, width), mode="trilinear", align_corners=True
        ).squeeze(1)
        prob = F.softmax(cost3, dim=1)
        disp = torch.arange(self.max_disparity, dtype=prob.dtype, device=prob.device)
        return (prob * disp.view(1, -1, 1, 1)).sum(1)
