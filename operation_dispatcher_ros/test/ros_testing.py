"""Helpers for the ROS tests: real processes, real DDS, bounded waits.

- :func:`claim_domain_id` gives this test run a ROS_DOMAIN_ID nobody else on
  the machine holds (an flock per id), so concurrent runs never cross-talk.
- :class:`ProcessGroup` / :class:`NodeProcess` start one INSTALLED executable
  of this package (``lib/operation_dispatcher_ros/<name>``), or a test's own
  node script (e.g. ``stand_in_robot.py``), as its own process, log to a
  file, and stop it with SIGINT, then SIGTERM, then SIGKILL. Both, and the
  domain claim, are ``operation_dispatcher_ros.processes``, the one harness
  of the tests, the demo and the benchmarks; imported here under the names
  the tests use.
- :class:`RosClient` is the test's own rclpy node, spun by a
  SingleThreadedExecutor in a background thread: service calls, action goals
  and topic recordings that the test thread waits on with timeouts.
- :class:`Hold` lets a callback wait for the test (a held goal, a hung
  handshake) without blocking the thread of its executor.
- :class:`Recorder` keeps every message of a topic and waits for one that
  matches a predicate.

Every wait has a timeout and, on failure, says what it saw.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node, NodeNameNonExistentError
from rclpy.qos import QoSProfile
from rclpy.task import Future

from operation_dispatcher_ros.action_runner import GoalSafeActionClient
from operation_dispatcher_ros.processes import (  # noqa: F401 (re-exported: the tests' names for the one harness)
    TEST_DOMAINS,
    DomainClaim,
    NodeProcess,
    ProcessGroup,
    claim_domain,
    executable_path,
    ros_args,
)
from operation_dispatcher_ros.qos import EVENTS_QOS, SERVICES_QOS, STATE_QOS  # noqa: F401 (STATE_QOS: re-exported for the tests)

T = TypeVar("T")

# Parameters that keep the simulated bring-up (conftest's ``bringup``) fast in tests: high
# speed, short cooldowns and timeouts. Tests override single values. Here, not in conftest.py:
# a test module importing ``conftest`` gets whichever conftest pytest loaded last under that name.
FAST_DISPATCHER_PARAMS: dict[str, Any] = {
    "store_path": "",  # memory only: no test sees another's operations; a test that needs a file names one
    "handshake_timeout": 1.0,
    "cooldown_seconds": 0.2,
    "max_retries": 5,
}
FAST_BUSINESS_LOGIC_PARAMS: dict[str, Any] = {}
FAST_SIM_ROBOT_PARAMS: dict[str, Any] = {"speed": 5.0}
WARM_UP_ATTEMPT = 0.5
"""Seconds the first warm-up request waits for its answer before the next copy is sent (doubling)."""


# ------------------------------------------------------- domain and processes

def claim_domain_id(domain_range: str | None = None) -> DomainClaim:
    """Claim a free domain id from ``domain_range`` ("lo-hi", default from
    $OD_TEST_DOMAIN_RANGE, else 10-39): :func:`operation_dispatcher_ros.processes.claim_domain`,
    the harness the demo and the benchmarks use too, with the tests' range."""
    return claim_domain(domain_range or os.environ.get("OD_TEST_DOMAIN_RANGE", TEST_DOMAINS))


# --------------------------------------------------------------------- client

