"""Paging: what reading ONE page of the queue costs at every door, with N = 100 and N = 100,000 queued.

A page is 100 QUEUED operations. Per door, the first page and a page from the
middle (its cursor found once, untimed, by walking the pages to about N/2):

- core: ``page_operations(state="QUEUED", limit=100, cursor=...)``;
- REST: ``GET /operations?state=QUEUED&limit=100[&cursor=...]`` on a real
  uvicorn server on 127.0.0.1 (``operation_dispatcher.api.build_server``),
  one keep-alive httpx client; the bytes of the reply too;
- MCP: the ``list_operations`` tool (limit 100), called in-process through the
  SDK's ``Client`` (its in-memory transport: no HTTP); bytes of the tool's text;
- ROS: the ``list_operations`` service (limit 100) of a ``dispatcher_node``
  process, a plain rclpy client (call_async, then a threading.Event; nothing
  polls). Its queue is an SQLiteStore file filled with the core beforehand and
  left paused, so the node starts nothing; bytes of the serialized reply.

Baselines in the same run and the same table: the old way, the whole listing at
the same N (core ``list_operations(state=QUEUED)``, REST without ``limit``, ROS
``limit`` 0 with a 60 s timeout; MCP has none, its limit is at most 1,000), and
a bare round trip per door (REST ``GET /dispatcher``, MCP and ROS
``get_dispatcher_state``). The dispatcher is never run: all N stay QUEUED.

Figures are the median of ``--reads`` reads (fewer, at least 3, where a path's
reads pass 5 s: the table says how many), each path warmed by one untimed read
(the whole listing above 10,000 queued: ``--whole-reads`` reads, not warmed).
With 100 queued the middle page holds 50 (there is no full page past N/2), so
each page row's ratio is taken against the first page at the smallest N.
Goal, printed per door: a page at the largest N within 2x of that.
ROS: LOCALHOST discovery and an own ROS_DOMAIN_ID from 40-59; every process
started is reaped, also on an error or Ctrl-C (operation_dispatcher_ros.processes).

    make bench       # or: tools/in_env.sh python bench/paging.py [--sizes 100 100000] [--reads 200] [--whole-reads 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import os
import socket
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from mcp import Client
from ros_round_trip import RosBench, call

from operation_dispatcher import Operation, OperationDispatcher, SQLiteStore
from operation_dispatcher.api import build_server
from operation_dispatcher.mcp_server import create_mcp_server

RESOURCE = "bench-paging"
PAGE = 100
WALK_PAGE = 1000  # the page size of the untimed walk to the middle
BIG = 10_000  # above this many queued, the whole listing is read --whole-reads times only
PATH_SECONDS, MIN_READS = 5.0, 3  # a path's reads stop after this long, once this many are timed (the table shows how many)
ROS_WHOLE_TIMEOUT = 60.0
DOORS = ("core", "REST", "MCP", "ROS")
WHOLE = "old way: whole listing"
FIRST, MIDDLE = "first page (limit 100)", "middle page (cursor at N/2)"


@dataclass
class Sample:
    ms: list[float] = field(default_factory=list)
    size: int | None = None  # bytes of one reply
    note: str = ""


Results = dict[tuple[str, str], dict[int, Sample]]


# ------------------------------------------------------------------ helpers

def make_ops(start: int, count: int) -> list[Operation]:
    return [Operation(id=f"op-{i}", resource_id=RESOURCE, priority=i % 10, payload={"task": "pickup"}) for i in range(start, start + count)]


def fill(dispatcher: OperationDispatcher, n: int) -> None:
    for start in range(0, n, 1000):
        dispatcher.add(make_ops(start, min(1000, n - start)))


def measure(count: int, once: Callable[[], Any], size: Callable[[Any], int] | None = None, warm: bool = True) -> Sample:
    """Milliseconds per call of ``once``: ``count`` calls or :data:`PATH_SECONDS` (after one untimed unless not ``warm``)."""
    if warm:
        once()
    ms, reply, deadline = [], None, time.monotonic() + PATH_SECONDS
    for i in range(count):
        if i >= MIN_READS and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        reply = once()
        ms.append((time.perf_counter() - start) * 1000.0)
    return Sample(ms, size(reply) if size and ms else None)


async def ameasure(count: int, once: Callable[[], Awaitable[Any]], size: Callable[[Any], int] | None = None) -> Sample:
    """:func:`measure` for a coroutine function."""
    await once()
    ms, reply, deadline = [], None, time.monotonic() + PATH_SECONDS
    for i in range(count):
        if i >= MIN_READS and time.monotonic() > deadline:
            break
        start = time.perf_counter()
        reply = await once()
        ms.append((time.perf_counter() - start) * 1000.0)
    return Sample(ms, size(reply) if size and ms else None)


def middle_at(n: int) -> int:
    """Where the middle page starts: N/2, or earlier so that a full page follows (N <= 2 pages: a short one)."""
    return max(1, n // 2 if n < 2 * PAGE else min(n // 2, n - PAGE))


def middle_cursor(n: int, read: Callable[[int, str | None], tuple[int, str | None]]) -> str:
    """Walk the listing (untimed) to :func:`middle_at` with ``read(limit, cursor) -> (operations read, next cursor)``."""
    seen, cursor, target = 0, None, middle_at(n)
    while seen < target:
        got, cursor = read(min(WALK_PAGE, target - seen), cursor)
        seen += got
        if cursor is None:
            raise RuntimeError(f"the listing ended after {seen} of {n}")
    return cursor


def whole_reads(n: int, reads: int, big_reads: int) -> int:
    return reads if n <= BIG else big_reads


# ------------------------------------------------------------------ in-process doors

def put(out: Results, door: str, read: str, n: int, sample: Sample) -> None:
    out.setdefault((door, read), {})[n] = sample


def core_middle_cursor(d: OperationDispatcher, n: int) -> str:
    """The cursor at about N/2. A cursor is the dispatcher's, whatever the door: REST and MCP read with it too."""

    def walk(limit: int, cursor: str | None) -> tuple[int, str | None]:
        page = d.page_operations(state="QUEUED", limit=limit, cursor=cursor)
        return len(page.operations), page.next_cursor

    return middle_cursor(n, walk)


