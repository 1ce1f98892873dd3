"""What the launch files in ``launch/`` share: declare the launch arguments of a node and,
once they are known, start the node (and its companions and rviz2) as
:func:`depth_ros.launch_plan.plan_launch` resolves them. ``launch``/``launch_ros`` are
imported when a description is built, so importing this module needs no ROS install.

With ``lifecycle:=true`` the managed node is started as a ``LifecycleNode`` and, with
``autostart:=true`` (the default), configured and then activated through launch_ros'
lifecycle events, as nav2's lifecycle manager would; ``autostart:=false`` leaves it
unconfigured for ``ros2 lifecycle set <node> configure`` / ``activate``.
"""

from __future__ import annotations

import tempfile
from typing import TYPE_CHECKING, Any

from depth_ros.core.errors import ConfigError
from depth_ros.launch_plan import (
    LaunchPlan,
    find_rviz_config,
    launch_arguments,
    plan_launch,
    rviz_config_text,
)

if TYPE_CHECKING:
    from launch.launch_description import LaunchDescription


def package_available(package: str) -> bool:
    """Whether ``package`` is installed in the ament index (as launch_ros looks it up)."""
    try:
        from ament_index_python.packages import get_package_prefix

        get_package_prefix(package)
    except Exception:  # PackageNotFoundError, or no AMENT_PREFIX_PATH at all
        return False
    return True


def _node_actions(plan: LaunchPlan) -> list[Any]:
    from launch_ros.actions import LifecycleNode, Node

    kwargs: dict[str, Any] = {
        "package": plan.package,
        "executable": plan.executable,
        "name": plan.name,
        "parameters": plan.parameters,
        "remappings": plan.remappings,
        "arguments": plan.arguments,
        "output": "screen",
        "emulate_tty": True,
    }
    if not plan.lifecycle:
        return [Node(namespace=plan.namespace or None, **kwargs)]
    node = LifecycleNode(namespace=plan.namespace or "", **kwargs)
    if not plan.autostart:
        return [node]
    from launch.actions import EmitEvent, RegisterEventHandler
    from launch.events import matches_action
    from launch_ros.event_handlers import OnStateTransition
    from launch_ros.events.lifecycle import ChangeState
    from lifecycle_msgs.msg import Transition

    def change(transition: int) -> Any:
        return EmitEvent(
            event=ChangeState(lifecycle_node_matcher=matches_action(node), transition_id=transition)
        )

    activate_when_inactive = RegisterEventHandler(
        OnStateTransition(
            target_lifecycle_node=node,
            start_state="configuring",
            goal_state="inactive",
            entities=[change(Transition.TRANSITION_ACTIVATE)],
        )
    )
    return [node, activate_when_inactive, change(Transition.TRANSITION_CONFIGURE)]


def _actions(node: str, context: Any) -> list[Any]:
    from launch.substitutions import LaunchConfiguration

    values = {a.name: LaunchConfiguration(a.name).perform(context) for a in launch_arguments(node)}
    plan = plan_launch(node, values)
    if plan.rviz and not package_available("rviz2"):
        # checked before anything starts: no node left running when rviz2 cannot start
        raise ConfigError(
            "rviz:=true but package 'rviz2' is not installed (apt install "
            "ros-$ROS_DISTRO-rviz2), or launch with rviz:=false; nothing was started"
        )
    actions = [a for p in (plan, *plan.companions) for a in _node_actions(p)]
    if plan.rviz:
        from launch_ros.actions import Node

        with tempfile.NamedTemporaryFile(
            "w", prefix="depth_ros_", suffix=".rviz", delete=False
        ) as f:
            f.write(rviz_config_text(plan.namespace, find_rviz_config(), plan.rviz_fixed_frame))
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


def generate(node: str) -> LaunchDescription:
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
