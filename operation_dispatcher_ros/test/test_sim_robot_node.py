"""The installed sim_robot_node as a real process, driven by an rclpy action client.

Speeds are high and routes short so that the whole file runs in seconds.
"""

from __future__ import annotations

import json
import signal
import threading
from typing import Any

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from action_msgs.msg import GoalStatus  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_testing import wait_future  # noqa: E402
from std_srvs.srv import Trigger  # noqa: E402

from operation_dispatcher_interfaces.action import ExecuteOperation  # noqa: E402
from operation_dispatcher_interfaces.msg import Operation  # noqa: E402

Result = ExecuteOperation.Result
SPEED = 5.0  # m/s
TIMEOUT = 10.0


def transport(pickup: tuple[float, float], dropoff: tuple[float, float], **extra: Any) -> str:
    return json.dumps({"pickup": dict(zip("xy", pickup, strict=True)), "dropoff": dict(zip("xy", dropoff, strict=True)), **extra})


class Goal:
    """One goal sent to the robot: its handle, every feedback, and a wait for the result."""

    def __init__(self, client: Any, payload_json: str, operation_id: str = "op-1") -> None:
        self.feedback: list[Any] = []
        self._cond = threading.Condition()
        goal = ExecuteOperation.Goal(operation=Operation(id=operation_id, payload_json=payload_json))
        self.handle = wait_future(client.send_goal_async(goal, feedback_callback=self._on_feedback), TIMEOUT, "goal response")

    def _on_feedback(self, msg: Any) -> None:
        with self._cond:
            self.feedback.append(msg.feedback)
            self._cond.notify_all()

    def progress(self) -> list[float]:
        with self._cond:
            return [f.progress for f in self.feedback]

    def wait_feedback(self, predicate: Any, after: int = 0, what: str = "feedback") -> int:
        """Index of the first feedback from index ``after`` on that matches ``predicate``."""
        with self._cond:
            found = self._cond.wait_for(
                lambda: any(predicate(f) for f in self.feedback[after:]), TIMEOUT
            )
            assert found, f"no {what} within {TIMEOUT:g} s; progress seen: {[round(p, 3) for p in self.progress()]}"
            return next(i for i in range(after, len(self.feedback)) if predicate(self.feedback[i]))

    def result(self) -> tuple[int, Any]:
        response = wait_future(self.handle.get_result_async(), TIMEOUT, "goal result")
        return response.status, response.result


@pytest.fixture
def robot(ros_processes: Any, ros_client: Any, ros_namespace: str) -> Any:
    """``robot(**params)`` starts sim_robot_node and returns its action client, once it serves."""

    def start(**params: Any) -> Any:
        ros_processes.start("sim_robot_node", ros_namespace, {"speed": SPEED, **params})
        try:  # up, and matched with our client: the first goal is not lost
            return ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{ros_processes.logs()}") from None

    return start


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def positions(odometry: list[Odometry]) -> list[tuple[float, float]]:
    return [(m.pose.pose.position.x, m.pose.pose.position.y) for m in odometry]


def test_transport_completes_with_progress_rising_and_odometry_moving(robot: Any, ros_client: Any) -> None:
    client = robot()
    odom = ros_client.record(Odometry, "odom")
    odom.wait_for(lambda m: True, TIMEOUT, "odometry")
    goal = Goal(client, transport((2.0, 0.0), (2.0, 1.0)))
    assert goal.handle.accepted
    status, result = goal.result()
    assert status == GoalStatus.STATUS_SUCCEEDED
    assert (result.success, result.error_code) == (True, Result.NONE)
    assert result.message == "arrived at dropoff (2.00, 1.00)"
    # Feedback travels on a topic, the result as a service answer, and rclpy drops feedback that
    # arrives after the result: the 100 % feedback may never be seen. Progress must have risen.
    progress = goal.progress()
    assert progress == sorted(progress)
    assert len(set(progress)) > 2, f"progress did not rise in steps: {progress}"
    # odometry followed the robot to the dropoff, in frame odom / base_link
    arrived = odom.wait_for(lambda m: (m.pose.pose.position.x, m.pose.pose.position.y) == pytest.approx((2.0, 1.0)))
    assert (arrived.header.frame_id, arrived.child_frame_id) == ("odom", "base_link")
    xs = [x for x, _ in positions(odom.snapshot())]
    assert xs[0] == pytest.approx(0.0) and any(0.1 < x < 1.9 for x in xs), "odometry jumped instead of moving"


def test_malformed_payload_is_rejected_in_the_goal_callback(robot: Any, ros_processes: Any) -> None:
    client = robot()
    for payload_json in ('{"pickup": {"x": 1}}', "not json", '{"waypoints": []}', ""):
        assert not Goal(client, payload_json).handle.accepted, payload_json
    assert "rejected operation op-1: dropoff is missing" in ros_processes.processes[-1].log_tail()
    # and the robot is still free for a good goal
    good = Goal(client, transport((0.2, 0.0), (0.4, 0.0)))
    assert good.handle.accepted
    assert good.result()[0] == GoalStatus.STATUS_SUCCEEDED


