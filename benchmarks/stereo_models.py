"""Learned stereo on the Middlebury Motorcycle pair (741x500, full size): forward time per
frame, bad-2.0 and density, for hitnet (ONNX Runtime) and psmnet (PyTorch, or an ONNX
export with --psmnet-weights file.onnx).

    python benchmarks/stereo_models.py [--models hitnet psmnet] [--repeat 2] [--json]

Weights default to ../shared/models (absent models are reported as skipped).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

SHARED = Path(__file__).resolve().parents[1] / ".." / "shared" / "models"
DEFAULTS = {
    "hitnet": SHARED / "hitnet_eth3d" / "eth3d_converted.onnx",
    "psmnet": SHARED / "psmnet_kitti2015" / "pretrained_model_KITTI2015.tar",
}


def bench(model_id: str, weights: Path, device: str, repeat: int) -> dict[str, Any]:
    from depth_ros.core.eval.metrics import disparity_metrics
    from depth_ros.core.eval.samples import motorcycle
    from depth_ros.core.models import ModelConfig, build_model

    if not weights.exists():
        return {"model": model_id, "skipped": f"{weights} is absent"}
    s = motorcycle()
    t0 = time.perf_counter()
    model: Any = build_model(model_id, ModelConfig(weights=weights, device=device))
    load_s = time.perf_counter() - t0
    times = []
    disp = None
    for _ in range(repeat):
        t = time.perf_counter()
        disp = model.compute(s.left, s.right)
        times.append(time.perf_counter() - t)
    assert disp is not None
    m = disparity_metrics(disp, s.disparity)
    return {
        "model": model_id,
        "backend": model.backend.name,
        "device": device,
        "weights": str(weights),
        "size": f"{s.width}x{s.height}",
        "load_s": round(load_s, 3),
        "s_per_frame": round(min(times), 3),
        "s_per_frame_all": [round(t, 3) for t in times],
        "bad_2": round(m["bad_2"], 4),
        "bad_1": round(m["bad_1"], 4),
        "bad_3": round(m["bad_3"], 4),
        "epe": round(m["epe"], 3),
        "density": round(m["density"], 4),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", default=list(DEFAULTS), choices=list(DEFAULTS))
    p.add_argument("--hitnet-weights", type=Path, default=DEFAULTS["hitnet"])
    p.add_argument("--psmnet-weights", type=Path, default=DEFAULTS["psmnet"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=2, help="frames timed (best is reported)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    results = [
        bench(m, getattr(args, f"{m}_weights"), args.device, args.repeat) for m in args.models
    ]
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"{'model':8} {'backend':12} {'s/frame':>8} {'bad-2.0':>8} {'density':>8}")
    for r in results:
        if "skipped" in r:
            print(f"{r['model']:8} skipped: {r['skipped']}")
        else:
            print(
                f"{r['model']:8} {r['backend']:12} {r['s_per_frame']:8.2f} "
                f"{100 * r['bad_2']:7.2f}% {100 * r['density']:7.1f}%"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
