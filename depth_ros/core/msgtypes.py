"""The ROS message fields the core reads and builds, as Protocols.

The core never imports a message library: its readers take anything with a message's
fields (rclpy's messages, the ``rosbags`` type store's dataclasses, the core's own
:class:`~depth_ros.core.pointcloud.PackedCloud`), and its builders
(:mod:`depth_ros.core.messages`) call the classes they are given. These Protocols name
what that means. Members are read-only properties, so a class whose field has a narrower
type (rosbags: ``data`` is a uint8 array, ``is_bigendian`` a bool) still matches. They are
runtime-checkable: ``isinstance(msg, ImageMsg)`` tells whether a deserialized message
(typed ``object``) has the fields.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Protocol, TypeAlias, TypeVar, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from depth_ros.core.arrays import Buffer

#: a ``float64[]`` / ``float64[N]`` field: a list or array.array (rclpy), an array (rosbags)
Floats = Iterable[float] | NDArray[np.float64]

_M = TypeVar("_M")

#: a message class, called with every field by keyword (``MessageClass[ImageMsg]``). Its
#: parameters have the library's own types (rosbags: its concrete dataclasses, which no
#: Protocol argument type can stand for: parameters are contravariant), so the arguments
#: are left open: this is the core's one explicit ``Any`` outside untyped libraries.
MessageClass: TypeAlias = Callable[..., _M]  # type: ignore[explicit-any]


@runtime_checkable
class TimeMsg(Protocol):
    """``builtin_interfaces/Time``."""

    @property
    def sec(self) -> int: ...
    @property
    def nanosec(self) -> int: ...


@runtime_checkable
class HeaderMsg(Protocol):
    """``std_msgs/Header``."""

    @property
    def stamp(self) -> TimeMsg: ...
    @property
    def frame_id(self) -> str: ...


@runtime_checkable
class StampedMsg(Protocol):
    """Any message with a header."""

    @property
    def header(self) -> HeaderMsg: ...


@runtime_checkable
class ImageMsg(StampedMsg, Protocol):
    """``sensor_msgs/Image``."""

    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def encoding(self) -> str: ...
    @property
    def is_bigendian(self) -> int: ...
    @property
    def step(self) -> int: ...
    @property
    def data(self) -> Buffer: ...


@runtime_checkable
class CompressedImageMsg(StampedMsg, Protocol):
    """``sensor_msgs/CompressedImage``."""

    @property
    def format(self) -> str: ...
    @property
    def data(self) -> Buffer: ...


@runtime_checkable
class RegionOfInterestMsg(Protocol):
    """``sensor_msgs/RegionOfInterest``."""

    @property
    def x_offset(self) -> int: ...
    @property
    def y_offset(self) -> int: ...
    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...


@runtime_checkable
class CameraInfoMsg(StampedMsg, Protocol):
    """``sensor_msgs/CameraInfo`` (the fields every reader needs; ``binning_*`` and
    ``roi`` are read where present)."""

    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def distortion_model(self) -> str: ...
    @property
    def d(self) -> Floats: ...
    @property
    def k(self) -> Floats: ...
    @property
    def r(self) -> Floats: ...
    @property
    def p(self) -> Floats: ...


@runtime_checkable
class PointFieldMsg(Protocol):
    """``sensor_msgs/PointField``."""

    @property
    def name(self) -> str: ...
    @property
    def offset(self) -> int: ...
    @property
    def datatype(self) -> int: ...
    @property
    def count(self) -> int: ...


@runtime_checkable
class PointsMsg(Protocol):
    """The point fields of a ``sensor_msgs/PointCloud2`` (its header aside): also what a
    :class:`~depth_ros.core.pointcloud.PackedCloud` has."""

    @property
    def height(self) -> int: ...
    @property
    def width(self) -> int: ...
    @property
    def fields(self) -> Sequence[PointFieldMsg]: ...
    @property
    def is_bigendian(self) -> bool: ...
    @property
    def point_step(self) -> int: ...
    @property
    def row_step(self) -> int: ...
    @property
    def data(self) -> Buffer: ...
    @property
    def is_dense(self) -> bool: ...


@runtime_checkable
class PointCloudMsg(PointsMsg, StampedMsg, Protocol):
    """``sensor_msgs/PointCloud2``."""


@runtime_checkable
class DisparityImageMsg(StampedMsg, Protocol):
    """``stereo_msgs/DisparityImage``."""

    @property
    def image(self) -> ImageMsg: ...
    @property
    def f(self) -> float: ...
    @property
    def t(self) -> float: ...
    @property
    def min_disparity(self) -> float: ...
    @property
    def max_disparity(self) -> float: ...
    @property
    def delta_d(self) -> float: ...
    @property
    def valid_window(self) -> RegionOfInterestMsg: ...


@runtime_checkable
class ClockMsg(Protocol):
    """``rosgraph_msgs/Clock``."""

    @property
    def clock(self) -> TimeMsg: ...