def bench_core(d: OperationDispatcher, n: int, middle: str, reads: int, big_reads: int, out: Results) -> None:
    def page(cursor: str | None = None) -> Any:
        return d.page_operations(state="QUEUED", limit=PAGE, cursor=cursor)

    put(out, "core", FIRST, n, measure(reads, page))
    put(out, "core", MIDDLE, n, measure(reads, lambda: page(middle)))
    whole = measure(whole_reads(n, reads, big_reads), lambda: d.list_operations(state="QUEUED"), warm=n <= BIG)
    put(out, "core", f"{WHOLE}: list_operations(state=QUEUED)", n, whole)


@contextlib.contextmanager
def rest_server(d: OperationDispatcher, **options: Any) -> Iterator[str]:
    """``build_server`` (REST, dashboard, MCP mounted) on 127.0.0.1:<free port>, served from a thread of its own."""
    # proto IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say TCP (base_events._set_nodelay), and
    # without it each reply (headers and body: two writes) waits ~40 ms for the client's delayed ACK (Nagle).
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = build_server(d, "127.0.0.1", port, **options)
    thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), name="uvicorn", daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 15.0
        while not server.started:  # uvicorn has no start-up callback: checked every 10 ms, bounded
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(15.0)
        sock.close()


def bench_rest(d: OperationDispatcher, n: int, middle: str, reads: int, big_reads: int, out: Results) -> None:
    with rest_server(d) as url, httpx.Client(base_url=url, timeout=120.0) as http:

        def get(path: str, **params: Any) -> httpx.Response:
            response = http.get(path, params=params)
            response.raise_for_status()
            return response

        def nbytes(response: httpx.Response) -> int:
            return len(response.content)

        put(out, "REST", "baseline: bare round trip, GET /dispatcher", n, measure(reads, lambda: get("/dispatcher"), nbytes))
        put(out, "REST", FIRST, n, measure(reads, lambda: get("/operations", state="QUEUED", limit=PAGE), nbytes))
        put(out, "REST", MIDDLE, n, measure(reads, lambda: get("/operations", state="QUEUED", limit=PAGE, cursor=middle), nbytes))
        whole = measure(whole_reads(n, reads, big_reads), lambda: get("/operations", state="QUEUED"), nbytes, warm=n <= BIG)
        put(out, "REST", f"{WHOLE}: GET /operations?state=QUEUED", n, whole)


