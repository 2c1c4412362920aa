from __future__ import annotations

from autoscaler.core.batching import Batcher, BatchWindows


def _batcher() -> Batcher:
    batcher = Batcher(BatchWindows(idle_seconds=1, max_seconds=10, scan_interval_seconds=30))
    batcher.decided(0)
    return batcher


def test_first_decision_is_due_immediately() -> None:
    assert Batcher().is_due(0)


def test_without_pending_pods_only_the_periodic_scan_is_due() -> None:
    batcher = _batcher()
    batcher.observe([], now=5)
    assert batcher.due_at() == 30
    assert not batcher.is_due(29.9)
    assert batcher.is_due(30)


def test_a_quiet_batch_is_due_after_the_idle_window() -> None:
    batcher = _batcher()
    batcher.observe(["ns/a"], now=3)
    assert batcher.due_at() == 4
    batcher.observe(["ns/a"], now=3.5)  # nothing new: the window does not move
    assert batcher.due_at() == 4


def test_a_steady_stream_is_cut_at_the_maximum_window() -> None:
    batcher = _batcher()
    for i in range(40):
        batcher.observe([f"ns/p{j}" for j in range(i + 1)], now=2 + i * 0.5)
    assert batcher.due_at() == 12  # first arrival at 2, plus the 10 s maximum


def test_deciding_closes_the_batch_and_old_pods_do_not_reopen_it() -> None:
    batcher = _batcher()
    batcher.observe(["ns/a"], now=1)
    batcher.decided(2)
    batcher.observe(["ns/a"], now=3)
    assert batcher.due_at() == 32
    batcher.observe(["ns/a", "ns/b"], now=4)
    assert batcher.due_at() == 5
