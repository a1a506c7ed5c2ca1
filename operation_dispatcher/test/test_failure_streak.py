"""Operations failing in a row pause the dispatcher, as denials in a row do (issue 11, item 7): a
robot that rejected every goal failed 200 operations in 1.7 s. FailureStreakPolicy.max_failures
(5 by default, 0 = never) failures in a row, none completed in between, pause it with
OPERATION_DISPATCHER_PAUSED (automatic, cause "failures"); the rest of the queue waits; a resume
clears the streak."""

from __future__ import annotations

import pytest
from dispatcher_testing import EventRecorder, running

from operation_dispatcher import (
    EventType,
    FailureRetryPolicy,
    FailureStreakPolicy,
    OperationDispatcher,
    OperationRunner,
    OperationState,
    ValidationError,
)

E = EventType


class Robot(OperationRunner):
    """Rejects every goal whose operation id is in ``rejects``; reports the others complete at once."""

    def __init__(self, rejects: set[str] | None = None) -> None:
        self.rejects = rejects
        self.dispatcher: OperationDispatcher | None = None

    async def start(self, operation):
        if self.rejects is None or operation.id in self.rejects:
            raise ConnectionError("goal rejected")
        assert self.dispatcher is not None
        self.dispatcher.complete(operation.id)


def ops(count: int) -> list[dict]:
    return [{"id": f"op-{i}", "priority": -i} for i in range(count)]  # op-0 first


async def test_a_robot_rejecting_every_goal_pauses_the_dispatcher_after_max_failures():
    recorder = EventRecorder()
    d = OperationDispatcher("r", on_notification_callback=recorder, runner=Robot())
    d.add(ops(10))
    async with running(d):
        paused = await recorder.wait_event(E.OPERATION_DISPATCHER_PAUSED)
        snap = d.snapshot()
        assert snap.paused and snap.consecutive_failures == 5
        assert len(recorder.of(E.OPERATION_FAILED)) == 5 and len(d.list_operations("QUEUED")) == 5
        meta = paused.metadata
        assert (meta["automatic"], meta["cause"], meta["consecutive_failures"], meta["operation_id"]) == (True, "failures", 5, "op-4")
        assert meta["reason"] == "5 operations failed in a row; last reason: executor could not start: goal rejected"
        assert snap.paused_reason == meta["reason"]
        d.resume()
        assert d.snapshot().consecutive_failures == 0
        await recorder.wait_event(E.OPERATION_DISPATCHER_PAUSED, count=2)  # the next five fail in their turn
    assert len(recorder.of(E.OPERATION_FAILED)) == 10


async def test_a_completion_ends_the_streak():
    recorder = EventRecorder()
    robot = Robot(rejects={"op-0", "op-1", "op-3", "op-4"})
    d = OperationDispatcher("r", on_notification_callback=recorder, runner=robot, failure_streak=FailureStreakPolicy(3))
    robot.dispatcher = d
    d.add(ops(5))
    async with running(d):
        await recorder.wait_event(E.OPERATION_FAILED, "op-4")
        assert not d.snapshot().paused and d.snapshot().consecutive_failures == 2
    assert not recorder.of(E.OPERATION_DISPATCHER_PAUSED)
    assert d.get("op-2").execution.state is OperationState.COMPLETED


async def test_requeued_failures_count_too_and_zero_never_pauses():
    recorder = EventRecorder()
    retry = FailureRetryPolicy(max_attempts=2, initial_backoff_seconds=0.0)
    d = OperationDispatcher("r", on_notification_callback=recorder, runner=Robot(), failure_retry=retry,
                            failure_streak=FailureStreakPolicy(max_failures=3))
    d.add(ops(2))
    async with running(d):
        paused = await recorder.wait_event(E.OPERATION_DISPATCHER_PAUSED)
    assert paused.metadata["consecutive_failures"] == 3 and any(e.metadata["requeued"] for e in recorder.of(E.OPERATION_FAILED))

    recorder = EventRecorder()
    d = OperationDispatcher("r", on_notification_callback=recorder, runner=Robot(), failure_streak=FailureStreakPolicy(0))
    d.add(ops(8))
    async with running(d):
        await recorder.wait_event(E.OPERATION_FAILED, "op-7")
    assert not recorder.of(E.OPERATION_DISPATCHER_PAUSED) and d.snapshot().consecutive_failures == 8


@pytest.mark.parametrize("bad", [-1, True, 1.5, "5"])
def test_max_failures_must_be_a_whole_number_of_at_least_zero(bad):
    with pytest.raises(ValidationError, match="max_failures") as caught:
        FailureStreakPolicy(max_failures=bad)
    assert caught.value.details["field"] == "max_failures"
