"""Starting and stopping depth_ros node processes (as ``ros2 run`` would), no rclpy import."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from depth_ros.runtime import local_dds_env

NODE_MODULES = {
    "stereo_depth": "depth_ros.nodes.stereo_depth",
    "mono_depth": "depth_ros.nodes.mono_depth",
    "fused_depth": "depth_ros.nodes.fused_depth",
    "register_depth": "depth_ros.nodes.register_depth",
    "player": "depth_ros.nodes.player",
}


def _format(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value if value else "''"
    return repr(value)


def ros_args(
    params: Mapping[str, object] | None = None,
    remap: Mapping[str, str] | None = None,
    params_file: Path | None = None,
    namespace: str | None = None,
    log_level: str | None = None,
) -> list[str]:
    args = ["--ros-args"]
    if params_file is not None:
        args += ["--params-file", str(params_file)]
    for name, value in (params or {}).items():
        args += ["-p", f"{name}:={_format(value)}"]
    for src, dst in (remap or {}).items():
        args += ["-r", f"{src}:={dst}"]
    if namespace:
        args += ["-r", f"__ns:={namespace}"]
    if log_level:
        args += ["--log-level", log_level]
    return args


def start(
    node: str,
    args: Sequence[str] = (),
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
) -> subprocess.Popen[bytes]:
    """Start a node executable (by name, see NODE_MODULES) in its own process."""
    module = NODE_MODULES.get(node, node)
    full_env = local_dds_env(dict(os.environ if env is None else env))
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        [sys.executable, "-m", module, *args], env=dict(full_env), stdout=out,
        stderr=subprocess.STDOUT, start_new_session=True,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGINT (as Ctrl-C in ros2 run), then SIGKILL if it does not exit."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return int(proc.returncode)
