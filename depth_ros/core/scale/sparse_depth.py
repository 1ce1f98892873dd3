"""``sparse_depth``: scale and shift from a sparse metric reference, fitted every frame.

The reference is a depth image (metres, NaN = none) aligned with the prediction: a depth
camera or a LiDAR projected into the camera with :mod:`depth_ros.core.projection`
(:func:`~depth_ros.core.projection.depth_image_to_metres` reads 16UC1 mm / 32FC1 m).
At the reference pixels the robust fit (:func:`~depth_ros.core.scale.robust.
robust_affine_fit`: RANSAC on pairs, then least squares on the inliers) finds
1/ref ≈ scale * rel + shift; the result is smoothed over time (``smoothing``) and held on
failure (``hold_time``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

import numpy as np

from depth_ros.core.arrays import FloatArray
from depth_ros.core.params import ParamSpec, Value
from depth_ros.core.scale import register_scale_source
from depth_ros.core.scale.base import (
    HOLD_PARAMS,
    NO_REFERENCE,
    SMOOTHING_PARAMS,
    STALE_REFERENCE,
    FloatImage,
    ScaleContext,
    ScaleFit,
    ScaleSource,
    check_same_shape,
)
from depth_ros.core.scale.robust import ransac_scale

REFERENCE_FIT_PARAMS = (
    ParamSpec(
        "min_points", 50, "Fewest valid reference points (and inliers) for a fit", 2, 1_000_000
    ),
    ParamSpec(
        "inlier_threshold",
        0.1,
        "Largest relative inverse-depth error of an inlier reference point",
        0.001,
        1.0,
    ),
    ParamSpec(
        "min_inlier_ratio",
        0.3,
        "Smallest fraction of reference points that must be inliers",
        0.0,
        1.0,
    ),
    ParamSpec("ransac_iterations", 100, "RANSAC hypotheses per frame", 1, 10000),
    ParamSpec(
        "fit_shift",
        True,
        "Fit a shift of inverse depth as well as the scale (affine-invariant models); "
        "false: scale only",
    ),
    ParamSpec(
        "max_points",
        20000,
        "Reference points used per frame (a random subset beyond this)",
        10,
        10_000_000,
    ),
    ParamSpec("min_reference_depth", 0.05, "Reference depths below this are ignored, m", 0.0, 1e4),
    ParamSpec("max_reference_depth", 100.0, "Reference depths above this are ignored, m", 0.0, 1e6),
    ParamSpec(
        "max_reference_age",
        0.5,
        "Largest age of the reference relative to the frame, seconds (0 = no check)",
        0.0,
        3600.0,
    ),
    *HOLD_PARAMS,
    *SMOOTHING_PARAMS,
)


@register_scale_source
class SparseDepthScale(ScaleSource):
    """Scale from a sparse metric reference depth (lidar, a depth camera): robust fit of the
    prediction to it."""

    name = "sparse_depth"
    params: ClassVar[tuple[ParamSpec, ...]] = REFERENCE_FIT_PARAMS

    def __init__(self, params: Mapping[str, Value] | None = None) -> None:
        super().__init__(params)
        self._rng = np.random.default_rng(0)

    def _reference(self, rel: FloatArray, context: ScaleContext) -> FloatImage | ScaleFit:
        """The metric reference depth for this frame, or a failed fit saying why not."""
        if context.reference is None:
            return ScaleFit.failed(NO_REFERENCE, "no reference depth received", stamp=context.stamp)
        check_same_shape(rel, context.reference, "reference depth")
        return context.reference

    def _fit_frame(self, rel: FloatArray, context: ScaleContext) -> ScaleFit:
        max_age = self.fparam("max_reference_age")
        if context.reference_stamp is not None and max_age > 0.0:
            age = context.stamp - context.reference_stamp
            if age > max_age:
                return ScaleFit.failed(
                    STALE_REFERENCE,
                    f"reference is {age:.3f} s older than the frame, max_reference_age "
                    f"{max_age:g} s",
                    stamp=context.stamp,
                )
        ref = self._reference(rel, context)
        if isinstance(ref, ScaleFit):
            return ref
        lo, hi = self.fparam("min_reference_depth"), self.fparam("max_reference_depth")
        with np.errstate(invalid="ignore"):
            sel = np.isfinite(ref) & (ref > lo) & (ref <= hi) & np.isfinite(rel)
        idx = np.flatnonzero(sel)
        max_points = self.iparam("max_points")
        if idx.size > max_points:
            idx = self._rng.choice(idx, size=max_points, replace=False)
        x = rel.reshape(-1)[idx].astype(np.float64)
        t = 1.0 / ref.reshape(-1)[idx].astype(np.float64)
        return ransac_scale(self, x, t, self._rng, context.stamp)
