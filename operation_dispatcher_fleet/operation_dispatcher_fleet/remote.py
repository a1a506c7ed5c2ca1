"""One robot's dispatcher, reached over ROS, with the core dispatcher's face.

The REST routers of ``operation_dispatcher.api`` call a handful of
``OperationDispatcher`` methods (``get``, ``page_operations``, ``cancel``,
``snapshot``...). :class:`RemoteDispatcher` has those methods, answered by
the robot's services through a
:class:`~operation_dispatcher_ros.client.DispatcherClient` and turned back
into the core's models, so the gateway serves every single-robot route
under ``/robots/{resource_id}`` with the very routers (paths, validation,
answers, errors) of a dispatcher's own HTTP door. Refusals come back as the
core's exceptions, which the shared error handlers map as everywhere.

The synchronous methods block on the robot's answer: FastAPI runs those
routes in worker threads, and the asynchronous ones hop to a thread.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from operation_dispatcher import (
    AddResult,
    DispatcherSnapshot,
    DispatcherStatus,
    DispatchEvent,
    EventLogPage,
    InvalidStateError,
    OperationPage,
    OperationRecord,
    OperationState,
)
from operation_dispatcher_interfaces import msg
from operation_dispatcher_ros import conversions as conv
from operation_dispatcher_ros.client import DispatcherClient

Subscribe = Callable[[Callable[[DispatchEvent], None]], Callable[[], None]]


def snapshot_from_state(state: msg.DispatcherState) -> DispatcherSnapshot:
    """DispatcherState -> the core's snapshot (what the topic does not carry keeps its default)."""
    counts = {s: getattr(state, f"{s.value.lower()}_count") for s in OperationState}
    status = DispatcherStatus(state.status_name)
    return DispatcherSnapshot(
        resource_id=state.resource_id,
        status=status,
        running=status is not DispatcherStatus.STOPPED,
        paused=status is DispatcherStatus.PAUSED,
        paused_reason=state.paused_reason or None,
        current_operation_id=state.current_operation_id or None,
        queue_length=state.queue_length,
        counts=counts,
        consecutive_denials=state.consecutive_denials,
        stamp=conv.time_to_datetime(state.stamp) or datetime.now(timezone.utc),
    )


def _records(statuses: Sequence[msg.OperationStatus]) -> list[OperationRecord]:
    return [conv.record_from_status(s) for s in statuses]


class RemoteDispatcher:
    """The methods of ``OperationDispatcher`` the HTTP doors use, over one robot's ROS services."""

    def __init__(self, client: DispatcherClient, resource_id: str, subscribe: Subscribe) -> None:
        self.client = client
        self.resource_id = resource_id
        self.subscribe = subscribe
        """This robot's events as they arrive: what its event stream fans out."""

    def snapshot(self) -> DispatcherSnapshot:
        return snapshot_from_state(self.client.state())

    def list_operations(self, state: OperationState | None = None) -> list[OperationRecord]:
        return _records(self.client.list(state))

    def page_operations(self, state: OperationState | None, limit: int, cursor: str | None = None) -> OperationPage:
        response = self.client.list_page(state, limit, cursor or "")
        return OperationPage(
            operations=_records(response.operations),
            next_cursor=response.next_cursor or None,
            total=response.total,
            counts=self.snapshot().counts,
        )

    def history_page(self, limit: int, cursor: str | None = None) -> OperationPage:
        response = self.client.history_page(limit, cursor or "")
        return OperationPage(
            operations=_records(response.operations),
            next_cursor=response.next_cursor or None,
            total=response.total,
            counts=self.snapshot().counts,
        )

    def current(self) -> OperationRecord | None:
        try:
            return conv.record_from_status(self.client.get(""))
        except InvalidStateError:
            return None

    def get(self, operation_id: str) -> OperationRecord:
        return conv.record_from_status(self.client.get(operation_id))

    def events(self, operation_id: str, *, after: int = 0, limit: int | None = None) -> list[DispatchEvent]:
        return [conv.event_from_msg(m) for m in self.client.get_events(operation_id, after=after, limit=limit or 0)]

    def events_after(self, after: int, limit: int) -> EventLogPage:
        page = self.client.get_event_log(after, limit)
        return EventLogPage(
            events=[conv.event_from_msg(m) for m in page.events], next_after=page.next_after_sequence, last_sequence=page.last_sequence
        )

    def add(self, objects: Sequence[dict[str, Any]]) -> list[AddResult]:
        outcomes = self.client.add(objects)
        return [
            AddResult(operation_id=o.operation_id, added=o.added, state=OperationState.QUEUED if o.added else self.get(o.operation_id).execution.state)
            for o in outcomes
        ]

    async def cancel(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        return await self._command(self.client.cancel, operation_id, reason)

    async def pause_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        return await self._command(self.client.pause, operation_id, reason)

    async def resume_operation(self, operation_id: str, reason: str | None = None) -> OperationRecord:
        return await self._command(self.client.resume, operation_id, reason)

    async def _command(self, command: Callable[[str, str | None], None], operation_id: str, reason: str | None) -> OperationRecord:
        await asyncio.to_thread(command, operation_id, reason)
        return await asyncio.to_thread(self.get, operation_id)

    def pause(self, reason: str | None = None) -> DispatcherSnapshot:
        return snapshot_from_state(self.client.pause_dispatcher(reason))

    def resume(self) -> DispatcherSnapshot:
        return snapshot_from_state(self.client.resume_dispatcher())


class RemoteLifecycle:
    """``DispatcherLifecycle``'s two calls for a dispatcher whose loop runs in its own node."""

    owns_loop = False

    def __init__(self, client: DispatcherClient) -> None:
        self.client = client

    async def start(self) -> DispatcherSnapshot:
        return snapshot_from_state(await asyncio.to_thread(self.client.start_dispatcher))

    async def stop(self) -> DispatcherSnapshot:
        return snapshot_from_state(await asyncio.to_thread(self.client.stop_dispatcher))
