"""Compare depth_ros's Metric3D v2 with the official implementation (an oracle).

    python benchmarks/oracle_metric3d.py --official /tmp/oracle/metric3d [--variant vits]

``--official`` is an extracted copy of github.com/YvanYin/Metric3D (never part of this
repository). The script builds the official model from its config
(``mono/configs/HourglassDecoder/vit.raft5.<size>.py``, as ``hubconf.py`` does) with random
weights, saves them in the official checkpoint layout (``{"model_state_dict": ...}``),
loads that file with our ``metric3d_v2_<variant>`` model, runs the official ``hubconf.py``
inference recipe (keep-ratio resize to 616x1064, mean-colour padding, normalisation,
un-padding, bilinear resize back, depth x fx_scaled / 1000, clamp to [0, 300]) and ours on
the same image and intrinsics, and prints max |difference| / output range for depth,
confidence and normals, plus CPU forward times. Exits 0 with a message when the official
copy is absent.

The official code needs mmcv/mmengine only for its ``Config`` loader and two utilities;
this script puts a small stand-in for them in ``sys.modules`` (it reads the same python
config files with their ``_base_`` inheritance). The official decoder creates its depth
bins with ``device="cuda"``; on a CPU machine that one method is replaced by the same
formula on the CPU.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
import types
from pathlib import Path
from typing import Any

import numpy as np

OFFICIAL_NAMES = {"vits": "small", "vitl": "large", "vitg": "giant2"}
INTRINSICS = (525.0, 521.0, 319.5, 239.5)  # fx, fy, cx, cy of the 640x480 test image


class _AttrDict(dict):  # type: ignore[type-arg]
    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError as exc:
            raise AttributeError(name) from exc


def _merge(base: dict[str, Any], new: dict[str, Any]) -> _AttrDict:
    out = _AttrDict(base)
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = _AttrDict(v) if isinstance(v, dict) else v
    return out


def _to_attr(obj: Any) -> Any:
    if isinstance(obj, dict):
        return _AttrDict({k: _to_attr(v) for k, v in obj.items()})
    return obj


def load_config(path: Path) -> _AttrDict:
    """What mmengine's ``Config.fromfile`` gives for these python configs."""
    scope: dict[str, Any] = {}
    exec(compile(path.read_text(), str(path), "exec"), scope)  # the official config file
    own = {
        k: v
        for k, v in scope.items()
        if not k.startswith("__") and k != "_base_" and not isinstance(v, types.ModuleType)
    }
    merged = _AttrDict()
    bases = scope.get("_base_", [])
    for base in [bases] if isinstance(bases, str) else bases:
        merged = _merge(merged, load_config((path.parent / base).resolve()))
    return _to_attr(_merge(merged, own))  # type: ignore[no-any-return]


def _install_stubs() -> None:
    mmcv = types.ModuleType("mmcv")
    utils = types.ModuleType("mmcv.utils")
    config_cls = type("Config", (), {"fromfile": staticmethod(lambda p: load_config(Path(p)))})
    utils.Config = config_cls  # type: ignore[attr-defined]
    utils.DictAction = object  # type: ignore[attr-defined]
    utils.collect_env = dict  # type: ignore[attr-defined]
    utils.get_git_hash = lambda *a, **k: ""  # type: ignore[attr-defined]
    mmcv.utils = utils  # type: ignore[attr-defined]
    sys.modules.setdefault("mmcv", mmcv)
    sys.modules.setdefault("mmcv.utils", utils)


def build_official(repo: Path, variant: str) -> Any:
    """The official Metric3D v2 model (random weights), eval mode, on the CPU."""
    import torch

    _install_stubs()
    sys.path.insert(0, str(repo))
    from mono.model.decode_heads import RAFTDepthNormalDPTDecoder5 as dec
    from mono.model.monodepth_model import get_configured_monodepth_model

    def get_bins(self: Any, bins_num: int) -> Any:  # the official formula, on the CPU
        vec = torch.linspace(math.log(self.min_val), math.log(self.max_val), bins_num)
        return torch.exp(vec)

    dec.RAFTDepthNormalDPT5.get_bins = get_bins
    name = OFFICIAL_NAMES[variant]
    cfg = load_config(repo / f"mono/configs/HourglassDecoder/vit.raft5.{name}.py")
    return get_configured_monodepth_model(cfg).eval()


