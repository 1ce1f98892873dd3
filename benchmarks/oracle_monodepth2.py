"""Our Monodepth2 against the official implementation, on the same image and weights.

The official code (github.com/nianticlabs/monodepth2, a checkout given with --official;
it needs torchvision) builds ``ResnetEncoder(18, False)`` and ``DepthDecoder`` with
random weights (the official initialisation, BatchNorm statistics made random); they are
saved as the official release is (``encoder.pth`` = encoder state dict + ``height``,
``width``, ``use_stereo``; ``depth.pth`` = decoder state dict) and loaded by our model
ID unchanged. The official path is the one of ``test_simple.py``: PIL LANCZOS resize
to 640x192, ToTensor, encoder, decoder, ``("disp", 0)`` resized bilinear
(align_corners=False) to the image size, ``disp_to_depth(disp, 0.1, 100)``; the mono
model's output is the scaled disparity, the stereo model's ``STEREO_SCALE_FACTOR * depth``.

Prints max|diff| / output range per model ID (goal <= 1e-3). Skips (exit 0) when the
official checkout is absent. Usage::

    python benchmarks/oracle_monodepth2.py --official /tmp/oracle/monodepth2 [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
from _oracle import sample_image


def official_outputs(
    official: Path, rgb: np.ndarray, folder: Path, use_stereo: bool, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random official networks saved into ``folder``; (scaled disparity, metric depth)
    at the image size by the official inference path."""
    sys.path.insert(0, str(official))
    import networks  # type: ignore[import-not-found]
    import PIL.Image as pil
    import torch
    from layers import disp_to_depth  # type: ignore[import-not-found]
    from torchvision import transforms

    torch.manual_seed(seed)
    encoder = networks.ResnetEncoder(18, False)
    decoder = networks.DepthDecoder(num_ch_enc=encoder.num_ch_enc, scales=range(4))
    g = torch.Generator().manual_seed(seed)
    for m in encoder.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)
    enc_state: dict[str, Any] = dict(encoder.state_dict())
    enc_state.update(height=192, width=640, use_stereo=use_stereo)
    torch.save(enc_state, folder / "encoder.pth")
    torch.save(decoder.state_dict(), folder / "depth.pth")

    # test_simple.py, with the saved files loaded as it loads them
    encoder = networks.ResnetEncoder(18, False)
    loaded = torch.load(folder / "encoder.pth", map_location="cpu")
    feed_height, feed_width = loaded["height"], loaded["width"]
    encoder.load_state_dict({k: v for k, v in loaded.items() if k in encoder.state_dict()})
    encoder.eval()
    decoder = networks.DepthDecoder(num_ch_enc=encoder.num_ch_enc, scales=range(4))
    decoder.load_state_dict(torch.load(folder / "depth.pth", map_location="cpu"))
    decoder.eval()
    image = pil.fromarray(rgb)
    w, h = image.size
    x = transforms.ToTensor()(image.resize((feed_width, feed_height), pil.LANCZOS))[None]
    with torch.no_grad():
        disp = decoder(encoder(x))[("disp", 0)]
        disp = torch.nn.functional.interpolate(disp, (h, w), mode="bilinear", align_corners=False)
        scaled, depth = disp_to_depth(disp, 0.1, 100)
    return scaled[0, 0].numpy(), 5.4 * depth[0, 0].numpy()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--official", type=Path, default=Path("/tmp/oracle/monodepth2"))
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not (args.official / "networks" / "depth_decoder.py").is_file():
        print(f"skipped: no official Monodepth2 checkout at {args.official}")
        return 0
    import torch

    from depth_ros.core.models import ModelConfig, build_model

    torch.set_num_threads(1)
    rgb, _ = sample_image()
    rows = []
    for model_id, use_stereo, seed in (
        ("monodepth2_mono_640x192", False, 0),
        ("monodepth2_stereo_640x192", True, 1),
    ):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp) / model_id
            folder.mkdir()
            scaled, metric = official_outputs(args.official, rgb, folder, use_stereo, seed)
            ref = metric if use_stereo else scaled
            ours = build_model(model_id, ModelConfig(weights=folder)).predict(rgb)  # type: ignore[attr-defined]
        diff = float(np.abs(ours - ref).max())
        rng = float(np.ptp(ref))
        rows.append(
            {
                "model": model_id,
                "image": f"{rgb.shape[1]}x{rgb.shape[0]}",
                "max_abs_diff": diff,
                "output_range": rng,
                "diff_over_range": diff / rng,
                "ok": diff / rng <= 1e-3,
            }
        )
    if args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print(
                f"{r['model']}: max|diff| {r['max_abs_diff']:.3g} / range "
                f"{r['output_range']:.4g} = {r['diff_over_range']:.3g} "
                f"({'ok' if r['ok'] else 'FAIL'}, goal <= 1e-3)"
            )
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
