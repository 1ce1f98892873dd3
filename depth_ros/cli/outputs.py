"""Writing depth results as files people and tools open: NPY, 16-bit PNG, colour PNG, PLY."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.colorize import colorize

__all__ = ["colorize", "write_depth", "write_disparity", "write_ply", "write_png"]
from depth_ros.core.pointcloud import PackedCloud, unpack_rgb


def write_png(path: Path, image: NDArray[np.generic]) -> Path:
    import cv2

    arr = image[:, :, ::-1] if image.ndim == 3 else image  # RGB → BGR for OpenCV
    if not cv2.imwrite(str(path), np.ascontiguousarray(arr)):
        raise OSError(f"could not write {path}")
    return path


def write_disparity(out: Path, stem: str, disparity: NDArray[np.float32]) -> list[Path]:
    """``.npy`` float32 (NaN invalid), 16-bit PNG (value/256 px, 0 invalid: KITTI's
    convention), colour PNG."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{stem}.npy", disparity)
    png16 = np.nan_to_num(np.clip(disparity * 256.0, 0, 65535), nan=0).astype(np.uint16)
    return [
        out / f"{stem}.npy",
        write_png(out / f"{stem}.png", png16),
        write_png(out / f"{stem}_color.png", colorize(disparity)),
    ]


def write_depth(out: Path, stem: str, depth: NDArray[np.float32]) -> list[Path]:
    """``.npy`` float32 metres (NaN invalid), 16-bit PNG in millimetres (0 invalid, as
    16UC1 depth images), colour PNG (near = warm)."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{stem}.npy", depth)
    mm = np.nan_to_num(np.clip(depth * 1000.0, 0, 65535), nan=0).astype(np.uint16)
    return [
        out / f"{stem}.npy",
        write_png(out / f"{stem}.png", mm),
        write_png(out / f"{stem}_color.png", colorize(depth, invert=True)),
    ]


def write_ply(path: Path, cloud: PackedCloud) -> Path:
    """PLY of the finite points (with colours when the cloud has ``rgb``), via open3d."""
    import open3d as o3d

    arr = cloud.as_array().reshape(-1, cloud.point_step // 4)
    keep = np.isfinite(arr[:, :3]).all(axis=1)
    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(arr[keep, :3].astype(np.float64))
    if any(f.name == "rgb" for f in cloud.fields):
        rgb = unpack_rgb(np.ascontiguousarray(arr[keep, 3]))
        pcd.colors = o3d.utility.Vector3dVector(rgb.astype(np.float64) / 255.0)
    if not o3d.io.write_point_cloud(str(path), pcd):  # type: ignore[arg-type]
        raise OSError(f"could not write {path}")
    return path
