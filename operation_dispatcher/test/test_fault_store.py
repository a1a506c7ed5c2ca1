"""The dispatcher over a store that fails writes (issue 9, defects 2 and 7).

Real SQLite files, real faults: SQLite's page limit on the store's own
connection (the SQLITE_FULL a full disk gives), and a second connection
holding the file's write lock (``BEGIN IMMEDIATE``) past ``busy_timeout``.
Each time: the caller gets StorageError with SQLite's own message, memory is
exactly as it was, the loop carries on (``snapshot().storage_error`` says
why while it retries), the work is done once the fault clears, and a
restart recovers everything that was acknowledged, and nothing else. The
event loop never waits on SQLite's busy wait.

The store-level faults (the file byte for byte as before each refused write)
are in test_store_faults.py; one store per file across processes, and a file
of a newer or unknown schema refused unchanged, in test_store_open.py.
"""

from __future__ import annotations

import asyncio
import itertools
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from dispatcher_testing import check_sequence, running

from operation_dispatcher import (
    DispatchEvent,
    EventType,
    NotFoundError,
    Operation,
    OperationDispatcher,
    OperationRunner,
    OperationState,
    SQLiteStore,
    StorageError,
    UnavailableError,
)

E, S = EventType, OperationState
RESOURCE = "robot-1"
BIG = "x" * 20_000  # a payload that needs new pages, so a full file cannot take it


def op(name: str, text: str = "") -> Operation:
    return Operation(id=name, resource_id=RESOURCE, payload={"text": text} if text else {})


class Holder:
    """Another connection to the file, holding its write lock while ``held``."""

    def __init__(self, path: Path) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.held = False

    def take(self) -> None:
        self._conn.execute("BEGIN IMMEDIATE")
        self.held = True

    def release(self) -> None:
        if self.held:
            self._conn.execute("ROLLBACK")
            self.held = False

    def close(self) -> None:
        self.release()
        self._conn.close()


class PageLimit:
    """SQLite's max_page_count on the store's own connection: the file is full at its current size."""

    def __init__(self, store: SQLiteStore) -> None:
        self._conn = store._conn  # the limit exists only on the connection that writes

    def take(self) -> None:
        self._conn.execute(f"PRAGMA max_page_count={self._conn.execute('PRAGMA page_count').fetchone()[0]}")

    def release(self) -> None:
        self._conn.execute("PRAGMA max_page_count=1073741823")


FAULTS = {"disk-full": ("database or disk is full", PageLimit), "locked": ("database is locked", Holder)}


@pytest.fixture
def path(tmp_path) -> Path:
    return tmp_path / "d.db"


@pytest.fixture
def holder(path) -> Iterator[Holder]:
    h = Holder(path)
    yield h
    h.close()


def fault_of(kind: str, store: SQLiteStore, path: Path) -> tuple[str, Holder | PageLimit]:
    cause, fault = FAULTS[kind]
    return cause, fault(store) if fault is PageLimit else fault(path)  # type: ignore[arg-type]


def memory(d: OperationDispatcher) -> tuple[object, ...]:
    """Everything a reader of the dispatcher can see."""
    records = d.list_operations()
    return (
        [r.model_dump() for r in records],
        {r.operation.id: [e.model_dump() for e in d.events(r.operation.id)] for r in records},
        [e.model_dump() for e in d.events()],
        d.snapshot().counts,
        d.snapshot().queue_length,
    )


