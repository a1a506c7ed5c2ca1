"""Stores: a new dispatcher over the same store recovers everything, in order."""

from __future__ import annotations

import sqlite3

import pytest
from dispatcher_testing import running

from operation_dispatcher import (
    INTERRUPTED_FAIL,
    EventType,
    MemoryStore,
    Operation,
    OperationDispatcher,
    OperationState,
    SQLiteStore,
    ValidationError,
)

E = EventType


@pytest.fixture(params=["memory", "sqlite"])
def store_factory(request, tmp_path):
    if request.param == "memory":
        store = MemoryStore()
        yield lambda: store
        return
    path = tmp_path / "dispatcher.db"
    opened: list[SQLiteStore] = []

    def restart() -> SQLiteStore:
        """The file as the next process finds it: the previous store is closed first (it holds the file)."""
        for previous in opened:
            previous.close()
        opened.append(SQLiteStore(path))
        return opened[-1]

    yield restart
    for store in opened:
        store.close()


def op(name: str, **kw) -> Operation:
    return Operation(id=name, resource_id="robot-1", **kw)


async def test_restart_recovers_queue_history_events_and_pause(store_factory, recorder):
    d = OperationDispatcher("robot-1", lambda e: True, recorder, store=store_factory())
    d.add([op(f"o{i}", priority=i % 3, payload={"n": i}) for i in range(8)])
    async with running(d):
        for _ in range(3):
            started = await recorder.wait_event(E.OPERATION_STARTED, count=len(recorder.of(E.OPERATION_STARTED)) + 1)
            d.complete(started.operation_id, outcome="ok")
        await recorder.wait_event(E.OPERATION_STARTED, count=4)
        d.pause("shift change")
    before = {r.operation.id: r for r in d.list_operations()}
    events_before = {i: d.events(i) for i in before}

    again = OperationDispatcher("robot-1", lambda e: True, store=store_factory())
    after = {r.operation.id: r for r in again.list_operations()}
    assert set(after) == set(before)
    interrupted = d.current().operation.id
    assert after[interrupted].execution.state is OperationState.QUEUED  # requeued by default
    assert [r.operation.id for r in again.list_operations(OperationState.QUEUED) if r.operation.id != interrupted] == [
        r.operation.id for r in d.list_operations(OperationState.QUEUED)
    ]
    assert [r.operation.id for r in again.history()] == [r.operation.id for r in d.history()]
    for op_id, record in before.items():
        if record.execution.state is not OperationState.RUNNING:
            assert after[op_id] == record
            assert again.events(op_id) == events_before[op_id]
    snapshot = again.snapshot()
    assert snapshot.paused and snapshot.paused_reason == "shift change"


@pytest.mark.parametrize("treatment", ["requeue", INTERRUPTED_FAIL])
async def test_an_interrupted_operation_is_treated_as_configured(store_factory, recorder, treatment):
    d = OperationDispatcher("robot-1", lambda e: True, recorder, store=store_factory())
    d.add([op("busy", priority=5), op("next")])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "busy")
    # the process "dies" here: busy is RUNNING in the store
    again = OperationDispatcher("robot-1", lambda e: True, store=store_factory(), on_interrupted=treatment)
    record = again.get("busy")
    last = again.events("busy")[-1]
    assert last.event_type is E.OPERATION_FAILED and last.metadata["interrupted"] is True
    assert last.metadata["previous_state"] == "RUNNING"
    assert record.execution.termination_reason == "interrupted"
    if treatment == "requeue":
        assert record.execution.state is OperationState.QUEUED and last.metadata["requeued"] is True
        assert [r.operation.id for r in again.list_operations(OperationState.QUEUED)] == ["busy", "next"]
    else:
        assert record.execution.state is OperationState.FAILED
        assert [r.operation.id for r in again.history()] == ["busy"]
    assert again.current() is None
    # and the treatment itself was persisted
    third = OperationDispatcher("robot-1", lambda e: True, store=store_factory())
    assert third.get("busy").execution.state is record.execution.state
    assert len(third.events("busy")) == len(again.events("busy"))


async def test_adding_again_after_restart_is_idempotent(store_factory):
    d = OperationDispatcher("robot-1", store=store_factory())
    d.add([op("a"), op("b")])
    again = OperationDispatcher("robot-1", store=store_factory())
    results = again.add([op("a"), op("c")])
    assert [(r.operation_id, r.added) for r in results] == [("a", False), ("c", True)]
    assert len(again.list_operations()) == 3
    assert [e.event_type for e in again.events("a")] == [E.OPERATION_ADDED]


def test_sqlite_store_is_one_transaction_per_change(tmp_path):
    store = SQLiteStore(tmp_path / "d.db")
    d = OperationDispatcher("robot-1", store=store)
    with pytest.raises(ValidationError):
        d.add([op("ok"), Operation(id="bad", resource_id="robot-2")])
    d.add([op("x"), op("y")])
    conn = sqlite3.connect(tmp_path / "d.db")
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert [r[0] for r in conn.execute("SELECT id FROM operations ORDER BY id")] == ["x", "y"]
    assert conn.execute("SELECT count(*) FROM events").fetchone()[0] == 2


def test_sqlite_store_refuses_a_file_of_another_schema(tmp_path):
    """The version it wrote itself, changed: refused (other files: test_store_open)."""
    path = tmp_path / "d.db"
    SQLiteStore(path).close()
    conn = sqlite3.connect(path)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ValidationError, match="schema '99'"):
        SQLiteStore(path)


def test_stores_keep_resources_apart(tmp_path):
    store = SQLiteStore(tmp_path / "shared.db")
    OperationDispatcher("robot-1", store=store).add(op("a"))
    OperationDispatcher("robot-2", store=store).add(Operation(id="b", resource_id="robot-2"))
    assert [r.operation.id for r in OperationDispatcher("robot-1", store=store).list_operations()] == ["a"]


def test_sqlite_recovery_holds_one_row_at_a_time_not_the_whole_store_as_models(tmp_path):
    """A robot rebooting with a long queue: the store hands recovery each row as it reads it, so
    what recovering allocates at its peak is about what the books keep (issue 15: with every
    row read into models first, 5,000 queued peaked at 3.5x, and 100,000 held 672 MB after)."""
    import gc
    import tracemalloc

    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    filler = OperationDispatcher("robot-1", store=store)
    payload = {"pickup": {"x": 1.0, "y": 2.0}, "dropoff": {"x": 3.0, "y": 4.0}}
    for first in range(0, 5000, 1000):
        filler.add([Operation(id=f"op-{i}", resource_id="robot-1", payload=payload) for i in range(first, first + 1000)])
    store.close()
    del filler
    store = SQLiteStore(path)
    gc.collect()
    tracemalloc.start()
    try:
        recovered = OperationDispatcher("robot-1", store=store)
        gc.collect()
        kept, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert recovered.snapshot().queue_length == 5000
    assert peak < 1.5 * kept, f"recovery peaked at {peak / 1e6:.1f} MB to keep {kept / 1e6:.1f} MB"
    store.close()
