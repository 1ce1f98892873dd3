"""Large outgoing messages serialized in place: CDR bytes whose arrays are numpy views.

Publishing a multi-megabyte ``sensor_msgs/Image`` or ``PointCloud2`` from Python copies
its data four times (``tobytes``, the message setter, rclpy's conversion to C, the
middleware's serialization). A :class:`CdrMessage` is the serialized message itself
(XCDR1, little endian, as every ROS 2 middleware writes it): its layout is computed once
for a frame id and size, the pipeline writes pixels and points straight into it through
numpy views, and per frame only the stamp and a few scalars change. The buffer goes to
the middleware as it is (``rcl_publish_serialized_message``, see
:mod:`depth_ros.nodes.serialized`); the bytes are the ones rclpy's own serializer writes
(tested against it and against the ``rosbags`` serializer).

Pure Python and numpy: usable (and tested) without ROS.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from typing import TypeAlias, TypeVar

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.camera import StereoGeometry
from depth_ros.core.errors import InputError
from depth_ros.core.messages import EncodedDisparity, disparity_fields, encode_disparity
from depth_ros.core.pointcloud import PointFieldSpec
from depth_ros.core.region import Region

ENCAPSULATION = b"\x00\x01\x00\x00"  # CDR, little endian, no options
_START = len(ENCAPSULATION)  # alignment counts from the end of the encapsulation header

#: what one slot holds (``struct`` formats I i f B ?: bool is an int)
Scalar: TypeAlias = int | float
_S = TypeVar("_S", bound="np.generic[object]")


class CdrMessage:
    """A message laid out once (:meth:`put`, :meth:`string`, :meth:`header`,
    :meth:`block`), then filled in many times (:meth:`set`, :meth:`stamp`,
    :meth:`array`). Slots and blocks are named; a slot holds one primitive."""

    def __init__(self) -> None:
        self.data = bytearray(ENCAPSULATION)
        self._slots: dict[str, tuple[int, str]] = {}
        self._blocks: dict[str, tuple[int, int]] = {}
        self._headers: list[str] = []

    # -- layout ------------------------------------------------------------------------
    def _align(self, size: int) -> None:
        pad = -(len(self.data) - _START) % size
        self.data.extend(bytes(pad))

    def put(self, fmt: str, value: Scalar = 0, name: str | None = None) -> None:
        """Append one primitive (``struct`` format letter: I i f B ?), aligned to its size."""
        size = struct.calcsize(fmt)
        self._align(size)
        if name is not None:
            self._slots[name] = (len(self.data), "<" + fmt)
        self.data.extend(struct.pack("<" + fmt, value))

    def string(self, text: str) -> None:
        """Append a CDR string: its length with the terminating NUL, then the bytes."""
        raw = text.encode() + b"\0"
        self.put("I", len(raw))
        self.data.extend(raw)

    def header(self, frame_id: str, name: str = "header") -> None:
        """``std_msgs/Header``; its stamp is set with :meth:`stamp`."""
        self.put("i", 0, f"{name}.sec")
        self.put("I", 0, f"{name}.nanosec")
        self.string(frame_id)
        self._headers.append(name)

    def block(self, nbytes: int, name: str) -> None:
        """A ``uint8[]`` of ``nbytes`` (zeroed), filled later through :meth:`array`."""
        self.put("I", nbytes)
        self._blocks[name] = (len(self.data), nbytes)
        self.data.extend(bytes(nbytes))

    # -- filling in --------------------------------------------------------------------
    def set(self, name: str, value: Scalar) -> None:
        """Write slot ``name``."""
        offset, fmt = self._slots[name]
        struct.pack_into(fmt, self.data, offset, value)

    def get(self, name: str) -> Scalar:
        """Read slot ``name``."""
        offset, fmt = self._slots[name]
        value: Scalar = struct.unpack_from(fmt, self.data, offset)[0]
        return value

    def stamp(self, sec: int, nanosec: int) -> None:
        """Set the stamp of every header in the message (outer and nested)."""
        for name in self._headers:
            self.set(f"{name}.sec", sec)
            self.set(f"{name}.nanosec", nanosec)

    def array(self, name: str, dtype: type[_S], shape: Sequence[int]) -> NDArray[_S]:
        """A writable numpy view on block ``name`` (no copy)."""
        offset, nbytes = self._blocks[name]
        dt = np.dtype(dtype)
        return np.frombuffer(self.data, dt, nbytes // dt.itemsize, offset).reshape(shape)

    def __bytes__(self) -> bytes:
        return bytes(self.data)


def _image(
    msg: CdrMessage, prefix: str, frame_id: str, height: int, width: int, encoding: str, step: int
) -> None:
    msg.header(frame_id, f"{prefix}header")
    msg.put("I", height)
    msg.put("I", width)
    msg.string(encoding)
    msg.put("B", 0)  # is_bigendian
    msg.put("I", step)
    msg.block(step * height, f"{prefix}data")


def image(frame_id: str, height: int, width: int, encoding: str, step: int) -> CdrMessage:
    """``sensor_msgs/Image``; pixels in block ``data``."""
    msg = CdrMessage()
    _image(msg, "", frame_id, height, width, encoding, step)
    return msg


def disparity_image(frame_id: str, height: int, width: int) -> CdrMessage:
    """``stereo_msgs/DisparityImage`` with a 32FC1 image (block ``image.data``) and slots
    ``f``, ``t``, ``valid_window.{x_offset,y_offset,height,width}``, ``min_disparity``,
    ``max_disparity``, ``delta_d``."""
    msg = CdrMessage()
    msg.header(frame_id)
    _image(msg, "image.", frame_id, height, width, "32FC1", 4 * width)
    msg.put("f", 0.0, "f")
    msg.put("f", 0.0, "t")
    for key in ("x_offset", "y_offset", "height", "width"):
        msg.put("I", 0, f"valid_window.{key}")
    msg.put("?", False, "valid_window.do_rectify")
    msg.put("f", 0.0, "min_disparity")
    msg.put("f", 0.0, "max_disparity")
    msg.put("f", 0.0, "delta_d")
    return msg


def write_disparity(
    msg: CdrMessage,
    disparity: NDArray[np.float32],
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    region: Region | None = None,
) -> EncodedDisparity:
    """Encode a matcher disparity (NaN invalid) into a :func:`disparity_image` message of
    its size: values straight into ``image.data``, the scalars from
    :func:`depth_ros.core.messages.disparity_fields` (the encoder message objects use);
    ``region`` as :func:`~depth_ros.core.messages.encode_disparity`."""
    h, w = disparity.shape
    out = msg.array("image.data", np.float32, (h, w))
    encoded = encode_disparity(
        disparity, geometry, min_disparity, max_disparity, out=out, region=region
    )
    for key, value in disparity_fields(encoded, geometry).items():
        msg.set(key, value)
    return encoded


def point_cloud(
    frame_id: str, height: int, width: int, fields: Sequence[PointFieldSpec], point_step: int
) -> CdrMessage:
    """``sensor_msgs/PointCloud2`` (little endian); points in block ``data``, slot
    ``is_dense``."""
    msg = CdrMessage()
    msg.header(frame_id)
    msg.put("I", height)
    msg.put("I", width)
    msg.put("I", len(fields))
    for field in fields:
        msg.string(field.name)
        msg.put("I", field.offset)
        msg.put("B", field.datatype)
        msg.put("I", field.count)
    msg.put("?", False)  # is_bigendian
    msg.put("I", point_step)
    msg.put("I", point_step * width)
    msg.block(point_step * width * height, "data")
    msg.put("?", False, "is_dense")
    return msg


def read_stamp(raw: bytes | memoryview) -> tuple[int, int]:
    """(sec, nanosec) of a serialized message that starts with a ``std_msgs/Header``
    (either byte order, as its encapsulation header says)."""
    if len(raw) < _START + 8:
        raise InputError(f"serialized message of {len(raw)} bytes has no header stamp")
    little = bytes(raw[1:2]) in (b"\x01", b"\x03")
    sec, nanosec = struct.unpack("<iI" if little else ">iI", bytes(raw[_START : _START + 8]))
    return int(sec), int(nanosec)
