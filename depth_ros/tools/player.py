"""``player``: publishes a stereo sample (or any left/right arrays) as ROS 2 topics.

Stamps each pair with the current time, publishes ``left/image_rect``,
``left/camera_info``, ``right/image_rect``, ``right/camera_info`` at ``--rate`` Hz after
waiting for the subscribers to be matched, then exits. Used by ``depth-ros demo`` and the
benchmarks; run it yourself with ``python -m depth_ros.tools.player --sample motorcycle``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import rclpy
from numpy.typing import NDArray
from rclpy.node import Node
from sensor_msgs.msg import CameraInfo, Image
from std_msgs.msg import Header

from depth_ros.core.camera import PinholeCamera
from depth_ros.nodes.convert import camera_info_msg, numpy_to_image
from depth_ros.nodes.qos import qos_profile
from depth_ros.runtime import shm_segment_bytes


class StereoPlayer:
    """Publishers for one stereo camera; ``publish`` sends a pair with one stamp."""

    def __init__(
        self, node: Node, qos_name: str = "sensor_data", depth: int = 5, prefix: str = ""
    ) -> None:
        self.node = node
        q = qos_profile(qos_name, depth)
        # best effort: warn once when an image exceeds the shared-memory segment
        self._limit = shm_segment_bytes() if qos_name == "sensor_data" else None
        self._warned = False
        base = f"{prefix.rstrip('/')}/" if prefix else ""
        self.pubs = [
            node.create_publisher(Image, f"{base}left/image_rect", q),
            node.create_publisher(CameraInfo, f"{base}left/camera_info", q),
            node.create_publisher(Image, f"{base}right/image_rect", q),
            node.create_publisher(CameraInfo, f"{base}right/camera_info", q),
        ]

    def wait_for_subscribers(self, timeout: float = 30.0) -> bool:
        """Spin until every publisher has a subscriber (True) or ``timeout`` s pass (False)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if all(p.get_subscription_count() > 0 for p in self.pubs):
                return True
            rclpy.spin_once(self.node, timeout_sec=0.05)
        return False

    def publish(
        self,
        left: NDArray[np.uint8],
        right: NDArray[np.uint8],
        left_camera: PinholeCamera,
        right_camera: PinholeCamera,
        stamp: Any = None,
        encoding: str = "rgb8",
    ) -> Header:
        """Publish both images and camera infos of one stereo frame, stamped ``stamp`` (now when
        None); their header."""
        header = Header()
        header.stamp = stamp if stamp is not None else self.node.get_clock().now().to_msg()
        header.frame_id = left_camera.frame_id
        msgs = (
            numpy_to_image(left, encoding, header),
            camera_info_msg(left_camera, header),
            numpy_to_image(right, encoding, header),
            camera_info_msg(right_camera, header),
        )
        size = len(msgs[0].data)
        if self._limit is not None and size > self._limit and not self._warned:
            self._warned = True
            self.node.get_logger().warning(
                f"{size / 2**20:.1f} MiB images exceed the {self._limit / 2**20:.1f} MiB "
                "shared-memory segment of the Fast DDS profile: best-effort subscribers "
                "lose them silently; publish with reliable QoS or raise segment_size"
            )
        for pub, msg in zip(self.pubs, msgs, strict=True):
            pub.publish(msg)
        return header


def main(argv: Sequence[str] | None = None) -> int:
    """Publish a sample stereo pair ``--frames`` times at ``--rate``; the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sample", default="motorcycle")
    parser.add_argument("--frames", type=int, default=5)
    parser.add_argument("--rate", type=float, default=2.0, help="pairs per second")
    parser.add_argument("--qos", default="sensor_data", choices=("sensor_data", "reliable"))
    parser.add_argument("--wait", type=float, default=30.0, help="seconds to wait for subscribers")
    args, ros_args = parser.parse_known_args(argv)
    from depth_ros.core.eval.samples import load_sample

    sample = load_sample(args.sample)
    rclpy.init(args=["player", *ros_args])
    node = rclpy.create_node("player")
    try:
        player = StereoPlayer(node, args.qos)
        if not player.wait_for_subscribers(args.wait):
            node.get_logger().error(f"no subscriber matched within {args.wait:.0f} s")
            return 1
        time.sleep(0.5)  # let every endpoint finish matching
        period = 1.0 / args.rate
        for _ in range(args.frames):
            t0 = time.monotonic()
            player.publish(sample.left, sample.right, sample.left_camera, sample.right_camera)
            rclpy.spin_once(node, timeout_sec=0.0)
            time.sleep(max(0.0, period - (time.monotonic() - t0)))
        time.sleep(0.5)
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
