#!/usr/bin/env python3
"""Flicker with and without the temporal filter on a real RGB-D sequence.

Sequence: the five consecutive Redwood frames of Open3D's test data (../shared/data/
open3d_rgbd_samples/TestData/RGBD: 640x480 depth in mm, camera poses in trajectory.log,
PrimeSense intrinsics fx = fy = 525, cx = 319.5, cy = 239.5; the camera moves about
2.4 cm and 0.75 degrees per frame, i.e. ~7 px of image motion).

No monocular network weights are reachable here, so — as in benchmarks/scale_eval.py —
the per-frame "prediction" is the ground truth made relative: inverse depth under an
affine map drawn per frame (rel = (1/depth - shift) / scale) with multiplicative
per-pixel Gaussian noise drawn per frame (``--noise``); pixels without ground truth take
the frame's median. That imitates a network's frame-to-frame flicker (scale jitter and
pixel noise), not a network's errors; the numbers measure the filter, not a model.

Temporal error between consecutive aligned frames: each output frame is aligned to the
ground truth (least squares in inverse depth: scale and shift, the usual evaluation of
relative depth) to metres; the previous frame's aligned depth is warped into the current
camera with the ground-truth depth and poses (pixel → 3-D → previous camera, sampled
there, moved back into the current camera); the error is the mean |z_prev→cur - z_cur| /
z_cur over pixels valid in both frames and not occluded (the ground truth itself agrees
within 5 % there). The ground truth's own temporal error (sensor noise, pose error) is the
floor. Accuracy (AbsRel of the aligned frames against the ground truth) shows the lag the
filter costs.

With ``--model ID --weights FILE`` (or ``--random-weights``) the prediction is that
monocular network's on the sequence's colour frames instead (metric output is inverted to
inverse depth first, the evaluation aligns it the same way). A streaming model (Video Depth
Anything) is run twice: as a stream (its temporal window kept from frame to frame) and
frame by frame (its window reset before every frame, i.e. without its temporal part), each
without and with the temporal filter. Random weights give a network that is not a depth
estimator: its numbers show that the code paths run, not flicker (the output says so).
Usage::

    python benchmarks/temporal_flicker.py [--noise 0.05] [--alphas 0.3 0.5 0.7] [--json]
    python benchmarks/temporal_flicker.py --model video_depth_anything_vits \
        --weights video_depth_anything_vits.pth [--input-size 518] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from depth_ros.core.align import align_lstsq_inverse  # noqa: E402
from depth_ros.core.temporal import TemporalFilter, TemporalOptions  # noqa: E402

_SUB = Path("shared") / "data" / "open3d_rgbd_samples" / "TestData" / "RGBD"
#: ../shared beside the checkout (or two levels up, for a git worktree under wt/)
RGBD = next(
    (p for p in (ROOT.parent / _SUB, ROOT.parent.parent / _SUB) if p.is_dir()), ROOT.parent / _SUB
)
FX = FY = 525.0
CX, CY = 319.5, 239.5
FPS = 30.0


def load(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Ground-truth depths (m, NaN invalid) and camera-to-world poses (4x4)."""
    import cv2

    depths = []
    for p in sorted((folder / "depth").glob("*.png")):
        raw = cv2.imread(str(p), cv2.IMREAD_UNCHANGED)
        d = raw.astype(np.float32) / 1000.0
        d[raw == 0] = np.nan
        depths.append(d)
    lines = [ln for ln in (folder / "trajectory.log").read_text().splitlines() if ln.strip()]
    poses = [
        np.array([[float(v) for v in lines[i + k].split()] for k in range(1, 5)])
        for i in range(0, len(lines), 5)
    ]
    return depths, poses[: len(depths)]


def fake_relative(gt: np.ndarray, rng: np.random.Generator, noise: float) -> np.ndarray:
    """The ground truth made relative (see the module docstring)."""
    scale = float(np.exp(rng.uniform(np.log(0.8), np.log(1.25))))
    shift = float(rng.uniform(-0.05, 0.05))
    rel = (1.0 / gt - shift) / scale * (1.0 + noise * rng.standard_normal(gt.shape))
    rel = rel.astype(np.float32)
    rel[~np.isfinite(rel)] = np.float32(np.nanmedian(rel))
    return rel


