"""The executor is told one thing at a time (issue 9, defect 1).

A robot's action server accepts a goal some time after it was sent: the
runner's ``start()`` is still awaiting when a cancel or a pause arrives.
Telling the runner ``cancel`` then, before it has anything to cancel, let the
operation be marked CANCELLED while the goal was accepted afterwards and the
next operation dispatched with the robot still driving. The dispatcher must
wait for the start to return, then tell the runner, and record the end (and
start the next operation) only once the runner has returned.

The robot here is an executor whose ``start()`` awaits a future the test
resolves (accept) or fails (reject); every call is logged on entry and on
return, with every operation's state as the dispatcher reports it then.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest
from dispatcher_testing import EventRecorder, check_sequence, running

from operation_dispatcher import (
    DispatchEvent,
    EventType,
    InvalidStateError,
    Operation,
    OperationDispatcher,
    OperationRunner,
    OperationState,
)

E, S = EventType, OperationState
MISBEHAVIOUR_WINDOW = 0.3  # seconds given to the dispatcher to call the runner too early; it must not


def op(name: str) -> Operation:
    return Operation(id=name, resource_id="robot-1")


class Robot(OperationRunner):
    """An executor whose held calls wait until the test lets them return (the robot accepted the
    goal, or stopped) or fail (it rejected the goal)."""

    def __init__(self) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.log: list[tuple[str, str, str, dict[str, str]]] = []  # (call | return, verb, operation id, states then)
        self._held: dict[tuple[str, str], asyncio.Future[None]] = {}
        self._entered: dict[tuple[str, str], asyncio.Event] = {}

    def hold(self, operation_id: str, verb: str = "start") -> asyncio.Future[None]:
        """The call ``verb`` of ``operation_id`` returns once this future is resolved, raises if it fails."""
        held = self._held[(verb, operation_id)] = asyncio.get_running_loop().create_future()
        return held

    def entered(self, verb: str, operation_id: str) -> asyncio.Event:
        return self._entered.setdefault((verb, operation_id), asyncio.Event())

    def calls(self) -> list[tuple[str, str, str]]:
        return [(phase, verb, op_id) for phase, verb, op_id, _ in self.log]

    def states_at(self, phase: str, verb: str, operation_id: str) -> dict[str, str]:
        return next(states for p, v, o, states in self.log if (p, v, o) == (phase, verb, operation_id))

    def _record(self, phase: str, verb: str, operation_id: str) -> None:
        assert self.dispatcher is not None
        states = {r.operation.id: r.execution.state.value for r in self.dispatcher.list_operations()}
        self.log.append((phase, verb, operation_id, states))

    async def _told(self, verb: str, operation: Operation) -> None:
        self._record("call", verb, operation.id)
        self.entered(verb, operation.id).set()
        try:
            held = self._held.get((verb, operation.id))
            if held is not None:
                await held
        finally:
            self._record("return", verb, operation.id)

    async def start(self, operation: Operation) -> None:
        await self._told("start", operation)

    async def cancel(self, operation: Operation) -> None:
        await self._told("cancel", operation)

    async def pause(self, operation: Operation) -> None:
        await self._told("pause", operation)

    async def resume(self, operation: Operation) -> None:
        await self._told("resume", operation)

    @contextlib.asynccontextmanager
    async def releasing(self) -> AsyncIterator[None]:
        """Let every call still held return when the block ends, so a failed test never leaves the loop stuck."""
        try:
            yield
        finally:
            for held in self._held.values():
                if not held.done():
                    held.set_result(None)


class Approver:
    """Business logic approving everything, and saying when it has approved a request of a kind."""

    def __init__(self) -> None:
        self._approved: dict[tuple[EventType, str | None], asyncio.Event] = {}

    def approved(self, event_type: EventType, operation_id: str) -> asyncio.Event:
        return self._approved.setdefault((event_type, operation_id), asyncio.Event())

    def __call__(self, event: DispatchEvent) -> bool:
        self.approved(event.event_type, event.operation_id).set()
        return True


def make(recorder: EventRecorder) -> tuple[OperationDispatcher, Robot, Approver]:
    robot, approver = Robot(), Approver()
    dispatcher = OperationDispatcher("robot-1", approver, recorder, runner=robot)
    robot.dispatcher = dispatcher
    return dispatcher, robot, approver


async def within(event: asyncio.Event, timeout: float = 5.0) -> None:
    await asyncio.wait_for(event.wait(), timeout)


async def happens(event: asyncio.Event, window: float = MISBEHAVIOUR_WINDOW) -> bool:
    """Whether ``event`` is set within ``window``: for what must not happen (yet)."""
    try:
        await asyncio.wait_for(event.wait(), window)
    except TimeoutError:
        return False
    return True


@pytest.mark.parametrize("caller", ["same-loop", "another-thread"])
async def test_a_cancel_during_an_in_flight_start_waits_for_the_start_then_tells_the_runner(recorder, caller):
    """From another thread (a ROS or HTTP door) the cancel hops onto the dispatcher's loop and waits its turn the same."""
    d, robot, approver = make(recorder)
    async with running(d), robot.releasing():
        goal = robot.hold("a")
        d.add([op("a"), op("b")])
        await within(robot.entered("start", "a"))  # the goal is sent, not accepted yet
        cancel = d.cancel("a", reason="aisle blocked")
        cancelling = asyncio.create_task(cancel if caller == "same-loop" else asyncio.to_thread(asyncio.run, cancel))
        await within(approver.approved(E.OPERATION_CANCEL_REQUESTED, "a"))
        assert not await happens(robot.entered("cancel", "a")), "the runner was told to cancel while its start was in flight"
        assert not cancelling.done() and d.get("a").execution.state is S.RUNNING
        assert not recorder.of(E.OPERATION_CANCELLED, "a")
        goal.set_result(None)  # the robot accepts the goal, and drives
        record = await asyncio.wait_for(cancelling, 5)
        await within(robot.entered("start", "b"))
        await recorder.wait_event(E.OPERATION_STARTED, "b")
    assert record.execution.state is S.CANCELLED and record.execution.termination_reason == "aisle blocked"
    assert robot.calls()[:5] == [
        ("call", "start", "a"),
        ("return", "start", "a"),
        ("call", "cancel", "a"),
        ("return", "cancel", "a"),
        ("call", "start", "b"),
    ]
    assert robot.states_at("return", "cancel", "a")["a"] == "RUNNING"  # CANCELLED only once the runner stopped it
    assert robot.states_at("call", "start", "b")["a"] == "CANCELLED"
    order = [(e.event_type, e.operation_id) for e in recorder.events]
    assert order.index((E.OPERATION_CANCELLED, "a")) < order.index((E.OPERATION_START_REQUESTED, "b"))
    assert recorder.of(E.OPERATION_CANCELLED, "a")[0].metadata["was_active"] is True
    check_sequence(d.events("a"))


