"""The event log (issue 13): every event numbered, one more each, kept across restarts, read back from a number.

A reader on a lossy transport (a ROS topic, an SSE stream that fell behind)
sees a number skipped and reads what it missed with ``events_after``; one
that restarts reads on from the last number it has. Real SQLite files for
the restarts, real faults for the write that fails.
"""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from dispatcher_testing import EventRecorder, Instant, running

from operation_dispatcher import (
    Decision,
    DenialPolicy,
    EventType,
    Operation,
    OperationDispatcher,
    SQLiteStore,
    StorageError,
    ValidationError,
)

E = EventType
RESOURCE = "robot-1"


def op(name: str, **payload: object) -> Operation:
    return Operation(id=name, resource_id=RESOURCE, payload=payload)


def dispatcher_with(store: SQLiteStore | None = None, recorder: EventRecorder | None = None) -> OperationDispatcher:
    runner = Instant()
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=runner, store=store)
    runner.dispatcher = dispatcher
    return dispatcher


def whole_log(dispatcher: OperationDispatcher, limit: int = 7) -> list:
    """Every event, read page by page as a reader would."""
    events, after = [], 0
    while True:
        page = dispatcher.events_after(after, limit)
        events += page.events
        assert len(page.events) <= limit
        if page.next_after >= page.last_sequence:
            return events
        assert page.events, page  # a page below the newest event is never empty
        after = page.next_after


async def test_every_event_is_numbered_one_more_than_the_one_before_in_the_order_subscribers_see():
    recorder = EventRecorder()
    dispatcher = dispatcher_with(recorder=recorder)
    async with running(dispatcher):
        dispatcher.add([op(f"op-{i}") for i in range(10)])
        await recorder.wait_event(E.OPERATION_COMPLETED, "op-9")
    seen = [e.sequence for e in recorder.events]
    assert seen == list(range(1, len(seen) + 1)), seen
    assert len({e.id for e in recorder.events}) == len(seen)
    logged = whole_log(dispatcher)
    assert logged == recorder.events  # the log holds what was published, as published
    assert dispatcher.events_after(0).last_sequence == len(seen) == 10 * 4 + 2  # ADDED, REQUESTED, STARTED, COMPLETED; run()'s two


async def test_a_page_starts_after_the_number_asked_for_and_says_where_to_read_on():
    dispatcher = dispatcher_with()
    dispatcher.add([op(f"op-{i}") for i in range(25)])
    page = dispatcher.events_after(10, 5)
    assert [e.sequence for e in page.events] == [11, 12, 13, 14, 15]
    assert (page.next_after, page.last_sequence) == (15, 25)
    assert [e.operation_id for e in page.events] == [f"op-{i}" for i in range(10, 15)]
    assert [e.sequence for e in dispatcher.events_after(23).events] == [24, 25]  # default limit: the rest
    beyond = dispatcher.events_after(99)
    assert (beyond.events, beyond.next_after, beyond.last_sequence) == ([], 99, 25)
    empty = dispatcher_with().events_after()
    assert (empty.events, empty.next_after, empty.last_sequence) == ([], 0, 0)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"after": -1}, "after"),
        ({"after": "3"}, "after"),
        ({"after": True}, "after"),
        ({"after": 1.0}, "after"),
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": "5"}, "limit"),
    ],
)
def test_a_bad_after_or_limit_is_refused_naming_it(kwargs, field):
    dispatcher = dispatcher_with()
    dispatcher.add(op("a"))
    with pytest.raises(ValidationError) as info:
        dispatcher.events_after(**kwargs)
    assert info.value.field == field and field in info.value.message