def check_giant_encoder(repo: Path) -> float:
    """The giant2 encoder's own paths (SwiGLU feed-forward, features of every quarter of the
    blocks without the final norm) at a reduced width and depth: the official
    ``DinoVisionTransformer`` with ``ffn_layer="swiglu", multi_output=True`` against ours
    with the same settings; returns max |difference| / range over the four feature maps."""
    from dataclasses import replace
    from functools import partial

    import torch

    build_official(repo, "vits")  # puts the official package on the path
    from mono.model.backbones import ViT_DINO_reg as vit

    from depth_ros.core.models.nets.metric3d import VARIANTS, DinoV2RegEncoder

    torch.manual_seed(1)
    official = vit.DinoVisionTransformer(
        patch_size=14,
        embed_dim=96,
        depth=8,
        num_heads=4,
        mlp_ratio=4,
        block_fn=partial(vit.Block, attn_class=vit.MemEffAttention),
        num_register_tokens=4,
        ffn_layer="swiglu",
        multi_output=True,
    ).eval()
    with torch.no_grad():
        for name, p in official.named_parameters():
            p.copy_(
                torch.randn_like(p) * (0.1 if "gamma" in name else 0.05)
                + (1.0 if name.endswith(("norm1.weight", "norm2.weight")) else 0.0)
            )
    ours = DinoV2RegEncoder(replace(VARIANTS["vitg"], embed_dim=96, depth=8, num_heads=4)).eval()
    ours.load_state_dict(official.state_dict(), strict=True)
    x = torch.randn(1, 3, 112, 196)
    with torch.no_grad():
        ref, _ = official(x)
        got = ours(x)
    pairs = zip(got, ref, strict=True)
    return max(float((a - b).abs().max() / (b.max() - b.min())) for a, b in pairs)


def official_infer(
    model: Any,
    rgb_origin: np.ndarray,
    intrinsic: tuple[float, ...],
    input_size: tuple[int, int] = (616, 1064),
) -> dict[str, np.ndarray]:
    """The inference recipe of the official ``hubconf.py`` (``__main__``), on the CPU."""
    import cv2
    import torch

    h, w = rgb_origin.shape[:2]
    scale = min(input_size[0] / h, input_size[1] / w)
    rgb = cv2.resize(rgb_origin, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR)
    fx = intrinsic[0] * scale
    padding = [123.675, 116.28, 103.53]
    h, w = rgb.shape[:2]
    pad_h, pad_w = input_size[0] - h, input_size[1] - w
    pad_h_half, pad_w_half = pad_h // 2, pad_w // 2
    rgb = cv2.copyMakeBorder(
        rgb,
        pad_h_half,
        pad_h - pad_h_half,
        pad_w_half,
        pad_w - pad_w_half,
        cv2.BORDER_CONSTANT,
        value=padding,
    )
    pad_info = [pad_h_half, pad_h - pad_h_half, pad_w_half, pad_w - pad_w_half]
    mean = torch.tensor([123.675, 116.28, 103.53]).float()[:, None, None]
    std = torch.tensor([58.395, 57.12, 57.375]).float()[:, None, None]
    x = torch.div(torch.from_numpy(rgb.transpose((2, 0, 1))).float() - mean, std)[None]
    t0 = time.perf_counter()
    with torch.no_grad():
        pred_depth, confidence, output_dict = model.inference({"input": x})
    forward_ms = (time.perf_counter() - t0) * 1e3

    def unpad(t: Any) -> Any:
        top, bottom, left, right = pad_info
        return t[..., top : t.shape[-2] - bottom, left : t.shape[-1] - right]

    size = rgb_origin.shape[:2]
    depth = unpad(pred_depth.squeeze())
    depth = torch.nn.functional.interpolate(depth[None, None], size, mode="bilinear").squeeze()
    depth = torch.clamp(depth * fx / 1000.0, 0, 300)
    conf = unpad(confidence.squeeze())
    conf = torch.nn.functional.interpolate(conf[None, None], size, mode="bilinear").squeeze()
    normal = unpad(output_dict["prediction_normal"][:, :3].squeeze())
    normal = torch.nn.functional.interpolate(normal[None], size, mode="bilinear")[0]
    normal = normal / torch.linalg.vector_norm(normal, dim=0, keepdim=True).clamp_min(1e-12)
    return {
        "depth": depth.numpy(),
        "confidence": np.clip(conf.numpy(), 0.0, 1.0),
        "normals": normal.permute(1, 2, 0).numpy(),
        "forward_ms": np.float64(forward_ms),
    }


