"""Stereo + monocular fusion."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.eval.metrics import depth_metrics
from depth_ros.core.fusion import (
    SOURCE_MONO,
    SOURCE_MONO_REPLACED,
    SOURCE_NONE,
    SOURCE_STEREO,
    StereoMonoFusion,
    fuse_depth,
)
from depth_ros.core.models import build_as
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.scale import NO_REFERENCE, ScaleFit


def test_fuse_depth_by_hand() -> None:
    stereo = np.array([[1.0, np.nan], [np.nan, 3.0]], dtype=np.float32)
    rel = np.array([[9.0, 0.5], [-1.0, 0.1]], dtype=np.float32)
    fit = ScaleFit(scale=2.0, shift=0.0)
    depth, source = fuse_depth(stereo, rel, fit)
    # holes: 1 / (2 * 0.5) = 1.0 filled; 2 * -1 < 0 -> no depth
    np.testing.assert_allclose(depth, [[1.0, 1.0], [np.nan, 3.0]], equal_nan=True)
    np.testing.assert_array_equal(
        source, [[SOURCE_STEREO, SOURCE_MONO], [SOURCE_NONE, SOURCE_STEREO]]
    )
    assert source.dtype == np.uint8
    # stereo 3.0 vs mono 1 / 0.2 = 5.0: 40 % apart -> replaced at 0.3, kept at 0.5
    depth, source = fuse_depth(stereo, rel, fit, max_disagreement=0.3)
    assert depth[1, 1] == pytest.approx(5.0)
    assert source[1, 1] == SOURCE_MONO_REPLACED
    assert source[0, 0] == SOURCE_MONO_REPLACED  # 1.0 vs 1/18
    depth, source = fuse_depth(stereo, rel, fit, max_disagreement=0.5)
    assert depth[1, 1] == pytest.approx(3.0)
    # a failed fit leaves the stereo depth alone
    depth, source = fuse_depth(stereo, rel, ScaleFit.failed(NO_REFERENCE, "x"))
    np.testing.assert_array_equal(np.isfinite(depth), np.isfinite(stereo))
    assert (source[~np.isfinite(stereo)] == SOURCE_NONE).all()
    with pytest.raises(InputError, match="same size"):
        fuse_depth(stereo, rel[:1], fit)


def test_fusion_params() -> None:
    names = [p.name for p in StereoMonoFusion.params]
    assert len(names) == len(set(names))
    assert {"max_disagreement", "min_points", "smoothing", "hold_time"} <= set(names)
    with pytest.raises(ConfigError, match="unknown parameter 'bogus'"):
        StereoMonoFusion({"bogus": 1})
    StereoMonoFusion({"max_disagreement": 0.5, "min_points": 100})


def test_fusion_on_motorcycle_sgbm_fills_every_pixel() -> None:
    from depth_ros.core.eval.samples import motorcycle
    from depth_ros.core.geometry import disparity_to_depth

    s = motorcycle()
    model = build_as("sgbm", OpenCVStereo)
    disp = model.compute(np.ascontiguousarray(s.left), np.ascontiguousarray(s.right))
    stereo = disparity_to_depth(disp, s.geometry)
    gt = s.depth
    rng = np.random.default_rng(0)
    # fake monocular prediction: inverse GT under an affine map, 2 % noise; where GT is
    # missing the prediction takes the median (those pixels are not scored)
    rel = (1.0 / gt - 0.1) / 0.05 * (1.0 + 0.02 * rng.standard_normal(gt.shape))
    rel = np.where(np.isfinite(rel), rel, np.nanmedian(rel)).astype(np.float32)
    result = StereoMonoFusion().process(stereo, rel, stamp=1.0)
    assert result.fit.ok, result.fit.reason
    assert result.density == 1.0
    covered = np.isfinite(stereo)
    assert 0.02 < (~covered).mean() < 0.5  # SGBM leaves holes to fill
    assert (result.source[covered] == SOURCE_STEREO).all()
    assert (result.source[~covered] == SOURCE_MONO).all()
    stereo_absrel = depth_metrics(stereo, gt)["abs_rel"]
    fused_cov = depth_metrics(result.depth, gt, covered)
    assert fused_cov["abs_rel"] <= 1.1 * stereo_absrel
    filled = depth_metrics(result.depth, gt, ~covered)
    assert filled["density"] == 1.0
    assert filled["abs_rel"] < 0.05
