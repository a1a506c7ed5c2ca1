"""``fleet_rules_node``: one business logic for a whole fleet, deciding with fleet-wide state.

The seed's handshake idea applied to a fleet: every robot's dispatcher asks
before it starts, cancels, pauses or resumes, and this one node answers all
of them, so a rule may depend on what the *other* robots do (how many run,
who is at which station). The rules themselves are :mod:`.fleet_rules`
(pure Python, unit-tested without ROS); this module is the glue.

For each robot namespace of ``robots`` it serves (absolute names, so the
node's own namespace does not matter) ``/<robot>/handshake/start``,
``/<robot>/handshake/cancel``, ``/<robot>/handshake/pause`` and
``/<robot>/handshake/resume``: the dispatcher's default handshake names in
that namespace. The serving, the de-duplication of re-sent requests and the
coercion of answers are ``BusinessLogicNode``'s, given the namespaces; this
node only overrides ``decide``, which learns which robot asked from the
service the request came on (a dispatcher's ``resource_id`` need not be its
namespace). It follows each robot through

- ``/<robot>/dispatch_events`` (EVENTS_QOS): starts, ends, denials, the
  dispatcher's own start and stop, which hold and free the slots;
- ``/<robot>/dispatcher_state`` (STATE_QOS, latched): the current operation,
  which counts what already runs when this node (re)starts, and frees a slot
  whose end event was lost. Until every other robot has delivered one (at
  most :data:`STARTUP_STATE_WAIT` s after the start, for a dispatcher that is
  not running), starts are answered not ready: an approval made before
  would not count what already runs (seen in the restart test: the first
  request came before the other robot's state). The log says "fleet state
  known" once every robot's state has come;
- the graph: a robot whose dispatcher has had no ``dispatch_events``
  publisher for ``release_lost_after`` seconds has its slot freed, with a
  warning. A dispatcher that exits leaves the graph at once, a killed one
  after its DDS lease (about 20 s more). The default, 60 s, outlasts a
  respawn (whose recovery settles the operation with an event of its own)
  and still keeps a fleet from stalling for good behind a robot whose
  dispatcher never returns; its robot may still be driving its last goal,
  which is why 0 (keep the slot until the dispatcher is back) is offered.

Decisions: START by the fleet rules (approve, or *not ready* with a reason
naming the rule, e.g. "2 of 2 fleet slots taken (robot_1, robot_3)"; not
ready rather than denied, because a full fleet is no reason to give up and
a dispatcher pauses itself after ``max_retries`` denials; waiting robots are
served in the order they first asked); cancel, pause and resume are
approved (a paused operation keeps its slot).

Parameters (validated at start; a bad value exits with status 2 naming it):

======================== ========== ========================================================
``robots``               (required) string array of robot namespaces, e.g. [robot_1, robot_2]
``max_running``          0          robots that may hold an operation at once; 0 = no limit
                                    (may be changed at runtime; a lower value frees nobody)
``station_key``          "station"  the payload key naming a station one robot at a time uses
``release_lost_after``   60.0       s without a dispatcher on the graph before its robot's
                                    slot is freed; 0 = keep it until the dispatcher is back
======================== ========== ========================================================

Spun by one thread (``executor_threads = 1``, as ``BusinessLogicNode``):
decisions, events and the graph check never run concurrently, so the state
needs no locks.
"""

from __future__ import annotations

import time
from typing import Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.parameter import Parameter

from operation_dispatcher import Decision
from operation_dispatcher_interfaces.msg import DispatcherState, DispatchEvent, Operation
from operation_dispatcher_ros.business_logic import BusinessLogicNode, DecisionLike, payload_of
from operation_dispatcher_ros.node_main import ConfigurationError, run_node
from operation_dispatcher_ros.qos import EVENTS_QOS, STATE_QOS

from .fleet_rules import FleetRules, check_max_running, event_position, robot_names

STARTUP_STATE_WAIT = 5.0
"""Seconds after the start during which a START waits for the robots' latched dispatcher_state."""

GRAPH_CHECK_PERIOD = 1.0
"""Seconds between looks at the graph for lost dispatchers, while some robot holds a slot."""

PARAMETERS: dict[str, tuple[Any, ParameterDescriptor]] = {
    "robots": (
        Parameter.Type.STRING_ARRAY,
        ParameterDescriptor(description="Robot namespaces whose handshakes this node serves, e.g. [robot_1, robot_2].", read_only=True),
    ),
    "max_running": (
        0,
        ParameterDescriptor(
            description="Robots that may hold an operation (approved, running or paused) at once; 0 = no limit.",
            integer_range=[IntegerRange(from_value=0, to_value=1_000_000, step=1)],
        ),
    ),
    "station_key": (
        "station",
        ParameterDescriptor(description="Payload key naming a station that one robot at a time may use.", read_only=True),
    ),
    "release_lost_after": (
        60.0,
        ParameterDescriptor(
            description="Seconds a robot's dispatcher may be gone from the graph before its slot is freed; 0 = never.",
            floating_point_range=[FloatingPointRange(from_value=0.0, to_value=86_400.0)],
        ),
    ),
}


def _seconds(stamp: Any) -> float:
    return float(stamp.sec) + stamp.nanosec / 1e9