class Recorder:
    """Every message received on one topic, with waits on them."""

    def __init__(self, describe: Callable[[Any], str] = repr) -> None:
        self.messages: list[Any] = []
        self._cond = threading.Condition()
        self._describe = describe

    def __call__(self, msg: Any) -> None:
        with self._cond:
            self.messages.append(msg)
            self._cond.notify_all()

    def snapshot(self) -> list[Any]:
        with self._cond:
            return list(self.messages)

    def wait_for(self, predicate: Callable[[Any], bool], timeout: float = 10.0, what: str = "a matching message") -> Any:
        """The first message (old or new) matching ``predicate``; AssertionError after ``timeout``."""
        return self.wait_for_count(predicate, 1, timeout, what)[0]

    def wait_for_count(
        self, predicate: Callable[[Any], bool], count: int, timeout: float = 10.0, what: str = "matching messages"
    ) -> list[Any]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = [m for m in self.messages if predicate(m)]
                if len(found) >= count:
                    return found[:count]
                left = deadline - time.monotonic()
                if left <= 0:
                    seen = "\n  ".join(self._describe(m) for m in self.messages[-30:]) or "(nothing)"
                    raise AssertionError(f"timed out after {timeout:g} s waiting for {count} x {what}; last seen:\n  {seen}")
                self._cond.wait(left)


def describe_event(event: Any) -> str:
    """One line per DispatchEvent message, for failure output and the demo."""
    op = f" {event.operation_id}" if event.operation_id else ""
    meta = f" {event.metadata_json}" if event.metadata_json not in ("", "{}") else ""
    return f"{event.event_type}{op}{meta}"


class EventRecorder(Recorder):
    """Recorder of ``dispatch_events`` with event-specific waits."""

    def __init__(self) -> None:
        super().__init__(describe_event)

    def wait_event(self, event_type: str, operation_id: str | None = None, timeout: float = 10.0, **metadata: Any) -> Any:
        """The first event of ``event_type`` (for ``operation_id``), whose metadata holds ``metadata``."""

        def match(e: Any) -> bool:
            if e.event_type != event_type or (operation_id is not None and e.operation_id != operation_id):
                return False
            meta = event_metadata(e)
            return all(meta.get(k) == v for k, v in metadata.items())

        what = f"{event_type}" + (f" for {operation_id}" if operation_id else "") + (f" with {metadata}" if metadata else "")
        return self.wait_for(match, timeout, what)

    def types_for(self, operation_id: str) -> list[str]:
        return [e.event_type for e in self.snapshot() if e.operation_id == operation_id]

    def of_type(self, event_type: str) -> list[Any]:
        return [e for e in self.snapshot() if e.event_type == event_type]


def event_metadata(event: Any) -> dict[str, Any]:
    return json.loads(event.metadata_json) if event.metadata_json else {}


class Hold:
    """Waits of callbacks for the test thread that leave their executor's thread free.

    A callback that blocks its thread (``Event.wait``) stops a
    SingleThreadedExecutor, and a MultiThreadedExecutor, the other way out,
    spins hot (see ``operation_dispatcher_ros.node_main``). So such a
    callback is a coroutine (``async def``; rclpy awaits service, action and
    subscription callbacks) that awaits :meth:`wait`: the executor serves
    other callbacks meanwhile and resumes the waiting ones once per pass, a
    check of a flag each. :meth:`release` (from any thread) ends waits and
    wakes the executor with a guard condition; each wait also ends after its
    ``limit`` (a timer of the node).
    """

    def __init__(self, node: Node) -> None:
        self._node = node
        self._lock = threading.Lock()
        self._waiting: dict[str, list[Future]] = {}
        self._released: set[str] = set()
        self._wake = node.create_guard_condition(lambda: None)  # its trigger starts a pass of the executor

    async def wait(self, key: str, limit: float) -> bool:
        """True once ``key`` is released (at once if it was before), False after ``limit`` seconds."""
        future: Future = Future()
        with self._lock:
            if key in self._released:
                return True
            self._waiting.setdefault(key, []).append(future)
        timer = self._node.create_timer(limit, lambda: self._settle(future, False))
        try:
            return bool(await future)
        finally:
            self._node.destroy_timer(timer)
            with self._lock:
                self._waiting[key].remove(future)

    def release(self, key: str) -> None:
        """End the waits on ``key``, now and to come."""
        with self._lock:
            self._released.add(key)
            futures = list(self._waiting.get(key, ()))
        self._end(futures)

    def release_all(self) -> None:
        """End every wait in progress (later ones wait as usual)."""
        with self._lock:
            futures = [f for waiting in self._waiting.values() for f in waiting]
        self._end(futures)

    def _end(self, futures: list[Future]) -> None:
        for future in futures:
            self._settle(future, True)
        self._wake.trigger()

    def _settle(self, future: Future, value: bool) -> None:
        with self._lock:  # a release and the timer may meet: the first one decides
            if not future.done():
                future.set_result(value)


