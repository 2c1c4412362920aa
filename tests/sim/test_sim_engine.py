"""The discrete-event engine: time order, deterministic ties, independent random streams."""

from __future__ import annotations

from autoscaler.sim.engine import Engine, RandomStreams


def test_events_run_in_time_then_priority_then_scheduling_order() -> None:
    engine = Engine()
    ran: list[str] = []
    engine.at(5.0, lambda: ran.append("late"))
    engine.at(1.0, lambda: ran.append("second"), priority=1)
    engine.at(1.0, lambda: ran.append("first"), priority=0)
    engine.at(1.0, lambda: ran.append("third"), priority=1)
    engine.run_until(10.0)
    assert ran == ["first", "second", "third", "late"]
    assert engine.now == 10.0


def test_cancelled_events_do_not_run_and_later_events_wait() -> None:
    engine = Engine()
    ran: list[float] = []
    handle = engine.at(2.0, lambda: ran.append(2.0))
    engine.at(3.0, lambda: ran.append(3.0))
    engine.at(20.0, lambda: ran.append(20.0))
    handle.cancel()
    engine.run_until(10.0)
    assert ran == [3.0]
    assert engine.next_time() == 20.0


def test_every_repeats_and_step_hook_sees_each_event_time() -> None:
    engine = Engine()
    ticks: list[float] = []
    steps: list[float] = []
    engine.every(2.5, lambda: ticks.append(engine.now), start=0.0)
    engine.run_until(7.0, on_step=steps.append)
    assert ticks == [0.0, 2.5, 5.0]
    assert steps == [0.0, 2.5, 5.0, 7.0]


def test_a_draw_in_one_stream_does_not_shift_another() -> None:
    plain = RandomStreams(42)
    disturbed = RandomStreams(42)
    disturbed("boot").random()  # one more draw in an unrelated concern
    assert [plain("jobs").random() for _ in range(5)] == [
        disturbed("jobs").random() for _ in range(5)
    ]
    assert RandomStreams(1)("jobs").random() != RandomStreams(2)("jobs").random()
