"""Launch planning: the launch arguments of each depth node, the checked plan the launch
files turn into ``Node`` actions (:func:`plan_launch`), and the rviz config rewritten for a
camera namespace. Pure Python: :mod:`depth_ros.launch_description` builds the ``launch``
actions from a plan; tests check plans without ``launch`` installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from depth_ros.core.backends import resolve_backend
from depth_ros.core.catalogue import Companion, node_info
from depth_ros.core.errors import ConfigError
from depth_ros.core.params import Value
from depth_ros.core.profiles import (
    PACKAGE,
    Profile,
    check_model_for_node,
    check_params,
    data_dirs,
    load_profile,
    read_params_file,
    resolve_weights_path,
)

RVIZ_FILE = "depth.rviz"


def find_rviz_config() -> Path:
    """The package's RViz config (installed share first); ConfigError if absent."""
    for d in data_dirs("rviz"):
        if (d / RVIZ_FILE).is_file():
            return d / RVIZ_FILE
    raise ConfigError(f"rviz config {RVIZ_FILE} not found in share/{PACKAGE}/rviz or rviz/")


# ---------------------------------------------------------------- launch


@dataclass(frozen=True)
class LaunchArgument:
    """One launch argument: name, default and description; ``parameter``: passed to the node."""

    name: str
    default: str
    description: str
    parameter: bool = False  # passed to the node as the parameter of the same name


COMMON_ARGUMENTS = (
    LaunchArgument(
        "model", "", "Model ID; selects the profile config/<model>.yaml", parameter=True
    ),
    LaunchArgument(
        "backend",
        "auto",
        "Inference backend: auto (from the weights file), torch, onnxruntime, tensorrt",
        parameter=True,
    ),
    LaunchArgument(
        "weights", "", "Weights file; empty = the profile's (joined to weights_dir)", parameter=True
    ),
    LaunchArgument("weights_dir", "", "Folder holding the weights files named in the profiles"),
    LaunchArgument("device", "", "cpu, cuda or cuda:N; empty = the profile's", parameter=True),
    LaunchArgument("camera", "", "Namespace of the input topics (and of the node's outputs)"),
    LaunchArgument("use_sim_time", "false", "Use /clock (bag playback)", parameter=True),
    LaunchArgument("rviz", "false", "Also open rviz2 with rviz/depth.rviz"),
    LaunchArgument(
        "rviz_fixed_frame",
        "camera_optical_frame",
        "rviz2's Fixed Frame: the camera's optical frame (camera_info's "
        "header.frame_id), or a TF frame above it",
    ),
    LaunchArgument("lifecycle", "false", "Run the managed (lifecycle) variant <node>_lifecycle"),
    LaunchArgument(
        "autostart",
        "true",
        "With lifecycle:=true: configure and activate the node at start-up "
        "(false: it waits unconfigured for `ros2 lifecycle set`)",
    ),
    LaunchArgument("params_file", "", "Extra parameters file loaded after the profile"),
    LaunchArgument(
        "register_to",
        "",
        "Also start register_depth, reprojecting this node's depth into the camera of this "
        "namespace (e.g. rgb: its camera_info and image_rect_color) as "
        "depth_registered/image_rect and depth_registered/points; extrinsics from TF or "
        "register_params_file; empty: off",
    ),
    LaunchArgument(
        "register_params_file",
        "",
        "With register_to: parameters file of register_depth (e.g. use_tf, depth_to_rgb_*)",
    ),
    LaunchArgument("node_name", "", "Node name; empty = the executable's name"),
    LaunchArgument("log_level", "info", "Logging level of the node"),
)


def companion_argument(node: str, companion: Companion) -> LaunchArgument:
    """The launch argument choosing the model of a node started beside ``node``."""
    return LaunchArgument(
        companion.model_argument,
        node_info(companion.node).default_model,
        f"Model of the {companion.node} node started beside {node}",
    )


def remap_argument(topic: str) -> str:
    """Launch argument name remapping an input topic: ``left/image_rect`` → ``left_image_rect``."""
    return topic.replace("/", "_")


def launch_arguments(node: str) -> tuple[LaunchArgument, ...]:
    """The launch arguments of ``<node>.launch.py``, in order."""
    info = node_info(node)
    args = [
        LaunchArgument(a.name, info.default_model, a.description, a.parameter)
        if a.name == "model"
        else a
        for a in COMMON_ARGUMENTS
    ]
    args.extend(companion_argument(node, c) for c in info.companions)
    args.extend(
        LaunchArgument(remap_argument(t), "", f"Remap input {t} to this topic (empty: none)")
        for t in info.inputs
    )
    return tuple(args)


def _truthy(value: str | bool) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("true", "1", "yes", "on"):
        return True
    if text in ("false", "0", "no", "off", ""):
        return False
    raise ConfigError(f"expected true or false, got {value!r}")


@dataclass(frozen=True)
class LaunchPlan:
    """Everything a launch file's ``Node`` action needs."""

    package: str
    executable: str
    name: str
    namespace: str
    parameters: list[Any]  # [profile path, (extra params file,) overrides dict]
    remappings: list[tuple[str, str]]
    arguments: list[str]
    profile: Profile | None  # None: a node without a model (register_depth)
    rviz: bool
    overrides: dict[str, Value] = field(default_factory=dict)
    lifecycle: bool = False
    autostart: bool = True  # lifecycle only: configure + activate at start-up
    rviz_fixed_frame: str = "camera_optical_frame"
    companions: tuple[LaunchPlan, ...] = ()  # other nodes the launch file starts too


