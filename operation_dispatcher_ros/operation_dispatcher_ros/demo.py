"""`make demo` / `make demo-nav2`: real node processes, three transports, the event flow.

Starts the installed ``sim_robot_node``, ``business_logic_node`` and
``dispatcher_node`` as separate processes (a ROS domain of its own, claimed
from 60-99, and discovery on localhost only: see
:mod:`operation_dispatcher_ros.processes`), adds three transport operations with a
:class:`~operation_dispatcher_ros.client.DispatcherClient` and prints one
line per event, with the robot's progress and status, until all three are
COMPLETED. Then it stops the nodes (also on Ctrl-C). Bounded: gives up after
``--timeout`` seconds.

With ``--nav2`` the chain is the one of operation_dispatcher_nav2's
sim_nav2.launch.py: the sim robot serves Nav2's actions (``serve: nav2``)
and ``nav2_executor_node`` stands between it and the dispatcher; the demo
also prints the Nav2 side, every change of a NavigateToPose /
NavigateThroughPoses goal's status (from the actions' status topics).

    python -m operation_dispatcher_ros.demo [--nav2] [--timeout 60] [--speed 2.0]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from operation_dispatcher import DispatcherError

from .processes import DEMO_DOMAINS, ProcessGroup, claim_domain

NAMESPACE = "demo_robot"
TERMINAL = {"OPERATION_COMPLETED", "OPERATION_FAILED", "OPERATION_CANCELLED"}
TRANSPORTS = [  # (id, priority, pickup, dropoff)
    ("pallet-low", 1, (1.0, 0.0), (2.0, 1.0)),
    ("pallet-urgent", 10, (0.0, 1.0), (2.0, 2.0)),
    ("pallet-normal", 5, (1.0, 2.0), (0.0, 0.0)),
]


NAV2_ACTIONS = {"navigate_to_pose": "NavigateToPose", "navigate_through_poses": "NavigateThroughPoses"}
"""The sim robot's Nav2 actions in --nav2 mode (relative names), whose status topics the demo follows."""


def _start_nodes(nodes: ProcessGroup, speed: float, nav2: bool) -> None:
    params: dict[str, dict[str, Any]] = {
        "sim_robot_node": {"speed": speed, "serve": "nav2"} if nav2 else {"speed": speed},
        # Deny the first start, so the demo shows a denial with its reason and the retry after the cooldown.
        "business_logic_node": {"rule": "deny_first_n", "deny_count": 1},
        # Memory only: every demo starts from an empty queue (a node's default keeps a file in ~/.ros).
        "dispatcher_node": {"cooldown_seconds": 1.0, "handshake_timeout": 2.0, "store_path": ""},
    }
    for executable, values in params.items():
        nodes.start(executable, NAMESPACE, values)
        if nav2 and executable == "sim_robot_node":
            nodes.start("nav2_executor_node", NAMESPACE, package="operation_dispatcher_nav2")


class EventPrinter:
    """Prints one line per event, with the robot's progress from the state topic and its
    status text from the action's feedback; and, on the Nav2 chain, each Nav2 goal's status."""

    def __init__(self) -> None:
        self.t0 = time.monotonic()
        self.progress = 0.0
        self.robot_status = ""  # the latest execute_operation feedback's status text
        self._printed_quarter: dict[str, int] = {}
        self._current = ""
        self._nav2_status: dict[tuple[str, bytes], int] = {}

    def line(self, text: str) -> None:
        print(f"[{time.monotonic() - self.t0:6.2f} s] {text}", flush=True)

    def on_event(self, event: Any) -> None:
        meta = json.loads(event.metadata_json) if event.metadata_json else {}
        details = _details(event.event_type, meta)
        running = event.operation_id and event.operation_id == self._current and event.event_type not in TERMINAL
        progress = f" progress {self.progress:4.0%}" if running else ""
        self.line(f"{event.event_type:<30} {event.operation_id or '-':<14}{progress} {details}".rstrip())
        if event.event_type == "OPERATION_STARTED":
            self._current, self.progress = event.operation_id, 0.0

    def on_state(self, state: Any) -> None:
        op = state.current_operation_id
        if not op:
            return
        self.progress = state.current_progress
        quarter = int(state.current_progress * 4)
        if 0 < quarter < 4 and quarter > self._printed_quarter.get(op, 0):
            self._printed_quarter[op] = quarter
            self.line(f"{'  progress':<30} {op:<14} {state.current_progress:4.0%}  {self.robot_status}".rstrip())

    def on_feedback(self, message: Any) -> None:
        self.robot_status = message.feedback.status

    def on_nav2_status(self, action: str, message: Any) -> None:
        """One line per Nav2 goal whose status changed (the topic repeats every goal it still lists)."""
        for status in message.status_list:
            goal = (action, bytes(status.goal_info.goal_id.uuid))
            if self._nav2_status.get(goal) != status.status:
                self._nav2_status[goal] = status.status
                name = GOAL_STATUS.get(status.status, str(status.status))
                self.line(f"{'  nav2 ' + action:<30} goal {goal[1].hex()[:8]}  {name}")