async def until(predicate: Callable[[], bool], timeout: float = 5.0, what: str = "the condition") -> None:
    """Poll what no event reports (a store that refuses writes publishes nothing), with a timeout."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.01)


@pytest.mark.parametrize("kind", list(FAULTS))
def test_a_refused_add_raises_the_real_cause_and_changes_nothing_in_memory(path, kind):
    store = SQLiteStore(path, busy_timeout=0.2)
    try:
        d = OperationDispatcher(RESOURCE, store=store)
        d.add([op("a"), op("b", BIG)])
        before = memory(d)
        cause, fault = fault_of(kind, store, path)
        fault.take()
        try:
            with pytest.raises(StorageError) as refused:
                d.add(op("c", BIG))
            with pytest.raises(StorageError):
                d.add([op("d"), op("e", BIG)])  # a batch: all or nothing
        finally:
            fault.release()
            if isinstance(fault, Holder):
                fault.close()
        assert refused.value.cause == cause
        assert cause in refused.value.message and str(path) in refused.value.message
        assert refused.value.to_dict()["code"] == "STORAGE"
        assert memory(d) == before
        for never_added in ("c", "d", "e"):
            with pytest.raises(NotFoundError):
                d.get(never_added)
        result = d.add(op("c", BIG))  # once the fault clears: added, not "already present"
        assert result.added and result.state is S.QUEUED
        assert [e.event_type for e in d.events("c")] == [E.OPERATION_ADDED]
    finally:
        store.close()
    store = SQLiteStore(path)
    assert [r.operation.id for r in store.load(RESOURCE).records] == ["a", "b", "c"]
    store.close()


def test_a_restart_recovers_every_acknowledged_add_and_nothing_refused(path):
    store = SQLiteStore(path, busy_timeout=0.05)
    holder = Holder(path)
    acknowledged, refused = [], []
    try:
        d = OperationDispatcher(RESOURCE, store=store)
        faults = {1: PageLimit(store), 3: holder}  # every 4th add meets a full disk, every 4th a lock, out of step
        for i in range(24):
            fault = faults.get(i % 4)
            if fault is not None:
                fault.take()
            try:
                d.add(op(f"op-{i}", BIG))
                acknowledged.append(f"op-{i}")
            except StorageError:
                refused.append(f"op-{i}")
            finally:
                if fault is not None:
                    fault.release()
        assert len(acknowledged) == 12 and len(refused) == 12
        assert [r.operation.id for r in d.list_operations()] == acknowledged
        events_before = {i: d.events(i) for i in acknowledged}
    finally:
        holder.close()
        store.close()
    store = SQLiteStore(path)
    try:
        recovered = OperationDispatcher(RESOURCE, store=store)
        assert [r.operation.id for r in recovered.list_operations()] == acknowledged
        assert {i: recovered.events(i) for i in acknowledged} == events_before
        for lost in refused:
            with pytest.raises(NotFoundError):
                recovered.get(lost)
    finally:
        store.close()


class PromptRobot(OperationRunner):
    """Completes every operation soon after its start, reporting from its own thread as an
    executor's callbacks do; a report the store refused is reported again after a short back-off."""

    def __init__(self) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.on_start: Callable[[Operation], None] = lambda operation: None
        self.refused_reports = 0
        self._reports: set[asyncio.Task[None]] = set()

    async def start(self, operation: Operation) -> None:
        self.on_start(operation)
        task = asyncio.get_running_loop().create_task(self._report_done(operation.id))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def _report_done(self, operation_id: str) -> None:
        assert self.dispatcher is not None
        while True:
            try:
                await asyncio.to_thread(self.dispatcher.complete, operation_id)
                return
            except StorageError:
                self.refused_reports += 1
                await asyncio.sleep(0.05)


async def test_the_loop_lives_through_a_failing_store_and_finishes_the_work(path, recorder):
    """The lock is taken twice: by the business logic while it approves op-8 (the loop's own write of
    STARTED is refused), and by the robot as it starts op-16 (the robot's report is refused)."""
    store = SQLiteStore(path, busy_timeout=0.2)
    holder = Holder(path)
    robot = PromptRobot()
    loop = asyncio.get_running_loop()
    taken_at: dict[str, float] = {}
    storage_errors: list[str] = []

    def hold(what: str) -> None:
        holder.take()
        taken_at[what] = time.monotonic()

    def approve(event: DispatchEvent) -> bool:
        if event.operation_id == "op-8" and "loop" not in taken_at:
            hold("loop")
        return True

    def on_start(operation: Operation) -> None:
        if operation.id == "op-16":
            hold("robot")
            loop.call_later(1.0, holder.release)

    robot.on_start = on_start
    d = OperationDispatcher(RESOURCE, approve, recorder, runner=robot, store=store)
    robot.dispatcher = d
    names = [f"op-{i}" for i in range(25)]
    try:
        d.add([op(name) for name in names])
        async with running(d):
            await recorder.wait_event(E.OPERATION_START_REQUESTED, "op-8")
            await until(lambda: d.snapshot().storage_error is not None, what="snapshot().storage_error")
            storage_errors.append(d.snapshot().storage_error or "")
            assert d.running and d.get("op-8").execution.state is S.QUEUED  # the refused start changed nothing
            await asyncio.sleep(max(0.0, taken_at["loop"] + 1.0 - time.monotonic()))  # the fault lasts a second
            holder.release()
            for name in names:
                await recorder.wait_event(E.OPERATION_COMPLETED, name, timeout=15)
            assert d.running and d.snapshot().storage_error is None
            assert robot.refused_reports >= 1
            snapshot = d.snapshot()
            assert snapshot.counts[S.COMPLETED] == 25 and snapshot.queue_length == 0 and snapshot.current_operation_id is None
            events = {name: d.events(name) for name in names}
        dispatcher_events = d.events()
    finally:
        holder.close()
        store.close()
    assert "database is locked" in storage_errors[0]
    assert len(recorder.of(E.OPERATION_START_REQUESTED, "op-8")) >= 2  # asked again once the store wrote again
    for name in names:
        check_sequence(events[name])
        assert [e.event_type for e in events[name]].count(E.OPERATION_COMPLETED) == 1
    store = SQLiteStore(path)
    try:
        recovered = OperationDispatcher(RESOURCE, store=store)
        assert [r.execution.state for r in recovered.list_operations()] == [S.COMPLETED] * 25
        assert recovered.snapshot().counts[S.RUNNING] == 0 and recovered.snapshot().queue_length == 0
        assert {name: recovered.events(name) for name in names} == events
        assert recovered.events() == dispatcher_events
    finally:
        store.close()


