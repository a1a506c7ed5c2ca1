"""The whole chain as real processes: dispatcher -> business logic -> nav2_executor -> sim robot as Nav2.

``bringup`` starts dispatcher_node, business_logic_node and sim_robot_node with
``serve: nav2`` (the Nav2 stand-in of sim_nav2_server.py); ``start_executor``
the installed nav2_executor_node between them. What Nav2 was asked is read
from the sim robot's log (one "begin navigating ... through N pose(s) to
(x, y)" line per goal it took, "goal canceled" per cancel it confirmed, both
written before the goal's result goes out); what the robot did from its
``odom`` topic; what the dispatcher made of it from its services, events and
``dispatcher_state``.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

pytest.importorskip("nav2_msgs", reason="needs nav2_msgs (the stand-in is built by make setup)")

pytestmark = pytest.mark.ros

PICKUP, NEAR_DROPOFF = {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}
FAR_DROPOFF = {"x": 1.0, "y": 25.0}
"""24 m past the pickup, about 5 s at the sim robot's 5 m/s: time for a pause or cancel to land on a loaded machine."""
GOAL_LINE = re.compile(r"(NavigateToPose|NavigateThroughPoses): begin navigating from \(.*?\) through (\d+) pose\(s\) to \(([-\d.]+), ([-\d.]+)\)")


def _operation(op_id: str, priority: int = 0, **payload: Any) -> Any:
    from operation_dispatcher_interfaces.msg import Operation

    return Operation(id=op_id, payload_json=json.dumps(payload), priority=priority)


class Nav2Log:
    """What the sim robot (as Nav2) logs from now on: its log file is appended to across runs."""

    def __init__(self, robot: Any) -> None:
        self._path = robot.log_path
        self._start = self._path.stat().st_size

    def text(self) -> str:
        with open(self._path, errors="replace") as log:
            log.seek(self._start)
            return log.read()

    def goals(self) -> list[tuple[str, int, tuple[float, float]]]:
        """Every goal Nav2 took, in order: (action, number of poses, last pose)."""
        return [(a, int(n), (float(x), float(y))) for a, n, x, y in GOAL_LINE.findall(self.text())]


def _chain(bringup: Any, start_executor: Any, sim_robot: dict[str, Any] | None = None, executor: dict[str, Any] | None = None) -> Nav2Log:
    """Sim robot serving Nav2, business logic, dispatcher, then the executor; the sim robot's log."""
    procs = bringup(sim_robot={"serve": "nav2", **(sim_robot or {})})
    start_executor(executor)
    return Nav2Log(procs["sim_robot"])


def _recorders(ros_client: Any) -> tuple[Any, Any]:
    """The executor's feedback and the robot's odometry, recorded from the start (subscribed
    before the nodes come up: their warm-ups in bringup and start_executor cover both)."""
    from nav_msgs.msg import Odometry

    from operation_dispatcher_interfaces.action import ExecuteOperation

    feedback = ros_client.record(ExecuteOperation.Impl.FeedbackMessage, "execute_operation/_action/feedback")
    return feedback, ros_client.record(Odometry, "odom")


def _stands_still(odom: Any, event: Any, count: int = 10) -> tuple[float, float]:
    """The robot's one position in ``count`` odometry messages (0.5 s at 20 Hz) stamped after ``event``,
    all with velocity 0: a bounded sample after the stop was confirmed, since standing still is the
    absence of an event. By stamp, not arrival: a message sent before the event may arrive after it."""
    emitted = event.stamp.sec + event.stamp.nanosec / 1e9
    after = odom.wait_for_count(
        lambda m: m.header.stamp.sec + m.header.stamp.nanosec / 1e9 > emitted, count, 10.0, f"odometry after {event.event_type}"
    )
    positions = {(m.pose.pose.position.x, m.pose.pose.position.y) for m in after}
    seen = [(m.pose.pose.position.x, m.pose.pose.position.y, m.twist.twist.linear.x) for m in after]
    assert len(positions) == 1 and all(m.twist.twist.linear.x == 0.0 for m in after), seen
    return positions.pop()


@pytest.mark.parametrize(
    ("through_poses", "expected"),
    [(True, [("NavigateThroughPoses", 2, (1.0, 1.0))]), (False, [("NavigateToPose", 1, (1.0, 0.0)), ("NavigateToPose", 1, (1.0, 1.0))])],
    ids=["one_through_poses_goal", "two_to_pose_goals"],
)
def test_a_transport_completes_on_nav2_with_progress_rising_to_1(bringup, ros_client, start_executor, through_poses, expected):
    from ros_testing import STATE_QOS

    from operation_dispatcher_interfaces.msg import DispatcherState

    states = ros_client.record(DispatcherState, "dispatcher_state", STATE_QOS)
    nav2 = _chain(bringup, start_executor, sim_robot={"speed": 1.0}, executor={"use_navigate_through_poses": through_poses})
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("transport", pickup=PICKUP, dropoff=NEAR_DROPOFF)])

    done = dispatcher.wait_for("transport", "COMPLETED", timeout=30.0)
    assert (done.outcome, done.progress) == ("arrived at dropoff (2 of 2)", 1.0), done
    assert nav2.goals() == expected
    progress = [s.current_progress for s in states.snapshot() if s.current_operation_id == "transport"]
    assert progress == sorted(progress) and len({p for p in progress if 0.0 < p < 1.0}) >= 3, progress