GOAL_STATUS = {1: "ACCEPTED", 2: "EXECUTING", 3: "CANCELING", 4: "SUCCEEDED", 5: "CANCELED", 6: "ABORTED"}
"""action_msgs/GoalStatus values, as the Nav2 lines name them."""


def _details(event_type: str, meta: dict[str, Any]) -> str:
    keys = {
        "OPERATION_ADDED": ("priority",),
        "OPERATION_START_DENIED": ("reason", "retry_count", "cooldown_seconds"),
        "OPERATION_STARTED": ("attempt",),
        "OPERATION_COMPLETED": ("outcome",),
        "OPERATION_FAILED": ("reason",),
        "OPERATION_CANCELLED": ("reason",),
        "OPERATION_DISPATCHER_PAUSED": ("reason",),
    }.get(event_type, ())
    return "  ".join(f"{k}={meta[k]}" for k in keys if k in meta)


def run(timeout: float, speed: float, nav2: bool = False) -> int:
    with claim_domain(DEMO_DOMAINS) as domain:
        domain.apply()  # before rclpy.init (the client's): this process joins the nodes' domain
        log_dir = Path(tempfile.mkdtemp(prefix="od-demo-"))
        printer = EventPrinter()
        names = "sim_robot (serving Nav2), nav2_executor" if nav2 else "sim_robot"
        printer.line(
            f"starting {names}, business_logic and dispatcher in /{NAMESPACE} (ROS_DOMAIN_ID={domain.domain_id}, logs in {log_dir})"
        )
        with ProcessGroup(None, log_dir) as nodes:  # stopped and reaped on every way out, Ctrl-C included
            try:
                _start_nodes(nodes, speed, nav2)
                return _transports(printer, timeout, nav2)
            except DispatcherError as exc:  # no dispatcher, a refusal, an operation not COMPLETED in time
                printer.line(f"{type(exc).__name__}: {exc.message} (node logs in {log_dir})")
                return 1
            except KeyboardInterrupt:
                printer.line("interrupted")
                return 130
            finally:
                printer.line("stopping the nodes")


def _transports(printer: EventPrinter, timeout: float, nav2: bool) -> int:
    """Add the transports through a DispatcherClient and wait until all are COMPLETED."""
    from nav_msgs.msg import Odometry

    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_interfaces.msg import DispatcherState

    from .client import DispatcherClient
    from .qos import STATE_QOS

    client = DispatcherClient(NAMESPACE)
    deadline = time.monotonic() + timeout
    odom: list[Any] = []
    try:
        client.on_event(printer.on_event)
        client.node.create_subscription(DispatcherState, "dispatcher_state", printer.on_state, STATE_QOS)
        client.node.create_subscription(Odometry, "odom", odom.append, 10)
        # Depth 1: the latest feedback only (20 Hz against a 5 Hz state: a backlog would print a stale status).
        client.node.create_subscription(ExecuteOperation.Impl.FeedbackMessage, "execute_operation/_action/feedback", printer.on_feedback, 1)
        if nav2:
            _follow_nav2(client.node, printer)
        client.wait_until_ready(timeout=min(timeout, 30.0))
        ops: list[dict[str, Any]] = [
            {"id": op_id, "priority": prio, "payload": {"pickup": {"x": p[0], "y": p[1]}, "dropoff": {"x": d[0], "y": d[1]}}}
            for op_id, prio, p, d in TRANSPORTS
        ]
        printer.line(f"adding {len(ops)} transports: " + ", ".join(f"{op['id']} (priority {op['priority']})" for op in ops))
        client.add(ops)
        for op in ops:
            client.wait_for(op["id"], "COMPLETED", timeout=max(deadline - time.monotonic(), 0.1))
        if odom:
            pose = odom[-1].pose.pose.position
            printer.line(f"all {len(ops)} transports done; robot at x={pose.x:.2f} y={pose.y:.2f}")
        return 0
    finally:
        client.close()


def _follow_nav2(node: Any, printer: EventPrinter) -> None:
    """Subscribe to the status topic of each Nav2 action (what a ``ros2 action`` tool reads)."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    for action, type_name in NAV2_ACTIONS.items():
        node.create_subscription(
            GoalStatusArray, f"{action}/_action/status", lambda m, t=type_name: printer.on_nav2_status(t, m), qos_profile_action_status_default
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=60.0, help="give up after this many seconds (default 60)")
    parser.add_argument("--speed", type=float, default=2.0, help="robot speed in m/s (default 2.0)")
    parser.add_argument("--nav2", action="store_true", help="through the Nav2 chain: nav2_executor and the sim robot serving Nav2")
    args = parser.parse_args(argv)
    return run(args.timeout, args.speed, args.nav2)


if __name__ == "__main__":
    sys.exit(main())
