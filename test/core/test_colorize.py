"""Colour bars: round ticks, the bar's colours are the image's, labels at the ticks."""

from __future__ import annotations

import numpy as np
import pytest

from depth_ros.core.colorize import color_range, colorbar_ticks, colorize, with_colorbar


@pytest.mark.parametrize(
    ("lo", "hi", "ticks"),
    [
        (0.5, 4.2, [1.0, 2.0, 3.0, 4.0]),
        (0.0, 64.0, [0.0, 20.0, 40.0, 60.0]),
        (1.23, 1.31, [1.24, 1.26, 1.28, 1.30]),
        (-2.0, 8.0, [0.0, 2.5, 5.0, 7.5]),
        (3.0, 3.0, [3.0]),
    ],
)
def test_ticks_are_round_and_inside(lo: float, hi: float, ticks: list[float]) -> None:
    got = colorbar_ticks(lo, hi)
    assert got == pytest.approx(ticks)
    assert all(lo - 1e-9 <= t <= hi + 1e-9 for t in got)


def test_color_range_defaults_to_percentiles() -> None:
    values = np.append(np.arange(101, dtype=np.float32), np.nan)  # NaN ignored
    assert color_range(values) == pytest.approx((2.0, 98.0))
    assert color_range(values, 10.0, None) == pytest.approx((10.0, 98.0))
    assert color_range(np.full(3, np.nan)) == (0.0, 1.0)


@pytest.mark.parametrize("invert", [False, True])
def test_bar_colours_are_the_image_colours(invert: bool) -> None:
    h, w, lo, hi = 240, 50, 0.8, 5.3
    margin = max(6, h // 40)  # the bar spans rows margin .. h - margin - 1, top = hi
    rows = np.arange(h, dtype=np.float64)
    ramp = hi - (rows - margin) / (h - 2 * margin - 1) * (hi - lo)
    image = colorize(np.repeat(ramp[:, None], w, axis=1), lo, hi, invert)
    out = with_colorbar(image, lo, hi, "m", invert)
    assert out.shape[0] == h
    assert out.shape[1] > w + 20
    np.testing.assert_array_equal(out[:, :w], image)  # the picture itself is untouched
    bar_col = w + margin + 2
    inside = slice(margin, h - margin)
    np.testing.assert_array_equal(out[inside, bar_col], image[inside, 0])
    assert not out[:margin, bar_col].any()
    # warm (red) end: near with invert (depth), far without (disparity's large values)
    top, bottom = out[margin, bar_col].astype(int), out[h - margin - 1, bar_col].astype(int)
    warm, cold = (bottom, top) if invert else (top, bottom)
    assert warm[0] > warm[2]
    assert cold[2] > cold[0]


def test_labels_are_drawn_at_the_ticks() -> None:
    h, lo, hi = 300, 0.0, 64.0
    out = with_colorbar(np.zeros((h, 40, 3), np.uint8), lo, hi, "px")
    margin = max(6, h // 40)
    panel = out[:, 40 + margin + max(10, h // 24) :]
    bright = (panel.max(axis=2) > 200).any(axis=1)
    tick_rows = [
        round(margin + (hi - t) / (hi - lo) * (h - 2 * margin - 1)) for t in colorbar_ticks(lo, hi)
    ]
    for y in tick_rows:
        assert bright[max(0, y - 6) : y + 7].any(), f"no label near row {y}"
    near = np.zeros(h, bool)
    for y in tick_rows:
        near[max(0, y - 12) : y + 13] = True
    assert not bright[~near].any()  # nothing drawn away from the ticks
    longer = with_colorbar(np.zeros((h, 40, 3), np.uint8), 1000.0, 64000.0, "px")
    assert longer.shape[1] > out.shape[1]  # the panel fits its labels


def test_bad_image_is_refused() -> None:
    with pytest.raises(ValueError, match="RGB"):
        with_colorbar(np.zeros((4, 4), np.uint8), 0.0, 1.0, "m")
