"""Per-pixel confidence of the classical matchers (depth_ros.core.confidence) and the
filters built on it (min_confidence, left-right check, temporal filter)."""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from depth_ros.core import confidence as conf
from depth_ros.core.errors import InputError
from depth_ros.core.models import ModelConfig, build_as, build_model
from depth_ros.core.models.opencv_stereo import OpenCVStereo


def _rgb(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _pair(
    h: int = 96,
    w: int = 160,
    shift: int = 8,
    seed: int = 0,
    flat: tuple[slice, slice] | None = None,
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """Right image = random blocks; left(x) = right(x - shift); optionally a flat
    (textureless) patch in both at the same scene place."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(h // 2, (w + shift) // 2), dtype=np.uint8)
    big = np.asarray(cv2.resize(noise, (w + shift, h), interpolation=cv2.INTER_NEAREST), np.uint8)
    if flat is not None:
        big[flat] = 128
    left, right = big[:, :w], big[:, shift:]
    return _rgb(left), _rgb(right)


def test_lr_factor_by_hand() -> None:
    left = np.full((2, 8), 2.0, np.float32)
    right = np.full((2, 8), 2.0, np.float32)
    right[1, 3] = 3.0  # pixel (1, 5) points at (1, 3): error 1
    left[0, 0] = np.nan
    c = conf.lr_factor(left, right, max_diff=2.0)
    assert c[0, 4] == pytest.approx(1.0)
    assert c[1, 5] == pytest.approx(1.0 - 0.5 * 1 / 2.0)
    assert c[0, 0] == 0.0  # no left match
    assert c[0, 1] == 0.0  # points outside the right image (x - d < 0)
    assert conf.lr_factor(left, right, max_diff=0.5)[1, 5] == 0.0  # beyond the tolerance


def test_texture_factor_is_zero_on_flat_and_one_on_strong_texture() -> None:
    grey = np.full((20, 40), 100, np.uint8)
    grey[:, 20:] = np.tile(np.array([0, 0, 200, 200], np.uint8), (20, 5))
    tex = conf.texture(grey, 5)
    c = conf.texture_factor(tex, 4.0)
    assert c[10, 5] == 0.0
    assert tex[10, 30] > 50
    assert c[10, 30] == 1.0
    np.testing.assert_array_equal(conf.texture_factor(tex, 0.0), 1.0)


def test_speckle_factor_grades_blob_sizes() -> None:
    raw = np.full((40, 40), 160, np.int16)  # one big blob at 10 px
    raw[2:4, 2:4] = 800  # 4 px: a speckle (removed)
    raw[20:28, 20:28] = 480  # 64 px: kept, but small (< 4 x 20): 0.5
    c, filtered = conf.speckle_factor(raw, -16, 20, 16)
    assert c[3, 3] == 0.0
    assert filtered[3, 3] == -16
    assert c[24, 24] == 0.5
    assert filtered[24, 24] == 480
    assert c[35, 35] == 1.0
    np.testing.assert_array_equal(conf.speckle_factor(raw, -16, 0, 16)[0], 1.0)


def test_uniqueness_is_low_on_a_repetitive_pattern() -> None:
    """Stripes with a period inside the search range match equally well one period away:
    no uniqueness; random texture is unique."""
    left, right = _pair(seed=1)
    gl, gr = conf.grey_u8(left), conf.grey_u8(right)
    disp = np.full(gl.shape, 8.0, np.float32)
    unique = conf.uniqueness_factor(gl, gr, disp, 0, 32, 5, 10.0)
    x = np.arange(168)
    stripes = np.tile(np.where((x // 3) % 2 == 0, 40, 210).astype(np.uint8), (96, 1))
    sl, sr = stripes[:, :160], stripes[:, 8:]
    periodic = conf.uniqueness_factor(sl, sr, disp, 0, 32, 5, 10.0)
    core = (slice(10, -10), slice(40, -10))
    assert float(np.median(unique[core])) > 0.9
    assert float(np.median(periodic[core])) < 0.2
    np.testing.assert_array_equal(conf.uniqueness_factor(sl, sr, disp, 0, 32, 5, 0.0), 1.0)


@pytest.mark.parametrize("model_id", ["sgbm", "bm"])
def test_confidence_is_low_on_a_textureless_patch_and_filters(model_id: str) -> None:
    flat = (slice(30, 70), slice(60, 120))
    left, right = _pair(flat=flat)
    params: dict[str, Any] = {"min_texture": 3.0, "disparity_range": 32}
    model = build_model(model_id, ModelConfig(params=params))
    assert isinstance(model, OpenCVStereo)
    disp, c = model.compute_with_confidence(left, right)
    assert c is not None
    assert c.dtype == np.float32
    assert c.shape == disp.shape == left.shape[:2]
    assert float(c.min()) >= 0.0
    assert float(c.max()) <= 1.0
    np.testing.assert_array_equal(c[np.isnan(disp)], 0.0)
    inner = (slice(40, 60), slice(75, 105))  # well inside the flat patch
    textured = (slice(5, 25), slice(40, 150))
    assert float(np.nanmax(c[inner])) == 0.0
    good = np.isfinite(disp[textured])
    assert float(np.median(c[textured][good])) > 0.5
    # min_confidence: low-confidence pixels become holes, the rest stays
    model.update({"min_confidence": 0.3})
    filtered = model.compute(left, right)
    assert np.isnan(filtered[inner]).all()
    keep = c >= 0.3
    np.testing.assert_array_equal(filtered[keep], disp[keep])
    assert np.isnan(filtered[~keep]).all()


def test_left_right_check_removes_occluded_pixels() -> None:
    """A foreground block at a larger disparity occludes background in the right view: the
    background pixels next to its left edge have no true match; the right-view check
    removes them."""
    h, w = 96, 160
    rng = np.random.default_rng(5)

    def blocks(width: int, size: int) -> NDArray[np.uint8]:
        noise = rng.integers(0, 256, (h // 2, width), dtype=np.uint8)
        return np.asarray(cv2.resize(noise, (size, h), interpolation=cv2.INTER_NEAREST), np.uint8)

    bg = blocks((w + 40) // 2, w + 40)
    fg = blocks(20, 40)
    left = bg[:, 0:w].copy()  # background disparity 8: left(x) = right(x - 8)
    right = bg[:, 8 : w + 8].copy()
    left[20:76, 80:120] = fg[20:76]  # foreground disparity 24
    right[20:76, 56:96] = fg[20:76]
    left, right = _rgb(left), _rgb(right)
    occluded = (slice(25, 71), slice(64, 78))  # background hidden in the right view
    on = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={"left_right_check": True, "disparity_range": 32})
    )
    d_on, c_on = on.compute_with_confidence(left, right)
    assert c_on is not None
    wrong_on = np.abs(d_on[occluded] - 8) > 1  # NaN compares False: counted as not wrong
    assert float(np.isnan(d_on[occluded]).mean()) > 0.6
    assert float(wrong_on.mean()) < 0.1
    visible = (slice(25, 71), slice(20, 50))
    assert float(np.isfinite(d_on[visible]).mean()) > 0.95
    assert float(np.median(c_on[visible])) > 0.5


def test_temporal_filter_averages_agreeing_pixels_and_follows_changes() -> None:
    f = conf.TemporalFilter()
    one = np.ones((4, 4), np.float32)
    d0 = np.full((4, 4), 10.0, np.float32)
    out, _ = f.apply(d0, one, 0.5)
    np.testing.assert_array_equal(out, d0)
    d1 = d0.copy()
    d1[0, 0] = 10.5  # agrees within 1 px: averaged
    d1[1, 1] = 20.0  # a change: taken as is
    d1[2, 2] = np.nan  # a new hole stays a hole
    out, c = f.apply(d1, one * 0.5, 0.5)
    assert out[0, 0] == pytest.approx(10.25)
    assert out[1, 1] == 20.0
    assert np.isnan(out[2, 2])
    assert c[0, 0] == pytest.approx(0.75)
    out, _ = f.apply(d1, one, 0.0)  # off: passes through and forgets
    np.testing.assert_array_equal(out, d1)


def test_temporal_filter_reduces_noise_on_a_static_scene() -> None:
    """Sensor noise on a static scene: the filtered disparity flickers less from frame to
    frame than the plain one (median change between frames)."""
    rng = np.random.default_rng(7)
    img = cv2.GaussianBlur(rng.integers(0, 256, (96, 200), dtype=np.uint8), (5, 5), 1.0)
    shift = np.array([[1, 0, 8.5], [0, 1, 0]], np.float32)  # right(x) = left(x + 8.5)
    warped = np.asarray(cv2.warpAffine(img, shift, (200, 96)), np.uint8)
    left, right = _rgb(np.asarray(img, np.uint8)[:, :160]), _rgb(warped[:, :160])
    model = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={"temporal_filter": 0.8, "disparity_range": 32})
    )
    plain = build_as("sgbm", OpenCVStereo, ModelConfig(params={"disparity_range": 32}))
    ours, theirs = [], []
    for _ in range(8):
        noisy = [
            np.clip(x.astype(np.int16) + rng.integers(-3, 4, x.shape), 0, 255).astype(np.uint8)
            for x in (left, right)
        ]
        ours.append(model.compute(*noisy))
        theirs.append(plain.compute(*noisy))
    core = (slice(None), slice(10, -10), slice(40, -10))
    flicker = float(np.nanmedian(np.abs(np.diff(np.stack(ours[3:]), axis=0))[core]))
    flicker_plain = float(np.nanmedian(np.abs(np.diff(np.stack(theirs[3:]), axis=0))[core]))
    assert flicker_plain > 0.02
    assert flicker < 0.6 * flicker_plain


def test_pipeline_returns_confidence_only_when_asked() -> None:
    from depth_ros.core.camera import PinholeCamera
    from depth_ros.core.stereo import StereoPipeline

    left, right = _pair()
    lcam = PinholeCamera.from_intrinsics(160, 96, 100.0, 100.0, 79.5, 47.5)
    rcam = PinholeCamera.from_intrinsics(160, 96, 100.0, 100.0, 79.5, 47.5, tx=-10.0)
    pipe = StereoPipeline(
        build_as("sgbm", OpenCVStereo, ModelConfig(params={"disparity_range": 32}))
    )
    assert pipe.process(left, right, lcam, rcam, cloud=False).confidence is None
    result = pipe.process(left, right, lcam, rcam, cloud=False, confidence=True)
    assert result.confidence is not None
    assert result.confidence.shape == result.disparity.shape
    np.testing.assert_array_equal(result.confidence[np.isnan(result.disparity)], 0.0)


def _has_ximgproc() -> bool:
    return hasattr(cv2, "ximgproc")


@pytest.mark.skipif(_has_ximgproc(), reason="OpenCV's contrib modules are installed")
def test_wls_without_contrib_is_a_clear_error() -> None:
    left, right = _pair()
    model = build_as(
        "sgbm", OpenCVStereo, ModelConfig(params={"wls_lambda": 8000.0, "disparity_range": 32})
    )
    with pytest.raises(InputError, match="opencv-contrib-python-headless"):
        model.compute(left, right)


@pytest.mark.skipif(
    not _has_ximgproc(),
    reason="needs opencv-contrib-python-headless (cv2.ximgproc), not a pinned requirement",
)
def test_wls_lowers_bad_2_on_motorcycle() -> None:
    from depth_ros.core.eval.metrics import disparity_metrics
    from depth_ros.core.eval.samples import motorcycle

    s = motorcycle()
    plain = build_as("sgbm", OpenCVStereo).compute(s.left, s.right)
    model = build_as("sgbm", OpenCVStereo, ModelConfig(params={"wls_lambda": 2000.0}))
    out = model.compute(s.left, s.right)
    bad = disparity_metrics(out, s.disparity)["bad_2"]
    bad_plain = disparity_metrics(plain, s.disparity)["bad_2"]
    assert bad < bad_plain - 0.015  # measured: 11.8 % -> 9.0 %


def test_confidence_metrics_by_hand() -> None:
    from depth_ros.core.eval.evaluation import confidence_metrics

    gt = np.full((10, 10), 10.0, np.float32)
    pred = gt.copy()
    pred[0] = 20.0  # row 0 wrong (10 %), with the lowest confidence
    conf_ = np.full((10, 10), 0.9, np.float32)
    conf_[0] = 0.1
    figures, curve = confidence_metrics(pred, gt, conf_)
    assert figures["bad_2_c25"] == pytest.approx(10.0)  # the wrong row is now a hole: bad
    assert figures["density_c25"] == pytest.approx(0.9)
    assert figures["bad_2_c75"] == pytest.approx(10.0)
    assert curve[0] == pytest.approx((0.0, 10.0))
    assert curve[1] == pytest.approx((0.1, 0.0))  # the least confident 10 % were the errors
    assert len(curve) == 10


def test_eval_reports_confidence_figures_for_sgbm() -> None:
    from depth_ros.core.eval.datasets import open_dataset
    from depth_ros.core.eval.evaluation import evaluate
    from depth_ros.core.eval.report import render_html

    ds = open_dataset("motorcycle", None)
    result = evaluate("sgbm", ds, progress=False)
    m = result.frames[0].metrics
    assert {"bad_2_c25", "bad_2_c50", "bad_2_c75", "density_c50"} <= set(m)
    assert m["density_c75"] <= m["density_c25"] <= m["density"]
    curve = result.to_json()["frames"][0]["sparsification"]
    assert isinstance(curve, list)
    assert len(curve) == 10
    assert "sparsification" in render_html(result)
