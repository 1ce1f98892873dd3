"""Monodepth2 networks (Godard et al., ICCV 2019): the ResNet-18 encoder and the depth
decoder, with the parameter names of the official checkpoints.

``encoder.pth`` holds a torchvision ``resnet18`` under ``encoder.`` (its unused ``fc``
classifier included), ``depth.pth`` the decoder's convolutions as ``decoder.N``: N = 0..9
are the up-convolutions (``upconv`` i = 4..0, two per level), N = 10..13 the disparity
heads of scales 0..3. The official forward is reproduced: the encoder normalises its
input (x - 0.45) / 0.225; each decoder level is a reflection-padded 3x3 convolution with
ELU, nearest 2x upsampling, concatenation with the encoder skip, another convolution;
disparity = sigmoid of the scale-0 head. Only scale 0 (full network resolution) is used
at inference, so the heads of scales 1..3 are loaded but not run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ENCODER_CHANNELS = (64, 64, 128, 256, 512)
DECODER_CHANNELS = (16, 32, 64, 128, 256)


class BasicBlock(nn.Module):
    """torchvision's ResNet BasicBlock (same names: conv1 bn1 conv2 bn2 downsample)."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(
                nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes)
            )

    def forward(self, x: Tensor) -> Tensor:
        identity: Tensor = x if self.downsample is None else self.downsample(x)
        out: Tensor = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        result: Tensor = self.relu(out + identity)
        return result


def _layer(inplanes: int, planes: int, stride: int) -> nn.Sequential:
    return nn.Sequential(BasicBlock(inplanes, planes, stride), BasicBlock(planes, planes))


class ResNet18(nn.Module):
    """The layout of torchvision ``resnet18`` (conv1 bn1 layer1..4 fc)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = _layer(64, 64, 1)
        self.layer2 = _layer(64, 128, 2)
        self.layer3 = _layer(128, 256, 2)
        self.layer4 = _layer(256, 512, 2)
        self.fc = nn.Linear(512, 1000)  # in the official files; unused for depth


class ResnetEncoder(nn.Module):
    """Official ``ResnetEncoder(18)``: five feature maps at 1/2 .. 1/32 resolution."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResNet18()

    def forward(self, image: Tensor) -> list[Tensor]:
        e = self.encoder
        x = (image - 0.45) / 0.225
        f0 = e.relu(e.bn1(e.conv1(x)))
        f1 = e.layer1(e.maxpool(f0))
        f2 = e.layer2(f1)
        f3 = e.layer3(f2)
        f4 = e.layer4(f3)
        return [f0, f1, f2, f3, f4]


class Conv3x3(nn.Module):
    """Reflection padding 1, then a 3x3 convolution (official ``Conv3x3``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3)

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.conv(F.pad(x, (1, 1, 1, 1), mode="reflect"))
        return out


class ConvBlock(nn.Module):
    """Conv3x3 then ELU (official ``ConvBlock``)."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = Conv3x3(cin, cout)

    def forward(self, x: Tensor) -> Tensor:
        return F.elu(self.conv(x))


class DepthDecoder(nn.Module):
    """Official ``DepthDecoder(num_ch_enc, scales=range(4))`` with skips."""

    def __init__(self) -> None:
        super().__init__()
        enc, dec = ENCODER_CHANNELS, DECODER_CHANNELS
        layers: list[nn.Module] = []
        for i in range(4, -1, -1):
            cin = enc[-1] if i == 4 else dec[i + 1]
            layers.append(ConvBlock(cin, dec[i]))  # ("upconv", i, 0)
            layers.append(ConvBlock(dec[i] + (enc[i - 1] if i > 0 else 0), dec[i]))
        layers.extend(Conv3x3(dec[s], 1) for s in range(4))  # ("dispconv", s)
        self.decoder = nn.ModuleList(layers)

    def forward(self, features: list[Tensor]) -> Tensor:
        """Disparity (sigmoid, 0..1) at scale 0: (B, 1, H, W) for an (H, W) input."""
        x = features[-1]
        convs = self.decoder
        for n, i in enumerate(range(4, -1, -1)):
            x = convs[2 * n](x)
            x = F.interpolate(x, scale_factor=2.0, mode="nearest")
            if i > 0:
                x = torch.cat([x, features[i - 1]], 1)
            x = convs[2 * n + 1](x)
        return torch.sigmoid(convs[10](x))


class Monodepth2Net(nn.Module):
    """Encoder and decoder as one module: image in [0, 1] (B, 3, H, W), H and W multiples
    of 32 → disparity (B, 1, H, W) in (0, 1), the official ``outputs[("disp", 0)]``."""

    def __init__(self) -> None:
        super().__init__()
        self.encoder = ResnetEncoder()
        self.depth = DepthDecoder()

    def forward(self, image: Tensor) -> Tensor:
        out: Tensor = self.depth(self.encoder(image))
        return out
