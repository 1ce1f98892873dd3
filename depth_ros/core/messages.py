"""ROS messages ↔ core arrays, one way for every message library.

**Builders** take a :class:`MessageTypes`: the message classes of one library, rclpy's in
the nodes (:data:`depth_ros.nodes.convert.ROS`), the ``rosbags`` type store's in bag code
(:func:`depth_ros.core.bags.bag_types`). Every field is passed to the constructor by
name (rosbags' message classes have no defaults) and bulk data goes in as one buffer
(``arr.tobytes()``, wrapped by ``types.uint8s``), never element by element.

**Readers** are duck-typed: they accept anything with the message's fields (rclpy or
rosbags messages; :func:`read_points` also a :class:`~depth_ros.core.pointcloud.PackedCloud`),
as the Protocols of :mod:`depth_ros.core.msgtypes` name them.

The ``stereo_msgs/DisparityImage`` convention (stereo_image_proc's) is encoded in one
place, :func:`encode_disparity` + :func:`disparity_fields`, used by
:func:`disparity_msg` and by the serialized fast path
(:func:`depth_ros.core.cdr.write_disparity`); :func:`disparity_from_msg` undoes it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Final

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Array, Buffer, DType
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.encodings import array_to_image_fields, image_to_array, to_rgb8
from depth_ros.core.errors import InputError
from depth_ros.core.geometry import disparity_to_depth
from depth_ros.core.imageheader import compressed_size
from depth_ros.core.msgtypes import (
    CameraInfoMsg,
    CompressedImageMsg,
    DisparityImageMsg,
    Floats,
    HeaderMsg,
    ImageMsg,
    MessageClass,
    PointCloudMsg,
    PointFieldMsg,
    PointsMsg,
    StampedMsg,
    TimeMsg,
)
from depth_ros.core.pointcloud import PackedCloud, PointFieldSpec
from depth_ros.core.region import Region

if TYPE_CHECKING:
    from typing_extensions import TypeIs  # typing.TypeIs from Python 3.13

DELTA_D = 1.0 / 16.0  # disparity resolution of OpenCV's matchers (DisparityImage.delta_d)

# sensor_msgs/PointField datatypes → numpy type codes (byte order added per cloud)
POINT_FIELD_TYPES: Final[dict[int, str]] = {
    1: "i1",  # INT8
    2: "u1",  # UINT8
    3: "i2",  # INT16
    4: "u2",  # UINT16
    5: "i4",  # INT32
    6: "u4",  # UINT32
    7: "f4",  # FLOAT32
    8: "f8",  # FLOAT64
}


@dataclass(frozen=True)
class MessageTypes:
    """The message classes of one library, and how its messages hold arrays: ``uint8s``
    turns bytes into a ``uint8[]`` field's value, ``float64s`` a sequence of floats into a
    ``float64[]`` / ``float64[N]`` field's value. The classes are called with every
    field by keyword; what they build is read back through :mod:`depth_ros.core.msgtypes`'
    Protocols."""

    Time: MessageClass[TimeMsg]
    Header: MessageClass[HeaderMsg]
    Image: MessageClass[ImageMsg]
    CameraInfo: MessageClass[CameraInfoMsg]
    RegionOfInterest: MessageClass[object]
    PointField: MessageClass[PointFieldMsg]
    PointCloud2: MessageClass[PointCloudMsg]
    DisparityImage: MessageClass[DisparityImageMsg]
    uint8s: Callable[[bytes], Buffer]
    float64s: Callable[[Sequence[float]], Floats]


# ---------------------------------------------------------------- stamps and headers


def time_msg(types: MessageTypes, stamp_ns: int) -> TimeMsg:
    """A ``builtin_interfaces/Time`` for ``stamp_ns`` nanoseconds (>= 0)."""
    if stamp_ns < 0:
        raise InputError(f"timestamps must be >= 0 ns, got {stamp_ns}")
    return types.Time(sec=int(stamp_ns // 1_000_000_000), nanosec=int(stamp_ns % 1_000_000_000))


def header_msg(types: MessageTypes, stamp_ns: int, frame_id: str = "") -> HeaderMsg:
    """A ``std_msgs/Header``."""
    return types.Header(stamp=time_msg(types, stamp_ns), frame_id=frame_id)


def stamp_to_ns(msg: StampedMsg) -> int:
    """The header stamp of ``msg`` (anything with ``header.stamp``) in nanoseconds."""
    stamp = msg.header.stamp
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


# ---------------------------------------------------------------- images


def infer_encoding(image: Array) -> str:
    """rgb8 / rgba8 / mono8 for uint8, 16UC1 for uint16, 32FC1 for float32."""
    channels = 1 if image.ndim == 2 else int(image.shape[2]) if image.ndim == 3 else 0
    if image.dtype == np.uint8 and channels in (1, 3, 4):
        return {1: "mono8", 3: "rgb8", 4: "rgba8"}[channels]
    if image.dtype == np.uint16 and channels == 1:
        return "16UC1"
    if image.dtype == np.float32 and channels == 1:
        return "32FC1"
    raise InputError(
        f"cannot infer an image encoding for a {image.dtype} array of shape {image.shape}; "
        "expected uint8 (H, W), (H, W, 3) or (H, W, 4), uint16 (H, W) or float32 (H, W)"
    )


def image_msg(
    types: MessageTypes, image: Array, encoding: str | None, header: HeaderMsg
) -> ImageMsg:
    """A ``sensor_msgs/Image`` holding ``image`` (little endian, unpadded rows; the
    encoding inferred when None, see :func:`infer_encoding`)."""
    enc = encoding or infer_encoding(image)
    step, data = array_to_image_fields(image, enc)
    return types.Image(
        header=header,
        height=int(image.shape[0]),
        width=int(image.shape[1]),
        encoding=enc,
        is_bigendian=0,
        step=step,
        data=types.uint8s(data),
    )


def image_to_numpy(msg: ImageMsg) -> Array:
    """The pixels of a ``sensor_msgs/Image`` as an array (a view when rows are unpadded)."""
    return image_to_array(
        str(msg.encoding),
        int(msg.height),
        int(msg.width),
        int(msg.step),
        msg.data,
        msg.is_bigendian,
    )


def float_image_to_numpy(msg: ImageMsg) -> NDArray[np.float32]:
    """The pixels of a ``32FC1`` image (depth in metres, confidence...) as float32 (H, W);
    InputError for another encoding."""
    if msg.encoding != "32FC1":
        raise InputError(f"expected a 32FC1 image, got encoding {msg.encoding!r}")
    return np.asarray(image_to_numpy(msg), dtype=np.float32)


def check_pixels(width: int, height: int, limit: int | None, what: str) -> None:
    """Refuse an image of more than ``limit`` pixels (None: no limit)."""
    if limit is not None and width * height > limit:
        raise InputError(
            f"{what} is {width}x{height} = {width * height} pixels, more than "
            f"max_image_pixels ({limit}); refused before decoding (raise max_image_pixels "
            "if this is intended)"
        )


def decode_compressed(msg: CompressedImageMsg, max_pixels: int | None = None) -> NDArray[np.uint8]:
    """jpeg/png ``sensor_msgs/CompressedImage`` → RGB uint8. The size is read from the
    header first: an image of more than ``max_pixels`` pixels is refused before it is
    decoded."""
    import cv2

    raw = np.frombuffer(msg.data, dtype=np.uint8)
    width, height, _ = compressed_size(raw.data)
    check_pixels(width, height, max_pixels, "compressed image")
    image = cv2.imdecode(raw, cv2.IMREAD_COLOR) if raw.size else None
    if image is None:
        raise InputError(f"cannot decode compressed image (format {msg.format!r})")
    return np.ascontiguousarray(image[:, :, ::-1])


def is_compressed(msg: ImageMsg | CompressedImageMsg) -> TypeIs[CompressedImageMsg]:
    """Whether ``msg`` is a CompressedImage: it has ``format`` and no ``encoding``."""
    return not hasattr(msg, "encoding") and hasattr(msg, "format")


def rgb_from_msg(
    msg: ImageMsg | CompressedImageMsg, max_pixels: int | None = None, what: str = "image"
) -> NDArray[np.uint8]:
    """An Image (any colour or mono encoding) or CompressedImage (see
    :func:`is_compressed`) as RGB uint8, refused beyond ``max_pixels`` before any
    conversion."""
    if is_compressed(msg):
        return decode_compressed(msg, max_pixels)
    check_pixels(int(msg.width), int(msg.height), max_pixels, what)
    return to_rgb8(image_to_numpy(msg), str(msg.encoding))


# ---------------------------------------------------------------- camera info


def _roi(types: MessageTypes, x: int = 0, y: int = 0, width: int = 0, height: int = 0) -> object:
    return types.RegionOfInterest(
        x_offset=x, y_offset=y, height=height, width=width, do_rectify=False
    )


def camera_info_msg(types: MessageTypes, camera: PinholeCamera, header: HeaderMsg) -> CameraInfoMsg:
    """A ``sensor_msgs/CameraInfo`` for ``camera`` (its frame is the header's; read back
    with :meth:`PinholeCamera.from_msg`)."""
    return types.CameraInfo(
        header=header,
        height=camera.height,
        width=camera.width,
        distortion_model=camera.distortion_model,
        d=types.float64s(camera.d),
        k=types.float64s(camera.k),
        r=types.float64s(camera.r),
        p=types.float64s(camera.p),
        binning_x=camera.binning_x,
        binning_y=camera.binning_y,
        roi=_roi(types),
    )


# ---------------------------------------------------------------- point clouds


def cloud_msg(types: MessageTypes, cloud: PackedCloud, header: HeaderMsg) -> PointCloudMsg:
    """A ``sensor_msgs/PointCloud2`` from a :class:`PackedCloud`."""
    return types.PointCloud2(
        header=header,
        height=cloud.height,
        width=cloud.width,
        fields=[
            types.PointField(name=f.name, offset=f.offset, datatype=f.datatype, count=f.count)
            for f in cloud.fields
        ],
        is_bigendian=cloud.is_bigendian,
        point_step=cloud.point_step,
        row_step=cloud.row_step,
        data=types.uint8s(bytes(cloud.data)),  # bytes(b) is b itself for bytes
        is_dense=cloud.is_dense,
    )


def points_dtype(
    fields: Iterable[PointFieldMsg], point_step: int, is_bigendian: bool = False
) -> np.dtype[np.void]:
    """The structured dtype of one point: a field per PointField (``count`` > 1: a
    sub-array), at its offset, in the cloud's byte order, ``point_step`` bytes long (as
    sensor_msgs_py's ``dtype_from_fields``). InputError on an unknown datatype, a field
    past ``point_step`` or a repeated name."""
    order = ">" if is_bigendian else "<"
    names: list[str] = []
    formats: list[DType] = []
    offsets: list[int] = []
    for f in fields:
        name, offset, datatype, count = str(f.name), int(f.offset), int(f.datatype), int(f.count)
        code = POINT_FIELD_TYPES.get(datatype)
        if code is None:
            raise InputError(
                f"PointCloud2 field {name!r} has datatype {datatype}; PointField datatypes "
                "are 1 (INT8) to 8 (FLOAT64)"
            )
        base = np.dtype(order + code)
        fmt = base if count == 1 else np.dtype((base, (count,)))
        if offset + fmt.itemsize > point_step:
            raise InputError(
                f"PointCloud2 field {name!r} (offset {offset}, {fmt.itemsize} bytes) ends past "
                f"point_step {point_step}"
            )
        if name in names:
            raise InputError(f"PointCloud2 has two fields named {name!r}")
        names.append(name)
        formats.append(fmt)
        offsets.append(offset)
    return np.dtype(
        {"names": names, "formats": formats, "offsets": offsets, "itemsize": point_step}
    )


def read_points(msg: PointsMsg) -> NDArray[np.void]:
    """The points of a ``sensor_msgs/PointCloud2`` (or a :class:`PackedCloud`) as a
    structured (height, width) array with one field per PointField (see
    :func:`points_dtype`): ``points["z"]`` is the (H, W) z of an organized cloud (NaN
    where depth_image_proc found none); an unorganized cloud is (1, N). Big-endian clouds
    are read in their own byte order (numpy converts on use). A read-only view on the
    message's data (padded rows included: ``row_step`` is the row stride), no copy."""
    height, width = int(msg.height), int(msg.width)
    step, row_step = int(msg.point_step), int(msg.row_step)
    dtype = points_dtype(msg.fields, step, bool(msg.is_bigendian))
    if height == 0 or width == 0:
        return np.empty((height, width), dtype)
    if row_step < width * step:
        raise InputError(
            f"PointCloud2 row_step {row_step} is smaller than width * point_step "
            f"({width} * {step} = {width * step})"
        )
    data = msg.data
    buf = (
        data.reshape(-1).view(np.uint8)
        if isinstance(data, np.ndarray)
        else np.frombuffer(data, np.uint8)
    )
    need = row_step * (height - 1) + width * step
    if buf.size < need:
        raise InputError(
            f"PointCloud2 data is truncated: {buf.size} bytes for {width}x{height} points "
            f"of {step} bytes with row_step {row_step} (need {need})"
        )
    points = np.ndarray((height, width), dtype, buffer=buf, strides=(row_step, step))
    points.flags.writeable = False
    return points


