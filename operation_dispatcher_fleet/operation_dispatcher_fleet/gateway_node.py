"""``fleet_gateway_node``: every dispatcher on the ROS graph, behind one HTTP port.

    ros2 run operation_dispatcher_fleet fleet_gateway_node --ros-args -p http_port:=8090

Nothing to configure per robot: every ``discovery_period`` the node looks
for topics named ``<namespace>/dispatcher_state`` of type
``operation_dispatcher_interfaces/msg/DispatcherState``. For each one found
it keeps a :class:`~operation_dispatcher_ros.client.DispatcherClient` on
this node (the calls of the REST and MCP doors), the latched state (what
``GET /robots`` shows, updated the moment a dispatcher publishes a change),
the robot's ``pose`` (geometry_msgs/PoseStamped, for placement and the map)
and its ``dispatch_events`` (the merged live stream and the fleet history).
Each dispatcher's ``/diagnostics`` status, sent once a second, is both its
health (OK, WARN, ERROR, with the dispatcher's own message) and its
heartbeat: a robot not heard from for ``lost_after`` seconds, or whose
state topic has no publisher any more, is shown as lost (STALE). DDS alone
would take its participant lease (20 s with Fast DDS's defaults) to notice
a process that was killed. The robot comes back, with its queue, when its
dispatcher does.

Threads: one SingleThreadedExecutor spins the node (graph scans, state,
pose and event callbacks: all short); uvicorn serves the HTTP doors on a
thread and loop of their own, and their handlers call the dispatchers'
services from worker threads, blocking on answers the executor delivers;
one writer thread records events in the history, so a slow database holds
up neither. The lock guards the robots table, which all three touch.

Parameters: ``http_host`` (127.0.0.1), ``http_port`` (8090),
``http_token`` (required beyond loopback; also $OPERATION_DISPATCHER_TOKEN),
``placement`` (see :mod:`.placement`), ``history_dsn`` (PostgreSQL; empty:
SQLite at ``history_path``), ``discovery_period`` (s), ``request_timeout``
(s, per call to a dispatcher).
"""

from __future__ import annotations

import asyncio
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node

from operation_dispatcher import (
    DispatcherError,
    DispatchEvent,
    NotFoundError,
    Operation,
    UnavailableError,
    ValidationError,
    parse_operations,
)
from operation_dispatcher_interfaces import msg
from operation_dispatcher_ros import conversions as conv
from operation_dispatcher_ros.client import DispatcherClient
from operation_dispatcher_ros.node_main import ConfigurationError, run_node
from operation_dispatcher_ros.qos import STATE_QOS

from .history import FleetHistory
from .placement import Candidate, Policy, load_policy
from .remote import snapshot_from_state

STATE_TOPIC = "dispatcher_state"
STATE_TYPE = "operation_dispatcher_interfaces/msg/DispatcherState"
PLACEHOLDER_RESOURCE = "fleet"
"""The resource id an operation without one is validated with before the gateway places it."""

PARAMETERS: dict[str, tuple[Any, str]] = {
    "http_host": ("127.0.0.1", "Address the HTTP doors bind; beyond loopback a token is required."),
    "http_port": (8090, "Port of the HTTP doors (REST, MCP at /mcp, the fleet dashboard at /)."),
    "http_token": ("", "Bearer token of the HTTP doors; empty: $OPERATION_DISPATCHER_TOKEN, else none (loopback only)."),
    "placement": ("nearest_idle", "Who takes an operation added without a robot: least_queued, nearest_idle or module:function."),
    "history_dsn": ("", "PostgreSQL connection string of the fleet history; empty: SQLite at history_path."),
    "history_path": ("~/.ros/operation_dispatcher/fleet_history.db", "SQLite file of the fleet history (when history_dsn is empty)."),
    "discovery_period": (0.5, "Seconds between looks at the graph for dispatchers that appeared or vanished."),
    "request_timeout": (10.0, "Seconds a call to one dispatcher may take (discovery, warm-up, answer)."),
    "lost_after": (3.0, "Seconds without a /diagnostics status or state from a dispatcher after which it is shown as lost."),
}
LEVELS = {0: "OK", 1: "WARN", 2: "ERROR", 3: "STALE"}
"""diagnostic_msgs/DiagnosticStatus levels by name."""


class UnknownRobotError(NotFoundError):
    """No robot with that resource id has been seen on the graph (NOT_FOUND, ``details.robot``)."""

    def __init__(self, resource_id: str) -> None:
        DispatcherError.__init__(self, f"no robot {resource_id!r} in the fleet (GET /robots lists them)", robot=resource_id)
        self.operation_id = ""


