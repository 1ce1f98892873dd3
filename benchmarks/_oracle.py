"""Helpers the benchmark scripts share: the sample image, timing and output differences.

The scripts run as ``python benchmarks/NAME.py``, which puts this folder on ``sys.path``:
they import these as ``from _oracle import ...``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[1]
#: the open3d sample scene (PrimeSense, 640x480), looked for under ``shared/`` beside or
#: above the checkout
SAMPLE = Path("shared/data/open3d_rgbd_samples/TestData/RGBD/color/00000.jpg")
#: the sample's default PrimeSense intrinsics (fx, fy, cx, cy)
PRIMESENSE = (525.0, 525.0, 319.5, 239.5)


def sample_image(path: str | Path | None = None) -> tuple[np.ndarray, str]:
    """RGB uint8 and where it came from.

    The given file (exits with a message when it cannot be read), else the open3d sample
    scene, else a fixed random 640x480 image.
    """
    import cv2

    if path:
        bgr = cv2.imread(str(path))
        if bgr is None:
            raise SystemExit(f"cannot read image {path}")
        return np.ascontiguousarray(bgr[:, :, ::-1]), str(path)
    for base in (REPO, *REPO.parents):
        candidate = base / SAMPLE
        bgr = cv2.imread(str(candidate)) if candidate.is_file() else None
        if bgr is not None:
            return np.ascontiguousarray(bgr[:, :, ::-1]), str(candidate)
    rgb = np.random.default_rng(0).integers(0, 256, (480, 640, 3), dtype=np.uint8)
    return rgb, "random 640x480"


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """The median wall time of ``runs`` calls of ``fn``, in milliseconds."""
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(times)


def max_diff(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """``max |ours - ref|`` and the reference's range (max - min), in float64."""
    ref64 = np.asarray(ref, np.float64)
    return float(np.max(np.abs(np.asarray(ours, np.float64) - ref64))), float(np.ptp(ref64))


def sample_intrinsics(width: int, height: int) -> tuple[float, float, float, float]:
    """(fx, fy, cx, cy): the sample's PrimeSense ones at 640x480, else a 0.8-width focal."""
    if (width, height) == (640, 480):
        return PRIMESENSE
    return 0.8 * width, 0.8 * width, width / 2, height / 2


def compared(model: str, rgb: np.ndarray, ours: np.ndarray, ref: np.ndarray) -> dict[str, Any]:
    """One comparison row: the model, the image size, ``max |ours - ref|``, the range."""
    diff, rng = max_diff(ours, ref)
    return {
        "model": model,
        "image": list(rgb.shape[:2]),
        "max_abs_diff": diff,
        "output_range": rng,
        "relative": diff / rng,
    }


def report(
    rows: list[dict[str, Any]],
    as_json: bool,
    suffix: Callable[[dict[str, Any]], str] = lambda r: "",
) -> int:
    """Print the :func:`compared` rows (JSON, or a line each ending with ``suffix(row)``).

    Returns the exit status: 0 when every difference is within 1e-3 of the range, else 1.
    """
    if as_json:
        print(json.dumps(rows, indent=2))
    else:
        for r in rows:
            tail = suffix(r) if suffix else ""
            print(
                f"{r['model']}: max|diff| {r['max_abs_diff']:.3g} / range "
                f"{r['output_range']:.3g} = {r['relative']:.2e} on {r['image']}{tail}"
            )
    return 0 if all(r["relative"] <= 1e-3 for r in rows) else 1
