"""What the launch files in ``launch/`` share: declare the launch arguments of a node and,
once they are known, start the node (and its companions and rviz2) as
:func:`depth_ros.core.profiles.plan_launch` resolves them. ``launch``/``launch_ros`` are
imported when a description is built, so importing this module needs no ROS install.
"""

from __future__ import annotations

import tempfile
from typing import Any

from depth_ros.core.profiles import (
    find_rviz_config,
    launch_arguments,
    plan_launch,
    rviz_config_text,
)


def _actions(node: str, context: Any) -> list[Any]:
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in launch_arguments(node)}
    plan = plan_launch(node, values)
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


def generate(node: str) -> Any:
    """The LaunchDescription of ``<node>.launch.py``."""
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.launch_description import LaunchDescription

    declared = [
        DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
        for a in launch_arguments(node)
    ]
    return LaunchDescription(
        [*declared, OpaqueFunction(function=lambda context: _actions(node, context))]
    )