class SpunNode:
    """A node of the test process, spun in a background thread by a SingleThreadedExecutor.

    Create the node's entities, then :meth:`spin_in_background`; :meth:`close`
    stops the executor and destroys the node (a subclass first ends whatever
    its callbacks wait for). Why one thread: see :class:`RosClient`.
    """

    def __init__(self, context: Any, name: str, namespace: str = "") -> None:
        self.node = Node(name, namespace=namespace or None, context=context)
        self.executor = SingleThreadedExecutor(context=context)
        self.executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, name=f"spin-{name}", daemon=True)

    def spin_in_background(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        try:
            self.executor.spin()
        except Exception:  # context shut down under us at teardown
            pass

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=2.0)
        self._thread.join(3.0)  # spin has returned once no callback blocks: nothing runs on the node any more
        self.node.destroy_node()


class RosClient(SpunNode):
    """The test's own node, spun in a background thread by a SingleThreadedExecutor.

    The test thread never spins: it sends requests and waits on threading
    primitives with timeouts while the executor delivers the answers.

    One thread, because rclpy's MultiThreadedExecutor spins hot for every
    callback it hands to its pool, and without pause while its pool is busy
    (see ``operation_dispatcher_ros.node_main``): with it (4 threads; Kilted,
    2 cores, six of the ROS test files) this process used 11-61 s of CPU in
    86-127 s, a whole core for seconds at a time, which the nodes under test
    were short of; single-threaded 5 s. So no callback on this node (or on a
    node added to :attr:`executor`) may block: one that must wait for the
    test awaits a :class:`Hold` instead, and a component that must block a
    thread on purpose gets a node and an executor of its own.
    """

    def __init__(self, context: Any, name: str = "test_client", namespace: str = "") -> None:
        super().__init__(context, name, namespace)
        self.namespace = namespace
        self._clients: dict[tuple[Any, str], Any] = {}
        self._action_clients: dict[tuple[Any, str], ActionClient] = {}
        self._warm: set[int] = set()  # ids of service clients known to be matched by their server
        self._dispatcher: Any = None
        self._diagnostics: Recorder | None = None
        self.spin_in_background()

    @property
    def dispatcher(self) -> Any:
        """The package's DispatcherClient on this node (made on first use): tests of behaviour use it as
        a user would; tests of the wire itself (error codes, raw responses) keep :meth:`call`."""
        if self._dispatcher is None:
            from operation_dispatcher_ros.client import DispatcherClient

            self._dispatcher = DispatcherClient(self.node, namespace=self.namespace, timeout=20.0)
        return self._dispatcher

    # services
    def client(self, srv_type: Any, name: str) -> Any:
        key = (srv_type, name)
        if key not in self._clients:
            self._clients[key] = self.node.create_client(srv_type, name, qos_profile=SERVICES_QOS)
        return self._clients[key]

    def wait_for_service(self, srv_type: Any, name: str, timeout: float = 15.0) -> None:
        """Wait until ``name`` is served, then warm this node's client of it (see :meth:`warm`).

        Call it again after the server restarted: a new server has to match
        the client anew."""
        client = self.client(srv_type, name)
        deadline = time.monotonic() + timeout
        if not client.wait_for_service(timeout_sec=timeout):
            raise AssertionError(f"service {self._full(name)} not available within {timeout:g} s")
        self._warm.discard(id(client))
        self.warm(srv_type, name, max(deadline - time.monotonic(), WARM_UP_ATTEMPT))

    def warm(self, srv_type: Any, name: str, timeout: float = 15.0) -> None:
        """Make sure the server has matched this client both ways before a real request.

        Fast DDS drops a request that arrives before the server matched the
        client's request writer, and the reply to one that arrives before it
        matched the client's reply reader ("failed to send response
        (timeout)"); wait_for_service only sees the client's side of the
        match. So the client sends a request that changes nothing (refused
        with VALIDATION, or read-only; see :func:`harmless_request`) until
        one is answered. A service with no harmless request (dispatcher
        start/stop/pause/resume, the robot's Triggers, handshakes) is warmed
        through its node instead: a fresh client of that node's
        ``get_parameters``, created after this client, is answered only once
        the server has processed the discovery data of every endpoint this
        process announced before it (in order, over one reliable channel).
        After this, no request of a test is ever the first on its client and
        nothing needs to be sent twice.
        """
        client = self.client(srv_type, name)
        if id(client) in self._warm:
            return
        deadline = time.monotonic() + timeout
        request = harmless_request(srv_type, name)
        if request is not None:
            _answer_once(client, request, deadline, self._full(name))
        else:
            self._warm_through_node(self._server_node(name, deadline), deadline)
        self._warm.add(id(client))

    def _server_node(self, name: str, deadline: float, action: bool = False) -> str:
        """The fully qualified name of the node serving service (or action) ``name``."""
        from rclpy.action.graph import get_action_server_names_and_types_by_node

        full = self._full(name)
        while True:
            for node_name, node_ns in self.node.get_node_names_and_namespaces():
                try:
                    if action:
                        offered = get_action_server_names_and_types_by_node(self.node, node_name, node_ns)
                    else:
                        offered = self.node.get_service_names_and_types_by_node(node_name, node_ns)
                except NodeNameNonExistentError:  # gone since the listing
                    continue
                if any(n == full for n, _ in offered):
                    return f"{node_ns.rstrip('/')}/{node_name}"
            if time.monotonic() > deadline:
                raise AssertionError(f"no node on the graph offers {full}")
            time.sleep(0.02)  # graph queries have no callback

    def _warm_through_node(self, node_fqn: str, deadline: float) -> None:
        """Warm every endpoint this process announced so far towards ``node_fqn``, with a
        fresh client of one of its harmless services (``get_parameters`` preferred)."""
        probe_type, probe_name = self._probe_service(node_fqn, deadline)
        probe = self.node.create_client(probe_type, probe_name, qos_profile=SERVICES_QOS)
        try:
            if not probe.wait_for_service(timeout_sec=max(deadline - time.monotonic(), 0.1)):
                raise AssertionError(f"{probe_name} not available")
            _answer_once(probe, harmless_request(probe_type, probe_name), deadline, probe_name)
        finally:
            self.node.destroy_client(probe)

    def _probe_service(self, node_fqn: str, deadline: float) -> tuple[Any, str]:
        namespace, _, name = node_fqn.rpartition("/")
        own_parameters = f"{node_fqn}/get_parameters"
        while True:
            candidates = []
            # The node's own get_parameters, found by its name in the whole graph: a lookup by node
            # name fails while a node of that name that stopped lingers on the graph (a dispatcher
            # that exited cleanly stays there until its DDS lease ends, 20 s), and a restart is
            # exactly when a test warms its clients anew.
            found = [(n, t) for n, t in self.node.get_service_names_and_types() if n == own_parameters]
            if found:
                offered = found
            else:
                try:
                    offered = self.node.get_service_names_and_types_by_node(name, namespace or "/")
                except NodeNameNonExistentError:  # not (or no longer) on the graph: look again until the deadline
                    offered = []
            for service, types in offered:
                srv_type = _import_type(types[0])
                if srv_type is not None and harmless_request(srv_type, service) is not None:
                    candidates.append((not service.endswith("/get_parameters"), service, srv_type))
            if candidates:
                _, service, srv_type = min(candidates, key=lambda c: (c[0], c[1]))
                return srv_type, service
            if time.monotonic() > deadline:
                raise AssertionError(f"{node_fqn} offers no service with a harmless request to warm up with")
            time.sleep(0.02)  # graph queries have no callback

    def call(self, srv_type: Any, name: str, request: Any = None, timeout: float = 10.0, **fields: Any) -> Any:
        """Call a service once and wait for the response (AssertionError on timeout).

        Sent exactly once, never repeated: the client is warmed first (see
        :meth:`warm`), so the request is not the first on its client, and
        the deep history of :data:`SERVICES_QOS` keeps replies to other
        clients from pushing this one out.
        """
        if request is None:
            request = srv_type.Request(**fields)
        client = self.client(srv_type, name)
        deadline = time.monotonic() + timeout
        if id(client) not in self._warm:
            if not client.wait_for_service(timeout_sec=timeout):
                raise AssertionError(f"service {self._full(name)} not available within {timeout:g} s")
            self.warm(srv_type, name, max(deadline - time.monotonic(), WARM_UP_ATTEMPT))
        future = client.call_async(request)
        try:
            return wait_future(future, max(deadline - time.monotonic(), 0.1), f"response of {self._full(name)}")
        except AssertionError:
            client.remove_pending_request(future)
            raise

    # actions
    def action_client(self, action_type: Any, name: str) -> ActionClient:
        key = (action_type, name)
        if key not in self._action_clients:
            self._action_clients[key] = GoalSafeActionClient(self.node, action_type, name)  # sent from the test thread
        return self._action_clients[key]

    def wait_for_action_server(self, action_type: Any, name: str, timeout: float = 15.0) -> ActionClient:
        """The action client of ``name``, once its server is up AND has matched it.

        An action is three services and two topics: the first goal of a
        fresh client meets the same race as a first service request, and
        there is no harmless goal. So the client is warmed through the
        server's node (see :meth:`warm`)."""
        client = self.action_client(action_type, name)
        deadline = time.monotonic() + timeout
        if not client.wait_for_server(timeout_sec=timeout):
            raise AssertionError(f"action server {self._full(name)} not available within {timeout:g} s")
        self._warm_through_node(self._server_node(name, deadline, action=True), deadline)
        return client

    # topics
    def record(self, msg_type: Any, topic: str, qos: QoSProfile | int = 10, recorder: Recorder | None = None) -> Recorder:
        recorder = recorder or Recorder()
        self.node.create_subscription(msg_type, topic, recorder, qos)
        return recorder

    def diagnostic_status(self, name: str, key: str, value: str, timeout: float = 30.0) -> Any:
        """The first /diagnostics status of ``name`` (a node's full name) whose ``key`` reads ``value``:
        what a node says of its own view, e.g. of the graph (the test's view can be ahead of it)."""
        from diagnostic_msgs.msg import DiagnosticArray

        if self._diagnostics is None:
            self._diagnostics = self.record(DiagnosticArray, "/diagnostics")

        def ours(message: Any) -> Any:
            return next((s for s in message.status if s.name == name), None)

        def match(message: Any) -> bool:
            status = ours(message)
            return status is not None and any(kv.key == key and kv.value == value for kv in status.values)

        return ours(self._diagnostics.wait_for(match, timeout, f"a status of {name} with {key} {value}"))

    def record_events(self, topic: str = "dispatch_events") -> EventRecorder:
        from operation_dispatcher_interfaces.msg import DispatchEvent

        recorder = EventRecorder()
        self.node.create_subscription(DispatchEvent, topic, recorder, EVENTS_QOS)
        self.warm_subscription(topic)
        return recorder

    def warm_subscription(self, topic: str, timeout: float = 10.0) -> None:
        """Once a publisher of ``topic`` is known, wait until it has matched our
        new subscription, so that nothing it publishes from now on is missed.

        count_publishers only shows our side of the match; the publisher's
        node answering a fresh ``get_parameters`` client, created after the
        subscription, shows that it processed the subscription's discovery
        data too (see :meth:`warm`). With no publisher yet (its node starts
        later) there is nothing to wait for here; then any later warm-up of
        a client to that node (e.g. :meth:`wait_for_service`) covers this
        subscription, which was announced before that client."""
        full = self._full(topic)
        deadline = time.monotonic() + timeout
        while True:  # an endpoint is seen before its node's name ("_NODE_NAME_UNKNOWN_") for a moment
            infos = self.node.get_publishers_info_by_topic(full)
            if all(i.node_namespace.startswith("/") for i in infos):
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"the node of a publisher on {full} stayed unknown")
            time.sleep(0.02)  # graph queries have no callback
        # One fqn per node (a killed and a restarted node share it; the live one answers).
        for node_fqn in sorted({f"{i.node_namespace.rstrip('/')}/{i.node_name}" for i in infos}):
            self._warm_through_node(node_fqn, deadline)

    def wait_for_publishers(self, topic: str, count: int = 1, timeout: float = 10.0) -> None:
        """Wait until ``count`` publishers exist on ``topic`` (discovery done)."""
        full = self._full(topic)
        wait_until(lambda: self.node.count_publishers(full) >= count, timeout, f"{count} publisher(s) on {full}")

    wait_for_subscribers = wait_for_publishers  # the first, misleading name; kept for callers

    def _full(self, name: str) -> str:
        return name if name.startswith("/") else f"/{self.namespace.strip('/')}/{name}".replace("//", "/")


