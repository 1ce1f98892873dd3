"""The newest-frame worker: long inference runs on its own thread, always on the newest
input, so that the executor (parameter services, diagnostics) never waits for it; and
what changes between two of its frames, never during one.

All of a model's computation (building it, every frame, closing it) runs on one
:class:`ComputeThread` for the node's lifetime, across deactivate/activate cycles.
PyTorch's CPU kernels run in an OpenMP team that belongs to the thread calling them; a
second calling thread gets a second team, and its forward passes measured 15-30 % slower
(Monodepth2 on 2 cores: built and run on one thread 119-134 ms, built on one and run on
another 146-184 ms)."""

from __future__ import annotations

import copy
import queue
import threading
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from concurrent.futures import wait as wait_futures
from typing import Any, Generic, TypeVar

from depth_ros.core.params import Value

T = TypeVar("T")
R = TypeVar("R")


class ComputeThread:
    """One daemon thread that runs the callables handed to it, in order."""

    def __init__(self, name: str) -> None:
        self._tasks: queue.SimpleQueue[tuple[Callable[[], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (task := self._tasks.get()) is not None:
            fn, future = task
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(fn())
                except BaseException as exc:  # handed to the caller
                    future.set_exception(exc)

    def submit(self, fn: Callable[[], R]) -> Future[R]:
        """Queue ``fn``; its future holds the result or the exception it raised."""
        future: Future[R] = Future()
        self._tasks.put((fn, future))
        return future

    def call(self, fn: Callable[[], R]) -> R:
        """Run ``fn`` on the thread and wait for it (at once when called on the thread)."""
        if threading.current_thread() is self._thread:
            return fn()
        return self.submit(fn).result()

    def close(self) -> None:
        """Finish what was queued, then end the thread."""
        self._tasks.put(None)


class LatestSlot(Generic[T]):
    """A one-element mailbox: ``put`` replaces what has not been taken yet (counted as
    dropped), so the worker always processes the newest frame and no queue grows."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._item: T | None = None
        self.dropped = 0
        self._closed = False

    def put(self, item: T) -> None:
        """Put ``item`` in the slot, replacing (and counting as dropped) one not yet taken."""
        with self._cond:
            if self._item is not None:
                self.dropped += 1
            self._item = item
            self._cond.notify()

    def take(self, timeout: float | None = None) -> T | None:
        """The item in the slot (emptying it), waiting up to ``timeout`` s; None if none came or the
        slot is closed."""
        with self._cond:
            if self._item is None and not self._closed:
                self._cond.wait(timeout)
            item, self._item = self._item, None
            return item

    def close(self) -> None:
        """Close the slot: waiting takers return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()


class Worker:
    """Runs ``process(item)`` for the newest item of a :class:`LatestSlot` on ``thread``,
    so that long inference never blocks the executor (parameter services and diagnostics
    stay responsive)."""

    def __init__(self, process: Callable[[Any], None], thread: ComputeThread) -> None:
        self.slot: LatestSlot[Any] = LatestSlot()
        self._process = process
        self._running = True
        self._loop_done = thread.submit(self._loop)

    def _loop(self) -> None:
        while self._running:
            item = self.slot.take(timeout=0.5)
            if item is not None and self._running:
                self._process(item)

    def submit(self, item: Any) -> None:
        """Hand ``item`` to the worker (the newest item wins)."""
        self.slot.put(item)

    def stop(self) -> None:
        """Stop the worker thread (waits up to 5 s for the frame in hand)."""
        self._running = False
        self.slot.close()
        wait_futures([self._loop_done], timeout=5.0)


class BetweenFrames:
    """The lock a worker holds while it processes a frame, and the changes that must not
    happen during one: model parameters, the node's options (``apply_options``) and a jump
    back in time (``on_time_jump``). Made from other threads (parameter callbacks, time
    jumps), they apply at once when the worker is idle and are otherwise left for
    :meth:`run_pending`, which the worker calls before its next frame: a parameter service
    never waits for a forward pass. Model changes are validated first on a shallow copy of
    the model with the pending changes (:meth:`trial`), so that a refused value changes
    nothing."""

    def __init__(
        self,
        apply_options: Callable[[], None],
        on_time_jump: Callable[[], None],
        wait_s: float = 0.1,  # longest a change waits for the worker before deferring
    ) -> None:
        self.lock = threading.Lock()  # held by the worker around each frame
        self._apply_options = apply_options
        self._on_time_jump = on_time_jump
        self._wait_s = wait_s
        self._pending_lock = threading.Lock()
        self._changes: dict[str, Value] = {}
        self._shadow: Any = None  # the model with the pending changes (validation only)
        self._trial: tuple[dict[str, Value], Any] | None = None  # last validated changes
        self._options = False
        self._jump = False

    def trial(self, model: Any, changes: Mapping[str, Value]) -> None:
        """Validate model ``changes`` on a shallow copy of ``model`` with the pending
        changes; raises DepthRosError (the model does not change)."""
        with self._pending_lock:
            base = self._shadow if self._shadow is not None else model
        shadow = copy.copy(base)
        shadow.update(changes)
        self._trial = (dict(changes), shadow)

    def change(self, model: Any, changes: Mapping[str, Value], options: bool) -> None:
        """Apply model ``changes`` (validated by :meth:`trial`) and, if ``options``, the
        node's options: now if the worker is idle, else before its next frame."""
        trial, self._trial = self._trial, None
        if self.lock.acquire(timeout=self._wait_s):
            try:
                self.run_pending(model)
                if changes:
                    model.update(changes)
                if options:
                    self._apply_options()
            finally:
                self.lock.release()
            return
        with self._pending_lock:
            if changes:
                if trial is not None and trial[0] == dict(changes):
                    self._shadow = trial[1]
                else:  # (not validated by trial: validate now, on the copy)
                    shadow = copy.copy(self._shadow if self._shadow is not None else model)
                    shadow.update(changes)
                    self._shadow = shadow
                self._changes.update(changes)
            self._options = self._options or options

    def time_jumped(self) -> None:
        """Time went backwards: ``on_time_jump`` before the next frame."""
        with self._pending_lock:
            self._jump = True

    def run_pending(self, model: Any) -> None:
        """With :attr:`lock` held: apply what was left during the last frame."""
        with self._pending_lock:
            changes, self._changes, self._shadow = self._changes, {}, None
            options, self._options = self._options, False
            jump, self._jump = self._jump, False
        if model is None:
            return
        if jump:
            self._on_time_jump()
        if changes:
            model.update(changes)  # validated on the shadow already
        if options:
            self._apply_options()

    def clear(self) -> None:
        """The model goes (cleanup): what was pending for it too."""
        with self._pending_lock:
            self._changes, self._shadow, self._trial, self._options = {}, None, None, False
