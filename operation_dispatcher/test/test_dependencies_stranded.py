"""Operations waiting on an operation that will never complete (issue 9, defect 6).

B depends on A. Once A is CANCELLED or FAILED (for good: a retry policy
that queues it again keeps B waiting), B can never start: it ends with A,
CANCELLED by default or FAILED (``on_dependency_failed``), with an event
naming A and A's end; whatever waited for B ends with it. A new operation
depending on such an A is refused, naming its dependencies field. A pair of
dependencies on one operation must both hold, so finish-to-start wins over
start-to-start. A store holding such a B (left by an older version) ends it
on recovery.
"""

from __future__ import annotations

import asyncio
import functools

import pytest
from dispatcher_testing import EventRecorder, check_sequence, running

from operation_dispatcher import (
    Dependency,
    DependencyType,
    DispatchEvent,
    EventType,
    FailureRetryPolicy,
    NotFoundError,
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
F2S, S2S = DependencyType.FINISH_TO_START, DependencyType.START_TO_START
ENDS = {E.OPERATION_COMPLETED, E.OPERATION_CANCELLED, E.OPERATION_FAILED}


def op(name: str, *after: str, kind: DependencyType = F2S) -> Operation:
    return Operation(id=name, resource_id="robot-1", dependencies=[Dependency(operation_id=a, type=kind) for a in after])


class Executor(OperationRunner):
    """Reports the outcome of each start at once, as ``script[operation id]`` says, in order
    ("complete" or "fail"); an operation with nothing (more) scripted keeps running."""

    def __init__(self, **script: list[str]) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.script = script

    async def start(self, operation: Operation) -> None:
        assert self.dispatcher is not None
        outcomes = self.script.get(operation.id)
        if outcomes:
            outcome = outcomes.pop(0)
            fail = functools.partial(self.dispatcher.fail, reason="gripper slipped")
            report = self.dispatcher.complete if outcome == "complete" else fail
            asyncio.get_running_loop().call_soon(report, operation.id)


def make(recorder: EventRecorder, executor: Executor | None = None, **kw) -> OperationDispatcher:
    executor = executor or Executor()
    dispatcher = OperationDispatcher("robot-1", lambda e: True, recorder, runner=executor, **kw)
    executor.dispatcher = dispatcher
    return dispatcher


def ending(d: OperationDispatcher, operation_id: str) -> DispatchEvent:
    """The last event of an operation (its end, for an ended one)."""
    return d.events(operation_id)[-1]


def assert_stranded(d: OperationDispatcher, operation_id: str, predecessor: str, predecessor_state: str, mode: str) -> None:
    """``operation_id`` ended, unasked and never started, because ``predecessor`` ended as ``predecessor_state``."""
    target = S.CANCELLED if mode == "cancel" else S.FAILED
    record = d.get(operation_id)
    assert record.execution.state is target
    assert record.execution.attempts == 0 and record.execution.finished_at is not None
    assert repr(predecessor) in record.execution.termination_reason and predecessor_state in record.execution.termination_reason
    event = ending(d, operation_id)
    assert event.event_type is (E.OPERATION_CANCELLED if target is S.CANCELLED else E.OPERATION_FAILED)
    assert event.metadata["dependency"] == predecessor and event.metadata["dependency_state"] == predecessor_state
    assert event.metadata["was_active"] is False and repr(predecessor) in event.metadata["reason"]
    if target is S.FAILED:
        assert event.metadata["requeued"] is False
    assert E.OPERATION_START_REQUESTED not in {e.event_type for e in d.events(operation_id)}
    check_sequence(d.events(operation_id))


MODES = [pytest.param({}, "cancel", id="default-cancel"), pytest.param({"on_dependency_failed": "fail"}, "fail", id="fail")]


@pytest.mark.parametrize(("options", "mode"), MODES)
async def test_cancelling_a_queued_operation_ends_what_waits_for_it_transitively(recorder, options, mode):
    d = make(recorder, **options)
    async with running(d):
        d.pause()  # nothing starts: A is cancelled while queued
        d.add([op("A"), op("B", "A"), op("C", "B"), op("D")])
        assert d.waiting_for("B") == {"A"} and d.waiting_for("C") == {"B"}
        await d.cancel("A", reason="order withdrawn")
        assert_stranded(d, "B", "A", "CANCELLED", mode)
        assert_stranded(d, "C", "B", "CANCELLED" if mode == "cancel" else "FAILED", mode)
        assert [r.operation.id for r in d.list_operations(S.QUEUED)] == ["D"]
        assert d.snapshot().queue_length == 1
        await recorder.wait_event(E.OPERATION_CANCELLED if mode == "cancel" else E.OPERATION_FAILED, "C")
        d.resume()
        await recorder.wait_event(E.OPERATION_STARTED, "D")
    ends = [e.operation_id for e in recorder.events if e.operation_id in ("A", "B", "C") and e.event_type in ENDS]
    assert ends == ["A", "B", "C"]  # published in order, A's end first
    assert d.events("D")[-1].event_type is E.OPERATION_STARTED


@pytest.mark.parametrize(("options", "mode"), MODES)
async def test_an_operation_that_fails_ends_what_waits_for_it(recorder, options, mode):
    d = make(recorder, Executor(A=["fail"]), **options)
    d.add([op("A"), op("B", "A"), op("C", "B"), op("D")])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "D")
    assert d.get("A").execution.state is S.FAILED
    assert_stranded(d, "B", "A", "FAILED", mode)
    assert_stranded(d, "C", "B", "CANCELLED" if mode == "cancel" else "FAILED", mode)


