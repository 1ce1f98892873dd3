"""Profiles: finding and reading config/<model>.yaml, weights and backend resolution,
launch planning (model → profile → backend), parameter checks, rviz namespacing."""

from __future__ import annotations

from pathlib import Path

import pytest

from depth_ros.core import profiles
from depth_ros.core.catalogue import node_info
from depth_ros.core.errors import ConfigError
from depth_ros.core.profiles import (
    check_params,
    find_profile,
    load_profile,
    read_params_file,
    resolve_weights_path,
)
from depth_ros.launch_plan import plan_launch, rviz_config_text

REPO = Path(__file__).resolve().parents[2]


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_profiles_found_in_repo_config() -> None:
    assert find_profile("sgbm", [REPO / "config"]) == REPO / "config" / "sgbm.yaml"
    # the installed share folder first where an ament prefix is sourced, else the repo's
    assert REPO / "config" in profiles.config_dirs()
    assert find_profile("sgbm") == profiles.config_dirs()[0] / "sgbm.yaml"
    assert {
        "sgbm",
        "bm",
        "hitnet",
        "psmnet",
        "depth_anything_v2_vits",
        "midas_v21_small",
        "dpt_hybrid",
    } <= set(profiles.profile_names())


def test_missing_profile_names_the_known_ones(tmp_path: Path) -> None:
    _write(tmp_path / "a.yaml", "/**:\n  ros__parameters:\n    model: a\n")
    with pytest.raises(ConfigError, match=r"no profile for model 'zzz'.*profiles: a"):
        find_profile("zzz", [tmp_path])


