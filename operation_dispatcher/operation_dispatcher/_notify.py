"""Fan-out of events to subscribers that can never stall the dispatcher.

A sync subscriber gets its own thread and an unbounded FIFO: the loop only
appends. An async subscriber gets a drain task on the dispatcher's loop.
Either way events arrive in order, and a subscriber that raises is logged
and keeps receiving; one that blocks only delays itself.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import queue
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from ._models import DispatchEvent

log = logging.getLogger("operation_dispatcher")

NotificationCallback = Callable[[DispatchEvent], Awaitable[None] | None]
_STOP = object()


class _ThreadSubscriber:
    def __init__(self, callback: Callable[[DispatchEvent], Any]) -> None:
        self.callback = callback
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._drain, name=f"notify-{getattr(callback, '__name__', 'callback')}", daemon=True)
        self._thread.start()

    def deliver(self, event: DispatchEvent) -> None:
        self._queue.put(event)

    def close(self) -> None:
        self._queue.put(_STOP)

    def flush(self, timeout: float) -> None:
        done = threading.Event()
        self._queue.put(done)
        done.wait(timeout)

    def _drain(self) -> None:
        while (event := self._queue.get()) is not _STOP:
            if isinstance(event, threading.Event):
                event.set()
                continue
            try:
                self.callback(event)
            except Exception:
                log.exception("notification callback %r raised on %s", self.callback, event.event_type)


class _AsyncSubscriber:
    """Buffers until the dispatcher's loop exists, then drains on it."""

    def __init__(self, callback: Callable[[DispatchEvent], Awaitable[None]]) -> None:
        self.callback = callback
        self._buffer: collections.deque[DispatchEvent] = collections.deque()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None
        self._task: asyncio.Task[None] | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        if self._task is None or self._task.done():
            self._loop = loop
            self._wake = asyncio.Event()
            self._task = loop.create_task(self._drain())

    def deliver(self, event: DispatchEvent) -> None:
        self._buffer.append(event)
        if self._wake is not None and self._loop is not None:
            if _on_loop(self._loop):
                self._wake.set()
            else:
                self._loop.call_soon_threadsafe(self._wake.set)

    def close(self) -> None:
        if self._task is not None:
            self._task.cancel()

    async def _drain(self) -> None:
        assert self._wake is not None
        while True:
            while self._buffer:
                event = self._buffer.popleft()
                try:
                    await self.callback(event)
                except Exception:
                    log.exception("notification callback %r raised on %s", self.callback, event.event_type)
            self._wake.clear()
            if not self._buffer:
                await self._wake.wait()


def _on_loop(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


class Notifier:
    """Holds the subscribers and hands each event to all of them."""

    def __init__(self) -> None:
        self.subscribers: list[_ThreadSubscriber | _AsyncSubscriber] = []  # replaced, never changed in place: read it without a lock
        self._loop: asyncio.AbstractEventLoop | None = None

    def subscribe(self, callback: NotificationCallback) -> Callable[[], None]:
        """Add a subscriber; returns a function that removes it."""
        subscriber: _ThreadSubscriber | _AsyncSubscriber
        if inspect.iscoroutinefunction(callback) or inspect.iscoroutinefunction(type(callback).__call__):
            subscriber = _AsyncSubscriber(callback)  # type: ignore[arg-type]
            if self._loop is not None:
                subscriber.attach(self._loop)
        else:
            subscriber = _ThreadSubscriber(callback)
        self.subscribers = [*self.subscribers, subscriber]

        def unsubscribe() -> None:
            if subscriber in self.subscribers:
                self.subscribers = [s for s in self.subscribers if s is not subscriber]
                subscriber.close()

        return unsubscribe

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start async subscribers on the dispatcher's loop."""
        self._loop = loop
        for subscriber in self.subscribers:
            if isinstance(subscriber, _AsyncSubscriber):
                subscriber.attach(loop)

    def flush(self, timeout: float) -> None:
        """Wait (bounded) until sync subscribers have seen everything published so far."""
        for subscriber in self.subscribers:
            if isinstance(subscriber, _ThreadSubscriber):
                subscriber.flush(timeout)

    def publish(self, event: DispatchEvent) -> None:
        for subscriber in self.subscribers:
            subscriber.deliver(event)