def harmless_request(srv_type: Any, name: str) -> Any:
    """A request to ``name`` that changes nothing, or None when there is none.

    The dispatcher refuses an empty add or an empty operation id with
    VALIDATION before touching anything; queries and parameter reads are
    read-only."""
    from operation_dispatcher_ros.client import harmless_request as dispatcher_harmless

    request = dispatcher_harmless(name.rsplit("/", 1)[-1] if not name.startswith("dispatcher/") else name)
    if request is not None:  # the dispatcher's own services: the client's table
        return request
    type_name = srv_type.__name__
    if type_name in ("ListParameters", "DescribeParameters", "GetParameterTypes"):
        return srv_type.Request()
    if type_name == "GetParameters":
        return srv_type.Request(names=[])
    if type_name == "SetParameters":
        return srv_type.Request(parameters=[])
    return None


def _import_type(type_name: str) -> Any:
    """The Python class of a ``pkg/srv/Name`` type string, or None."""
    import importlib

    try:
        package, kind, name = type_name.split("/")
        return getattr(importlib.import_module(f"{package}.{kind}"), name)
    except (ValueError, ImportError, AttributeError):
        return None


def _answer_once(client: Any, request: Any, deadline: float, what: str) -> Any:
    """Send a harmless ``request`` until one copy is answered (the warm-up); each try
    waits twice as long as the one before, so a busy server is not flooded."""
    attempt = WARM_UP_ATTEMPT
    while True:
        future = client.call_async(request)
        left = deadline - time.monotonic()
        try:
            return wait_future(future, max(min(attempt, left), 0.01), "warm-up answer")
        except AssertionError:
            client.remove_pending_request(future)
            attempt *= 2
        if time.monotonic() > deadline:
            raise AssertionError(f"no answer from {what} to a warm-up request before the deadline")


def wait_future(future: Any, timeout: float, what: str) -> Any:
    """Wait on an rclpy future from a non-executor thread."""
    done = threading.Event()
    future.add_done_callback(lambda _f: done.set())
    if not done.wait(timeout):
        raise AssertionError(f"no {what} within {timeout:g} s")
    return future.result()


def wait_until(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.02) -> T:
    """Poll ``condition`` (for graph queries, which have no callback) until truthy or timeout; returns its value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)
    return value


def first_index(items: Iterable[Any], predicate: Callable[[Any], bool]) -> int:
    for i, item in enumerate(items):
        if predicate(item):
            return i
    raise ValueError("no item matches")
