"""Per-stage timing of one frame without add-back arithmetic."""

from __future__ import annotations

import time


class Stopwatch:
    """Milliseconds per named stage of one frame. :meth:`lap` charges the time since the
    previous lap (or the start) to a stage, so consecutive laps cover the whole frame
    with nothing counted twice; a stage may be lapped several times (it adds up)."""

    def __init__(self) -> None:
        self.ms: dict[str, float] = {}
        self._mark = time.perf_counter()

    def lap(self, stage: str) -> float:
        """Charge the time since the last lap to ``stage``; returns those milliseconds."""
        now = time.perf_counter()
        elapsed = (now - self._mark) * 1e3
        self._mark = now
        self.ms[stage] = self.ms.get(stage, 0.0) + elapsed
        return elapsed
