"""Pure core of depth_ros: no rclpy import anywhere below this package."""
