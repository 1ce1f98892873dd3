"""Standard depth and disparity metrics: one definition, used by demo, eval, bench, tests.

Every function takes a prediction, a ground truth and optionally a mask; pixels count only
where both are finite (and GT > 0 for depth). Results are plain floats, NaN when no pixel
is valid.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray

Array = FloatArray


def _valid_depth(pred: Array, gt: Array, mask: NDArray[np.bool_] | None) -> NDArray[np.bool_]:
    valid = np.isfinite(gt) & (gt > 0) & np.isfinite(pred) & (pred > 0)
    return valid if mask is None else valid & mask


def depth_metrics(
    pred: Array, gt: Array, mask: NDArray[np.bool_] | None = None
) -> dict[str, float]:
    """AbsRel, SqRel, RMSE, RMSE log, SILog, δ<1.25^k over pixels valid in both.

    Also ``density``: the fraction of GT-valid pixels that have a prediction.
    """
    gt_valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        gt_valid &= mask
    valid = _valid_depth(pred, gt, mask)
    n = int(valid.sum())
    out: dict[str, float] = {"valid_pixels": float(n)}
    out["density"] = float(n / gt_valid.sum()) if gt_valid.any() else float("nan")
    if n == 0:
        for k in ("abs_rel", "sq_rel", "rmse", "rmse_log", "silog", "delta1", "delta2", "delta3"):
            out[k] = float("nan")
        return out
    p = pred[valid].astype(np.float64)
    g = gt[valid].astype(np.float64)
    diff = p - g
    log_diff = np.log(p) - np.log(g)
    ratio = np.maximum(p / g, g / p)
    out["abs_rel"] = float(np.mean(np.abs(diff) / g))
    out["sq_rel"] = float(np.mean(diff**2 / g))
    out["rmse"] = float(np.sqrt(np.mean(diff**2)))
    out["rmse_log"] = float(np.sqrt(np.mean(log_diff**2)))
    out["silog"] = float(np.sqrt(max(np.mean(log_diff**2) - np.mean(log_diff) ** 2, 0.0)) * 100)
    out["delta1"] = float(np.mean(ratio < 1.25))
    out["delta2"] = float(np.mean(ratio < 1.25**2))
    out["delta3"] = float(np.mean(ratio < 1.25**3))
    return out


def disparity_metrics(
    pred: Array,
    gt: Array,
    mask: NDArray[np.bool_] | None = None,
    thresholds: tuple[float, ...] = (1.0, 2.0, 3.0),
) -> dict[str, float]:
    """bad-N (fraction of GT pixels whose error exceeds N px; a missing prediction counts
    as bad, Middlebury's convention), EPE over predicted pixels, density, invalid."""
    gt_valid = np.isfinite(gt) & (gt > 0)
    if mask is not None:
        gt_valid &= mask
    n_gt = int(gt_valid.sum())
    out: dict[str, float] = {"gt_pixels": float(n_gt)}
    if n_gt == 0:
        for t in thresholds:
            out[f"bad_{t:g}"] = float("nan")
        out.update(epe=float("nan"), density=float("nan"), invalid=float("nan"))
        return out
    predicted = gt_valid & np.isfinite(pred)
    err = np.abs(pred.astype(np.float64) - gt.astype(np.float64))
    for t in thresholds:
        bad = gt_valid & ~(err <= t)  # NaN prediction → bad
        out[f"bad_{t:g}"] = float(bad.sum() / n_gt)
    out["epe"] = float(err[predicted].mean()) if predicted.any() else float("nan")
    out["density"] = float(predicted.sum() / n_gt)
    out["invalid"] = 1.0 - out["density"]
    return out
