"""rosbag2 reading and writing without ROS, with the ``rosbags`` library.

Bags are written as rosbag2 version 9 (the version Jazzy, Kilted and later write) in MCAP or
SQLite3 storage, with ROS 2 Kilted message definitions and RIHS01 type hashes, and an
offered QoS profile per topic in ``metadata.yaml`` (``ros2 bag play`` republishes with it).

Writing takes numpy arrays::

    with BagWriter("out_bag", storage="mcap") as bag:
        bag.write_image("/left/image_rect", stamp_ns, rgb, frame_id="camera")
        bag.write_camera_info("/left/camera_info", stamp_ns, camera)

Messages are built by :mod:`depth_ros.core.messages` with the type store's classes
(:func:`bag_types`). Reading yields ``(topic, timestamp_ns, msg)`` with deserialized
messages that have the same fields as rclpy's; :mod:`depth_ros.core.messages`' readers
(``image_to_numpy``, ``read_points``, ``disparity_from_msg``...) turn them into arrays.
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Final, Literal, NamedTuple

import numpy as np
from numpy.typing import NDArray

from depth_ros.core import messages
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.messages import MessageTypes
from depth_ros.core.pointcloud import PackedCloud

if TYPE_CHECKING:
    from rosbags.interfaces import Connection, Qos
    from rosbags.rosbag2 import Writer
    from rosbags.typesys.store import Typestore

STORAGE_FORMATS = ("mcap", "sqlite3")
BAG_VERSION: Final[Literal[9]] = 9

IMAGE = "sensor_msgs/msg/Image"
CAMERA_INFO = "sensor_msgs/msg/CameraInfo"
POINT_CLOUD2 = "sensor_msgs/msg/PointCloud2"
DISPARITY_IMAGE = "stereo_msgs/msg/DisparityImage"
CLOCK = "rosgraph_msgs/msg/Clock"

_INFINITE = (9223372036, 854775807)  # RMW_DURATION_INFINITE, as ros2 bag record writes it


@functools.lru_cache(maxsize=1)
def typestore() -> Typestore:
    """The ROS 2 Kilted type store (message classes, definitions and RIHS01 hashes)."""
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_KILTED)


def qos_profile(reliable: bool = True, depth: int = 10, transient_local: bool = False) -> Qos:
    """An offered QoS profile for metadata.yaml (default: reliable, volatile, keep last 10)."""
    from rosbags.interfaces import (
        Qos,
        QosDurability,
        QosHistory,
        QosLiveliness,
        QosReliability,
        QosTime,
    )

    inf = QosTime(*_INFINITE)
    return Qos(
        history=QosHistory.KEEP_LAST,
        depth=depth,
        reliability=QosReliability.RELIABLE if reliable else QosReliability.BEST_EFFORT,
        durability=QosDurability.TRANSIENT_LOCAL if transient_local else QosDurability.VOLATILE,
        deadline=inf,
        lifespan=inf,
        liveliness=QosLiveliness.AUTOMATIC,
        liveliness_lease_duration=inf,
        avoid_ros_namespace_conventions=False,
    )


# ---------------------------------------------------------------- message builders


def _uint8s(data: bytes) -> NDArray[np.uint8]:
    return np.frombuffer(data, dtype=np.uint8)


def _float64s(values: Sequence[float]) -> NDArray[np.float64]:
    return np.asarray(values, dtype=np.float64)


@functools.lru_cache(maxsize=1)
def bag_types() -> MessageTypes:
    """The Kilted type store's classes for :mod:`depth_ros.core.messages`' builders
    (``uint8[]`` and ``float64[]`` fields hold numpy arrays)."""
    types = typestore().types
    return MessageTypes(
        Time=types["builtin_interfaces/msg/Time"],
        Header=types["std_msgs/msg/Header"],
        Image=types[IMAGE],
        CameraInfo=types[CAMERA_INFO],
        RegionOfInterest=types["sensor_msgs/msg/RegionOfInterest"],
        PointField=types["sensor_msgs/msg/PointField"],
        PointCloud2=types[POINT_CLOUD2],
        DisparityImage=types[DISPARITY_IMAGE],
        uint8s=_uint8s,
        float64s=_float64s,
    )


def header(stamp_ns: int, frame_id: str = "") -> Any:
    """A ``std_msgs/Header`` (stamp >= 0 ns)."""
    return messages.header_msg(bag_types(), stamp_ns, frame_id)


def image_msg(
    image: NDArray[Any], stamp_ns: int, frame_id: str = "", encoding: str | None = None
) -> Any:
    """A ``sensor_msgs/Image`` holding ``image`` (encoding inferred if not given)."""
    return messages.image_msg(bag_types(), image, encoding, header(stamp_ns, frame_id))


def camera_info_msg(camera: PinholeCamera, stamp_ns: int, frame_id: str | None = None) -> Any:
    """A ``sensor_msgs/CameraInfo`` for ``camera`` (frame_id defaults to the camera's)."""
    frame = camera.frame_id if frame_id is None else frame_id
    return messages.camera_info_msg(bag_types(), camera, header(stamp_ns, frame))


def disparity_msg(
    disparity: NDArray[np.float32],
    stamp_ns: int,
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    frame_id: str = "",
) -> Any:
    """The ``stereo_msgs/DisparityImage`` of a matcher disparity (NaN invalid), as the
    stereo_depth node publishes it (:func:`depth_ros.core.messages.encode_disparity`)."""
    return messages.disparity_msg(
        bag_types(), disparity, geometry, min_disparity, max_disparity, header(stamp_ns, frame_id)
    )


def cloud_msg(cloud: PackedCloud, stamp_ns: int, frame_id: str = "") -> Any:
    """A ``sensor_msgs/PointCloud2`` from a :class:`PackedCloud`."""
    return messages.cloud_msg(bag_types(), cloud, header(stamp_ns, frame_id))


def clock_msg(stamp_ns: int) -> Any:
    """A ``rosgraph_msgs/Clock``."""
    return typestore().types[CLOCK](clock=messages.time_msg(bag_types(), stamp_ns))


# ---------------------------------------------------------------- writer


class BagWriter:
    """Write a rosbag2 (MCAP or SQLite3). Topics are added on first write, with ``qos``.

    ``overwrite=True`` replaces an existing bag directory (one holding metadata.yaml).
    """

    def __init__(
        self,
        path: str | Path,
        storage: str = "mcap",
        *,
        overwrite: bool = False,
        qos: Qos | None = None,
    ) -> None:
        if storage not in STORAGE_FORMATS:
            raise ConfigError(
                f"unknown bag storage {storage!r}; expected one of {', '.join(STORAGE_FORMATS)}"
            )
        self.path = Path(path)
        self.storage = storage
        self.qos = qos
        self._overwrite = overwrite
        self._writer: Writer | None = None
        self._connections: dict[str, Connection] = {}
        self.counts: dict[str, int] = {}

    def open(self) -> BagWriter:
        from rosbags.rosbag2 import StoragePlugin, Writer

        if self.path.exists():
            if not self._overwrite:
                raise InputError(
                    f"output bag {self.path} already exists (overwrite it with --force)"
                )
            if not (self.path.is_dir() and (self.path / "metadata.yaml").exists()):
                raise InputError(f"{self.path} exists and is not a rosbag2 directory; not removing")
            shutil.rmtree(self.path)
        plugin = StoragePlugin.MCAP if self.storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(self.path, version=BAG_VERSION, storage_plugin=plugin)
        self._writer.open()
        return self

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    def __enter__(self) -> BagWriter:
        return self.open()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def write(self, topic: str, msg: Any, timestamp_ns: int) -> None:
        """Write one message (built with the builders above, or any typestore message)."""
        if self._writer is None:
            raise InputError(f"bag {self.path} is not open for writing")
        msgtype = str(msg.__msgtype__)
        conn = self._connections.get(topic)
        if conn is None:
            conn = self._writer.add_connection(
                topic,
                msgtype,
                typestore=typestore(),
                offered_qos_profiles=[self.qos or qos_profile()],
            )
            self._connections[topic] = conn
            self.counts[topic] = 0
        elif conn.msgtype != msgtype:
            raise InputError(f"topic {topic} holds {conn.msgtype}, cannot write a {msgtype}")
        data = typestore().serialize_cdr(msg, msgtype)
        self._writer.write(conn, int(timestamp_ns), data)
        self.counts[topic] += 1

    def write_image(
        self,
        topic: str,
        stamp_ns: int,
        image: NDArray[Any],
        frame_id: str = "",
        encoding: str | None = None,
    ) -> None:
        self.write(topic, image_msg(image, stamp_ns, frame_id, encoding), stamp_ns)

    def write_depth(
        self, topic: str, stamp_ns: int, depth: NDArray[np.float32], frame_id: str = ""
    ) -> None:
        """A depth image in metres (32FC1, NaN = invalid)."""
        if depth.ndim != 2 or depth.dtype != np.float32:
            raise InputError(f"depth must be float32 (H, W), got {depth.dtype} {depth.shape}")
        self.write_image(topic, stamp_ns, depth, frame_id, "32FC1")

    def write_camera_info(
        self, topic: str, stamp_ns: int, camera: PinholeCamera, frame_id: str | None = None
    ) -> None:
        self.write(topic, camera_info_msg(camera, stamp_ns, frame_id), stamp_ns)

    def write_disparity(
        self,
        topic: str,
        stamp_ns: int,
        disparity: NDArray[np.float32],
        geometry: StereoGeometry,
        min_disparity: float,
        max_disparity: float,
        frame_id: str = "",
    ) -> None:
        """A matcher disparity (NaN invalid) as stereo_depth publishes it (see
        :func:`disparity_msg`)."""
        msg = disparity_msg(disparity, stamp_ns, geometry, min_disparity, max_disparity, frame_id)
        self.write(topic, msg, stamp_ns)

    def write_cloud(
        self, topic: str, stamp_ns: int, cloud: PackedCloud, frame_id: str = ""
    ) -> None:
        self.write(topic, cloud_msg(cloud, stamp_ns, frame_id), stamp_ns)

    def write_clock(self, stamp_ns: int, topic: str = "/clock") -> None:
        self.write(topic, clock_msg(stamp_ns), stamp_ns)


# ---------------------------------------------------------------- reader


class BagMessage(NamedTuple):
    topic: str
    timestamp_ns: int
    msg: Any


@dataclass(frozen=True)
class BagTopic:
    name: str
    msgtype: str
    count: int


@dataclass(frozen=True)
class BagInfo:
    """Topics by name, and the first and last message timestamps (ns)."""

    path: Path
    topics: dict[str, BagTopic]
    start_ns: int
    end_ns: int
    message_count: int


def _check_bag(path: str | Path) -> Path:
    """``path`` as a Path, or InputError saying in one line why it is no rosbag2 bag
    (missing, an empty folder, a folder without metadata.yaml)."""
    p = Path(path)
    if not p.exists():
        raise InputError(f"bag {p} does not exist")
    if p.is_dir():
        if not any(p.iterdir()):
            raise InputError(
                f"bag {p} is an empty folder (a rosbag2 bag is a folder with "
                "metadata.yaml and .mcap or .db3 files)"
            )
        if not (p / "metadata.yaml").is_file():
            files = ", ".join(sorted(f.name for f in p.iterdir())[:5])
            raise InputError(
                f"bag {p} has no metadata.yaml (it holds {files}): not a rosbag2 "
                "bag, or its metadata was lost (`ros2 bag reindex` rebuilds it)"
            )
    return p


def open_reader(path: str | Path, store: Typestore | None = None) -> Any:
    """An open rosbags ``AnyReader`` on ``path``; InputError in one line on a bag that
    cannot be read (see :func:`_check_bag`; truncated mcap, corrupt sqlite3...)."""
    from rosbags.highlevel import AnyReader

    p = _check_bag(path)
    try:
        reader = AnyReader([p], default_typestore=typestore() if store is None else store)
        reader.open()
    except Exception as exc:  # rosbags, sqlite3 and mcap raise their own error types
        text = str(exc).strip() or type(exc).__name__
        raise InputError(f"cannot read bag {p}: {text} (truncated or corrupt?)") from None
    return reader


def bag_info(path: str | Path) -> BagInfo:
    """Topics (type, message count) and time range of a bag."""
    p = _check_bag(path)
    reader = open_reader(p)
    try:
        topics = {
            name: BagTopic(name, str(info.msgtype), int(info.msgcount))
            for name, info in reader.topics.items()
        }
        count = int(reader.message_count)
        start = int(reader.start_time) if count else 0
        end = int(reader.end_time) - 1 if count else 0  # rosbags' end_time is exclusive
        return BagInfo(p, topics, start, end, count)
    finally:
        reader.close()


def read_messages(path: str | Path, topics: Iterable[str] | None = None) -> Iterator[BagMessage]:
    """Messages of ``topics`` (all if None) in time order as (topic, timestamp_ns, msg).

    Raises :class:`InputError` if a requested topic is not in the bag.
    """
    p = _check_bag(path)
    reader = open_reader(p)
    try:
        wanted = None if topics is None else list(topics)
        if wanted is not None:
            missing = [t for t in wanted if t not in reader.topics]
            if missing:
                raise InputError(
                    f"bag {p} has no topic {', '.join(missing)}; it has: "
                    f"{', '.join(sorted(reader.topics)) or '(none)'}"
                )
        conns = [c for c in reader.connections if wanted is None or c.topic in wanted]
        messages = reader.messages(connections=conns)
        while True:
            try:
                conn, timestamp, raw = next(messages)
                msg = reader.deserialize(raw, conn.msgtype)
            except StopIteration:
                return
            except Exception as exc:  # a corrupt chunk or record further in
                raise InputError(
                    f"cannot read bag {p}: {str(exc).strip() or type(exc).__name__} "
                    "(truncated or corrupt?)"
                ) from None
            yield BagMessage(conn.topic, int(timestamp), msg)
    finally:
        reader.close()
