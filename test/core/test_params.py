"""ParamSpec validation, and its rclpy descriptors: ROS accepts exactly what validate accepts.

Also the generic name registry, whose errors are ConfigErrors as well.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from depth_ros.core.errors import ConfigError
from depth_ros.core.models import get_model
from depth_ros.core.params import ParamSpec, defaults, merge, validate_all
from depth_ros.core.registry import Registry
from depth_ros.core.schema import stereo_node_params

INT = ParamSpec("queue_size", 5, "Depth", 1, 100)
STEP = ParamSpec("disparity_range", 64, "Disparities", 16, 4096, step=16)
ODD = ParamSpec("block", 5, "Block", 1, 11, odd=True)
ODD_FROM_EVEN = ParamSpec("window", 9, "Window", 4, 255, odd=True)
FLOAT = ParamSpec("ratio", 10.0, "Ratio", 0.0, 100.0)
FLOAT_OPEN = ParamSpec("gain", 1.0, "Gain")
CHOICE = ParamSpec("backend", "auto", "Backend", choices=("auto", "torch"))
FLAG = ParamSpec("rectify", False, "Rectify")


@pytest.mark.parametrize(
    ("spec", "value", "reason"),
    [
        (INT, 1, None),
        (INT, 100, None),
        (INT, 0, "queue_size must be >= 1, got 0"),
        (INT, 101, "queue_size must be <= 100, got 101"),
        (INT, 3.0, "queue_size must be int, got float"),
        (INT, True, "queue_size must be int, got bool"),
        (INT, "5", "queue_size must be int, got str"),
        (STEP, 16, None),
        (STEP, 4096, None),
        (STEP, 24, "disparity_range must be 16 + a multiple of 16, got 24"),
        (STEP, 0, "disparity_range must be >= 16, got 0"),
        (ODD, 1, None),
        (ODD, 11, None),
        (ODD, 4, "block must be odd, got 4"),
        (ODD, 13, "block must be <= 11, got 13"),
        (ODD_FROM_EVEN, 5, None),
        (ODD_FROM_EVEN, 4, "window must be odd, got 4"),
        (FLOAT, 0.0, None),
        (FLOAT, 100.0, None),
        (FLOAT, 7, None),  # an int is a fine float
        (FLOAT, -0.5, "ratio must be >= 0, got -0.5"),
        (FLOAT, 100.5, "ratio must be <= 100, got 100.5"),
        (FLOAT, math.nan, "ratio must be a number, got NaN"),
        (FLOAT, math.inf, "ratio must be <= 100, got inf"),
        (FLOAT, True, "ratio must be float, got bool"),
        (FLOAT, "1", "ratio must be float, got str"),
        (FLOAT_OPEN, -1e9, None),
        (FLOAT_OPEN, math.nan, "gain must be a number, got NaN"),
        (CHOICE, "torch", None),
        (CHOICE, "cuda", "backend must be one of auto, torch, got 'cuda'"),
        (CHOICE, 1, "backend must be str, got int"),
        (FLAG, True, None),
        (FLAG, 1, "rectify must be bool, got int"),
    ],
)
def test_validate(spec: ParamSpec, value: object, reason: str | None) -> None:
    assert spec.validate(value) == reason


def test_describe() -> None:
    assert STEP.describe() == "Disparities (range [16, 4096], step 16, default 64)"
    assert ODD.describe() == "Block (range [1, 11], odd, default 5)"
    assert CHOICE.describe() == "Backend (one of auto|torch, default 'auto')"
    ro = ParamSpec("model", "sgbm", "Model ID", read_only=True)
    assert ro.describe() == "Model ID (default 'sgbm', read-only)"


def test_merge_defaults_and_validate_all() -> None:
    specs = merge([INT, FLOAT], [CHOICE])
    assert list(specs) == ["queue_size", "ratio", "backend"]
    assert defaults(specs) == {"queue_size": 5, "ratio": 10.0, "backend": "auto"}
    validate_all(specs, {"queue_size": 7, "backend": "torch"})
    with pytest.raises(ConfigError, match="declared twice"):
        merge([INT], [INT])
    with pytest.raises(
        ConfigError, match=r"unknown parameter 'nope'; queue_size must be >= 1, got 0"
    ):
        validate_all(specs, {"nope": 1, "queue_size": 0, "ratio": 3.0})


LOCAL = (INT, STEP, ODD, ODD_FROM_EVEN, FLOAT, FLOAT_OPEN, CHOICE, FLAG)


def _renamed(prefix: str, specs: Any) -> dict[str, ParamSpec]:
    out = {}
    for s in specs:
        name = prefix + s.name
        out[name] = ParamSpec(
            name, s.default, s.description, s.min, s.max, s.step, s.choices, s.read_only, s.odd
        )
    return out


def _all_specs() -> dict[str, ParamSpec]:
    """Every parameter of the stereo node with sgbm and with bm, and the local examples, under
    names that do not collide."""
    return {
        **_renamed("", stereo_node_params(get_model("sgbm").params).values()),
        **_renamed("bm_", stereo_node_params(get_model("bm").params).values()),
        **_renamed("local_", LOCAL),
    }


def test_every_default_is_valid() -> None:
    for spec in _all_specs().values():
        assert spec.validate(spec.default) is None, spec.name


# --- rclpy descriptors ------------------------------------------------------------------


def _probe_values(spec: ParamSpec) -> list[Any]:
    """Values on and around the edges of the range, and inside it, of the spec's type."""
    if isinstance(spec.default, (bool, str)):
        return [spec.default, *(spec.choices or ())]
    lo = spec.min if spec.min is not None else -1e6
    hi = spec.max if spec.max is not None else 1e6
    if isinstance(spec.default, int):
        ilo, ihi = int(lo), int(hi)
        mid = (ilo + ihi) // 2
        return sorted(
            {
                ilo - 1,
                ilo,
                ilo + 1,
                ilo + 2,
                mid,
                mid + 1,
                ihi - 2,
                ihi - 1,
                ihi,
                ihi + 1,
                spec.default,
            }
        )
    return [lo - 1.0, lo, lo + 1e-3, (lo + hi) / 2, hi - 1e-3, hi, hi + 1.0, spec.default]