@dataclass
class Robot:
    """What the gateway knows of one dispatcher."""

    namespace: str
    client: DispatcherClient
    state: msg.DispatcherState | None = None
    pose: tuple[float, float] | None = None
    online: bool = True
    placed: int = 0
    """Operations this gateway added there since its last state message."""
    changed_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    heard_at: float = field(default_factory=time.monotonic)
    """When its last /diagnostics status or state arrived (monotonic)."""
    diagnostic: tuple[str, str] | None = None
    """The level and message of its last /diagnostics status."""
    last_sequence: int = 0
    """The highest event number recorded in the history from this robot."""

    @property
    def resource_id(self) -> str:
        return self.state.resource_id if self.state is not None and self.state.resource_id else self.namespace.strip("/")

    def work(self) -> int:
        queued = self.state.queue_length if self.state is not None else 0
        active = 1 if self.state is not None and self.state.current_operation_id else 0
        return queued + active + self.placed

    def view(self) -> dict[str, Any]:
        """The robot as ``GET /robots`` and MCP ``list_robots`` show it."""
        state = self.state
        return {
            "resource_id": self.resource_id,
            "namespace": self.namespace,
            "online": self.online,
            "health": _health(self),
            "changed_at": self.changed_at.isoformat(),
            "pose": {"x": self.pose[0], "y": self.pose[1]} if self.pose is not None else None,
            "state": _state_json(state) if state is not None else None,
        }


def _health(robot: Robot) -> dict[str, str]:
    """The dispatcher's own /diagnostics level and message; STALE while lost or not heard yet."""
    if not robot.online:
        return {"level": "STALE", "message": "lost: not heard from (no /diagnostics, no state publisher)"}
    if robot.diagnostic is None:
        return {"level": "STALE", "message": "found; its /diagnostics status has not arrived yet"}
    level, message = robot.diagnostic
    return {"level": level, "message": message}


def _state_json(state: msg.DispatcherState) -> dict[str, Any]:
    return {
        "status": state.status_name,
        "current_operation_id": state.current_operation_id or None,
        "current_progress": round(float(state.current_progress), 4),
        "queue_length": state.queue_length,
        "counts": {
            name: getattr(state, f"{name.lower()}_count")
            for name in ("QUEUED", "RUNNING", "PAUSED", "COMPLETED", "FAILED", "CANCELLED")
        },
        "consecutive_denials": state.consecutive_denials,
        "paused_reason": state.paused_reason or None,
        "stamp": (conv.time_to_datetime(state.stamp) or datetime(1970, 1, 1, tzinfo=timezone.utc)).isoformat(),
    }


