"""TimeSynchronizer: exact and approximate matching, tolerance, bounded queues, ordering."""

from __future__ import annotations

import random

import pytest

from depth_ros.core.sync import TimeSynchronizer

MS = 1_000_000


def test_exact_pairs() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2)
    assert sync.add(0, 100, "L100") is None
    assert sync.add(1, 100, "R100") == ["L100", "R100"]
    assert sync.pending() == [0, 0]
    assert sync.add(1, 200, "R200") is None
    assert sync.add(0, 200, "L200") == ["L200", "R200"]  # order follows streams, not arrival


def test_exact_does_not_pair_different_stamps() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2)
    assert sync.add(0, 100, "L100") is None
    assert sync.add(1, 101, "R101") is None
    assert sync.add(0, 101, "L101") == ["L101", "R101"]
    assert sync.pending() == [0, 0]  # L100 is older than the emitted set: dropped


def test_four_streams_exact() -> None:
    sync: TimeSynchronizer[int] = TimeSynchronizer(4)
    for stream in (2, 0, 3):
        assert sync.add(stream, 7, stream) is None
    assert sync.add(1, 7, 1) == [0, 1, 2, 3]


def test_approximate_within_tolerance() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2, approximate=True, tolerance_ns=5 * MS)
    assert sync.add(0, 100 * MS, "L") is None
    assert sync.add(1, 104 * MS, "R") == ["L", "R"]


def test_approximate_tolerance_is_inclusive_and_strict_beyond() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2, approximate=True, tolerance_ns=5 * MS)
    assert sync.add(0, 100 * MS, "L") is None
    assert sync.add(1, 105 * MS + 1, "R_far") is None
    assert sync.add(1, 105 * MS, "R_edge") == ["L", "R_edge"]


def test_approximate_takes_the_nearest() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2, approximate=True, tolerance_ns=10 * MS)
    sync.add(0, 100 * MS, "L100")
    sync.add(0, 130 * MS, "L130")
    assert sync.add(1, 128 * MS, "R128") == ["L130", "R128"]


def test_approximate_never_pairs_beyond_tolerance_across_all_streams() -> None:
    # each of the other streams is within tolerance of the arriving message, but the two
    # of them are 2 * tolerance apart: that is not a synchronised set
    sync: TimeSynchronizer[str] = TimeSynchronizer(3, approximate=True, tolerance_ns=5 * MS)
    assert sync.add(0, 95 * MS, "A") is None
    assert sync.add(1, 105 * MS, "B") is None
    assert sync.add(2, 100 * MS, "C") is None
    assert sync.add(0, 102 * MS, "A2") == ["A2", "B", "C"]


@pytest.mark.parametrize("streams", [2, 3, 4])
def test_random_arrivals_never_exceed_tolerance(streams: int) -> None:
    rng = random.Random(streams)
    tol = 3 * MS
    sync: TimeSynchronizer[tuple[int, int]] = TimeSynchronizer(
        streams, queue_size=4, approximate=True, tolerance_ns=tol
    )
    emitted = 0
    last_stamps: list[int] | None = None
    for frame in range(300):
        base = frame * 33 * MS
        order = list(range(streams))
        rng.shuffle(order)
        for s in order:
            stamp = base + rng.randint(-2 * MS, 2 * MS)
            out = sync.add(s, stamp, (s, stamp))
            if out is not None:
                emitted += 1
                assert [s for s, _ in out] == list(range(streams))
                stamps = [t for _, t in out]
                assert max(stamps) - min(stamps) <= tol
                if last_stamps is not None:  # no message is emitted twice
                    assert all(a > b for a, b in zip(stamps, last_stamps, strict=True))
                last_stamps = stamps
        assert max(sync.pending()) <= 4
    assert emitted > 150  # the jitter is mostly within tolerance: most frames pair


def test_queues_are_bounded_and_count_discards() -> None:
    sync: TimeSynchronizer[int] = TimeSynchronizer(2, queue_size=3)
    for t in range(10):
        assert sync.add(0, t, t) is None
    assert sync.pending() == [3, 0]
    assert sync.discarded == 7
    assert sync.add(1, 2, 102) is None  # fell out of the left queue
    assert sync.add(1, 8, 108) == [8, 108]
    assert sync.pending() == [1, 0]  # left 9 waits; right 2 is older than 8: dropped
    assert sync.add(1, 9, 109) == [9, 109]
    assert sync.pending() == [0, 0]


def test_out_of_order_arrivals() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2)
    assert sync.add(0, 20, "L20") is None
    assert sync.add(0, 10, "L10") is None  # late
    assert sync.add(1, 10, "R10") == ["L10", "R10"]
    # L10 was emitted: it must not be emitted again with a duplicate right stamp
    assert sync.add(1, 10, "R10bis") is None
    assert sync.add(1, 5, "R5") is None
    assert sync.discarded == 1  # R5 is older than the set emitted at 10: dropped at once
    assert sync.add(1, 20, "R20") == ["L20", "R20"]
    assert sync.pending() == [0, 0]


def test_out_of_order_approximate() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2, approximate=True, tolerance_ns=2)
    sync.add(0, 50, "L50")
    sync.add(0, 30, "L30")
    sync.add(0, 40, "L40")
    assert sync.add(1, 41, "R41") == ["L40", "R41"]
    # L30 is older than the emitted set: it is gone, not waiting to pair with a late R31
    assert sync.add(1, 31, "R31") is None
    assert sync.add(1, 49, "R49") == ["L50", "R49"]


def test_a_frame_sent_again_is_emitted_again() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2)
    sync.add(0, 10, "L")
    assert sync.add(1, 10, "R") == ["L", "R"]
    sync.add(0, 10, "L again")
    assert sync.add(1, 10, "R again") == ["L again", "R again"]


def test_one_stream_passes_through() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(1)
    assert sync.add(0, 5, "a") == ["a"]


def test_no_stream_is_refused() -> None:
    with pytest.raises(ValueError, match="at least one stream"):
        TimeSynchronizer(0)


def test_a_jump_back_in_time_clears_and_matching_goes_on() -> None:
    # a bag played in a loop: stamps restart below the old maximum
    sync: TimeSynchronizer[str] = TimeSynchronizer(2)
    for t in (10, 11, 12):
        sync.add(0, t * 1000 * MS, f"L{t}")
        assert sync.add(1, t * 1000 * MS, f"R{t}") == [f"L{t}", f"R{t}"]
    sync.add(0, 13_000 * MS, "L13")  # pending when the jump comes
    assert sync.add(0, 1000 * MS, "L1") is None
    assert sync.jumps == 1
    assert sync.last_jump_ns == 11_000 * MS
    assert sync.pending() == [1, 0]  # L13 is gone, L1 waits
    assert sync.add(1, 1000 * MS, "R1") == ["L1", "R1"]
    sync.add(1, 2000 * MS, "R2")
    assert sync.add(0, 2000 * MS, "L2") == ["L2", "R2"]
    assert sync.jumps == 1  # the other stream's first older stamp came after the reset


def test_a_small_step_back_is_a_late_message_not_a_jump() -> None:
    sync: TimeSynchronizer[str] = TimeSynchronizer(2, jump_back_ns=100 * MS)
    sync.add(0, 1000 * MS, "L")
    assert sync.add(1, 1000 * MS, "R") == ["L", "R"]
    assert sync.add(0, 950 * MS, "late") is None
    assert sync.jumps == 0
    assert sync.discarded == 1
