"""Helpers for the core tests: an event recorder, a running dispatcher, an instant runner, a life-cycle checker.

A plain module (not conftest) so test files can import it by name.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

from operation_dispatcher import DispatchEvent, EventType, Operation, OperationDispatcher, OperationRunner


class EventRecorder:
    """Collects events on the test's loop; ``wait_for`` waits for a condition, with a timeout."""

    def __init__(self) -> None:
        self.events: list[DispatchEvent] = []
        self._changed = asyncio.Condition()

    async def __call__(self, event: DispatchEvent) -> None:
        async with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def of(self, event_type: EventType, operation_id: str | None = None) -> list[DispatchEvent]:
        return [
            e for e in self.events
            if e.event_type is event_type and (operation_id is None or e.operation_id == operation_id)
        ]

    def types(self, operation_id: str) -> list[str]:
        return [e.event_type.value for e in self.events if e.operation_id == operation_id]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> None:
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(predicate), timeout)

    async def wait_event(self, event_type: EventType, operation_id: str | None = None, count: int = 1, timeout: float = 5.0) -> DispatchEvent:
        await self.wait_for(lambda: len(self.of(event_type, operation_id)) >= count, timeout)
        return self.of(event_type, operation_id)[count - 1]


class Instant(OperationRunner):
    """Completes each operation as soon as it has started (set ``dispatcher`` before it runs)."""

    def __init__(self) -> None:
        self.dispatcher: OperationDispatcher | None = None

    async def start(self, operation: Operation) -> None:
        assert self.dispatcher is not None
        asyncio.get_running_loop().call_soon(self.dispatcher.complete, operation.id)


@contextlib.asynccontextmanager
async def running(dispatcher: OperationDispatcher) -> AsyncIterator[OperationDispatcher]:
    """Run the dispatcher loop for the duration of the block, and always stop it."""
    task = asyncio.create_task(dispatcher.run())
    await asyncio.sleep(0)  # run() marks itself running before its first await
    assert dispatcher.running
    try:
        yield dispatcher
    finally:
        dispatcher.request_stop()
        await asyncio.wait_for(task, 5)


E = EventType
LIFECYCLE = {E.OPERATION_STARTED, E.OPERATION_COMPLETED, E.OPERATION_FAILED, E.OPERATION_PAUSED, E.OPERATION_RESUMED, E.OPERATION_CANCELLED}
REQUEST_OF = {
    E.OPERATION_START_DENIED: E.OPERATION_START_REQUESTED,
    E.OPERATION_CANCEL_DENIED: E.OPERATION_CANCEL_REQUESTED,
    E.OPERATION_PAUSE_DENIED: E.OPERATION_PAUSE_REQUESTED,
    E.OPERATION_RESUME_DENIED: E.OPERATION_RESUME_REQUESTED,
}


def check_sequence(events: list[DispatchEvent]) -> None:
    """Replay one operation's events through the legal life cycle; raise AssertionError if illegal."""
    assert events and events[0].event_type is E.OPERATION_ADDED, f"first event must be ADDED: {events[:1]}"
    state, pending = "QUEUED", set()
    for event in events[1:]:
        kind = event.event_type
        where = f"{kind.value} in {state} ({[e.event_type.value for e in events]})"
        assert kind is not E.OPERATION_ADDED, where
        if kind.is_request:
            assert state != "DONE", where
            pending.add(kind)
        elif kind.is_denial:
            assert REQUEST_OF[kind] in pending, where
            pending.discard(REQUEST_OF[kind])
        elif kind is E.OPERATION_START_DEFERRED:  # not ready: the start was not decided, the operation stays QUEUED
            assert state == "QUEUED" and E.OPERATION_START_REQUESTED in pending, where
            pending.discard(E.OPERATION_START_REQUESTED)
        else:
            assert kind in LIFECYCLE and state != "DONE", where
            if kind is E.OPERATION_STARTED:
                assert state == "QUEUED" and E.OPERATION_START_REQUESTED in pending, where
                pending.discard(E.OPERATION_START_REQUESTED)
                state = "RUNNING"
            elif kind is E.OPERATION_PAUSED:
                assert state == "RUNNING" and E.OPERATION_PAUSE_REQUESTED in pending, where
                pending.discard(E.OPERATION_PAUSE_REQUESTED)
                state = "PAUSED"
            elif kind is E.OPERATION_RESUMED:
                assert state == "PAUSED" and E.OPERATION_RESUME_REQUESTED in pending, where
                pending.discard(E.OPERATION_RESUME_REQUESTED)
                state = "RUNNING"
            elif kind is E.OPERATION_CANCELLED:
                assert E.OPERATION_CANCEL_REQUESTED in pending or _stranded(state, event), where
                state = "DONE"
            elif kind is E.OPERATION_FAILED and event.metadata.get("requeued"):
                assert state in ("RUNNING", "PAUSED"), where
                state = "QUEUED"
            else:  # COMPLETED or final FAILED
                assert state in ("RUNNING", "PAUSED") or (kind is E.OPERATION_FAILED and _stranded(state, event)), where
                state = "DONE"
            if state != "QUEUED":
                pending.discard(E.OPERATION_START_REQUESTED)


def _stranded(state: str, event: DispatchEvent) -> bool:
    """A queued operation ended, unasked, because the dependency it names can never be met."""
    return state == "QUEUED" and "dependency" in event.metadata
