"""The node catalogue against what is derived from it: the README's node table, the rviz
config's topics, the launch arguments and companions, the parameter schemas. (What a
running node advertises is checked against it in test/nodes/test_catalogue.py.)"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from depth_ros import launch_plan
from depth_ros.core import catalogue, profiles
from depth_ros.core.catalogue import COMPRESSED, NODES, node_info
from depth_ros.core.errors import ConfigError
from depth_ros.core.models import get_model

REPO = Path(__file__).resolve().parents[2]


def test_readme_node_table_is_the_catalogue() -> None:
    text = (REPO / "README.md").read_text()
    start = text.index("### Nodes and topics")
    table = text[text.index("| node |", start) :]
    table = table[: table.index("\n\n") + 1]
    assert table == catalogue.markdown_table(), (
        "README's node table differs from the catalogue: paste "
        "`depth-ros params stereo_depth --topics --markdown`"
    )


def test_table_lists_every_topic_name() -> None:
    """The rendered table names each topic of each node (a check of the renderer)."""
    table = catalogue.markdown_table()
    for info in NODES.values():
        (row,) = [line for line in table.splitlines() if line.startswith(f"| `{info.name}` |")]
        _, subscribes, publishes = row.strip("| ").split(" | ")
        named_in = set(re.findall(r"`([a-z_/]+)`", subscribes))
        named_out = set(re.findall(r"`([a-z_/]+)`", publishes))
        assert {t.name for t in info.subscribes} <= named_in
        assert {t.name for t in info.publishes} <= named_out


def test_rviz_topics_are_catalogue_topics() -> None:
    text = (REPO / "rviz" / "depth.rviz").read_text()
    values = re.findall(r"(?m)^\s*Topic:\n(?:\s+\w[^\n]*\n)*?\s+Value: /(\S+)$", text)
    assert len(values) >= 5, values
    unknown = set(values) - catalogue.all_topic_names()
    assert not unknown, f"rviz/depth.rviz shows topics no node has: {unknown}"


@pytest.mark.parametrize("node", sorted(NODES))
def test_entries_are_consistent(node: str) -> None:
    info = node_info(node)
    for topics in (info.subscribes, info.publishes):
        assert len({t.name for t in topics}) == len(topics), "a topic listed twice"
        assert len({t.key for t in topics}) == len(topics), "a key used twice"
    used = {f for t in (*info.subscribes, *info.publishes) for f in t.when}
    assert used == set(info.flags), "every flag used and documented, none more"
    assert all(not t.on_demand for t in info.subscribes)
    assert all(t.synced and not t.transport for t in info.publishes)
    assert profiles.schema_function(node) is not None, f"no schema {info.schema}"
    specs = profiles.node_params(node, info.default_model)
    assert specs is not None
    if info.input_kind is not None:
        assert get_model(info.default_model).input_kind is info.input_kind


def test_active_topics_follow_the_flags() -> None:
    mono = node_info("mono_depth")
    relative = {t.name for t in mono.active_outputs({"relative"})}
    assert relative == {"depth/relative", "depth/color"}
    scaled = {t.name for t in mono.active_outputs({"relative", "metric", "scale"})}
    assert scaled == relative | {"depth", "depth/camera_info", "points", "scale/fit"}
    inputs = [t.resolved({COMPRESSED}) for t in mono.active_inputs({COMPRESSED})]
    assert inputs == [
        ("image/compressed", catalogue.COMPRESSED_IMAGE),
        ("camera_info", catalogue.CAMERA_INFO),
    ]
    assert len(mono.active_inputs({"sparse_depth"})) == 5
    with pytest.raises(ConfigError, match="no topic flag metirc"):
        mono.active_outputs({"metirc"})
    with pytest.raises(ConfigError, match="unknown node"):
        node_info("depth")
    with pytest.raises(ConfigError, match="runs no model"):
        _ = node_info("register_depth").model_kind


def test_inputs_and_outputs_names() -> None:
    stereo = node_info("stereo_depth")
    assert stereo.inputs == (
        "left/image_rect",
        "left/camera_info",
        "right/image_rect",
        "right/camera_info",
    )
    assert "disparity/confidence" in stereo.outputs
    mono = node_info("mono_depth")
    assert mono.inputs == ("image", "camera_info")  # the reference topics are optional
    assert {"depth/relative", "scale/fit"} <= set(mono.outputs)
    assert node_info("register_depth").inputs == (
        "depth/image_rect",
        "depth/camera_info",
        "rgb/camera_info",
    )
    assert set(stereo.on_demand) == {"disparity/confidence", "points", "depth/color"}


@pytest.mark.parametrize("node", ["stereo_depth", "mono_depth", "fused_depth"])
def test_launch_arguments_remap_every_input(node: str) -> None:
    info = node_info(node)
    names = {a.name for a in launch_plan.launch_arguments(node)}
    assert {launch_plan.remap_argument(t) for t in info.inputs} <= names
    assert {c.model_argument for c in info.companions} <= names


def test_companion_feeds_and_moved_outputs() -> None:
    fused = node_info("fused_depth")
    (companion,) = fused.companions
    stereo = node_info(companion.node)
    reachable = {*stereo.inputs, *(f"{companion.namespace}/{t}" for t in stereo.outputs)}
    assert set(companion.feeds) <= set(fused.inputs)
    assert set(companion.feeds.values()) <= reachable
    plan = launch_plan.plan_launch("fused_depth", {})
    (stereo_plan,) = plan.companions
    moved = {src: dst for src, dst in stereo_plan.remappings}
    # every stereo output goes under stereo/: none collides with fused_depth's own
    assert moved == {t: f"stereo/{t}" for t in stereo.outputs}
    assert dict(plan.remappings) == dict(companion.feeds)


def test_bag_run_leaves_out_the_views_for_people() -> None:
    """``bag run`` records every output but the colour views and stereo confidence (both
    computed only while subscribed); the point clouds, also on demand, are recorded."""
    assert node_info("stereo_depth").not_recorded == ("disparity/confidence", "depth/color")
    assert node_info("mono_depth").not_recorded == ("depth/color",)
    assert node_info("fused_depth").not_recorded == ("depth/color",)
    assert node_info("register_depth").not_recorded == ()
    for info in NODES.values():
        assert set(info.not_recorded) <= set(info.on_demand)
