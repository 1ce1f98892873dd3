"""Colourised depth and disparity for people: turbo colour map, NaN shown black."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


def colorize(
    values: NDArray[np.floating],
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
    valid = values[finite]
    lo = float(np.percentile(valid, 2)) if vmin is None else vmin
    hi = float(np.percentile(valid, 98)) if vmax is None else vmax
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    norm = np.clip((np.nan_to_num(values, nan=lo, posinf=hi, neginf=lo) - lo) * scale, 0, 255)
    if invert:
        norm = 255.0 - norm
    bgr = cv2.applyColorMap(norm.astype(np.uint8), cv2.COLORMAP_TURBO)
    out[finite] = bgr[finite][:, ::-1]
    return out
