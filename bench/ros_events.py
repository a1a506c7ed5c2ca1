"""Events over ROS (issue 15): an approval's way to OPERATION_STARTED, and a burst of adds on dispatch_events.

Two figures, each beside a baseline measured in the same run, between real
processes over Fast DDS:

1. approval -> OPERATION_STARTED seen by a subscriber. A dispatcher_node
   process whose business logic is this bench: it serves the four Handshake
   services (``handshake/start``, ``cancel``, ``pause``, ``resume``; the
   dispatcher asks ``start`` and counts its servers as business_logic_servers),
   approves every request and stamps the clock right before returning the
   approving response; its subscriber of ``dispatch_events`` (a
   DispatcherClient on the same node) stamps the STARTED of that operation on
   arrival. One operation at a time: added, started, finished at once by a
   stand-in robot process (``ros_round_trip.py --serve-robot``), the next
   added once COMPLETED is seen. Both stamps are time.perf_counter() of this
   process (CLOCK_MONOTONIC on Linux, one clock for the host), so the
   difference holds the reply's way back to the dispatcher, the core's
   decision, and the event's way to the subscriber. Baseline: the bare rclpy
   std_srvs/Trigger round trip to a bare server process
   (``ros_round_trip.py --serve-trigger``), one call before each life cycle,
   interleaved so both see the same load. Goal: p50 <= 2 bare round trips
   + 1 ms.
2. events per second reaching 3 subscribers during a burst, with zero loss.
   The 3 subscribers are 3 nodes of this process on one SingleThreadedExecutor
   in a thread of its own (what one Python process following the stream
   pays; the bench's control clients spin on another executor and are idle
   while events arrive), each subscribing with EVENTS_QOS and recording
   every message's arrival, sequence number and operation.
   (a) Baseline: a bare rclpy publisher process (this file, ``--serve-publisher``)
   publishes N pre-built DispatchEvent messages (OPERATION_ADDED-like, the
   dispatcher's field sizes, sequence 1..N) back to back with EVENTS_QOS.
   (b) A dispatcher_node process, paused before anything is queued (nothing
   starts, nothing is asked; there is no business logic), takes N adds in
   add_operations calls of 100 operations, each call sent once the previous
   one is answered, so that it publishes N OPERATION_ADDED events.
   Per subscriber: events per second from the burst's first request sent to
   its last event received, the events lost (distinct ones missing), and the
   gaps in DispatchEvent.sequence over every event it received in the burst.
   The figure is the slowest of the 3 subscribers, the median over
   ``--bursts`` bursts (bare and dispatcher alternating); lost is summed over
   subscribers and bursts. Goal: >= 2,000 events/s with zero loss; the ratio
   to the bare rate is printed beside it.

   Both publishers are faster than a Python subscriber: the bare one by about
   ten times, so its row is what these subscribers can take (3 of them on one
   thread took 2,000-2,700 events/s each on a 2-core machine with other
   load), and its loss is what an unpaced burst costs. A subscriber that
   falls more than 1,000 events behind loses the oldest ones (EVENTS_QOS
   keeps the last 1,000 in the histories, so the writer never waits for a
   reader); the sequence numbers show the gap, and ``get_event_log`` can
   fill it in.

Every path is warmed before timing (the subscribers have seen a warm-up
message from each publisher, every client has had an answer). Bounded in
count and time (a deadline per figure); LOCALHOST discovery and an own
ROS_DOMAIN_ID from 40-59; every process started here is reaped, also on an
error or Ctrl-C (operation_dispatcher_ros.processes, through ros_round_trip's
RosBench).

    tools/in_env.sh python bench/ros_events.py [--samples 200] [--events 5000] [--bursts 3]
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ros_round_trip import Bench, RosBench, call, row, spin_until_shutdown

from operation_dispatcher_ros.processes import ros_args

ROUND_TRIP = Path(__file__).resolve().with_name("ros_round_trip.py")
DEADLINE_SECONDS = 60.0  # per figure, start-up included
WARM_LIFE_CYCLES = 3
WAIT_EVENT = 10.0  # seconds for one life cycle's event
BATCH = 100  # operations per add_operations call in the burst
SUBSCRIBERS = 3
QUIET = 1.0  # seconds without a message after which a burst is over (lost events never come)
WARM_TRY = 0.5  # seconds a warm-up message or request waits before the next one
LATENCY_GOAL_ROUND_TRIPS, LATENCY_GOAL_EXTRA_MS = 2, 1.0
RATE_GOAL_PER_S = 2000.0
PAYLOAD = '{"pickup": {"x": 1.0, "y": 0.0}, "dropoff": {"x": 2.0, "y": 0.0}}'
HANDSHAKES = ("start", "cancel", "pause", "resume")
DISPATCHER_PARAMS: dict[str, Any] = {
    "store_path": "",  # memory only
    "handshake_timeout": 5.0,  # the first handshake also waits for discovery of this process's services
    "http_port": 0, "http_host": "127.0.0.1",  # no HTTP doors; were one on: loopback only
}


# ------------------------------------------------------------------ helpers

def percentile(ordered: list[float], q: float) -> float:
    """The value at ``q`` (0..1) of a sorted list, as ``ros_round_trip.row`` takes its p99."""
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def warm(client: Any, request: Any, procs: Any, deadline: float) -> Any:
    """Send ``request`` until one copy is answered (the server has matched this client both ways); the answer."""
    if not client.wait_for_service(timeout_sec=max(deadline - time.monotonic(), 0.0)):
        raise RuntimeError(f"{client.srv_name} not available")
    while time.monotonic() < deadline:
        procs.check()
        with contextlib.suppress(TimeoutError):
            return call(client, request, WARM_TRY)
    raise RuntimeError(f"no answer from {client.srv_name} before the deadline")


def goal_word(met: bool) -> str:
    return "met" if met else "missed"


# ------------------------------------------------------------------ figure 1: approval -> STARTED

class BusinessLogic:
    """The four Handshake services on the bench's node: every request approved, the start's approval stamped
    (time.perf_counter(), the clock of Bench's event stamps) right before the response is returned."""

    def __init__(self, node: Any) -> None:
        from operation_dispatcher_interfaces.srv import Handshake
        from operation_dispatcher_ros.qos import SERVICES_QOS

        self._lock = threading.Lock()
        self.approved: dict[str, float] = {}  # operation -> its first start approval
        self.asked: dict[str, int] = {}  # operation -> start requests received (> 1: the dispatcher re-sent one)
        for kind in HANDSHAKES:
            node.create_service(Handshake, f"handshake/{kind}", self._answer(kind), qos_profile=SERVICES_QOS)

    def _answer(self, kind: str) -> Callable[[Any, Any], Any]:
        def answer(request: Any, response: Any) -> Any:
            response.approved = True
            if kind == "start":
                op_id, now = request.operation.id or request.event.operation_id, time.perf_counter()
                with self._lock:
                    self.approved.setdefault(op_id, now)
                    self.asked[op_id] = self.asked.get(op_id, 0) + 1
            return response

        return answer

    def approval(self, op_id: str) -> float:
        with self._lock:
            return self.approved[op_id]

    def resent(self) -> int:
        with self._lock:
            return sum(1 for n in self.asked.values() if n > 1)


def latency_samples(samples: int) -> tuple[list[float], list[float], dict[str, float]]:
    """Milliseconds approval -> STARTED seen, and the bare Trigger round trips interleaved with them; extras."""
    from std_srvs.srv import Trigger

    namespace = f"events{os.getpid()}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    with RosBench("od-bench-events-") as session:
        procs, in_namespace = session.procs, ros_args(namespace)
        procs.start_command("trigger_server", [sys.executable, str(ROUND_TRIP), "--serve-trigger"], in_namespace)
        procs.start_command("robot", [sys.executable, str(ROUND_TRIP), "--serve-robot"], in_namespace)
        bench = session.client = Bench(namespace)
        logic = BusinessLogic(bench.node)  # before the dispatcher starts: its first handshake finds it sooner
        procs.start("dispatcher_node", namespace, DISPATCHER_PARAMS)
        trigger = bench.bare_client(Trigger, "bench_trigger")
        warm(trigger, Trigger.Request(), procs, deadline)
        dispatcher = bench.dispatcher
        dispatcher.wait_until_ready()

        def life_cycle(op_id: str) -> float:
            """Add one operation, wait for its STARTED and COMPLETED; ms from the approval to STARTED seen."""
            dispatcher.add([{"id": op_id, "payload": json.loads(PAYLOAD)}])
            seen = bench.wait_event("OPERATION_STARTED", op_id, WAIT_EVENT)
            bench.wait_event("OPERATION_COMPLETED", op_id, WAIT_EVENT)
            return (seen - logic.approval(op_id)) * 1000.0

        for i in range(WARM_LIFE_CYCLES):  # discovery: the dispatcher finds the handshake, the robot, us its events
            life_cycle(f"warm-{i}")
        warm_resent = logic.resent()
        started, base = [], []
        for i in range(samples):
            if time.monotonic() > deadline:
                break
            start = time.perf_counter()
            call(trigger, Trigger.Request())
            base.append((time.perf_counter() - start) * 1000.0)
            started.append(life_cycle(f"ev-{i}"))
        procs.check()
        extras = {"resent": float(logic.resent() - warm_resent), "latency_stopped_early": float(len(started) < samples)}
        return started, base, extras


def latency_figures(started: list[float], base: list[float], extras: dict[str, float]) -> dict[str, float]:
    ordered, base_ordered = sorted(started), sorted(base)
    p50, base_p50 = statistics.median(ordered), statistics.median(base_ordered)
    goal = LATENCY_GOAL_ROUND_TRIPS * base_p50 + LATENCY_GOAL_EXTRA_MS
    return {
        "samples": float(len(started)),
        "p50_ms": p50,
        "p99_ms": percentile(ordered, 0.99),
        "mean_ms": statistics.fmean(ordered),
        "baseline_p50_ms": base_p50,
        "baseline_p99_ms": percentile(base_ordered, 0.99),
        "latency_goal_ms": goal,
        "latency_met": float(p50 <= goal),
        **extras,
    }


def measure_started_latency(samples: int = 200) -> dict[str, float]:
    """Figure 1: approval -> OPERATION_STARTED seen by a subscriber, p50 / p99 ms, beside the bare Trigger round trip."""
    return latency_figures(*latency_samples(max(samples, 1)))


# ------------------------------------------------------------------ figure 2: a burst on dispatch_events

def serve_publisher(events: int) -> int:
    """The baseline publisher (its own process): ``bench_events`` with EVENTS_QOS, and a std_srvs/SetBool service
    ``bench_events/publish``: false publishes one warm-up message, true the N pre-built ones back to back (the
    reply's message: the seconds the publish() calls took)."""
    import rclpy
    from std_srvs.srv import SetBool

    from operation_dispatcher_interfaces.msg import DispatchEvent
    from operation_dispatcher_ros.qos import EVENTS_QOS, SERVICES_QOS

    rclpy.init()
    node = rclpy.create_node("bench_publisher")
    publisher = node.create_publisher(DispatchEvent, "bench_events", EVENTS_QOS)
    resource_id = node.get_namespace().strip("/")

    def event(sequence: int, op_id: str) -> Any:
        """As the dispatcher's OPERATION_ADDED: uuid ids, the resource, a stamp, its metadata."""
        return DispatchEvent(
            id=str(uuid.uuid4()), event_type="OPERATION_ADDED", resource_id=resource_id, operation_id=op_id,
            execution_id=str(uuid.uuid4()), stamp=node.get_clock().now().to_msg(),
            metadata_json=json.dumps({"priority": sequence % 10, "queue_length": sequence}), sequence=sequence,
        )

    burst = [event(i, f"bare-{i}") for i in range(1, events + 1)]
    warm_ids = itertools.count()

    def answer(request: Any, response: Any) -> Any:
        if request.data:
            start = time.perf_counter()
            for message in burst:
                publisher.publish(message)
            response.message = f"{time.perf_counter() - start:.6f}"
        else:
            publisher.publish(event(0, f"warm-{next(warm_ids)}"))
        response.success = True
        return response

    node.create_service(SetBool, "bench_events/publish", answer, qos_profile=SERVICES_QOS)
    return spin_until_shutdown(node)


class Subscribers:
    """:data:`SUBSCRIBERS` nodes of this process, each subscribing ``topics`` with EVENTS_QOS, on one
    SingleThreadedExecutor in a thread of its own; every message's arrival, sequence and operation kept."""

    def __init__(self, namespace: str, topics: tuple[str, ...]) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor

        from operation_dispatcher_interfaces.msg import DispatchEvent
        from operation_dispatcher_ros.qos import EVENTS_QOS

        self._cond = threading.Condition()
        self._prefix = "\0"
        self.seen: dict[tuple[int, str], list[tuple[float, int, str]]] = {}
        self.matched: dict[tuple[int, str], int] = {}
        self.nodes = [rclpy.create_node(f"bench_subscriber_{k}", namespace=namespace) for k in range(SUBSCRIBERS)]
        for k, node in enumerate(self.nodes):
            for topic in topics:
                node.create_subscription(DispatchEvent, topic, self._recorder((k, topic)), EVENTS_QOS)
        self.executor = SingleThreadedExecutor()
        for node in self.nodes:
            self.executor.add_node(node)
        self._thread = threading.Thread(target=self._spin, name="bench-subscribers", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def _recorder(self, key: tuple[int, str]) -> Callable[[Any], None]:
        log = self.seen[key] = []
        self.matched[key] = 0

        def on_message(msg: Any) -> None:
            now = time.perf_counter()
            with self._cond:
                log.append((now, msg.sequence, msg.operation_id))
                if msg.operation_id.startswith(self._prefix):
                    self.matched[key] += 1
                self._cond.notify_all()

        return on_message

    def _keys(self, topic: str) -> list[tuple[int, str]]:
        return [(k, topic) for k in range(SUBSCRIBERS)]

    def begin(self, prefix: str) -> None:
        """Forget what arrived; count from now the messages whose operation starts with ``prefix``."""
        with self._cond:
            for log in self.seen.values():
                log.clear()
            for key in self.matched:
                self.matched[key] = 0
            self._prefix = prefix

    def wait_all(self, topic: str, timeout: float) -> bool:
        """Whether every subscriber of ``topic`` got a message of the current prefix within ``timeout``."""
        with self._cond:
            return self._cond.wait_for(lambda: all(self.matched[key] for key in self._keys(topic)), timeout)

    def settle(self, topic: str, expected: int, deadline: float) -> None:
        """Wait until every subscriber of ``topic`` has ``expected`` messages of the prefix, or none came for QUIET s."""
        keys = self._keys(topic)
        with self._cond:
            while not all(self.matched[key] >= expected for key in keys):
                before = sum(len(self.seen[key]) for key in keys)
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(min(QUIET, left))
                if sum(len(self.seen[key]) for key in keys) == before:
                    return  # quiet: what is missing is lost

    def tally(self, topic: str, expected: int, since: float) -> list[dict[str, float]]:
        """Per subscriber: events/s (distinct ones of the prefix, ``since`` to the last one's arrival), lost, gaps."""
        out = []
        with self._cond:
            for key in self._keys(topic):
                burst = [(t, seq, op) for t, seq, op in self.seen[key] if op.startswith(self._prefix)]
                distinct = len({op for _t, _seq, op in burst})
                sequences = {seq for _t, seq, _op in self.seen[key] if seq > 0}
                gaps = max(sequences) - min(sequences) + 1 - len(sequences) if sequences else 0
                last = max((t for t, _seq, _op in burst), default=since)
                out.append({
                    "per_s": distinct / (last - since) if last > since else 0.0,
                    "lost": float(expected - distinct),
                    "gaps": float(gaps),
                    "numbered": float(bool(sequences)),
                })
        return out

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        for node in self.nodes:
            node.destroy_node()


class RateRig:
    """This process's side of figure 2: plain rclpy clients (SERVICES_QOS) on a control node spun by its own
    executor thread, and the :class:`Subscribers`. No DispatcherClient: its own events subscription would
    be a fourth subscriber in this process."""

    def __init__(self, namespace: str) -> None:
        import rclpy
        from rclpy.executors import SingleThreadedExecutor
        from rclpy.signals import SignalHandlerOptions
        from std_srvs.srv import SetBool

        from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand, GetDispatcherState
        from operation_dispatcher_ros.qos import SERVICES_QOS

        rclpy.init(signal_handler_options=SignalHandlerOptions.NO)  # Python's SIGINT / SIGTERM: the clean-up runs
        self.node = rclpy.create_node("bench_control", namespace=namespace)
        self.subscribers = Subscribers(namespace, ("bench_events", "dispatch_events"))

        def client(srv_type: Any, name: str) -> Any:
            return self.node.create_client(srv_type, name, qos_profile=SERVICES_QOS)

        self.publish = client(SetBool, "bench_events/publish")
        self.state = client(GetDispatcherState, "get_dispatcher_state")
        self.pause = client(DispatcherCommand, "dispatcher/pause")
        self.add = client(AddOperations, "add_operations")
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name="bench-control", daemon=True)
        self._thread.start()

    def _spin(self) -> None:
        from rclpy.executors import ExternalShutdownException

        with contextlib.suppress(ExternalShutdownException):
            self.executor.spin()

    def close(self) -> None:
        import rclpy

        self.subscribers.close()
        self.executor.shutdown(timeout_sec=5.0)
        self._thread.join(5.0)
        self.node.destroy_node()
        rclpy.try_shutdown()


def warm_stream(subscribers: Subscribers, topic: str, send: Callable[[int], None], procs: Any, deadline: float) -> None:
    """``send(i)`` a warm-up message until every subscriber of ``topic`` has had one."""
    subscribers.begin("warm-")
    for i in itertools.count():
        if time.monotonic() > deadline:
            raise RuntimeError(f"the subscribers of {topic} saw no warm-up message before the deadline")
        procs.check()
        send(i)
        if subscribers.wait_all(topic, WARM_TRY):
            return


def rate_samples(events: int, bursts: int) -> tuple[list[list[dict[str, float]]], list[list[dict[str, float]]], dict[str, float]]:
    """Per burst, per subscriber: the bare publisher's figures and the dispatcher's; extras."""
    from std_srvs.srv import SetBool

    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand, GetDispatcherState

    namespace = f"burst{os.getpid()}"
    deadline = time.monotonic() + DEADLINE_SECONDS
    with RosBench("od-bench-events-") as session:
        procs = session.procs
        rig = session.client = RateRig(namespace)
        subs = rig.subscribers
        procs.start_command("bare_publisher", [sys.executable, __file__, "--serve-publisher", "--events", str(events)], ros_args(namespace))
        procs.start("dispatcher_node", namespace, DISPATCHER_PARAMS)

        warm(rig.publish, SetBool.Request(data=False), procs, deadline)
        warm(rig.state, GetDispatcherState.Request(), procs, deadline)
        warm(rig.pause, DispatcherCommand.Request(reason="bench: adds only queue"), procs, deadline)  # paused before any add
        warm(rig.add, AddOperations.Request(operations=[]), procs, deadline)  # refused (VALIDATION), changes nothing

        def add(ops: list[Any]) -> None:
            response = call(rig.add, AddOperations.Request(operations=ops), 30.0)
            if not response.success:
                raise RuntimeError(f"add_operations: {response.message}")

        warm_stream(subs, "bench_events", lambda _i: call(rig.publish, SetBool.Request(data=False), WARM_TRY), procs, deadline)
        warm_stream(subs, "dispatch_events", lambda i: add([Operation(id=f"warm-{i}", payload_json=PAYLOAD)]), procs, deadline)

        bare: list[list[dict[str, float]]] = []
        dispatched: list[list[dict[str, float]]] = []
        publish_s, adds_s = [], []
        for b in range(bursts):
            if time.monotonic() > deadline:
                break
            subs.begin("bare-")
            start = time.perf_counter()
            reply = call(rig.publish, SetBool.Request(data=True), 30.0)
            publish_s.append(float(reply.message))
            subs.settle("bench_events", events, deadline)
            bare.append(subs.tally("bench_events", events, start))

            prefix = f"burst{b}-"
            requests = [
                [Operation(id=f"{prefix}{i}", priority=i % 10, payload_json=PAYLOAD) for i in range(first, min(first + BATCH, events))]
                for first in range(0, events, BATCH)
            ]
            subs.begin(prefix)
            start = time.perf_counter()
            for ops in requests:
                add(ops)
            adds_s.append(time.perf_counter() - start)
            subs.settle("dispatch_events", events, deadline)
            dispatched.append(subs.tally("dispatch_events", events, start))
        procs.check()
        extras = {
            "bare_publish_per_s": events / statistics.median(publish_s) if publish_s else 0.0,
            "adds_answered_per_s": events / statistics.median(adds_s) if adds_s else 0.0,
            "rate_stopped_early": float(len(dispatched) < bursts),
        }
        return bare, dispatched, extras


def rate_figures(bare: list[list[dict[str, float]]], dispatched: list[list[dict[str, float]]], extras: dict[str, float],
                 events: int) -> dict[str, float]:
    def slowest(runs: list[list[dict[str, float]]]) -> float:
        return statistics.median(min(sub["per_s"] for sub in run) for run in runs) if runs else 0.0

    def total(runs: list[list[dict[str, float]]], what: str) -> float:
        return float(sum(sub[what] for run in runs for sub in run))

    rate, bare_rate = slowest(dispatched), slowest(bare)
    lost = total(dispatched, "lost")
    return {
        "events": float(events),
        "bursts": float(len(dispatched)),
        "subscribers": float(SUBSCRIBERS),
        "events_per_s": rate,
        "events_per_s_fastest": statistics.median(max(sub["per_s"] for sub in run) for run in dispatched) if dispatched else 0.0,
        "lost": lost,
        "gaps": total(dispatched, "gaps"),
        "numbered": float(all(sub["numbered"] for run in dispatched for sub in run)),
        "bare_events_per_s": bare_rate,
        "bare_events_per_s_fastest": statistics.median(max(sub["per_s"] for sub in run) for run in bare) if bare else 0.0,
        "bare_lost": total(bare, "lost"),
        "bare_gaps": total(bare, "gaps"),
        "ratio": rate / bare_rate if bare_rate else 0.0,
        "rate_goal_per_s": RATE_GOAL_PER_S,
        "rate_met": float(rate >= RATE_GOAL_PER_S and lost == 0 and bool(dispatched)),
        **extras,
    }


def measure_event_rate(events: int = 5000, bursts: int = 3) -> dict[str, float]:
    """Figure 2: events/s reaching 3 subscribers during a burst of adds, and lost, beside a bare publisher's burst."""
    events, bursts = max(events, 1), max(bursts, 1)
    return rate_figures(*rate_samples(events, bursts), events)


def measure(samples: int = 200, events: int = 5000, bursts: int = 3) -> dict[str, float]:
    """Both figures in one dict (their keys differ)."""
    return {**measure_started_latency(samples), **measure_event_rate(events, bursts)}


# ------------------------------------------------------------------ report

def report_latency(started: list[float], base: list[float], figures: dict[str, float]) -> None:
    print(f"\nROS 2 {os.environ.get('ROS_DISTRO', '?')}, rmw_fastrtps, LOCALHOST; milliseconds, one operation at a time, "
          "this bench the business logic\n")
    print("| figure | n | p50 ms | p99 ms | mean ms | p50 vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    print(row("baseline: bare rclpy std_srvs/Trigger round trip, process to process", base, None))
    print(row("approval returned -> OPERATION_STARTED seen on dispatch_events", started, figures["baseline_p50_ms"]))
    p99_goal = LATENCY_GOAL_ROUND_TRIPS * figures["baseline_p99_ms"] + LATENCY_GOAL_EXTRA_MS
    print(f"\nGoal (issue 15): approval to STARTED <= {LATENCY_GOAL_ROUND_TRIPS} bare round trips + {LATENCY_GOAL_EXTRA_MS:g} ms: "
          f"p50 {figures['p50_ms']:.2f} ms <= {figures['latency_goal_ms']:.2f} ms: {goal_word(bool(figures['latency_met']))} "
          f"(p99 {figures['p99_ms']:.2f} ms against {p99_goal:.2f} ms from the baseline's p99: {goal_word(figures['p99_ms'] <= p99_goal)}).")
    if figures["resent"]:
        print(f"{figures['resent']:.0f} timed start handshakes arrived more than once (the dispatcher re-sent them): "
              "their first approval is the stamp.")
    if figures["latency_stopped_early"]:
        print(f"(stopped at the {DEADLINE_SECONDS:g} s bound)")


def report_rate(figures: dict[str, float]) -> None:
    n, bursts = int(figures["events"]), int(figures["bursts"])
    print(f"\n{n:,} events per burst, {bursts} burst(s) each, to {SUBSCRIBERS} subscribers (nodes of this process on one "
          "executor thread), EVENTS_QOS (reliable, keep last 1,000, volatile); events/s per subscriber from the first "
          "request sent to its last event, median over the bursts; lost and sequence gaps summed over subscribers and bursts\n")
    print("| publisher | events/s, slowest subscriber | fastest | lost | sequence gaps (first to last seen) | vs baseline |")
    print("|---|---:|---:|---:|---:|---:|")
    print(f"| baseline: bare rclpy publisher process, {n:,} pre-built DispatchEvents back to back | "
          f"{figures['bare_events_per_s']:,.0f} | {figures['bare_events_per_s_fastest']:,.0f} | {figures['bare_lost']:.0f} | "
          f"{figures['bare_gaps']:.0f} | 1.00x |")
    print(f"| dispatcher_node, paused: add_operations x {BATCH} per call, back to back -> OPERATION_ADDED | "
          f"{figures['events_per_s']:,.0f} | {figures['events_per_s_fastest']:,.0f} | {figures['lost']:.0f} | "
          f"{figures['gaps']:.0f} | {figures['ratio']:.2f}x |")
    print(f"\nGoal (issue 15): >= {RATE_GOAL_PER_S:,.0f} events/s reaching {SUBSCRIBERS} subscribers with zero loss: "
          f"{figures['events_per_s']:,.0f}/s, {figures['lost']:.0f} lost: {goal_word(bool(figures['rate_met']))}; "
          f"{figures['ratio']:.2f}x the bare publish rate.")
    print(f"The bare publisher's publish() calls alone: {figures['bare_publish_per_s']:,.0f}/s; the dispatcher answered "
          f"the adds at {figures['adds_answered_per_s']:,.0f} operations/s.")
    if figures["bare_lost"] or figures["lost"]:
        print("Lost: events a subscriber had not taken before more than 1,000 newer ones arrived (EVENTS_QOS keeps the "
              "last 1,000); a lost event shows as a gap in the sequence numbers, and get_event_log can fill it in.")
    if not figures["numbered"]:
        print("Some subscriber saw no sequence numbers (all 0): the gap check could not run.")
    if figures["rate_stopped_early"]:
        print(f"(stopped at the {DEADLINE_SECONDS:g} s bound)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=200, help="timed life cycles of figure 1 (default 200)")
    parser.add_argument("--events", type=int, default=5000, help="events per burst of figure 2 (default 5,000)")
    parser.add_argument("--bursts", type=int, default=3, help="bursts of figure 2, each publisher (default 3)")
    parser.add_argument("--serve-publisher", action="store_true", help=argparse.SUPPRESS)
    args, _ros_args = parser.parse_known_args()
    if args.serve_publisher:
        return serve_publisher(max(args.events, 1))
    try:
        started, base, extras = latency_samples(max(args.samples, 1))
        report_latency(started, base, latency_figures(started, base, extras))
        events, bursts = max(args.events, 1), max(args.bursts, 1)
        report_rate(rate_figures(*rate_samples(events, bursts), events))
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
