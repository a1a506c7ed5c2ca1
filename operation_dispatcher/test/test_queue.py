"""DispatchQueue: order, release gate, dependencies, cancel."""

from datetime import datetime, timedelta, timezone

import pytest

from operation_dispatcher import (
    Dependency,
    DependencyType,
    DispatchQueue,
    InvalidStateError,
    Operation,
    SortRule,
    ValidationError,
)

T0 = datetime(2030, 1, 1, tzinfo=timezone.utc)


def op(name: str, **kw) -> Operation:
    return Operation(id=name, resource_id="r", **kw)


def drain(queue: DispatchQueue, now: datetime = T0) -> list[str]:
    out = []
    while (o := queue.pop(now)) is not None:
        out.append(o.id)
    return out


def test_priority_descending_then_fifo():
    q = DispatchQueue("r")
    for name, prio, minute in [("a", 1, 0), ("b", 5, 1), ("c", 5, 2), ("d", 1, 3), ("e", 9, 4)]:
        q.add(op(name, priority=prio, created_at=T0 + timedelta(minutes=minute)))
    assert [o.id for o in q.ordered(T0)] == ["e", "b", "c", "a", "d"]
    assert drain(q) == ["e", "b", "c", "a", "d"]


def test_equal_created_at_keeps_insertion_order():
    q = DispatchQueue("r")
    for name in "xyzw":
        q.add(op(name, created_at=T0))
    assert drain(q) == list("xyzw")


def test_release_date_is_a_departure_gate():
    q = DispatchQueue("r")
    q.add(op("later", priority=100, release_date=T0 + timedelta(hours=1)))
    q.add(op("now", priority=1))
    q.add(op("released_early", priority=5, release_date=T0 - timedelta(hours=1)))
    assert q.peek(T0).id == "released_early"  # released: competes on priority
    assert drain(q, T0) == ["released_early", "now"]  # unreleased never blocks released ones
    assert q.peek(T0) is None
    assert q.next_release() == T0 + timedelta(hours=1)
    assert q.pop(T0 + timedelta(hours=1)).id == "later"
    assert q.next_release() is None


def test_released_operations_compete_on_priority_not_release_date():
    q = DispatchQueue("r")
    q.add(op("early_low", priority=1, release_date=T0 - timedelta(minutes=5)))
    q.add(op("late_high", priority=9, release_date=T0 - timedelta(minutes=1)))
    assert drain(q, T0) == ["late_high", "early_low"]


def test_finish_to_start_and_start_to_start_dependencies():
    q = DispatchQueue("r")
    q.add(op("pick", priority=1))
    q.add(op("drop", priority=9, dependencies=[Dependency(operation_id="pick")]))
    q.add(op("log", priority=5, dependencies=[Dependency(operation_id="pick", type=DependencyType.START_TO_START)]))
    assert q.waiting_for("drop") == {"pick"}
    assert q.pop(T0).id == "pick"
    assert q.peek(T0) is None  # nothing may go before pick has started
    q.mark_started("pick")
    assert q.pop(T0).id == "log"
    assert q.peek(T0) is None  # drop waits for pick to finish
    q.mark_completed("pick")
    assert q.pop(T0).id == "drop"


def test_dependency_on_unknown_operation_is_refused():
    q = DispatchQueue("r")
    with pytest.raises(ValidationError, match="unknown operation 'ghost'"):
        q.add(op("a", dependencies=[Dependency(operation_id="ghost")]))
    assert len(q) == 0


def test_other_resource_is_refused_and_nothing_changes():
    q = DispatchQueue("r")
    with pytest.raises(ValidationError) as info:
        q.add(Operation(id="x", resource_id="other"))
    assert info.value.field == "resource_id"
    assert len(q) == 0


def test_cancel_removes_from_anywhere_and_the_rest_keeps_order():
    q = DispatchQueue("r")
    for i in range(10):
        q.add(op(f"o{i}", priority=i % 3))
    q.add(op("gated", release_date=T0 + timedelta(hours=1)))
    q.add(op("blocked", dependencies=[Dependency(operation_id="o0")]))
    for name in ("o4", "gated", "blocked", "o9"):
        assert q.remove(name).id == name
    with pytest.raises(InvalidStateError):
        q.remove("o4")
    assert "o4" not in q and len(q) == 8
    assert q.next_release() is None
    assert drain(q) == ["o2", "o5", "o8", "o1", "o7", "o0", "o3", "o6"]


def test_readding_after_remove_does_not_resurrect_stale_entries():
    q = DispatchQueue("r")
    a = op("a", priority=1)
    q.add(a)
    q.remove("a")
    q.add(a, not_before=T0 + timedelta(minutes=1))
    assert q.peek(T0) is None
    assert q.pop(T0 + timedelta(minutes=1)).id == "a"
    assert q.pop(T0 + timedelta(minutes=2)) is None


def test_configurable_sort_rules_earliest_due_date_first():
    q = DispatchQueue("r", sort_rules=[SortRule("due_date"), SortRule("priority", descending=True)])
    q.add(op("no_due", priority=100))
    q.add(op("due_late", due_date=T0 + timedelta(hours=5)))
    q.add(op("due_soon", due_date=T0 + timedelta(hours=1)))
    assert drain(q) == ["due_soon", "due_late", "no_due"]


def test_unknown_sort_field_is_refused():
    with pytest.raises(ValidationError, match="cannot sort on 'payload'"):
        DispatchQueue("r", sort_rules=[SortRule("payload")])