def test_second_goal_while_busy_is_rejected_and_cancel_stops_the_robot(robot: Any, ros_client: Any) -> None:
    client = robot()
    odom = ros_client.record(Odometry, "odom")
    first = Goal(client, transport((100.0, 0.0), (100.0, 100.0)))
    first.wait_feedback(lambda f: f.progress > 0.005, what="progress")
    assert not Goal(client, transport((1.0, 0.0), (2.0, 0.0)), operation_id="op-2").handle.accepted

    wait_future(first.handle.cancel_goal_async(), TIMEOUT, "cancel response")
    status, result = first.result()
    assert status == GoalStatus.STATUS_CANCELED
    assert not result.success and result.message.startswith("cancelled at ")
    # the robot stopped before it answered: odometry stamped after the answer stands still
    answered = ros_client.node.get_clock().now().nanoseconds
    later = odom.wait_for_count(lambda m: stamp_ns(m) > answered, 5, TIMEOUT, "odometry after the cancel")
    assert len(set(positions(later))) == 1, f"robot still moving after cancel: {positions(later)}"
    assert all(m.twist.twist.linear.x == 0.0 for m in later)
    # and it takes the next goal
    assert Goal(client, transport((0.0, 0.0), (0.1, 0.0)), operation_id="op-3").handle.accepted


def test_pause_holds_progress_and_resume_continues_from_it(robot: Any, ros_client: Any) -> None:
    client = robot()
    for name in ("execute_operation/pause", "execute_operation/resume"):
        ros_client.wait_for_service(Trigger, name)  # warmed now, not between the feedback and the pause
    goal = Goal(client, transport((5.0, 0.0), (5.0, 5.0)))  # 10 m, 2 s
    goal.wait_feedback(lambda f: f.progress > 0.05, what="progress above 5%")
    paused = ros_client.call(Trigger, "execute_operation/pause")
    assert paused.success and paused.message.startswith("paused at ")
    # every feedback after the pause answer holds one progress, with status "paused ..."
    first_held = goal.wait_feedback(lambda f: f.status.startswith("paused"), what="paused feedback")
    goal.wait_feedback(lambda f: True, after=first_held + 5, what="5 more feedback while paused")
    held = goal.progress()[first_held:]
    assert len(set(held)) == 1, f"progress moved while paused: {held}"
    assert ros_client.call(Trigger, "execute_operation/pause").message.startswith("already paused")

    resumed = ros_client.call(Trigger, "execute_operation/resume")
    assert resumed.success
    status, result = goal.result()
    assert status == GoalStatus.STATUS_SUCCEEDED and result.success
    goal.wait_feedback(lambda f: f.progress == 1.0, what="feedback at 100%")
    after = goal.progress()[first_held:]
    assert after == sorted(after), "progress went back after resume"
    # nothing to pause any more
    assert not ros_client.call(Trigger, "execute_operation/pause").success


def test_fail_at_aborts_with_an_error_code_at_that_progress(robot: Any) -> None:
    client = robot()
    goal = Goal(client, transport((1.0, 0.0), (1.0, 1.0), fail_at=0.5))
    status, result = goal.result()
    assert status == GoalStatus.STATUS_ABORTED
    assert (result.success, result.error_code) == (False, Result.INTERNAL)
    assert result.message == "simulated failure at 50% progress"
    goal.wait_feedback(lambda f: f.status == result.message, what="feedback of the failure")
    assert max(goal.progress()) == pytest.approx(0.5)


def test_parameters_are_validated_on_change(robot: Any, ros_client: Any) -> None:
    client = robot(fail_at=0.0)  # every goal fails at once, until the parameter is changed

    def set_parameter(name: str, value: Any) -> Any:
        request = SetParameters.Request(parameters=[Parameter(name, value=value).to_parameter_msg()])
        return ros_client.call(SetParameters, "sim_robot/set_parameters", request).results[0]

    assert Goal(client, transport((0.1, 0.0), (0.2, 0.0))).result()[0] == GoalStatus.STATUS_ABORTED
    assert not set_parameter("speed", 500.0).successful
    assert not set_parameter("rate_hz", 50.0).successful  # read-only: fixed at start
    assert set_parameter("fail_at", -1.0).successful
    assert Goal(client, transport((0.1, 0.0), (0.2, 0.0))).result()[0] == GoalStatus.STATUS_SUCCEEDED


# rclpy's signal thread shuts the context down while the executor works: before the fix 1 run in 7-10
# exited 1 (a wait set or a publish on the shut-down context; rate_hz 200 makes both happen more often).
@pytest.mark.parametrize("repeat", range(2))
@pytest.mark.parametrize("moment", ["idle", "mid-goal", "paused"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_exits_cleanly_with_status_0_whatever_the_robot_does(
    robot: Any, ros_client: Any, ros_processes: Any, sig: signal.Signals, moment: str, repeat: int
) -> None:
    client = robot(rate_hz=200.0)
    if moment != "idle":
        goal = Goal(client, transport((100.0, 0.0), (100.0, 100.0)))
        goal.wait_feedback(lambda f: f.progress > 0.0, what="progress")
        if moment == "paused":
            assert ros_client.call(Trigger, "execute_operation/pause").success
            goal.wait_feedback(lambda f: f.status.startswith("paused"), what="paused feedback")
    proc = ros_processes.processes[-1]
    mark = proc.log_path.stat().st_size
    proc.popen.send_signal(sig)
    assert proc.popen.wait(10.0) == 0, proc.log_tail()
    shutdown_log = proc.log_path.read_bytes()[mark:].decode(errors="replace")  # the log file outlives a run
    assert "Traceback" not in shutdown_log, shutdown_log
