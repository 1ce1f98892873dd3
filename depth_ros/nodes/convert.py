"""Message ↔ core conversions (the cv_bridge / image_geometry part we need)."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image, PointCloud2, PointField
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.encodings import array_to_image_fields, image_to_array, to_rgb8
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.imageheader import compressed_size
from depth_ros.core.pointcloud import PackedCloud
from depth_ros.core.stereo import DELTA_D, encode_disparity


def stamp_ns(stamp: Any) -> int:
    """A ``builtin_interfaces/Time`` as integer nanoseconds."""
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


def image_to_numpy(msg: Image) -> NDArray[Any]:
    """Pixels of an Image message as a numpy view (no copy when rows are unpadded)."""
    return image_to_array(msg.encoding, msg.height, msg.width, msg.step, msg.data, msg.is_bigendian)


def check_pixels(width: int, height: int, limit: int | None, what: str) -> None:
    """Refuse an image of more than ``limit`` pixels (None: no limit)."""
    if limit is not None and width * height > limit:
        raise InputError(
            f"{what} is {width}x{height} = {width * height} pixels, more than "
            f"max_image_pixels ({limit}); refused before decoding (raise max_image_pixels "
            "if this is intended)"
        )


def decode_compressed(msg: CompressedImage, max_pixels: int | None = None) -> NDArray[np.uint8]:
    """jpeg/png CompressedImage → RGB uint8. The size is read from the header first: an
    image of more than ``max_pixels`` pixels is refused before it is decoded."""
    import cv2

    raw = np.frombuffer(msg.data, dtype=np.uint8)
    width, height, _ = compressed_size(raw.data)
    check_pixels(width, height, max_pixels, "compressed image")
    image = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if image is None:
        raise InputError(f"cannot decode compressed image (format {msg.format!r})")
    return np.ascontiguousarray(image[:, :, ::-1])


def rgb_from_msg(
    msg: Image | CompressedImage, max_pixels: int | None = None, what: str = "image"
) -> NDArray[np.uint8]:
    """An Image (any colour or mono encoding) or CompressedImage as RGB uint8, refused
    beyond ``max_pixels`` before any conversion."""
    if isinstance(msg, CompressedImage):
        return decode_compressed(msg, max_pixels)
    check_pixels(int(msg.width), int(msg.height), max_pixels, what)
    return to_rgb8(image_to_numpy(msg), msg.encoding)


def numpy_to_image(arr: NDArray[Any], encoding: str, header: Header) -> Image:
    msg = Image()
    msg.header = header
    msg.height, msg.width = int(arr.shape[0]), int(arr.shape[1])
    msg.encoding = encoding
    msg.is_bigendian = 0
    msg.step, data = array_to_image_fields(arr, encoding)
    msg.data = data
    return msg


def camera_info_msg(camera: PinholeCamera, header: Header) -> CameraInfo:
    msg = CameraInfo()
    msg.header = header
    msg.width, msg.height = camera.width, camera.height
    msg.distortion_model = camera.distortion_model
    msg.d = list(camera.d)
    msg.k = list(camera.k)
    msg.r = list(camera.r)
    msg.p = list(camera.p)
    return msg


def cloud_msg(cloud: PackedCloud, header: Header) -> PointCloud2:
    msg = PointCloud2()
    msg.header = header
    msg.height, msg.width = cloud.height, cloud.width
    msg.fields = [
        PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
        for f in cloud.fields
    ]
    msg.is_bigendian = cloud.is_bigendian
    msg.point_step, msg.row_step = cloud.point_step, cloud.row_step
    msg.data = cloud.data if isinstance(cloud.data, bytes) else bytes(cloud.data)
    msg.is_dense = cloud.is_dense
    return msg


def disparity_msg(
    disparity: NDArray[np.float32],
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    header: Header,
) -> DisparityImage:
    """A DisparityImage following stereo_image_proc (see
    :func:`depth_ros.core.stereo.encode_disparity`)."""
    encoded = encode_disparity(disparity, geometry, min_disparity, max_disparity)
    msg = DisparityImage()
    msg.header = header
    msg.image = numpy_to_image(encoded.values, "32FC1", header)
    msg.f = float(geometry.fx)
    msg.t = float(geometry.baseline)
    msg.min_disparity = encoded.min_disparity
    msg.max_disparity = encoded.max_disparity
    msg.delta_d = DELTA_D
    window = msg.valid_window
    window.x_offset, window.y_offset, window.width, window.height = encoded.valid_window
    return msg


def disparity_from_msg(msg: DisparityImage, doffs: float = 0.0) -> NDArray[np.float32]:
    """Matcher disparity (NaN invalid) back from a DisparityImage, undoing the doffs shift
    (``doffs=0`` keeps the message's own values, for which Z = f * T / value)."""
    if msg.image.encoding != "32FC1":
        raise InputError(f"disparity image encoding is {msg.image.encoding!r}; expected 32FC1")
    values = image_to_numpy(msg.image).astype(np.float32)
    out = values - np.float32(doffs) if doffs else values
    out[~(values >= msg.min_disparity)] = np.nan
    return out


def disparity_msg_geometry(msg: DisparityImage) -> StereoGeometry:
    """The geometry for the message's own values: Z = f * T / value (doffs already in)."""
    geometry = StereoGeometry(fx=float(msg.f), baseline=abs(float(msg.t)))
    geometry.validate()
    return geometry


def depth_from_disparity_msg(msg: DisparityImage) -> NDArray[np.float32]:
    """Depth (metres, NaN = none) of a DisparityImage."""
    geometry = disparity_msg_geometry(msg)
    return disparity_to_depth(disparity_from_msg(msg), geometry)


def packed_from_msg(msg: PointCloud2) -> PackedCloud:
    """The core representation of a received PointCloud2 (float32 fields only)."""
    from depth_ros.core.pointcloud import PointFieldSpec

    return PackedCloud(
        height=msg.height,
        width=msg.width,
        fields=tuple(PointFieldSpec(f.name, f.offset, f.datatype, f.count) for f in msg.fields),
        point_step=msg.point_step,
        row_step=msg.row_step,
        data=bytes(msg.data),
        is_dense=bool(msg.is_dense),
        is_bigendian=bool(msg.is_bigendian),
    )
