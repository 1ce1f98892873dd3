"""Disparity ↔ depth and unprojection of depth to 3D points, vectorised over whole images.

Conventions (one definition, used everywhere): disparity in pixels of the left image,
depth in metres along the optical axis, NaN = invalid (REP 117/118).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera, StereoGeometry

FloatImage = NDArray[np.float32]


def disparity_to_depth(
    disparity: FloatImage,
    geometry: StereoGeometry,
    min_depth: float = 0.0,
    max_depth: float = float("inf"),
    out: FloatImage | None = None,
) -> FloatImage:
    """Z = fx * B / (d + doffs); non-positive or non-finite denominators give NaN, and so do
    depths outside [min_depth, max_depth]. ``out``: a float32 array (or view) of the same
    shape to write into (a message buffer), else a new array."""
    geometry.validate()
    depth = np.empty(disparity.shape, np.float32) if out is None else out
    if geometry.doffs:
        np.add(disparity, np.float32(geometry.doffs), out=depth)
        denom = depth
    else:
        denom = disparity
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        np.divide(np.float32(geometry.fx * geometry.baseline), denom, out=depth)
    # covers d + doffs <= 0 or NaN (depth <= 0, inf or NaN), d = inf (depth 0) and overflow
    bad = ~(np.isfinite(depth) & (depth > 0))
    if min_depth > 0.0 or np.isfinite(max_depth):
        bad |= (depth < min_depth) | (depth > max_depth)
    depth[bad] = np.nan
    return depth


def depth_to_disparity(depth: FloatImage, geometry: StereoGeometry) -> FloatImage:
    """Disparity d = fx * B / Z - doffs; NaN where depth is not positive and finite."""
    geometry.validate()
    with np.errstate(divide="ignore", invalid="ignore"):
        disp = (np.float32(geometry.fx * geometry.baseline) / depth).astype(np.float32)
    disp -= np.float32(geometry.doffs)
    disp[~(depth > 0) | ~np.isfinite(depth)] = np.nan
    return disp


def rays(
    shape: tuple[int, ...], camera: PinholeCamera, decimation: int = 1
) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """Per-column x/z and per-row y/z of the kept pixels of an image of ``shape`` (H, W).

    The camera is scaled when the image has another size than camera_info describes.
    """
    camera.validate()
    height, width = int(shape[0]), int(shape[1])
    cam = (
        camera if (width, height) == (camera.width, camera.height) else camera.scaled(width, height)
    )
    u = np.arange(0, width, decimation, dtype=np.float32)
    v = np.arange(0, height, decimation, dtype=np.float32)
    xs = ((u - np.float32(cam.cx)) / np.float32(cam.fx)).astype(np.float32)
    ys = ((v - np.float32(cam.cy)) / np.float32(cam.fy)).astype(np.float32)
    return xs, ys


def unproject(
    depth: FloatImage,
    camera: PinholeCamera,
    decimation: int = 1,
    out: NDArray[np.float32] | None = None,
) -> NDArray[np.float32]:
    """3D points (H', W', 3) in the camera's optical frame (x right, y down, z forward).

    ``decimation`` keeps every n-th row and column. Invalid depth (NaN, inf, <= 0) gives
    NaN points. ``out``: an (H', W', 3) float32 array (or view) to write into.
    """
    z = depth[::decimation, ::decimation]
    xs, ys = rays(depth.shape, camera, decimation)
    points = np.empty((*z.shape, 3), dtype=np.float32) if out is None else out
    np.multiply(z, xs[None, :], out=points[:, :, 0])
    np.multiply(z, ys[:, None], out=points[:, :, 1])
    points[:, :, 2] = z
    # NaN depth already gives NaN x, y, z; only the other invalid values need writing
    with np.errstate(invalid="ignore"):
        bad = (z <= 0) | np.isinf(z)
    if bad.any():
        points[bad] = np.nan
    return points
