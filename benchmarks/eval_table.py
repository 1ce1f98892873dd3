"""Markdown table of the registered stereo models on the stereo data with ground truth:
Motorcycle (scikit-image) and Middlebury 2003 Cones (../shared, when present).

    python benchmarks/eval_table.py [--models sgbm,bm,...] [--weights ID=PATH ...]
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from depth_ros.core.errors import DepthRosError
from depth_ros.core.eval.datasets import open_dataset
from depth_ros.core.eval.evaluation import evaluate
from depth_ros.core.models import InputKind, ModelConfig, get_model, model_ids

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared"
DEFAULT_WEIGHTS = {
    "hitnet": SHARED / "models" / "hitnet_eth3d" / "eth3d_converted.onnx",
    "psmnet": SHARED / "models" / "psmnet_kitti2015" / "pretrained_model_KITTI2015.tar",
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--models", default=",".join(model_ids(InputKind.STEREO)))
    ap.add_argument("--weights", action="append", default=[], metavar="ID=PATH")
    args = ap.parse_args()
    weights = {k: Path(v) for k, _, v in (w.partition("=") for w in args.weights)}
    datasets = [("motorcycle", "-")]
    cones = SHARED / "data" / "middlebury2003_cones_pandora"
    if cones.is_dir():
        datasets.append(("middlebury", str(cones)))
    print("| model | dataset | bad-1 % | bad-2 % | bad-3 % | EPE px | density | AbsRel | s/frame |")
    print("|---|---|---|---|---|---|---|---|---|")
    for model in args.models.split(","):
        spec = get_model(model)
        w = weights.get(model) or next(
            (p for k, p in DEFAULT_WEIGHTS.items() if spec.family == k or model.startswith(k)), None
        )
        cfg = ModelConfig(weights=w if spec.needs_weights and w and w.exists() else None)
        for kind, path in datasets:
            try:
                r = evaluate(model, open_dataset(kind, path), cfg, progress=False, keep_maps=False)
            except DepthRosError as exc:
                print(f"| {model} | {kind} | error: {exc} |||||||")
                continue
            a = r.aggregate
            name = "cones (2003)" if kind == "middlebury" else kind

            def f(k: str, d: int = 2, a: dict[str, float] = a) -> str:
                v = a.get(k, math.nan)
                return f"{v:.{d}f}" if math.isfinite(v) else "-"

            print(
                f"| {model} | {name} | {f('bad_1')} | {f('bad_2')} | {f('bad_3')} | "
                f"{f('epe')} | {f('density', 3)} | {f('abs_rel', 4)} | "
                f"{f('seconds_per_frame', 3)} |"
            )


if __name__ == "__main__":
    main()
