"""Colourised depth and disparity for people: turbo colour map, NaN shown black, and a
labelled colour bar (:func:`with_colorbar`) so that a picture says what its colours mean
and two pictures made with the same range can be compared."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import FloatArray


def colorize(
    values: FloatArray,
    vmin: float | None = None,
    vmax: float | None = None,
    invert: bool = False,
) -> NDArray[np.uint8]:
    """Map a float image to RGB uint8 with OpenCV's TURBO map; NaN/inf → black.

    ``vmin``/``vmax`` default to the 2nd and 98th percentiles of the finite values.
    ``invert`` makes small values bright (useful for depth: near = warm).
    """
    import cv2

    finite = np.isfinite(values)
    out = np.zeros((*values.shape, 3), dtype=np.uint8)
    if not finite.any():
        return out
    lo, hi = color_range(values, vmin, vmax)
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    norm = np.clip((np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo) - lo) * scale, 0, 255)
    if invert:
        norm = 255.0 - norm
    bgr = cv2.applyColorMap(norm.astype(np.uint8), cv2.COLORMAP_TURBO)
    out[finite] = bgr[finite][:, ::-1]
    return out


def color_range(
    values: FloatArray, vmin: float | None = None, vmax: float | None = None
) -> tuple[float, float]:
    """The range :func:`colorize` maps: ``vmin``/``vmax`` where given, else the 2nd / 98th
    percentile of the finite values ((0, 1) when there are none)."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return (0.0 if vmin is None else vmin), (1.0 if vmax is None else vmax)
    lo = float(np.percentile(finite, 2)) if vmin is None else float(vmin)
    hi = float(np.percentile(finite, 98)) if vmax is None else float(vmax)
    return lo, hi


def colorbar_ticks(vmin: float, vmax: float, count: int = 5) -> list[float]:
    """About ``count`` round values (1, 2, 2.5 or 5 x 10^k steps) within [vmin, vmax]; the
    two ends alone when the range is empty."""
    if not (np.isfinite(vmin) and np.isfinite(vmax)) or vmax <= vmin:
        return [float(vmin)]
    raw = (vmax - vmin) / max(count - 1, 1)
    power = 10.0 ** np.floor(np.log10(raw))
    step = next(m * power for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * power >= raw * 0.999)
    first = np.ceil(vmin / step - 1e-9) * step
    ticks = np.arange(first, vmax + step * 1e-9, step)
    return [float(round(t / step) * step) for t in ticks]


def _label(value: float, unit: str, step: float) -> str:
    decimals = max(0, int(-np.floor(np.log10(step) + 1e-9))) if step > 0 else 2
    return f"{value:.{decimals}f} {unit}"


def with_colorbar(
    image: NDArray[np.uint8],
    vmin: float,
    vmax: float,
    unit: str,
    invert: bool = False,
    ticks: int = 5,
) -> NDArray[np.uint8]:
    """``image`` (H, W, 3 RGB, made by :func:`colorize` with this ``vmin``, ``vmax`` and
    ``invert``) with a colour bar appended on the right: the map from ``vmax`` (top) to
    ``vmin`` (bottom), drawn through :func:`colorize` itself so its colours are the
    image's, and round tick values labelled in ``unit`` ("m" for depth, "px" for
    disparity) on a black panel. Below ``vmin`` / above ``vmax`` the image saturates to
    the bar's ends."""
    import cv2

    if image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be (H, W, 3) RGB, got shape {image.shape}")
    h = image.shape[0]
    margin = max(6, h // 40)
    scale = max(0.35, min(1.2, h / 900))
    thick = 1 if scale < 0.7 else 2
    bar_w = max(10, h // 24)
    rows = np.arange(h, dtype=np.float64)
    inner = max(h - 2 * margin - 1, 1)
    values = vmax - (rows - margin) / inner * (vmax - vmin)  # top = vmax
    bar = colorize(np.repeat(values[:, None], bar_w, axis=1), vmin, vmax, invert)
    bar[:margin] = 0
    bar[h - margin :] = 0
    tick_values = colorbar_ticks(vmin, vmax, ticks)
    step = tick_values[1] - tick_values[0] if len(tick_values) > 1 else abs(vmin) or 1.0
    labels = [_label(t, unit, step) for t in tick_values]
    size = [cv2.getTextSize(t, cv2.FONT_HERSHEY_SIMPLEX, scale, thick) for t in labels]
    text_w = max(s[0][0] for s in size)
    panel = np.zeros((h, text_w + 3 * margin, 3), dtype=np.uint8)
    span = vmax - vmin if vmax > vmin else 1.0
    for value, label, ((_, text_h), _) in zip(tick_values, labels, size, strict=True):
        y = round(margin + (vmax - value) / span * inner)
        cv2.line(panel, (0, y), (margin // 2 + 2, y), (255, 255, 255), thick)
        baseline_y = min(max(y + text_h // 2, text_h), h - 1)
        cv2.putText(
            panel,
            label,
            (margin, baseline_y),
            cv2.FONT_HERSHEY_SIMPLEX,
            scale,
            (255, 255, 255),
            thick,
            cv2.LINE_AA,
        )
    gap = np.zeros((h, margin, 3), dtype=np.uint8)
    return np.concatenate([image, gap, bar, panel], axis=1)
