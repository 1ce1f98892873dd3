"""Throughput of depth registration (depth_image_proc ``register``) at 640x480.

A synthetic RGB-D rig: a 640x480 depth camera (f = 525 px) and a 640x480 colour camera
(f = 530 px) 25 mm to its side, turned by 1.1 degrees; the depth image is a tilted wall
with a box in front and 10 % holes. Registers ``--frames`` frames with one
:class:`~depth_ros.core.register.DepthRegistrar` (rays computed once, as in the node,
whose process also keeps freed heap blocks: ``keep_heap``) and prints wall-clock and
CPU milliseconds per frame (min / median / p90), for the default path and for
``fill_upsampling_holes``. Exits 1 when the default path's median CPU time exceeds
``--goal-ms`` (CPU time: registration is single-threaded, so on an idle machine it is the
wall time, and it stays meaningful on a shared one, where the wall time is not).

    python benchmarks/register_depth.py [--frames 100] [--goal-ms 10] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

import numpy as np

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.register import DepthRegistrar, rigid_transform
from depth_ros.runtime import keep_heap


def scene(camera: PinholeCamera, seed: int = 0) -> np.ndarray:
    h, w = camera.height, camera.width
    u, v = np.meshgrid(np.arange(w, dtype=np.float64), np.arange(h, dtype=np.float64))
    n = np.array([0.1, -0.05, 1.0])
    n /= np.linalg.norm(n)
    depth = 3.0 / (n[0] * (u - camera.cx) / camera.fx + n[1] * (v - camera.cy) / camera.fy + n[2])
    depth[h // 4 : 3 * h // 4, w // 3 : 2 * w // 3] = 1.2
    depth[np.random.default_rng(seed).random(depth.shape) < 0.1] = np.nan
    return depth.astype(np.float32)


def measure(fill: bool, frames: int) -> dict[str, float]:
    depth_cam = PinholeCamera.from_intrinsics(640, 480, 525.0, 525.0, 319.5, 239.5)
    rgb_cam = PinholeCamera.from_intrinsics(640, 480, 530.0, 531.0, 321.2, 238.1)
    a = np.deg2rad(1.1)
    rot = np.array([[np.cos(a), 0, np.sin(a)], [0, 1, 0], [-np.sin(a), 0, np.cos(a)]])
    transform = rigid_transform(rot, [-0.025, 0.001, 0.002])
    depth = scene(depth_cam)
    reg = DepthRegistrar(fill)
    out = reg.register(depth, depth_cam, rgb_cam, transform)  # warm-up: rays, buffers
    wall, cpu = [], []
    for _ in range(frames):
        t0, c0 = time.perf_counter(), time.process_time()
        out = reg.register(depth, depth_cam, rgb_cam, transform)
        wall.append((time.perf_counter() - t0) * 1e3)
        cpu.append((time.process_time() - c0) * 1e3)
    return {
        "wall_min_ms": float(np.min(wall)),
        "wall_median_ms": float(np.median(wall)),
        "wall_p90_ms": float(np.percentile(wall, 90)),
        "cpu_median_ms": float(np.median(cpu)),
        "filled_fraction": float(np.isfinite(out).mean()),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--goal-ms", type=float, default=10.0)
    p.add_argument("--json", default="", help="also write the figures to this file")
    args = p.parse_args(argv)
    keep_heap()
    results = {}
    for name, fill in (("default", False), ("fill_upsampling_holes", True)):
        r = measure(fill, args.frames)
        results[name] = r
        print(
            f"{name:>22}: wall min {r['wall_min_ms']:.2f} / median "
            f"{r['wall_median_ms']:.2f} / p90 {r['wall_p90_ms']:.2f} ms, CPU median "
            f"{r['cpu_median_ms']:.2f} ms per 640x480 frame; "
            f"{100 * r['filled_fraction']:.1f} % of the target filled"
        )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    ok = results["default"]["cpu_median_ms"] <= args.goal_ms
    print(f"goal {args.goal_ms:g} ms/frame (default, median CPU time): {'met' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
