"""Helpers for the core tests: an event recorder and a running dispatcher.

A plain module (not conftest) so test files can import it by name.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import AsyncIterator, Callable

from operation_dispatcher import DispatchEvent, EventType, OperationDispatcher


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
