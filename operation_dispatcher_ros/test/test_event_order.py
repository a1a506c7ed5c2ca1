"""InOrder: events from a lossy stream and from log pages handed on once each, in number order (no ROS)."""

from __future__ import annotations

import random

from operation_dispatcher_ros import event_order
from operation_dispatcher_ros.event_order import InOrder


def test_the_next_number_passes_a_repeat_is_dropped_and_a_gap_holds_what_follows():
    order: InOrder[str] = InOrder()
    assert order.offer(1, "a") == ["a"]
    assert order.offer(1, "a again") == [] and order.repeats == 1
    assert order.offer(3, "c") == [] and order.gap and order.held == 1
    assert order.offer(4, "d") == []
    assert order.offer(2, "b") == ["b", "c", "d"]  # the gap filled: what was held follows at once
    assert (order.last, order.gap) == (4, False)


def test_a_held_event_offered_again_is_a_repeat():
    order: InOrder[str] = InOrder(last=10)
    assert order.offer(12, "l") == [] and order.offer(12, "l") == []
    assert order.repeats == 1 and order.offer(11, "k") == ["k", "l"]


def test_live_events_with_losses_and_overlapping_pages_end_as_every_event_once_in_order():
    rng = random.Random(7)
    events = list(range(1, 2001))
    live = [n for n in events if rng.random() > 0.3]  # 30 % lost on the way
    order: InOrder[int] = InOrder()
    out: list[int] = []
    pages_read = 0
    for n in live:
        out += order.offer(n, n)
        if order.gap:  # read the log after the last handed on, a page of 50, as the recorder does
            while order.gap:
                pages_read += 1
                page = [m for m in events if order.last < m <= n][:50]
                for m in page:
                    out += order.offer(m, m)
    assert out == events[: len(out)] and out[-1] == live[-1]
    assert order.repeats > 0 and pages_read > 0


def test_past_the_bound_the_oldest_held_are_let_go_to_be_read_back(monkeypatch):
    monkeypatch.setattr(event_order, "MAX_HELD", 3)
    order: InOrder[int] = InOrder()
    for n in (3, 4, 5, 6):
        order.offer(n, n)
    assert order.held == 3
    assert order.offer(1, 1) == [1] and order.offer(2, 2) == [2]  # 3 was let go: the log gives it back
    assert order.offer(3, 3) == [3, 4, 5, 6]


def test_restart_follows_a_new_log_from_its_first_event():
    order: InOrder[str] = InOrder(last=500)
    order.offer(502, "x")
    order.restart()
    assert (order.last, order.gap) == (0, False) and order.offer(1, "first") == ["first"]
