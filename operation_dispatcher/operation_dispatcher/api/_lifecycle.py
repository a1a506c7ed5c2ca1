"""Starting and stopping ``dispatcher.run()`` on behalf of a door.

``POST /dispatcher/start`` (and the MCP ``start_dispatcher`` tool) runs the
loop as a task on the serving loop; ``stop`` asks it to return and waits.
A dispatcher whose loop someone else runs (the ROS node) is left to its
owner: start is then a no-op, and stop waits for the STOPPED event.

Starts and stops are serialised by one lock, and each returns the
dispatcher's snapshot taken before the next one may begin: a start that
returns has seen the loop run, a stop has seen it stop, however many
arrive at once. Both are idempotent, so a retried request does no harm,
and both are bounded by ``timeout`` (TIMEOUT after that; nothing changed
that the snapshot would not show).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Iterator

from .._dispatcher import OperationDispatcher
from .._errors import DispatcherError, RequestTimeoutError, UnavailableError
from .._models import DispatcherSnapshot, DispatchEvent, EventType

log = logging.getLogger("operation_dispatcher.api")


class DispatcherLifecycle:
    def __init__(self, dispatcher: OperationDispatcher, timeout: float = 30.0) -> None:
        self.dispatcher = dispatcher
        self.timeout = timeout
        self._task: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()

    @property
    def owns_loop(self) -> bool:
        """True while ``run()`` is a task started here."""
        return self._task is not None and not self._task.done()

    async def start(self) -> DispatcherSnapshot:
        """Run the dispatcher on the current loop unless it already runs somewhere; return once it runs."""
        async with self._lock:
            if not self.dispatcher.running:
                await self._start_locked()
            return self.dispatcher.snapshot()

    async def stop(self) -> DispatcherSnapshot:
        """Ask ``run()`` to return and wait until it has; the queue is kept."""
        async with self._lock:
            if self.owns_loop:
                self.dispatcher.request_stop()
                await self._finish_own_task_locked("stop")
            elif self.dispatcher.running:
                with self._watching(EventType.OPERATION_DISPATCHER_STOPPED) as stopped:
                    self.dispatcher.request_stop()
                    if self.dispatcher.running:
                        await self._bounded(stopped.wait(), "stop")
            return self.dispatcher.snapshot()

    async def _start_locked(self) -> None:
        if self.owns_loop:  # our previous run() is still winding down after someone else asked it to stop
            await self._finish_own_task_locked("start")
        with self._watching(EventType.OPERATION_DISPATCHER_STARTED) as started:
            task = asyncio.get_running_loop().create_task(self.dispatcher.run(), name="operation-dispatcher")
            task.add_done_callback(_log_crash)
            self._task = task
            waiter = asyncio.ensure_future(started.wait())
            try:
                await self._bounded(asyncio.wait({waiter, task}, return_when=asyncio.FIRST_COMPLETED), "start")
            finally:
                waiter.cancel()
        if not self.dispatcher.running and task.done():
            error = None if task.cancelled() else task.exception()
            if isinstance(error, DispatcherError):
                raise error
            raise UnavailableError(f"the dispatcher loop ended as it started: {error!r}")

    async def _finish_own_task_locked(self, verb: str) -> None:
        assert self._task is not None
        await self._bounded(asyncio.shield(self._task), verb)

    async def _bounded(self, waiting: Awaitable[object], verb: str) -> None:
        try:
            await asyncio.wait_for(waiting, self.timeout)
        except asyncio.TimeoutError:  # the builtin TimeoutError from Python 3.11 on
            raise RequestTimeoutError(
                f"the dispatcher did not {verb} within {self.timeout:g} s", timeout=self.timeout
            ) from None

    @contextlib.contextmanager
    def _watching(self, event_type: EventType) -> Iterator[asyncio.Event]:
        """An asyncio.Event set (on this loop) when the dispatcher publishes ``event_type``."""
        loop = asyncio.get_running_loop()
        seen = asyncio.Event()

        def on_event(event: DispatchEvent) -> None:  # on the notifier's thread
            if event.event_type is event_type:
                loop.call_soon_threadsafe(seen.set)

        unsubscribe = self.dispatcher.subscribe(on_event)
        try:
            yield seen
        finally:
            unsubscribe()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher loop crashed", exc_info=task.exception())