async def test_one_operations_events_read_a_page_at_a_time_are_all_of_them_once():
    """An operation denied again and again with reasons that differ collects an event per denial:
    its events page like the log (issue 13: 'get_events likewise where they can grow')."""
    reasons = iter(range(1000))
    recorder = EventRecorder()
    dispatcher = OperationDispatcher(
        RESOURCE, lambda e: Decision(approved=False, reason=f"no #{next(reasons)}"), recorder,
        denial_policy=DenialPolicy(0.0, max_retries=1000),
    )  # fmt: skip
    dispatcher.add([op("a"), op("b")])
    async with running(dispatcher):
        await recorder.wait_event(E.OPERATION_START_DENIED, "a", count=6, timeout=20.0)
    whole = dispatcher.events("a")
    paged, after = [], 0
    while page := dispatcher.events("a", after=after, limit=5):
        assert len(page) <= 5
        paged += page
        after = page[-1].sequence
    assert paged == whole and all(e.operation_id == "a" for e in paged)
    assert dispatcher.events("a", after=whole[2].sequence, limit=2) == whole[3:5]
    assert dispatcher.events("a", limit=1000) == whole  # the default: all of them, as before
    with pytest.raises(ValidationError) as info:
        dispatcher.events("a", limit=0)
    assert info.value.field == "limit"
    with pytest.raises(ValidationError) as info:
        dispatcher.events("a", after=-1)
    assert info.value.field == "after"


async def test_numbers_carry_on_after_a_restart_and_the_old_events_read_back_with_theirs(tmp_path: Path):
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    first = dispatcher_with(store)
    async with running(first):
        first.add([op("a"), op("b")])
        recorder = EventRecorder()
        first.subscribe(recorder)
        await recorder.wait_event(E.OPERATION_COMPLETED, "b")
    before = whole_log(first)
    store.close()

    recorder = EventRecorder()
    second = dispatcher_with(SQLiteStore(path), recorder)
    assert whole_log(second) == before  # same ids, numbers, times and facts
    async with running(second):
        second.add(op("c"))
        await recorder.wait_event(E.OPERATION_COMPLETED, "c")
    numbers = [e.sequence for e in whole_log(second)]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert recorder.events[0].sequence == before[-1].sequence + 1


def test_a_store_written_before_events_had_numbers_is_numbered_as_written(tmp_path: Path):
    path = tmp_path / "old.db"
    store = SQLiteStore(path)
    first = dispatcher_with(store)
    first.add([op("a"), op("b"), op("c")])
    ids = [e.id for e in whole_log(first)]
    store.close()
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE events SET body = json_remove(body, '$.sequence')")
    conn.close()

    second = dispatcher_with(SQLiteStore(path))
    log = whole_log(second)
    assert [(e.id, e.sequence) for e in log] == list(zip(ids, [1, 2, 3], strict=True))
    second.add(op("d"))
    assert second.events_after(3).events[0].sequence == 4


async def test_a_write_that_fails_leaves_no_gap(tmp_path: Path):
    store = SQLiteStore(tmp_path / "d.db")
    dispatcher = dispatcher_with(store)
    dispatcher.add(op("a"))
    conn = store._conn  # SQLite's page limit on the store's own connection: the file is full
    conn.execute(f"PRAGMA max_page_count={conn.execute('PRAGMA page_count').fetchone()[0]}")
    with pytest.raises(StorageError):
        dispatcher.add(op("big", text="x" * 20_000))
    conn.execute("PRAGMA max_page_count=1073741823")
    dispatcher.add(op("b"))
    assert [(e.operation_id, e.sequence) for e in whole_log(dispatcher)] == [("a", 1), ("b", 2)]


async def test_a_request_sent_unrecorded_has_no_number_and_no_place_in_the_log():
    asked: list = []
    eight = asyncio.Event()

    def deny(event):
        asked.append(event)
        if len(asked) == 8:
            eight.set()
        return Decision(approved=False, reason="door closed")

    dispatcher = OperationDispatcher(RESOURCE, deny, denial_policy=DenialPolicy(max_retries=100, cooldown_seconds=0.001))
    dispatcher.add(op("a"))
    async with running(dispatcher):
        await asyncio.wait_for(eight.wait(), 10)
    quiet = [e for e in asked if e.sequence is None]
    assert quiet and all("-unrecorded-" in e.id for e in quiet)
    numbers = [e.sequence for e in whole_log(dispatcher)]
    assert numbers == list(range(1, len(numbers) + 1))
    assert {e.id for e in whole_log(dispatcher)}.isdisjoint(e.id for e in quiet)