async def test_storage_error_clears_once_the_failure_the_loop_owed_is_written(path, holder, recorder):
    """The executor cannot start "a" while the store is locked: the loop retries writing the failure
    (``storage_error`` says why meanwhile); once written, and "b" done, nothing is wrong any more."""
    store = SQLiteStore(path, busy_timeout=0.1)
    robot = PromptRobot()

    def offline(operation: Operation) -> None:
        if operation.id == "a":
            holder.take()
            raise ConnectionError("robot offline")

    robot.on_start = offline
    d = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=robot, store=store)
    robot.dispatcher = d
    try:
        d.add([op("a"), op("b")])
        async with running(d):
            await until(lambda: d.snapshot().storage_error is not None, what="snapshot().storage_error")
            assert "database is locked" in (d.snapshot().storage_error or "")
            assert d.get("a").execution.state is S.RUNNING  # the failure is not recorded yet
            holder.release()
            failed = await recorder.wait_event(E.OPERATION_FAILED, "a")
            await recorder.wait_event(E.OPERATION_COMPLETED, "b")
            assert d.snapshot().storage_error is None, f"still reported after the store wrote again: {d.snapshot().storage_error}"
    finally:
        store.close()
    assert failed.metadata["reason"] == "executor could not start: robot offline"


async def test_the_event_loop_never_waits_on_a_locked_store(path, holder, recorder):
    """An add waits up to busy_timeout in its caller's thread; on the loop, readers answer at
    once and the loop's own write (a cancel) waits in the writer thread, not on the loop."""
    store = SQLiteStore(path, busy_timeout=2.0)
    d = OperationDispatcher(RESOURCE, lambda e: True, recorder, store=store)
    loop = asyncio.get_running_loop()
    ticks: list[float] = []

    def heartbeat() -> None:
        ticks.append(time.monotonic())
        if holder.held:
            loop.call_later(0.02, heartbeat)

    try:
        async with running(d):
            d.pause()
            d.add(op("queued"))
            holder.take()
            locked_at = time.monotonic()
            heartbeat()  # ticks every 20 ms while the lock is held
            adding = asyncio.create_task(asyncio.to_thread(d.add, op("late")))
            cancelling = asyncio.create_task(d.cancel("queued"))
            slowest = 0.0
            while time.monotonic() - locked_at < 1.0:
                began = time.monotonic()
                snapshot = d.snapshot()
                listed = d.list_operations()
                slowest = max(slowest, time.monotonic() - began)
                await asyncio.sleep(0.05)
            stall = max(b - a for a, b in itertools.pairwise(ticks))
            assert slowest < 0.5, f"a read on the loop took {slowest:.2f} s while the store was locked"
            assert len(ticks) >= 20 and stall < 0.5, f"the loop stalled {stall:.2f} s while the store was locked"
            assert not adding.done() and not cancelling.done()  # both still wait on the lock, off the loop
            assert snapshot.queue_length == 1 and [r.operation.id for r in listed] == ["queued"]
            holder.release()
            added = await asyncio.wait_for(adding, 5)
            cancelled = await asyncio.wait_for(cancelling, 5)
    finally:
        store.close()
    assert added.added and cancelled.execution.state is S.CANCELLED


def test_a_second_dispatcher_on_the_same_file_is_refused_and_the_first_carries_on(path):
    store = SQLiteStore(path)
    try:
        first = OperationDispatcher(RESOURCE, store=store)
        first.add(op("a"))
        with pytest.raises(UnavailableError) as refused:
            OperationDispatcher(RESOURCE, store=SQLiteStore(path))
        assert str(path) in refused.value.message and refused.value.details["path"] == str(path)
        assert refused.value.to_dict()["code"] == "UNAVAILABLE"
        first.add(op("b"))
    finally:
        store.close()
    store = SQLiteStore(path)  # released on close: the next dispatcher takes the file over
    try:
        assert [r.operation.id for r in OperationDispatcher(RESOURCE, store=store).list_operations()] == ["a", "b"]
    finally:
        store.close()
