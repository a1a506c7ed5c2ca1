"""A dispatcher process for the crash tests; the test SIGKILLs it at a chosen moment.

    python crash_child.py DB_PATH N_OPERATIONS BATCH [HOLD_AT_START]

It adds N operations in batches (printing ``added <first>..<last>`` after
each commit), runs them with a runner that prints ``start <id>`` when told
to start and ``completing <id>`` / ``completed <id>`` around each
completion, and never exits on its own. Output is line-buffered so the
test sees each line as it happens. With HOLD_AT_START=k the k-th start
never returns, so a kill after its ``start`` line lands inside a start.
"""

import asyncio
import sys

from operation_dispatcher import Operation, OperationDispatcher, OperationRunner, SQLiteStore


class PrintingRunner(OperationRunner):
    def __init__(self, hold_at_start: int) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.hold_at_start = hold_at_start
        self.starts = 0

    async def start(self, operation: Operation) -> None:
        self.starts += 1
        print(f"start {operation.id}", flush=True)
        if self.starts == self.hold_at_start:
            await asyncio.Event().wait()
        await asyncio.sleep(0.002)  # an executor takes a moment to accept
        asyncio.get_running_loop().call_later(0.002, self.finish, operation.id)

    def finish(self, operation_id: str) -> None:
        assert self.dispatcher is not None
        print(f"completing {operation_id}", flush=True)
        self.dispatcher.complete(operation_id)
        print(f"completed {operation_id}", flush=True)


async def main(path: str, count: int, batch: int, hold_at_start: int) -> None:
    runner = PrintingRunner(hold_at_start)
    dispatcher = OperationDispatcher("robot-1", lambda e: True, runner=runner, store=SQLiteStore(path))
    runner.dispatcher = dispatcher
    task = asyncio.create_task(dispatcher.run())
    for first in range(0, count, batch):
        ids = range(first, min(first + batch, count))
        dispatcher.add([Operation(id=f"op-{i:04d}", resource_id="robot-1", priority=i % 7) for i in ids])
        print(f"added {ids[0]}..{ids[-1]}", flush=True)
        await asyncio.sleep(0)
    print("all added", flush=True)
    await task


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]) if len(sys.argv) > 4 else 0))
