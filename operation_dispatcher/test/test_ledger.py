"""The books: rows are snapshots, counts stay exact, and nothing an operation
leaves behind is tracked by the cyclic garbage collector (which is what keeps
dispatching fast with 100,000 operations queued; see _ledger.py)."""

import asyncio
import gc

from operation_dispatcher import DispatchEvent, EventType, Operation, OperationDispatcher, OperationRunner, OperationState
from operation_dispatcher._ledger import Ledger, event_model, row_of
from operation_dispatcher._models import utcnow


def test_update_writes_a_new_row_and_keeps_the_counts():
    ledger = Ledger()
    before = ledger.add(Operation(id="a", resource_id="r", priority=3), "x-1", 1, utcnow())
    after = ledger.update("a", {"state": OperationState.RUNNING, "attempts": 1})
    assert (before.state, before.attempts) == (OperationState.QUEUED, 0)  # a snapshot: unchanged
    assert (after.state, after.attempts, after.priority) == (OperationState.RUNNING, 1, 3)
    assert ledger["a"] == after
    assert (ledger.count(OperationState.QUEUED), ledger.count(OperationState.RUNNING)) == (0, 1)


def test_an_event_row_gives_back_the_event():
    event = DispatchEvent(
        id="e-1", event_type=EventType.OPERATION_FAILED, resource_id="r", operation_id="a", execution_id="x-1",
        metadata={"reason": "jammed", "requeued": True, "data": {"code": 7}}, sequence=12,
    )  # fmt: skip
    assert event_model(row_of(event, 12), "r") == event


def test_models_built_from_rows_are_whole_and_equal_validated_ones():
    """The ledger builds its models without validation (``built``): a field added to a model
    but not to the ledger would be missing, so each must dump as the validated model does."""
    ledger = Ledger()
    operation = Operation(
        id="a", resource_id="r", priority=3, payload={"goal": {"x": 1.5}}, planned_duration=30.0,
        release_date="2030-01-01T00:00:00Z", due_date="2030-01-02T00:00:00Z",
    )  # fmt: skip
    entry = ledger.add(operation, "x-1", 1, utcnow())
    for copy_payload in (False, True):
        rebuilt = ledger.operation(entry, copy_payload=copy_payload)
        assert rebuilt == operation and rebuilt.model_dump_json() == operation.model_dump_json()
        assert rebuilt.model_fields_set == set(Operation.model_fields)
    assert ledger.operation(entry, copy_payload=True).payload is not ledger.operation(entry).payload
    event = DispatchEvent(id="e-1", event_type=EventType.OPERATION_ADDED, resource_id="r", operation_id="a", sequence=1)
    rebuilt_event = event_model(row_of(event, 1), "r")
    assert rebuilt_event.model_dump() == event.model_dump()
    assert rebuilt_event.model_fields_set == set(DispatchEvent.model_fields)


def test_a_restored_record_reads_back_as_it_was_stored_field_by_field():
    """Recovery builds each row in one step, in Entry's field order: every execution field set
    to a value of its own, so a field read into another's place cannot pass."""
    from datetime import timedelta

    from operation_dispatcher import Dependency, OperationExecution, OperationRecord

    now = utcnow()
    operation = Operation(
        id="a", resource_id="r", priority=-4, payload={"goal": {"x": 1.5}}, planned_duration=12.0,
        release_date=now - timedelta(hours=3), due_date=now + timedelta(hours=5), created_at=now - timedelta(hours=4),
        dependencies=[Dependency(operation_id="before")],
    )  # fmt: skip
    execution = OperationExecution(
        operation_id="a", execution_id="x-7", state=OperationState.FAILED, outcome="failed", termination_reason="jammed",
        retry_count=2, attempts=3, progress=0.25, not_before=now - timedelta(hours=2), queued_at=now - timedelta(hours=1),
        started_at=now - timedelta(minutes=30), finished_at=now - timedelta(minutes=10), sequence=41,
    )  # fmt: skip
    record = OperationRecord(operation=operation, execution=execution)
    ledger = Ledger()
    entry = ledger.restore(record)
    assert ledger.record(entry) == record
    assert ledger.record(entry).model_dump_json() == record.model_dump_json()
    assert (ledger.count(OperationState.FAILED), ledger.count(OperationState.QUEUED)) == (1, 0)


class InstantRunner(OperationRunner):
    def __init__(self, dispatcher_ref: list[OperationDispatcher], count: int) -> None:
        self.dispatcher_ref, self.left, self.done = dispatcher_ref, count, asyncio.Event()

    async def start(self, operation: Operation) -> None:
        asyncio.get_running_loop().call_soon(self._finish, operation.id)

    def _finish(self, operation_id: str) -> None:
        self.dispatcher_ref[0].complete(operation_id)
        self.left -= 1
        if self.left == 0:
            self.done.set()


async def _run(queued: int, finished: int) -> OperationDispatcher:
    ref: list[OperationDispatcher] = []
    runner = InstantRunner(ref, finished)
    dispatcher = OperationDispatcher("r", lambda event: True, runner=runner)
    ref.append(dispatcher)
    dispatcher.add([Operation(id=f"done-{i}", resource_id="r", payload={"i": i}) for i in range(finished)])
    task = asyncio.create_task(dispatcher.run())
    await asyncio.wait_for(runner.done.wait(), 60)
    dispatcher.pause()  # what is added now stays queued
    dispatcher.add([Operation(id=f"queued-{i}", resource_id="r", priority=i % 5, payload={"i": i}) for i in range(queued)])
    dispatcher.request_stop()
    await task
    return dispatcher


def test_queued_and_finished_operations_leave_nothing_for_the_collector():
    asyncio.run(_run(10, 10))  # warm up: imports, caches, the loop's own objects
    gc.collect()
    tracked_before = len(gc.get_objects())
    dispatcher = asyncio.run(_run(2_000, 2_000))
    gc.collect()
    grown = len(gc.get_objects()) - tracked_before
    assert dispatcher.snapshot().counts[OperationState.COMPLETED] == 2_000
    assert dispatcher.snapshot().queue_length == 2_000
    # One tracked object per operation would be 4,000 (the previous books left one to two dozen);
    # a fixed few hundred is the dispatcher itself, its tables and the loop.
    assert grown < 400, f"{grown} more objects tracked by the cyclic GC after 4,000 operations"