async def test_a_pause_during_an_in_flight_start_waits_for_the_start_then_tells_the_runner(recorder):
    d, robot, approver = make(recorder)
    async with running(d), robot.releasing():
        goal = robot.hold("a")
        d.add([op("a"), op("b")])
        await within(robot.entered("start", "a"))
        pausing = asyncio.create_task(d.pause_operation("a", reason="door closed"))
        await within(approver.approved(E.OPERATION_PAUSE_REQUESTED, "a"))
        assert not await happens(robot.entered("pause", "a")), "the runner was told to pause while its start was in flight"
        assert not pausing.done() and not recorder.of(E.OPERATION_PAUSED, "a")
        goal.set_result(None)
        record = await asyncio.wait_for(pausing, 5)
        assert record.execution.state is S.PAUSED
        resumed = await d.resume_operation("a")
        assert resumed.execution.state is S.RUNNING
        d.complete("a")
        await recorder.wait_event(E.OPERATION_STARTED, "b")
    assert robot.calls()[:7] == [
        ("call", "start", "a"),
        ("return", "start", "a"),
        ("call", "pause", "a"),
        ("return", "pause", "a"),
        ("call", "resume", "a"),
        ("return", "resume", "a"),
        ("call", "start", "b"),
    ]
    assert robot.states_at("return", "pause", "a")["a"] == "RUNNING"  # PAUSED only once the runner held it
    check_sequence(d.events("a"))


