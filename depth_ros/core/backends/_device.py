"""Device-string parsing shared by the backends (no heavy imports)."""

from __future__ import annotations

import re

from depth_ros.core.errors import ConfigError

_DEVICE = re.compile(r"^(cpu|cuda)(?::(\d+))?$")


def parse_device(device: str) -> tuple[str, int]:
    """``"cpu"`` → ("cpu", 0); ``"cuda"`` / ``"cuda:N"`` → ("cuda", N); else ConfigError."""
    m = _DEVICE.match(device.strip().lower())
    if not m or (m.group(1) == "cpu" and m.group(2) is not None):
        raise ConfigError(f"unknown device {device!r}; expected 'cpu', 'cuda' or 'cuda:N'")
    return m.group(1), int(m.group(2) or 0)