async def bench_mcp(d: OperationDispatcher, n: int, middle: str, reads: int, out: Results) -> None:
    async with Client(create_mcp_server(d), read_timeout_seconds=60) as client:

        async def call(tool: str, **arguments: Any) -> Any:
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise RuntimeError(f"{tool}: {result.content}")
            return result

        def text_bytes(result: Any) -> int:
            return len(result.content[0].text.encode())

        bare = await ameasure(reads, lambda: call("get_dispatcher_state"), text_bytes)
        put(out, "MCP", "baseline: bare tool call, get_dispatcher_state", n, bare)
        put(out, "MCP", FIRST, n, await ameasure(reads, lambda: call("list_operations", state="QUEUED", limit=PAGE), text_bytes))
        page = await ameasure(reads, lambda: call("list_operations", state="QUEUED", limit=PAGE, cursor=middle), text_bytes)
        put(out, "MCP", MIDDLE, n, page)


def bench_in_process(sizes: list[int], reads: int, big_reads: int, doors: set[str], out: Results) -> None:
    for n in sizes:
        d = OperationDispatcher(RESOURCE, lambda e: True)
        fill(d, n)
        middle = core_middle_cursor(d, n)
        gc.collect()
        if "core" in doors:
            bench_core(d, n, middle, reads, big_reads, out)
        if "REST" in doors:
            bench_rest(d, n, middle, reads, big_reads, out)
        if "MCP" in doors:
            asyncio.run(bench_mcp(d, n, middle, reads, out))
        del d
        gc.collect()


# ------------------------------------------------------------------ ROS

class RosReader:
    """This process's node on a SingleThreadedExecutor spun in one background thread; plain rclpy clients."""

    def __init__(self) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)  # Python's SIGINT / SIGTERM handling: clean-up runs
        self.node = rclpy.create_node(f"bench_paging_{os.getpid()}")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="bench-executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def client(self, srv_type: Any, name: str) -> Any:
        from rclpy.qos import qos_profile_services_default

        return self.node.create_client(srv_type, name, qos_profile=qos_profile_services_default)

    def close(self) -> None:
        import rclpy

        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