def points_xyz(points: NDArray[np.void]) -> NDArray[np.float32]:
    """(N, 3) float32 x, y, z of :func:`read_points`' result (NaN points kept)."""
    names = points.dtype.names or ()
    missing = [k for k in "xyz" if k not in names or points.dtype[k].shape != ()]
    if missing:
        raise InputError(
            f"point cloud needs scalar fields x, y and z; it has {', '.join(names) or 'none'}"
        )
    flat = points.reshape(-1)
    return np.stack([flat[k] for k in "xyz"], axis=1, dtype=np.float32)


def packed_from_msg(msg: PointsMsg) -> PackedCloud:
    """The core representation of a received ``sensor_msgs/PointCloud2`` (its data copied
    to bytes)."""
    return PackedCloud(
        height=int(msg.height),
        width=int(msg.width),
        fields=tuple(
            PointFieldSpec(str(f.name), int(f.offset), int(f.datatype), int(f.count))
            for f in msg.fields
        ),
        point_step=int(msg.point_step),
        row_step=int(msg.row_step),
        data=bytes(msg.data),
        is_dense=bool(msg.is_dense),
        is_bigendian=bool(msg.is_bigendian),
    )


# ---------------------------------------------------------------- disparity images


@dataclass(frozen=True)
class EncodedDisparity:
    """A disparity image as ``stereo_msgs/DisparityImage`` carries it (stereo_image_proc):
    ``values`` hold d + doffs (so that Z = f * T / value), invalid pixels hold
    ``min_disparity - 1``, the bounds are shifted by doffs too, and ``valid_window`` (x, y,
    width, height) bounds the valid pixels, within the region given ((0, 0, 0, 0) when
    there are none)."""

    values: NDArray[np.float32]
    min_disparity: float
    max_disparity: float
    valid_window: tuple[int, int, int, int]


