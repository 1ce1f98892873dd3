"""Learned stereo on CPU: time per frame and bad-2.0 of HITNet at input_scale 1, 0.75, 0.65,
0.6 and 0.5, fp32 and int8 (``depth-ros export --model hitnet --quantize int8``), beside the
default SGBM profile, on Middlebury Motorcycle (741x500) and Cones (450x375). All
settings run in the same process, one after the other, so a loaded machine loads them all.
The row "plain graph" is HITNet at --plain-scale without the load-time graph rewrite
(depth_ros.core.backends.onnx_graph) that the model applies, timed in alternation with
the rewritten graph at that scale: what the rewrite saves.

    python benchmarks/stereo_cpu.py [--int8 hitnet_int8.onnx] [--repeat 3] [--json]

ONNX Runtime uses its default threads (one per core); each frame is first computed
--warmup times untimed (ONNX Runtime's first two runs of a size allocate its buffers and
take about 1.4x as long: a streaming node pays that once), then the time is the best of
--repeat runs. Times also depend on what ran before in the process (a session created
after several others were closed measured up to 2.5x slower), so compare settings timed
in alternation.
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
    models: dict[str, Any], data: list[tuple[str, Any, Any, Any]], repeat: int, warmup: int
) -> dict[str, dict[str, dict[str, float]]]:
    """Per setting and frame: best time of ``repeat`` runs after ``warmup`` untimed ones,
    bad-2.0 and density. Several models are timed in alternation, frame by frame."""
    from depth_ros.core.eval.metrics import disparity_metrics

    out: dict[str, dict[str, dict[str, float]]] = {label: {} for label in models}
    for name, left, right, gt in data:
        disp = {label: m.compute(left, right) for label, m in models.items()}
        for _ in range(warmup - 1):
            for m in models.values():
                m.compute(left, right)
        times: dict[str, list[float]] = {label: [] for label in models}
        for _ in range(repeat):
            for label, m in models.items():
                t = time.perf_counter()
                m.compute(left, right)
                times[label].append(time.perf_counter() - t)
        for label in models:
            m = disparity_metrics(disp[label], gt)
            out[label][name] = {
                "ms": round(min(times[label]) * 1e3, 1),
                "bad_2": round(m["bad_2"], 4),
                "density": round(m["density"], 4),
            }
    return out


def plain(weights: Path, scale: float) -> Any:
    """HITNet at ``scale`` on the graph as converted (no load-time rewrite)."""
    from depth_ros.core.backends import BackendRequest
    from depth_ros.core.backends.onnxruntime_backend import OnnxRuntimeBackend
    from depth_ros.core.models import ModelConfig, build_model
    from depth_ros.core.models.hitnet import INPUTS, OUTPUTS

    model: Any = build_model(
        "hitnet", ModelConfig(weights=weights, device="cpu", params={"input_scale": scale})
    )
    model.close()
    model.backend = OnnxRuntimeBackend(
        BackendRequest(weights, input_names=INPUTS, output_names=OUTPUTS)
    )
    return model


def main() -> int:
    from depth_ros.core.models import ModelConfig, build_model

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--fp32", type=Path, default=HITNET)
    p.add_argument("--int8", type=Path, help="HITNet quantised with depth-ros export")
    p.add_argument("--scales", type=float, nargs="+", default=[1.0, 0.75, 0.65, 0.6, 0.5])
    p.add_argument("--plain-scale", type=float, default=0.75)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    data = frames()
    rows: list[dict[str, Any]] = []
    sgbm = build_model("sgbm")
    for label, res in measure(
        {"sgbm (default profile)": sgbm}, data, args.repeat, args.warmup
    ).items():
        rows.append({"setting": label, **res})
    for label, weights in (("fp32", args.fp32), ("int8", args.int8)):
        if weights is None or not Path(weights).is_file():
            rows.append({"setting": f"hitnet {label}", "skipped": f"{weights} is absent"})
            continue
        for scale in args.scales:
            models: dict[str, Any] = {
                f"hitnet {label} x{scale:g}": build_model(
                    "hitnet",
                    ModelConfig(weights=weights, device="cpu", params={"input_scale": scale}),
                )
            }
            if label == "fp32" and scale == args.plain_scale:
                models[f"hitnet fp32 x{scale:g} plain graph"] = plain(weights, scale)
            for setting, res in measure(models, data, args.repeat, args.warmup).items():
                rows.append({"setting": setting, **res})
            for m in models.values():
                m.close()
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    names = [d[0] for d in data]
    print(f"{'setting':32}" + "".join(f" {n + ' ms':>14} {n + ' bad-2':>14}" for n in names))
    for r in rows:
        if "skipped" in r:
            print(f"{r['setting']:32} skipped: {r['skipped']}")
            continue
        print(
            f"{r['setting']:32}"
            + "".join(f" {r[n]['ms']:14.0f} {100 * r[n]['bad_2']:13.1f}%" for n in names)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