def test_pause_cancels_the_nav2_goal_the_robot_stands_and_resume_sends_only_the_dropoff(bringup, ros_client, start_executor):
    feedback, odom = _recorders(ros_client)
    nav2 = _chain(bringup, start_executor)
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([_operation("transport", pickup=PICKUP, dropoff=FAR_DROPOFF)])
    feedback.wait_for(lambda m: m.feedback.status.startswith("driving to dropoff (2 of 2)"), 20.0, "the pickup reached")

    dispatcher.pause("transport", reason="door closed")
    paused = events.wait_event("OPERATION_PAUSED", "transport")
    assert "NavigateThroughPoses: goal canceled" in nav2.text()  # confirmed by Nav2 before the pause was
    held = dispatcher.get("transport").progress
    x, y = _stands_still(odom, paused)
    assert x == pytest.approx(1.0) and 0.0 < y < 25.0, (x, y)
    assert dispatcher.get("transport").progress == pytest.approx(held, abs=0.005) and 0.0 < held < 1.0
    assert len(nav2.goals()) == 1  # nothing sent while paused

    dispatcher.resume("transport")
    assert dispatcher.wait_for("transport", "COMPLETED", timeout=30.0).outcome == "arrived at dropoff (2 of 2)"
    assert nav2.goals() == [("NavigateThroughPoses", 2, (1.0, 25.0)), ("NavigateToPose", 1, (1.0, 25.0))]


def test_cancel_ends_cancelled_after_nav2_confirmed_and_the_robot_stands(bringup, ros_client, start_executor):
    feedback, odom = _recorders(ros_client)
    nav2 = _chain(bringup, start_executor)
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([_operation("errand", goal=FAR_DROPOFF)])
    feedback.wait_for(lambda m: m.feedback.progress > 0.05, 20.0, "progress")

    dispatcher.cancel("errand", reason="not needed")
    cancelled = events.wait_event("OPERATION_CANCELLED", "errand")
    assert "NavigateToPose: goal canceled" in nav2.text()  # confirmed by Nav2 before CANCELLED
    assert dispatcher.get("errand").state_name == "CANCELLED"
    _stands_still(odom, cancelled)


def test_a_nav2_abort_fails_the_operation_with_nav2s_code_and_message(bringup, ros_client, start_executor):
    _chain(bringup, start_executor, sim_robot={"fail_at": 0.5})
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("blocked", pickup=PICKUP, dropoff=NEAR_DROPOFF)])

    reason = dispatcher.wait_for("blocked", "FAILED", timeout=30.0).termination_reason
    expected = "nav2 NavigateThroughPoses aborted: error 105 (FollowPath.FAILED_TO_MAKE_PROGRESS): simulated failure at 50% progress"
    assert expected in reason, reason


def test_nav2_absent_fails_the_start_naming_the_action_and_the_dispatcher_goes_on(bringup, ros_client, start_executor, ros_namespace):
    """No Nav2: each operation fails within the executor's nav2_server_timeout, naming the action
    it looked for, and the next is started; once Nav2 is up, the next completes."""
    bringup(sim_robot=None)
    start_executor({"nav2_server_timeout": 1.0})
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([_operation("nowhere", priority=10, goal=NEAR_DROPOFF), _operation("next", pickup=PICKUP, dropoff=NEAR_DROPOFF)])

    for op_id, action, name in (("nowhere", "NavigateToPose", "navigate_to_pose"), ("next", "NavigateThroughPoses", "navigate_through_poses")):
        reason = dispatcher.wait_for(op_id, "FAILED", timeout=30.0).termination_reason
        assert f"nav2 {action}: action server /{ros_namespace}/{name} not available within 1 s" in reason, reason
    started = [e.operation_id for e in events.of_type("OPERATION_STARTED")]
    assert started == ["nowhere", "next"], started

    bringup(dispatcher=None, business_logic=None, sim_robot={"serve": "nav2"})
    # The executor's graph learns of the new Nav2 in its own time (over 1 s on Jazzy in a fresh-clone
    # run): give it the shipped 5 s again, live, as an operator would once Nav2 is up.
    _set_executor(ros_client, nav2_server_timeout=5.0)
    dispatcher.add([_operation("later", goal=NEAR_DROPOFF)])
    assert dispatcher.wait_for("later", "COMPLETED", timeout=30.0).outcome == "arrived at goal (1 of 1)"


def _set_executor(ros_client, **values) -> None:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    assert all(r.successful for r in ros_client.call(SetParameters, "nav2_executor/set_parameters", request).results)
