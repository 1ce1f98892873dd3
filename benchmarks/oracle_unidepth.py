"""UniDepth V2: our implementation against the official one, on the same image.

The official code (github.com/lpiccinelli-eth/UniDepth, a checkout given with
``--official``) builds ``UniDepthV2`` from its own config with RANDOM weights; they are
saved as the release is (``torch.save`` of the state dict: ``pytorch_model.bin``) and
loaded by our model unchanged (strict). Both then run the official entry point's work
on one image: ours through ``infer(rgb, camera)``, the official ``model.infer(rgb, K)``;
with the camera's K and without (the network then predicts K). Reported per model ID:
max |difference| / output range of depth and confidence, the predicted focal's relative
difference, and the CPU time of both (median of ``--runs``).

The official code needs ``einops`` (and imports ``wandb`` for plots only: stubbed here
when absent); the comparison skips cleanly when the checkout or einops is missing::

    python benchmarks/oracle_unidepth.py --official /path/to/UniDepth [--variants vits]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
from _oracle import max_diff, median_ms, sample_image, sample_intrinsics


def _official(path: Path) -> Any:
    """The official UniDepthV2 class, or None (with the reason printed)."""
    if not (path / "unidepth" / "models" / "unidepthv2" / "unidepthv2.py").is_file():
        print(f"skip: {path} is not a UniDepth checkout")
        return None
    try:
        import einops  # noqa: F401
    except ImportError:
        print("skip: the official code needs einops (pip install einops)")
        return None
    if "wandb" not in sys.modules:
        try:
            import wandb  # noqa: F401
        except ImportError:  # only its plotting helpers use it
            sys.modules["wandb"] = types.ModuleType("wandb")
    sys.path.insert(0, str(path))
    with contextlib.redirect_stdout(sys.stderr):  # the official code prints
        from unidepth.models.unidepthv2.unidepthv2 import UniDepthV2

    return UniDepthV2


def _rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    diff, rng = max_diff(a, b)
    return diff, diff / rng if rng > 0 else diff


def compare(
    official_cls: Any,
    checkout: Path,
    variant: str,
    rgb: np.ndarray,
    runs: int,
    resolution_level: int | None,
) -> dict[str, Any]:
    import torch

    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models import ModelConfig, build_model

    config = json.loads((checkout / "configs" / f"config_v2_{variant}14.json").read_text())
    config["model"]["pixel_encoder"]["pretrained"] = None  # no DINOv2 download
    torch.manual_seed(0)
    with contextlib.redirect_stdout(sys.stderr):
        official = official_cls(config).eval()
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():  # random everywhere, norms and layer scales near 1
        for name, t in official.state_dict().items():
            noise = torch.randn(t.shape, generator=g) * 0.02
            one = name.endswith("gamma") or (t.ndim == 1 and name.endswith("weight"))
            t.copy_(noise + (1.0 if one else 0.0))
    if resolution_level is not None:
        official.resolution_level = resolution_level
    folder = Path(tempfile.mkdtemp(prefix="unidepth_oracle_"))
    ckpt = folder / "pytorch_model.bin"
    torch.save(official.state_dict(), ckpt)
    params = {} if resolution_level is None else {"resolution_level": resolution_level}
    ours: Any = build_model(f"unidepth_v2_{variant}", ModelConfig(weights=ckpt, params=params))

    h, w = rgb.shape[:2]
    fx, fy, cx, cy = sample_intrinsics(w, h)
    camera = PinholeCamera.from_intrinsics(w, h, fx, fy, cx, cy)
    k = torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]])
    x = torch.from_numpy(np.ascontiguousarray(rgb.transpose(2, 0, 1)))
    result: dict[str, Any] = {
        "model": f"unidepth_v2_{variant}",
        "image": f"{w}x{h}",
        "network_input": "x".join(str(v) for v in ours.geometry(h, w).size),
        "resolution_level": resolution_level,
    }
    for name, cam, kk in (("with_K", camera, k), ("without_K", None, None)):
        with torch.no_grad():
            ref = official.infer(x, None if kk is None else kk.clone())
        mine = ours.raw(rgb, cam)
        d, dr = _rel(mine.depth, ref["depth"][0, 0].numpy())
        c, cr = _rel(mine.confidence, ref["confidence"][0, 0].numpy())
        entry = {
            "depth_max_abs_diff": d,
            "depth_diff_over_range": dr,
            "depth_range": [float(ref["depth"].min()), float(ref["depth"].max())],
            "confidence_max_abs_diff": c,
            "confidence_diff_over_range": cr,
        }
        if kk is None:
            f_ref = float(ref["intrinsics"][0, 0, 0])
            entry["focal_official"] = f_ref
            entry["focal_ours"] = mine.intrinsics[0]
            entry["focal_rel_diff"] = abs(mine.intrinsics[0] - f_ref) / f_ref
        result[name] = entry
    if runs:
        inputs, _ = ours.network_inputs(rgb, camera)
        with torch.no_grad():
            result["official_infer_ms"] = median_ms(lambda: official.infer(x, k.clone()), runs)
        result["our_forward_ms"] = median_ms(lambda: ours.runner.run(inputs), runs)
        result["our_infer_ms"] = median_ms(lambda: ours.infer(rgb, camera), runs)
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official",
        type=Path,
        default=None,
        help="checkout of github.com/lpiccinelli-eth/UniDepth",
    )
    parser.add_argument("--variants", nargs="+", default=["vits"], choices=["vits", "vitb", "vitl"])
    parser.add_argument("--image", type=Path, default=None, help="an RGB image file")
    parser.add_argument(
        "--wide", action="store_true", help="also a 1242x375 crop (aspect ratio > 2.5: padded)"
    )
    parser.add_argument("--resolution-level", type=int, default=None)
    parser.add_argument("--runs", type=int, default=3, help="timing runs (0: none)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.official is None:
        print("skip: give --official PATH (a checkout of the official UniDepth code)")
        return 0
    official = _official(args.official.expanduser())
    if official is None:
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rgb, source = sample_image(args.image)
    images = [rgb]
    if args.wide:
        import cv2

        images.append(np.ascontiguousarray(cv2.resize(rgb, (1242, 375))))
    results = []
    for variant in args.variants:
        for i, img in enumerate(images):
            runs = args.runs if i == 0 else 0
            results.append(
                compare(official, args.official, variant, img, runs, args.resolution_level)
            )
    out = {"image": source, "torch_threads": torch.get_num_threads(), "results": results}
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
