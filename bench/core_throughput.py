"""Core throughput: add cost and full life cycles per second at several queue sizes.

A life cycle is add -> START_REQUESTED -> approve (sync callback) -> STARTED
-> complete, with a runner that reports completion as soon as it is told to
start. Baselines measured in the same run put the figures in proportion:
a bare heapq push + pop, and a bare asyncio wake-up round trip per item.

    make bench            # or: tools/in_env.sh python bench/core_throughput.py [--sizes 100 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import heapq
import time
import tracemalloc

from operation_dispatcher import Operation, OperationDispatcher, OperationRunner

RESOURCE = "bench-robot"


class InstantRunner(OperationRunner):
    """Completes every operation right after it starts, on the dispatcher's loop."""

    def __init__(self) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.done = 0
        self.finished = asyncio.Event()
        self.target = 0

    async def start(self, operation: Operation) -> None:
        asyncio.get_running_loop().call_soon(self._complete, operation.id)

    def _complete(self, operation_id: str) -> None:
        assert self.dispatcher is not None
        self.dispatcher.complete(operation_id)
        self.done += 1
        if self.done >= self.target:
            self.finished.set()


def make_ops(n: int, offset: int = 0) -> list[Operation]:
    return [Operation(id=f"op-{offset + i}", resource_id=RESOURCE, priority=i % 10, payload={"i": i}) for i in range(n)]


def bench_add(n: int) -> tuple[float, float, float]:
    """Per-op add cost filling to n; marginal per-op cost of 1000 more adds at size n; MiB per queued op."""
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True)
    ops = make_ops(n)
    gc.collect()
    tracemalloc.start()
    t0 = time.perf_counter()
    for op in ops:
        dispatcher.add(op)
    fill = (time.perf_counter() - t0) / n
    size, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    extra = make_ops(1000, offset=n)
    t0 = time.perf_counter()
    for op in extra:
        dispatcher.add(op)
    marginal = (time.perf_counter() - t0) / 1000
    return fill, marginal, size / n


async def bench_life_cycles(n: int) -> float:
    runner = InstantRunner()
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, runner=runner)
    runner.dispatcher, runner.target = dispatcher, n
    ops = make_ops(n)
    t0 = time.perf_counter()
    for op in ops:
        dispatcher.add(op)
    task = asyncio.create_task(dispatcher.run())
    await runner.finished.wait()
    elapsed = time.perf_counter() - t0
    dispatcher.request_stop()
    await task
    return n / elapsed


def baseline_heap(n: int) -> float:
    heap: list[tuple[int, int]] = []
    t0 = time.perf_counter()
    for i in range(n):
        heapq.heappush(heap, (-(i % 10), i))
    while heap:
        heapq.heappop(heap)
    return n / (time.perf_counter() - t0)


async def baseline_wakeups(n: int) -> float:
    """One asyncio Event set/wait round trip per item: the floor of any loop-driven dispatcher."""
    event = asyncio.Event()
    loop = asyncio.get_running_loop()

    async def consumer() -> None:
        for _ in range(n):
            await event.wait()
            event.clear()

    task = asyncio.create_task(consumer())
    t0 = time.perf_counter()
    for _ in range(n):
        loop.call_soon(event.set)
        await asyncio.sleep(0)
    await task
    return n / (time.perf_counter() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 10_000, 100_000])
    args = parser.parse_args()

    rows = []
    for n in args.sizes:
        fill, marginal, mem = bench_add(n)
        cycles = asyncio.run(bench_life_cycles(n))
        rows.append((n, fill, marginal, mem, cycles, baseline_heap(n), asyncio.run(baseline_wakeups(min(n, 20_000)))))
        gc.collect()

    print("\nCore throughput (sync auto-approve callback, instant runner, in-memory)\n")
    print("| queued ops | add, µs/op (filling) | add, µs/op (1000 more at this size) | memory, KiB/op | life cycles/s | baseline heapq push+pop, ops/s | baseline asyncio wake-ups/s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for n, fill, marginal, mem, cycles, heap, wakeups in rows:
        print(f"| {n:,} | {fill * 1e6:.1f} | {marginal * 1e6:.1f} | {mem / 1024:.2f} | {cycles:,.0f} | {heap:,.0f} | {wakeups:,.0f} |")
    base = rows[0][2]
    print(f"\nadd cost at {rows[-1][0]:,} queued vs {rows[0][0]:,}: {rows[-1][2] / base:.2f}x (goal: within 2x)")
    print(f"slowest life-cycle rate: {min(r[4] for r in rows):,.0f}/s (goal: at least 20,000/s)")


if __name__ == "__main__":
    main()
