"""Thin ROS 2 nodes over :mod:`depth_ros.core`: messages, parameters, QoS and timing only."""
