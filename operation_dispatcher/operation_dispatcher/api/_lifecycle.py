"""Starting and stopping ``dispatcher.run()`` on behalf of a door.

``POST /dispatcher/start`` (and the MCP ``start_dispatcher`` tool) runs the
loop as a task on the serving loop; ``stop`` asks it to return and waits.
A dispatcher whose loop someone else runs (the ROS node) is left to its
owner: start is then a no-op, and stop waits for the STOPPED event.
Both are idempotent, so a retried request does no harm.
"""

from __future__ import annotations

import asyncio
import logging

from .._dispatcher import OperationDispatcher
from .._models import DispatchEvent, EventType

log = logging.getLogger("operation_dispatcher.api")


class DispatcherLifecycle:
    def __init__(self, dispatcher: OperationDispatcher, stop_timeout: float = 30.0) -> None:
        self.dispatcher = dispatcher
        self.stop_timeout = stop_timeout
        self._task: asyncio.Task[None] | None = None

    @property
    def owns_loop(self) -> bool:
        """True while ``run()`` is a task started here."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Run the dispatcher on the current loop unless it already runs somewhere; return once it runs."""
        if self.dispatcher.running or self.owns_loop:
            return
        self._task = asyncio.get_running_loop().create_task(self.dispatcher.run(), name="operation-dispatcher")
        self._task.add_done_callback(_log_crash)
        await asyncio.sleep(0)  # run() marks itself running before its first await

    async def stop(self) -> None:
        """Ask ``run()`` to return and wait until it has (bounded by ``stop_timeout``)."""
        if self.owns_loop:
            assert self._task is not None
            self.dispatcher.request_stop()
            await asyncio.wait_for(asyncio.shield(self._task), self.stop_timeout)
            return
        if not self.dispatcher.running:
            return
        loop = asyncio.get_running_loop()
        stopped = asyncio.Event()

        def on_event(event: DispatchEvent) -> None:
            if event.event_type is EventType.OPERATION_DISPATCHER_STOPPED:
                loop.call_soon_threadsafe(stopped.set)

        unsubscribe = self.dispatcher.subscribe(on_event)
        try:
            self.dispatcher.request_stop()
            if self.dispatcher.running:
                await asyncio.wait_for(stopped.wait(), self.stop_timeout)
        finally:
            unsubscribe()


def _log_crash(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("dispatcher loop crashed", exc_info=task.exception())