def warm(client: Any, request: Any, node: Any, timeout: float = 120.0) -> None:
    """Send a harmless request until one is answered (the node recovers its store before it serves)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        check(node)
        if client.wait_for_service(timeout_sec=1.0):
            with contextlib.suppress(TimeoutError):
                call(client, request, 1.0)
                return
    raise RuntimeError(f"no answer from {client.srv_name} within {timeout:g} s")


def check(node: Any) -> None:
    if not node.alive():
        raise RuntimeError(f"dispatcher_node exited with {node.popen.returncode}: see {node.log_path}")


def bench_ros_size(reader: RosReader, procs: Any, tmp: Path, n: int, reads: int, big_reads: int, out: Results) -> None:
    from rclpy.serialization import serialize_message

    from operation_dispatcher_interfaces.srv import GetDispatcherState, ListOperations

    path = tmp / f"queue-{n}.db"
    store = SQLiteStore(path)
    filler = OperationDispatcher(RESOURCE, lambda e: True, store=store)
    fill(filler, n)
    filler.pause("bench: the node starts nothing")  # kept in the file: the node comes back paused
    store.close()
    del filler
    gc.collect()

    namespace = f"paging{os.getpid()}_{n}"
    node = procs.start("dispatcher_node", namespace, {"resource_id": RESOURCE, "store_path": str(path), "http_port": 0})
    try:
        state = reader.client(GetDispatcherState, f"/{namespace}/get_dispatcher_state")
        listing = reader.client(ListOperations, f"/{namespace}/list_operations")
        warm(state, GetDispatcherState.Request(), node)
        warm(listing, ListOperations.Request(state="QUEUED", limit=1), node)

        def ask(limit: int = PAGE, cursor: str | None = None, timeout: float = 10.0) -> Any:
            response = call(listing, ListOperations.Request(state="QUEUED", limit=limit, cursor=cursor or ""), timeout)
            if not response.success:
                raise RuntimeError(f"list_operations: {response.message}")
            return response

        def walk(limit: int, cursor: str | None) -> tuple[int, str | None]:
            response = ask(limit, cursor)
            return len(response.operations), response.next_cursor or None

        def nbytes(response: Any) -> int:
            return len(serialize_message(response))

        middle = middle_cursor(n, walk)  # the node's own dispatcher: walked at this door
        bare = measure(reads, lambda: call(state, GetDispatcherState.Request()), nbytes)
        put(out, "ROS", "baseline: bare round trip, get_dispatcher_state", n, bare)
        put(out, "ROS", FIRST, n, measure(reads, ask, nbytes))
        put(out, "ROS", MIDDLE, n, measure(reads, lambda: ask(cursor=middle), nbytes))
        label = f"{WHOLE}: list_operations limit 0"
        try:
            whole = measure(whole_reads(n, reads, big_reads), lambda: ask(0, timeout=ROS_WHOLE_TIMEOUT), nbytes, warm=n <= BIG)
        except TimeoutError:
            whole = Sample(note=f"no answer within {ROS_WHOLE_TIMEOUT:g} s")
        put(out, "ROS", label, n, whole)
        check(node)
    finally:
        node.stop()


def bench_ros(sizes: list[int], reads: int, big_reads: int, out: Results) -> int:
    with RosBench("od-bench-paging-") as session:
        session.client = reader = RosReader()
        for n in sizes:
            bench_ros_size(reader, session.procs, session.log_dir, n, reads, big_reads, out)
        return session.domain.domain_id


# ------------------------------------------------------------------ report

def fmt_ms(ms: float) -> str:
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:,.0f}"


def median(sample: Sample | None) -> float | None:
    return statistics.median(sample.ms) if sample and sample.ms else None


def cell(sample: Sample | None, short: int | None = None) -> str:
    if sample is None:
        return "-"
    text = sample.note or fmt_ms(statistics.median(sample.ms))
    return f"{text} ({short} ops)" if short is not None and not sample.note else text


def report(sizes: list[int], out: Results) -> None:
    """One row per door and read. The ratio of a page row is against the FIRST page at the smallest N (a full page
    whatever N: with 100 queued, the middle one holds 50); of the other rows, against the same row."""
    small, big = sizes[0], sizes[-1]
    head = [f"median ms, N={n:,}" for n in sizes] + [f"N={big:,} / N={small:,}", "reads"] + [f"reply bytes, N={n:,}" for n in sizes]
    print("| door | read | " + " | ".join(head) + " |")
    print("|---|---|" + "---:|" * len(head))
    goals: dict[str, list[str]] = {}
    for (door, read), by_n in out.items():
        samples = [by_n.get(n) for n in sizes]
        paged = read in (FIRST, MIDDLE)
        base, last = median(out[(door, FIRST)].get(small) if paged else samples[0]), median(samples[-1])
        ratio = last / base if base and last else None
        if paged and ratio is not None:
            goals.setdefault(door, []).append(f"{read.split(' (')[0]} {ratio:.2f}x" + ("" if ratio <= 2.0 else " (MISSED)"))
        cells = [
            *(cell(by_n.get(n), n - middle_at(n) if read == MIDDLE and n - middle_at(n) < PAGE else None) for n in sizes),
            f"{ratio:.2f}x" if ratio is not None else "-",
            ", ".join(str(len(sample.ms)) if sample else "-" for sample in samples),
            *(f"{sample.size:,}" if sample and sample.size is not None else "-" for sample in samples),
        ]
        print(f"| {door} | {read} | " + " | ".join(cells) + " |")
    print(f"\nPage rows' ratio: against the first page (a full one) at N={small:,}; other rows: against the same row. "
          "(k ops): a middle page with fewer than 100 operations (N under 200: there is no full page past N/2).")
    print(f"Goal, one page at N={big:,} within 2x of one page at N={small:,}:")
    for door, parts in goals.items():
        print(f"- {door}: {', '.join(parts)}: {'met' if all('MISSED' not in p for p in parts) else 'MISSED'}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 100_000], help="operations queued (default 100 100000)")
    parser.add_argument("--reads", type=int, default=200, help="timed reads per path and size (default 200)")
    parser.add_argument("--whole-reads", type=int, default=3, help=f"timed reads of the whole listing above {BIG:,} queued (default 3)")
    parser.add_argument("--doors", nargs="+", choices=DOORS, default=list(DOORS), help="doors to measure (default all)")
    args = parser.parse_args()
    sizes, reads, big_reads, doors = sorted(args.sizes), max(1, args.reads), max(1, args.whole_reads), set(args.doors)

    out: Results = {}  # rows in the order measured: per door, the baseline, the pages, the whole listing
    started = time.perf_counter()
    try:
        bench_in_process(sizes, reads, big_reads, doors, out)
        domain = bench_ros(sizes, reads, big_reads, out) if "ROS" in doors else None
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130

    where = f"; ROS 2 {os.environ.get('ROS_DISTRO', '?')}, LOCALHOST, domain {domain}" if domain is not None else ""
    print(f"\nOne page of the queue (100 QUEUED operations) per door, median ms of up to {reads} reads, at most "
          f"{PATH_SECONDS:g} s of reads per path (the whole listing above {BIG:,} queued: {big_reads} reads){where}\n")
    report(sizes, out)
    print("MCP has no whole listing (its limit is at most 1,000); its calls are in-process (the SDK's in-memory transport).")
    print(f"wall time {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
