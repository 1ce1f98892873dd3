"""Publishing messages serialized in place (:mod:`depth_ros.core.cdr`) without copies in
Python and without holding the GIL.

rclpy holds the GIL while a publish copies a message into the middleware (~1 ms per
1.5 MB image here), so nothing else in the process runs meanwhile. A
:class:`SerializedPublisher` hands a :class:`~depth_ros.core.cdr.CdrMessage` buffer to
``rcl_publish_serialized_message`` through ctypes, which releases the GIL for the call:
the middleware copies the bytes while the worker thread computes the next output.
Where that C entry point or rclpy's publisher address is not available it falls back to
``Publisher.publish(bytes)`` (rclpy's own serialized publish, one more copy).
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from depth_ros.core.cdr import CdrMessage


class _Allocator(ctypes.Structure):  # rcutils_allocator_t
    _fields_ = [
        (name, ctypes.c_void_p)
        for name in ("allocate", "deallocate", "reallocate", "zero_allocate", "state")
    ]


class _SerializedMessage(ctypes.Structure):  # rcl_serialized_message_t (rcutils_uint8_array_t)
    _fields_ = [
        ("buffer", ctypes.c_void_p),
        ("buffer_length", ctypes.c_size_t),
        ("buffer_capacity", ctypes.c_size_t),
        ("allocator", _Allocator),
    ]


@functools.cache
def _rcl_publish() -> Any:
    """``rcl_publish_serialized_message`` of the librcl rclpy has loaded, or None."""
    try:
        import rclpy.impl.implementation_singleton  # noqa: F401  (loads librcl)

        fn = ctypes.CDLL("librcl.so").rcl_publish_serialized_message
    except (OSError, AttributeError, ImportError):
        return None
    fn.argtypes = [ctypes.c_void_p, ctypes.POINTER(_SerializedMessage), ctypes.c_void_p]
    fn.restype = ctypes.c_int
    return fn


class SerializedPublisher:
    """Publishes :class:`CdrMessage` buffers on an rclpy publisher of the same type."""

    def __init__(self, publisher: Any) -> None:
        self.publisher = publisher
        handle = getattr(publisher, "handle", None)  # rclpy's C publisher
        self._fn = _rcl_publish() if hasattr(handle, "pointer") else None

    @property
    def releases_gil(self) -> bool:
        """Whether publishing calls rcl directly (without the GIL) rather than rclpy's publish."""
        return self._fn is not None

    def publish(self, msg: CdrMessage) -> None:
        """Publish the serialized bytes of ``msg`` (after the size check of a
        SizeCheckedPublisher)."""
        check = getattr(self.publisher, "check_size", None)  # SizeCheckedPublisher
        if check is not None:
            check(len(msg.data))
        if self._fn is None:
            self.publisher.publish(bytes(msg.data))
            return
        size = len(msg.data)
        view = (ctypes.c_char * size).from_buffer(msg.data)
        raw = _SerializedMessage(ctypes.addressof(view), size, size)
        with self.publisher.handle:  # keeps the publisher alive during the call
            ret = self._fn(self.publisher.handle.pointer, ctypes.byref(raw), None)
        del view
        if ret != 0:
            raise RuntimeError(
                f"rcl_publish_serialized_message on {self.publisher.topic_name} failed "
                f"(rcl_ret_t {ret})"
            )


class PublishQueue:
    """One background thread that publishes in submission order, so that the worker
    computes the next output while the middleware copies the previous one. :meth:`wait`
    returns when everything submitted is out (and re-raises a failure)."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="depth_ros_publish")
        self._pending: list[Future[Any]] = []

    def submit(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the publishing thread."""
        self._pending.append(self._pool.submit(fn, *args))

    def wait(self) -> None:
        """Wait for everything submitted; re-raise the first error."""
        pending, self._pending = self._pending, []
        errors = [future.exception() for future in pending]  # waits for every one
        for error in errors:
            if error is not None:
                raise error

    def close(self) -> None:
        """Stop the publishing thread (after its queue is done)."""
        self._pool.shutdown(wait=True)


class SerializedOutputs:
    """A node's outgoing messages built in place: one :class:`CdrMessage` per output,
    rebuilt only when its layout (``key``: frame id, size...) changes and otherwise
    reused frame after frame (no allocation, no page faults), published in the
    foreground or on the :class:`PublishQueue`. A message is reused only after
    :meth:`wait`, by when the middleware has copied it."""

    def __init__(self) -> None:
        self._messages: dict[str, tuple[Any, CdrMessage]] = {}
        self._publishers: dict[int, SerializedPublisher] = {}
        self._queue: PublishQueue | None = None

    def message(self, name: str, key: Any, build: Callable[[], CdrMessage]) -> CdrMessage:
        """The cached message ``name``, rebuilt with ``build`` when ``key`` (its layout) changed."""
        cached = self._messages.get(name)
        if cached is None or cached[0] != key:
            cached = self._messages[name] = (key, build())
        return cached[1]

    def publish(self, publisher: Any, msg: CdrMessage, background: bool = False) -> None:
        """Publish ``msg`` on ``publisher``, on the publishing thread when ``background``."""
        raw = self._publishers.get(id(publisher))
        if raw is None or raw.publisher is not publisher:
            raw = self._publishers[id(publisher)] = SerializedPublisher(publisher)
        if background:
            self.background(raw.publish, msg)
        else:
            raw.publish(msg)

    def background(self, fn: Callable[..., object], *args: Any) -> None:
        """Run ``fn(*args)`` on the publishing thread, in order with the publishes."""
        if self._queue is None:
            self._queue = PublishQueue()
        self._queue.submit(fn, *args)

    def wait(self) -> None:
        """Wait for the background publishes of this frame."""
        if self._queue is not None:
            self._queue.wait()

    def close(self) -> None:
        """Release the thread and the buffers (cleanup)."""
        if self._queue is not None:
            self._queue.close()
            self._queue = None
        self._messages.clear()
        self._publishers.clear()
