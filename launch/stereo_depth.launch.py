"""Launch ``stereo_depth`` with a model profile (config/<model>.yaml).

    ros2 launch depth_ros stereo_depth.launch.py camera:=/my_cam
    ros2 launch depth_ros stereo_depth.launch.py model:=hitnet weights_dir:=/path/to/weights
    ros2 launch depth_ros stereo_depth.launch.py model:=bm rviz:=true use_sim_time:=true

Arguments (``ros2 launch depth_ros stereo_depth.launch.py --show-args``): model, backend
(auto: from the weights file), weights, weights_dir, device, camera (namespace of the
input topics), use_sim_time, rviz, lifecycle (run stereo_depth_lifecycle), params_file,
node_name, log_level, and one remapping per input topic (left_image_rect:=/cam/left/image,
...). The profile, weights and backend are resolved by depth_ros.launch_plan.plan_launch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from depth_ros.launch_description import generate

if TYPE_CHECKING:
    from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    return generate("stereo_depth")
