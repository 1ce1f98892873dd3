"""The node catalogue (:mod:`depth_ros.core.catalogue`) on the rclpy side: message classes
of its type names, and a component's publishers and subscriptions made from its entry, so
that a node has exactly the topics the catalogue lists for its configuration."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from typing import Any, Protocol

from depth_ros.core.catalogue import NodeInfo


class _Publishing(Protocol):
    def publisher(self, msg_type: type, topic: str, qos: Any) -> Any: ...


def message_class(type_name: str) -> type:
    """``sensor_msgs/msg/Image`` → the ``sensor_msgs.msg.Image`` class."""
    package, kind, name = type_name.split("/")
    cls: type = getattr(importlib.import_module(f"{package}.{kind}"), name)
    return cls


def publishers(
    component: _Publishing, info: NodeInfo, qos: Any, flags: Iterable[str] = ()
) -> dict[str, Any]:
    """One publisher per output of ``info`` that the node has with ``flags``, by key."""
    return {
        t.key: component.publisher(message_class(t.type), t.name, qos)
        for t in info.active_outputs(flags)
    }


def synced_inputs(info: NodeInfo, flags: Iterable[str] = ()) -> tuple[tuple[str, type], ...]:
    """The synchronised input topics and classes of ``info`` with ``flags`` (in catalogue
    order: the order of the messages the component's ``handle`` receives)."""
    return _inputs(info, flags, synced=True)


def unsynced_inputs(info: NodeInfo, flags: Iterable[str] = ()) -> tuple[tuple[str, type], ...]:
    """The inputs of ``info`` with ``flags`` that are kept newest-first, not synchronised."""
    return _inputs(info, flags, synced=False)


def _inputs(info: NodeInfo, flags: Iterable[str], synced: bool) -> tuple[tuple[str, type], ...]:
    held = set(flags)
    return tuple(
        (name, message_class(type_name))
        for name, type_name in (
            t.resolved(held) for t in info.active_inputs(held) if t.synced is synced
        )
    )
