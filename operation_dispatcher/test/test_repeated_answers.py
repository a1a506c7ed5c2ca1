"""Repeated answers to one operation's starts are counted, not recorded, after the first few
(issue 11, item 7): a business logic denying for a lasting reason with cooldown 0 made one
operation collect 24,686 events in 41 s. Recorded: the first RECORDED_REPEATS answers, the
denial that pauses the dispatcher, and the first answer that differs, with its request and how
many pairs were left out; counted meanwhile: retry_count (on disk) and the denial streak."""

from __future__ import annotations

import asyncio
from typing import Any

from dispatcher_testing import EventRecorder, check_sequence, running

from operation_dispatcher import Decision, DenialPolicy, DispatchEvent, EventType, OperationDispatcher, SQLiteStore
from operation_dispatcher._repeats import RECORDED_REPEATS

E = EventType
NO_PAUSE = DenialPolicy(cooldown_seconds=0, max_retries=1000)


def of_a(recorder: EventRecorder) -> list[DispatchEvent]:
    return [e for e in recorder.events if e.operation_id == "a"]


class BusinessLogic:
    """Answers every start with ``answer`` until told otherwise; ``asked(n)`` waits for the n-th request."""

    def __init__(self, answer: Any) -> None:
        self.answer = answer
        self.requests: list[DispatchEvent] = []
        self._asked = asyncio.Condition()

    async def __call__(self, event: DispatchEvent) -> Any:
        async with self._asked:
            self.requests.append(event)
            self._asked.notify_all()
        return self.answer

    async def asked(self, count: int, timeout: float = 10.0) -> None:
        async with self._asked:
            await asyncio.wait_for(self._asked.wait_for(lambda: len(self.requests) >= count), timeout)


async def test_identical_denials_are_counted_after_the_first_few_and_the_approval_says_how_many(tmp_path):
    logic, recorder = BusinessLogic((False, "door closed")), EventRecorder()
    store = SQLiteStore(tmp_path / "d.db")
    d = OperationDispatcher("r", logic, recorder, store=store, denial_policy=NO_PAUSE)
    async with running(d):
        d.add({"id": "a"})
        await logic.asked(12)
        logic.answer = True
        await recorder.wait_event(E.OPERATION_STARTED, "a")
        asked = len(logic.requests)
    assert len(recorder.of(E.OPERATION_START_DENIED, "a")) == RECORDED_REPEATS
    # The approved request is recorded once its answer is, before its STARTED; the unrecorded ones never.
    types = recorder.types("a")
    assert types == ["OPERATION_ADDED"] + ["OPERATION_START_REQUESTED", "OPERATION_START_DENIED"] * RECORDED_REPEATS + [
        "OPERATION_START_REQUESTED", "OPERATION_STARTED",
    ]
    check_sequence(of_a(recorder))
    denials = asked - 1
    assert recorder.of(E.OPERATION_STARTED, "a")[0].metadata["unrecorded_repeats"] == denials - RECORDED_REPEATS
    quiet = [r.id for r in logic.requests[RECORDED_REPEATS:]]
    assert all("-unrecorded-" in event_id for event_id in quiet), quiet
    assert logic.requests[0].id == recorder.of(E.OPERATION_START_REQUESTED, "a")[0].id
    # Every denial counted, on disk too: a restart reads the same retry_count and the same short history.
    assert d.get("a").execution.retry_count == denials
    store.close()
    reopened = SQLiteStore(tmp_path / "d.db")
    try:
        again = OperationDispatcher("r", store=reopened)
        assert again.get("a").execution.retry_count == denials
        assert [e.event_type.value for e in again.events("a")][: len(types)] == types
    finally:
        reopened.close()


async def test_the_denial_that_pauses_the_dispatcher_is_recorded_with_the_repeats_left_out():
    logic, recorder = BusinessLogic((False, "door closed")), EventRecorder()
    d = OperationDispatcher("r", logic, recorder, denial_policy=DenialPolicy(cooldown_seconds=0, max_retries=6))
    async with running(d):
        d.add({"id": "a"})
        paused = await recorder.wait_event(E.OPERATION_DISPATCHER_PAUSED)
    denials = recorder.of(E.OPERATION_START_DENIED, "a")
    assert len(denials) == RECORDED_REPEATS + 1 and len(logic.requests) == 6
    last = denials[-1].metadata
    assert (last["consecutive_denials"], last["retry_count"], last["unrecorded_repeats"]) == (6, 6, 6 - RECORDED_REPEATS - 1)
    assert paused.metadata["cause"] == "denials" and "6 start requests denied in a row" in paused.metadata["reason"]
    check_sequence(of_a(recorder))


async def test_a_denial_that_says_something_else_is_recorded_and_begins_a_new_run():
    logic, recorder = BusinessLogic((False, "door closed")), EventRecorder()
    d = OperationDispatcher("r", logic, recorder, denial_policy=NO_PAUSE)
    async with running(d):
        d.add({"id": "a"})
        await logic.asked(RECORDED_REPEATS + 2)
        logic.answer = Decision(approved=False, reason="door closed", data={"door": 2})  # same reason, other data
        await recorder.wait_event(E.OPERATION_START_DENIED, "a", count=RECORDED_REPEATS + 1)
        await logic.asked(len(logic.requests) + 2 * RECORDED_REPEATS)
    denials = recorder.of(E.OPERATION_START_DENIED, "a")
    assert denials[RECORDED_REPEATS].metadata["data"] == {"door": 2} and denials[RECORDED_REPEATS].metadata["unrecorded_repeats"] >= 1
    assert len(denials) == 2 * RECORDED_REPEATS  # the new run is recorded RECORDED_REPEATS times, then counted
    check_sequence(of_a(recorder))


async def test_not_ready_answers_repeat_the_same_way():
    logic, recorder = BusinessLogic(Decision.later("battery level unknown", retry_after=0.01)), EventRecorder()
    d = OperationDispatcher("r", logic, recorder)
    async with running(d):
        d.add({"id": "a"})
        await logic.asked(10)
        logic.answer = True
        started = await recorder.wait_event(E.OPERATION_STARTED, "a")
    assert len(recorder.of(E.OPERATION_START_DEFERRED, "a")) == RECORDED_REPEATS
    assert started.metadata["unrecorded_repeats"] == len(logic.requests) - 1 - RECORDED_REPEATS
    assert d.get("a").execution.retry_count == 0 and d.snapshot().consecutive_denials == 0
    check_sequence(of_a(recorder))