class FleetRulesNode(BusinessLogicNode):
    """Serves every robot's handshakes and decides starts with :class:`FleetRules`."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("fleet_rules", namespaces=None, **kwargs)  # served once the robots are known
        for name, (default, descriptor) in PARAMETERS.items():
            self.declare_parameter(name, default, descriptor)
        try:
            robots = robot_names(self.get_parameter("robots").value)
        except ParameterUninitializedException:
            raise ConfigurationError("robots: required; name the robot namespaces, e.g. robots:='[robot_1, robot_2]'") from None
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        max_running = self.get_parameter("max_running").value
        station_key = self.get_parameter("station_key").value
        try:
            self.rules = FleetRules(max_running, station_key)
        except ValueError as exc:
            raise ConfigurationError(str(exc)) from None
        self.robots = robots
        self._release_lost_after = float(self.get_parameter("release_lost_after").value)
        self._started = time.monotonic()
        self._lost_since: dict[str, float] = {}  # robot -> monotonic time its dispatcher was first seen gone
        self.add_on_set_parameters_callback(self._on_set_parameters)
        for robot in robots:
            self.create_subscription(DispatchEvent, f"/{robot}/dispatch_events", self._event_callback(robot), EVENTS_QOS)
            self.create_subscription(DispatcherState, f"/{robot}/dispatcher_state", self._state_callback(robot), STATE_QOS)
        self._graph_timer = self.create_timer(GRAPH_CHECK_PERIOD, self._check_graph)
        self._graph_timer.cancel()  # armed while some robot holds a slot
        self.serve_handshakes([f"/{robot}" for robot in robots])
        limit = f"at most {max_running} running" if max_running else "no limit on running robots"
        self.get_logger().info(
            f"fleet business logic ready for {len(robots)} robots ({', '.join(robots)}): {limit}, "
            f"one robot at a time per payload {station_key!r}"
        )

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        for parameter in parameters:
            if parameter.name == "max_running":
                try:
                    check_max_running(parameter.value)
                except ValueError as exc:
                    return SetParametersResult(successful=False, reason=str(exc))
        for parameter in parameters:
            if parameter.name == "max_running":
                self.rules.max_running = parameter.value
                self.get_logger().info(f"max_running is now {parameter.value} ({len(self.rules.holders())} slots held)")
            elif parameter.name == "release_lost_after":
                self._release_lost_after = float(parameter.value)
        return SetParametersResult(successful=True)

    # ------------------------------------------------------------------ deciding

    def decide(self, kind: str, namespace: str, event: DispatchEvent, operation: Operation) -> DecisionLike:
        if kind != "start":
            return True  # cancel, pause, resume: approved (a paused operation keeps its slot)
        robot = namespace.strip("/")
        waiting = self._states_missing(robot)
        if waiting:
            return Decision.later(
                f"fleet state not known yet: waiting for the dispatcher_state of {', '.join(waiting)}",
                data={"rule": "fleet", "waiting_for": waiting},
            )
        position = event_position(event.id, event.sequence)
        before = self.rules.holds.get(robot)
        decision = self.rules.decide_start(robot, operation.id or event.operation_id, payload_of(operation), position)
        if before is not None:
            self.get_logger().info(f"freed the slot of {before.describe(robot)}: it asks to start {operation.id or event.operation_id}")
        self._arm_graph_check()
        return decision

    def _states_missing(self, asking: str) -> list[str]:
        """The other robots whose state this node has not had yet (for a while after the start; the
        one asking runs nothing, or it would not ask). Every robot, not only those whose publisher
        the graph shows: a node just (re)started may not see a running dispatcher's publisher yet
        (it then approved a second start beside one already running, max_running 1, in a test run)."""
        if time.monotonic() - self._started > STARTUP_STATE_WAIT:
            return []
        return [robot for robot in self.robots if robot != asking and not self.rules.state_seen(robot)]

    # ------------------------------------------------------------------ following

    def _event_callback(self, robot: str) -> Any:
        def callback(event: DispatchEvent) -> None:
            changed = self.rules.on_event(
                robot, event.event_type, event.operation_id, event_position(event.id, event.sequence), _seconds(event.stamp)
            )
            self._report(changed)

        return callback

    def _state_callback(self, robot: str) -> Any:
        def callback(state: DispatcherState) -> None:
            first = not self.rules.state_seen(robot)
            self._report(self.rules.on_state(robot, state.current_operation_id, _seconds(state.stamp)))
            if first and all(self.rules.state_seen(r) for r in self.robots):
                self.get_logger().info(f"fleet state known: the dispatcher_state of all {len(self.robots)} robots")

        return callback

    def _report(self, changed: str | None) -> None:
        if changed is None:
            return
        if "without a fleet approval" in changed:
            self.get_logger().warning(changed)
        else:
            self.get_logger().info(changed)
        self._arm_graph_check()

    # ------------------------------------------------------------------ lost dispatchers

    def _arm_graph_check(self) -> None:
        """The graph is looked at only while a slot is held and freeing lost ones is on."""
        wanted = bool(self.rules.holders()) and self._release_lost_after > 0
        if wanted and self._graph_timer.is_canceled():
            self._graph_timer.reset()
        elif not wanted and not self._graph_timer.is_canceled():
            self._graph_timer.cancel()

    def _check_graph(self) -> None:
        now = time.monotonic()
        for robot in self.rules.holders():
            if self.count_publishers(f"/{robot}/dispatch_events") > 0:
                self._lost_since.pop(robot, None)
                continue
            gone = now - self._lost_since.setdefault(robot, now)
            if self._release_lost_after > 0 and gone >= self._release_lost_after:
                changed = self.rules.release(robot, f"its dispatcher is gone from the graph for {gone:.0f} s (release_lost_after)")
                if changed:
                    self.get_logger().warning(changed)
                self._lost_since.pop(robot, None)
        self._arm_graph_check()

    def status(self) -> dict[str, Any]:
        """The holds, for logs and tests: robot -> {operation_id, phase, station}."""
        return {r: {"operation_id": h.operation_id, "phase": h.phase, "station": h.station} for r, h in self.rules.holds.items()}


def main(args: list[str] | None = None) -> int:
    return run_node(FleetRulesNode, args)


if __name__ == "__main__":
    raise SystemExit(main())

