"""Seconds per frame of Marigold on the CPU at the official network sizes, random weights
(the official weights are not available here): the Stable Diffusion 2 UNet with 8 input
channels, SD2's VAE and the OpenCLIP ViT-H text encoder, built in memory from the
published config values (``OFFICIAL_*`` in depth_ros/core/models/marigold.py), run by
diffusers' pipeline through our MarigoldModel on one 640x480 image.

    python benchmarks/marigold_cpu.py [--threads 2] [--resolution 768] [--steps 1,4]
        [--ensemble 1] [--model marigold_depth] [--no-warmup]

A first, untimed frame takes the one-off costs. Prints one line per setting and a JSON
summary; the difference between step counts is the UNet's time per step, the rest is the
VAE (encode + decode), the resizing and our conversion.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--resolution", type=int, default=768)
    ap.add_argument("--steps", default="1,4")
    ap.add_argument("--ensemble", type=int, default=1)
    ap.add_argument("--model", default="marigold_depth")
    ap.add_argument("--no-warmup", dest="warmup", action="store_false")
    args = ap.parse_args()

    import torch

    from depth_ros.core.models.marigold import RELEASES, MarigoldModel, build_random_pipeline

    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    pipe = build_random_pipeline(RELEASES[args.model], full=True)
    pipe.set_progress_bar_config(disable=True)
    built_s = time.perf_counter() - t0
    counts = {
        name: sum(p.numel() for p in getattr(pipe, name).parameters())
        for name in ("unet", "vae", "text_encoder")
    }
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    model = MarigoldModel(
        pipe, {"processing_resolution": args.resolution, "ensemble_size": args.ensemble}
    )
    results = []
    if args.warmup:  # the first frame pays one-off costs (allocations, kernel set-up)
        model.update({"denoising_steps": 1})
        t = time.perf_counter()
        model.predict(rgb)
        print(f"warm-up frame (1 step, not counted): {time.perf_counter() - t:.1f} s", flush=True)
    for steps in (int(s) for s in args.steps.split(",")):
        model.update({"denoising_steps": steps})
        t, cpu = time.perf_counter(), time.process_time()
        out = model.predict(rgb)
        sec, cpu = time.perf_counter() - t, time.process_time() - cpu
        assert out.shape == rgb.shape[:2]
        assert np.isfinite(out).all()
        results.append({"steps": steps, "seconds": round(sec, 1), "cpu_seconds": round(cpu, 1)})
        print(
            f"{args.model}: {args.resolution} px, {steps} step(s), ensemble {args.ensemble}, "
            f"{args.threads} threads: {sec:.1f} s/frame ({cpu:.1f} s CPU time)",
            flush=True,
        )
    summary = {
        "params_millions": {k: round(v / 1e6, 1) for k, v in counts.items()},
        "build_s": round(built_s, 1),
        "image": "640x480",
        "resolution": args.resolution,
        "ensemble": args.ensemble,
        "threads": args.threads,
        "torch": torch.__version__,
        "results": results,
    }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
