"""How far can a robot trust the classical stereo profile? Per data set:

* with ground truth (Middlebury 2014 Motorcycle from scikit-image, Middlebury 2003 Cones):
  bad-2.0 (a missing pixel counts as bad), EPE over predicted pixels, density;
* real indoor pairs without ground truth (rtabmap's Bumblebee ``stereo_rect`` pairs),
  against HITNet (ETH3D, ONNX) as the reference: density (share of reference pixels with a
  prediction), gross share (|z - z_ref| / z_ref > 0.2 among valid pixels) and phantom
  share (z < 0.8 z_ref: nearer than it is, an obstacle that is not there).

    python benchmarks/stereo_trust.py [--profile config/sgbm.yaml] [--set key=value ...]
        [--cache /tmp/stereo_trust] [--json]

The matcher parameters are those of the profile (model and its parameters; ``--set``
overrides). HITNet references are cached in ``--cache`` (they cost ~2 s each on CPU).
Data come from ../shared/data (or $DEPTH_ROS_SHARED/data); absent data sets are
reported as skipped. The OpenLORIS sample has no rectified stereo pair (only the T265's
raw fisheye pair, 848x800 Kannala-Brandt) and is not used.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml
from numpy.typing import NDArray

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("DEPTH_ROS_SHARED", ROOT / ".." / "shared"))
HITNET = SHARED / "models" / "hitnet_eth3d" / "eth3d_converted.onnx"
CONES = SHARED / "data" / "middlebury2003_cones_pandora"
RTABMAP = SHARED / "data" / "rtabmap_samples" / "stereo_rect"


def profile_params(path: Path, overrides: list[str]) -> tuple[str, dict[str, Any]]:
    """(model id, its parameters) from a profile and key=value overrides."""
    from depth_ros.core.models import get_model

    data = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    for item in overrides:
        key, _, value = item.partition("=")
        data[key] = yaml.safe_load(value)
    model_id = str(data["model"])
    names = {p.name for p in get_model(model_id).params}
    return model_id, {k: v for k, v in data.items() if k in names}


def gt_frames() -> list[tuple[str, Any, Any, NDArray[np.float32]]]:
    from depth_ros.core.eval.datasets.middlebury import _load_pandora
    from depth_ros.core.eval.samples import motorcycle

    s = motorcycle()
    out = [("motorcycle", s.left, s.right, s.disparity)]
    if CONES.is_dir():
        f = _load_pandora(CONES, "Cones")
        out.append(("cones", f.left, f.right, f.disparity))
    return out


def real_frames() -> list[tuple[str, Any, Any]]:
    from depth_ros.core.eval.datasets.base import read_rgb

    if not RTABMAP.is_dir():
        return []
    return [
        (f"rtabmap/{p.stem}", read_rgb(p), read_rgb(RTABMAP / "right" / p.name))
        for p in sorted((RTABMAP / "left").glob("*.jpg"))
    ]


def reference(name: str, left: Any, right: Any, cache: Path) -> NDArray[np.float32] | None:
    """HITNet's disparity of a pair (cached as .npy)."""
    path = cache / (name.replace("/", "_") + "_hitnet.npy")
    if path.is_file():
        return np.asarray(np.load(path), np.float32)
    if not HITNET.is_file():
        return None
    from depth_ros.core.models import ModelConfig, build_model

    model: Any = build_model("hitnet", ModelConfig(weights=HITNET, device="cpu"))
    disp = np.asarray(model.compute(left, right), np.float32)
    cache.mkdir(parents=True, exist_ok=True)
    np.save(path, disp)
    return disp


def trust(disp: NDArray[np.float32], ref: NDArray[np.float32]) -> dict[str, float]:
    """Density, gross and phantom shares against a reference disparity (same geometry, no
    doffs: z / z_ref = d_ref / d)."""
    ref_ok = np.isfinite(ref) & (ref > 0.5)
    valid = ref_ok & np.isfinite(disp) & (disp > 0)
    n = max(int(valid.sum()), 1)
    ratio = ref[valid] / disp[valid]  # z / z_ref
    return {
        "density": float(valid.sum() / max(int(ref_ok.sum()), 1)),
        "gross": float((np.abs(ratio - 1.0) > 0.2).sum() / n),
        "phantom": float((ratio < 0.8).sum() / n),
    }


def run(model_id: str, params: dict[str, Any], cache: Path) -> list[dict[str, Any]]:
    from depth_ros.core.eval.metrics import disparity_metrics
    from depth_ros.core.models import ModelConfig, build_model

    model: Any = build_model(model_id, ModelConfig(params=params))
    rows: list[dict[str, Any]] = []
    for name, left, right, gt in gt_frames():
        t = time.perf_counter()
        disp = model.compute(left, right)
        ms = (time.perf_counter() - t) * 1e3
        m = disparity_metrics(disp, gt)
        rows.append(
            {
                "data": name,
                "ms": round(ms, 1),
                "bad_2": round(m["bad_2"], 4),
                "epe": round(m["epe"], 3),
                "density": round(m["density"], 4),
            }
        )
    for name, left, right in real_frames():
        ref = reference(name, left, right, cache)
        if ref is None:
            rows.append({"data": name, "skipped": f"{HITNET} is absent"})
            continue
        t = time.perf_counter()
        disp = model.compute(left, right)
        ms = (time.perf_counter() - t) * 1e3
        rows.append(
            {
                "data": name,
                "ms": round(ms, 1),
                **{k: round(v, 4) for k, v in trust(disp, ref).items()},
            }
        )
    real = [r for r in rows if "gross" in r]
    if real:
        rows.append(
            {
                "data": "indoor (mean)",
                **{
                    k: round(float(np.mean([r[k] for r in real])), 4)
                    for k in ("ms", "density", "gross", "phantom")
                },
            }
        )
    return rows


def _cell(row: dict[str, Any], key: str, pct: bool = True) -> str:
    if key not in row:
        return "-"
    return f"{100 * row[key]:.1f}%" if pct else f"{row[key]:.2f}"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--profile", type=Path, default=ROOT / "config" / "sgbm.yaml")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE")
    p.add_argument("--cache", type=Path, default=Path("/tmp/stereo_trust"))
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    model_id, params = profile_params(args.profile, args.set)
    rows = run(model_id, params, args.cache)
    if args.json:
        print(json.dumps({"model": model_id, "params": params, "rows": rows}, indent=2))
        return 0
    print(f"{model_id} {params}")
    print(
        f"{'data':16} {'ms':>7} {'bad-2.0':>8} {'EPE':>6} {'density':>8} {'gross':>7} "
        f"{'phantom':>8}"
    )
    for r in rows:
        if "skipped" in r:
            print(f"{r['data']:16} skipped: {r['skipped']}")
            continue

        print(
            f"{r['data']:16} {r['ms']:7.0f} {_cell(r, 'bad_2'):>8} "
            f"{_cell(r, 'epe', False):>6} {_cell(r, 'density'):>8} {_cell(r, 'gross'):>7} "
            f"{_cell(r, 'phantom'):>8}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
