"""PointCloud2 layout and packing, without ROS: fields, steps and the data as bytes.

Clouds are organized (height x width, one point per kept pixel) with NaN for invalid
points, as depth_image_proc publishes them. ``rgb`` is packed as a float32 holding
0x00RRGGBB, the PCL/rviz convention.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import unproject

# sensor_msgs/PointField datatypes
FLOAT32 = 7


@dataclass(frozen=True)
class PointFieldSpec:
    name: str
    offset: int
    datatype: int = FLOAT32
    count: int = 1


@dataclass(frozen=True)
class PackedCloud:
    """Everything a ``sensor_msgs/PointCloud2`` needs besides its header."""

    height: int
    width: int
    fields: tuple[PointFieldSpec, ...]
    point_step: int
    row_step: int
    data: bytes | memoryview  # memoryview: the points live in a caller's buffer
    is_dense: bool
    is_bigendian: bool = False

    def as_array(self) -> NDArray[np.float32]:
        """The cloud as a (H, W, point_step/4) float32 array (a view on ``data``)."""
        return np.frombuffer(self.data, dtype=np.float32).reshape(
            self.height, self.width, self.point_step // 4
        )


XYZ_FIELDS = (PointFieldSpec("x", 0), PointFieldSpec("y", 4), PointFieldSpec("z", 8))
XYZRGB_FIELDS = (*XYZ_FIELDS, PointFieldSpec("rgb", 12))


def pack_rgb(rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """(..., 3) uint8 RGB → float32 array whose bits are 0x00RRGGBB (little endian)."""
    r = rgb[..., 0].astype(np.uint32)
    g = rgb[..., 1].astype(np.uint32)
    b = rgb[..., 2].astype(np.uint32)
    return ((r << 16) | (g << 8) | b).view(np.float32)


def unpack_rgb(packed: NDArray[np.float32]) -> NDArray[np.uint8]:
    """Inverse of :func:`pack_rgb`."""
    v = np.asarray(packed, dtype=np.float32).view(np.uint32)  # keeps the shape, even 0-d
    return np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=-1).astype(np.uint8)


def _layout(h: int, w: int, rgb: bool) -> tuple[NDArray[np.float32], tuple[PointFieldSpec, ...]]:
    fields = cloud_fields(rgb)
    return np.empty((h, w, len(fields)), dtype=np.float32), fields


def write_colors(buf: NDArray[np.float32], rgb: NDArray[np.uint8], decimation: int = 1) -> None:
    """Write the colours of an (H, W, 3) RGB image into field 3 of a buffer of
    :func:`cloud_shape` (e.g. while the depth is still being computed; then
    ``depth_to_cloud(..., out=buf, colors_written=True)``)."""
    _write_rgb(buf, rgb[::decimation, ::decimation])


def _write_rgb(buf: NDArray[np.float32], rgb: NDArray[np.uint8]) -> None:
    """Write colours into field 3 as little-endian 0x00RRGGBB bytes, without arithmetic."""
    octets = buf.view(np.uint8)  # (H, W, 16)
    octets[:, :, 12] = rgb[:, :, 2]
    octets[:, :, 13] = rgb[:, :, 1]
    octets[:, :, 14] = rgb[:, :, 0]
    octets[:, :, 15] = 0


def _packed(
    buf: NDArray[np.float32], fields: tuple[PointFieldSpec, ...], dense: bool, copy: bool = True
) -> PackedCloud:
    h, w, nf = buf.shape
    return PackedCloud(
        height=h,
        width=w,
        fields=fields,
        point_step=4 * nf,
        row_step=4 * nf * w,
        data=buf.tobytes() if copy else buf.data.cast("B"),
        is_dense=dense,
    )


def cloud_fields(rgb: bool) -> tuple[PointFieldSpec, ...]:
    """The fields :func:`depth_to_cloud` writes: x, y, z (and rgb), float32, 4 bytes each."""
    return XYZRGB_FIELDS if rgb else XYZ_FIELDS


def cloud_shape(
    depth_shape: tuple[int, ...], rgb: bool, decimation: int = 1
) -> tuple[int, int, int]:
    """Shape (H', W', fields) of the float32 buffer :func:`depth_to_cloud` fills."""
    h, w = int(depth_shape[0]), int(depth_shape[1])
    return -(-h // decimation), -(-w // decimation), len(cloud_fields(rgb))


def pack_points(points: NDArray[np.float32], rgb: NDArray[np.uint8] | None = None) -> PackedCloud:
    """Pack (H, W, 3) points, and optionally (H, W, 3) colours, into PointCloud2 bytes."""
    if points.ndim != 3 or points.shape[2] != 3:
        raise InputError(f"points must be (H, W, 3), got {points.shape}")
    h, w = points.shape[:2]
    if rgb is not None and rgb.shape[:2] != (h, w):
        raise InputError(f"colour image {rgb.shape[:2]} does not match points {(h, w)}")
    buf, fields = _layout(h, w, rgb is not None)
    buf[:, :, :3] = points
    if rgb is not None:
        _write_rgb(buf, rgb)
    return _packed(buf, fields, bool(np.isfinite(points).all()))


def depth_to_cloud(
    depth: NDArray[np.float32],
    camera: PinholeCamera,
    rgb: NDArray[np.uint8] | None = None,
    decimation: int = 1,
    out: NDArray[np.float32] | None = None,
    colors_written: bool = False,
) -> PackedCloud:
    """Organized cloud from a depth image (metres, NaN invalid), optionally coloured.

    Points are written in one pass per field into ``out`` (a C-contiguous float32 array of
    :func:`cloud_shape`, e.g. a view on an outgoing message, whose ``data`` then refers to
    it without a copy) or into a new buffer copied once to bytes. Invalid depth (NaN, inf,
    <= 0) gives NaN points.
    """
    if decimation < 1:
        raise InputError(f"decimation must be >= 1, got {decimation}")
    if rgb is not None and rgb.shape[:2] != depth.shape:
        raise InputError(f"colour image {rgb.shape[:2]} does not match depth {depth.shape}")
    if colors_written and (out is None or rgb is not None):
        raise InputError("colors_written needs the filled buffer as out, and no rgb")
    with_rgb = rgb is not None or colors_written
    shape = cloud_shape(depth.shape, with_rgb, decimation)
    if out is None:
        buf = np.empty(shape, dtype=np.float32)
    elif out.shape != shape or out.dtype != np.float32 or not out.flags.c_contiguous:
        raise InputError(
            f"cloud buffer must be C-contiguous float32 {shape}, got {out.dtype} {out.shape}"
        )
    else:
        buf = out
    unproject(depth, camera, decimation, out=buf[:, :, :3])
    if rgb is not None:
        write_colors(buf, rgb, decimation)
    dense = not bool(np.isnan(buf[:, :, 2]).any())
    return _packed(buf, cloud_fields(with_rgb), dense, copy=out is None)
