"""ROS round trips: the dispatcher node's services and a full life cycle, next to a bare rclpy baseline.

All measured in the same run, between real processes over Fast DDS:

- baseline: std_srvs/Trigger, rclpy client -> a bare rclpy server process;
- get_dispatcher_state and add_operations (1 operation) on a running
  dispatcher_node process, through ``DispatcherClient`` (what a user's
  script pays: the add includes the client's validation of the operation);
- a life cycle: add_operations -> OPERATION_COMPLETED seen on dispatch_events
  (the dispatcher asked the business_logic_node process, which approved, and
  sent the goal to a stand-in robot process, which accepts it and reports
  success at once).

Then the CPU of the dispatcher_node process (every thread, from /proc) over
a window: idle (nothing queued, nothing running), and with the robot at 10
life cycles a second (an add every 0.1 s), next to the bare Trigger server's
idle CPU in the same window: what a dispatcher takes from navigation and
perception on the same computer while nothing happens.

The client side is one node with a SingleThreadedExecutor spun in one
background thread; the main thread sends each request with call_async and
sleeps on a threading.Event set by the future's done callback, so nothing
polls. (This bench used a MultiThreadedExecutor before, and it spun at 100%
CPU: rclpy's executor yields every task that is not done and not marked
executing again on each pass, and a task handed to the pool is marked only
once a pool thread runs it; until then the spin loop never blocks in the
wait set, re-submits the task, appends it to its list of futures again and
walks that growing list on every pass, holding the GIL the pool thread
needs. Its stand-in robot also held a pool thread per goal in a blocking
execute callback.) The robot now runs in its own process and never blocks
its executor: it keeps the accepted goal's handle and finishes the goal
when it sees the operation's end on dispatch_events.

Every path is warmed before timing (one answered request per client, two
untimed life cycles), so discovery is not measured. Bounded in count and
time; LOCALHOST discovery and an own ROS_DOMAIN_ID from 40-59 (tests use
10-39, the demo 60-99); every process started here is reaped, also on an
error or Ctrl-C, and killed should this process die (the harness of the
demo and the tests: operation_dispatcher_ros.processes).

    make bench       # or: tools/in_env.sh python bench/ros_round_trip.py [--round-trips 500] [--cycles 200] [--cpu-window 10]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from operation_dispatcher_ros.processes import BENCH_DOMAINS, ProcessGroup, claim_domain, ros_args

DEADLINE_SECONDS = 180.0
WARM_LIFE_CYCLES = 2


# ------------------------------------------------------------------ set-up

def spin_until_shutdown(node: Any) -> int:
    """Spin ``node`` on a SingleThreadedExecutor until SIGINT / SIGTERM (rclpy's handlers), then clean up."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor

    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()
    return 0


def serve_trigger() -> int:
    """The baseline server: a bare rclpy node with one Trigger service (run as its own process)."""
    import rclpy
    from std_srvs.srv import Trigger

    rclpy.init()
    node = rclpy.create_node("bench_trigger_server")

    def answer(_request: Any, response: Any) -> Any:
        response.success = True
        return response

    node.create_service(Trigger, "bench_trigger", answer)
    return spin_until_shutdown(node)


def serve_robot() -> int:
    """The stand-in robot (its own process): accepts every goal and finishes it at once, successfully, as a
    robot whose task is instant would (a goal being executed is the robot's to end: complete_operation
    refuses it). A cancel request is accepted."""
    import rclpy
    from rclpy.action import ActionServer, CancelResponse, GoalResponse

    from operation_dispatcher_interfaces.action import ExecuteOperation

    rclpy.init()
    node = rclpy.create_node("bench_robot")

    def execute(goal_handle: Any) -> Any:
        if goal_handle.is_cancel_requested:
            goal_handle.canceled()
            return ExecuteOperation.Result(success=False, message="canceled")
        goal_handle.succeed()
        return ExecuteOperation.Result(success=True, message="done by the bench robot")

    ActionServer(
        node, ExecuteOperation, "execute_operation", execute_callback=execute,
        goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=lambda _goal: CancelResponse.ACCEPT,
    )
    return spin_until_shutdown(node)


# ------------------------------------------------------------------ the bench node

class Bench:
    """This process's node, on a SingleThreadedExecutor spun in one background thread (it sleeps in the wait
    set until something arrives): the bare Trigger client of the baseline, and a DispatcherClient on the same
    node for everything dispatcher (its warm-up, QoS and error rules; its events recorded with their arrival
    time)."""

    def __init__(self, namespace: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions

        from operation_dispatcher_ros.client import DispatcherClient

        # Python's own SIGINT (KeyboardInterrupt in the main thread) and SIGTERM (see run) handling, so that
        # an interrupted run still gets to its clean-up.
        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)
        self.node = rclpy.create_node("bench", namespace=namespace)
        self._cond = threading.Condition()
        self._events: dict[tuple[str, str], float] = {}
        self.dispatcher = DispatcherClient(self.node, timeout=30.0)
        self.dispatcher.on_event(self._on_event)
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="bench-executor", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        try:
            self.executor.spin()
        except ExternalShutdownException:
            pass

    def _on_event(self, msg: Any) -> None:
        with self._cond:
            self._events[(msg.event_type, msg.operation_id)] = time.perf_counter()
            self._cond.notify_all()

    def wait_event(self, event_type: str, op_id: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: (event_type, op_id) in self._events, timeout):
                raise RuntimeError(f"no {event_type} for {op_id} within {timeout:g} s")
            return self._events[(event_type, op_id)]

    def bare_client(self, srv_type: Any, name: str) -> Any:
        """A plain rclpy client with the default services QoS, for the baseline."""
        from rclpy.qos import qos_profile_services_default

        client: Any = self.node.create_client(srv_type, name, qos_profile=qos_profile_services_default)
        if not client.wait_for_service(timeout_sec=30.0):
            raise RuntimeError(f"{name} not available within 30 s")
        return client

    def close(self) -> None:
        import rclpy

        self.dispatcher.close()
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


def call(client: Any, request: Any, timeout: float = 10.0) -> Any:
    """One request, answered or TimeoutError; the calling thread sleeps until the executor thread has the reply."""
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        client.remove_pending_request(future)
        raise TimeoutError(f"no response within {timeout:g} s")
    return future.result()


def timed(samples: int, once: Callable[[int], None], deadline: float) -> list[float]:
    """Milliseconds per call of ``once(i)``, at most ``samples``, until ``deadline``."""
    out = []
    for i in range(samples):
        if time.monotonic() > deadline:
            break
        start = time.perf_counter()
        once(i)
        out.append((time.perf_counter() - start) * 1000.0)
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU of process ``pid`` (all its threads) so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_percent(pids: list[int], window: float, work: Callable[[float], None] | None = None) -> list[float]:
    """Each process's CPU over ``window`` seconds, in % of one core, while ``work(until)`` runs (or nothing)."""
    before, start = [cpu_seconds(pid) for pid in pids], time.monotonic()
    if work is not None:
        work(start + window)
    time.sleep(max(start + window - time.monotonic(), 0.0))
    elapsed = time.monotonic() - start
    return [100.0 * (cpu_seconds(pid) - b) / elapsed for pid, b in zip(pids, before, strict=True)]


def row(name: str, ms: list[float], baseline: float | None) -> str:
    if not ms:
        return f"| {name} | 0 | - | - | - | - |"
    ordered = sorted(ms)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    mean = statistics.fmean(ordered)
    ratio = f"{p50 / baseline:.1f}x" if baseline else "1.0x"
    return f"| {name} | {len(ms)} | {p50:.2f} | {p99:.2f} | {mean:.2f} | {ratio} |"


@dataclass
class RoundTrips:
    """What :func:`measure` found: milliseconds per sample, CPU in % of one core."""

    domain_id: int
    base: list[float]  # bare Trigger round trips
    get_state: list[float]
    adds: list[float]
    lives: list[float]
    cpu_window: float
    idle: list[float]  # [dispatcher_node, bare Trigger server]
    busy: list[float]  # the same at 10 life cycles/s
    paced: float  # the life cycles per second that window held
    client_cpu: tuple[float, float, float, float]  # (cpu, wall) of this process: round trips, then life cycles
    complete: bool  # every sample taken before the deadline

    @property
    def baseline(self) -> float | None:
        return statistics.median(self.base) if self.base else None


def measure(round_trips: int, cycles: int, cpu_window: float) -> RoundTrips:
    namespace = f"bench{os.getpid()}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    with RosBench("od-bench-ros-") as session:
        procs = session.procs
        from std_srvs.srv import Trigger

        in_namespace = ros_args(namespace)
        trigger_server = procs.start_command("trigger_server", [sys.executable, __file__, "--serve-trigger"], in_namespace)
        procs.start_command("robot", [sys.executable, __file__, "--serve-robot"], in_namespace)
        procs.start("business_logic_node", namespace, {"rule": "approve_all"})
        dispatcher_proc = procs.start("dispatcher_node", namespace, {
            "store_path": "", "handshake_timeout": 2.0,
            "http_port": 0, "http_host": "127.0.0.1",  # no HTTP doors; were one on: loopback only
        })
        bench = session.client = Bench(namespace)

        def warm(client: Any, request: Any) -> None:
            """Send a harmless request until one is answered: the server has matched us both ways."""
            while time.monotonic() < deadline:
                procs.check()
                try:
                    call(client, request, 0.5)
                    return
                except TimeoutError:
                    continue
            raise RuntimeError("warm-up got no answer")

        trigger = bench.bare_client(Trigger, "bench_trigger")
        warm(trigger, Trigger.Request())
        dispatcher = bench.dispatcher
        dispatcher.wait_until_ready()  # the client's own warm-up (docs/ros.md): every later request is sent once
        payload = {"pickup": {"x": 1.0, "y": 0.0}, "dropoff": {"x": 2.0, "y": 0.0}}

        def add_one(i: int, prefix: str = "rt") -> None:
            dispatcher.add([{"id": f"{prefix}-{i}", "payload": payload}])

        def life_cycle(i: int, prefix: str = "lc") -> None:
            op_id = f"{prefix}-{i}"
            add_one(i, prefix)
            bench.wait_event("OPERATION_COMPLETED", op_id, 10.0)

        # Untimed life cycles first: the dispatcher discovers the robot and the business logic, the robot and
        # this node the events topic.
        for i in range(WARM_LIFE_CYCLES):
            life_cycle(i, "warm")

        cpu_start, wall_start = time.process_time(), time.perf_counter()
        # Round trips. The dispatcher is paused for the adds, so they only queue (no handshakes meanwhile).
        base = timed(round_trips, lambda i: call(trigger, Trigger.Request()), deadline)
        get_state = timed(round_trips, lambda i: dispatcher.state(), deadline)
        dispatcher.pause_dispatcher("bench: adds only queue")
        adds = timed(round_trips, add_one, deadline)

        # Life cycles: empty the queue first (cancel while paused: no robot involved), then resume.
        for i in range(len(adds)):
            dispatcher.cancel(f"rt-{i}", "bench")
        dispatcher.resume_dispatcher()
        cpu_trips, wall_trips = time.process_time() - cpu_start, time.perf_counter() - wall_start
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        lives = timed(cycles, life_cycle, deadline)
        cpu_lives, wall_lives = time.process_time() - cpu_start, time.perf_counter() - wall_start

        pids = [dispatcher_proc.pid, trigger_server.pid]
        idle = cpu_percent(pids, cpu_window)
        paced: list[float] = []

        def ten_per_second(until: float) -> None:
            """An add every 0.1 s, each waited for until COMPLETED; the window ends the pacing."""
            i = 0
            while (due := until - cpu_window + 0.1 * (i + 1)) < until:
                life_cycle(i, "paced")
                i += 1
                time.sleep(max(due - time.monotonic(), 0.0))
            paced.append(i / cpu_window)

        busy = cpu_percent(pids, cpu_window, ten_per_second)
        procs.check()
        return RoundTrips(
            session.domain.domain_id, base, get_state, adds, lives, cpu_window, idle, busy, paced[0],
            (cpu_trips, wall_trips, cpu_lives, wall_lives), len(lives) == cycles and len(adds) == round_trips,
        )


def report(m: RoundTrips) -> None:
    baseline = m.baseline
    print(f"\nROS 2 {os.environ.get('ROS_DISTRO', '?')}, rmw_fastrtps, LOCALHOST, domain {m.domain_id}; "
          "milliseconds per round trip, warmed clients, one request at a time\n")
    print("| round trip | n | p50 ms | p99 ms | mean ms | p50 vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("baseline: bare rclpy std_srvs/Trigger, process to process", m.base, None))
    print(row("DispatcherClient.state() (get_dispatcher_state)", m.get_state, baseline))
    print(row("DispatcherClient.add() (1 operation, validated here, queued)", m.adds, baseline))
    print(row("life cycle: add -> the robot's goal -> COMPLETED seen", m.lives, baseline))
    print(f"\nCPU over {m.cpu_window:g} s, % of one core, every thread of the process (/proc)\n")
    print("| process | idle: nothing queued or running | robot at 10 life cycles/s |")
    print("|---|---:|---:|")
    print(f"| dispatcher_node | {m.idle[0]:.2f} | {m.busy[0]:.2f} ({m.paced:.1f} life cycles/s) |")
    print(f"| baseline: bare rclpy Trigger server | {m.idle[1]:.2f} | {m.busy[1]:.2f} (not involved) |")
    if not m.complete:
        print(f"\n(stopped at the {DEADLINE_SECONDS:g} s bound)")
    cpu_trips, wall_trips, cpu_lives, wall_lives = m.client_cpu
    print("\nA life cycle holds one service round trip (the add), a Handshake round trip to the business logic, "
          "an action goal and its result with the (stand-in) robot, and its events on the topic.")
    print(f"CPU of this (client) process, all threads: {100.0 * cpu_trips / wall_trips:.0f}% of one core during the "
          f"round trips ({wall_trips:.1f} s), {100.0 * cpu_lives / wall_lives:.0f}% during the life cycles "
          f"({wall_lives:.1f} s, mostly waiting for the other processes); a polling client shows about 100%.")


class RosBench:
    """What every ROS bench runs in: its own domain (this process and every node it starts),
    a process group logging to a fresh folder, SIGTERM turned into an exit. On leaving, however
    it leaves: :attr:`client` closed (the bench sets it), every process reaped, the domain freed,
    the logs removed, or kept and named when the bench failed."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.client: Any = None

    def __enter__(self) -> RosBench:
        self.domain = claim_domain(BENCH_DOMAINS)
        self.domain.apply()
        self.log_dir = Path(tempfile.mkdtemp(prefix=self.prefix))
        self.procs = ProcessGroup(None, self.log_dir)
        signal.signal(signal.SIGTERM, _terminate)
        return self

    def close_client(self) -> None:
        """Close :attr:`client` (once) and forget it."""
        client, self.client = self.client, None
        if client is not None:
            client.close()

    def __exit__(self, exc_type: type[BaseException] | None, *_exc: object) -> None:
        from operation_dispatcher_ros.node_main import ignore_signals_while_tearing_down

        ignore_signals_while_tearing_down()  # a second Ctrl-C does not cut the clean-up short (bounded)
        try:
            self.close_client()
        finally:
            self.procs.stop_all()
            self.domain.release()
            if exc_type is None:
                shutil.rmtree(self.log_dir, ignore_errors=True)
            else:
                print(f"node logs kept in {self.log_dir}", file=sys.stderr)


def _terminate(_signum: int, _frame: Any) -> None:
    raise SystemExit(128 + signal.SIGTERM)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=500, help="timed calls per service (default 500)")
    parser.add_argument("--cycles", type=int, default=200, help="timed life cycles (default 200)")
    parser.add_argument("--cpu-window", type=float, default=10.0, help="seconds per CPU figure (default 10)")
    parser.add_argument("--serve-trigger", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve-robot", action="store_true", help=argparse.SUPPRESS)
    args, _ros_args = parser.parse_known_args()
    if args.serve_trigger:
        return serve_trigger()
    if args.serve_robot:
        return serve_robot()
    try:
        report(measure(max(args.round_trips, 1), max(args.cycles, 1), max(args.cpu_window, 1.0)))
        return 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
