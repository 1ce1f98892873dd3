"""Depth Pro against the official implementation (github.com/apple/ml-depth-pro).

The official network is built with the official code (``create_model_and_transforms``),
given random weights, and saved as the official checkpoint is (``torch.save`` of its state
dict). The official ``infer`` then runs on an image with a given ``f_px`` and without one
(FOV head), and ``depth_pro`` is built from the same file through our loader
(``build_model``) and run with a camera of that fx and without a camera. Reported:
max |ours - official| / (official max - min) of the depth (goal <= 1e-3) and of the network's
canonical inverse depth, the focal estimates, and the CPU time of one frame.

The official code is an oracle only: pass the path of a checkout (``--official``); without
it the script prints why it skipped and exits 0. It needs timm and torchvision (the official
imports); ``pillow_heif`` (HEIF image reading, unused here) is stubbed when missing.

``--small`` compares a reduced network instead (the official code with its ViT preset
replaced by timm's ViT-S/14 DINOv2 cut to 4 blocks, 64 decoder features): the same code
paths, quick. Usage::

    python benchmarks/oracle_depth_pro.py --official /path/to/ml-depth-pro [--small]
        [--image IMG] [--fx 525] [--threads 1] [--json]
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import sys
import tempfile
import time
import types
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
from _oracle import sample_image

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))


def _import_official(root: Path) -> Any:
    src = root / "src"
    if not (src / "depth_pro" / "depth_pro.py").is_file():
        return None
    try:
        importlib.import_module("pillow_heif")
    except ImportError:  # HEIF reading only (depth_pro.utils); not used here
        sys.modules["pillow_heif"] = types.SimpleNamespace(register_heif_opener=lambda: None)
    sys.path.insert(0, str(src))
    return importlib.import_module("depth_pro.depth_pro")


def _small_official(dp: Any) -> Any:
    """The official config with a reduced ViT preset (same code paths)."""
    import timm

    vf = importlib.import_module("depth_pro.network.vit_factory")
    preset = replace(
        vf.VIT_CONFIG_DICT["dinov2l16_384"],
        embed_dim=384,
        encoder_feature_layer_ids=[1, 3],
        encoder_feature_dims=[64, 128, 256, 256],
        timm_preset="vit_small_patch14_dinov2",
    )
    vf.VIT_CONFIG_DICT["small"] = preset
    dp.VIT_CONFIG_DICT["small"] = preset
    create = timm.create_model
    vf.timm = types.SimpleNamespace(create_model=lambda *a, **k: create(*a, depth=4, **k))
    return replace(
        dp.DEFAULT_MONODEPTH_CONFIG_DICT,
        patch_encoder_preset="small",
        image_encoder_preset="small",
        fov_encoder_preset="small",
        decoder_features=64,
        checkpoint_uri=None,
    )


def _randomise(model: Any, seed: int) -> None:
    """Meaningful random weights (the official init leaves LayerScale at 1e-5, which makes
    every ViT block nearly the identity): weights ~ N(0, 1/fan_in), biases ~ N(0, 0.02),
    norms near 1, LayerScale 0.1, depth-head bias 10 (inverse depth well above 0, where
    depth = 1 / inverse is well conditioned), FOV-head bias 60 degrees."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for mname, module in model.named_modules():
            for pname, p in module.named_parameters(recurse=False):
                name = f"{mname}.{pname}"
                shape = tuple(p.shape)
                if pname == "gamma":
                    v = torch.full(shape, 0.1)
                elif "norm" in mname.rsplit(".", 1)[-1] and pname == "weight":
                    v = 1.0 + 0.02 * torch.randn(shape, generator=g)
                elif len(shape) >= 2 and pname not in ("pos_embed", "cls_token"):
                    transposed = isinstance(module, torch.nn.ConvTranspose2d)
                    fan = shape[0] if transposed else int(np.prod(shape[1:]))
                    v = torch.randn(shape, generator=g) / float(np.sqrt(fan))
                else:
                    v = 0.02 * torch.randn(shape, generator=g)
                if name == "head.4.bias":  # canonical inverse depth well above 0
                    v = torch.full(shape, 10.0)
                if name == "fov.head.4.bias":
                    v = torch.full(shape, 60.0)
                p.copy_(v)


class _Memo:
    """Calls ``fn`` once per distinct input (the network is deterministic): the official
    ``infer`` with and without ``f_px`` then shares one forward pass."""

    def __init__(self, fn: Any, same: Any) -> None:
        self.fn, self.same = fn, same
        self.key: Any = None
        self.value: Any = None
        self.seconds = 0.0

    def __call__(self, x: Any) -> Any:
        if self.key is None or not self.same(self.key, x):
            t0 = time.perf_counter()
            self.key, self.value = x, self.fn(x)
            self.seconds = time.perf_counter() - t0
        return self.value


