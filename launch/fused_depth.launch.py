"""Launch ``fused_depth`` (stereo + monocular) with a model profile (config/<model>.yaml).

    ros2 launch depth_ros fused_depth.launch.py camera:=/my_cam
    ros2 launch depth_ros fused_depth.launch.py model:=depth_anything_v2_vits \
        stereo_model:=sgbm weights_dir:=/path/to/weights
    ros2 launch depth_ros fused_depth.launch.py stereo_model:=bm rviz:=true use_sim_time:=true

The monocular model is ``model``, the stereo matcher ``stereo_model``.
Arguments (``ros2 launch depth_ros fused_depth.launch.py --show-args``): model, backend
(auto: from the weights file), weights, weights_dir, device, camera (namespace of the
input topics), use_sim_time, rviz, lifecycle (run fused_depth_lifecycle), params_file,
node_name, log_level, and one remapping per input topic (left_image_rect:=/cam/left/image,
...). The profile, weights and backend are resolved by depth_ros.core.profiles.plan_launch.
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
            package=plan.package,
            executable=plan.executable,
            name=plan.name,
            namespace=plan.namespace or None,
            parameters=plan.parameters,
            remappings=plan.remappings,
            arguments=plan.arguments,
            output="screen",
            emulate_tty=True,
        )
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