def aligned(rel: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Relative inverse depth → metres, scale and shift fitted to the ground truth."""
    depth, _ = align_lstsq_inverse(rel, gt)
    return np.asarray(depth, dtype=np.float32)


def warp_error(
    prev: np.ndarray,
    cur: np.ndarray,
    gt_prev: np.ndarray,
    gt_cur: np.ndarray,
    pose_prev: np.ndarray,
    pose_cur: np.ndarray,
) -> float:
    """Mean |z_prev->cur - z_cur| / z_cur (module docstring), nearest-pixel sampling."""
    h, w = cur.shape
    v, u = np.mgrid[0:h, 0:w].astype(np.float64)
    z = gt_cur.astype(np.float64)
    pts = np.stack([(u - CX) / FX * z, (v - CY) / FY * z, z, np.ones_like(z)], -1)
    cur_to_prev = np.linalg.inv(pose_prev) @ pose_cur
    q = pts @ cur_to_prev.T
    with np.errstate(invalid="ignore", divide="ignore"):
        up = np.nan_to_num(np.rint(q[..., 0] / q[..., 2] * FX + CX), nan=-1).astype(np.intp)
        vp = np.nan_to_num(np.rint(q[..., 1] / q[..., 2] * FY + CY), nan=-1).astype(np.intp)
    inside = np.isfinite(z) & (q[..., 2] > 0) & (up >= 0) & (up < w) & (vp >= 0) & (vp < h)
    upc, vpc = np.clip(up, 0, w - 1), np.clip(vp, 0, h - 1)
    gt_seen = gt_prev[vpc, upc]
    visible = inside & np.isfinite(gt_seen) & (np.abs(gt_seen - q[..., 2]) < 0.05 * q[..., 2])
    # the previous prediction at that pixel, as a 3-D point, moved into the current camera
    zp = prev[vpc, upc].astype(np.float64)
    xp = np.stack([(upc - CX) / FX * zp, (vpc - CY) / FY * zp, zp, np.ones_like(zp)], -1)
    z_in_cur = (xp @ np.linalg.inv(cur_to_prev).T)[..., 2]
    ok = visible & np.isfinite(z_in_cur) & np.isfinite(cur) & (cur > 0)
    return float(np.mean(np.abs(z_in_cur[ok] - cur[ok]) / cur[ok]))


def abs_rel(pred: np.ndarray, gt: np.ndarray) -> float:
    ok = np.isfinite(gt) & np.isfinite(pred)
    return float(np.mean(np.abs(pred[ok] - gt[ok]) / gt[ok]))


def run(
    depths: list[np.ndarray],
    poses: list[np.ndarray],
    preds: list[np.ndarray],
    options: TemporalOptions | None,
    align: bool = True,
) -> dict[str, float]:
    filt = TemporalFilter(options) if options is not None else None
    outs = []
    moving = []
    for i, rel in enumerate(preds):
        out = filt.filter_inverse(rel, stamp=i / FPS, align=align) if filt is not None else rel
        if filt is not None and i:
            moving.append(filt.last_moving_fraction)
        outs.append(aligned(out, depths[i]))
    errs = [
        warp_error(outs[i - 1], outs[i], depths[i - 1], depths[i], poses[i - 1], poses[i])
        for i in range(1, len(outs))
    ]
    row = {
        "temporal_error": float(np.mean(errs)),
        "abs_rel": float(np.mean([abs_rel(o, g) for o, g in zip(outs, depths, strict=True)])),
    }
    if moving:
        row["gated_fraction"] = float(np.mean(moving))
    return row


def load_colour(folder: Path) -> list[np.ndarray]:
    """The sequence's colour frames, RGB uint8."""
    import cv2

    return [
        np.ascontiguousarray(cv2.imread(str(p))[:, :, ::-1])
        for p in sorted((folder / "color").glob("*.jpg"))
    ]


def network_predictions(
    model: Any, frames: list[np.ndarray], stream: bool, metric: bool = False
) -> list[np.ndarray]:
    """The model's relative inverse depth per frame; ``stream`` False: a streaming model's
    window is reset before every frame (each frame alone). ``metric``: the output is
    metres, inverted here."""
    from depth_ros.core.models.base import StreamingModel

    streaming = isinstance(model, StreamingModel)
    if streaming:
        model.reset()
    out = []
    for rgb in frames:
        if streaming and not stream:
            model.reset()
        pred = np.asarray(model.predict(rgb), dtype=np.float32)
        if metric:
            with np.errstate(divide="ignore"):
                pred = np.where(pred > 0, 1.0 / pred, np.nan).astype(np.float32)
        out.append(pred)
    return out


def network_rows(
    args: argparse.Namespace, depths: list[np.ndarray], poses: list[np.ndarray]
) -> Any:
    """Rows for ``--model``: (prediction label, table)."""
    import tempfile

    from depth_ros.core.models import ModelConfig, OutputKind, build_model, get_model
    from depth_ros.core.models.base import StreamingModel

    spec = get_model(args.model)
    weights = args.weights
    if weights is None:
        if not args.random_weights or spec.random_checkpoint is None:
            raise SystemExit("give --weights, or --random-weights (structure only)")
        weights = Path(tempfile.mkdtemp(prefix="flicker_")) / (spec.weights_file or "w.pth")
        spec.random_checkpoint(weights)
    model: Any = build_model(
        args.model, ModelConfig(weights=weights, input_size=args.input_size or None)
    )
    frames = load_colour(RGBD)
    opts = TemporalOptions(alpha=args.alphas[0], motion_threshold=args.motion_threshold)
    modes = [("stream", True), ("frame by frame", False)]
    if not isinstance(model, StreamingModel):
        modes = modes[1:]
    table = []
    for mode, stream in modes:
        metric = spec.output_kind is OutputKind.METRIC
        preds = network_predictions(model, frames, stream, metric)
        for label, o in (("no filter", None), (f"filter alpha {opts.alpha:g}", opts)):
            table.append({"config": f"{mode}, {label}", **run(depths, poses, preds, o)})
    what = f"{args.model} on the colour frames" + (
        " (RANDOM weights: not a depth estimator, the numbers only show the code runs; "
        "they are not flicker)"
        if args.weights is None
        else f" ({Path(weights).name})"
    )
    return what, table


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--noise",
        type=float,
        default=0.05,
        help="per-pixel relative noise of the fake prediction, per frame",
    )
    ap.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    ap.add_argument("--motion-threshold", type=float, default=0.15)
    ap.add_argument("--seeds", type=int, default=5, help="noise draws averaged")
    ap.add_argument("--model", help="a monocular model ID: its prediction, not a fake one")
    ap.add_argument("--weights", type=Path, help="the model's weights file")
    ap.add_argument("--random-weights", action="store_true", help="structure only")
    ap.add_argument("--input-size", type=int, default=0, help="network input size")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if not (RGBD / "trajectory.log").is_file():
        print(f"skipped: no Redwood frames at {RGBD}")
        return 0
    depths, poses = load(RGBD)
    floor = float(
        np.mean(
            [
                warp_error(
                    depths[i - 1], depths[i], depths[i - 1], depths[i], poses[i - 1], poses[i]
                )
                for i in range(1, len(depths))
            ]
        )
    )
    if args.model:
        what, table = network_rows(args, depths, poses)
        return report(
            {
                "sequence": "Redwood (Open3D TestData/RGBD), 5 frames 640x480",
                "prediction": what,
                "ground_truth_temporal_error": floor,
                "rows": table,
            },
            args.json,
        )
    gate = args.motion_threshold
    configs: list[tuple[str, TemporalOptions | None, bool]] = [("no filter", None, True)]
    configs += [
        (f"alpha {a:g}", TemporalOptions(alpha=a, motion_threshold=gate), True) for a in args.alphas
    ]
    a0 = args.alphas[0]
    configs += [
        (f"alpha {a0:g}, no motion gate", TemporalOptions(alpha=a0, motion_threshold=10.0), True),
        (
            f"alpha {a0:g}, history not aligned",
            TemporalOptions(alpha=a0, motion_threshold=gate),
            False,
        ),
    ]
    rows: dict[str, list[dict[str, float]]] = {name: [] for name, _, _ in configs}
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        preds = [fake_relative(d, rng, args.noise) for d in depths]
        for name, opts, align in configs:
            rows[name].append(run(depths, poses, preds, opts, align))
    table = [
        {"config": name, **{k: float(np.mean([r[k] for r in rs])) for k in rs[0]}}
        for name, rs in rows.items()
    ]
    result = {
        "sequence": "Redwood (Open3D TestData/RGBD), 5 frames 640x480",
        "prediction": f"FAKE: GT inverse depth, per-frame affine + {args.noise:g} "
        f"relative per-pixel noise (no network weights here)",
        "ground_truth_temporal_error": floor,
        "rows": table,
    }
    result["prediction"] = f"{result['prediction']}; {args.seeds} noise draws"
    return report(result, args.json)


def report(result: dict[str, Any], as_json: bool) -> int:
    if as_json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['sequence']}; prediction: {result['prediction']}")
    floor = result["ground_truth_temporal_error"]
    print(f"ground truth's own temporal error (floor): {100 * floor:.2f} %")
    for r in result["rows"]:
        gated = f", gated {100 * r['gated_fraction']:.1f} % px" if "gated_fraction" in r else ""
        print(
            f"{r['config']:>28}: temporal error {100 * r['temporal_error']:.2f} %, "
            f"AbsRel vs GT {100 * r['abs_rel']:.2f} %{gated}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