def test_image() -> np.ndarray:
    """640x480 RGB crop of skimage's stereo_motorcycle left image (or a fixed random image)."""
    try:
        from skimage import data

        img = np.ascontiguousarray(data.stereo_motorcycle()[0][:480, :640])
    except Exception:
        img = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return img


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--official", type=Path, default=Path("/tmp/oracle/metric3d"))
    ap.add_argument("--variant", choices=sorted(OFFICIAL_NAMES), default="vits")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--input-size",
        type=int,
        nargs=2,
        default=(616, 1064),
        metavar=("H", "W"),
        help="network input (multiples of 28; official 616 1064)",
    )
    ap.add_argument(
        "--giant-encoder",
        action="store_true",
        help="only compare the giant2 encoder paths at a reduced size",
    )
    ap.add_argument(
        "--keys-json",
        type=Path,
        default=None,
        help="write the official key names and shapes to this JSON file",
    )
    args = ap.parse_args()
    if not (args.official / "mono" / "model" / "monodepth_model.py").is_file():
        print(
            f"official Metric3D not found at {args.official}; skipping "
            "(extract github.com/YvanYin/Metric3D there to run the comparison)"
        )
        return 0
    import torch

    torch.set_num_threads(args.threads)
    if args.giant_encoder:
        ratio = check_giant_encoder(args.official)
        print(
            f"giant2 encoder paths (SwiGLU, multi-output; 8 blocks of width 96): "
            f"max|diff| / range {ratio:.2e}"
        )
        return 0
    size = (int(args.input_size[0]), int(args.input_size[1]))
    torch.manual_seed(0)
    official = build_official(args.official, args.variant)
    with torch.no_grad():  # random but well-scaled weights (official init leaves most at 0)
        for name, p in official.named_parameters():
            if name.endswith(("ls1.gamma", "ls2.gamma")):
                p.uniform_(0.05, 0.2)
            elif p.ndim >= 2 and "weight" in name:
                p.normal_(0.0, 1.0 / math.sqrt(max(p[0].numel(), 1)))
            elif name.endswith("bias"):
                p.uniform_(-0.05, 0.05)
    state = official.state_dict()
    if args.keys_json is not None:
        import json

        doc = {
            "_comment": "Parameter names and shapes of the official Metric3D v2 "
            f"{OFFICIAL_NAMES[args.variant]} checkpoint ('model_state_dict'), generated once "
            "from the official code (github.com/YvanYin/Metric3D, hubconf.py's model from "
            f"mono/configs/HourglassDecoder/vit.raft5.{OFFICIAL_NAMES[args.variant]}.py) by "
            "benchmarks/oracle_metric3d.py --keys-json.",
            args.variant: [[k, list(v.shape)] for k, v in state.items()],
        }
        args.keys_json.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
        print(f"wrote {len(state)} official keys to {args.keys_json}")

    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models import ModelConfig, build_model

    rgb = test_image()
    h, w = rgb.shape[:2]
    fx, fy, cx, cy = INTRINSICS
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"metric_depth_vit_{OFFICIAL_NAMES[args.variant]}_800k.pth"
        torch.save({"model_state_dict": state}, path)
        params = {"input_height": size[0], "input_width": size[1]}
        ours = build_model(f"metric3d_v2_{args.variant}", ModelConfig(weights=path, params=params))
        ref = official_infer(official, rgb, INTRINSICS, size)
        cam = PinholeCamera.from_intrinsics(w, h, fx, fy, cx, cy)
        t0 = time.perf_counter()
        out = ours.infer(rgb, cam)  # type: ignore[attr-defined]
        ours_ms = (time.perf_counter() - t0) * 1e3
    print(f"metric3d_v2_{args.variant}: image {w}x{h}, fx={fx}, network input {size[0]}x{size[1]}")
    rows = [
        ("depth", out.depth, ref["depth"]),
        ("confidence", out.confidence, ref["confidence"]),
        ("normals", out.normals, ref["normals"]),
    ]
    for name, a, b in rows:
        diff = float(np.nanmax(np.abs(np.asarray(a, np.float64) - b)))
        rng = float(np.nanmax(b) - np.nanmin(b))
        ratio = diff / max(rng, 1e-12)
        print(f"  {name:10s} max|diff| {diff:.3e}  range {rng:.4g}  ratio {ratio:.2e}")
    print(
        f"  CPU ({args.threads} threads): official forward {float(ref['forward_ms']):.0f} ms, "
        f"ours infer (pre/post included) {ours_ms:.0f} ms"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
