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
depth_ros.core.profiles.plan_launch.
"""

from __future__ import annotations

import tempfile

from launch.actions import DeclareLaunchArgument, OpaqueFunction
from launch.launch_description import LaunchDescription
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from depth_ros.core.profiles import (
    find_rviz_config,
    launch_arguments,
    plan_launch,
    rviz_config_text,
)

NODE = "fused_depth"


def _setup(context, *args, **kwargs):  # type: ignore[no-untyped-def]
    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in launch_arguments(NODE)}
    plan = plan_launch(NODE, values)
    actions = [
        Node(
            package=p.package,
            executable=p.executable,
            name=p.name,
            namespace=p.namespace or None,
            parameters=p.parameters,
            remappings=p.remappings,
            arguments=p.arguments,
            output="screen",
            emulate_tty=True,
        )
        for p in (plan, *plan.companions)
    ]
    if plan.rviz:
        rviz = str(find_rviz_config())
        if plan.namespace:
            with tempfile.NamedTemporaryFile(
                "w", prefix="depth_ros_", suffix=".rviz", delete=False
            ) as f:
                f.write(rviz_config_text(plan.namespace))
                rviz = f.name
        actions.append(
            Node(
                package="rviz2",
                executable="rviz2",
                name="rviz2",
                arguments=["-d", rviz],
                parameters=[{"use_sim_time": plan.overrides["use_sim_time"]}],
                output="screen",
            )
        )
    return actions


def generate_launch_description() -> LaunchDescription:
    declared = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
        for a in launch_arguments(NODE)
    ]
    return LaunchDescription([*declared, OpaqueFunction(function=_setup)])
