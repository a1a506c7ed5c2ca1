"""ROS round trips: the dispatcher node's services and a full life cycle, next to a bare rclpy baseline.

All measured in the same run, between real processes over Fast DDS:

- baseline: std_srvs/Trigger, rclpy client -> a bare rclpy server process;
- get_dispatcher_state and add_operations (1 operation) on a running
  dispatcher_node process;
- a life cycle: add_operations -> OPERATION_STARTED seen on dispatch_events
  (the dispatcher asked the business_logic_node process, which approved, and
  sent the goal to this process's stand-in robot, which accepts and holds it)
  -> complete_operation -> OPERATION_COMPLETED seen.

Every client is warmed (one answered request) before timing, so discovery
is not measured. Bounded in count and time; LOCALHOST discovery and an own
ROS_DOMAIN_ID from 80-89; every process started here is reaped.

    make bench       # or: tools/in_env.sh python bench/ros_round_trip.py [--round-trips 500] [--cycles 200]
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

DOMAIN_RANGE = range(80, 90)
DEADLINE_SECONDS = 180.0
PACKAGE = "operation_dispatcher_ros"


# ------------------------------------------------------------------ set-up

def claim_domain() -> tuple[int, Any]:
    """A ROS_DOMAIN_ID in 80-89 that no other run on this machine holds (flock)."""
    for domain_id in DOMAIN_RANGE:
        lock = open(f"/tmp/od-ros-domain-{domain_id}.lock", "w")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            lock.close()
            continue
        return domain_id, lock
    raise SystemExit("every ROS domain id in 80-89 is held by another run")


def serve_trigger() -> int:
    """The baseline server: a bare rclpy node with one Trigger service (run as its own process)."""
    import rclpy
    from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
    from std_srvs.srv import Trigger

    rclpy.init()
    node = rclpy.create_node("bench_trigger_server")

    def answer(_request: Any, response: Any) -> Any:
        response.success = True
        return response

    node.create_service(Trigger, "bench_trigger", answer)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        rclpy.try_shutdown()
        node.destroy_node()
    return 0


class Processes:
    """Node processes started by the bench, stopped (SIGINT, then SIGKILL) and reaped at the end."""

    def __init__(self, env: dict[str, str], log_dir: Path) -> None:
        self.env, self.log_dir, self.procs = env, log_dir, []

    def start(self, name: str, argv: list[str]) -> subprocess.Popen[bytes]:
        log = open(self.log_dir / f"{name}.log", "wb")
        proc = subprocess.Popen(argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in reversed(self.procs):
            try:
                proc.wait(5.0)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5.0)


def installed(executable: str) -> str:
    from ament_index_python.packages import get_package_prefix

    path = Path(get_package_prefix(PACKAGE)) / "lib" / PACKAGE / executable
    if not path.exists():
        raise SystemExit(f"{path} is missing: run `make setup` first")
    return str(path)


# ------------------------------------------------------------------ the bench node

class Bench:
    """This process's node: clients, the events subscription and a stand-in robot, spun in a thread."""

    def __init__(self, namespace: str) -> None:
        import rclpy
        from rclpy.action import ActionServer, CancelResponse, GoalResponse
        from rclpy.callback_groups import ReentrantCallbackGroup
        from rclpy.executors import MultiThreadedExecutor
        from rclpy.qos import QoSProfile, ReliabilityPolicy

        from operation_dispatcher_interfaces.action import ExecuteOperation
        from operation_dispatcher_interfaces.msg import DispatchEvent

        rclpy.init()
        self.node = rclpy.create_node("bench", namespace=namespace)
        group = ReentrantCallbackGroup()
        self._cond = threading.Condition()
        self._events: dict[tuple[str, str], float] = {}
        self._held: dict[str, threading.Event] = {}
        self.node.create_subscription(
            DispatchEvent, "dispatch_events", self._on_event, QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
        )
        self._result_type = ExecuteOperation.Result
        self._robot = ActionServer(
            self.node, ExecuteOperation, "execute_operation", execute_callback=self._execute, callback_group=group,
            goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=lambda _handle: CancelResponse.ACCEPT,
        )
        self.executor = MultiThreadedExecutor(num_threads=4)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self.executor.spin, daemon=True)
        self._thread.start()

    def _on_event(self, msg: Any) -> None:
        with self._cond:
            self._events[(msg.event_type, msg.operation_id)] = time.perf_counter()
            self._cond.notify_all()

    def _execute(self, goal_handle: Any) -> Any:
        """Hold the goal until the operation was completed over the service (the robot 'reports' by service)."""
        released = self._hold(goal_handle.request.operation.id).wait(30.0)
        goal_handle.succeed()
        return self._result_type(success=released, message="held by the bench")

    def _hold(self, op_id: str) -> threading.Event:
        with self._cond:
            return self._held.setdefault(op_id, threading.Event())

    def release(self, op_id: str) -> None:
        self._hold(op_id).set()

    def release_all(self) -> None:
        with self._cond:
            for event in self._held.values():
                event.set()

    def wait_event(self, event_type: str, op_id: str, timeout: float) -> float:
        with self._cond:
            if not self._cond.wait_for(lambda: (event_type, op_id) in self._events, timeout):
                raise RuntimeError(f"no {event_type} for {op_id} within {timeout:g} s")
            return self._events[(event_type, op_id)]

    def client(self, srv_type: Any, name: str, qos: Any = None) -> Any:
        from operation_dispatcher_ros.qos import SERVICES_QOS

        client = self.node.create_client(srv_type, name, qos_profile=qos or SERVICES_QOS)
        if not client.wait_for_service(timeout_sec=30.0):
            raise RuntimeError(f"{name} not available within 30 s")
        return client

    def close(self) -> None:
        import rclpy

        self.release_all()
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


