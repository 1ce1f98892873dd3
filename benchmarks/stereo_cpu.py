"""Learned stereo on CPU: time per frame and bad-2.0 of HITNet at input_scale 1, 0.75 and
0.5, fp32 and int8 (``depth-ros export --model hitnet --quantize int8``), beside the
default SGBM profile, on Middlebury Motorcycle (741x500) and Cones (450x375). All
settings run in the same process, one after the other, so a loaded machine loads them all.

    python benchmarks/stereo_cpu.py [--int8 hitnet_int8.onnx] [--repeat 2] [--json]

ONNX Runtime uses its default threads (all cores); the time is the best of --repeat runs.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEPTH_ROS_SHARED", ROOT / ".." / "shared"))
HITNET = SHARED / "models" / "hitnet_eth3d" / "eth3d_converted.onnx"


def frames() -> list[tuple[str, Any, Any, Any]]:
    import sys

    sys.path.insert(0, str(ROOT / "benchmarks"))
    from stereo_trust import gt_frames

    return gt_frames()


def measure(
    model: Any, data: list[tuple[str, Any, Any, Any]], repeat: int
) -> dict[str, dict[str, float]]:
    from depth_ros.core.eval.metrics import disparity_metrics

    out = {}
    for name, left, right, gt in data:
        times = []
        disp = None
        for _ in range(repeat):
            t = time.perf_counter()
            disp = model.compute(left, right)
            times.append(time.perf_counter() - t)
        m = disparity_metrics(disp, gt)
        out[name] = {
            "ms": round(min(times) * 1e3, 1),
            "bad_2": round(m["bad_2"], 4),
            "density": round(m["density"], 4),
        }
    return out


def main() -> int:
    from depth_ros.core.models import ModelConfig, build_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fp32", type=Path, default=HITNET)
    p.add_argument("--int8", type=Path, help="HITNet quantised with depth-ros export")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.75, 0.5])
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    data = frames()
    rows: list[dict[str, Any]] = []
    sgbm = build_model("sgbm")
    rows.append({"setting": "sgbm (default profile)", **measure(sgbm, data, args.repeat)})
    for label, weights in (("fp32", args.fp32), ("int8", args.int8)):
        if weights is None or not Path(weights).is_file():
            rows.append({"setting": f"hitnet {label}", "skipped": f"{weights} is absent"})
            continue
        for scale in args.scales:
            model = build_model(
                "hitnet", ModelConfig(weights=weights, device="cpu", params={"input_scale": scale})
            )
            rows.append(
                {"setting": f"hitnet {label} x{scale:g}", **measure(model, data, args.repeat)}
            )
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    names = [d[0] for d in data]
    print(f"{'setting':26}" + "".join(f" {n + ' ms':>14} {n + ' bad-2':>14}" for n in names))
    for r in rows:
        if "skipped" in r:
            print(f"{r['setting']:26} skipped: {r['skipped']}")
            continue
        print(
            f"{r['setting']:26}"
            + "".join(f" {r[n]['ms']:14.0f} {100 * r[n]['bad_2']:13.1f}%" for n in names)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