def _rel(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    a64, b64 = np.asarray(a, np.float64), np.asarray(b, np.float64)
    diff = float(np.max(np.abs(a64 - b64)))
    rng = float(np.ptp(b64))
    return diff, rng, diff / rng if rng > 0 else float("inf")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="checkout of apple/ml-depth-pro")
    parser.add_argument("--small", action="store_true", help="reduced network (quick)")
    parser.add_argument("--image", help="RGB image (default: an Open3D sample, 640x480)")
    parser.add_argument("--fx", type=float, default=525.0, help="f_px given (pixels)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)

    if args.official is None or not args.official.is_dir():
        print(f"skipped: no official Depth Pro checkout given (--official {args.official})")
        return 0
    try:
        import torch

        dp = _import_official(args.official.expanduser())
    except ImportError as exc:
        print(f"skipped: the official code cannot be imported ({exc})")
        return 0
    if dp is None:
        print(f"skipped: {args.official} has no src/depth_pro/depth_pro.py")
        return 0

    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models import ModelConfig
    from depth_ros.core.models.depth_pro import build
    from depth_ros.core.models.nets.depth_pro import DepthProConfig

    torch.set_num_threads(args.threads)
    rgb, image_name = sample_image(args.image)
    h, w = rgb.shape[:2]
    if args.small:
        official_cfg = _small_official(dp)
        ours_cfg: Any = DepthProConfig(
            embed_dim=384,
            depth=4,
            num_heads=6,
            hook_ids=(1, 3),
            encoder_dims=(64, 128, 256, 256),
            decoder_features=64,
        )
    else:
        official_cfg = replace(dp.DEFAULT_MONODEPTH_CONFIG_DICT, checkpoint_uri=None)
        ours_cfg = None
    report: dict[str, Any] = {
        "network": "small (ViT-S/14 DINOv2, 4 blocks)" if args.small else "official",
        "image": image_name,
        "size": [h, w],
        "f_px_given": args.fx,
        "weights": "random (official layout)",
        "torch_threads": torch.get_num_threads(),
    }
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = Path(tmp) / "depth_pro.pt"
        # ---- official: random weights, saved as the official checkpoint, official infer
        t0 = time.perf_counter()
        official, transform = dp.create_model_and_transforms(official_cfg)
        _randomise(official, args.seed)
        official.eval()
        torch.save(official.state_dict(), ckpt)
        report["official_build_s"] = round(time.perf_counter() - t0, 1)
        memo = _Memo(official.forward, lambda a, b: a.shape == b.shape and torch.equal(a, b))
        official.forward = memo
        x = transform(rgb)
        with torch.no_grad():
            ref_given = official.infer(x, f_px=np.float64(args.fx))
            ref_est = official.infer(x)
        ref_canonical = memo.value[0][0, 0].numpy()
        ref_fov = float(memo.value[1].reshape(-1)[0])
        report["official_forward_ms"] = round(memo.seconds * 1e3)
        ref_depth_given = ref_given["depth"].numpy()
        ref_depth_est = ref_est["depth"].numpy()
        ref_focal = float(ref_est["focallength_px"])
        del official, memo, ref_given, ref_est
        gc.collect()

        # ---- ours: the same file through our loader
        t0 = time.perf_counter()
        model = build(ModelConfig(weights=ckpt), ours_cfg)
        report["ours_build_load_s"] = round(time.perf_counter() - t0, 1)
        ours_memo = _Memo(model.runner.run, lambda a, b: np.array_equal(a[0], b[0]))
        model.runner.run = ours_memo
        camera = PinholeCamera.from_intrinsics(w, h, args.fx, args.fx, w / 2, h / 2)
        t0 = time.perf_counter()
        given = model.infer(rgb, camera)
        report["ours_infer_ms"] = round((time.perf_counter() - t0) * 1e3)
        report["ours_forward_ms"] = round(ours_memo.seconds * 1e3)
        est = model.infer(rgb, None)
        canonical = np.asarray(ours_memo.value[0]).reshape(ours_memo.value[0].shape[-2:])
        fov = float(np.asarray(ours_memo.value[1]).reshape(-1)[0])
        model.close()

    # depth = 1 / clamp(inverse, 1e-4, 1e4): pixels at the 1e4 m clamp (random weights
    # give some) would make the range meaningless; they are compared separately
    for key, a, b in (
        ("canonical_inverse_depth", canonical, ref_canonical),
        ("depth_f_px_given", given.depth, ref_depth_given),
        ("depth_fov_head", est.depth, ref_depth_est),
    ):
        clamped = b >= np.float32(1e4)
        diff, rng, rel = _rel(a[~clamped], b[~clamped])
        inv = _rel(1 / a[~clamped], 1 / b[~clamped])[2] if key.startswith("depth") else rel
        report[key] = {
            "max_abs_diff": diff,
            "official_range": rng,
            "rel": rel,
            "rel_inverse": inv,
            "clamped_fraction": float(clamped.mean()),
            "clamped_equal": bool(np.array_equal(a[clamped], b[clamped])),
        }
    report["fov_deg"] = {"ours": fov, "official": ref_fov}
    report["focal_px_estimated"] = {
        "ours": est.focal_px,
        "official": ref_focal,
        "rel_diff": abs(float(est.focal_px or 0) - ref_focal) / ref_focal,
        "focal_estimated": est.focal_estimated,
    }
    report["focal_px_given"] = {
        "ours": given.focal_px,
        "official": args.fx,
        "focal_estimated": given.focal_estimated,
    }
    keys = ("canonical_inverse_depth", "depth_f_px_given", "depth_fov_head")
    ok = all(report[k]["rel"] <= 1e-3 and report[k]["clamped_equal"] for k in keys)
    report["within_1e-3"] = ok
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for k, v in report.items():
            print(f"{k:26s} {v}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
