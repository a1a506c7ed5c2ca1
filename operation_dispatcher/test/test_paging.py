"""Paged listings (issue 13): a cursor that operations coming and going do not shift.

A reader pages through one state while operations are added, started,
finished and cancelled between its pages: every operation that stays in
that state throughout is on exactly one page, no operation is on two, and
each page is in the order ``list_operations`` gives. Without changes the
pages put together are ``list_operations`` itself, for any page size.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
from datetime import timedelta
from pathlib import Path

import pytest
from dispatcher_testing import EventRecorder, Instant, running

from operation_dispatcher import (
    Dependency,
    EventType,
    Operation,
    OperationDispatcher,
    OperationRunner,
    OperationState,
    SQLiteStore,
    ValidationError,
)
from operation_dispatcher._models import utcnow

E = EventType
RESOURCE = "robot-1"


def op(name: str, priority: int = 0, **fields: object) -> Operation:
    return Operation(id=name, resource_id=RESOURCE, priority=priority, **fields)


class Held(OperationRunner):
    """Starts and waits to be told (the test completes or fails the active operation itself)."""

    async def start(self, operation: Operation) -> None:
        return None

    async def cancel(self, operation: Operation) -> None:
        return None


def ids(records) -> list[str]:
    return [r.operation.id for r in records]


def read_all(dispatcher: OperationDispatcher, state: str | None, limit: int) -> list[str]:
    seen, cursor = [], None
    while True:
        page = dispatcher.page_operations(state, limit, cursor)
        assert len(page.operations) <= limit
        seen += ids(page.operations)
        if page.next_cursor is None:
            return seen
        assert page.operations, "a page with a next_cursor is never empty"
        cursor = page.next_cursor


async def test_pages_put_together_are_the_listing_for_any_page_size():
    recorder = EventRecorder()
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=Held())
    later = utcnow() + timedelta(hours=1)
    dispatcher.add([op(f"done-{i}") for i in range(4)])
    async with running(dispatcher):
        for i in range(4):
            await recorder.wait_event(E.OPERATION_STARTED, f"done-{i}")
            (dispatcher.complete if i % 2 else dispatcher.fail)(f"done-{i}")
        dispatcher.add(
            [op(f"q-{i}", priority=i % 3) for i in range(12)]
            + [op("gated", release_date=later), op("blocked", dependencies=[Dependency(operation_id="gated")])]
        )
        await recorder.wait_event(E.OPERATION_STARTED, "q-2")  # active: the first of the highest priority
        await dispatcher.cancel("q-0")
        for state in (None, *OperationState):
            whole = ids(dispatcher.list_operations(state))
            for limit in (1, 2, 3, 5, 13, 1000):
                assert read_all(dispatcher, state, limit) == whole, (state, limit)
        page = dispatcher.page_operations(limit=5)
        assert page.total == 4 + 14 and page.counts[OperationState.QUEUED] == 12
        assert dispatcher.page_operations("QUEUED", 5).total == page.counts[OperationState.QUEUED]
        assert ids(dispatcher.list_operations("QUEUED"))[-2:] == ["gated", "blocked"]


def test_every_queued_operation_that_stays_queued_is_on_exactly_one_page_while_others_come_and_go():
    rng = random.Random(13)
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, runner=Held())
    dispatcher.add([op(f"op-{i:04d}", priority=rng.randrange(5)) for i in range(600)])
    stayed = set(ids(dispatcher.list_operations("QUEUED")))
    seen: list[str] = []
    cursor, added = None, 0
    while True:
        before = ids(dispatcher.list_operations("QUEUED"))
        page = dispatcher.page_operations("QUEUED", 23, cursor)
        got = ids(page.operations)
        if got:  # a run of the listing as it is now
            start = before.index(got[0])
            assert before[start : start + len(got)] == got
        seen += got
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
        # between pages: new ones at every priority, and some queued ones cancelled, seen or not
        dispatcher.add([op(f"new-{added + k}", priority=rng.randrange(5)) for k in range(4)])
        added += 4
        for gone in rng.sample(sorted(set(before)), 3):
            asyncio.run(dispatcher.cancel(gone))
            stayed.discard(gone)
    assert len(seen) == len(set(seen)), "an operation is on two pages"
    assert stayed <= set(seen), sorted(stayed - set(seen))[:5]


async def test_every_finished_operation_is_on_exactly_one_history_page_while_more_finish():
    runner = Instant()
    recorder = EventRecorder()
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, recorder, runner=runner)
    runner.dispatcher = dispatcher
    dispatcher.add([op(f"op-{i:04d}") for i in range(400)])
    async with running(dispatcher):
        await recorder.wait_event(E.OPERATION_COMPLETED, count=100)
        for state, reader in (("COMPLETED", dispatcher.page_operations), (None, dispatcher.history_page)):
            done_before = set(ids(dispatcher.list_operations("COMPLETED")))
            seen, cursor = [], None
            while True:
                page = reader(state, 9, cursor) if state else reader(9, cursor)
                assert all(r.execution.state is OperationState.COMPLETED for r in page.operations)
                seen += ids(page.operations)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
                await asyncio.sleep(0.002)  # more complete meanwhile
            assert len(seen) == len(set(seen)) and done_before <= set(seen)
            assert seen == sorted(seen, reverse=True)  # newest first (they finish in id order)
        await recorder.wait_event(E.OPERATION_COMPLETED, "op-0399")
    assert dispatcher.history_page(3).total == 400
    assert ids(dispatcher.history(3)) == ["op-0399", "op-0398", "op-0397"]


async def test_a_cursor_reads_on_after_a_restart_on_the_same_store(tmp_path: Path):
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    first = OperationDispatcher(RESOURCE, lambda e: True, runner=Held(), store=store)
    first.add([op(f"op-{i:03d}", priority=i % 4) for i in range(50)])
    page = first.page_operations("QUEUED", 20)
    store.close()
    store = SQLiteStore(path)
    second = OperationDispatcher(RESOURCE, lambda e: True, runner=Held(), store=store)
    rest = read_all_from(second, "QUEUED", page.next_cursor)
    assert ids(page.operations) + rest == ids(second.list_operations("QUEUED"))
    store.close()


def read_all_from(dispatcher: OperationDispatcher, state: str, cursor: str | None) -> list[str]:
    seen = []
    while cursor is not None:
        page = dispatcher.page_operations(state, 7, cursor)
        seen += ids(page.operations)
        cursor = page.next_cursor
    return seen


def _forged(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"limit": 0}, "limit", "limit"),
        ({"limit": 1001}, "limit", "limit"),
        ({"limit": True}, "limit", "limit"),
        ({"limit": "5"}, "limit", "limit"),
        ({"state": "DONE"}, "state", "state must be one of"),
        ({"cursor": ""}, "cursor", "next_cursor"),
        ({"cursor": 5}, "cursor", "next_cursor"),
        ({"cursor": "x" * 1025}, "cursor", "next_cursor"),
        ({"cursor": "not base64 at all!"}, "cursor", "gave out"),
        ({"cursor": _forged({"a": 1})}, "cursor", "gave out"),
        ({"cursor": _forged([1, "all", "queue", [0, "x", 1, "op"]])}, "cursor", "gave out"),
        ({"cursor": _forged([1, "all", "queue", [0, 1.0, 1, "op", "extra"]])}, "cursor", "gave out"),
        ({"cursor": _forged([1, "all", "history", -1])}, "cursor", "gave out"),
        ({"cursor": _forged([1, "all", "nowhere", None])}, "cursor", "gave out"),
        ({"cursor": _forged([2, "all", "queue", None])}, "cursor", "gave out"),
        ({"state": "QUEUED", "cursor": _forged([1, "all", "queue", None])}, "cursor", "belongs to the listing 'all'"),
    ],
)
def test_a_bad_limit_state_or_cursor_is_refused_naming_it(kwargs, field, words):
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, runner=Held())
    dispatcher.add([op("a"), op("b")])
    with pytest.raises(ValidationError) as info:
        dispatcher.page_operations(**kwargs)
    assert info.value.field == field and words in info.value.message, info.value.message


def test_a_cursor_of_one_listing_is_refused_by_another():
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, runner=Held())
    dispatcher.add([op(f"op-{i}") for i in range(5)])
    cursor = dispatcher.page_operations("QUEUED", 2).next_cursor
    with pytest.raises(ValidationError, match="belongs to the listing 'QUEUED'"):
        dispatcher.history_page(2, cursor)
    with pytest.raises(ValidationError, match="belongs to the listing 'QUEUED'"):
        dispatcher.page_operations(None, 2, cursor)
