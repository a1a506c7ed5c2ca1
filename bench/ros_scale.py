"""Scale of the dispatcher node: its memory with N operations queued, its start-up on a store of N.

One ``dispatcher_node`` process on an SQLiteStore file, between real
processes over Fast DDS, paused (nothing starts, nothing is asked; no
business logic, no robot):

1. started on an empty store: seconds from the process's start to the first
   answered ``get_dispatcher_state`` (the baseline: the median of three
   starts, as the first start of a run was once 5x the others), and its
   RSS, idle;
2. N operations added over ROS (``add_operations``, batches of 1,000, each
   answered before the next): the adds per second, and the RSS then (VmRSS,
   with the process's peak, VmHWM);
3. stopped (SIGINT) and started again on that store: the start-up to the
   first answer, which now recovers N operations first, and the RSS then.

Issue 15's goals, printed beside the figures: at most 150 MB with 100,000
queued, and a start-up on a store of 100,000 within 3 s. What a robot
pays when it reboots with a long queue, and what the dispatcher takes from
navigation and perception on the same computer while it holds one.

LOCALHOST discovery and an own ROS_DOMAIN_ID from 40-59; every process
started here is reaped, also on an error or Ctrl-C
(operation_dispatcher_ros.processes).

    make bench       # or: tools/in_env.sh python bench/ros_scale.py [--queued 100000]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from paging import RosReader, check, warm
from ros_round_trip import RosBench, call

RESOURCE = "bench-scale"
BATCH = 1000
EMPTY_STARTS = 3
UP_TIMEOUT = 300.0  # seconds for a start-up to answer, recovery included
PROBE_PERIOD = 0.05  # seconds: how late a start-up's end may be seen
STOP_TIMEOUT = 60.0
RSS_GOAL_MB, START_UP_GOAL_S = 150.0, 3.0
PAYLOAD = '{"pickup": {"x": 1.0, "y": 2.0}, "dropoff": {"x": 4.0, "y": 0.5}}'


def memory_mb(pid: int) -> tuple[float, float]:
    """VmRSS and VmHWM (the peak) of process ``pid``, in MB (10^6 bytes)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return tuple(int(fields[key].split()[0]) * 1024 / 1e6 for key in ("VmRSS", "VmHWM"))  # type: ignore[return-value]


def start_up(procs: Any, namespace: str, store: Path) -> tuple[Any, RosReader, float]:
    """A dispatcher_node on ``store``, a client of it, and the seconds from its start to the first answered state.

    The client is new with the node, as after a reboot: a client that ran on while a node
    restarted waited 2-2.5 s more here (the new node learns of its endpoints late, and drops
    the requests until then). Each start in a namespace of its own: a node that stopped stays
    on the graph until its DDS lease ends."""
    from operation_dispatcher_interfaces.srv import GetDispatcherState

    reader = RosReader()
    state = reader.client(GetDispatcherState, f"/{namespace}/get_dispatcher_state")
    start = time.monotonic()
    params = {"resource_id": RESOURCE, "store_path": str(store), "http_port": 0}
    node = procs.start("dispatcher_node", namespace, params)
    while True:  # asked every PROBE_PERIOD: a request sent before the node matched this client is lost
        check(node)
        if time.monotonic() - start > UP_TIMEOUT:
            raise RuntimeError(f"dispatcher_node did not answer within {UP_TIMEOUT:g} s: see {node.log_path}")
        if state.wait_for_service(timeout_sec=PROBE_PERIOD):
            with contextlib.suppress(TimeoutError):
                call(state, GetDispatcherState.Request(), PROBE_PERIOD)
                break
    up = time.monotonic() - start
    reader.node.destroy_client(state)
    return node, reader, up


