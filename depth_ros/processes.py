"""Starting and stopping depth_ros node processes (as ``ros2 run`` would), no rclpy import."""

from __future__ import annotations

import os
import signal
import site
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
    "player": "depth_ros.tools.player",
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
    """The ``--ros-args`` of a node process: parameters, remappings, a params file, namespace, log
    level."""
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
    full_env = child_env(local_dds_env(dict(os.environ if env is None else env)))
    out = open(log, "wb") if log is not None else subprocess.DEVNULL  # noqa: SIM115
    return subprocess.Popen(
        python_command(module, *args),
        env=full_env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def python_command(module: str, *args: str) -> list[str]:
    """``python -P -m module args``: ``-P`` keeps the current folder off the module path,
    so that a stray ``rclpy.py`` (or ``numpy.py``...) where the user stands is never
    imported by a node process."""
    return [sys.executable, "-P", "-m", module, *args]


def child_env(env: Mapping[str, str]) -> dict[str, str]:
    """``env`` with the folder this ``depth_ros`` was imported from on ``PYTHONPATH``
    (explicitly, by its absolute path) when it is not an installed package: a source
    checkout then runs its own code in the child, without the current folder on the path."""
    out = dict(env)
    root = str(Path(__file__).resolve().parents[1])
    if root not in {str(Path(p).resolve()) for p in site.getsitepackages() if p}:
        paths = [p for p in out.get("PYTHONPATH", "").split(os.pathsep) if p]
        if root not in paths:
            out["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return out


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