async def test_cancelling_the_running_operation_ends_what_waits_for_it(recorder):
    d = make(recorder)
    d.add([op("A"), op("B", "A"), op("D")])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "A")
        await d.cancel("A")
        await recorder.wait_event(E.OPERATION_STARTED, "D")
    assert_stranded(d, "B", "A", "CANCELLED", "cancel")


@pytest.mark.parametrize("then", ["complete", "fail"])
async def test_a_failure_the_retry_policy_queues_again_keeps_the_dependents_waiting(recorder, then):
    retry = FailureRetryPolicy(max_attempts=2, initial_backoff_seconds=0.05)
    d = make(recorder, Executor(A=["fail"], B=["complete"]), failure_retry=retry)
    d.add([op("A"), op("B", "A")])
    async with running(d):
        requeued = await recorder.wait_event(E.OPERATION_FAILED, "A")
        assert requeued.metadata["requeued"] is True
        await recorder.wait_event(E.OPERATION_STARTED, "A", count=2)  # the second attempt runs until told
        assert d.get("B").execution.state is S.QUEUED and d.waiting_for("B") == {"A"}
        assert [e.event_type for e in d.events("B")] == [E.OPERATION_ADDED]
        if then == "complete":
            d.complete("A")
            await recorder.wait_event(E.OPERATION_COMPLETED, "B")
        else:
            d.fail("A", reason="gripper slipped again")  # the last attempt: A FAILED for good
            await recorder.wait_event(E.OPERATION_CANCELLED, "B")
    if then == "fail":
        assert_stranded(d, "B", "A", "FAILED", "cancel")
    check_sequence(d.events("A"))


async def _ended(recorder: EventRecorder, how: str) -> OperationDispatcher:
    """A dispatcher whose operation A is CANCELLED while queued, or FAILED once started."""
    if how == "cancelled":
        d = make(recorder)
        d.add(op("A"))
        await d.cancel("A")
        return d
    d = make(recorder, Executor(A=["fail"]))
    d.add([op("A"), op("Z")])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "Z")  # A failed before Z started
    d.complete("Z")
    return d


@pytest.mark.parametrize(
    ("how", "kind"),
    [("cancelled", F2S), ("cancelled", S2S), ("failed", F2S)],
    ids=["cancelled-finish_to_start", "cancelled-never-started-start_to_start", "failed-finish_to_start"],
)
async def test_a_new_dependency_on_an_ended_operation_is_refused_and_nothing_is_added(recorder, how, kind):
    d = await _ended(recorder, how)
    state = "CANCELLED" if how == "cancelled" else "FAILED"
    before = [r.model_dump() for r in d.list_operations()]
    events_of_a = d.events("A")
    message = f"operation 'A' is {state}, so this {kind.value} dependency can never be met"
    with pytest.raises(ValidationError, match=message) as refused:
        d.add(op("C", "A", kind=kind))
    assert refused.value.field == "operations[0].dependencies"
    assert refused.value.to_dict()["code"] == "VALIDATION"
    with pytest.raises(ValidationError) as refused_in_batch:
        d.add([op("ok"), op("C", "A", kind=kind)])
    assert refused_in_batch.value.field == "operations[1].dependencies"
    assert [r.model_dump() for r in d.list_operations()] == before  # the whole batch refused, "ok" too
    assert d.events("A") == events_of_a
    for never_added in ("C", "ok"):
        with pytest.raises(NotFoundError):
            d.get(never_added)