def test_descriptors_declare_and_agree_with_validate(ros_node: Any) -> None:
    """Every spec declares with its default, and rclpy's own range check (the one that
    ``ros2 param set`` meets) accepts exactly the values that ParamSpec.validate accepts."""
    from rclpy.parameter import Parameter

    from depth_ros.nodes.parameters import declare, descriptor

    node = ros_node
    specs = _all_specs()
    assert len(specs) > 40
    assert declare(node, specs) == defaults(specs)
    checked = 0
    for name, spec in specs.items():
        stored = node.describe_parameter(name)
        assert stored.read_only == spec.read_only
        assert stored.description == spec.describe()
        assert list(stored.integer_range) == list(descriptor(spec).integer_range)
        for value in _probe_values(spec):
            ours = spec.validate(value) is None
            res = node._apply_descriptor(Parameter(name, value=value), stored, False)
            assert res.successful == ours, (name, value, res.reason)
            checked += 1
    assert checked > 300, checked


def test_descriptor_ranges() -> None:
    from depth_ros.nodes.parameters import descriptor

    d = descriptor(STEP)
    assert (d.integer_range[0].from_value, d.integer_range[0].to_value) == (16, 4096)
    assert d.integer_range[0].step == 16
    assert not d.floating_point_range
    odd = descriptor(ODD_FROM_EVEN).integer_range[0]
    assert (odd.from_value, odd.to_value, odd.step) == (5, 255, 2)
    f = descriptor(FLOAT).floating_point_range[0]
    assert (f.from_value, f.to_value, f.step) == (0.0, 100.0, 0.0)
    assert not descriptor(FLOAT).integer_range
    assert not descriptor(FLAG).integer_range
    assert not descriptor(FLOAT_OPEN).floating_point_range  # no range: any value
    assert descriptor(CHOICE).additional_constraints == "one of: auto, torch"


# --- registry ---------------------------------------------------------------------------


def test_registry() -> None:
    reg: Registry[int] = Registry("widget")
    assert reg.register("b", 2) == 2
    reg.register("a", 1)
    assert reg.get("a") == 1
    assert reg.names() == ["a", "b"]
    assert list(reg) == ["a", "b"]
    assert len(reg) == 2
    assert "a" in reg
    assert "c" not in reg
    with pytest.raises(ConfigError, match=r"unknown widget 'c'; known: a, b"):
        reg.get("c")
    with pytest.raises(ConfigError, match=r"widget 'a' is registered twice"):
        reg.register("a", 3)
    assert reg.get("a") == 1
    with pytest.raises(ConfigError, match=r"known: \(none\)"):
        Registry[int]("thing").get("x")
