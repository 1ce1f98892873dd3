"""Node parameters from the core schema (:mod:`depth_ros.core.params`): rclpy
descriptors with ranges, declaration that reports invalid start-up values instead of
raising, and :class:`ParameterBinding`, which validates every update in the on-set
callback and applies it in the post-set callback, once rclpy has stored the values
(``add_on_set_parameters_callback`` / ``add_post_set_parameters_callback``, as rclpy
intends and ros2/demos' parameter examples do)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
from depth_ros.nodes.log_limit import RateLimitedLog


def descriptor(spec: ParamSpec) -> ParameterDescriptor:
    """An rclpy descriptor with description, range and read-only flag from a ParamSpec."""
    d = ParameterDescriptor(name=spec.name, description=spec.describe(), read_only=spec.read_only)
    if spec.choices:
        d.additional_constraints = "one of: " + ", ".join(spec.choices)
    elif spec.pattern_help:
        d.additional_constraints = spec.pattern_help
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
    """The rclpy exception about a start-up value as one short sentence."""
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


class ParameterBinding:
    """A component's parameters on its node: declared from the schema (:meth:`bind`),
    each update validated in the on-set callback (value by value against the schema,
    then ``check(changed, after)`` for constraints between parameters and the model's
    own checks; refused with the reasons, each distinct refusal logged once per period)
    and applied in the post-set callback (:attr:`values` updated, then
    ``apply(changed)``). Declaring validates against the schema only: invalid start-up
    values go to :attr:`startup_invalid` (name → reason) for the node to report."""

    def __init__(
        self,
        node: Node,
        log: RateLimitedLog,
        check: Callable[[Mapping[str, Value], Mapping[str, Value]], list[str]],
        apply: Callable[[Mapping[str, Value]], None],
    ) -> None:
        self.node = node
        self.log = log
        self.specs: dict[str, ParamSpec] = {}
        self.values: dict[str, Value] = {}  # the values in force (one dict, kept)
        self.startup_invalid: dict[str, str] = {}
        self._check = check
        self._apply = apply
        self._declaring = False
        node.add_on_set_parameters_callback(self.validate)
        node.add_post_set_parameters_callback(self.applied)

    def declare_first(self, specs: Mapping[str, ParamSpec]) -> dict[str, Value]:
        """Declare the parameters that the schema depends on (the model, a choice such
        as the scale source) before it is known; their values (in :attr:`values`)."""
        values = declare(self.node, specs, self.startup_invalid)
        self.values.update(values)
        return values

    def bind(self, specs: Mapping[str, ParamSpec]) -> dict[str, Value]:
        """Declare the node's whole schema (those declared already keep their value) and
        validate and apply every update from now on; the values in force."""
        self.specs = dict(specs)
        self._declaring = True
        try:
            values = declare(self.node, self.specs, self.startup_invalid)
        finally:
            self._declaring = False
        self.values.clear()
        self.values.update(values)
        return self.values

    def warn_startup_invalid(self) -> None:
        """Log each invalid start-up value as a refused update (the default is in force)."""
        for reason in self.startup_invalid.values():
            self.log.warn("param:" + reason, "rejected parameter update: " + reason)

    def validate(self, params: list[Parameter[Any]]) -> SetParametersResult:
        """On-set callback: refuse the update (nothing changes) with the reasons, or
        accept it."""
        if not self.specs:  # declaring what the schema depends on: descriptors check it
            return result([])
        reasons = invalid_reasons(self.specs, params)
        if self._declaring:  # start-up values: the node reports them, in one line
            return result(reasons)
        changed = {p.name: p.value for p in params if p.name in self.specs}
        if not reasons:  # constraints between parameters, on the values after the update
            reasons = self._check(changed, {**self.values, **changed})
        if reasons:
            reason = "; ".join(reasons)  # one message per distinct rejection per period
            self.log.warn("param:" + reason, "rejected parameter update: " + reason)
        return result(reasons)

    def applied(self, params: list[Parameter[Any]]) -> None:
        """Post-set callback: the update is stored; make it take effect."""
        if not self.specs or self._declaring:
            return
        changed = {p.name: p.value for p in params if p.name in self.specs}
        if not changed:
            return
        self.values.update(changed)
        for name in changed:
            self.startup_invalid.pop(name, None)  # a valid value replaces a refused one
        self._apply(changed)

    def serve_atomic_requests(self) -> None:
        """Serve ``<node>/set_parameters`` with :meth:`set_parameters_service`."""
        for service in self.node.services:
            if service.srv_name.endswith("/set_parameters"):
                service.callback = self.set_parameters_service

    def set_parameters_service(self, request: Any, response: Any) -> Any:
        """``<node>/set_parameters`` with the parameters of one request applied together:
        those that are each valid are set in one atomic update, so that constraints
        between them (P1 < P2, min_depth < max_depth) are checked on the values after the
        whole request, never half-applied. A parameter that is invalid on its own (unknown,
        read-only, out of range) is rejected alone, as ROS does."""
        node = self.node
        results: list[Any] = [None] * len(request.parameters)
        batch: list[tuple[int, Parameter[Any]]] = []
        for i, msg in enumerate(request.parameters):
            param = Parameter.from_parameter_msg(msg)
            reason = None
            if not node.has_parameter(param.name):
                reason = f"parameter {param.name!r} is not declared"
            elif node.describe_parameter(param.name).read_only:
                reason = f"parameter {param.name!r} is read-only"
            elif param.name in self.specs:
                reason = self.specs[param.name].validate(param.value)
            if reason is None:
                batch.append((i, param))
                continue
            try:  # let rclpy give its own reason (and log it as usual)
                results[i] = node.set_parameters_atomically([param])
            except Exception:
                results[i] = result([reason])
            if results[i].successful:  # our check was stricter than rclpy's: keep ours
                results[i] = result([reason])
        if batch:
            together = node.set_parameters_atomically([p for _, p in batch])
            for i, _ in batch:
                results[i] = together
        response.results = results
        return response
