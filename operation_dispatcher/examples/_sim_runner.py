"""What the four door examples share: a simulated executor and a demo dispatcher.

``SimRunner`` pretends to be a robot: an approved operation runs for its
``planned_duration`` (3 s by default), reporting progress, and completes;
pause holds it, resume continues, cancel stops it. The demo business logic
denies what the payload asks it to deny, so denials show up in every door.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import random

from operation_dispatcher import (
    Decision,
    DenialPolicy,
    DispatchEvent,
    EventType,
    InvalidStateError,
    Operation,
    OperationDispatcher,
    OperationRunner,
)

RESOURCE_ID = "robot-1"
TASKS = ("pickup", "dropoff", "charge", "inspect", "transport")


class SimRunner(OperationRunner):
    """Runs each operation as an asyncio task on the dispatcher's loop."""

    def __init__(self, default_duration: float = 3.0, step: float = 0.2) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.default_duration = default_duration
        self.step = step
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._running: dict[str, asyncio.Event] = {}

    async def start(self, operation: Operation) -> None:
        self._running[operation.id] = asyncio.Event()
        self._running[operation.id].set()
        self._tasks[operation.id] = asyncio.create_task(self._work(operation))

    async def cancel(self, operation: Operation) -> None:
        task = self._tasks.pop(operation.id, None)
        if task is not None:
            task.cancel()

    async def pause(self, operation: Operation) -> None:
        self._running[operation.id].clear()

    async def resume(self, operation: Operation) -> None:
        self._running[operation.id].set()

    async def _work(self, operation: Operation) -> None:
        assert self.dispatcher is not None
        duration = operation.planned_duration or self.default_duration
        steps = max(1, round(duration / self.step))
        try:
            for i in range(1, steps + 1):
                await self._running[operation.id].wait()
                await asyncio.sleep(duration / steps)
                self.dispatcher.report_progress(operation.id, i / steps)
            self.dispatcher.complete(operation.id, outcome="done")
        except InvalidStateError:
            pass  # cancelled meanwhile
        finally:
            self._tasks.pop(operation.id, None)
            self._running.pop(operation.id, None)


def demo_dispatcher(duration: float = 3.0) -> OperationDispatcher:
    """A dispatcher for ``robot-1`` with the simulated runner and a demo business logic.

    The business logic approves everything except what an operation's
    payload asks it to deny: ``{"deny_start": "why"}``, ``{"deny_cancel": "why"}``,
    ``{"deny_pause": "why"}``.
    """
    denials = {
        EventType.OPERATION_START_REQUESTED: "deny_start",
        EventType.OPERATION_CANCEL_REQUESTED: "deny_cancel",
        EventType.OPERATION_PAUSE_REQUESTED: "deny_pause",
    }

    def decide(event: DispatchEvent) -> Decision | None:
        key = denials.get(event.event_type)
        if key is None or event.operation_id is None:
            return None
        why = dispatcher.get(event.operation_id).operation.payload.get(key)
        return Decision(approved=False, reason=str(why)) if why else None

    runner = SimRunner(default_duration=duration)
    dispatcher = OperationDispatcher(
        RESOURCE_ID,
        on_request_callback=decide,
        runner=runner,
        denial_policy=DenialPolicy(cooldown_seconds=2.0, max_retries=5),
    )
    runner.dispatcher = dispatcher
    return dispatcher


_numbers = itertools.count(1)


def demo_operations(count: int) -> list[dict[str, object]]:
    """A few transport-like operations with mixed priorities."""
    ops = []
    for _ in range(count):
        n = next(_numbers)
        task = random.choice(TASKS)
        ops.append(
            {
                "id": f"{task}-{n:04d}",
                "resource_id": RESOURCE_ID,
                "priority": random.choice((0, 0, 1, 5)),
                "planned_duration": round(random.uniform(2.0, 5.0), 1),
                "payload": {"task": task, "station": f"S{random.randint(1, 9)}"},
            }
        )
    return ops


async def keep_feeding(dispatcher: OperationDispatcher, every: float = 4.0, backlog: int = 6) -> None:
    """Add operations now and then so the demo never runs dry."""
    while True:
        if dispatcher.snapshot().queue_length < backlog:
            dispatcher.add(demo_operations(2))
        await asyncio.sleep(every)


def arg_parser(description: str, port: int = 8000) -> argparse.ArgumentParser:
    """--host, --port, --token: the options every door example takes."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--host", default="127.0.0.1", help="bind address (default loopback; others need --token)")
    parser.add_argument("--port", type=int, default=port)
    parser.add_argument("--token", default=None, help="require 'Authorization: Bearer TOKEN' (default $OPERATION_DISPATCHER_TOKEN)")
    return parser


def base_url(args: argparse.Namespace) -> str:
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host
    return f"http://{host}:{args.port}"