def encode_disparity(
    disparity: NDArray[np.float32],
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    out: NDArray[np.float32] | None = None,
    region: Region | None = None,
) -> EncodedDisparity:
    """:class:`EncodedDisparity` of a matcher disparity (NaN invalid, the caller's array
    untouched), written into ``out`` (e.g. a message buffer) or a new array. ``region``:
    where disparities may be valid (:attr:`StereoResult.region`); ``valid_window`` stays
    inside it."""
    if disparity.ndim != 2:
        raise InputError(f"disparity must be an (H, W) array, got shape {disparity.shape}")
    values = np.empty(disparity.shape, np.float32) if out is None else out
    np.add(disparity, np.float32(geometry.doffs), out=values)
    lo = float(min_disparity) + geometry.doffs
    hi = float(max_disparity) + geometry.doffs
    invalid = ~np.isfinite(values)
    values[invalid] = np.float32(lo - 1.0)
    rows = np.flatnonzero(~invalid.all(axis=1))
    cols = np.flatnonzero(~invalid.all(axis=0))
    window = Region(0, 0, 0, 0)
    if rows.size and cols.size:
        window = Region(
            int(cols[0]),
            int(rows[0]),
            int(cols[-1] - cols[0] + 1),
            int(rows[-1] - rows[0] + 1),
        )
        if region is not None:
            window = window.intersect(region)
    return EncodedDisparity(values, lo, hi, window.as_tuple())


