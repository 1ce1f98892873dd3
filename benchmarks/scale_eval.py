#!/usr/bin/env python3
"""Evaluate metric scale recovery and stereo + mono fusion on real frames.

1. ``sparse_depth`` on real RGB-D frames (TUM, NYU, Redwood, OpenLORIS in ../shared/data):
   a simulated sparse LiDAR (``--fraction`` of the ground-truth pixels, ``--lidar-noise``
   relative noise, ``--outliers`` fraction of gross errors) scales a relative prediction;
   AbsRel and δ1 are compared with plain least squares on the same sparse points and
   with the ideal least-squares alignment on all ground-truth pixels (the upper bound).
2. Fusion on Middlebury Motorcycle: SGBM (registered ``sgbm``, default parameters) +
   the relative prediction, fused to 100 % density.

No monocular network weights are reachable here, so the "relative prediction" is the
ground truth itself made relative: inverse depth under a random affine map
(rel = (1/depth - shift) / scale, scale and shift drawn per frame) with multiplicative
Gaussian noise (``--noise``, relative); where there is no ground truth it takes the
frame's median value (those pixels are not scored). The numbers therefore measure the
scale machinery (robust fit, outlier rejection, sparsity), not a network's accuracy.

    python benchmarks/scale_eval.py [--json] [--seed N]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depth_ros.core.align import align_lstsq_inverse  # noqa: E402
from depth_ros.core.eval.metrics import depth_metrics  # noqa: E402
from depth_ros.core.scale import ScaleContext, apply, build_scale_source  # noqa: E402

SHARED = ROOT / ".." / "shared" / "data"
RGBD = SHARED / "open3d_rgbd_samples" / "TestData" / "RGBD"
LORIS = SHARED / "openloris_sample_slamcore" / "sample_dataset"


def _read16(path: Path) -> np.ndarray:
    import cv2

    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.dtype != np.uint16:
        raise SystemExit(f"cannot read 16-bit depth {path}")
    return np.asarray(img)


def _mm(raw: np.ndarray, per_metre: float = 1000.0) -> np.ndarray:
    depth = raw.astype(np.float32) / np.float32(per_metre)
    depth[raw == 0] = np.nan
    return depth


def frames() -> Iterator[tuple[str, np.ndarray]]:
    """(name, ground-truth depth in metres with NaN) for every real frame found."""
    tum = RGBD / "other_formats" / "TUM_depth.png"
    if tum.exists():
        yield "tum", _mm(_read16(tum), 5000.0)
    nyu = RGBD / "other_formats" / "NYU_depth.pgm"
    if nyu.exists():
        raw = np.frombuffer(nyu.read_bytes()[17:], dtype="<u2")[: 480 * 640].reshape(480, 640)
        with np.errstate(divide="ignore"):
            depth = (351.3 / (1092.5 - raw.astype(np.float32))).astype(np.float32)
        depth[(raw >= 2047) | ~(depth > 0)] = np.nan
        yield "nyu", depth
    for path in sorted((RGBD / "depth").glob("*.png")):
        yield f"redwood/{path.stem}", _mm(_read16(path))
    for path in sorted((LORIS / "aligned_depth").glob("*.png")):
        yield f"openloris/{path.stem}", _mm(_read16(path))


def fake_relative(gt: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    scale = float(rng.uniform(0.05, 5.0))
    shift = float(rng.uniform(-0.1, 0.3)) * float(np.nanmedian(1.0 / gt))
    rel = (1.0 / gt - shift) / scale * (1.0 + noise * rng.standard_normal(gt.shape))
    return np.where(np.isfinite(rel), rel, np.nanmedian(rel)).astype(np.float32)


def lidar(
    gt: np.ndarray, rng: np.random.Generator, fraction: float, noise: float, outliers: float
) -> np.ndarray:
    """Sparse returns: ``fraction`` of the GT pixels with relative ``noise``; a fraction
    ``outliers`` of them replaced by gross errors (uniform 0.3..10 m: mixed pixels,
    reflections, miscalibration)."""
    keep = (rng.random(gt.shape) < fraction) & np.isfinite(gt)
    out = np.full(gt.shape, np.nan, dtype=np.float32)
    n = int(keep.sum())
    vals = gt[keep] * (1.0 + noise * rng.standard_normal(n))
    bad = rng.random(n) < outliers
    vals[bad] = rng.uniform(0.3, 10.0, int(bad.sum()))
    out[keep] = vals
    return out


def eval_sparse(args: argparse.Namespace) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    rng = np.random.default_rng(args.seed)
    for name, gt in frames():
        rel = fake_relative(gt, rng, args.noise)
        ref = lidar(gt, rng, args.fraction, args.lidar_noise, args.outliers)
        src = build_scale_source("sparse_depth")
        fit = src.fit(rel, ScaleContext(reference=ref))
        scaled = depth_metrics(apply(rel, fit), gt)
        plain, _ = align_lstsq_inverse(rel, ref)
        plain_m = depth_metrics(plain, gt)
        ideal, _ = align_lstsq_inverse(rel, gt)
        ideal_m = depth_metrics(ideal, gt)
        rows.append(
            {
                "frame": name,
                "ref_points": fit.points,
                "inliers": fit.inliers,
                "ok": fit.ok,
                "sparse_abs_rel": scaled["abs_rel"],
                "sparse_delta1": scaled["delta1"],
                "lstsq_sparse_abs_rel": plain_m["abs_rel"],
                "ideal_abs_rel": ideal_m["abs_rel"],
                "ideal_delta1": ideal_m["delta1"],
            }
        )
    return rows


def eval_fusion(args: argparse.Namespace) -> dict[str, object]:
    from depth_ros.core.eval.samples import motorcycle
    from depth_ros.core.fusion import StereoMonoFusion
    from depth_ros.core.geometry import disparity_to_depth
    from depth_ros.core.models import build_model

    s = motorcycle()
    model = build_model("sgbm")
    disp = model.compute(np.ascontiguousarray(s.left), np.ascontiguousarray(s.right))  # type: ignore[attr-defined]
    stereo = disparity_to_depth(disp, s.geometry)
    gt = np.asarray(s.depth)
    rel = fake_relative(gt, np.random.default_rng(args.seed + 1), args.noise)
    result = StereoMonoFusion().process(stereo, rel)
    covered = np.isfinite(stereo)
    st = depth_metrics(stereo, gt)
    fu_cov = depth_metrics(result.depth, gt, covered)
    fu_all = depth_metrics(result.depth, gt)
    fu_holes = depth_metrics(result.depth, gt, ~covered)
    return {
        "stereo_density": st["density"],
        "stereo_abs_rel": st["abs_rel"],
        "stereo_delta1": st["delta1"],
        "fused_density": fu_all["density"],
        "fused_abs_rel_on_stereo_pixels": fu_cov["abs_rel"],
        "fused_abs_rel_holes": fu_holes["abs_rel"],
        "fused_abs_rel_all": fu_all["abs_rel"],
        "fused_delta1_all": fu_all["delta1"],
        "fit_scale": result.fit.scale,
        "fit_shift": result.fit.shift,
        "fit_residual": result.fit.residual,
        "fit_inliers": result.fit.inliers,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--fraction", type=float, default=0.01, help="LiDAR: fraction of pixels")
    ap.add_argument("--lidar-noise", type=float, default=0.02, help="LiDAR relative noise")
    ap.add_argument(
        "--outliers",
        type=float,
        default=0.05,
        help="LiDAR: fraction of returns that are gross outliers",
    )
    ap.add_argument(
        "--noise", type=float, default=0.03, help="relative noise of the fake relative prediction"
    )
    args = ap.parse_args(argv)
    if not SHARED.exists():
        print(f"shared data not found at {SHARED}; only the Motorcycle part runs", file=sys.stderr)
    rows = eval_sparse(args)
    fusion = eval_fusion(args)
    if args.json:
        print(
            json.dumps(
                {"sparse_depth": rows, "fusion_motorcycle": fusion, "settings": vars(args)},
                indent=2,
            )
        )
        return 0
    print(
        f"sparse_depth: LiDAR {100 * args.fraction:g} % of GT pixels, "
        f"{100 * args.lidar_noise:g} % noise, {100 * args.outliers:g} % outliers; "
        f"fake relative prediction {100 * args.noise:g} % noise"
    )
    print(
        f"{'frame':26s} {'pts':>6s} {'inl':>6s}  {'AbsRel':>7s} {'d1':>6s}  "
        f"{'LSsparse':>8s}  {'ideal':>7s} {'d1':>6s}"
    )
    for r in rows:
        print(
            f"{r['frame']!s:26s} {r['ref_points']:6d} {r['inliers']:6d}  "
            f"{r['sparse_abs_rel']:7.4f} {r['sparse_delta1']:6.4f}  "
            f"{r['lstsq_sparse_abs_rel']:8.4f}  {r['ideal_abs_rel']:7.4f} "
            f"{r['ideal_delta1']:6.4f}"
        )
    if rows:
        for key in (
            "sparse_abs_rel",
            "sparse_delta1",
            "lstsq_sparse_abs_rel",
            "ideal_abs_rel",
            "ideal_delta1",
        ):
            print(f"  mean {key}: {np.mean([float(r[key]) for r in rows]):.4f}")  # type: ignore[arg-type]
    print("\nfusion on Motorcycle (SGBM + fake relative prediction):")
    for k, v in fusion.items():
        print(f"  {k:32s} {v:.4f}" if isinstance(v, float) else f"  {k:32s} {v}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
