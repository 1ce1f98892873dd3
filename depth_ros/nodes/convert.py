"""rclpy's side of :mod:`depth_ros.core.messages`: its message classes as
:data:`ROS`, and the builders bound to them. Reading messages needs no binding: use
:mod:`depth_ros.core.messages` (``image_to_numpy``, ``rgb_from_msg``, ``read_points``...)."""

from __future__ import annotations

from typing import Any

import numpy as np
from builtin_interfaces.msg import Time
from numpy.typing import NDArray
from sensor_msgs.msg import CameraInfo, Image, PointCloud2, PointField, RegionOfInterest
from std_msgs.msg import Header
from stereo_msgs.msg import DisparityImage

from depth_ros.core import messages
from depth_ros.core.camera import PinholeCamera, StereoGeometry
from depth_ros.core.pointcloud import PackedCloud

# rclpy turns bytes into its array.array('B') in one copy; the float arrays take lists
ROS = messages.MessageTypes(
    Time=Time,
    Header=Header,
    Image=Image,
    CameraInfo=CameraInfo,
    RegionOfInterest=RegionOfInterest,
    PointField=PointField,
    PointCloud2=PointCloud2,
    DisparityImage=DisparityImage,
    uint8s=bytes,
    float64s=list,
)


def numpy_to_image(arr: NDArray[Any], encoding: str, header: Header) -> Image:
    """An Image holding ``arr`` in ``encoding``."""
    return messages.image_msg(ROS, arr, encoding, header)


def camera_info_msg(camera: PinholeCamera, header: Header) -> CameraInfo:
    """The CameraInfo of ``camera``, with ``header``."""
    return messages.camera_info_msg(ROS, camera, header)


def cloud_msg(cloud: PackedCloud, header: Header) -> PointCloud2:
    """The PointCloud2 of ``cloud``, with ``header``."""
    return messages.cloud_msg(ROS, cloud, header)


def disparity_msg(
    disparity: NDArray[np.float32],
    geometry: StereoGeometry,
    min_disparity: float,
    max_disparity: float,
    header: Header,
) -> DisparityImage:
    """The DisparityImage of a matcher disparity (NaN invalid), as stereo_image_proc
    publishes it (:func:`depth_ros.core.messages.encode_disparity`)."""
    return messages.disparity_msg(ROS, disparity, geometry, min_disparity, max_disparity, header)