def disparity_fields(encoded: EncodedDisparity, geometry: StereoGeometry) -> dict[str, float | int]:
    """The scalar fields of the DisparityImage of ``encoded``, by (dotted) field name:
    ``f``, ``t``, ``min_disparity``, ``max_disparity``, ``delta_d`` and
    ``valid_window.{x_offset,y_offset,width,height}``."""
    x, y, width, height = encoded.valid_window
    return {
        "f": float(geometry.fx),
        "t": float(geometry.baseline),
        "min_disparity": encoded.min_disparity,
        "max_disparity": encoded.max_disparity,
        "delta_d": DELTA_D,
        "valid_window.x_offset": x,
        "valid_window.y_offset": y,
        "valid_window.width": width,
        "valid_window.height": height,
    }


def disparity_msg(
    types: MessageTypes,
    disparity: NDArray[np.float32],
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    header: HeaderMsg,
) -> DisparityImageMsg:
    """The ``stereo_msgs/DisparityImage`` of a matcher disparity (NaN invalid), as
    stereo_image_proc publishes it (see :func:`encode_disparity`); its image has the same
    header."""
    encoded = encode_disparity(disparity, geometry, min_disparity, max_disparity)
    scalars = {k: v for k, v in disparity_fields(encoded, geometry).items() if "." not in k}
    return types.DisparityImage(
        header=header,
        image=image_msg(types, encoded.values, "32FC1", header),
        valid_window=_roi(types, *encoded.valid_window),
        **scalars,
    )


def disparity_from_msg(msg: DisparityImageMsg, doffs: float = 0.0) -> NDArray[np.float32]:
    """Matcher disparity (NaN invalid: values below ``min_disparity``) back from a
    DisparityImage, undoing the doffs shift (``doffs=0`` keeps the message's own values,
    for which Z = f * T / value)."""
    if msg.image.encoding != "32FC1":
        raise InputError(f"disparity image encoding is {msg.image.encoding!r}; expected 32FC1")
    values = image_to_numpy(msg.image).astype(np.float32)
    out = values - np.float32(doffs) if doffs else values
    out[~(values >= msg.min_disparity)] = np.nan
    return out


def disparity_msg_geometry(msg: DisparityImageMsg) -> StereoGeometry:
    """The geometry for the message's own values: Z = f * T / value (doffs already in)."""
    geometry = StereoGeometry(fx=float(msg.f), baseline=abs(float(msg.t)))
    geometry.validate()
    return geometry


def depth_from_disparity_msg(msg: DisparityImageMsg) -> NDArray[np.float32]:
    """Depth (metres, NaN = none) of a DisparityImage."""
    return disparity_to_depth(disparity_from_msg(msg), disparity_msg_geometry(msg))
