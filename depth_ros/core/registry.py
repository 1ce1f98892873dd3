"""A tiny generic registry: name → entry, with clear errors for unknown names, filled
lazily on the first lookup.

A registry built with ``package`` and ``modules`` imports ``<package>.<module>`` for each
module name the first time it is looked up (each such module registers its entries when
imported), then the third-party plugins (:func:`load_plugins`). Registering does not load:
the modules being imported call :meth:`Registry.register` themselves.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator, Sequence
from typing import Generic, TypeVar

from depth_ros.core.errors import ConfigError

T = TypeVar("T")

#: the entry-point group third-party packages register their plugin modules under
PLUGIN_GROUP = "depth_ros.plugins"
#: comma-separated module names imported as plugins too
PLUGIN_ENV = "DEPTH_ROS_PLUGINS"

_plugins_loaded = False


def load_plugins() -> None:
    """Import third-party modules that register models, scale sources, dataset kinds or
    backends: the ``depth_ros.plugins`` entry-point group, and the comma-separated module
    names in the ``DEPTH_ROS_PLUGINS`` environment variable. Once per process: every lazy
    registry calls it on its first lookup."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    _plugins_loaded = True
    from importlib.metadata import entry_points

    for ep in entry_points(group=PLUGIN_GROUP):
        ep.load()
    for name in filter(None, os.environ.get(PLUGIN_ENV, "").split(",")):
        importlib.import_module(name.strip())


class Registry(Generic[T]):
    """Maps names to entries. ``kind`` names what is registered, for error messages.

    ``package`` and ``modules``: the modules (``<package>.<name>``) that register the
    built-in entries, imported on the first lookup (:meth:`get`, :meth:`names`, ``in``,
    iteration, ``len``), followed by :func:`load_plugins` unless ``plugins`` is false.
    """

    def __init__(
        self,
        kind: str,
        package: str | None = None,
        modules: Sequence[str] = (),
        plugins: bool = True,
    ) -> None:
        if modules and not package:
            raise ValueError("a registry with modules needs their package")
        self.kind = kind
        self.package = package
        self.modules = tuple(modules)
        self.plugins = plugins and package is not None
        self._entries: dict[str, T] = {}
        self._loaded = package is None

    def load(self) -> None:
        """Import the registering modules and the plugins, once. The flag is set first, so
        a module that looks up the registry while being imported sees what is there."""
        if self._loaded:
            return
        self._loaded = True
        for name in self.modules:
            importlib.import_module(f"{self.package}.{name}")
        if self.plugins:
            load_plugins()

    def register(self, name: str, entry: T) -> T:
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str) -> T:
        self.load()
        try:
            return self._entries[name]
        except KeyError:
            known = ", ".join(sorted(self._entries)) or "(none)"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known}") from None

    def names(self) -> list[str]:
        self.load()
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        self.load()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def __len__(self) -> int:
        self.load()
        return len(self._entries)
