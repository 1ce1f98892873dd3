"""Parameter schema: declared once, used by the nodes (descriptors with ranges), the launch
files and config profiles (checked against it in tests), and the CLI.

A :class:`ParamSpec` is plain data; ``depth_ros.nodes.parameters`` turns it into an rclpy
``ParameterDescriptor`` with an integer or floating-point range.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from depth_ros.core.errors import ConfigError

Value = bool | int | float | str


@dataclass(frozen=True)
class ParamSpec:
    """One parameter: name, default (its type is the parameter's), description, range or choices,
    read-only."""

    name: str
    default: Value
    description: str
    min: float | None = None
    max: float | None = None
    step: float | None = None  # for integers: values must be min + k*step
    choices: tuple[str, ...] | None = None
    read_only: bool = False  # fixed at start-up (or at lifecycle configure)
    odd: bool = False  # integers that must be odd (block sizes)
    pattern: str | None = None  # strings: a regular expression the whole value matches
    pattern_help: str = ""  # ... said in words (the descriptor's additional_constraints)

    @property
    def type(self) -> type:
        """The parameter's type: the default's."""
        return type(self.default)

    def describe(self) -> str:
        """One line for documentation: description, range and default."""
        extra = []
        if self.min is not None or self.max is not None:
            extra.append(f"range [{self.min}, {self.max}]")
        if self.step:
            extra.append(f"step {self.step:g}")
        if self.odd:
            extra.append("odd")
        if self.choices:
            extra.append("one of " + "|".join(self.choices))
        if self.pattern_help:
            extra.append("format " + self.pattern_help)
        extra.append(f"default {self.default!r}")
        if self.read_only:
            extra.append("read-only")
        return f"{self.description} ({', '.join(extra)})"

    def validate(self, value: object) -> str | None:
        """Return why ``value`` is not acceptable, or None if it is."""
        want = self.type
        if want is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, want) or (want is int and isinstance(value, bool)):
            return f"{self.name} must be {want.__name__}, got {type(value).__name__}"
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if value != value:  # NaN
                return f"{self.name} must be a number, got NaN"
            if self.min is not None and value < self.min:
                return f"{self.name} must be >= {self.min:g}, got {value}"
            if self.max is not None and value > self.max:
                return f"{self.name} must be <= {self.max:g}, got {value}"
            if self.step and isinstance(value, int):
                base = int(self.min or 0)
                if (value - base) % int(self.step):
                    return f"{self.name} must be {base} + a multiple of {self.step:g}, got {value}"
            if self.odd and isinstance(value, int) and value % 2 == 0:
                return f"{self.name} must be odd, got {value}"
        if self.choices is not None and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, got {value!r}"
        if self.pattern is not None and not re.fullmatch(self.pattern, str(value)):
            return f"{self.name} must be {self.pattern_help or self.pattern}, got {value!r}"
        return None


def merge(*groups: Iterable[ParamSpec]) -> dict[str, ParamSpec]:
    """Combine parameter groups; a name defined twice is a programming error."""
    out: dict[str, ParamSpec] = {}
    for group in groups:
        for spec in group:
            if spec.name in out:
                raise ConfigError(f"parameter {spec.name!r} is declared twice")
            out[spec.name] = spec
    return out


def problems(
    specs: Mapping[str, ParamSpec], values: Mapping[str, object], ignore: tuple[str, ...] = ()
) -> list[str]:
    """Why each value is unknown or invalid (empty: all fine); names in ``ignore`` pass."""
    found = []
    for name, value in values.items():
        if name in ignore:
            continue
        spec = specs.get(name)
        if spec is None:
            found.append(f"unknown parameter {name!r}")
            continue
        reason = spec.validate(value)
        if reason:
            found.append(reason)
    return found


def validate_all(specs: Mapping[str, ParamSpec], values: Mapping[str, object]) -> None:
    """Raise :class:`ConfigError` listing every unknown or invalid value."""
    found = problems(specs, values)
    if found:
        raise ConfigError("; ".join(found))


def defaults(specs: Mapping[str, ParamSpec]) -> dict[str, Value]:
    """Name → default value of every spec."""
    return {name: spec.default for name, spec in specs.items()}
