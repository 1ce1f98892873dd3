"""rosbag2 bags (sqlite3 or mcap), read with the ``rosbags`` library: no ROS needed.

A colour ``sensor_msgs/msg/Image`` topic is paired with a reference depth Image topic
(``16UC1``/``mono16`` in millimetres, or ``32FC1`` in metres) by nearest header stamp
(within ``max_dt`` seconds, default 0.02); intrinsics come from the first
``sensor_msgs/msg/CameraInfo`` on ``info_topic``. Options ``image_topic``,
``depth_topic`` and ``info_topic`` choose the topics; by default the Image topic whose
name contains "depth" is the reference, the other Image topic the input, and the
CameraInfo topic next to the input image (``.../camera_info``) the intrinsics.
Messages are read lazily, one frame at a time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from depth_ros.core.camera import PinholeCamera
from depth_ros.core.cdr import read_stamp
from depth_ros.core.encodings import to_rgb8
from depth_ros.core.errors import ConfigError, InputError
from depth_ros.core.eval.datasets import register_dataset
from depth_ros.core.eval.datasets.base import (
    Dataset,
    DatasetSpec,
    Frame,
    Modality,
    Options,
    RGBDFrame,
    float_option,
)
from depth_ros.core.messages import image_to_numpy

IMAGE = "sensor_msgs/msg/Image"
INFO = "sensor_msgs/msg/CameraInfo"


def _reader(path: Path) -> Any:
    from rosbags.typesys import Stores, get_typestore

    from depth_ros.core.bags import open_reader

    return open_reader(path, get_typestore(Stores.ROS2_HUMBLE))


def _stamp(raw: bytes | memoryview) -> float:
    """Header stamp (seconds) of a CDR-serialised message starting with std_msgs/Header."""
    sec, nanosec = read_stamp(raw)
    return float(sec) + float(nanosec) * 1e-9


def _pick(topics: Sequence[str], want: str | None, depth: bool, what: str) -> str:
    if want is not None:
        if want not in topics:
            raise ConfigError(
                f"{what} topic {want!r} is not an Image topic of the bag; "
                f"Image topics: {', '.join(topics) or '(none)'}"
            )
        return want
    cands = [t for t in topics if ("depth" in t.lower()) == depth]
    if len(cands) != 1:
        raise ConfigError(
            f"cannot tell which Image topic is the {what} ({', '.join(cands) or 'none'} "
            f"found); give dataset option {what}_topic=..."
        )
    return cands[0]


def _read_at(path: Path, topic: str, bag_time: int) -> Any:
    reader = _reader(path)
    try:
        conns = [c for c in reader.connections if c.topic == topic]
        for conn, _, raw in reader.messages(conns, start=bag_time, stop=bag_time + 1):
            return reader.deserialize(raw, conn.msgtype)
    finally:
        reader.close()
    raise InputError(f"{path}: message of {topic} at {bag_time} ns vanished")


def _load(
    path: Path,
    image_topic: str,
    t_img: int,
    depth_topic: str,
    t_depth: int,
    camera: PinholeCamera | None,
    scale: float,
    name: str,
) -> Frame:
    img_msg = _read_at(path, image_topic, t_img)
    dep_msg = _read_at(path, depth_topic, t_depth)
    rgb = np.ascontiguousarray(to_rgb8(image_to_numpy(img_msg), str(img_msg.encoding)))
    raw = image_to_numpy(dep_msg)
    if raw.ndim != 2:
        raise InputError(
            f"{depth_topic}: depth encoding {dep_msg.encoding!r} is not single "
            "channel; expected 16UC1/mono16 (mm) or 32FC1 (m)"
        )
    depth = raw.astype(np.float32) / np.float32(1.0 if raw.dtype.kind == "f" else scale)
    depth[~(depth > 0) | ~np.isfinite(depth)] = np.nan
    if depth.shape != rgb.shape[:2]:
        raise InputError(
            f"{name}: depth {depth.shape} and image {rgb.shape[:2]} sizes differ;"
            " the reference depth must be registered to the image"
        )
    cam = camera
    if cam is not None and (cam.width, cam.height) != (rgb.shape[1], rgb.shape[0]):
        cam = cam.scaled(rgb.shape[1], rgb.shape[0])
    return RGBDFrame(name, rgb, depth, cam)


def open_rosbag(path: Path, options: Options) -> Dataset:
    reader = _reader(path)
    try:
        image_topics = sorted({c.topic for c in reader.connections if c.msgtype == IMAGE})
        info_topics = sorted({c.topic for c in reader.connections if c.msgtype == INFO})
        image_topic = _pick(image_topics, options.get("image_topic"), False, "image")
        depth_topic = _pick(image_topics, options.get("depth_topic"), True, "depth")
        info_topic = options.get("info_topic")
        if info_topic is None:
            sibling = image_topic.rsplit("/", 1)[0] + "/camera_info"
            info_topic = sibling if sibling in info_topics else None
        elif info_topic not in info_topics:
            raise ConfigError(
                f"info_topic {info_topic!r} is not a CameraInfo topic of the bag;"
                f" CameraInfo topics: {', '.join(info_topics) or '(none)'}"
            )
        stamps: dict[str, list[tuple[float, int]]] = {image_topic: [], depth_topic: []}
        camera: PinholeCamera | None = None
        wanted = [c for c in reader.connections if c.topic in stamps or (c.topic == info_topic)]
        for conn, bag_time, raw in reader.messages(wanted):
            if conn.topic == info_topic:
                if camera is None:
                    camera = PinholeCamera.from_msg(reader.deserialize(raw, conn.msgtype))
            else:
                stamps[conn.topic].append((_stamp(raw), int(bag_time)))
    finally:
        reader.close()
    max_dt = float_option(options, "max_dt", 0.02)
    scale = float_option(options, "depth_scale", 1000.0)
    depth_list = sorted(stamps[depth_topic])
    d_t = np.array([t for t, _ in depth_list])
    names: list[str] = []
    loaders: list[Callable[[], Frame]] = []
    used: set[int] = set()
    for i, (t, bag_t) in enumerate(sorted(stamps[image_topic])):
        if d_t.size == 0:
            break
        j = int(np.argmin(np.abs(d_t - t)))
        if abs(d_t[j] - t) > max_dt or j in used:
            continue
        used.add(j)
        name = f"{i:05d}_{t:.6f}"
        names.append(name)
        loaders.append(
            partial(
                _load, path, image_topic, bag_t, depth_topic, depth_list[j][1], camera, scale, name
            )
        )
    return Dataset(
        "rosbag2",
        str(path),
        Modality.RGBD,
        names,
        loaders,
        SPEC.description,
        float_option(options, "max_depth", 0.0) or None,
        [f"image {image_topic}, depth {depth_topic}, camera_info {info_topic}"],
    )


SPEC = register_dataset(
    DatasetSpec(
        "rosbag2",
        Modality.RGBD,
        "rosbag2 bag: colour Image + reference depth Image (+ CameraInfo)",
        open_rosbag,
        options=("image_topic", "depth_topic", "info_topic", "max_dt", "depth_scale", "max_depth"),
    )
)
