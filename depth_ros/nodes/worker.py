"""The newest-frame worker: long inference runs on its own thread, always on the newest
input, so that the executor (parameter services, diagnostics) never waits for it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

T = TypeVar("T")


class LatestSlot(Generic[T]):
    """A one-element mailbox: ``put`` replaces what has not been taken yet (counted as
    dropped), so the worker always processes the newest frame and no queue grows."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0
        self._closed = False

    def put(self, item: T) -> None:
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Worker:
    """Runs ``process(item)`` for the newest item of a :class:`LatestSlot` on its own
    thread, so that long inference never blocks the executor (parameter services and
    diagnostics stay responsive)."""

    def __init__(self, process: Callable[[Any], None], name: str = "depth_ros_worker") -> None:
        self.slot: LatestSlot[Any] = LatestSlot()
        self._process = process
        self._running = True
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while self._running:
            item = self.slot.take(timeout=0.5)
            if item is not None and self._running:
                self._process(item)

    def submit(self, item: Any) -> None:
        self.slot.put(item)

    def stop(self) -> None:
        self._running = False
        self.slot.close()
        self._thread.join(timeout=5.0)
