"""Every parameter that is not read-only takes effect at runtime: it re-runs the node's
options, is read each time it is used, or belongs to the model (issue 15: parameters
accepted, then ignored). Checked on every node's full schema, for every model and scale
source, without processes (the components are built on a stand-in node)."""

from __future__ import annotations

from typing import Any

import pytest

from depth_ros.core.models import InputKind, get_model, model_ids
from depth_ros.core.scale import scale_source_names, scale_source_params
from depth_ros.core.schema import fused_node_params, mono_node_params, stereo_node_params
from depth_ros.nodes.base import DepthComponent
from depth_ros.nodes.fused_depth import FusedDepth
from depth_ros.nodes.mono_depth import MonoDepth
from depth_ros.nodes.stereo_depth import StereoDepth


class _StandIn:
    def add_on_set_parameters_callback(self, callback: Any) -> None:
        pass

    def add_post_set_parameters_callback(self, callback: Any) -> None:
        pass

    def get_logger(self) -> Any:
        raise AssertionError("nothing is logged here")


def _component(cls: type[DepthComponent], model_id: str) -> DepthComponent:
    component = cls(_StandIn())  # type: ignore[arg-type]
    component.model_params = {s.name for s in get_model(model_id).params}
    return component


def _ignored(component: DepthComponent, specs: dict[str, Any]) -> list[str]:
    return sorted(n for n, s in specs.items() if not s.read_only and not component.takes_effect(n))


@pytest.mark.parametrize(
    "model_id", [m for m in model_ids() if get_model(m).input_kind is InputKind.STEREO]
)
def test_stereo_depth(model_id: str) -> None:
    component = _component(StereoDepth, model_id)
    assert _ignored(component, stereo_node_params(get_model(model_id).params)) == []


@pytest.mark.parametrize("source", ["none", *scale_source_names()])
def test_mono_depth(source: str) -> None:
    model_id = "depth_anything_v2_vits"
    component = _component(MonoDepth, model_id)
    scale = scale_source_params(source) if source != "none" else ()
    assert _ignored(component, mono_node_params(get_model(model_id).params, scale)) == []


def test_fused_depth() -> None:
    model_id = "depth_anything_v2_vits"
    component = _component(FusedDepth, model_id)
    assert _ignored(component, fused_node_params(get_model(model_id).params)) == []


def test_the_check_can_fail() -> None:
    component = _component(StereoDepth, "sgbm")
    component.option_params = frozenset()
    assert "points" in _ignored(component, stereo_node_params(get_model("sgbm").params))
