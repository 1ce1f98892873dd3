"""ZoeDepth: our implementation against the official code, on the same image.

The official code (github.com/isl-org/ZoeDepth, with the MiDaS code it loads through
torch.hub, github.com/isl-org/MiDaS; neither is part of this package) is an oracle only:
its model is built with random weights (``build_model(get_config(...,
pretrained_resource=None))``, MiDaS from the local checkout), saved as the official files
are (``torch.save({"model": state_dict})``), that file is loaded by our model ID (strict,
unchanged), and both run on the same image: the official path is the default
``model.infer_pil(PIL image)`` (padding and flip augmentation on).

    python benchmarks/oracle_zoedepth.py --official /path/to/ZoeDepth --midas /path/to/MiDaS \
        [--timm /path/with/timm-0.6.12] [--variants n k nk] [--image IMG] [--json]

MiDaS pins timm 0.6.12 (``--timm``: a folder holding it, put first on sys.path); newer
timm builds the same network but no longer saves the ``relative_position_index`` buffers
the official checkpoints hold. Prints max |ours - official| / (official max - min) per
variant (goal <= 1e-3); exits 0 with a "skipped" line when the official code is absent.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _oracle import compared, report, sample_image


def _randomise(net: Any, seed: int) -> None:
    """Random weights of a sane scale (LayerScale 0.1, norms near 1, a visible relative
    position bias, heads at std 0.2); integer buffers and the log-binomial constant are
    kept."""
    import torch

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, t in net.state_dict().items():
            if not t.dtype.is_floating_point or name.endswith("K_minus_1"):
                continue
            # the metric heads wider, so that the bins (and the depth) vary over the image
            v = torch.randn(t.shape, generator=g) * (0.02 if name.startswith("core.") else 0.2)
            if name.endswith(("gamma_1", "gamma_2")):
                v += 0.1
            elif name.endswith(("norm1.weight", "norm2.weight", "norm.weight")):
                v += 1.0
            elif name.endswith("relative_position_bias_table"):
                v *= 25
            t.copy_(v)


def official_model(zoe: Path, midas: Path, variant: str) -> Any:
    import torch

    sys.path.insert(0, str(zoe))
    load = torch.hub.load

    def local_hub(repo: str, model: str, *args: Any, **kwargs: Any) -> Any:
        kwargs.pop("force_reload", None)
        return load(str(midas), model, *args, source="local", **kwargs)

    torch.hub.load = local_hub
    try:
        from zoedepth.models.builder import build_model
        from zoedepth.utils.config import get_config

        if variant == "n":
            conf = get_config("zoedepth", "infer", pretrained_resource=None)
        elif variant == "k":
            # max_depth 80 as the official evaluation (get_config(..., dataset="kitti"));
            # the hub entry point ZoeD_K leaves ZoeDepth's default 10 (see nets/zoedepth.py)
            conf = get_config(
                "zoedepth", "infer", pretrained_resource=None, config_version="kitti", max_depth=80
            )
        else:
            conf = get_config("zoedepth_nk", "infer", pretrained_resource=None)
        return build_model(conf).eval()
    finally:
        torch.hub.load = load


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--official", type=Path, help="checkout of isl-org/ZoeDepth")
    parser.add_argument("--midas", type=Path, help="checkout of isl-org/MiDaS")
    parser.add_argument("--timm", type=Path, help="folder holding timm 0.6.12 (optional)")
    parser.add_argument("--variants", nargs="+", default=["n"], choices=["n", "k", "nk"])
    parser.add_argument("--image", help="image file (default: a 640x480 sample scene)")
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if (
        args.official is None
        or args.midas is None
        or not (args.official / "zoedepth" / "models" / "builder.py").is_file()
        or not (args.midas / "hubconf.py").is_file()
    ):
        print(f"skipped: official ZoeDepth/MiDaS code not found ({args.official}, {args.midas})")
        return 0
    if args.timm:
        sys.path.insert(0, str(args.timm))
    import torch
    from PIL import Image

    from depth_ros.core.models import ModelConfig, build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    rgb, _ = sample_image(args.image)
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for variant in args.variants:
            official = official_model(args.official, args.midas, variant)
            _randomise(official, seed=1)
            path = Path(tmp) / f"ZoeD_M12_{variant.upper()}.pt"
            torch.save({"model": official.state_dict()}, path)
            t0 = time.perf_counter()
            ref = np.asarray(official.infer_pil(Image.fromarray(rgb)), dtype=np.float64)
            t_official = time.perf_counter() - t0
            del official
            ours = build_model(f"zoedepth_{variant}", ModelConfig(weights=path))
            t0 = time.perf_counter()
            out = ours.predict(rgb)  # type: ignore[attr-defined]
            t_ours = time.perf_counter() - t0
            os.remove(path)
            results.append(
                {
                    **compared(f"zoedepth_{variant}", rgb, out, ref),
                    "official_s": t_official,
                    "ours_s": t_ours,
                    "official_min_max": [float(ref.min()), float(ref.max())],
                }
            )
            print(json.dumps(results[-1]), file=sys.stderr, flush=True)
            del ours
    return report(
        results,
        args.json,
        lambda r: f" (official {r['official_s']:.1f} s, ours {r['ours_s']:.1f} s)",
    )


if __name__ == "__main__":
    sys.exit(main())
