"""CPU latency of the monocular networks (Depth Anything V2 ViT-S, MiDaS v2.1 small) at
several input sizes, end to end through ``MonoModel.predict`` (pre-processing, network,
resizing back) on a 640x480 image.

The networks run with RANDOM weights in the official checkpoint layout (the official
weights are not needed for timing: the computation is the same). Usage::

    python benchmarks/mono_models.py [--sizes 252 364 518] [--runs 5] [--json]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _oracle import sample_image

MODELS = ("depth_anything_v2_vits", "midas_v21_small")


def _random_checkpoint(model_id: str, folder: Path) -> Path:
    """An official-format checkpoint with random weights (torch.save of a state dict)."""
    import torch

    spec_file = {
        "depth_anything_v2_vits": "depth_anything_v2_vits.pth",
        "midas_v21_small": "midas_v21_small_256.pt",
    }[model_id]
    if model_id == "midas_v21_small":
        from depth_ros.core.models.nets.midas import MidasSmallNet, small_to_official

        net: Any = MidasSmallNet()
        state = {small_to_official(k): v for k, v in net.state_dict().items()}
    else:
        from depth_ros.core.models.nets.depth_anything_v2 import DepthAnythingV2Net

        net = DepthAnythingV2Net("vits")
        state = dict(net.state_dict())
        for k, v in state.items():  # timm's skipped init leaves garbage: make it random
            if v.dtype.is_floating_point:
                state[k] = torch.randn_like(v) * 0.02 + (1.0 if k.endswith("gamma") else 0.0)
    path = folder / spec_file
    torch.save(state, path)
    return path


def _valid_size(model_id: str, size: int) -> int:
    """MiDaS input sizes are multiples of 32 (64 + 32k): the nearest one."""
    if model_id.startswith("midas"):
        return max(64, round(size / 32) * 32)
    return size


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--sizes", nargs="+", type=int, default=[252, 364, 518])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument("--json", action="store_true", help="print JSON only")
    args = parser.parse_args(argv)

    import torch

    from depth_ros.core.models import ModelConfig, build_model

    if args.threads:
        torch.set_num_threads(args.threads)
    rgb, _ = sample_image()
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for model_id in args.models:
            weights = _random_checkpoint(model_id, Path(tmp))
            for size in args.sizes:
                real = _valid_size(model_id, size)
                model: Any = build_model(model_id, ModelConfig(weights=weights, input_size=real))
                shape = model.network_input(rgb).shape
                for _ in range(args.warmup):
                    model.predict(rgb)
                times = []
                for _ in range(args.runs):
                    t0 = time.perf_counter()
                    model.predict(rgb)
                    times.append((time.perf_counter() - t0) * 1000.0)
                row = {
                    "model": model_id,
                    "input_size": size,
                    "input_size_used": real,
                    "network_input": [int(shape[2]), int(shape[3])],
                    "image": [int(rgb.shape[0]), int(rgb.shape[1])],
                    "ms_median": round(statistics.median(times), 1),
                    "ms_min": round(min(times), 1),
                    "runs": args.runs,
                }
                results.append(row)
                if not args.json:
                    print(
                        f"{model_id:24s} size {size:4d} (net {shape[2]}x{shape[3]}): "
                        f"{row['ms_median']:8.1f} ms/frame median, {row['ms_min']:8.1f} min",
                        flush=True,
                    )
    report = {
        "weights": "random (official layout); timing only",
        "device": "cpu",
        "torch_threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "machine": platform.processor() or platform.machine(),
        "results": results,
    }
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