def call(client: Any, request: Any, timeout: float = 10.0) -> Any:
    done = threading.Event()
    future = client.call_async(request)
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        client.remove_pending_request(future)
        raise TimeoutError(f"no response within {timeout:g} s")
    return future.result()


def warm(client: Any, request: Any, deadline: float) -> None:
    """Send a harmless request until one is answered: the server has matched us both ways."""
    while time.monotonic() < deadline:
        try:
            call(client, request, 0.5)
            return
        except TimeoutError:
            continue
    raise RuntimeError("warm-up got no answer")


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


def row(name: str, ms: list[float], baseline: float | None) -> str:
    if not ms:
        return f"| {name} | 0 | - | - | - | - |"
    ordered = sorted(ms)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]
    mean = statistics.fmean(ordered)
    ratio = f"{p50 / baseline:.1f}x" if baseline else "1.0x"
    return f"| {name} | {len(ms)} | {p50:.2f} | {p99:.2f} | {mean:.2f} | {ratio} |"


def run(round_trips: int, cycles: int) -> int:
    domain_id, lock = claim_domain()
    os.environ["ROS_DOMAIN_ID"] = str(domain_id)
    os.environ["ROS_AUTOMATIC_DISCOVERY_RANGE"] = "LOCALHOST"
    os.environ.pop("ROS_LOCALHOST_ONLY", None)
    env = dict(os.environ, PYTHONUNBUFFERED="1", RCUTILS_COLORIZED_OUTPUT="0")
    namespace = f"bench{os.getpid()}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    log_dir = Path(tempfile.mkdtemp(prefix="od-bench-ros-"))
    procs = Processes(env, log_dir)
    bench: Bench | None = None
    try:
        from std_srvs.srv import Trigger

        from operation_dispatcher_interfaces.msg import Operation
        from operation_dispatcher_interfaces.srv import AddOperations, GetDispatcherState, OperationCommand

        ros_args = ["--ros-args", "-r", f"__ns:=/{namespace}"]
        procs.start("trigger_server", [sys.executable, __file__, "--serve-trigger", *ros_args])
        procs.start("business_logic", [installed("business_logic_node"), *ros_args, "-p", "rule:=approve_all"])
        procs.start("dispatcher", [installed("dispatcher_node"), *ros_args, "-p", 'store_path:=""', "-p", "handshake_timeout:=2.0"])
        bench = Bench(namespace)

        from rclpy.qos import qos_profile_services_default

        trigger = bench.client(Trigger, "bench_trigger", qos_profile_services_default)  # bare: default QoS
        state = bench.client(GetDispatcherState, "get_dispatcher_state")
        add = bench.client(AddOperations, "add_operations")
        complete = bench.client(OperationCommand, "complete_operation")
        warm(trigger, Trigger.Request(), deadline)
        warm(state, GetDispatcherState.Request(), deadline)
        warm(add, AddOperations.Request(operations=[]), deadline)  # refused (VALIDATION), changes nothing
        warm(complete, OperationCommand.Request(operation_id=""), deadline)  # refused (VALIDATION)
        payload = json.dumps({"pickup": {"x": 1.0, "y": 0.0}, "dropoff": {"x": 2.0, "y": 0.0}})

        def add_one(i: int, prefix: str = "rt") -> None:
            response = call(add, AddOperations.Request(operations=[Operation(id=f"{prefix}-{i}", payload_json=payload)]))
            if not response.success:
                raise RuntimeError(f"add refused: {response.message}")

        # Round trips. The dispatcher is paused for the adds, so they only queue (no handshakes meanwhile).
        base = timed(round_trips, lambda i: call(trigger, Trigger.Request()), deadline)
        get_state = timed(round_trips, lambda i: call(state, GetDispatcherState.Request()), deadline)
        from operation_dispatcher_interfaces.srv import DispatcherCommand

        pause, resume = bench.client(DispatcherCommand, "dispatcher/pause"), bench.client(DispatcherCommand, "dispatcher/resume")
        cancel = bench.client(OperationCommand, "cancel_operation")
        warm(cancel, OperationCommand.Request(operation_id=""), deadline)
        # pause / resume have no harmless request: a client created after them and answered shows that the
        # dispatcher has matched them too (it processes our endpoints' discovery data in order).
        warm(bench.client(GetDispatcherState, "get_dispatcher_state"), GetDispatcherState.Request(), deadline)
        call(pause, DispatcherCommand.Request(reason="bench: adds only queue"))
        adds = timed(round_trips, add_one, deadline)

        # Life cycles: empty the queue first (cancel while paused: no robot involved), then resume.
        for i in range(len(adds)):
            call(cancel, OperationCommand.Request(operation_id=f"rt-{i}", reason="bench"), 30.0)
        call(resume, DispatcherCommand.Request())

        def life_cycle(i: int) -> None:
            op_id = f"lc-{i}"
            add_one(i, "lc")
            bench.wait_event("OPERATION_STARTED", op_id, 10.0)
            response = call(complete, OperationCommand.Request(operation_id=op_id, reason="bench"))
            if not response.success:
                raise RuntimeError(f"complete refused: {response.message}")
            bench.wait_event("OPERATION_COMPLETED", op_id, 10.0)
            bench.release(op_id)

        lives = timed(cycles, life_cycle, deadline)
        baseline = statistics.median(base) if base else None
        print(f"\nROS 2 {os.environ.get('ROS_DISTRO', '?')}, rmw_fastrtps, LOCALHOST, domain {domain_id}; "
              "milliseconds per round trip, warmed clients, one request at a time\n")
        print("| round trip | n | p50 ms | p99 ms | mean ms | p50 vs baseline |")
        print("|---|---:|---:|---:|---:|---:|")
        print(row("baseline: bare rclpy std_srvs/Trigger, process to process", base, None))
        print(row("get_dispatcher_state", get_state, baseline))
        print(row("add_operations (1 operation, queued)", adds, baseline))
        print(row("life cycle: add -> STARTED seen -> complete_operation -> COMPLETED seen", lives, baseline))
        if len(lives) < cycles or len(adds) < round_trips:
            print(f"\n(stopped at the {DEADLINE_SECONDS:g} s bound)")
        print("\nA life cycle holds two service round trips, a Handshake round trip to the business logic, "
              "an action goal round trip to the (stand-in) robot and two events on the topic.")
        return 0
    finally:
        if bench is not None:
            bench.close()
        procs.stop_all()
        lock.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--round-trips", type=int, default=500, help="timed calls per service (default 500)")
    parser.add_argument("--cycles", type=int, default=200, help="timed life cycles (default 200)")
    parser.add_argument("--serve-trigger", action="store_true", help=argparse.SUPPRESS)
    args, _ros_args = parser.parse_known_args()
    if args.serve_trigger:
        return serve_trigger()
    return run(max(args.round_trips, 1), max(args.cycles, 1))


if __name__ == "__main__":
    raise SystemExit(main())
