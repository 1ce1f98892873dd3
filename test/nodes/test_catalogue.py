"""What running nodes advertise and subscribe against the node catalogue
(depth_ros.core.catalogue): one process of each node kind, over real DDS, in a
configuration whose topic flags the test states; the graph must hold exactly the
catalogue's topics for those flags, with their types (nothing missing, nothing more)."""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path

import numpy as np
import pytest
from rclpy.node import Node

from depth_ros.core.catalogue import COMPRESSED, node_info
from nodes.helpers import NodeProcess, node_process

pytestmark = pytest.mark.ros

# node → (namespace, parameters, the catalogue flags that configuration has)
CASES: dict[str, tuple[str, dict[str, object], set[str]]] = {
    "stereo_depth": ("/cat_stereo", {"model": "sgbm"}, set()),
    "mono_depth": (
        "/cat_mono",  # a relative model with a scale source: relative and metric outputs
        {"model": "test_oracle_relative", "scale_source": "sparse_depth"},
        {COMPRESSED, "relative", "metric", "scale", "sparse_depth"},
    ),
    "fused_depth": ("/cat_fused", {"model": "test_oracle_relative"}, set()),
    "register_depth": ("/cat_register", {"use_tf": False}, {"xyzrgb"}),
}


def _expected(node: str, flags: set[str]) -> tuple[dict[str, str], dict[str, str]]:
    info = node_info(node)
    outputs = dict(t.resolved(flags) for t in info.active_outputs(flags))
    inputs = dict(t.resolved(flags) for t in info.active_inputs(flags))
    return outputs, inputs


def _graph(ros_node: Node, node: str, ns: str) -> tuple[dict[str, str], dict[str, str]]:
    """The node's publishers and subscriptions in its namespace (relative names)."""

    def relative(pairs: list[tuple[str, list[str]]]) -> dict[str, str]:
        return {
            name[len(ns) + 1 :]: ",".join(types)
            for name, types in pairs
            if name.startswith(ns + "/")
        }

    try:
        pubs = ros_node.get_publisher_names_and_types_by_node(node, ns)
        subs = ros_node.get_subscriber_names_and_types_by_node(node, ns)
    except Exception:  # not in the graph yet
        return {}, {}
    return relative(pubs), relative(subs)


def test_running_nodes_have_exactly_the_catalogue_topics(ros_node: Node, tmp_path: Path) -> None:
    gt = tmp_path / "gt.npy"
    np.save(gt, np.ones((4, 6), np.float32))
    procs: dict[str, NodeProcess] = {}
    with ExitStack() as stack:
        for node, (ns, params, flags) in CASES.items():
            values = {**params, "lazy": False}  # inputs subscribed without listeners
            if "test_oracle_relative" in params.values():
                values["gt_file"] = str(gt)
            if COMPRESSED in flags:
                values["image_transport"] = COMPRESSED
            procs[node] = stack.enter_context(
                node_process(node, tmp_path / f"{node}.log", values, ns, plugins=True)
            )
        for node, (ns, _, flags) in CASES.items():
            _check(ros_node, node, ns, _expected(node, flags), procs[node])


def _check(
    ros_node: Node,
    node: str,
    ns: str,
    expected: tuple[dict[str, str], dict[str, str]],
    proc: NodeProcess,
) -> None:
    """Wait until the graph holds exactly the catalogue's topics of ``node``."""
    try:
        proc.wait(ros_node, lambda: _graph(ros_node, node, ns) == expected, 90, "the catalogue")
    except AssertionError as exc:
        raise AssertionError(f"{node}: graph {_graph(ros_node, node, ns)} != {expected}") from exc
