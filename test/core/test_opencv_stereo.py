"""OpenCV SGBM and BM matchers: parameters, atomic updates, invalid pixels, accuracy."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from numpy.typing import NDArray

from depth_ros.core.errors import InputError
from depth_ros.core.eval.metrics import depth_metrics, disparity_metrics
from depth_ros.core.eval.samples import load_sample
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.models import (
    InputKind,
    ModelConfig,
    OutputKind,
    StereoModel,
    build_as,
    build_stereo,
    get_model,
)
from depth_ros.core.models.opencv_stereo import OpenCVStereo
from depth_ros.core.params import Value


def _rgb(grey: NDArray[np.uint8]) -> NDArray[np.uint8]:
    return np.ascontiguousarray(np.repeat(grey[:, :, None], 3, axis=2))


def _pair(
    h: int = 48, w: int = 96, shift: int = 6, seed: int = 0
) -> tuple[NDArray[np.uint8], NDArray[np.uint8]]:
    """A textured right image and the left image it gives at a constant disparity."""
    rng = np.random.default_rng(seed)
    noise = rng.integers(0, 256, size=(h // 2, (w + shift) // 2), dtype=np.uint8)
    big = np.asarray(cv2.resize(noise, ((w + shift), h), interpolation=cv2.INTER_NEAREST), np.uint8)
    right = big[:, shift:]
    left = big[:, :w]  # left(x) = right(x - shift): disparity = shift
    return _rgb(left), _rgb(right)


def test_registered_specs() -> None:
    for model_id in ("sgbm", "bm"):
        spec = get_model(model_id)
        assert spec.family == "opencv"
        assert spec.input_kind is InputKind.STEREO
        assert spec.output_kind is OutputKind.DISPARITY
        assert not spec.needs_weights
        names = {p.name for p in spec.params}
        assert {"min_disparity", "disparity_range", "correlation_window_size"} <= names


@pytest.mark.parametrize("model_id", ["sgbm", "bm"])
def test_constant_disparity_is_found(model_id: str) -> None:
    left, right = _pair()
    model = build_stereo(model_id)
    disp = model.compute(left, right)
    assert disp.shape == left.shape[:2]
    assert disp.dtype == np.float32
    inner = disp[10:-10, 20:-10]
    valid = np.isfinite(inner)
    assert valid.mean() > 0.8
    assert np.abs(inner[valid] - 6.0).max() <= 1.0
    assert np.median(inner[valid]) == pytest.approx(6.0, abs=0.1)


def test_config_params_are_applied() -> None:
    model = build_as("sgbm", OpenCVStereo, ModelConfig(params={"disparity_range": 32}))
    assert isinstance(model, OpenCVStereo)
    assert model.params["disparity_range"] == 32
    assert model.disparity_range(100) == (0.0, 31.0)
    assert isinstance(model, StereoModel)


def test_bm_on_grey_and_colour() -> None:
    left, right = _pair(seed=1)
    model = build_as("bm", OpenCVStereo)
    grey = model.compute(left[:, :, 0].copy(), right[:, :, 0].copy())
    colour = model.compute(left, right)
    assert grey.shape == left.shape[:2]
    np.testing.assert_array_equal(np.isnan(grey), np.isnan(colour))
    np.testing.assert_array_equal(grey[np.isfinite(grey)], colour[np.isfinite(colour)])
    assert np.isfinite(grey).mean() > 0.5


def test_shapes_mismatch() -> None:
    left, right = _pair()
    model = build_as("sgbm", OpenCVStereo)
    with pytest.raises(InputError, match=r"left image \(48, 96, 3\) and right image .* differ"):
        model.compute(left, right[:, :-1])


def test_update_is_atomic() -> None:
    model = build_as("sgbm", OpenCVStereo)
    assert isinstance(model, OpenCVStereo)
    before = model._matcher
    params = dict(model.params)
    with pytest.raises(InputError, match=r"P2 \(100\) must be larger than P1 \(3000\)"):
        model.update({"P1": 3000.0, "P2": 100.0})
    assert model._matcher is before
    assert model.params == params
    # a P1 alone that the default P2 (4800) does not exceed
    with pytest.raises(InputError, match="must be larger than P1"):
        model.update({"P1": 4800.0})
    assert model._matcher is before
    model.update({"P1": 100.0, "P2": 2000.0, "disparity_range": 32})
    assert model._matcher is not before
    matcher = model._matcher
    assert isinstance(matcher, cv2.StereoSGBM)
    assert matcher.getP1() == 100
    assert matcher.getP2() == 2000
    assert matcher.getNumDisparities() == 32
    assert model.params["P1"] == 100.0


@pytest.mark.parametrize(
    ("model_id", "bad", "match"),
    [
        ("bm", {"correlation_window_size": 4}, "correlation_window_size must be odd"),
        ("bm", {"prefilter_size": 4}, r"prefilter_size must be odd and in \[5, 255\]"),
        ("bm", {"disparity_range": 24}, "positive multiple of 16, got 24"),
        ("sgbm", {"disparity_range": 0}, "positive multiple of 16, got 0"),
    ],
)
def test_update_refuses_what_opencv_would_refuse_later(
    model_id: str, bad: dict[str, Value], match: str
) -> None:
    model = build_stereo(model_id)
    assert isinstance(model, OpenCVStereo)
    left, right = _pair()
    want = model.compute(left, right)
    with pytest.raises(InputError, match=match):
        model.update(bad)
    np.testing.assert_array_equal(model.compute(left, right), want)  # still works


@pytest.mark.parametrize(
    ("model_id", "size", "params", "match"),
    [
        ("bm", (8, 40), {}, "correlation_window_size 15 is larger than the 40x8 image"),
        ("sgbm", (20, 30), {"pad_border": False}, "30 px wide, not wider than .* = 64"),
    ],
)
def test_too_small_images_raise_input_error(
    model_id: str, size: tuple[int, int], params: dict[str, Value], match: str
) -> None:
    model = build_stereo(model_id, ModelConfig(params=params))
    img = np.zeros((*size, 3), np.uint8)
    with pytest.raises(InputError, match=match):
        model.compute(img, img)


def test_tiny_images_with_padding() -> None:
    model = build_as("sgbm", OpenCVStereo)
    img = np.full((2, 3, 3), 9, np.uint8)
    out = model.compute(img, img)
    assert out.shape == (2, 3)


@pytest.mark.parametrize("min_disparity", [0, 4, -8])
def test_nan_exactly_where_opencv_marks_invalid(min_disparity: int) -> None:
    left, right = _pair(seed=2)
    # the filters run outside OpenCV (speckles, left-right check) are off here
    params = {
        "pad_border": False,
        "min_disparity": min_disparity,
        "uniqueness_ratio": 30.0,
        "speckle_size": 0,
        "left_right_check": False,
    }
    model = build_as("sgbm", OpenCVStereo, ModelConfig(params=params))
    assert isinstance(model, OpenCVStereo)
    ours = model.compute(left, right)
    raw = model._matcher.compute(left, right)  # CV_16S, 4 fractional bits
    invalid = raw == (min_disparity - 1) * 16  # OpenCV's invalid value
    assert invalid.any()
    assert (~invalid).any()
    np.testing.assert_array_equal(np.isnan(ours), invalid)
    np.testing.assert_array_equal(ours[~invalid], raw[~invalid] / 16.0)


def test_pad_border_matches_the_left_border() -> None:
    left, right = _pair(seed=3)
    padded = build_as("sgbm", OpenCVStereo).compute(left, right)
    plain = build_as("sgbm", OpenCVStereo, ModelConfig(params={"pad_border": False}))
    unpadded = plain.compute(left, right)
    border = slice(10, 40)  # OpenCV leaves columns < disparity_range empty
    assert np.isnan(unpadded[5:-5, border]).all()
    assert np.isfinite(padded[5:-5, border]).mean() > 0.8


def test_motorcycle_accuracy_of_default_sgbm() -> None:
    sample = load_sample("motorcycle")
    disp = build_as("sgbm", OpenCVStereo).compute(sample.left, sample.right)
    dm = disparity_metrics(disp, sample.disparity)
    depth = disparity_to_depth(disp, sample.geometry)
    abs_rel = depth_metrics(depth, sample.depth)["abs_rel"]
    # measured: bad-2 0.123, AbsRel 0.0153, density 0.93 (OpenCV 5.0, defaults)
    assert dm["bad_2"] <= 0.17
    assert abs_rel <= 0.02
    assert dm["density"] >= 0.85


@pytest.mark.parametrize("model_id", ["sgbm", "bm"])
def test_speckle_filter_outside_opencv_equals_opencvs_own(model_id: str) -> None:
    """The speckle filter runs in compute() (to know each pixel's part in it): the result
    is the one OpenCV gives with its internal speckle filter."""
    import cv2

    left, right = _pair(h=96, w=192, seed=3)
    rng = np.random.default_rng(4)  # an unmatched patch: speckles of wrong disparities
    left = left.copy()
    left[20:70, 60:140] = rng.integers(0, 256, (50, 80, 1), dtype=np.uint8)
    params = {
        "pad_border": False,
        "speckle_size": 50,
        "speckle_range": 1,
        "left_right_check": False,
    }
    model = build_stereo(model_id, ModelConfig(params=params))
    assert isinstance(model, OpenCVStereo)
    ours = model.compute(left, right)
    internal = model._create(model.params)
    internal.setSpeckleWindowSize(50)
    internal.setSpeckleRange(1)
    a, b = left, right
    if model_id == "bm":
        a, b = (np.asarray(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), np.uint8) for x in (left, right))
    raw = internal.compute(a, b)
    invalid = raw < 0
    np.testing.assert_array_equal(np.isnan(ours), invalid)
    np.testing.assert_array_equal(ours[~invalid], raw[~invalid] / 16.0)
    # and the filter did something on this pair (else the test could not fail)
    plain = model._create({**model.params, "speckle_size": 0})
    assert int((plain.compute(a, b) < 0).sum()) < int(invalid.sum())


@pytest.mark.parametrize("algorithm", ["sgbm", "bm"])
@pytest.mark.parametrize(
    ("min_disparity", "ndisp", "block", "pad"),
    [(0, 64, 5, False), (5, 32, 5, False), (-8, 32, 9, False), (-40, 32, 5, False),
     (16, 16, 7, False), (0, 64, 15, True), (-8, 32, 5, True)],
)  # fmt: skip
def test_matched_columns_bound_every_match(
    algorithm: str, min_disparity: int, ndisp: int, block: int, pad: bool
) -> None:
    """On random texture (every pixel matchable), no disparity outside matched_columns;
    without padding SGBM's left band is exact (a match in its first column)."""
    rng = np.random.default_rng(4)
    h, w, shift = 40, 160, max(min_disparity, 0) + 3
    wide = rng.integers(0, 256, (h, w + shift), dtype=np.uint8)
    left = np.ascontiguousarray(np.dstack([wide[:, :w]] * 3))  # disparity: shift
    right = np.ascontiguousarray(np.dstack([wide[:, shift:]] * 3))
    params: dict[str, Value] = {
        "pad_border": pad,
        "min_disparity": min_disparity,
        "disparity_range": ndisp,
        "correlation_window_size": block,
        "speckle_size": 0,
        "uniqueness_ratio": 0.0,
        "disp12_max_diff": -1,
    }
    if algorithm == "sgbm":
        params["P2"] = 32.0 * 3 * block * block + 1
    else:
        params["texture_threshold"] = 0
    model = build_as(algorithm, OpenCVStereo, ModelConfig(params=params))
    start, stop = model.matched_columns(w)
    valid = np.isfinite(model.compute(left, right)).any(axis=0)
    cols = np.flatnonzero(valid)
    assert cols.size > w // 3
    assert start <= cols[0], (start, cols[0])
    assert cols[-1] < stop, (stop, cols[-1])
    if algorithm == "sgbm" and not pad:
        assert cols[0] == start
        assert cols[-1] == stop - 1
