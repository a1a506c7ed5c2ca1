"""The first call of a fresh client (issue 10, defect 4): hangs with and without this package's Fast DDS profile.

``ros2 service call`` makes a new participant, node and client for every
call. Fast DDS drops the server's reply when the server has not matched the
new client's reply reader within the reply writer's ``max_blocking_time``
(100 ms by default); the call then never returns. node_main.py gives every
node of this package ``config/fastdds_services.xml`` (5 s). This bench runs
a real dispatcher_node twice, once with a user profile that names Fast
DDS's default (100 ms, which node_main respects), once as shipped, and
against each makes N calls to ``get_dispatcher_state``, each from a fresh
rclpy context (context, node, client with the default services QoS as the
CLI uses, wait_for_service, one call, destroy), W of them at a time. A call
with no reply within HANG_SECONDS counts as a hang. Printed: calls, hangs,
and p50 / p99 of the answered calls' round trips (request sent to reply).
The clients carry no profile of their own: the fix is the server's.

LOCALHOST discovery, own domain from 40-59, every process reaped (the
harness of the demo, the tests and bench/ros_round_trip.py:
operation_dispatcher_ros.processes).

    tools/in_env.sh python bench/ros_fresh_clients.py [--calls 500] [--workers 4]   # about 8 min; not in `make bench`
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from operation_dispatcher_ros.node_main import FASTDDS_PROFILES, FASTRTPS_PROFILES, profile_variable
from operation_dispatcher_ros.processes import BENCH_DOMAINS, ProcessGroup, claim_domain

HANG_SECONDS = 5.0
DISCOVERY_SECONDS = 20.0
DEFAULT_BLOCKING_PROFILE = """<?xml version="1.0" encoding="UTF-8"?>
<dds xmlns="http://www.eprosima.com/XMLSchemas/fastRTPS_Profiles">
  <profiles>
    <data_writer profile_name="service">
      <qos><reliability><max_blocking_time><sec>0</sec><nanosec>100000000</nanosec></max_blocking_time></reliability></qos>
    </data_writer>
  </profiles>
</dds>
"""


@dataclass
class Tally:
    """What N fresh clients saw; appended to from the worker threads."""

    round_trips_ms: list[float] = field(default_factory=list)
    hangs: int = 0
    unavailable: int = 0  # wait_for_service gave up: discovery, not the reply
    lock: threading.Lock = field(default_factory=threading.Lock)

    def row(self, name: str) -> str:
        ms = sorted(self.round_trips_ms)
        calls = len(ms) + self.hangs
        p50 = f"{statistics.median(ms):.1f}" if ms else "-"
        p99 = f"{ms[min(len(ms) - 1, int(0.99 * len(ms)))]:.1f}" if ms else "-"
        return f"| {name} | {calls} | {self.hangs} | {p50} | {p99} | {self.unavailable} |"


def fresh_call(namespace: str, tally: Tally) -> None:
    """One call from a fresh context: as `ros2 service call` does it, in-process."""
    import rclpy
    from rclpy.context import Context
    from rclpy.executors import SingleThreadedExecutor

    from operation_dispatcher_interfaces.srv import GetDispatcherState

    context = Context()
    rclpy.init(context=context)
    node = rclpy.create_node(f"fresh_client_{threading.get_ident()}", namespace=namespace, context=context)
    executor = SingleThreadedExecutor(context=context)
    try:
        executor.add_node(node)
        client: Any = node.create_client(GetDispatcherState, "get_dispatcher_state")
        if not client.wait_for_service(DISCOVERY_SECONDS):
            with tally.lock:
                tally.unavailable += 1
            return
        start = time.perf_counter()
        future = client.call_async(GetDispatcherState.Request())
        executor.spin_until_future_complete(future, timeout_sec=HANG_SECONDS)
        elapsed_ms = 1000.0 * (time.perf_counter() - start)
        with tally.lock:
            if future.done():
                tally.round_trips_ms.append(elapsed_ms)
            else:
                tally.hangs += 1
    finally:
        executor.shutdown()
        node.destroy_node()
        context.try_shutdown()


def measure(calls: int, workers: int, namespace: str, name: str) -> Tally:
    """``calls`` fresh clients, ``workers`` at a time; progress on stderr."""
    tally, started = Tally(), time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        for done, _ in enumerate(pool.map(lambda _i: fresh_call(namespace, tally), range(calls)), 1):
            if done % 50 == 0:
                print(f"  {name}: {done}/{calls} ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)
    return tally


def run(calls: int, workers: int) -> int:
    domain = claim_domain(BENCH_DOMAINS)  # held until this process exits
    domain.apply()  # the fresh clients (in this process) and the dispatcher
    for variable in (FASTDDS_PROFILES, FASTRTPS_PROFILES):  # the clients: stock Fast DDS
        os.environ.pop(variable, None)
    log_dir = Path(tempfile.mkdtemp(prefix="od-bench-fresh-"))
    default_profile = log_dir / "default_blocking_time.xml"
    default_profile.write_text(DEFAULT_BLOCKING_PROFILE)
    configs = [
        ("without: Fast DDS default, 100 ms (a user profile)", {profile_variable(): str(default_profile)}),
        ("with: config/fastdds_services.xml, 5 s (as shipped)", {}),
    ]
    rows = []
    for n, (name, profile_env) in enumerate(configs):
        namespace = f"fresh{os.getpid()}_{n}"
        with ProcessGroup(dict(os.environ, **profile_env), log_dir / f"run_{n}") as procs:  # one dispatcher at a time
            procs.start("dispatcher_node", namespace, {"store_path": "", "http_port": 0, "http_host": "127.0.0.1"})
            warm = Tally()
            fresh_call(namespace, warm)  # the dispatcher is up and serving (its first answer is not counted)
            procs.check()
            tally = measure(calls, workers, namespace, name)
            procs.check()
            rows.append(tally.row(name))
    print(f"\nROS 2 {os.environ.get('ROS_DISTRO', '?')}, rmw_fastrtps, LOCALHOST, domain {domain.domain_id}; "
          f"get_dispatcher_state, each call from a fresh rclpy context, {workers} at a time; "
          f"hang = no reply within {HANG_SECONDS:g} s\n")
    print("| dispatcher's reply writer max_blocking_time | calls | hangs | p50 ms | p99 ms | service not found |")
    print("|---|---:|---:|---:|---:|---:|")
    print("\n".join(rows))
    print(f"\nnode logs: {log_dir}")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=500, help="fresh clients per configuration (default 500)")
    parser.add_argument("--workers", type=int, default=4, help="fresh clients at a time (default 4)")
    args = parser.parse_args()
    return run(args.calls, args.workers)


if __name__ == "__main__":
    raise SystemExit(main())
