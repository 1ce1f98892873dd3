"""The compute thread and the newest-frame worker (depth_ros.nodes.worker), without ROS."""

from __future__ import annotations

import functools
import threading
import time

import pytest

from depth_ros.nodes.worker import ComputeThread, LatestSlot, Worker


def test_compute_thread_runs_calls_in_order_on_one_thread() -> None:
    compute = ComputeThread("test_compute")
    seen: list[tuple[int, str]] = []

    def record(i: int) -> None:
        seen.append((i, threading.current_thread().name))

    futures = [compute.submit(functools.partial(record, i)) for i in range(5)]
    for f in futures:
        f.result(timeout=5)
    assert [i for i, _ in seen] == list(range(5))
    assert {name for _, name in seen} == {"test_compute"}
    assert compute.call(lambda: threading.current_thread().name) == "test_compute"
    # called from the thread itself: runs at once instead of waiting for itself
    assert compute.call(lambda: compute.call(lambda: 7)) == 7
    with pytest.raises(ZeroDivisionError):
        compute.call(lambda: 1 / 0)
    assert compute.call(lambda: "still running") == "still running"
    compute.close()


def test_worker_processes_the_newest_item_on_the_compute_thread() -> None:
    compute = ComputeThread("test_compute")
    built_on = compute.call(lambda: threading.current_thread().name)  # "the model's build"
    started, gate = threading.Event(), threading.Event()
    done: list[tuple[int, str]] = []

    def process(item: int) -> None:
        started.set()
        gate.wait(5)
        done.append((item, threading.current_thread().name))

    worker = Worker(process, compute)
    worker.submit(1)
    assert started.wait(5)  # the worker holds item 1 (waiting at the gate)
    for item in (2, 3, 4):
        worker.submit(item)
    gate.set()
    deadline = time.monotonic() + 5
    while len(done) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    worker.stop()
    assert [i for i, _ in done] == [1, 4]  # 2 and 3 replaced by the newer 4
    assert worker.slot.dropped == 2
    assert {name for _, name in done} == {built_on}
    # a stopped worker frees the thread: the next call runs
    assert compute.call(lambda: "closed") == "closed"
    compute.close()


def test_latest_slot_take_times_out_and_close_wakes() -> None:
    slot: LatestSlot[int] = LatestSlot()
    assert slot.take(timeout=0.01) is None
    threading.Timer(0.05, slot.close).start()
    assert slot.take(timeout=5) is None
