"""Aligning a prediction to a reference depth: scale, or scale and shift.

Monocular networks give depth only up to an unknown scale (metric models trained on other
cameras) or an unknown affine transform of inverse depth (MiDaS, Depth Anything). These
pure functions fit that transform to a reference (ground truth, or a sparse metric source)
and return the aligned depth in metres together with the fitted ``(scale, shift)``.

Pixels take part in the fit where the reference is finite and > 0, the prediction is
finite (and > 0 where the method needs a positive prediction) and ``mask`` is true.
Pixels outside that set are still transformed; those whose aligned depth is not positive
become NaN.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray
from depth_ros.core.errors import ConfigError, InputError

Mask = NDArray[np.bool_]
Aligned = tuple[NDArray[np.float32], tuple[float, float]]

ALIGN_METHODS = ("none", "median", "lstsq", "lstsq-inverse")


def _check(pred: FloatArray, ref: FloatArray, mask: Mask | None) -> None:
    if pred.shape != ref.shape:
        raise InputError(
            f"prediction {pred.shape} and reference {ref.shape} must have the same shape"
        )
    if mask is not None and mask.shape != ref.shape:
        raise InputError(f"mask {mask.shape} must have the reference's shape {ref.shape}")


def fit_mask(
    pred: FloatArray, ref: FloatArray, mask: Mask | None = None, positive_pred: bool = False
) -> Mask:
    """Pixels used for a fit: reference finite and > 0, prediction finite (and > 0)."""
    _check(pred, ref, mask)
    valid = np.isfinite(ref) & (ref > 0) & np.isfinite(pred)
    if positive_pred:
        valid &= pred > 0
    if mask is not None:
        valid &= mask
    return np.asarray(valid, dtype=np.bool_)


def _positive(depth: NDArray[np.float64]) -> NDArray[np.float32]:
    out = depth.astype(np.float32)
    out[~(out > 0) | ~np.isfinite(out)] = np.nan
    return out


def _lstsq(x: NDArray[np.float64], y: NDArray[np.float64], what: str) -> tuple[float, float]:
    """Closed-form least squares of y ≈ s*x + t (normal equations, float64)."""
    n = x.size
    if n < 2:
        raise InputError(f"{what}: need at least 2 valid pixels to fit scale and shift, got {n}")
    mx = float(x.mean())
    my = float(y.mean())
    dx = x - mx
    var = float(np.dot(dx, dx))
    if not var > 1e-12 * max(1.0, mx * mx) * n:
        raise InputError(
            f"{what}: the prediction is constant over the {n} valid pixels; "
            "expected varying values to fit scale and shift"
        )
    s = float(np.dot(dx, y - my)) / var
    return s, my - s * mx


def align_none(pred: FloatArray, ref: FloatArray, mask: Mask | None = None) -> Aligned:
    """No alignment: the prediction as float32 (non-positive → NaN), scale 1, shift 0."""
    _check(pred, ref, mask)
    return _positive(pred.astype(np.float64)), (1.0, 0.0)


def align_median(pred: FloatArray, ref: FloatArray, mask: Mask | None = None) -> Aligned:
    """Median scaling of depth: ``s = median(ref) / median(pred)``, shift 0."""
    valid = fit_mask(pred, ref, mask, positive_pred=True)
    if not valid.any():
        raise InputError("median alignment: no pixel has both a positive prediction and reference")
    s = float(np.median(ref[valid].astype(np.float64)) / np.median(pred[valid].astype(np.float64)))
    return _positive(pred.astype(np.float64) * s), (s, 0.0)


def align_lstsq(pred: FloatArray, ref: FloatArray, mask: Mask | None = None) -> Aligned:
    """Least-squares scale and shift in depth: minimise Σ (s·pred + t - ref)²."""
    valid = fit_mask(pred, ref, mask)
    s, t = _lstsq(pred[valid].astype(np.float64), ref[valid].astype(np.float64), "lstsq alignment")
    return _positive(pred.astype(np.float64) * s + t), (s, t)


def align_lstsq_inverse(pred: FloatArray, ref: FloatArray, mask: Mask | None = None) -> Aligned:
    """Least-squares scale and shift in inverse depth (the standard for affine-invariant
    models such as MiDaS and Depth Anything).

    ``pred`` is a relative inverse depth (larger = nearer); the fit minimises
    Σ (s·pred + t - 1/ref)² and the result is depth ``1 / (s·pred + t)`` in the reference's
    unit, NaN where ``s·pred + t`` is not positive. Returns ``(s, t)`` of inverse depth.
    """
    valid = fit_mask(pred, ref, mask)
    s, t = _lstsq(
        pred[valid].astype(np.float64),
        1.0 / ref[valid].astype(np.float64),
        "lstsq-inverse alignment",
    )
    inv = pred.astype(np.float64) * s + t
    with np.errstate(divide="ignore", invalid="ignore"):
        depth = np.where(inv > 0, 1.0 / inv, np.nan)
    return _positive(depth), (s, t)


_ALIGNERS: dict[str, Callable[[FloatArray, FloatArray, Mask | None], Aligned]] = {
    "none": align_none,
    "median": align_median,
    "lstsq": align_lstsq,
    "lstsq-inverse": align_lstsq_inverse,
}


def align(method: str, pred: FloatArray, ref: FloatArray, mask: Mask | None = None) -> Aligned:
    """Dispatch by name: one of :data:`ALIGN_METHODS`."""
    try:
        fn = _ALIGNERS[method]
    except KeyError:
        raise ConfigError(
            f"unknown alignment {method!r}; expected one of {', '.join(ALIGN_METHODS)}"
        ) from None
    return fn(pred, ref, mask)
