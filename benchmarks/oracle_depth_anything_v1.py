"""Depth Anything V1: our implementation against the official code, on the same image.

The official repository (github.com/LiheYoung/Depth-Anything, not part of this package)
is an oracle only: its ``DepthAnything`` network is built with random weights, saved as the
official files are (``torch.save(model.state_dict())``), that file is loaded by our model
ID (strict, unchanged), and both run on the same image: the official path is ``run.py``'s
(cv2 RGB / 255, ``Resize(518, lower_bound, multiple of 14, INTER_CUBIC)``, ImageNet
normalisation, network, ``F.interpolate(bilinear, align_corners=False)`` to the image size).

    python benchmarks/oracle_depth_anything_v1.py --official /path/to/Depth-Anything \
        [--encoders vits vitb vitl] [--image IMG] [--json]

Prints max |ours - official| / (official max - min) per encoder (goal <= 1e-3); exits 0
with a "skipped" line when the official code is not given or not found.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _oracle import compared, report, sample_image

_CONFIGS = {
    "vitl": {"encoder": "vitl", "features": 256, "out_channels": [256, 512, 1024, 1024]},
    "vitb": {"encoder": "vitb", "features": 128, "out_channels": [96, 192, 384, 768]},
    "vits": {"encoder": "vits", "features": 64, "out_channels": [48, 96, 192, 384]},
}


def _randomise(net: Any, seed: int) -> None:
    """Random weights with the scale of a trained ViT (LayerScale and norms near 1)."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if t.dtype.is_floating_point:
                v = torch.randn(t.shape, generator=g) * 0.05
                if name.endswith(("gamma", "norm1.weight", "norm2.weight", "norm.weight")):
                    v += 1.0
                t.copy_(v)


def official_prediction(official: Path, encoder: str, rgb: np.ndarray, folder: Path) -> Any:
    import os

    import cv2
    import torch
    import torch.nn.functional as F

    sys.path.insert(0, str(official))
    cwd = os.getcwd()
    os.chdir(official)  # the official code loads DINOv2 from ./torchhub (relative path)
    try:
        from depth_anything.dpt import DepthAnything
        from depth_anything.util.transform import NormalizeImage, PrepareForNet, Resize
        from torchvision.transforms import Compose

        model = DepthAnything(_CONFIGS[encoder]).eval()
    finally:
        os.chdir(cwd)
    _randomise(model, seed=1)
    path = folder / f"depth_anything_{encoder}14.pth"
    torch.save(model.state_dict(), path)
    transform = Compose(
        [
            Resize(
                width=518,
                height=518,
                resize_target=False,
                keep_aspect_ratio=True,
                ensure_multiple_of=14,
                resize_method="lower_bound",
                image_interpolation_method=cv2.INTER_CUBIC,
            ),
            NormalizeImage(mean=[0.485, 0.456, 0.406], std=[0.229, 0.224, 0.225]),
            PrepareForNet(),
        ]
    )
    h, w = rgb.shape[:2]
    image = transform({"image": rgb / 255.0})["image"]
    x = torch.from_numpy(image).unsqueeze(0)
    with torch.no_grad():
        depth = model(x)
        depth = F.interpolate(depth[None], (h, w), mode="bilinear", align_corners=False)[0, 0]
    return depth.numpy(), path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="checkout of LiheYoung/Depth-Anything")
    parser.add_argument("--encoders", nargs="+", default=["vits"], choices=list(_CONFIGS))
    parser.add_argument("--image", help="image file (default: a 640x480 sample scene)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.official is None or not (args.official / "depth_anything" / "dpt.py").is_file():
        print(f"skipped: official Depth-Anything code not found ({args.official})")
        return 0
    import torch

    from depth_ros.core.models import ModelConfig, build_model

    torch.manual_seed(0)
    rgb, _ = sample_image(args.image)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for encoder in args.encoders:
            ref, path = official_prediction(args.official, encoder, rgb, Path(tmp))
            ours = build_model(f"depth_anything_v1_{encoder}", ModelConfig(weights=path))
            out = ours.predict(rgb)  # type: ignore[attr-defined]
            results.append(compared(f"depth_anything_v1_{encoder}", rgb, out, ref))
    return report(results, args.json)


if __name__ == "__main__":
    sys.exit(main())