def test_read_params_file_sections_and_nesting(tmp_path: Path) -> None:
    f = _write(
        tmp_path / "p.yaml",
        (
            "/**:\n  ros__parameters:\n    a: 1\n    b: x\n"
            "/cam/stereo_depth:\n  ros__parameters:\n    a: 2\n    group:\n      c: true\n"
            "mono_depth:\n  ros__parameters:\n    a: 3\n"
        ),
    )
    assert read_params_file(f, "stereo_depth") == {"a": 2, "b": "x", "group.c": True}
    assert read_params_file(f, "mono_depth") == {"a": 3, "b": "x"}
    assert read_params_file(f, "other") == {"a": 1, "b": "x"}


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "must map node names"),
        ("/**:\n  params:\n    a: 1\n", "no 'ros__parameters:'"),
        ("/**:\n  ros__parameters:\n    a: [1, 2]\n", "'a' has a list value"),
        ("/**: [\n", "not valid YAML"),
    ],
)
def test_read_params_file_errors(tmp_path: Path, text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        read_params_file(_write(tmp_path / "bad.yaml", text))


def test_profile_must_name_its_model(tmp_path: Path) -> None:
    _write(tmp_path / "sgbm.yaml", "/**:\n  ros__parameters:\n    model: bm\n")
    with pytest.raises(ConfigError, match="is for model 'bm', not 'sgbm'"):
        load_profile("sgbm", [tmp_path])


def test_resolve_weights_path() -> None:
    # explicit weights win; a relative name is joined to weights_dir
    path = resolve_weights_path
    assert path("hitnet", "eth3d_converted.onnx", "/w/x.onnx", "/d") == "/w/x.onnx"
    assert path("hitnet", "eth3d_converted.onnx", "", "/d") == "/d/eth3d_converted.onnx"
    assert path("hitnet", "eth3d_converted.onnx", "", "") == "eth3d_converted.onnx"
    # no profile entry: the model's official file name, only when weights_dir is given
    assert path("psmnet", "", "", "/d") == "/d/pretrained_model_KITTI2015.tar"
    assert path("psmnet", "", "", "") == ""
    assert path("sgbm", "", "", "/d") == ""


def _planned_backend(args: dict[str, str]) -> object:
    return plan_launch("stereo_depth", {"model": "psmnet", **args}).parameters[-1]["backend"]


def test_plan_launch_backend_follows_the_weights_file() -> None:
    """The launch plan resolves ``auto`` with the one table in core.backends."""
    assert _planned_backend({"weights_dir": "/m"}) == "torch"  # the official .tar
    assert _planned_backend({"weights": "/m/psmnet.onnx"}) == "onnxruntime"
    assert _planned_backend({"weights": "/m/psmnet.plan"}) == "tensorrt"
    assert _planned_backend({"weights": "/m/psmnet.onnx", "backend": "onnxruntime"}) == (
        "onnxruntime"
    )
    assert _planned_backend({}) == "torch"  # the profile's file name (.tar)
    with pytest.raises(ConfigError, match=r"backend 'torch' cannot run psmnet\.onnx"):
        _planned_backend({"weights": "/m/psmnet.onnx", "backend": "torch"})
    with pytest.raises(ConfigError, match=r"cannot tell the backend of weights file /m/p\.xyz"):
        _planned_backend({"weights": "/m/p.xyz"})


def test_plan_launch_hitnet_from_weights_dir() -> None:
    plan = plan_launch(
        "stereo_depth",
        {
            "model": "hitnet",
            "weights_dir": "/models/hitnet",
            "camera": "/cam",
            "use_sim_time": "true",
            "left_image_rect": "/cam/left/image_raw",
        },
    )
    assert plan.executable == "stereo_depth"
    assert plan.namespace == "/cam"
    assert plan.parameters[0] == str(profiles.config_dirs()[0] / "hitnet.yaml")
    assert plan.parameters[-1] == {
        "model": "hitnet",
        "backend": "onnxruntime",
        "weights": "/models/hitnet/eth3d_converted.onnx",
        "use_sim_time": True,
    }
    assert plan.remappings == [("left/image_rect", "/cam/left/image_raw")]
    assert not plan.rviz


def test_plan_launch_defaults_lifecycle_and_params_file(tmp_path: Path) -> None:
    extra = _write(
        tmp_path / "extra.yaml", "stereo_depth:\n  ros__parameters:\n    disparity_range: 64\n"
    )
    plan = plan_launch(
        "stereo_depth",
        {"lifecycle": "true", "rviz": "True", "params_file": str(extra), "device": "cuda"},
    )
    assert plan.executable == "stereo_depth_lifecycle"
    assert plan.name == "stereo_depth"
    assert plan.profile is not None
    assert plan.profile.model == "sgbm"
    assert plan.parameters[1] == str(extra)
    assert plan.parameters[-1] == {
        "model": "sgbm",
        "backend": "auto",
        "weights": "",
        "use_sim_time": False,
        "device": "cuda",
    }
    assert plan.rviz
    assert plan.namespace == ""


def test_plan_launch_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a mono model; stereo_depth runs stereo"):
        plan_launch("stereo_depth", {"model": "depth_anything_v2_vits"})
    with pytest.raises(ConfigError, match="unknown launch arguments for stereo_depth: bogus"):
        plan_launch("stereo_depth", {"bogus": "1"})
    with pytest.raises(ConfigError, match="unknown model 'nope'"):
        plan_launch("stereo_depth", {"model": "nope"})
    with pytest.raises(ConfigError, match="expected true or false"):
        plan_launch("stereo_depth", {"use_sim_time": "maybe"})
    with pytest.raises(ConfigError, match=r"unknown backend 'tensorflow'; known: onnxruntime"):
        plan_launch("stereo_depth", {"backend": "tensorflow"})
    bad = _write(
        tmp_path / "bad.yaml",
        "/**:\n  ros__parameters:\n    disparity_range: 20\n    no_such_param: 1\n",
    )
    with pytest.raises(
        ConfigError,
        match=r"bad.yaml: .*disparity_range.*unknown parameter "
        r"'no_such_param'|bad.yaml: unknown parameter 'no_such_param'.*",
    ):
        plan_launch("stereo_depth", {"params_file": str(bad)})


def test_check_params_names_node_and_model() -> None:
    check_params("stereo_depth", "sgbm", {"P1": 100.0, "use_sim_time": True}, "x")
    with pytest.raises(
        ConfigError,
        match=r"x: unknown parameter 'fp16' \(parameters of "
        r"stereo_depth with model 'sgbm'",
    ):
        check_params("stereo_depth", "sgbm", {"fp16": True}, "x")
    with pytest.raises(ConfigError, match="correlation_window_size must be odd"):
        check_params("stereo_depth", "sgbm", {"correlation_window_size": 4}, "x")


def test_unknown_node() -> None:
    with pytest.raises(ConfigError, match="unknown node 'depth'; expected one of fused_depth"):
        node_info("depth")


def test_rviz_config_namespaced() -> None:
    plain = rviz_config_text("")
    cam = rviz_config_text("/my_cam/")
    assert "Value: /points" in plain
    assert "Value: /my_cam/points" not in plain
    for topic in ("/left/image_rect", "/depth", "/depth/color", "/points"):
        assert f"        Value: /my_cam{topic}\n" in cam
    # only topics move: everything else is unchanged, line for line
    changed = [(a, b) for a, b in zip(plain.splitlines(), cam.splitlines(), strict=True) if a != b]
    assert len(changed) == 6  # left, mono image, depth, depth/relative, depth/color, points
    assert all(b.replace("/my_cam", "", 1) == a for a, b in changed)


@pytest.mark.parametrize("node", ["stereo_depth", "mono_depth", "fused_depth"])
def test_plan_launch_register_to_starts_register_depth(node: str, tmp_path: Path) -> None:
    """register_to:=rgb adds register_depth beside the node, in its namespace, reading the
    node's depth and the rgb camera's topics (names its catalogue subscribes), lifecycle
    as the node; its parameters file is checked against register_depth's schema."""
    from depth_ros.core.catalogue import node_info

    extrinsics = tmp_path / "extrinsics.yaml"
    extrinsics.write_text(
        "register_depth:\n  ros__parameters:\n    use_tf: false\n    depth_to_rgb_x: -0.05\n"
    )
    plan = plan_launch(
        node,
        {
            "camera": "cam",
            "register_to": "rgb",
            "register_params_file": str(extrinsics),
            "lifecycle": "true",
        },
    )
    reg = plan.companions[-1]
    assert (reg.executable, reg.name, reg.namespace) == ("register_depth_lifecycle", REG, "cam")
    assert reg.lifecycle
    assert reg.profile is None
    assert dict(reg.remappings) == {
        "depth/image_rect": "depth",
        "rgb/camera_info": "rgb/camera_info",
        "rgb/image_rect_color": "rgb/image_rect_color",
    }
    subscribed = {t.name for t in node_info(REG).subscribes}
    assert set(dict(reg.remappings)) <= subscribed
    published = {t.name for t in node_info(node).publishes}
    assert {"depth", "depth/camera_info"} <= published  # what register_depth reads
    assert reg.parameters[0] == str(extrinsics)
    # off by default; a bad register parameter, or its file without register_to, refused
    assert all(c.name != REG for c in plan_launch(node, {}).companions)
    bad = tmp_path / "bad.yaml"
    bad.write_text("register_depth:\n  ros__parameters:\n    depth_to_rgb_x: 1e9\n")
    with pytest.raises(ConfigError, match="depth_to_rgb_x"):
        plan_launch(node, {"register_to": "rgb", "register_params_file": str(bad)})
    with pytest.raises(ConfigError, match="register_to is empty"):
        plan_launch(node, {"register_params_file": str(extrinsics)})


REG = "register_depth"
