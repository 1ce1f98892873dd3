"""Depth Anything 3: our implementation against the official one, on the same image.

The official code (github.com/ByteDance-Seed/Depth-Anything-3, a checkout given with
``--official``) builds each configuration's ``DepthAnything3Net`` with RANDOM weights
(N(0, std), LayerNorm weights and layer scales near 1; the last convolution of the
depth head rescaled so that its logits have zero mean and unit spread on the image; for
Mono/Metric the sky head's bias set so that half the image is sky and the official sky
step runs; for the any-view releases the camera decoder's field of view set near 1 rad). They are
saved as the Hugging Face release is: ``model.safetensors`` written by safetensors'
``save_model`` of the ``DepthAnything3`` wrapper (keys ``model.*``, the tied ray-head
LayerNorm stored once) beside ``config.json`` (``model_name``). Our model loads that folder
unchanged (strict). Both then run one image: the official ``InputProcessor`` (the
``inference`` defaults: ``upper_bound_resize``) and the network in float32 (the official
``inference`` adds CUDA autocast), ours through ``infer``. Metric: the official
``apply_metric_scaling`` with the camera's K resized by the ``InputProcessor``.

Reported per model ID: max |ours - official| / official output range of the network input,
depth (and confidence, focal), at the network size; and of the published image-size maps
against the official maps resized (bilinear) and converted as our docstring says; the CPU
time of the official network and our ``infer`` (median of ``--runs``).

Needs ``omegaconf``, ``addict`` and ``einops`` for the official code (skips without)::

    python benchmarks/oracle_depth_anything_v3.py --official /path/to/Depth-Anything-3 \\
        [--variants small mono_large] [--input-size 196]
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import gc
import io
import json
import shutil
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import numpy as np
from _oracle import max_diff, median_ms, sample_image, sample_intrinsics

VARIANTS = (
    "small",
    "base",
    "large",
    "giant",
    "mono_large",
    "metric_large",
    "nested_giant_large",
    "nested_small",  # the official nested network with DA3-Small and a ViT-S Metric branch
)


def _official(path: Path) -> Any:
    """The official modules (cfg, registry, InputProcessor, alignment), or None with the
    reason printed."""
    src = path / "src"
    if not (src / "depth_anything_3" / "model" / "da3.py").is_file():
        print(f"skip: {path} is not a Depth-Anything-3 checkout")
        return None
    for dep in ("omegaconf", "addict", "einops"):
        try:
            __import__(dep)
        except ImportError:
            print(f"skip: the official code needs {dep} (pip install {dep})")
            return None
    # Giant's Gaussian adapter imports evo (pose alignment, unused here): stub it if absent
    try:
        import evo  # noqa: F401
    except ImportError:
        for name in ("evo", "evo.core", "evo.core.trajectory"):
            sys.modules.setdefault(name, types.ModuleType(name))
        sys.modules["evo.core.trajectory"].PosePath3D = object  # type: ignore[attr-defined]
    sys.path.insert(0, str(src))
    with contextlib.redirect_stdout(sys.stderr):
        from depth_anything_3 import cfg, registry
        from depth_anything_3.model import da3
        from depth_anything_3.utils import alignment
        from depth_anything_3.utils.io.input_processor import InputProcessor
    return types.SimpleNamespace(
        cfg=cfg, registry=registry, alignment=alignment, InputProcessor=InputProcessor, da3=da3
    )


def _rel(a: np.ndarray, b: np.ndarray) -> dict[str, float]:
    diff, rng = max_diff(a, b)
    return {"max_abs_diff": diff, "diff_over_range": diff / rng if rng > 0 else diff, "range": rng}


def _randomise(net: Any, std: float, seed: int) -> None:
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            noise = torch.randn(t.shape, generator=g) * std
            one = name.endswith("gamma") or (
                t.ndim == 1 and "norm" in name and name.endswith("weight")
            )
            t.copy_(noise + (1.0 if one else 0.0))


def _official_forward(net: Any, imgs: Any) -> Any:
    import torch

    with torch.no_grad():
        return net(imgs, None, None, [], False, False)


def _condition(net: Any, anyview: bool, imgs: Any) -> None:
    """Random weights made informative for one official ``DepthAnything3Net``: the main
    head's logits (depth, confidence) standardised over the image, so that exp() spans a
    few e-folds; Mono/Metric: the sky boundary inside the image (half the pixels); any-view:
    the field of view near 1 rad (random weights can give 0 after its ReLU)."""
    import torch

    convs = [net.head.scratch.output_conv2[-1]]
    convs.append(net.cam_dec.fc_fov[0] if anyview else net.head.scratch.sky_output_conv2[-1])
    seen: list[Any] = []
    hooks = [c.register_forward_hook(lambda m, i, o: seen.append(o.detach())) for c in convs]
    _official_forward(net, imgs)
    for hook in hooks:
        hook.remove()
    with torch.no_grad():
        mean, spread = seen[0].mean(dim=(0, 2, 3)), seen[0].std(dim=(0, 2, 3))
        convs[0].weight.div_(spread.view(-1, 1, 1, 1))
        convs[0].bias.sub_(mean).div_(spread)
        if anyview:
            z = seen[1].reshape(2)  # one token: each angle 1 + 0.2 tanh(its logit) rad
            convs[1].bias.add_(1.0 + 0.2 * torch.tanh(z) - z)
        else:
            z = seen[1] - convs[1].bias.view(1, -1, 1, 1)
            convs[1].bias.fill_(0.3 - float(z.median()))


def _vits_metric(off: Any) -> Any:
    """The official Metric-Large configuration with a ViT-S backbone (and head widths)."""
    cfg = off.cfg.load_config(off.registry.MODEL_REGISTRY["da3metric-large"])
    cfg.net.name = "vits"
    cfg.net.out_layers = [2, 5, 8, 11]
    cfg.head.dim_in = 384
    cfg.head.features = 64
    cfg.head.out_channels = [48, 96, 192, 384]
    return cfg


def _reduced_nested(off: Any) -> Any:
    """Our release for the reduced nested network: DA3-Small + the ViT-S Metric branch."""
    from depth_ros.core.models.depth_anything_v3 import Release
    from depth_ros.core.models.nets import depth_anything_v3 as nets

    nets.CONFIGS["oracle-metric-vits"] = nets.DA3Config(
        "vits", (2, 5, 8, 11), -1, -1, -1, False, 64, (48, 96, 192, 384), False
    )
    nets.NESTED["oracle-nested-small"] = ("da3-small", "oracle-metric-vits")
    return Release("nested_small", "oracle-nested-small", "-", "Nested (reduced)", "nested", "-")


def compare(
    off: Any,
    variant: str,
    rgb: np.ndarray,
    input_size: int,
    runs: int,
    std: float,
) -> dict[str, Any]:
    import torch
    from safetensors.torch import save_model

    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.models import ModelConfig, build_model
    from depth_ros.core.models.depth_anything_v3 import RELEASES, metric_focal
    from depth_ros.core.models.loading import resize_prediction

    torch.manual_seed(0)
    with contextlib.redirect_stdout(io.StringIO()):
        if variant == "nested_small":
            release = _reduced_nested(off)
            net = off.da3.NestedDepthAnything3Net(
                off.cfg.load_config(off.registry.MODEL_REGISTRY["da3-small"]), _vits_metric(off)
            )
        else:
            release = next(r for r in RELEASES if r.key == variant)
            net = off.cfg.create_object(
                off.cfg.load_config(off.registry.MODEL_REGISTRY[release.config])
            )
    net = net.eval()
    _randomise(net, std, seed=1)

    h, w = rgb.shape[:2]
    fx, fy, cx, cy = sample_intrinsics(w, h)
    k = np.array([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=np.float32)
    proc = off.InputProcessor()
    with contextlib.redirect_stdout(io.StringIO()):
        imgs, _, ixts = proc(
            [rgb], None, k[None].copy(), input_size, "upper_bound_resize", num_workers=1
        )
    imgs = imgs[None].float()  # (1, 1, 3, h, w), as DepthAnything3._prepare_model_inputs

    if release.kind == "nested":
        _condition(net.da3, True, imgs)
        _condition(net.da3_metric, False, imgs)
    else:
        _condition(net, release.kind == "anyview", imgs)

    folder = Path(tempfile.mkdtemp(prefix="da3_oracle_"))
    wrapper = torch.nn.Module()
    wrapper.model = net  # DepthAnything3's attribute: the keys become model.*
    save_model(wrapper, str(folder / "model.safetensors"))
    (folder / "config.json").write_text(json.dumps({"model_name": release.config}))
    ref = _official_forward(net, imgs)
    official_ms = median_ms(functools.partial(_official_forward, net, imgs), runs) if runs else None
    del net, wrapper  # one network in memory at a time (Giant: 1.4 B parameters)
    gc.collect()
    config = ModelConfig(weights=folder / "model.safetensors", input_size=input_size)
    if variant == "nested_small":
        from depth_ros.core.models.depth_anything_v3 import builder

        ours: Any = builder(release)(config)
    else:
        ours = build_model(release.model_id, config)
    camera = PinholeCamera.from_intrinsics(w, h, fx, fy, cx, cy)
    mine = ours.raw(rgb)
    out = ours.infer(rgb, camera)
    x = ours.network_input(rgb)
    nh, nw = x.shape[-2:]
    result: dict[str, Any] = {
        "model": release.model_id,
        "image": f"{w}x{h}",
        "network_input": f"{nw}x{nh}",
        "input": _rel(x[0], imgs[0, 0].numpy()),
    }
    depth_ref = ref.depth[0, 0].numpy()
    result["depth_network_size"] = _rel(mine[0], depth_ref)
    full = resize_prediction(depth_ref, h, w, "bilinear")
    if release.kind == "metric":
        metric = off.alignment.apply_metric_scaling(ref.depth, ixts[None].float())[0, 0].numpy()
        focal = metric_focal(camera, h, w, (nh, nw))
        result["focal_rel_diff"] = abs(focal - _official_focal(ixts)) / _official_focal(ixts)
        result["metric_network_size"] = _rel(mine[0] * np.float32(focal / 300.0), metric)
        result["metric_image_size"] = _rel(out.depth, resize_prediction(metric, h, w, "bilinear"))
        result["sky_pixels"] = int((ref.sky[0, 0] >= 0.3).sum())
    else:
        result["inverse_depth_image_size"] = _rel(out.depth, 1.0 / full)
        if release.kind == "mono":
            result["sky_pixels"] = int((ref.sky[0, 0] >= 0.3).sum())
    if release.kind == "nested":
        result.pop("inverse_depth_image_size")
        result["metric_image_size"] = _rel(out.depth, full)
    if release.kind in ("anyview", "nested"):
        conf_ref = ref.depth_conf[0, 0].numpy()
        result["confidence_network_size"] = _rel(mine[1], conf_ref)
        f_ref = float(ref.intrinsics[0, 0, 0, 0])
        result["focal_x_network_size"] = {"ours": float(mine[2][0]), "official": f_ref}
        result["focal_rel_diff"] = abs(float(mine[2][0]) - f_ref) / abs(f_ref)
        mapped = resize_prediction(1.0 - 1.0 / conf_ref, h, w, "bilinear")
        assert out.confidence is not None
        result["confidence_image_size"] = _rel(out.confidence, mapped)
    if runs:
        result["official_forward_ms"] = official_ms
        result["our_forward_ms"] = median_ms(lambda: ours.runner.run([x]), runs)
        result["our_infer_ms"] = median_ms(lambda: ours.infer(rgb, camera), runs)
    shutil.rmtree(folder, ignore_errors=True)
    return result


def _official_focal(ixts: Any) -> float:
    """(fx + fy) / 2 of the official resized K (what apply_metric_scaling uses)."""
    k = ixts[0].numpy()
    return float((k[0, 0] + k[1, 1]) / 2.0)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--official", type=Path, default=None, help="checkout of ByteDance-Seed/Depth-Anything-3"
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        default=["small", "base", "large", "mono_large", "metric_large", "nested_small"],
        choices=VARIANTS,
    )
    parser.add_argument("--image", type=Path, default=None, help="an RGB image file")
    parser.add_argument("--input-size", type=int, default=196, help="official process_res")
    parser.add_argument("--std", type=float, default=0.02, help="random weights' spread")
    parser.add_argument("--runs", type=int, default=2, help="timing runs (0: none)")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.official is None:
        print("skip: give --official PATH (a checkout of the official Depth-Anything-3 code)")
        return 0
    off = _official(args.official.expanduser())
    if off is None:
        return 0
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    rgb, source = sample_image(args.image)
    results = [
        compare(off, variant, rgb, args.input_size, args.runs, args.std)
        for variant in args.variants
    ]
    out = {
        "image": source,
        "input_size": args.input_size,
        "torch_threads": torch.get_num_threads(),
        "results": results,
    }
    print(json.dumps(out, indent=None if args.json else 2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
