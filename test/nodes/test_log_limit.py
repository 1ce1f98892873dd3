"""RateLimitedLog (issue 15): distinct messages are bounded per period, not just exact
repeats, the suppressed ones are counted on the next line, and its table shrinks."""

from __future__ import annotations

from typing import Any

import pytest

from depth_ros.nodes import log_limit


class _Logger:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def error(self, message: str) -> None:
        self.lines.append(message)

    warning = info = error


class _Node:
    def __init__(self) -> None:
        self.logger = _Logger()

    def get_logger(self) -> Any:
        return self.logger


def test_distinct_messages_are_bounded_and_the_table_shrinks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    now = [1000.0]
    monkeypatch.setattr("depth_ros.nodes.log_limit.time.monotonic", lambda: now[0])
    node = _Node()
    log = log_limit.RateLimitedLog(node, period=5.0, burst=10)  # type: ignore[arg-type]
    for i in range(1000):  # a different message every frame (a size in the text)
        log.error(f"image {i}x480 does not match", f"image {i}x480 does not match")
        now[0] += 0.001
    assert len(node.logger.lines) == 10
    assert log.keys() == 10  # not 1000
    assert log.count == 1000  # every error still counted for diagnostics
    now[0] += 5.0
    log.error("later", "later")
    assert node.logger.lines[-1] == "later (990 other messages suppressed)"
    assert log.keys() == 1  # the old keys were forgotten
    log.error("later", "later")
    assert len(node.logger.lines) == 11  # an exact repeat within the period
