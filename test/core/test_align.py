"""Alignment: fitted scale/shift recovered exactly, hand-worked values, errors."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.align import (
    ALIGN_METHODS,
    align,
    align_lstsq,
    align_lstsq_inverse,
    align_median,
    align_none,
)
from depth_ros.core.errors import ConfigError, InputError


def _scene(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.uniform(0.5, 10.0, size=(12, 16)).astype(np.float32)


def test_median_hand_worked() -> None:
    pred = np.array([[1.0, 2.0, 3.0]], np.float32)
    gt = np.array([[2.0, 4.0, 100.0]], np.float32)
    aligned, (s, t) = align_median(pred, gt)
    assert s == pytest.approx(2.0)  # median(gt)=4, median(pred)=2
    assert t == 0.0
    np.testing.assert_allclose(aligned, [[2.0, 4.0, 6.0]])


def test_median_ignores_invalid_pixels() -> None:
    pred = np.array([[1.0, 2.0, np.nan, -1.0, 5.0]], np.float32)
    gt = np.array([[3.0, 6.0, 1.0, 1.0, 0.0]], np.float32)
    _, (s, _) = align_median(pred, gt)
    assert s == pytest.approx(3.0)


def test_lstsq_hand_worked() -> None:
    # pred 0,1,2 ; gt 1,2,4 → s = Σdx·dy/Σdx² = (-1·-4/3 + 0 + 1·5/3)/2 = 1.5, t = 7/3 - 1.5 = 5/6
    pred = np.array([0.0, 1.0, 2.0], np.float32)
    gt = np.array([1.0, 2.0, 4.0], np.float32)
    aligned, (s, t) = align_lstsq(pred, gt)
    assert s == pytest.approx(1.5)
    assert t == pytest.approx(5.0 / 6.0)
    np.testing.assert_allclose(aligned, [5 / 6, 5 / 6 + 1.5, 5 / 6 + 3.0], rtol=1e-6)


def test_lstsq_recovers_affine_depth() -> None:
    gt = _scene()
    pred = (gt - 0.3) / 2.5
    aligned, (s, t) = align_lstsq(pred, gt)
    assert s == pytest.approx(2.5, rel=1e-5)
    assert t == pytest.approx(0.3, abs=1e-4)
    np.testing.assert_allclose(aligned, gt, rtol=1e-5)


def test_lstsq_inverse_recovers_affine_inverse_depth() -> None:
    gt = _scene(1)
    rel = 4.0 * (1.0 / gt) + 0.7  # what a MiDaS-like model gives, up to scale and shift
    rel[0, 0] = np.nan
    gt[1, 1] = 0.0  # no GT
    aligned, (s, t) = align_lstsq_inverse(rel, gt)
    assert s == pytest.approx(0.25, rel=1e-5)
    assert t == pytest.approx(-0.175, abs=1e-5)
    ok = np.isfinite(rel) & (gt > 0)
    np.testing.assert_allclose(aligned[ok], gt[ok], rtol=1e-4)
    assert np.isnan(aligned[0, 0])


def test_lstsq_inverse_nonpositive_becomes_nan() -> None:
    gt = np.array([1.0, 0.5, 0.25, np.nan], np.float32)  # inverse depth 1, 2, 4, (none)
    rel = np.array([1.0, 2.0, 4.0, -1.0], np.float32)
    aligned, (s, t) = align_lstsq_inverse(rel, gt)
    assert s == pytest.approx(1.0)
    assert t == pytest.approx(0.0, abs=1e-9)
    np.testing.assert_allclose(aligned[:3], gt[:3], rtol=1e-6)
    assert np.isnan(aligned[3])  # s*rel + t = -1: behind the camera
    out, _ = align_lstsq(np.array([1.0, 2.0, -50.0]), np.array([1.0, 2.0, np.nan]))
    assert np.isnan(out[2])


def test_mask_restricts_fit() -> None:
    pred = np.array([1.0, 2.0, 3.0, 4.0], np.float32)
    gt = np.array([2.0, 4.0, 0.1, 0.1], np.float32)
    mask = np.array([True, True, False, False])
    _, (s, t) = align_lstsq(pred, gt, mask)
    assert s == pytest.approx(2.0)
    assert t == pytest.approx(0.0, abs=1e-6)


def test_dispatch_and_errors() -> None:
    gt = _scene()
    assert set(ALIGN_METHODS) == {"none", "median", "lstsq", "lstsq-inverse"}
    out, st = align("none", gt, gt)
    assert st == (1.0, 0.0)
    np.testing.assert_array_equal(out, gt)
    assert align_none(-gt, gt)[0].size == gt.size
    assert np.isnan(align_none(-gt, gt)[0]).all()
    with pytest.raises(ConfigError, match="unknown alignment 'cubic'"):
        align("cubic", gt, gt)
    with pytest.raises(InputError, match="same shape"):
        align_lstsq(gt[:2], gt)
    with pytest.raises(InputError, match="constant"):
        align_lstsq(np.ones_like(gt), gt)
    with pytest.raises(InputError, match="at least 2"):
        align_lstsq(gt, np.full_like(gt, np.nan))
    with pytest.raises(InputError, match="no pixel"):
        align_median(-gt, gt)
