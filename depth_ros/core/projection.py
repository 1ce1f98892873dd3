"""Bring a metric reference into a camera: point clouds and depth images from other frames
become a sparse depth image aligned with the camera's (rectified) image.

Transforms are 4x4 homogeneous matrices ``T_cam_ref`` that map points given in the
reference frame into the camera optical frame (x right, y down, z forward), i.e. the TF
transform from the camera frame to the reference frame, as a matrix: p_cam = T @ p_ref.
Projection uses the camera's projection-matrix intrinsics (fx, fy, cx, cy of P: the
rectified image, which is what the depth models see); pixel (u, v) covers
[u - 0.5, u + 0.5) x [v - 0.5, v + 0.5), the convention of
:func:`depth_ros.core.geometry.unproject`. Where several points fall in one pixel the
nearest wins (z-buffer). Pixels no point reaches are NaN.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Array, FloatArray
from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import CalibrationError, InputError
from depth_ros.core.geometry import unproject

FloatImage = NDArray[np.float32]


def depth_image_to_metres(image: Array, encoding: str) -> FloatImage:
    """A reference depth image as float32 metres with NaN = invalid.

    ``16UC1`` / ``mono16``: millimetres, 0 = invalid (REP 118). ``32FC1``: metres; NaN,
    ±inf, 0 and negative values become NaN. ``64FC1``: metres, as 32FC1.
    """
    if image.ndim != 2:
        raise InputError(f"depth image must be single-channel (H, W), got shape {image.shape}")
    if encoding in ("16UC1", "mono16"):
        if image.dtype != np.uint16:
            raise InputError(f"{encoding} depth must be uint16, got {image.dtype}")
        out = image.astype(np.float32) * np.float32(0.001)
        out[image == 0] = np.nan
        return out
    if encoding in ("32FC1", "64FC1"):
        if image.dtype.kind != "f":
            raise InputError(f"{encoding} depth must be floating point, got {image.dtype}")
        out = image.astype(np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            out[~np.isfinite(out) | ~(out > 0)] = np.nan
        return out
    raise InputError(f"unsupported depth encoding {encoding!r}; expected 16UC1 (mm) or 32FC1 (m)")


def metres_to_depth_image(depth: FloatImage, encoding: str) -> NDArray[np.uint16 | np.float32]:
    """Inverse of :func:`depth_image_to_metres`: 16UC1 mm (0 invalid, clipped to 65.535 m)
    or 32FC1 m (NaN invalid)."""
    if encoding == "16UC1":
        mm = np.rint(np.nan_to_num(depth, nan=0.0, posinf=0.0, neginf=0.0) * 1000.0)
        mm[(mm < 0) | (mm > 65535)] = 0
        return np.asarray(mm, dtype=np.uint16)
    if encoding == "32FC1":
        out = depth.astype(np.float32, copy=True)
        with np.errstate(invalid="ignore"):
            out[~np.isfinite(out) | ~(out > 0)] = np.nan
        return out
    raise InputError(f"unsupported depth encoding {encoding!r}; expected 16UC1 or 32FC1")


def check_transform(transform: FloatArray) -> NDArray[np.float64]:
    """Validate a 4x4 rigid transform (finite, last row 0 0 0 1, rotation orthonormal)."""
    t = np.asarray(transform, dtype=np.float64)
    if t.shape != (4, 4):
        raise CalibrationError(f"transform must be a 4x4 matrix, got shape {t.shape}")
    if not np.isfinite(t).all():
        raise CalibrationError("transform has non-finite entries")
    if not np.allclose(t[3], (0.0, 0.0, 0.0, 1.0), atol=1e-9):
        raise CalibrationError(f"transform's last row must be 0 0 0 1, got {t[3].tolist()}")
    rot = t[:3, :3]
    if not np.allclose(rot @ rot.T, np.eye(3), atol=1e-4) or np.linalg.det(rot) < 0:
        raise CalibrationError("transform's 3x3 block is not a rotation (orthonormal, det +1)")
    return t


def transform_points(points: FloatArray, transform: FloatArray) -> NDArray[np.float64]:
    """(N, 3) points mapped by a 4x4 transform: R @ p + t."""
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(f"points must be an (N, 3) array, got shape {p.shape}")
    t = check_transform(transform)
    out = np.empty_like(p)
    for i in range(3):  # per output axis: cheaper than a BLAS (N, 3) @ (3, 3) call
        out[:, i] = p[:, 0] * t[i, 0] + p[:, 1] * t[i, 1] + p[:, 2] * t[i, 2] + t[i, 3]
    return out


def project_points(
    points: FloatArray,
    camera: PinholeCamera,
    transform: FloatArray | None = None,
    min_depth: float = 1e-3,
    max_depth: float = np.inf,
) -> FloatImage:
    """Sparse depth image (camera.height, camera.width), float32 metres, NaN = no point.

    ``points``: (N, 3) in the reference frame (non-finite rows ignored); ``transform``:
    4x4 reference → camera optical frame (None: already in the camera frame). Points
    behind the camera or outside [min_depth, max_depth] are dropped; the nearest point of
    each pixel wins.
    """
    camera.validate()
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 3:
        raise InputError(f"points must be an (N, 3) array, got shape {p.shape}")
    if transform is not None:
        p = transform_points(p, transform)
    w, h = camera.width, camera.height
    out = np.full(h * w, np.nan, dtype=np.float32)
    with np.errstate(invalid="ignore"):
        keep = np.isfinite(p).all(axis=1) & (p[:, 2] >= max(min_depth, 1e-9))
        keep &= p[:, 2] <= max_depth
    p = p[keep]
    if p.size == 0:
        return out.reshape(h, w)
    z = p[:, 2]
    u = np.floor(camera.fx * p[:, 0] / z + camera.cx + 0.5)
    v = np.floor(camera.fy * p[:, 1] / z + camera.cy + 0.5)
    inside = (u >= 0) & (u < w) & (v >= 0) & (v < h)
    idx = v[inside].astype(np.int64) * w + u[inside].astype(np.int64)
    zbuf = np.full(h * w, np.inf)
    np.minimum.at(zbuf, idx, z[inside])  # z-buffer: the nearest point of each pixel wins
    hit = np.isfinite(zbuf)
    out[hit] = zbuf[hit]
    return out.reshape(h, w)


def reproject_depth(
    depth: FloatImage,
    source_camera: PinholeCamera,
    target_camera: PinholeCamera,
    transform: FloatArray,
    min_depth: float = 1e-3,
    max_depth: float = np.inf,
) -> FloatImage:
    """A depth image of one camera seen from another: unproject → transform → project.

    ``transform``: 4x4 source optical frame → target optical frame. The result has the
    target camera's size; it is sparse where the target sees more than the source
    (occlusions, wider field of view, higher resolution).
    """
    if depth.ndim != 2:
        raise InputError(f"depth must be (H, W), got shape {depth.shape}")
    pts = unproject(depth.astype(np.float32, copy=False), source_camera).reshape(-1, 3)
    pts = pts[np.isfinite(pts).all(axis=1)]
    return project_points(pts, target_camera, transform, min_depth, max_depth)


def reference_from_cloud(
    points: FloatArray,
    camera: PinholeCamera,
    transform: FloatArray | None,
    shape: tuple[int, int] | None = None,
    min_depth: float = 1e-3,
    max_depth: float = np.inf,
) -> FloatImage:
    """:func:`project_points` into ``camera`` scaled to ``shape`` (H, W) when given (the
    size of the prediction the reference will be compared with)."""
    if shape is not None and (camera.height, camera.width) != tuple(shape):
        camera = camera.scaled(int(shape[1]), int(shape[0]))
    return project_points(points, camera, transform, min_depth, max_depth)


def ground_from_transform(
    base_from_camera: FloatArray,
) -> tuple[float, tuple[float, float, float]]:
    """Camera height above the floor and the direction of gravity in the camera optical
    frame, from the transform that maps camera-frame points into a base frame whose z axis
    points up from the floor (z = 0), as REP 103 base frames do (TF: base ← camera).

    Raises CalibrationError when the camera is not above the floor.
    """
    t = check_transform(base_from_camera)
    height = float(t[2, 3])
    if not height > 0.0:
        raise CalibrationError(
            f"camera is {height:.3f} m above the base frame's floor (z = 0); expected > 0"
        )
    down = t[:3, :3].T @ np.array([0.0, 0.0, -1.0])
    return height, (float(down[0]), float(down[1]), float(down[2]))
