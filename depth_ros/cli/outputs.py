"""Writing depth results as files people and tools open: NPY, 16-bit PNG, colour PNG, PLY."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.colorize import color_range, colorize, with_colorbar
from depth_ros.core.errors import ConfigError, InputError

__all__ = [
    "color_png",
    "colorize",
    "render_cloud",
    "write_depth",
    "write_disparity",
    "write_ply",
    "write_png",
]
from depth_ros.core.pointcloud import PackedCloud, unpack_rgb


def output_dir(path: Path, option: str = "--output") -> Path:
    """Create the output folder ``path``; InputError in one line when it cannot be one
    (an existing file, a parent that is a file, no permission)."""
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is an existing file, not a folder: give a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {option} folder {path}: {exc.strerror or exc}") from None
    return path


def write_png(path: Path, image: NDArray[np.generic]) -> Path:
    """Write an RGB or grey image to ``path`` as PNG (16-bit stays 16-bit); OSError if OpenCV
    cannot."""
    import cv2

    arr = image[:, :, ::-1] if image.ndim == 3 else image  # RGB → BGR for OpenCV
    if not cv2.imwrite(str(path), np.ascontiguousarray(arr)):
        raise OSError(f"could not write {path}")
    return path


ValueRange = tuple[float, float] | None


def color_png(
    path: Path, values: NDArray[np.float32], unit: str, invert: bool, value_range: ValueRange = None
) -> Path:
    """Turbo picture of ``values`` with a colour bar labelled in ``unit``; the colours span
    ``value_range`` (min, max) when given (the same for every picture: comparable), else
    the 2nd-98th percentile of this image."""
    if value_range is not None and not value_range[0] < value_range[1]:
        raise ConfigError(
            f"a colour range needs MIN < MAX, got {value_range[0]:g} {value_range[1]:g}"
        )
    lo, hi = color_range(values, *(value_range or (None, None)))
    return write_png(path, with_colorbar(colorize(values, lo, hi, invert), lo, hi, unit, invert))


def _write_map(
    out: Path,
    stem: str,
    values: NDArray[np.float32],
    png_scale: float,
    unit: str,
    invert: bool,
    value_range: ValueRange,
) -> list[Path]:
    """``.npy`` as given, 16-bit PNG of ``values * png_scale`` (0 invalid), colour PNG."""
    out.mkdir(parents=True, exist_ok=True)
    np.save(out / f"{stem}.npy", values)
    png16 = np.nan_to_num(np.clip(values * png_scale, 0, 65535), nan=0).astype(np.uint16)
    return [
        out / f"{stem}.npy",
        write_png(out / f"{stem}.png", png16),
        color_png(out / f"{stem}_color.png", values, unit, invert, value_range),
    ]


def write_disparity(
    out: Path, stem: str, disparity: NDArray[np.float32], value_range: ValueRange = None
) -> list[Path]:
    """``.npy`` float32 (NaN invalid), 16-bit PNG (value/256 px, 0 invalid: KITTI's
    convention), colour PNG with a colour bar in pixels (``value_range``: see
    :func:`color_png`)."""
    return _write_map(out, stem, disparity, 256.0, "px", False, value_range)


def write_depth(
    out: Path, stem: str, depth: NDArray[np.float32], value_range: ValueRange = None
) -> list[Path]:
    """``.npy`` float32 metres (NaN invalid), 16-bit PNG in millimetres (0 invalid, as
    16UC1 depth images), colour PNG (near = warm) with a colour bar in metres
    (``value_range``: see :func:`color_png`)."""
    return _write_map(out, stem, depth, 1000.0, "m", True, value_range)


def write_ply(path: Path, cloud: PackedCloud) -> Path:
    """PLY of the finite points (with colours when the cloud has ``rgb``), via open3d."""
    import open3d as o3d

    arr = cloud.as_array().reshape(-1, cloud.point_step // 4)
    keep = np.isfinite(arr[:, :3]).all(axis=1)
    if not keep.any():  # open3d refuses to write an empty cloud; an empty PLY is valid
        path.write_text(
            "ply\nformat ascii 1.0\nelement vertex 0\nproperty float x\n"
            "property float y\nproperty float z\nend_header\n"
        )
        return path
    pcd = o3d.geometry.PointCloud()
    pcd.points = o3d.utility.Vector3dVector(arr[keep, :3].astype(np.float64))
    if any(f.name == "rgb" for f in cloud.fields):
        rgb = unpack_rgb(np.ascontiguousarray(arr[keep, 3]))
        pcd.colors = o3d.utility.Vector3dVector(rgb.astype(np.float64) / 255.0)
    if not o3d.io.write_point_cloud(str(path), pcd):  # type: ignore[arg-type]
        raise OSError(f"could not write {path}")
    return path


def render_cloud(path: Path, cloud: PackedCloud, max_points: int = 60000) -> Path:
    """A picture of the point cloud seen from above-left of the camera (matplotlib, as a
    stand-in for an rviz view on machines without a display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    arr = cloud.as_array().reshape(-1, cloud.point_step // 4)
    keep = np.flatnonzero(np.isfinite(arr[:, :3]).all(axis=1))
    if keep.size > max_points:
        keep = np.sort(np.random.default_rng(0).choice(keep, max_points, replace=False))
    pts = arr[keep]
    has_rgb = any(f.name == "rgb" for f in cloud.fields)
    colours = (
        unpack_rgb(np.ascontiguousarray(pts[:, 3])) / 255.0
        if has_rgb
        else colorize(pts[:, 2][None, :])[0] / 255.0
    )
    fig = plt.figure(figsize=(8, 6), dpi=100)
    ax = fig.add_subplot(projection="3d")
    # optical frame (x right, y down, z forward) shown as x right, z into the view, y up
    ax.scatter(pts[:, 0], pts[:, 2], -pts[:, 1], c=colours, s=0.6, linewidths=0)
    ax.set_xlabel("x (m)")
    ax.set_ylabel("z (m)")
    ax.set_zlabel("-y (m)")
    ax.view_init(elev=20, azim=-60)
    ax.set_box_aspect((np.ptp(pts[:, 0]), np.ptp(pts[:, 2]), np.ptp(pts[:, 1])))
    ax.set_title(f"points: {keep.size} of {cloud.width * cloud.height} shown")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path