async def test_a_start_rejected_after_the_cancel_was_approved_fails_and_the_cancel_is_refused(recorder):
    """The robot rejected the goal: it never drove, so the operation FAILED; it was never CANCELLED."""
    d, robot, approver = make(recorder)
    async with running(d), robot.releasing():
        goal = robot.hold("a")
        d.add([op("a"), op("b")])
        await within(robot.entered("start", "a"))
        cancelling = asyncio.create_task(d.cancel("a"))
        await within(approver.approved(E.OPERATION_CANCEL_REQUESTED, "a"))
        assert not await happens(robot.entered("cancel", "a")), "the runner was told to cancel while its start was in flight"
        goal.set_exception(ConnectionError("goal rejected by the robot"))
        with pytest.raises(InvalidStateError, match="became FAILED while its cancel was being decided"):
            await asyncio.wait_for(cancelling, 5)
        await recorder.wait_event(E.OPERATION_STARTED, "b")
    record = d.get("a")
    assert record.execution.state is S.FAILED
    assert record.execution.termination_reason == "executor could not start: goal rejected by the robot"
    assert ("call", "cancel", "a") not in robot.calls()  # nothing to cancel: the robot never drove
    assert not recorder.of(E.OPERATION_CANCELLED, "a")
    assert [e.event_type for e in d.events("a")][-2:] == [E.OPERATION_CANCEL_REQUESTED, E.OPERATION_FAILED]
    check_sequence(d.events("a"))


async def test_a_pause_approved_during_a_start_the_robot_rejects_is_never_told_to_the_runner(recorder):
    """The goal was rejected: there is nothing to pause, so the runner must not be told to pause it."""
    d, robot, approver = make(recorder)
    async with running(d), robot.releasing():
        goal = robot.hold("a")
        d.add([op("a"), op("b")])
        await within(robot.entered("start", "a"))
        pausing = asyncio.create_task(d.pause_operation("a"))
        await within(approver.approved(E.OPERATION_PAUSE_REQUESTED, "a"))
        goal.set_exception(ConnectionError("goal rejected by the robot"))
        with pytest.raises(InvalidStateError, match="became FAILED"):
            await asyncio.wait_for(pausing, 5)
        await recorder.wait_event(E.OPERATION_STARTED, "b")
    assert d.get("a").execution.state is S.FAILED
    assert ("call", "pause", "a") not in robot.calls(), "the runner was told to pause an operation that never started"
    check_sequence(d.events("a"))


async def test_a_pause_approved_while_the_runner_cancels_is_never_told_to_the_runner(recorder):
    """One thing at a time, and nothing about an operation once it has ended: the cancel
    the runner is carrying out ends the operation, so the pause waiting behind it has nothing to hold."""
    d, robot, approver = make(recorder)
    async with running(d), robot.releasing():
        stopping = robot.hold("a", "cancel")  # the robot takes a while to stop
        d.add(op("a"))
        await within(robot.entered("start", "a"))
        cancelling = asyncio.create_task(d.cancel("a"))
        await within(robot.entered("cancel", "a"))
        pausing = asyncio.create_task(d.pause_operation("a"))
        await within(approver.approved(E.OPERATION_PAUSE_REQUESTED, "a"))
        assert not await happens(robot.entered("pause", "a")), "the runner was told to pause while it was cancelling"
        stopping.set_result(None)
        assert (await asyncio.wait_for(cancelling, 5)).execution.state is S.CANCELLED
        with pytest.raises(InvalidStateError, match="became CANCELLED"):
            await asyncio.wait_for(pausing, 5)
    assert ("call", "pause", "a") not in robot.calls(), "the runner was told to pause an operation it had cancelled"
    assert d.events("a")[-1].event_type is E.OPERATION_CANCELLED  # nothing recorded after its end
