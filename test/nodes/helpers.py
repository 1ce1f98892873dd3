"""Shared helpers of the node tests: start a node process, talk to it over DDS."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.srv import SetParameters
from rclpy.node import Node
from rclpy.parameter import Parameter

from depth_ros import processes

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"


def plugin_env() -> dict[str, str]:
    """The environment of a node process that can load the test-only oracle model
    (test/plugins/oracle_model.py)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        [str(PLUGINS), *filter(None, env.get("PYTHONPATH", "").split(os.pathsep))]
    )
    env["DEPTH_ROS_PLUGINS"] = "oracle_model"
    return env


@contextmanager
def node_process(
    name: str, tmp_path: Path, params: dict[str, object], namespace: str
) -> Iterator[Path]:
    """Run a node executable in its own process; yields its log file."""
    log = tmp_path / f"{name}.log"
    proc = processes.start(name, processes.ros_args(params, namespace=namespace), log=log)
    try:
        yield log
    finally:
        code = processes.stop(proc)
        assert code in (0, -2, 130), f"{name} exited with {code}:\n{log.read_text()[-3000:]}"


def wait_for(node: Node, predicate: Any, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return bool(predicate())


def spin_for(node: Node, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def set_params(node: Node, target: str, values: dict[str, Any], timeout: float = 10.0) -> list[Any]:
    """Call ``<target>/set_parameters``; returns the SetParametersResult list."""
    client = node.create_client(SetParameters, f"{target}/set_parameters")
    assert client.wait_for_service(timeout_sec=timeout), f"{target}/set_parameters not found"
    request = SetParameters.Request()
    request.parameters = [
        ParameterMsg(name=k, value=Parameter(k, value=v).get_parameter_value())
        for k, v in values.items()
    ]
    future = client.call_async(request)
    rclpy.spin_until_future_complete(node, future, timeout_sec=timeout)
    assert future.done(), "set_parameters timed out"
    node.destroy_client(client)
    return list(future.result().results)
