"""Shared helpers of the node tests: start a node process, talk to it over DDS.

:func:`node_process` is the one way the tests run a node: it starts the executable with
its parameters, namespace, remappings and log file, yields a :class:`NodeProcess`, and
on leaving stops it (SIGINT, as Ctrl-C in ``ros2 run``) and checks that it exited
cleanly, showing the end of its log otherwise. :meth:`NodeProcess.wait` spins the test's
node until a condition holds, failing at once, with the log, when the process has died.

Waits are for a condition with a deadline (:func:`wait_for`, :meth:`NodeProcess.wait`),
never a fixed sleep before an assertion; :func:`spin_for` is only for pacing what the test
itself publishes.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import SetParametersResult
from rcl_interfaces.srv import SetParameters
from rclpy.client import Client
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Header

from depth_ros import processes
from depth_ros.core.params import Value

PLUGINS = Path(__file__).resolve().parents[1] / "plugins"
#: exit codes of a node stopped by SIGINT: 0 (rclpy's handler), or killed by the signal
CLEAN_EXIT = (0, -2, 130)
LOG_TAIL = 3000  # characters of a log shown in a failure message


def plugin_env() -> dict[str, str]:
    """The environment of a node process that can load the test-only oracle model
    (test/plugins/oracle_model.py)."""
    return {**os.environ, **_plugin_vars(None)}


class NodeProcess:
    """A node executable running in its own process, writing ``log``."""

    def __init__(self, name: str, log: Path, proc: subprocess.Popen[bytes]) -> None:
        self.name, self.log, self.proc = name, log, proc

    def text(self, tail: int | None = LOG_TAIL) -> str:
        """The log (its last ``tail`` characters; None: all of it)."""
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return text if tail is None else text[-tail:]

    def alive(self) -> bool:
        """Whether the process is still running."""
        return self.proc.poll() is None

    def report(self) -> str:
        """The process's state and the end of its log, for a failure message."""
        state = "running" if self.alive() else f"exited with {self.proc.returncode}"
        return f"{self.name} ({state}); log {self.log}:\n{self.text()}"

    def wait(
        self, node: Node, condition: Callable[[], bool], timeout: float, what: str = ""
    ) -> None:
        """Spin ``node`` until ``condition()`` holds; AssertionError with the log when the
        process exits first or ``timeout`` seconds pass (``what`` names the condition)."""
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.alive(), f"{self.report()}\nwhile waiting for {what or 'a condition'}"
            assert time.monotonic() < deadline, (
                f"{what or 'condition'} not met within {timeout:g} s: {self.report()}"
            )
            rclpy.spin_once(node, timeout_sec=0.05)

    def stop(self, exit_codes: Collection[int] | None = CLEAN_EXIT) -> int:
        """Stop the process (SIGINT, then SIGKILL); its exit code, checked to be one of
        ``exit_codes`` (None: not checked)."""
        code = processes.stop(self.proc)
        assert exit_codes is None or code in exit_codes, f"{self.report()}"
        return code


@contextmanager
def node_process(
    name: str,
    log: Path,
    params: Mapping[str, object] | None = None,
    namespace: str | None = None,
    *,
    remap: Mapping[str, str] | None = None,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    plugins: bool = False,
    exit_codes: Collection[int] | None = CLEAN_EXIT,
) -> Iterator[NodeProcess]:
    """Run node executable ``name`` (see ``depth_ros.processes.NODE_MODULES``) in its own
    process with ``params``, ``namespace`` and ``remap``, extra command-line ``args``
    (``--lifecycle``) before the ROS arguments, ``env`` (default: this process's) and,
    with ``plugins``, the test-only oracle model; writing ``log``. Stopped on leaving, its
    exit code checked against ``exit_codes``; an error inside the block prints the log."""
    ros_args = processes.ros_args(params, remap=remap, namespace=namespace)
    environ: Mapping[str, str] | None = env
    if plugins:
        environ = {**(os.environ if env is None else env), **_plugin_vars(env)}
    running = NodeProcess(name, log, processes.start(name, [*args, *ros_args], environ, log))
    try:
        yield running
    except BaseException:
        print(running.report())  # shown by pytest with the failure
        running.stop(exit_codes=None)
        raise
    running.stop(exit_codes)


def publish_until(
    node: Node,
    procs: Sequence[NodeProcess],
    publish: Callable[[], object],
    answered: Callable[[], bool],
    timeout: float = 60.0,
    every: float = 2.0,
    what: str = "an answer",
) -> None:
    """Call ``publish()`` and spin ``node`` until ``answered()``; publish again every
    ``every`` seconds while not (a best-effort message sent while the endpoints were still
    matching is lost). AssertionError with the logs when one of ``procs`` exits or after
    ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        publish()
        again = min(time.monotonic() + every, deadline)
        while not answered():
            for p in procs:
                assert p.alive(), f"{p.report()}\nwhile waiting for {what}"
            if time.monotonic() > again:
                break
            rclpy.spin_once(node, timeout_sec=0.05)
        else:
            return
        logs = "\n".join(p.report() for p in procs)
        assert time.monotonic() < deadline, f"no {what} within {timeout:g} s:\n{logs}"


def send_until(
    node: Node,
    procs: Sequence[NodeProcess],
    publish: Callable[[], Header],
    answered: Callable[[int], bool],
    timeout: float = 60.0,
    every: float = 2.0,
    what: str = "an answer",
) -> int:
    """:func:`publish_until` for a stamped frame: ``publish()`` sends one and returns its
    header; ``answered(stamp)`` tells whether the frame of ``stamp`` has been answered.
    The stamp of the (first) frame answered."""
    sent: list[int] = []
    publish_until(
        node,
        procs,
        lambda: sent.append(stamp_ns(publish())),
        lambda: any(answered(s) for s in sent),
        timeout,
        every,
        what,
    )
    return next(s for s in sent if answered(s))


def publisher_of(node: Node, topic: str, namespace: str) -> bool:
    """Whether a node in ``namespace`` publishes ``topic`` (as ``node`` sees the graph)."""
    return any(i.node_namespace == namespace for i in node.get_publishers_info_by_topic(topic))


def _plugin_vars(env: Mapping[str, str] | None) -> dict[str, str]:
    base = dict(os.environ if env is None else env)
    paths = [str(PLUGINS), *filter(None, base.get("PYTHONPATH", "").split(os.pathsep))]
    return {"PYTHONPATH": os.pathsep.join(paths), "DEPTH_ROS_PLUGINS": "oracle_model"}


def wait_for(node: Node, predicate: Callable[[], object], timeout: float) -> bool:
    """Spin ``node`` until ``predicate()`` is true or ``timeout`` seconds pass; whether it
    became true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        rclpy.spin_once(node, timeout_sec=0.05)
    return bool(predicate())


def stamp_ns(header: Header) -> int:
    """A header's stamp in nanoseconds (as ``Collector`` records them)."""
    return int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)


def spin_for(node: Node, seconds: float) -> None:
    """Spin ``node`` for ``seconds``: pacing between messages the test publishes (not a
    wait for the node under test: use :func:`wait_for`)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        rclpy.spin_once(node, timeout_sec=0.05)


def set_params(
    node: Node, target: str, values: Mapping[str, Value], timeout: float = 10.0
) -> list[SetParametersResult]:
    """Call ``<target>/set_parameters``; returns the SetParametersResult list."""
    client: Client[Any, Any] = node.create_client(SetParameters, f"{target}/set_parameters")
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
    result = future.result()
    assert result is not None, "set_parameters gave no result"
    return list(result.results)
