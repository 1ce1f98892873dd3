"""Robust affine fit of inverse depth: RANSAC on point pairs, then least squares on the
inliers (``depth_ros.core.align.align_lstsq_inverse``), repeated to convergence.

The residual of a point is relative: |s*x + b - t| / t with t the reference inverse depth,
i.e. the relative depth error to first order, so one threshold suits near and far points.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.align import align_lstsq_inverse
from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import InputError
from depth_ros.core.scale.base import DEGENERATE_FIT, TOO_FEW_POINTS, ScaleFit, ScaleSource

_EVAL_POINTS = 2000  # RANSAC hypotheses are scored on at most this many points


@dataclass(frozen=True)
class RobustFit:
    """A robust (RANSAC) fit of the inverse-depth map: scale, shift, residual, inliers, or a failure
    code."""

    scale: float
    shift: float
    residual: float  # mean relative residual over the inliers
    inliers: int
    points: int
    code: str = ""  # "" when ok, else a failure code of depth_ros.core.scale.base
    reason: str = ""

    @property
    def ok(self) -> bool:
        """Whether the fit succeeded."""
        return not self.code


def _fail(code: str, reason: str, points: int) -> RobustFit:
    return RobustFit(np.nan, np.nan, np.nan, 0, points, code, reason)


def _lstsq(x: NDArray[np.float64], t: NDArray[np.float64], fit_shift: bool) -> tuple[float, float]:
    if fit_shift:
        _, (s, b) = align_lstsq_inverse(x, 1.0 / t)
        return s, b
    den = float(np.dot(x, x))
    if not den > 0:
        raise InputError("the prediction is zero at every point")
    return float(np.dot(x, t)) / den, 0.0


def robust_affine_fit(
    x: FloatArray,
    t: FloatArray,
    *,
    threshold: float = 0.1,
    iterations: int = 100,
    min_points: int = 20,
    min_inlier_ratio: float = 0.3,
    fit_shift: bool = True,
    rng: np.random.Generator | None = None,
) -> RobustFit:
    """Fit t ≈ s*x + b (b = 0 when not ``fit_shift``) with s > 0, rejecting outliers.

    ``x``: relative inverse depth at the reference points; ``t``: the reference's metric
    inverse depth (1/metres, > 0). Points where either is not finite (or t <= 0) are dropped.
    ``threshold``: largest relative residual of an inlier. Fails with ``too_few_points``
    when fewer than ``min_points`` valid points or inliers remain, and with
    ``degenerate_fit`` when the points do not determine a positive scale (constant
    prediction or reference, or fewer than ``min_inlier_ratio`` of them agree).
    """
    x = np.asarray(x, dtype=np.float64).ravel()
    t = np.asarray(t, dtype=np.float64).ravel()
    valid = np.isfinite(x) & np.isfinite(t) & (t > 0)
    x = x[valid]
    t = t[valid]
    n = int(x.size)
    need = max(min_points, 2 if fit_shift else 1)
    if n < need:
        return _fail(TOO_FEW_POINTS, f"{n} valid reference points, need >= {need}", n)
    if rng is None:
        rng = np.random.default_rng(0)
    x_spread = float(np.percentile(x, 95) - np.percentile(x, 5))
    x_level = float(np.median(np.abs(x)))
    if fit_shift and not x_spread > 1e-6 * max(x_level, 1e-12):
        return _fail(
            DEGENERATE_FIT,
            f"the prediction is (nearly) constant over the {n} reference points; "
            "scale and shift cannot both be fitted",
            n,
        )
    t_spread = float(np.percentile(t, 95) - np.percentile(t, 5))
    if fit_shift and not t_spread > 1e-3 * float(np.median(t)):
        return _fail(
            DEGENERATE_FIT,
            f"all {n} reference points are at (nearly) the same depth "
            f"({1.0 / float(np.median(t)):.3f} m); scale and shift cannot both be fitted",
            n,
        )

    # RANSAC: vectorised minimal samples (pairs; single points without shift)
    k = max(int(iterations), 1)
    i = rng.integers(0, n, size=k)
    with np.errstate(divide="ignore", invalid="ignore"):
        if fit_shift:
            j = rng.integers(0, n, size=k)
            s = (t[i] - t[j]) / (x[i] - x[j])
            b = t[i] - s * x[i]
        else:
            s = t[i] / x[i]
            b = np.zeros(k)
    good = np.isfinite(s) & np.isfinite(b) & (s > 0)
    if not good.any():
        return _fail(DEGENERATE_FIT, "no sample gave a positive, finite scale", n)
    s = s[good]
    b = b[good]
    sub = rng.choice(n, size=_EVAL_POINTS, replace=False) if n > _EVAL_POINTS else np.arange(n)
    res = np.abs(s[:, None] * x[None, sub] + b[:, None] - t[None, sub]) / t[None, sub]
    score = (res < threshold).sum(axis=1)
    best = int(np.argmax(score))
    scale, shift = float(s[best]), float(b[best])

    # refine: least squares on the inliers until the inlier set stops changing
    inl = np.abs(scale * x + shift - t) / t < threshold
    for _ in range(5):
        if int(inl.sum()) < need:
            break
        try:
            scale, shift = _lstsq(x[inl], t[inl], fit_shift)
        except InputError as exc:
            return _fail(DEGENERATE_FIT, str(exc), n)
        new = np.abs(scale * x + shift - t) / t < threshold
        if np.array_equal(new, inl):
            break
        inl = new
    count = int(inl.sum())
    if count < need:  # enough points, but they do not agree with one map
        return _fail(
            DEGENERATE_FIT,
            f"only {count} of {n} reference points agree with one affine map, "
            f"need >= {need} inliers",
            n,
        )
    if count < min_inlier_ratio * n:
        return _fail(
            DEGENERATE_FIT,
            f"only {count} of {n} reference points ({100.0 * count / n:.0f} %) agree with one "
            f"affine map, need >= {100.0 * min_inlier_ratio:.0f} %",
            n,
        )
    if not (np.isfinite(scale) and np.isfinite(shift) and scale > 0):
        return _fail(DEGENERATE_FIT, f"fitted scale {scale:.4g} is not positive", n)
    residual = float(np.mean(np.abs(scale * x[inl] + shift - t[inl]) / t[inl]))
    return RobustFit(scale, shift, residual, count, n)


def ransac_scale(
    source: ScaleSource,
    x: FloatArray,
    t: FloatArray,
    rng: np.random.Generator,
    stamp: float,
    what: str = "",
) -> ScaleFit:
    """:func:`robust_affine_fit` with ``source``'s parameters (``inlier_threshold``,
    ``ransac_iterations``, ``min_points``, ``min_inlier_ratio``, ``fit_shift``) as the
    ScaleFit at ``stamp``; a failure's reason starts with ``what`` when given."""
    r = robust_affine_fit(
        x,
        t,
        threshold=source.fparam("inlier_threshold"),
        iterations=source.iparam("ransac_iterations"),
        min_points=source.iparam("min_points"),
        min_inlier_ratio=source.fparam("min_inlier_ratio"),
        fit_shift=bool(source.param("fit_shift")),
        rng=rng,
    )
    if not r.ok:
        reason = f"{what}: {r.reason}" if what else r.reason
        return ScaleFit.failed(r.code, reason, stamp, r.points)
    return ScaleFit(
        scale=r.scale,
        shift=r.shift,
        residual=r.residual,
        inliers=r.inliers,
        points=r.points,
        stamp=stamp,
    )