def add_over_ros(reader: RosReader, node: Any, namespace: str, n: int) -> float:
    """Pause the dispatcher, then add ``n`` operations in batches; adds per second."""
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand

    pause = reader.client(DispatcherCommand, f"/{namespace}/dispatcher/pause")
    warm(pause, DispatcherCommand.Request(reason="bench: nothing starts"), node)
    add = reader.client(AddOperations, f"/{namespace}/add_operations")
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        ops = [Operation(id=f"op-{i}", priority=i % 10, payload_json=PAYLOAD) for i in range(first, min(first + BATCH, n))]
        response = call(add, AddOperations.Request(operations=ops), 60.0)
        if not response.success:
            raise RuntimeError(f"add_operations: {response.message}")
    rate = n / (time.perf_counter() - start)
    check(node)
    return rate


@dataclass
class Scale:
    """What :func:`measure` found: seconds, MB (RSS, peak)."""

    queued: int
    up_empty: float  # median start-up on an empty store
    idle: tuple[float, float]
    add_rate: float
    added: tuple[float, float]
    up_full: float  # start-up on the store of ``queued``
    recovered: tuple[float, float]
    store_mb: float


def measure(n: int) -> Scale:
    with RosBench("od-bench-scale-") as session:
        procs, tmp = session.procs, session.log_dir
        namespace, store = f"scale{os.getpid()}", tmp / "queue.db"
        empty = []
        for i in range(EMPTY_STARTS):  # the last on the file that then gets the adds
            node, session.client, up = start_up(procs, f"{namespace}_{i}", store if i == EMPTY_STARTS - 1 else tmp / f"empty{i}.db")
            empty.append(up)
            if i < EMPTY_STARTS - 1:
                node.stop(STOP_TIMEOUT)
                session.close_client()
        idle = memory_mb(node.pid)
        rate = add_over_ros(session.client, node, f"{namespace}_{EMPTY_STARTS - 1}", n)
        added = memory_mb(node.pid)
        node.stop(STOP_TIMEOUT)
        session.close_client()
        node, session.client, up_full = start_up(procs, f"{namespace}_restarted", store)
        recovered = memory_mb(node.pid)
        node.stop(STOP_TIMEOUT)
        return Scale(n, statistics.median(empty), idle, rate, added, up_full, recovered, store.stat().st_size / 1e6)


def met(ok: bool, what: str) -> str:
    return f"{what}: {'met' if ok else 'missed'}"


def report(m: Scale) -> None:
    idle, added, recovered = m.idle, m.added, m.recovered
    print(f"\ndispatcher_node on an SQLiteStore, paused; {m.queued:,} operations added over ROS in batches of {BATCH:,} "
          f"at {m.add_rate:,.0f} adds/s; store file {m.store_mb:.1f} MB\n")
    print("| figure | baseline: empty store | with N queued | ratio | goal |")
    print("|---|---:|---:|---:|---|")
    print(f"| RSS, MB (peak) | {idle[0]:.0f} ({idle[1]:.0f}) | added over ROS: {added[0]:.0f} ({added[1]:.0f}) "
          f"| {added[0] / idle[0]:.1f}x | {met(added[0] <= RSS_GOAL_MB, f'<= {RSS_GOAL_MB:g} MB')} |")
    print(f"| RSS after the restart, MB (peak) | {idle[0]:.0f} ({idle[1]:.0f}) | recovered: {recovered[0]:.0f} ({recovered[1]:.0f}) "
          f"| {recovered[0] / idle[0]:.1f}x | {met(recovered[0] <= RSS_GOAL_MB, f'<= {RSS_GOAL_MB:g} MB')} |")
    print(f"| start-up to the first answered get_dispatcher_state, s | {m.up_empty:.2f} | {m.up_full:.2f} "
          f"| {m.up_full / m.up_empty:.1f}x | {met(m.up_full <= START_UP_GOAL_S, f'<= {START_UP_GOAL_S:g} s')} |")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queued", type=int, default=100_000, help="operations queued (default 100,000)")
    args = parser.parse_args()
    try:
        report(measure(max(args.queued, 1)))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
