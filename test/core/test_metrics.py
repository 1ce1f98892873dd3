"""Metric definitions against values worked by hand on tiny arrays."""

from __future__ import annotations

import math

import numpy as np
import pytest

from depth_ros.core.eval.metrics import depth_metrics, disparity_metrics

NAN = float("nan")


def test_depth_metrics_hand_worked() -> None:
    # pred 2, 2, 6 vs gt 1, 2, 4 (the NaN/0 pixels are excluded)
    pred = np.array([2.0, 2.0, 6.0, NAN, 5.0], np.float32)
    gt = np.array([1.0, 2.0, 4.0, 3.0, 0.0], np.float32)
    m = depth_metrics(pred, gt)
    # |d|/g = 1, 0, 0.5 → 0.5 ; d²/g = 1, 0, 1 → 2/3 ; rmse = sqrt((1+0+4)/3)
    assert m["abs_rel"] == pytest.approx(0.5)
    assert m["sq_rel"] == pytest.approx(2.0 / 3.0)
    assert m["rmse"] == pytest.approx(math.sqrt(5.0 / 3.0))
    l1, l3 = math.log(2.0), math.log(1.5)
    assert m["rmse_log"] == pytest.approx(math.sqrt((l1**2 + l3**2) / 3))
    mean = (l1 + l3) / 3
    assert m["silog"] == pytest.approx(100 * math.sqrt((l1**2 + l3**2) / 3 - mean**2))
    # ratios 2, 1, 1.5: δ<1.25 → 1/3; δ<1.5625 → 2/3; δ<1.953 → 2/3
    assert m["delta1"] == pytest.approx(1 / 3)
    assert m["delta2"] == pytest.approx(2 / 3)
    assert m["delta3"] == pytest.approx(2 / 3)
    # GT-valid pixels: 1, 2, 4, 3 → 3 of 4 predicted
    assert m["density"] == pytest.approx(0.75)
    assert m["valid_pixels"] == 3


def test_depth_metrics_perfect_and_scale_invariance_of_silog() -> None:
    gt = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    m = depth_metrics(gt.copy(), gt)
    assert m["abs_rel"] == 0.0
    assert m["rmse"] == 0.0
    assert m["delta1"] == 1.0
    scaled = depth_metrics(gt * 2, gt)
    assert scaled["silog"] == pytest.approx(0.0, abs=1e-4)  # scale-invariant
    assert scaled["abs_rel"] == pytest.approx(1.0)


def test_depth_metrics_mask_and_empty() -> None:
    pred = np.array([1.0, 10.0], np.float32)
    gt = np.array([1.0, 1.0], np.float32)
    m = depth_metrics(pred, gt, mask=np.array([True, False]))
    assert m["abs_rel"] == 0.0
    assert m["valid_pixels"] == 1
    empty = depth_metrics(pred, np.full(2, NAN, np.float32))
    assert math.isnan(empty["abs_rel"])
    assert math.isnan(empty["density"])


def test_disparity_metrics_hand_worked() -> None:
    gt = np.array([10.0, 10.0, 10.0, 10.0, NAN, 0.0], np.float32)
    pred = np.array([10.5, 11.5, 13.5, NAN, 50.0, 3.0], np.float32)
    m = disparity_metrics(pred, gt)
    # 4 GT pixels; errors 0.5, 1.5, 3.5, missing
    assert m["gt_pixels"] == 4
    assert m["bad_1"] == pytest.approx(3 / 4)  # 1.5, 3.5, missing
    assert m["bad_2"] == pytest.approx(2 / 4)  # 3.5, missing
    assert m["bad_3"] == pytest.approx(2 / 4)
    assert m["epe"] == pytest.approx((0.5 + 1.5 + 3.5) / 3)
    assert m["density"] == pytest.approx(3 / 4)
    assert m["invalid"] == pytest.approx(1 / 4)


def test_disparity_threshold_is_inclusive_and_custom() -> None:
    gt = np.array([5.0, 5.0], np.float32)
    pred = np.array([6.0, 7.0], np.float32)  # errors exactly 1 and 2
    m = disparity_metrics(pred, gt, thresholds=(1.0, 0.5))
    assert m["bad_1"] == pytest.approx(0.5)  # error 1 is not > 1
    assert m["bad_0.5"] == pytest.approx(1.0)


def test_disparity_metrics_no_gt() -> None:
    m = disparity_metrics(np.ones(3, np.float32), np.zeros(3, np.float32))
    assert math.isnan(m["bad_2"])
    assert math.isnan(m["epe"])
