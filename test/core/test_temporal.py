"""The temporal filter: exponential smoothing in inverse depth, motion gating, resets."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import OutputKind
from depth_ros.core.mono_pipeline import MonoOptions, MonoPipeline
from depth_ros.core.schema import mono_node_params
from depth_ros.core.temporal import TEMPORAL_PARAMS, TemporalFilter, TemporalOptions


def noisy(truth: np.ndarray, sigma: float, n: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [(truth + rng.normal(0, sigma, truth.shape)).astype(np.float32) for _ in range(n)]


def test_first_frame_passes_and_alpha_one_is_identity() -> None:
    frames = noisy(np.full((8, 9), 2.0), 0.05, 4)
    f = TemporalFilter(TemporalOptions(alpha=1.0))
    for i, x in enumerate(frames):
        np.testing.assert_array_equal(f.filter_inverse(x, stamp=0.1 * i), x)
    g = TemporalFilter()
    np.testing.assert_array_equal(g.filter_inverse(frames[0]), frames[0])


def test_static_noise_is_reduced_as_exponential_smoothing_predicts() -> None:
    truth = np.full((64, 64), 1.0)
    sigma, alpha = 0.03, 0.3  # noise 3 %: below the 15 % motion gate
    f = TemporalFilter(TemporalOptions(alpha=alpha, motion_threshold=0.15))
    outs = [f.filter_inverse(x, 0.05 * i) for i, x in enumerate(noisy(truth, sigma, 40))]
    std = float(np.std(outs[-1] - truth))
    # stationary variance of an EMA of white noise: alpha / (2 - alpha) of the input's
    expected = sigma * np.sqrt(alpha / (2 - alpha))
    assert std == pytest.approx(expected, rel=0.15)
    assert std < 0.5 * sigma
    # frame-to-frame change (flicker) drops by about the same factor
    flicker_in = np.mean(np.abs(np.diff(noisy(truth, sigma, 40), axis=0)))
    flicker_out = np.mean(np.abs(np.diff(outs[10:], axis=0)))
    assert flicker_out < 0.4 * flicker_in


def test_exact_blend_and_motion_gate() -> None:
    f = TemporalFilter(TemporalOptions(alpha=0.25, motion_threshold=0.2))
    first = np.ones((4, 6), np.float32)
    f.filter_inverse(first, 0.0)
    new = first.copy()
    new[:, :3] = 1.1  # 9 % change: static, smoothed
    new[:, 3:] = 2.0  # 50 % change: a moving object, taken as is
    out = f.filter_inverse(new, 0.1)
    np.testing.assert_allclose(out[:, :3], 1.0 + 0.25 * 0.1, rtol=1e-6)
    np.testing.assert_array_equal(out[:, 3:], 2.0)
    assert f.last_moving_fraction == pytest.approx(0.5)
    # the object leaves: the background's value returns at once, not over frames
    out = f.filter_inverse(first, 0.2)
    np.testing.assert_array_equal(out[:, 3:], 1.0)


def test_resets_on_time_jumps_and_size_change() -> None:
    f = TemporalFilter(TemporalOptions(alpha=0.5, reset_gap_seconds=0.5))
    a, b = np.full((3, 3), 1.0, np.float32), np.full((3, 3), 1.1, np.float32)

    def smoothed(x: np.ndarray, stamp: float) -> bool:
        return not np.array_equal(f.filter_inverse(x, stamp), x)

    f.filter_inverse(a, 10.0)
    assert smoothed(b, 10.1)
    assert not smoothed(a, 9.0)  # backwards (bag loop): passed through, restarted
    assert smoothed(b, 9.4)  # 0.4 s later: within the gap
    assert not smoothed(a, 10.0)  # 0.6 s gap > 0.5
    assert not smoothed(np.full((4, 3), 1.1, np.float32), 10.1)  # new size
    assert f.resets == 3
    g = TemporalFilter(TemporalOptions(alpha=0.5, reset_gap_seconds=0.0))
    g.filter_inverse(a, 0.0)
    assert not np.array_equal(g.filter_inverse(b, 100.0), b)  # 0: no gap limit


def test_invalid_pixels_and_metric_depth() -> None:
    f = TemporalFilter(TemporalOptions(alpha=0.5, motion_threshold=0.2))
    d0 = np.array([[1.0, 2.0, np.nan]], np.float32)
    np.testing.assert_array_equal(f.filter_depth(d0, 0.0), d0)
    d1 = np.array([[1.1, np.nan, 4.0]], np.float32)
    out = f.filter_depth(d1, 0.1)
    # in inverse depth: 1 → 1/1.1 (9 %): smoothed; NaN stays NaN; newly valid: taken
    assert out[0, 0] == pytest.approx(1 / (1 + 0.5 * (1 / 1.1 - 1)), rel=1e-6)
    assert np.isnan(out[0, 1])
    assert out[0, 2] == pytest.approx(4.0)
    out = f.filter_depth(np.array([[1.1, 2.0, -1.0]], np.float32), 0.2)
    assert out[0, 1] == pytest.approx(2.0)  # valid again after NaN: restarts there
    assert np.isnan(out[0, 2])  # depth <= 0 is invalid


def test_relative_history_follows_the_new_frames_affine() -> None:
    """A relative model's frames differ by scale and shift: the history is mapped onto
    the new frame first, so an exact affine change is no motion and no blend."""
    x = np.linspace(0.2, 3.0, 400, dtype=np.float32).reshape(20, 20)
    f = TemporalFilter(TemporalOptions(alpha=0.3, motion_threshold=0.15))
    f.filter_inverse(x, 0.0, align=True)
    y = 1.1 * x + 0.02  # under the gate: unaligned, it would be blended
    np.testing.assert_allclose(f.filter_inverse(y, 0.1, align=True), y, rtol=1e-5)
    assert f.last_moving_fraction == 0.0
    z = 2.0 * y + 0.5  # far over the gate: unaligned, every pixel would count as moving
    np.testing.assert_allclose(f.filter_inverse(z, 0.2, align=True), z, rtol=1e-5)
    assert f.last_moving_fraction == 0.0
    g = TemporalFilter(TemporalOptions(alpha=0.3, motion_threshold=0.15))
    g.filter_inverse(x, 0.0)
    assert np.abs(g.filter_inverse(y, 0.1) - y).max() > 0.05
    g.filter_inverse(z, 0.2)
    assert g.last_moving_fraction == 1.0
    # noise on a flat frame (nothing to fit a scale to): still smoothed, not inflated
    flat = noisy(np.full((64, 64), 1.0), 0.03, 20, seed=4)
    h = TemporalFilter(TemporalOptions(alpha=0.3))
    outs = [h.filter_inverse(z, 0.05 * i, align=True) for i, z in enumerate(flat)]
    assert float(np.std(outs[-1] - 1.0)) < 0.6 * 0.03


def test_options_validated_and_declared() -> None:
    with pytest.raises(ConfigError, match="temporal_alpha"):
        TemporalOptions(alpha=1.5)
    with pytest.raises(ConfigError, match="temporal_motion_threshold"):
        TemporalOptions.from_params({"temporal_motion_threshold": -1.0})
    specs = mono_node_params()
    for s in TEMPORAL_PARAMS:
        assert specs[s.name] == s
        assert not s.read_only  # changeable at run time
    assert specs["temporal_filter"].default is False


class _Seq:
    """A fake mono model returning the given frames in turn."""

    def __init__(self, frames: list[np.ndarray]) -> None:
        self.frames = iter(frames)

    def predict(self, rgb: np.ndarray) -> np.ndarray:
        return next(self.frames)

    def update(self, params: Any) -> None: ...


@pytest.mark.parametrize("kind", [OutputKind.RELATIVE, OutputKind.METRIC])
def test_pipeline_applies_the_filter_when_switched_on(kind: OutputKind) -> None:
    frames = noisy(np.full((6, 8), 2.0), 0.05, 6, seed=1)
    rgb = np.zeros((6, 8, 3), np.uint8)
    pipe = MonoPipeline(
        _Seq(frames),
        kind,
        options=MonoOptions(temporal_filter=True, temporal=TemporalOptions(alpha=0.5)),
    )

    def run(stamp: float) -> np.ndarray:
        r = pipe.process(rgb, None, cloud=False, stamp=stamp)
        out = r.depth if kind is OutputKind.METRIC else r.relative
        assert out is not None
        return out

    np.testing.assert_allclose(run(0.0), frames[0], rtol=1e-6)
    ref = TemporalFilter(TemporalOptions(alpha=0.5))
    if kind is OutputKind.METRIC:
        ref.filter_depth(frames[0])
        want = ref.filter_depth(frames[1])
    else:  # relative output: the history is aligned to each new frame's affine
        ref.filter_inverse(frames[0], align=True)
        want = ref.filter_inverse(frames[1], align=True)
    np.testing.assert_allclose(run(0.1), want, rtol=1e-6)
    assert not np.allclose(want, frames[1])
    pipe.options = MonoOptions()  # switched off at run time: passed through
    np.testing.assert_allclose(run(0.2), frames[2], rtol=1e-6)
    pipe.options = MonoOptions(temporal_filter=True)  # on again: restarts from this frame
    np.testing.assert_allclose(run(0.3), frames[3], rtol=1e-6)
