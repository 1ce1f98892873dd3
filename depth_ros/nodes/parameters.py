"""Node parameters from the core schema (:mod:`depth_ros.core.params`): rclpy
descriptors with ranges, declaration that reports invalid start-up values instead of
raising, and the reasons an update is refused."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rcl_interfaces.msg import (
    FloatingPointRange,
    IntegerRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException
from rclpy.node import Node
from rclpy.parameter import Parameter

from depth_ros.core.params import ParamSpec, Value


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """An rclpy descriptor with description, range and read-only flag from a ParamSpec."""
    d = ParameterDescriptor(name=spec.name, description=spec.describe(), read_only=spec.read_only)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    if isinstance(spec.default, bool):
        return d
    if isinstance(spec.default, int) and (spec.min is not None or spec.max is not None):
        d.integer_range = [
            IntegerRange(
                from_value=int(spec.min if spec.min is not None else -(2**31)),
                to_value=int(spec.max if spec.max is not None else 2**31 - 1),
                step=int(spec.step or (2 if spec.odd else 1)) if spec.step or spec.odd else 1,
            )
        ]
        if spec.odd and not spec.step:
            # the range must then start on an odd value for ROS's step check
            d.integer_range[0].from_value |= 1
    elif isinstance(spec.default, float) and (spec.min is not None or spec.max is not None):
        d.floating_point_range = [
            FloatingPointRange(
                from_value=float(spec.min if spec.min is not None else -1e300),
                to_value=float(spec.max if spec.max is not None else 1e300),
                step=0.0,
            )
        ]
    return d


def declare(
    node: Node, specs: Mapping[str, ParamSpec], invalid: dict[str, str] | None = None
) -> dict[str, Value]:
    """Declare every parameter with its descriptor; return the values in force.

    A start-up value (``-p name:=value``, a parameters file) that is invalid does not raise:
    the parameter is declared with its default instead and the reason is put in ``invalid``
    (name → reason), so that the node can refuse to start with one clear line."""
    values: dict[str, Value] = {}
    for name, spec in specs.items():
        if node.has_parameter(name):
            values[name] = node.get_parameter(name).value
            continue
        try:
            param: Parameter[Any] = node.declare_parameter(name, spec.default, descriptor(spec))
        except (InvalidParameterValueException, InvalidParameterTypeException) as exc:
            param = node.declare_parameter(
                name, spec.default, descriptor(spec), ignore_override=True
            )
            if invalid is not None:  # (after: declaring the default passes on_set)
                overrides = getattr(node, "_parameter_overrides", {})
                given = overrides[name].value if name in overrides else None
                own = spec.validate(given) if given is not None else None
                invalid[name] = own or startup_reason(spec, exc)
        values[name] = param.value
    return values


def startup_reason(spec: ParamSpec, exc: Exception) -> str:
    """rclpy's exception about a start-up value as one short sentence."""
    if isinstance(exc, InvalidParameterTypeException):
        hint = " (write it with a decimal point, e.g. 5.0)" if spec.type is float else ""
        return f"{spec.name} must be {spec.type.__name__}{hint}"
    text = str(exc.args[0]) if exc.args else str(exc)
    reason = text.split("Reason: ", 1)[-1].strip().removesuffix(f": {spec.name}")
    return reason if reason.startswith(spec.name) else f"{spec.name}: {reason}"


def invalid_reasons(specs: Mapping[str, ParamSpec], params: list[Parameter[Any]]) -> list[str]:
    """Reasons why a parameter update must be rejected (empty list: accept)."""
    reasons = []
    for p in params:
        spec = specs.get(p.name)
        if spec is None:
            continue
        reason = spec.validate(p.value)
        if reason:
            reasons.append(reason)
    return reasons


def result(reasons: list[str]) -> SetParametersResult:
    """A SetParametersResult: successful without reasons, else refused with them."""
    return SetParametersResult(successful=not reasons, reason="; ".join(reasons))
