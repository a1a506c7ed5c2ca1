"""Recovery cannot be killed by one row (issue 11, item 1).

A real SQLite file is written by the store (one operation COMPLETED by a
running dispatcher, the others queued, two of them waiting on ``victim``),
then damaged with sqlite3 directly, as an older version, a disk or a hand
would leave it: a payload nested 250 deep (pydantic's parser stops at
about 200) or 40 deep (written before the depth limit), a state this
version does not know, a body that is not JSON, a date that is none, an
execution row missing, a body filed under another id, an event nested too
deep, an event of an unknown type, an event of an operation not in the file.

The dispatcher comes up every time with everything else; the bad row is
reported (log, ``skipped_rows``, ``snapshot().recovery_skipped``, the
DISPATCHER_STARTED event) and left in the file as it was; what depended on
a skipped operation is stranded like one whose dependency failed, unless it
had started already (then its dependency was met); a second restart finds
the same; nothing is removed from the file.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from dispatcher_testing import EventRecorder, check_sequence, running

from operation_dispatcher import (
    Dependency,
    DependencyType,
    EventType,
    InvalidStateError,
    Operation,
    OperationDispatcher,
    OperationExecution,
    OperationRunner,
    OperationState,
    SQLiteStore,
    ValidationError,
)
from operation_dispatcher._models import utcnow

E, S = EventType, OperationState
RESOURCE = "robot-1"
GOOD = {"done-1": S.COMPLETED, "good-1": S.QUEUED, "good-2": S.QUEUED, "after-done": S.QUEUED}
DEPENDENTS = ("child", "grandchild")  # child waits for victim, grandchild for child


class Completer(OperationRunner):
    """Completes every operation it is told to start, at once."""

    dispatcher: OperationDispatcher

    async def start(self, operation: Operation) -> None:
        asyncio.get_running_loop().call_soon(self.dispatcher.complete, operation.id)


def op(op_id: str, *after: str, kind: DependencyType = DependencyType.FINISH_TO_START, **fields: Any) -> Operation:
    deps = [Dependency(operation_id=a, type=kind) for a in after]
    return Operation(id=op_id, resource_id=RESOURCE, dependencies=deps, payload={"task": op_id}, **fields)


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {}
    for _ in range(depth - 1):
        value = {"a": value}
    return value


async def write_books(path: Path) -> None:
    """The file a dispatcher leaves: done-1 completed by a running loop, the others queued."""
    store = SQLiteStore(path)
    runner = Completer()
    recorder = EventRecorder()
    d = runner.dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=runner, store=store)
    d.add(op("done-1"))
    async with running(d):
        await recorder.wait_event(E.OPERATION_COMPLETED, "done-1")
    d.add([op("good-1"), op("victim"), op("child", "victim"), op("grandchild", "child"), op("good-2"), op("after-done", "done-1")])
    store.close()


def dump(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, as SQLite holds it."""
    conn = sqlite3.connect(path)
    try:
        tables = [name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
        return {t: conn.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    finally:
        conn.close()


def edit_body(conn: sqlite3.Connection, table: str, key: str, value: Any, change: Callable[[dict[str, Any]], None]) -> None:
    (body,) = conn.execute(f"SELECT body FROM {table} WHERE {key} = ?", (value,)).fetchone()
    data = json.loads(body)
    change(data)
    conn.execute(f"UPDATE {table} SET body = ? WHERE {key} = ?", (json.dumps(data), value))


def first_event_seq(conn: sqlite3.Connection, operation_id: str) -> int:
    return conn.execute(
        "SELECT min(seq) FROM events WHERE json_extract(body, '$.operation_id') = ?", (operation_id,)
    ).fetchone()[0]


def victim(table: str, change: Callable[[dict[str, Any]], None]) -> Callable[[sqlite3.Connection], str]:
    """A damage: ``change`` applied to victim's body in ``table`` (operations or executions)."""
    key = "id" if table == "operations" else "operation_id"

    def damage(conn: sqlite3.Connection) -> str:
        edit_body(conn, table, key, "victim", change)
        return "victim"
    return damage


def garbage(conn: sqlite3.Connection) -> str:
    conn.execute("UPDATE operations SET body = '{\"id\": \"victim\", \"payl' WHERE id = 'victim'")
    return "victim"


def no_execution(conn: sqlite3.Connection) -> str:
    conn.execute("DELETE FROM executions WHERE operation_id = 'victim'")  # the sqlite3 CLI enforces no foreign keys
    return "victim"


def first_event_of_good_1(change: Callable[[dict[str, Any]], None]) -> Callable[[sqlite3.Connection], str]:
    """A damage: ``change`` applied to the body of good-1's first event (its OPERATION_ADDED)."""

    def damage(conn: sqlite3.Connection) -> str:
        seq = first_event_seq(conn, "good-1")
        edit_body(conn, "events", "seq", seq, change)
        return str(seq)
    return damage


def event_of_a_missing_operation(conn: sqlite3.Connection) -> str:
    (body,) = conn.execute("SELECT body FROM events WHERE seq = ?", (first_event_seq(conn, "good-1"),)).fetchone()
    event = {**json.loads(body), "id": "ghost-event", "operation_id": "ghost"}
    conn.execute("INSERT INTO events (resource_id, body) VALUES (?, ?)", (RESOURCE, json.dumps(event)))
    return "ghost-event"


# name: (damage, the table of the row reported, words its reason holds)
DAMAGES: dict[str, tuple[Callable[[sqlite3.Connection], str], str, tuple[str, ...]]] = {
    "payload-250-deep": (victim("operations", lambda body: body.update(payload=nested(250))), "operations", ("operations row", "recursion limit")),
    "payload-40-deep": (victim("operations", lambda body: body.update(payload=nested(40))), "operations", ("payload", "nested more than 32")),
    "unknown-state": (victim("executions", lambda body: body.update(state="WAITING")), "operations", ("executions row", "state", "'WAITING'")),
    "garbage-json": (garbage, "operations", ("operations row", "Invalid JSON")),
    "bad-date": (victim("executions", lambda body: body.update(queued_at="yesterday")), "operations", ("queued_at", "'yesterday'")),
    "date-out-of-range": (victim("operations", lambda body: body.update(created_at="1890-01-01T00:00:00Z")), "operations", ("created_at", "out of range")),
    "no-execution": (no_execution, "operations", ("executions row: missing",)),
    "filed-under-another-id": (victim("operations", lambda body: body.update(id="good-1")), "operations", ("'good-1'", "filed under 'victim'")),
    "event-250-deep": (first_event_of_good_1(lambda body: body.update(metadata=nested(250))), "events", ("events row", "recursion limit")),
    "unknown-event-type": (first_event_of_good_1(lambda body: body.update(event_type="OPERATION_TELEPORTED")), "events", ("event_type", "'OPERATION_TELEPORTED'")),
    "event-of-a-missing-operation": (event_of_a_missing_operation, "events", ("'ghost'", "not in the store")),
}


def recover(path: Path, **options: Any) -> tuple[OperationDispatcher, SQLiteStore]:
    store = SQLiteStore(path)
    return OperationDispatcher(RESOURCE, lambda e: True, store=store, **options), store


def books(d: OperationDispatcher) -> dict[str, Any]:
    """What a reader sees: every record and every event log."""
    records = {r.operation.id: r.model_dump() for r in d.list_operations()}
    return {"records": records, "events": {i: [e.model_dump() for e in d.events(i)] for i in records}}


@pytest.fixture
def damaged(tmp_path: Path, request: pytest.FixtureRequest) -> tuple[Path, str, str, tuple[str, ...]]:
    path = tmp_path / "books.db"
    asyncio.run(write_books(path))
    damage, table, words = DAMAGES[request.param]
    conn = sqlite3.connect(path)
    with conn:
        row_id = damage(conn)
    conn.close()
    return path, table, row_id, words


@pytest.mark.parametrize("damaged", list(DAMAGES), indirect=True)
@pytest.mark.parametrize("mode", ["cancel", "fail"])
def test_one_bad_row_is_set_aside_and_everything_else_recovers_twice_alike(damaged, mode, caplog):
    path, table, row_id, words = damaged
    before = dump(path)
    caplog.set_level(logging.WARNING, logger="operation_dispatcher")
    d, store = recover(path, on_dependency_failed=mode)
    try:
        [row] = d.skipped_rows
        assert (row.table, row.row_id) == (table, row_id)
        assert all(w in row.reason for w in words), row.reason
        assert d.snapshot().recovery_skipped == 1
        assert any(row_id in m and "set aside" in m and words[-1] in m for m in caplog.messages), caplog.messages
        states = {r.operation.id: r.execution.state for r in d.list_operations()}
        victim_skipped = table == "operations"
        end = S.CANCELLED if mode == "cancel" else S.FAILED
        expected = {**GOOD, **dict.fromkeys(DEPENDENTS, end if victim_skipped else S.QUEUED)}
        if not victim_skipped:
            expected["victim"] = S.QUEUED
        assert states == expected
        if victim_skipped:
            assert row.operation_id == "victim" and row.events == 1  # its OPERATION_ADDED stays with it
            child = d.get("child").execution
            assert "'victim' was set aside at recovery" in (child.termination_reason or "") and row.reason in child.termination_reason
            assert d.events("child")[-1].metadata["dependency_set_aside"] is True
            assert "'child'" in (d.get("grandchild").execution.termination_reason or "")
            for dependent in DEPENDENTS:
                check_sequence(d.events(dependent))
        first = books(d)
    finally:
        store.close()
    after = dump(path)
    assert after["operations"] == before["operations"]  # every operation row as it was, the bad one too
    assert set(before["events"]) <= set(after["events"])  # no event row changed or removed
    changed = {r[0] for r in set(after["executions"]) - set(before["executions"])}
    assert changed == (set(DEPENDENTS) if table == "operations" else set())  # only the stranded ends were written

    again, store = recover(path, on_dependency_failed=mode)
    try:
        assert again.skipped_rows == d.skipped_rows
        assert books(again) == first
    finally:
        store.close()
    assert dump(path) == after  # the second recovery had nothing to settle


@pytest.mark.parametrize("damaged", ["payload-250-deep"], indirect=True)
async def test_the_recovered_dispatcher_runs_the_good_operations_and_its_start_names_the_skipped_row(damaged):
    path, _, row_id, _ = damaged
    store = SQLiteStore(path)
    runner, recorder = Completer(), EventRecorder()
    d = runner.dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=runner, store=store)
    try:
        async with running(d):
            for op_id in ("good-1", "good-2", "after-done"):
                await recorder.wait_event(E.OPERATION_COMPLETED, op_id)
        started = recorder.of(E.OPERATION_DISPATCHER_STARTED)[0]
        assert started.metadata["recovery_skipped"] == 1
        assert [r["row_id"] for r in started.metadata["recovery_skipped_rows"]] == [row_id]
        assert "recursion limit" in started.metadata["recovery_skipped_rows"][0]["reason"]
        assert d.snapshot().queue_length == 0
    finally:
        store.close()


@pytest.mark.parametrize("damaged", ["unknown-state"], indirect=True)
def test_a_set_aside_id_cannot_be_added_again_nor_depended_on(damaged):
    path, *_ = damaged
    before = dump(path)
    d, store = recover(path)
    try:
        with pytest.raises(InvalidStateError, match=r"operations\[1\].id: operation 'victim' is in the store, but its row was set aside"):
            d.add([op("fresh-1"), op("victim")])
        with pytest.raises(ValidationError, match="'victim' was set aside at recovery") as refused:
            d.add([op("fresh-2", "victim")])
        assert refused.value.field == "operations[0].dependencies"
        assert "fresh-1" not in {r.operation.id for r in d.list_operations()}  # all or nothing
    finally:
        store.close()
    assert dump(path)["operations"] == before["operations"]


@pytest.mark.parametrize(
    ("started_kind", "queued_end"),
    [(DependencyType.FINISH_TO_START, S.QUEUED), (DependencyType.START_TO_START, S.CANCELLED)],
    ids=["started-after-it-finished", "started-after-it-started"],
)
def test_a_dependent_that_had_started_shows_what_its_skipped_dependency_did(tmp_path, started_kind, queued_end):
    """A (done) is set aside. B, after A, was RUNNING when the process died: it had started, so its
    dependency on A was met; it is requeued, not stranded. C, finish-to-start after A, is released if
    B's dependency shows A completed, stranded if it shows only that A started."""
    path = tmp_path / "books.db"
    store = SQLiteStore(path)
    d = OperationDispatcher(RESOURCE, store=store)
    d.add([op("A"), op("B", "A", kind=started_kind), op("C", "A")])
    now = utcnow()
    states = {"A": (S.COMPLETED, now - timedelta(seconds=2)), "B": (S.RUNNING, None)}
    executions = []
    for record in store.load(RESOURCE).records:
        if record.operation.id in states:
            state, finished = states[record.operation.id]
            fields = {"state": state, "attempts": 1, "started_at": now - timedelta(seconds=3), "finished_at": finished}
            executions.append(OperationExecution(**{**record.execution.model_dump(), **fields}))
    store.write(executions=executions)
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        garbage_a = "UPDATE operations SET body = 'not json' WHERE id = 'A'"
        conn.execute(garbage_a)
    conn.close()
    recovered, store = recover(path)
    try:
        assert [r.row_id for r in recovered.skipped_rows] == ["A"]
        assert recovered.get("B").execution.state is S.QUEUED  # interrupted, queued again (on_interrupted)
        assert recovered.waiting_for("B") == set()
        assert recovered.get("C").execution.state is queued_end
        if queued_end is S.QUEUED:
            assert recovered.waiting_for("C") == set()
    finally:
        store.close()
