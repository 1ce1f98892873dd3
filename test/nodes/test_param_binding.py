"""Parameter binding (issue 16): an update is validated in the on-set callback (refused:
nothing changes, neither the values in force nor the model nor the node's options) and
applied in the post-set callback, once rclpy has stored it; a change made during a frame
waits for the frame to end; and a component's ``schema()`` declares nothing.

The nodes are the real ones (``PlainNode(StereoDepth)`` with SGBM; MonoDepth with a stub
network), in this process: the first test talks to ``<node>/set_parameters`` over DDS,
the others call rclpy's ``set_parameters`` on the node directly."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from rcl_interfaces.msg import SetParametersResult
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.parameter import Parameter

from depth_ros.core.params import Value
from nodes.helpers import set_params

pytestmark = pytest.mark.ros
NS = "/param_binding"
SMALL = {"disparity_range": 16, "points": "xyzrgb", "diagnostics_period": 60.0}


def _overrides(values: dict[str, Any]) -> list[Parameter[Any]]:
    return [Parameter(k, value=v) for k, v in values.items()]


@pytest.fixture
def stereo_node(ros_node: Node) -> Iterator[Any]:
    """``stereo_depth`` as its executable builds it (configured, active, serving the
    atomic set_parameters), spun on its own thread."""
    from depth_ros.nodes.process import PlainNode
    from depth_ros.nodes.stereo_depth import StereoDepth

    node = PlainNode(StereoDepth, namespace=NS, parameter_overrides=_overrides(SMALL))
    assert node.impl.state == "active", node.impl.log.last_error
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    try:
        yield node
    finally:
        executor.shutdown(timeout_sec=1.0)
        thread.join(timeout=5.0)
        node.impl.deactivate()
        node.impl.cleanup()
        node.destroy_node()


def _node(name: str, values: dict[str, Any]) -> Node:
    import rclpy

    return rclpy.create_node(name, namespace=NS, parameter_overrides=_overrides(values))


def _configured(cls: type, node: Node) -> Any:
    comp = cls(node)
    assert comp.configure(), comp.log.last_error
    return comp


def test_refused_on_set_changes_nothing_and_accepted_takes_effect(
    ros_node: Node, stereo_node: Any
) -> None:
    comp = stereo_node.impl
    target = f"{NS}/stereo_depth"
    p1 = comp.model.params["P1"]
    refused: dict[str, Value] = {
        "points": "bogus",  # not one of the choices (the schema's check)
        "P1": 6000.0,  # above P2 (4800): the matcher refuses it (the model's check)
    }
    for name, value in refused.items():
        (res,) = set_params(ros_node, target, {name: value})
        assert not res.successful, (name, value)
        assert name in res.reason, res.reason
    # constraints between parameters, on the values after the whole request
    res = set_params(ros_node, target, {"min_depth": 5.0, "max_depth": 2.0})
    assert [r.successful for r in res] == [False, False]
    assert "must be smaller than max_depth" in res[0].reason
    assert comp.params["points"] == "xyzrgb"
    assert stereo_node.get_parameter("points").value == "xyzrgb"
    assert comp.pipeline.options.points == "xyzrgb"
    assert (comp.params["min_depth"], comp.params["max_depth"]) == (0.0, 0.0)
    assert comp.model.params["P1"] == p1
    # accepted: stored, then applied (options re-run, the model updated)
    res = set_params(ros_node, target, {"points": "xyz", "min_depth": 0.5, "P1": 100.0})
    assert [r.successful for r in res] == [True, True, True], [r.reason for r in res]
    assert comp.params["points"] == "xyz"
    assert comp.pipeline.options.points == "xyz"
    assert comp.pipeline.options.min_depth == 0.5
    assert comp.model.params["P1"] == 100.0


def test_nothing_is_applied_before_the_update_is_stored(ros_node: Node) -> None:
    """Another on-set callback of the node (running after the component's) refuses the
    update: the component's own check passed, yet nothing of it takes effect, since it
    applies only in the post-set callback."""
    from depth_ros.nodes.stereo_depth import StereoDepth

    node = _node("veto", SMALL)

    def veto(params: list[Parameter[Any]]) -> SetParametersResult:
        vetoed = any(p.name == "points" and p.value == "xyz" for p in params)
        return SetParametersResult(successful=not vetoed, reason="vetoed" if vetoed else "")

    node.add_on_set_parameters_callback(veto)  # runs after those added later
    comp = _configured(StereoDepth, node)
    (res,) = node.set_parameters([Parameter("points", value="xyz")])
    assert not res.successful
    assert res.reason == "vetoed"
    assert node.get_parameter("points").value == "xyzrgb"
    assert comp.params["points"] == "xyzrgb"
    assert comp.pipeline.options.points == "xyzrgb"
    (res,) = node.set_parameters([Parameter("points", value="none")])
    assert res.successful
    assert comp.pipeline.options.points == "none"
    comp.cleanup()
    node.destroy_node()


def test_an_update_during_a_frame_is_applied_before_the_next(ros_node: Node) -> None:
    """While the worker holds the frame lock, an update is accepted at once (the
    parameter service does not wait) and reaches the model before the next frame; a
    refused one leaves nothing pending."""
    from depth_ros.nodes.stereo_depth import StereoDepth

    node = _node("busy", SMALL)
    comp = _configured(StereoDepth, node)
    p1 = comp.model.params["P1"]
    with comp.lock:  # a forward pass in progress
        t0 = time.monotonic()
        (res,) = node.set_parameters([Parameter("P1", value=2000.0)])
        assert res.successful, res.reason
        assert time.monotonic() - t0 < 2.0
        assert comp.params["P1"] == 2000.0  # in force for the next frame
        assert comp.model.params["P1"] == p1  # the running frame keeps its matcher
        # valid against the running matcher (P1 = 0: 600), not after the pending P1
        (res,) = node.set_parameters([Parameter("P2", value=1500.0)])
        assert not res.successful
        assert "P2" in res.reason
        comp.frames.run_pending(comp.model)  # what the worker does before a frame
    assert comp.model.params["P1"] == 2000.0
    assert comp.model.params["P2"] == 4800.0
    comp.cleanup()
    node.destroy_node()


class _StubMono:
    def predict(self, rgb: Any) -> Any:
        return np.ones(rgb.shape[:2], dtype=np.float32)

    def update(self, params: Any) -> None:
        pass


def test_mono_schema_declares_nothing(ros_node: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """``schema()`` is a function of the model's parameters and of the values in force
    of the choice parameters (``scale_source``): calling it declares no parameter; the
    component declares the scale source first at configure, then its ``scale.*``."""
    import depth_ros.nodes.base as base
    from depth_ros.nodes.mono_depth import MonoDepth

    node = _node("mono_schema", {"scale_source": "ground_plane", "diagnostics_period": 60.0})
    try:
        comp = MonoDepth(node)
        before = set(node.list_parameters([], 0).names)
        schema = comp.schema(())
        schema = comp.schema(())
        assert set(node.list_parameters([], 0).names) == before  # (use_sim_time only)
        assert "scale_source" in schema
        assert "model" in schema
        assert not [n for n in schema if n.startswith("scale.")]  # source not declared yet
        monkeypatch.setattr(base, "build_model", lambda *a, **k: _StubMono())
        assert comp.configure(), comp.log.last_error
        declared = set(node.list_parameters([], 0).names)
        assert node.get_parameter("scale_source").value == "ground_plane"
        assert {"scale.camera_height", "scale.pitch"} <= declared
        assert set(comp.specs) <= declared - before
        comp.cleanup()
    finally:
        node.destroy_node()
