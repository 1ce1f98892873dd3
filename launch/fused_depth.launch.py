"""Launch ``fused_depth`` (stereo + monocular) with a model profile (config/<model>.yaml).

    ros2 launch depth_ros fused_depth.launch.py camera:=/my_cam
    ros2 launch depth_ros fused_depth.launch.py model:=depth_anything_v2_vits \
        stereo_model:=sgbm weights_dir:=/path/to/weights
    ros2 launch depth_ros fused_depth.launch.py stereo_model:=bm rviz:=true use_sim_time:=true

Starts ``stereo_depth`` (matcher ``stereo_model``; its outputs under ``stereo/``) and
``fused_depth`` (monocular ``model``), which reads the left image and ``stereo/disparity``
and publishes the fused ``depth``, ``points`` and ``depth/confidence``.
Arguments (``ros2 launch depth_ros fused_depth.launch.py --show-args``): model, backend
(auto: from the weights file), weights, weights_dir, device, camera (namespace of the
input topics), use_sim_time, rviz, lifecycle (run fused_depth_lifecycle), params_file,
node_name, log_level, stereo_model, and one remapping per input of fused_depth (image,
camera_info, disparity). The profile, weights and backend are resolved by
depth_ros.launch_plan.plan_launch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from depth_ros.launch_description import generate

if TYPE_CHECKING:
    from launch import LaunchDescription


def generate_launch_description() -> LaunchDescription:
    return generate("fused_depth")
