"""depth_ros: depth from monocular and stereo cameras for ROS 2.

``depth_ros.core`` is pure Python (numpy, OpenCV, optional torch/onnxruntime) and never
imports rclpy; ``depth_ros.nodes`` are thin ROS 2 nodes over it; ``depth_ros.cli`` holds the
``depth-ros`` command.
"""

__version__ = "0.1.0"
