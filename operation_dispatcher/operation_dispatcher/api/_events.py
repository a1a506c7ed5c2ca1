"""Live events over Server-Sent Events (``GET /events``), and the event log read back (``GET /events/log``).

The dispatcher publishes from its notifier thread; the hub hops each event
onto the serving loop with ``call_soon_threadsafe`` and fans it out to one
bounded queue per client. A client that cannot keep up is disconnected
(and reconnects) instead of growing memory. Progress has no event, so the
stream also pushes a ``state`` message (snapshot + current operation) every
``state_interval`` seconds.

Messages::

    event: dispatch   data: <DispatchEvent>         (recent backlog first, then live)
    event: state      data: {"dispatcher": <DispatcherSnapshot>, "current": <OperationRecord|null>}

Every event carries its ``sequence``; a client that was disconnected, or
sees a number skipped, reads what it missed from ``GET /events/log?after=``.
"""

from __future__ import annotations

import asyncio
import collections
import json
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from .. import _limits as limits
from .._dispatcher import OperationDispatcher
from .._models import DispatchEvent, EventLogPage
from ._errors import error_responses

_CLOSED = object()


Subscribe = Callable[[Callable[[DispatchEvent], None]], Callable[[], None]]
"""Registers an event callback (called on any thread) and returns what removes it."""


class EventHub:
    """Fans events out to SSE clients on the serving loop.

    ``subscribe`` is where the events come from (one dispatcher's
    ``subscribe``, or a fleet gateway's merged stream) and ``state`` builds the
    periodic ``state`` message's data, so one hub serves both.
    """

    def __init__(self, subscribe: Subscribe, state: Callable[[], dict[str, Any]], backlog: int = 200, client_buffer: int = 2000) -> None:
        self._subscribe = subscribe
        self._state = state
        self._backlog: collections.deque[DispatchEvent] = collections.deque(maxlen=backlog)
        self._client_buffer = client_buffer
        self._clients: set[asyncio.Queue[object]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None

    def open(self) -> None:
        """Subscribe; call on the serving loop."""
        self._loop = asyncio.get_running_loop()
        self._unsubscribe = self._subscribe(self._on_event)

    def close(self) -> None:
        """Unsubscribe and end every stream (on shutdown, so the server need not wait for them)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for queue in self._clients:
            _drop_oldest_then_put(queue, _CLOSED)
        self._loop = None

    @property
    def is_open(self) -> bool:
        return self._loop is not None

    def _on_event(self, event: DispatchEvent) -> None:
        """Runs on the notifier's thread."""
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._fan_out, event)
            except RuntimeError:
                pass  # serving loop closed during shutdown

    def _fan_out(self, event: DispatchEvent) -> None:
        self._backlog.append(event)
        for queue in list(self._clients):
            if queue.full():
                self._clients.discard(queue)
                _drop_oldest_then_put(queue, _CLOSED)
            else:
                queue.put_nowait(event)

    async def messages(self, state_interval: float) -> AsyncIterator[str]:
        """SSE text for one client: backlog, then live events and periodic state, until closed."""
        queue: asyncio.Queue[object] = asyncio.Queue(self._client_buffer)
        backlog = list(self._backlog)
        self._clients.add(queue)
        try:
            yield "retry: 2000\n\n"
            yield self._state_message()
            for event in backlog:
                yield _dispatch_message(event)
            loop = asyncio.get_running_loop()
            next_state = loop.time() + state_interval
            while self.is_open:
                # The state is due every state_interval whatever the events do: a steady stream
                # of events must not starve it (progress has no event of its own).
                try:
                    item = await asyncio.wait_for(queue.get(), max(0.0, next_state - loop.time()))
                except TimeoutError:
                    item = None
                if loop.time() >= next_state:
                    yield self._state_message()
                    next_state = loop.time() + state_interval
                if item is None:
                    continue
                if item is _CLOSED:
                    return
                assert isinstance(item, DispatchEvent)
                yield _dispatch_message(item)
        finally:
            self._clients.discard(queue)

    def _state_message(self) -> str:
        return f"event: state\ndata: {json.dumps(self._state(), separators=(',', ':'))}\n\n"


def dispatcher_state(dispatcher: OperationDispatcher) -> Callable[[], dict[str, Any]]:
    """The ``state`` message of one dispatcher's stream: its snapshot and current operation."""

    def state() -> dict[str, Any]:
        current = dispatcher.current()
        return {
            "dispatcher": dispatcher.snapshot().model_dump(mode="json"),
            "current": current.model_dump(mode="json") if current else None,
        }

    return state


def _dispatch_message(event: DispatchEvent) -> str:
    return f"event: dispatch\nid: {event.id}\ndata: {event.model_dump_json()}\n\n"


def _drop_oldest_then_put(queue: asyncio.Queue[object], item: object) -> None:
    if queue.full():
        queue.get_nowait()
    queue.put_nowait(item)


router = APIRouter()


@router.get("/events", include_in_schema=False)
async def stream_events(request: Request) -> StreamingResponse:
    """Server-Sent Events: every DispatchEvent live, plus the dispatcher state every second."""
    hub: EventHub = request.app.state.event_hub
    return StreamingResponse(
        hub.messages(request.app.state.state_interval),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.get("/events/log", response_model=EventLogPage, responses=error_responses(422), tags=["events"])
def event_log(
    request: Request,
    after: Annotated[int, Query(ge=0, description="The number of the last event the reader has (0: from the first).")] = 0,
    limit: Annotated[
        int, Query(ge=1, le=limits.EVENT_LOG_LIMIT_MAX, description="How many events at most, oldest first.")
    ] = limits.EVENT_LOG_LIMIT_DEFAULT,
) -> EventLogPage:
    """The event log after event number ``after``, a page at a time: read on with ``after=next_after``
    until ``next_after`` reaches ``last_sequence``. How a reader that missed events (a number
    skipped in ``/events``) or restarted gets exactly what it missed."""
    dispatcher: OperationDispatcher = request.app.state.dispatcher
    return dispatcher.events_after(after, limit)