async def test_start_to_start_on_an_operation_that_started_then_failed_is_accepted_and_runs(recorder):
    d = await _ended(recorder, "failed")
    assert d.add(op("C", "A", kind=S2S)).added  # A did start: the dependency holds for good
    assert d.waiting_for("C") == set()
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "C")


@pytest.mark.parametrize("then", ["complete", "fail"])
async def test_both_start_to_start_and_finish_to_start_on_one_operation_must_hold(recorder, then):
    d = make(recorder, Executor(B=["complete"]))
    both = [Dependency(operation_id="A", type=S2S), Dependency(operation_id="A", type=F2S)]
    d.add([op("A"), Operation(id="B", resource_id="robot-1", dependencies=both)])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "A")
        assert d.waiting_for("B") == {"A"}  # A's start meets one of the two; B still waits for A to finish
        if then == "complete":
            d.complete("A")
            await recorder.wait_event(E.OPERATION_COMPLETED, "B")
        else:
            d.fail("A", reason="gripper slipped")
            await recorder.wait_event(E.OPERATION_CANCELLED, "B")
    if then == "fail":
        assert_stranded(d, "B", "A", "FAILED", "cancel")
    else:
        starts = [e for e in recorder.events if e.event_type is E.OPERATION_STARTED]
        completed_a = recorder.of(E.OPERATION_COMPLETED, "A")[0]
        assert [e.operation_id for e in starts] == ["A", "B"] and starts[1].created_at >= completed_a.created_at


@pytest.mark.parametrize(("options", "mode"), MODES)
def test_a_recovered_store_ends_what_waits_for_an_ended_operation(tmp_path, options, mode):
    """The file an older version left: A CANCELLED, B (after A) and C (after B) still QUEUED, with no event."""
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    d = OperationDispatcher("robot-1", store=store)
    d.add([op("A"), op("B", "A"), op("C", "B"), op("D")])
    store.close()
    store = SQLiteStore(path)
    a = next(r for r in store.load("robot-1").records if r.operation.id == "A")
    now = utcnow()
    cancelled = OperationExecution(**{**a.execution.model_dump(), "state": S.CANCELLED, "finished_at": now})
    event = DispatchEvent(id="old", event_type=E.OPERATION_CANCELLED, resource_id="robot-1", operation_id="A", created_at=now)
    store.write(executions=[cancelled], events=[event])
    recovered = OperationDispatcher("robot-1", store=store, **options)
    assert_stranded(recovered, "B", "A", "CANCELLED", mode)
    assert_stranded(recovered, "C", "B", "CANCELLED" if mode == "cancel" else "FAILED", mode)
    assert [r.operation.id for r in recovered.list_operations(S.QUEUED)] == ["D"]
    store.close()
    store = SQLiteStore(path)  # and the ends were written: a second recovery finds them, ending nothing twice
    again = OperationDispatcher("robot-1", store=store)
    for operation_id in ("B", "C"):
        assert again.get(operation_id).execution.state is recovered.get(operation_id).execution.state
        assert again.events(operation_id) == recovered.events(operation_id)
    store.close()


async def test_an_interrupted_operation_failed_on_recovery_ends_what_waits_for_it(tmp_path, recorder):
    """A killed while RUNNING; the next dispatcher fails it (on_interrupted="fail"), and B with it."""
    path = tmp_path / "d.db"
    store = SQLiteStore(path)
    d = make(recorder, store=store)
    d.add([op("A"), op("B", "A")])
    async with running(d):
        await recorder.wait_event(E.OPERATION_STARTED, "A")
    store.close()  # A is still RUNNING in the file: its executor went with the process
    store = SQLiteStore(path)
    try:
        recovered = OperationDispatcher("robot-1", store=store, on_interrupted="fail")
        assert recovered.get("A").execution.state is S.FAILED
        assert_stranded(recovered, "B", "A", "FAILED", "cancel")
    finally:
        store.close()


def test_on_dependency_failed_must_be_cancel_or_fail():
    with pytest.raises(ValidationError, match="on_dependency_failed must be 'cancel' or 'fail'") as refused:
        OperationDispatcher("robot-1", on_dependency_failed="ignore")
    assert refused.value.field == "on_dependency_failed"
