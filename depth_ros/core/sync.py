"""Time synchronisation of several message streams (message_filters without ROS).

``exact``: a set is emitted when every stream has a message with the same stamp.
``approximate``: when a message arrives, every other stream's message nearest to it in
time is taken; the set is emitted when all streams have one and all its stamps lie within
``tolerance_ns`` of each other. Emitted and older messages are discarded (also late ones
older than a set already emitted), so queues stay bounded by ``queue_size``. A new set
with the stamp of the last one (a frame sent again) is still emitted.

A message more than ``jump_back_ns`` (default 100 ms) older than the last set emitted on
its own stream is a jump back in time (a bag played in a loop, a simulator reset), not a
late message: every queue is cleared and matching starts over from that message
(``jumps`` counts them, ``last_jump_ns`` is the size of the last one). Without this, every
frame would be discarded until the stamps passed the old maximum.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from typing import Generic, TypeVar

T = TypeVar("T")


class TimeSynchronizer(Generic[T]):
    """Pair messages of several streams by stamp (see the module): exact or approximate."""

    def __init__(
        self,
        streams: int,
        queue_size: int = 5,
        approximate: bool = False,
        tolerance_ns: int = 0,
        jump_back_ns: int = 100_000_000,
    ) -> None:
        if streams < 1:
            raise ValueError("need at least one stream")
        self._queues: list[deque[tuple[int, T]]] = [
            deque(maxlen=queue_size) for _ in range(streams)
        ]
        self.approximate = approximate
        self.tolerance_ns = tolerance_ns
        self.discarded = 0  # messages that fell out of a queue unmatched, or came too late
        self._emitted: list[int | None] = [None] * streams  # stamp of the last emitted set
        self.jump_back_ns = jump_back_ns
        self.jumps = 0
        self.last_jump_ns = 0

    def reset(self) -> None:
        """Forget every queued message and the last emitted set (time started over)."""
        for q in self._queues:
            q.clear()
        self._emitted = [None] * len(self._queues)

    def add(self, stream: int, stamp_ns: int, item: T) -> list[T] | None:
        """Add a message; return the synchronised set (one item per stream) or None."""
        last = self._emitted[stream]
        if last is not None and stamp_ns < last - self.jump_back_ns:
            self.jumps += 1
            self.last_jump_ns = last - stamp_ns
            self.reset()
            last = None
        if last is not None and stamp_ns < last:
            self.discarded += 1  # older than a set already emitted: it can never pair
            return None
        queue = self._queues[stream]
        if queue.maxlen is not None and len(queue) == queue.maxlen:
            self.discarded += 1
        queue.append((stamp_ns, item))
        picks = self._match(stamp_ns)
        if picks is None:
            return None
        out: list[T] = []
        for i, (q, (t, msg)) in enumerate(zip(self._queues, picks, strict=True)):
            out.append(msg)
            # arrivals may be out of order: drop every entry up to t, not just a prefix
            kept = [e for e in q if e[0] > t]
            q.clear()
            q.extend(kept)
            self._emitted[i] = t
        return out

    def _match(self, stamp_ns: int) -> Sequence[tuple[int, T]] | None:
        tolerance = self.tolerance_ns if self.approximate else 0
        picks: list[tuple[int, T]] = []
        for q in self._queues:
            if not q:
                return None
            best = min(q, key=lambda e: abs(e[0] - stamp_ns))
            if abs(best[0] - stamp_ns) > tolerance:
                return None
            picks.append(best)
        stamps = [t for t, _ in picks]
        if max(stamps) - min(stamps) > tolerance:
            return None  # each is near the arrival, but not all near each other
        return picks

    def pending(self) -> list[int]:
        """Messages waiting in each stream's queue."""
        return [len(q) for q in self._queues]