class FleetGateway(Node):
    """Finds the dispatchers, follows them, and serves them as one fleet (see the module's docstring)."""

    executor_threads = 1

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("fleet_gateway", **kwargs)
        for name, (default, description) in PARAMETERS.items():
            self.declare_parameter(name, default, ParameterDescriptor(description=description, read_only=True))
        p = {name: self.get_parameter(name).value for name in PARAMETERS}
        try:
            self._policy: Policy = load_policy(p["placement"])
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        for name in ("discovery_period", "request_timeout", "lost_after"):
            if not p[name] > 0:
                raise ConfigurationError(f"{name}: must be > 0 seconds; got {p[name]}")
        self.request_timeout: float = p["request_timeout"]
        self._lost_after: float = p["lost_after"]
        self._lock = threading.Lock()
        self._place_lock = threading.Lock()  # one placement at a time: each sees the ones before
        self._robots: dict[str, Robot] = {}  # by namespace
        self._listeners: list[Callable[[DispatchEvent], None]] = []
        self.history = FleetHistory.open(p["history_dsn"] or None, sqlite_path=Path(p["history_path"]).expanduser())
        self._writes: queue.SimpleQueue[tuple[Robot, DispatchEvent | None] | None] = queue.SimpleQueue()  # None: stop
        self._writer = threading.Thread(target=self._write_history, name="fleet-history", daemon=True)
        self._writer.start()
        self._http = self._http_server(p)
        self._http_thread = threading.Thread(target=lambda: asyncio.run(self._http.serve()), name="fleet-http", daemon=True)
        self._http_thread.start()
        self.create_subscription(DiagnosticArray, "/diagnostics", self._on_diagnostics, 50)
        self._discover()
        self.create_timer(p["discovery_period"], self._discover)
        self.get_logger().info(
            f"fleet gateway on http://{p['http_host']}:{p['http_port']} (placement {p['placement']}, history {self.history.backend})"
        )

    # ------------------------------------------------------------ discovery

    def _discover(self) -> None:
        """Follow every dispatcher state topic on the graph; mark those without a publisher lost."""
        for topic, types in self.get_topic_names_and_types():
            if STATE_TYPE not in types or not (topic == f"/{STATE_TOPIC}" or topic.endswith(f"/{STATE_TOPIC}")):
                continue
            namespace = topic[: -len(STATE_TOPIC) - 1] or "/"
            published = self.count_publishers(topic) > 0
            with self._lock:
                robot = self._robots.get(namespace)
            if robot is None:
                if published:
                    self._follow(namespace, topic)
                continue
            online = published and time.monotonic() - robot.heard_at < self._lost_after
            if robot.online != online:
                with self._lock:
                    robot.online = online
                    robot.changed_at = datetime.now(timezone.utc)
                self.get_logger().info(f"{robot.resource_id} ({namespace}) is {'back' if online else 'lost'}")
                if online:
                    self._writes.put((robot, None))  # catch up on what it did while away

    def _follow(self, namespace: str, state_topic: str) -> None:
        client = DispatcherClient(self, namespace=namespace.strip("/"), timeout=self.request_timeout)
        robot = Robot(namespace=namespace, client=client)
        with self._lock:
            self._robots[namespace] = robot
        prefix = namespace.rstrip("/")
        self.create_subscription(msg.DispatcherState, state_topic, lambda m: self._on_state(robot, m), STATE_QOS)
        self.create_subscription(PoseStamped, f"{prefix}/pose", lambda m: self._on_pose(robot, m), 10)
        client.on_event(lambda m: self._on_event(robot, m))
        self._writes.put((robot, None))  # read the history it already has
        self.get_logger().info(f"following the dispatcher in {namespace}")

    def _on_state(self, robot: Robot, state: msg.DispatcherState) -> None:
        with self._lock:
            robot.state = state
            robot.placed = 0
            robot.heard_at = time.monotonic()
            robot.changed_at = datetime.now(timezone.utc)

    def _on_diagnostics(self, array: DiagnosticArray) -> None:
        """A dispatcher's status (named ``<namespace>/dispatcher``): its health, and that it is alive."""
        for status in array.status:
            namespace = status.name.rpartition("/")[0] or "/"
            with self._lock:
                robot = self._robots.get(namespace)
                if robot is not None:
                    robot.heard_at = time.monotonic()
                    level = int.from_bytes(status.level, "little") if isinstance(status.level, bytes) else int(status.level)
                    robot.diagnostic = (LEVELS.get(level, str(level)), status.message)

    def _on_pose(self, robot: Robot, pose: PoseStamped) -> None:
        with self._lock:
            robot.pose = (pose.pose.position.x, pose.pose.position.y)

    def _on_event(self, robot: Robot, message: msg.DispatchEvent) -> None:
        try:
            event = conv.event_from_msg(message)
        except ValidationError as exc:
            self.get_logger().warning(f"{robot.namespace}: dropped an unreadable event: {exc}")
            return
        self._writes.put((robot, event))
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            listener(event)

    # ------------------------------------------------------------ history

    def _write_history(self) -> None:
        """Record events as they come; read a robot's event log where numbers were skipped (or on discovery)."""
        while True:
            item = self._writes.get()
            if item is None:
                return
            robot, event = item
            try:
                if event is None or (event.sequence is not None and event.sequence > robot.last_sequence + 1):
                    self._catch_up(robot)
                elif event.sequence is None or event.sequence > robot.last_sequence:
                    self.history.record(event.resource_id, [event.model_dump(mode="json")])
                    robot.last_sequence = max(robot.last_sequence, event.sequence or 0)
            except Exception as exc:  # a database that went away must not end the thread
                self.get_logger().error(f"fleet history: {exc!r}")

    def _catch_up(self, robot: Robot) -> None:
        """Record what the history lacks of the robot's event log: everything after its highest number there."""
        resource_id = robot.client.state().resource_id  # the dispatcher's own name, also before its state topic arrived
        if robot.last_sequence == 0:
            robot.last_sequence = self.history.last_sequence(resource_id)
        while True:
            page = robot.client.get_event_log(after=robot.last_sequence, limit=1000)
            events = [conv.event_from_msg(m).model_dump(mode="json") for m in page.events]
            if events:
                self.history.record(resource_id, events)
            robot.last_sequence = max(robot.last_sequence, page.next_after_sequence)
            if not events or robot.last_sequence >= page.last_sequence:
                return

    # ------------------------------------------------------------ what the doors use

    def robots(self) -> list[dict[str, Any]]:
        with self._lock:
            robots = sorted(self._robots.values(), key=lambda r: r.resource_id)
            return [r.view() for r in robots]

    def _robot(self, resource_id: str) -> Robot:
        with self._lock:
            robot = next((r for r in self._robots.values() if r.resource_id == resource_id), None)
        if robot is None:
            raise UnknownRobotError(resource_id)
        return robot

    def robot(self, resource_id: str) -> dict[str, Any]:
        """One robot's view; NotFoundError for a robot never seen."""
        robot = self._robot(resource_id)
        with self._lock:
            return robot.view()

    def robot_state_message(self, resource_id: str) -> dict[str, Any]:
        """The periodic ``state`` message of one robot's own event stream, from its latched state (no call)."""
        robot = self._robot(resource_id)
        with self._lock:
            state = robot.state
        return {"dispatcher": snapshot_from_state(state).model_dump(mode="json") if state is not None else None, "current": None}

    def client(self, resource_id: str) -> DispatcherClient:
        """The client of one robot; NotFoundError for a robot never seen, UnavailableError for a lost one."""
        robot = self._robot(resource_id)
        if not robot.online:
            raise UnavailableError(f"robot {resource_id!r} is lost: its dispatcher does not answer; try again when it is back")
        return robot.client

    def subscribe(self, listener: Callable[[DispatchEvent], None], robot: str | None = None) -> Callable[[], None]:
        """Every robot's events (or one ``robot``'s) as they arrive, on the executor's thread; returns what unsubscribes."""
        if robot is not None:
            every = listener

            def listener(event: DispatchEvent) -> None:
                if event.resource_id == robot:
                    every(event)

        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def place(self, objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """Add operations to the robots the policy picks; ``[{"operation_id", "robot", "added"}]``.

        All are validated (the core's rules, as every door) before any is
        sent; an operation naming a ``resource_id`` goes to that robot. Each
        is placed and added in turn, so each placement sees the ones before;
        an add a robot refuses stops there and raises (those before it stay added,
        and the error says how many).
        """
        if not objects:
            raise ValidationError("operations: must not be empty", field="operations")
        operations = parse_operations([{"resource_id": PLACEHOLDER_RESOURCE, **item} if isinstance(item, dict) else item for item in objects])
        placed: list[dict[str, Any]] = []
        with self._place_lock:
            for index, op in enumerate(operations):
                robot = self._choose(op)
                try:
                    [outcome] = robot.client.add([op.model_copy(update={"resource_id": robot.resource_id})])
                except Exception as exc:
                    if placed:
                        exc.args = (f"{exc.args[0] if exc.args else exc} ({index} of {len(operations)} were added before: {placed})",)
                    raise
                with self._lock:
                    robot.placed += 1 if outcome.added else 0
                placed.append({"operation_id": outcome.operation_id, "robot": robot.resource_id, "added": outcome.added})
        return placed

    def _choose(self, op: Operation) -> Robot:
        with self._lock:
            ready = {
                r.resource_id: r
                for r in self._robots.values()
                if r.online and r.state is not None and r.state.status != msg.DispatcherState.STOPPED
            }
            candidates = [Candidate(r.resource_id, r.work(), r.pose) for r in ready.values()]
        if op.resource_id != PLACEHOLDER_RESOURCE:
            if op.resource_id not in ready:
                self._robot(op.resource_id)  # UnknownRobotError for a robot the fleet does not have
                raise UnavailableError(f"robot {op.resource_id!r} cannot take work now (lost, or its dispatcher is stopped)")
            return ready[op.resource_id]
        if not candidates:
            raise UnavailableError("no robot can take work now (none found, all lost or stopped)")
        chosen = self._policy(op, sorted(candidates, key=lambda c: c.resource_id))
        if chosen not in ready:
            raise UnavailableError(f"the placement policy chose no robot that can take work (it answered {chosen!r})")
        return ready[chosen]

    # ------------------------------------------------------------ HTTP and shutdown

    def _http_server(self, p: dict[str, Any]) -> Any:
        import uvicorn

        from operation_dispatcher.api import TOKEN_ENV, check_bind

        from .gateway_app import create_gateway_app

        token = p["http_token"] or os.environ.get(TOKEN_ENV) or None
        try:
            check_bind(p["http_host"], token)
        except ValueError as exc:
            raise ConfigurationError(f"http_host: {exc}") from None
        app = create_gateway_app(self, token=token, host=p["http_host"])
        config = uvicorn.Config(app, host=p["http_host"], port=p["http_port"], log_level="warning", lifespan="on")
        return uvicorn.Server(config)

    def destroy_node(self) -> None:
        if getattr(self, "_http", None) is not None:
            self._http.should_exit = True
            self._http_thread.join(5.0)
            self._http = None
            self._writes.put(None)
            self._writer.join(5.0)
            with self._lock:
                robots = list(self._robots.values())
            for robot in robots:
                robot.client.close()
            self.history.close()
        super().destroy_node()


def main(args: list[str] | None = None) -> int:
    return run_node(FleetGateway, args)


if __name__ == "__main__":
    raise SystemExit(main())
