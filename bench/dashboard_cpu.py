"""The dispatcher's CPU with a dashboard tab open: 10 life cycles/s with 100,000 queued.

One process serves REST + dashboard on 127.0.0.1 and runs the dispatcher;
its runner completes each operation 0.1 s after it starts and adds one more,
so the queue stays at N while the robot works at 10 operations a second.
The CPU this process uses (every thread: the serving loop, the dispatcher,
its notifier) is measured over a window, in the same run:

- baseline: nobody watching;
- one headless Chromium tab on the dashboard (the browser is another process,
  not counted: the figure is what the tab costs the robot's dispatcher);
- the old dashboard's reads, replayed by a client: the whole queue
  (``GET /operations?state=QUEUED``) after every event, 150 ms debounced.

The life cycles done in each window show whether the reads slowed the robot.

    make bench       # or: tools/in_env.sh python bench/dashboard_cpu.py [--queued 100000] [--window 20]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from paging import rest_server

from operation_dispatcher import Operation, OperationDispatcher, OperationRunner

RESOURCE = "bench-robot"
CHROMIUM = Path("/usr/bin/chromium")
_ids = itertools.count()


def make_op() -> Operation:
    i = next(_ids)
    return Operation(id=f"op-{i}", resource_id=RESOURCE, priority=i % 10, payload={"task": "pickup"})


class TenPerSecond(OperationRunner):
    """Completes each operation ``duration`` s after it starts and adds one more: the queue stays at N."""

    def __init__(self, duration: float = 0.1) -> None:
        self.dispatcher: OperationDispatcher | None = None
        self.duration = duration
        self.completed = 0

    async def start(self, operation: Operation) -> None:
        asyncio.get_running_loop().call_later(self.duration, self._complete, operation.id)

    def _complete(self, operation_id: str) -> None:
        assert self.dispatcher is not None
        self.dispatcher.complete(operation_id)
        self.dispatcher.add(make_op())
        self.completed += 1


def measure(runner: TenPerSecond, window: float) -> tuple[float, float]:
    """CPU of this process (% of one core) and life cycles/s over ``window`` seconds."""
    cpu0, wall0, done0 = time.process_time(), time.perf_counter(), runner.completed
    time.sleep(window)
    wall = time.perf_counter() - wall0
    return (time.process_time() - cpu0) / wall * 100, (runner.completed - done0) / wall


def with_tab(url: str, watch: Callable[[], tuple[float, float]]) -> tuple[float, float]:
    from playwright.sync_api import sync_playwright

    args = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=args)
        try:
            page = browser.new_page()
            page.goto(url)
            page.locator("#queue tr").first.wait_for(timeout=30_000)  # its first page of the queue shown
            time.sleep(2)  # its first reads done: the window measures a tab that stays open
            return watch()
        finally:
            browser.close()


def with_whole_queue_reads(url: str, watch: Callable[[], tuple[float, float]]) -> tuple[float, float, int]:
    """The old dashboard's reads: the whole queue after every event (150 ms debounce)."""
    stop, reads = threading.Event(), [0]

    def reader() -> None:
        with httpx.Client(base_url=url, timeout=60) as http, http.stream("GET", "/events") as events:
            pending = False
            last = 0.0
            for line in events.iter_lines():
                if stop.is_set():
                    return
                pending = pending or line.startswith("event: dispatch")
                if pending and time.monotonic() - last > 0.15:
                    httpx.get(url + "/operations?state=QUEUED", timeout=60)
                    reads[0] += 1
                    pending, last = False, time.monotonic()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        cpu, rate = watch()
    finally:
        stop.set()
        thread.join(60)
    return cpu, rate, reads[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queued", type=int, default=100_000)
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured per row")
    args = parser.parse_args()

    runner = TenPerSecond()
    dispatcher = OperationDispatcher(RESOURCE, lambda e: True, runner=runner)
    runner.dispatcher = dispatcher
    for start in range(0, args.queued, 10_000):
        dispatcher.add([make_op() for _ in range(min(10_000, args.queued - start))])

    def watch() -> tuple[float, float]:
        return measure(runner, args.window)

    rows = []
    with rest_server(dispatcher, run_dispatcher=True) as url:
        time.sleep(2)  # the adds' events published, the robot at its pace
        rows.append(("baseline: nobody watching", *watch(), ""))
        if CHROMIUM.exists():
            rows.append(("one dashboard tab (Chromium)", *with_tab(url, watch), ""))
        else:
            rows.append(("one dashboard tab: no /usr/bin/chromium here", float("nan"), float("nan"), ""))
        cpu, rate, reads = with_whole_queue_reads(url, watch)
        rows.append(("old dashboard's reads: the whole queue after each event", cpu, rate, f"whole-queue reads: {reads}"))

    print(f"\nDispatcher process CPU, {args.queued:,} queued, robot at 10 life cycles/s, {args.window:.0f} s per row\n")
    print("| who is watching | CPU, % of one core | life cycles/s | note |")
    print("|---|---:|---:|---|")
    for who, cpu, rate, note in rows:
        print(f"| {who} | {cpu:.1f} | {rate:.1f} | {note} |")


if __name__ == "__main__":
    main()
