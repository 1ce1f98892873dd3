"""Launch files and profiles against the nodes' declared parameters (no ROS launch needed).

``launch``/``launch_ros`` are not installable here, so each launch file runs with small
stand-ins for them injected into sys.modules: generate_launch_description() must declare
the expected arguments, and its OpaqueFunction must produce a Node whose parameters (the
profile and the overrides) are all declared by the node it starts.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any

import pytest
import yaml

from depth_ros import launch_description, launch_plan
from depth_ros.core import profiles, schema
from depth_ros.core.backends import resolve_backend
from depth_ros.core.catalogue import NODES
from depth_ros.core.errors import ConfigError
from depth_ros.core.models import get_model

REPO = Path(__file__).resolve().parents[2]
LAUNCH_FILES = {
    "stereo_depth": REPO / "launch" / "stereo_depth.launch.py",
    "mono_depth": REPO / "launch" / "mono_depth.launch.py",
    "fused_depth": REPO / "launch" / "fused_depth.launch.py",
}
PROFILES = sorted((REPO / "config").glob("*.yaml"))
REQUIRED_PROFILES = {
    "sgbm",
    "bm",
    "hitnet",
    "psmnet",
    "depth_anything_v2_vits",
    "midas_v21_small",
    "dpt_hybrid",
}


def _registered(model: str) -> None:
    get_model(model)  # ConfigError (test failure) for a profile of an unknown model


def _schema(node: str, model: str) -> dict[str, Any]:
    assert profiles.schema_function(node) is not None, f"no schema function for {node}"
    specs = profiles.node_params(node, model)
    assert specs is not None
    return specs


# ---------------------------------------------------------------- profiles


def test_required_profiles_exist() -> None:
    assert {p.stem for p in PROFILES} >= REQUIRED_PROFILES


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_profile_matches_node_schema(path: Path) -> None:
    data = yaml.safe_load(path.read_text())
    assert list(data) == ["/**"], "profiles apply to any node name: one '/**' section"
    params = data["/**"]["ros__parameters"]
    assert params["model"] == path.stem, "a profile is named after its model"
    _registered(path.stem)
    node = profiles.node_for_model(path.stem)
    specs = _schema(node, path.stem)
    unknown = sorted(set(params) - set(specs))
    assert not unknown, f"{path.name}: not parameters of {node}: {unknown}"
    bad = {k: specs[k].validate(v) for k, v in params.items() if specs[k].validate(v)}
    assert not bad, f"{path.name}: invalid values {bad}"
    # and the weights file, when named, matches the backend the node will pick
    if params.get("weights"):
        assert resolve_backend("auto", str(params["weights"])) in (
            "torch",
            "onnxruntime",
            "tensorrt",
        )


def test_stereo_schema_is_what_the_node_declares() -> None:
    """The schema the profiles are checked against is the one stereo_depth declares."""
    node_module = pytest.importorskip("depth_ros.nodes.stereo_depth")
    component = node_module.StereoDepth
    model_params = get_model("sgbm").params
    declared = component.schema(object.__new__(component), model_params)
    assert declared == profiles.node_params("stereo_depth", "sgbm")
    assert declared == schema.stereo_node_params(model_params)


# ---------------------------------------------------------------- launch arguments


@pytest.mark.parametrize("node", sorted(LAUNCH_FILES))
def test_parameter_arguments_are_declared(node: str) -> None:
    model = NODES[node].default_model
    _registered(model)
    specs = _schema(node, model)
    passed = [a.name for a in launch_plan.launch_arguments(node) if a.parameter]
    assert {"model", "backend", "weights", "use_sim_time"} <= set(passed)
    missing = [n for n in passed if n != "use_sim_time" and n not in specs]
    assert not missing, f"launch arguments passed to {node} but not declared: {missing}"


# ---------------------------------------------------------------- the launch files


class _Action:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: Any) -> str:
        return str(context.launch_configurations[self.name])


class _LaunchDescription:
    def __init__(self, entities: list[Any]) -> None:
        self.entities = list(entities)


def _stub_modules() -> dict[str, types.ModuleType]:
    mods = {
        n: types.ModuleType(n)
        for n in (
            "launch",
            "launch.actions",
            "launch.launch_description",
            "launch.substitutions",
            "launch.events",
            "launch_ros",
            "launch_ros.actions",
            "launch_ros.event_handlers",
            "launch_ros.events",
            "launch_ros.events.lifecycle",
        )
    }
    declare = type("DeclareLaunchArgument", (_Action,), {})
    opaque = type("OpaqueFunction", (_Action,), {})
    node = type("Node", (_Action,), {})
    for name in ("EmitEvent", "RegisterEventHandler"):
        setattr(mods["launch.actions"], name, type(name, (_Action,), {}))
    mods["launch.events"].matches_action = (  # type: ignore[attr-defined]
        lambda action: ("matches", action)
    )
    mods["launch_ros.actions"].LifecycleNode = type(  # type: ignore[attr-defined]
        "LifecycleNode", (_Action,), {}
    )
    mods["launch_ros.event_handlers"].OnStateTransition = type(  # type: ignore[attr-defined]
        "OnStateTransition", (_Action,), {}
    )
    mods["launch_ros.events.lifecycle"].ChangeState = type(  # type: ignore[attr-defined]
        "ChangeState", (_Action,), {}
    )
    mods["launch"].LaunchDescription = _LaunchDescription  # type: ignore[attr-defined]
    mods["launch.launch_description"].LaunchDescription = (  # type: ignore[attr-defined]
        _LaunchDescription
    )
    mods["launch.actions"].DeclareLaunchArgument = declare  # type: ignore[attr-defined]
    mods["launch.actions"].OpaqueFunction = opaque  # type: ignore[attr-defined]
    mods["launch.substitutions"].LaunchConfiguration = (  # type: ignore[attr-defined]
        _LaunchConfiguration
    )
    mods["launch_ros.actions"].Node = node  # type: ignore[attr-defined]
    return mods


@pytest.fixture
def load_launch(monkeypatch: pytest.MonkeyPatch) -> Any:
    for name, module in _stub_modules().items():
        monkeypatch.setitem(sys.modules, name, module)
    monkeypatch.setattr(launch_description, "package_available", lambda package: True)

    def load(path: Path) -> types.ModuleType:
        spec = importlib.util.spec_from_file_location(f"_launch_{path.stem}", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    return load


def _run(module: types.ModuleType, overrides: dict[str, str]) -> tuple[list[str], list[Any]]:
    """Declared argument names, and the actions of the OpaqueFunction for ``overrides``."""
    ld = module.generate_launch_description()
    declared = [e for e in ld.entities if type(e).__name__ == "DeclareLaunchArgument"]
    opaque = [e for e in ld.entities if type(e).__name__ == "OpaqueFunction"]
    assert len(opaque) == 1
    config = {e.args[0]: e.kwargs["default_value"] for e in declared}
    config.update(overrides)
    context = types.SimpleNamespace(launch_configurations=config)
    actions = opaque[0].kwargs["function"](context)
    return [e.args[0] for e in declared], actions


@pytest.mark.parametrize("node", sorted(LAUNCH_FILES))
def test_launch_file_compiles(node: str) -> None:
    path = LAUNCH_FILES[node]
    compile(path.read_text(), str(path), "exec")


@pytest.mark.parametrize("node", sorted(LAUNCH_FILES))
def test_launch_file_declares_arguments(node: str, load_launch: Any) -> None:
    module = load_launch(LAUNCH_FILES[node])
    ld = module.generate_launch_description()
    names = [e.args[0] for e in ld.entities if type(e).__name__ == "DeclareLaunchArgument"]
    assert names == [a.name for a in launch_plan.launch_arguments(node)]
    expected = {
        "model",
        "backend",
        "weights",
        "weights_dir",
        "camera",
        "use_sim_time",
        "rviz",
        "lifecycle",
    }
    assert expected <= set(names)
    assert all(
        e.kwargs.get("description")
        for e in ld.entities
        if type(e).__name__ == "DeclareLaunchArgument"
    )


@pytest.mark.parametrize(
    ("node", "overrides"),
    [
        ("stereo_depth", {}),
        (
            "stereo_depth",
            {
                "model": "bm",
                "camera": "/my_cam",
                "use_sim_time": "true",
                "left_image_rect": "/my_cam/left/image_raw",
            },
        ),
        ("stereo_depth", {"model": "hitnet", "weights_dir": "/models", "lifecycle": "true"}),
        ("stereo_depth", {"model": "psmnet", "weights": "/m/psm.onnx", "device": "cuda"}),
        ("mono_depth", {}),
        ("mono_depth", {"model": "depth_anything_v2_vits", "image": "/cam/image_raw"}),
        ("fused_depth", {}),
    ],
)
def test_launch_file_node_parameters_are_declared(
    node: str, overrides: dict[str, str], load_launch: Any
) -> None:
    module = load_launch(LAUNCH_FILES[node])
    _, actions = _run(module, overrides)
    actions = [a for a in actions if type(a).__name__ in ("Node", "LifecycleNode")]
    assert len(actions) == (2 if node == "fused_depth" else 1)
    kw = actions[0].kwargs
    model = overrides.get("model", NODES[node].default_model)
    _registered(model)
    lifecycle = overrides.get("lifecycle") == "true"
    assert kw["package"] == "depth_ros"
    assert kw["executable"] == node + ("_lifecycle" if lifecycle else "")
    assert (kw["namespace"] or None) == (overrides.get("camera") or None)
    profile, *_extra, values = kw["parameters"]
    # the source tree's profile, or its installed copy (share/depth_ros/config after colcon)
    assert Path(profile).name == f"{model}.yaml"
    assert Path(profile).read_text() == (REPO / "config" / f"{model}.yaml").read_text()
    assert values["model"] == model
    assert values["use_sim_time"] is (overrides.get("use_sim_time") == "true")
    specs = _schema(node, model)
    file_params = profiles.read_params_file(profile, node)
    for name, value in {**file_params, **values}.items():
        if name == "use_sim_time":
            continue
        assert name in specs, f"{node} does not declare {name!r}"
        assert specs[name].validate(value) is None
    inputs = set(NODES[node].inputs)
    assert all(src in inputs for src, _ in kw["remappings"])
    if node == "fused_depth":  # the stereo node beside it feeds its disparity input
        stereo = actions[1].kwargs
        assert stereo["executable"] == "stereo_depth"
        assert ("disparity", "stereo/disparity") in stereo["remappings"]
        assert ("disparity", "stereo/disparity") in kw["remappings"]
        assert ("image", "left/image_rect") in kw["remappings"]


def test_launch_backend_follows_weights(load_launch: Any) -> None:
    module = load_launch(LAUNCH_FILES["stereo_depth"])
    _, (hitnet,) = _run(module, {"model": "hitnet", "weights_dir": "/models"})
    values = hitnet.kwargs["parameters"][-1]
    assert values["weights"] == "/models/eth3d_converted.onnx"
    assert values["backend"] == "onnxruntime"
    _, (psm,) = _run(module, {"model": "psmnet", "weights": "/m/psm.onnx"})
    assert psm.kwargs["parameters"][-1]["backend"] == "onnxruntime"
    _, (psm_torch,) = _run(module, {"model": "psmnet", "weights_dir": "/m"})
    assert psm_torch.kwargs["parameters"][-1]["backend"] == "torch"


def test_launch_rviz_missing_starts_nothing(
    load_launch: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(launch_description, "package_available", lambda package: False)
    module = load_launch(LAUNCH_FILES["stereo_depth"])
    with pytest.raises(ConfigError, match=r"'rviz2' is not installed.*nothing was started"):
        _run(module, {"rviz": "true"})
    _, actions = _run(module, {"rviz": "false"})  # without rviz the node starts
    assert [a.kwargs["executable"] for a in actions] == ["stereo_depth"]


def test_package_available_without_ament_index(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AMENT_PREFIX_PATH", raising=False)
    assert launch_description.package_available("rviz2") is False


@pytest.mark.parametrize("node", ["stereo_depth", "fused_depth"])
def test_launch_lifecycle_autostart_configures_then_activates(node: str, load_launch: Any) -> None:
    from lifecycle_msgs.msg import Transition

    module = load_launch(LAUNCH_FILES[node])
    _, actions = _run(module, {"lifecycle": "true", "camera": "/cam"})
    per_node = 3  # LifecycleNode, activate-when-inactive handler, configure event
    assert len(actions) == per_node * (2 if node == "fused_depth" else 1)
    lifecycle_node, handler, configure = actions[:per_node]
    assert type(lifecycle_node).__name__ == "LifecycleNode"
    assert lifecycle_node.kwargs["executable"] == f"{node}_lifecycle"
    assert lifecycle_node.kwargs["namespace"] == "/cam"
    event = configure.kwargs["event"]
    assert event.kwargs["transition_id"] == Transition.TRANSITION_CONFIGURE
    assert event.kwargs["lifecycle_node_matcher"] == ("matches", lifecycle_node)
    on_inactive = handler.args[0]
    assert on_inactive.kwargs["target_lifecycle_node"] is lifecycle_node
    assert on_inactive.kwargs["goal_state"] == "inactive"
    (activate,) = on_inactive.kwargs["entities"]
    assert activate.kwargs["event"].kwargs["transition_id"] == Transition.TRANSITION_ACTIVATE
    _, manual = _run(module, {"lifecycle": "true", "autostart": "false"})
    assert [type(a).__name__ for a in manual] == ["LifecycleNode"] * len(manual)


def test_launch_rviz(load_launch: Any) -> None:
    module = load_launch(LAUNCH_FILES["stereo_depth"])
    _, actions = _run(module, {"rviz": "true"})
    assert [a.kwargs["executable"] for a in actions] == ["stereo_depth", "rviz2"]
    rviz_args = actions[1].kwargs["arguments"]
    assert rviz_args[0] == "-d"
    assert Path(rviz_args[1]).read_text() == (REPO / "rviz" / "depth.rviz").read_text()
    Path(rviz_args[1]).unlink()
    _, actions = _run(module, {"rviz": "true", "rviz_fixed_frame": "base_link"})
    framed = Path(actions[1].kwargs["arguments"][1])
    try:
        text = framed.read_text()
    finally:
        framed.unlink()
    assert "Fixed Frame: base_link" in text
    assert "camera_optical_frame" not in text
    _, actions = _run(module, {"rviz": "true", "camera": "/cam", "use_sim_time": "true"})
    namespaced = Path(actions[1].kwargs["arguments"][1])
    try:
        assert "Value: /cam/points" in namespaced.read_text()
    finally:
        namespaced.unlink()
    assert actions[1].kwargs["parameters"] == [{"use_sim_time": True}]


def test_launch_rejects_wrong_model_kind(load_launch: Any) -> None:
    module = load_launch(LAUNCH_FILES["stereo_depth"])
    with pytest.raises(ConfigError, match="is a mono model"):
        _run(module, {"model": "depth_anything_v2_vits"})


# ---------------------------------------------------------------- rviz


def test_rviz_config_topics_and_frame() -> None:
    data = yaml.safe_load((REPO / "rviz" / "depth.rviz").read_text())
    manager = data["Visualization Manager"]
    assert manager["Global Options"]["Fixed Frame"] == "camera_optical_frame"
    displays: dict[str, list[str | None]] = {d["Class"]: [] for d in manager["Displays"]}
    for d in manager["Displays"]:
        displays[d["Class"]].append(d.get("Topic", {}).get("Value"))
    assert {"/left/image_rect", "/depth", "/depth/color", "/depth/relative"} <= set(
        displays["rviz_default_plugins/Image"]
    )
    assert displays["rviz_default_plugins/PointCloud2"] == ["/points"]


@pytest.mark.parametrize("path", PROFILES, ids=lambda p: p.stem)
def test_profile_agrees_with_the_model_registry_defaults(path: Path) -> None:
    """One default everywhere: a profile that sets a model parameter sets it to the
    registry's default, which `depth-ros predict`, `bag run` and `params` use."""
    params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    spec = get_model(params["model"])
    differ = {
        p.name: (params[p.name], p.default)
        for p in spec.params
        if p.name in params and params[p.name] != p.default
    }
    assert not differ, f"{path.name}: profile value vs registry default: {differ}"


def test_sgbm_profile_sets_every_matcher_parameter() -> None:
    params = yaml.safe_load((REPO / "config" / "sgbm.yaml").read_text())["/**"]["ros__parameters"]
    assert {p.name for p in get_model("sgbm").params} <= set(params)