def plan_launch(node: str, args: Mapping[str, str]) -> LaunchPlan:
    """Resolve the launch arguments of ``<node>.launch.py`` (strings, as launch gives
    them) into the node's executable, parameters and remappings."""
    info = node_info(node)
    given = {a.name: a.default for a in launch_arguments(node)}
    unknown = sorted(set(args) - set(given))
    if unknown:
        raise ConfigError(f"unknown launch arguments for {node}: {', '.join(unknown)}")
    given.update(args)
    model = given["model"] or info.default_model
    check_model_for_node(node, model)
    profile = load_profile(model)
    check_params(node, model, profile.params, str(profile.path))
    weights = resolve_weights_path(
        model, str(profile.params.get("weights", "")), given["weights"], given["weights_dir"]
    )
    backend = resolve_backend(given["backend"], weights, str(profile.params.get("backend", "")))
    overrides: dict[str, Value] = {
        "model": model,
        "backend": backend,
        "weights": weights,
        "use_sim_time": _truthy(given["use_sim_time"]),
    }
    if given["device"]:
        overrides["device"] = given["device"]
    companions = tuple(_plan_companion(c, given) for c in info.companions)
    if given["register_to"].strip():
        companions = (*companions, _plan_register(given))
    elif given["register_params_file"]:
        raise ConfigError("register_params_file is given but register_to is empty")
    check_params(node, model, overrides, f"launch arguments of {node}")
    parameters: list[Any] = [str(profile.path)]
    if given["params_file"]:
        extra = read_params_file(given["params_file"], given["node_name"] or node)
        check_params(node, model, extra, given["params_file"])
        parameters.append(given["params_file"])
    parameters.append(dict(overrides))
    defaults = {k: v for c in info.companions for k, v in c.feeds.items()}
    remappings = [
        (t, given[remap_argument(t)] or defaults.get(t, ""))
        for t in info.inputs
        if given[remap_argument(t)] or t in defaults
    ]
    return LaunchPlan(
        **_process_fields(node, given),
        name=given["node_name"] or node,
        parameters=parameters,
        remappings=remappings,
        profile=profile,
        rviz=_truthy(given["rviz"]),
        overrides=overrides,
        companions=companions,
        rviz_fixed_frame=given["rviz_fixed_frame"].strip() or "camera_optical_frame",
    )


def _plan_companion(companion: Companion, given: Mapping[str, str]) -> LaunchPlan:
    """The plan of a node started beside another, in its namespace and with its launch
    arguments, every output moved under ``companion.namespace``/."""
    shared = ("weights_dir", "camera", "use_sim_time", "lifecycle", "log_level", "autostart")
    plan = plan_launch(
        companion.node,
        {"model": given[companion.model_argument], **{k: given[k] for k in shared}},
    )
    moved = ((t, f"{companion.namespace}/{t}") for t in node_info(companion.node).outputs)
    return replace(plan, remappings=[*plan.remappings, *moved])


REGISTER = "register_depth"


def _plan_register(given: Mapping[str, str]) -> LaunchPlan:
    """register_depth beside a depth node, in its namespace: the node's ``depth`` and
    ``depth/camera_info`` in, the ``register_to`` camera's camera_info and colour image as
    the target; its outputs (``depth_registered/...``) do not collide with the node's."""
    target = given["register_to"].strip().rstrip("/")
    parameters: list[Any] = [{"use_sim_time": _truthy(given["use_sim_time"])}]
    if given["register_params_file"]:
        extra = read_params_file(given["register_params_file"], REGISTER)
        check_params(REGISTER, "", extra, given["register_params_file"])
        parameters.insert(0, given["register_params_file"])
    remappings = [
        ("depth/image_rect", "depth"),
        ("rgb/camera_info", f"{target}/camera_info"),
        ("rgb/image_rect_color", f"{target}/image_rect_color"),
    ]
    return LaunchPlan(
        **_process_fields(REGISTER, given),
        name=REGISTER,
        parameters=parameters,
        remappings=remappings,
        profile=None,
        rviz=False,
    )


def _process_fields(node: str, given: Mapping[str, str]) -> dict[str, Any]:
    """What a depth node and the register_depth beside it share: the package, the
    (lifecycle) executable, the camera namespace, the log level, autostart."""
    lifecycle = _truthy(given["lifecycle"])
    return {
        "package": PACKAGE,
        "executable": f"{node}_lifecycle" if lifecycle else node,
        "namespace": given["camera"].strip(),
        "arguments": ["--ros-args", "--log-level", given["log_level"] or "info"],
        "lifecycle": lifecycle,
        "autostart": _truthy(given["autostart"]),
    }


def rviz_config_text(camera: str = "", template: Path | None = None, fixed_frame: str = "") -> str:
    """rviz/depth.rviz with its topics moved into the ``camera`` namespace and, when
    given, ``fixed_frame`` as the Fixed Frame."""
    text = (template or find_rviz_config()).read_text()
    if fixed_frame:
        text = re.sub(r"(?m)^(\s*Fixed Frame:) .*$", lambda m: f"{m.group(1)} {fixed_frame}", text)
    ns = "/" + camera.strip("/") if camera.strip("/") else ""
    if not ns:
        return text
    lines: list[str] = []
    topic_indent = -1  # indent of the enclosing ``Topic:`` key, -1 outside one
    for line in text.splitlines(keepends=True):
        stripped = line.lstrip()
        indent = len(line) - len(stripped)
        if topic_indent >= 0 and stripped.strip() and indent <= topic_indent:
            topic_indent = -1
        if stripped.rstrip() == "Topic:":
            topic_indent = indent
        elif topic_indent >= 0 and stripped.startswith("Value: /"):
            line = f"{line[:indent]}Value: {ns}{stripped[len('Value: ') :]}"
        lines.append(line)
    return "".join(lines)
