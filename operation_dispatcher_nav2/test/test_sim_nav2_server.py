"""The sim robot as a Nav2 stand-in (``serve:=nav2``): the installed sim_robot_node as a real process,
driven by rclpy action clients on NavigateToPose and NavigateThroughPoses.

What is checked is what an executor relies on in Nav2 (see sim_nav2_server's docstring for where
each rule was read): feedback fields and their course, preemption (the old goal ABORTED with an
empty result), cancel (CANCELED once the robot stands still), aborts with Nav2's error codes.
"""

from __future__ import annotations

import math
import subprocess
import sys
import threading
from typing import Any

import pytest

pytestmark = pytest.mark.ros

rclpy = pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")
pytest.importorskip("nav2_msgs", reason="needs nav2_msgs (make setup builds a stand-in)")

from action_msgs.msg import GoalStatus  # noqa: E402
from builtin_interfaces.msg import Time  # noqa: E402
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose  # noqa: E402
from nav_msgs.msg import Odometry  # noqa: E402
from rcl_interfaces.srv import SetParameters  # noqa: E402
from rclpy.parameter import Parameter  # noqa: E402
from ros_testing import executable_path, ros_args, wait_future  # noqa: E402

from operation_dispatcher_nav2.nav2_errors import ERROR_CODES  # noqa: E402
from operation_dispatcher_nav2.nav2_goals import goal_message  # noqa: E402
from operation_dispatcher_nav2.route import NAVIGATE_THROUGH_POSES, NAVIGATE_TO_POSE, Nav2Goal, NavStop, PlanarPose  # noqa: E402
from operation_dispatcher_ros.action_runner import GoalSafeActionClient  # noqa: E402
from operation_dispatcher_ros.route_payload import Point  # noqa: E402

SPEED = 2.0  # m/s
TIMEOUT = 10.0
UP_TIMEOUT = 30.0  # start-up, discovery and the warm-up: 20 s was once not enough in a loaded CI run


def code(action: str, name: str) -> int:
    return next(c for c, named in ERROR_CODES[action].items() if named == name)


def stop(x: float, y: float, yaw: float = 0.0, frame_id: str = "map") -> NavStop:
    return NavStop("stop", PlanarPose(Point(x, y), yaw, frame_id))


def to_pose(x: float, y: float, **kwargs: Any) -> Any:
    return goal_message(Nav2Goal(NAVIGATE_TO_POSE, (stop(x, y, **kwargs),)), Time())


def through_poses(*stops: NavStop) -> Any:
    """A NavigateThroughPoses goal in this distro's layout (the executor's own goal_message)."""
    return goal_message(Nav2Goal(NAVIGATE_THROUGH_POSES, stops), Time()) if stops else NavigateThroughPoses.Goal()


class Navigation:
    """One goal sent to the stand-in: its handle, every feedback, a wait for feedback and for the result."""

    def __init__(self, client: Any, goal: Any) -> None:
        self.feedback: list[Any] = []
        self._cond = threading.Condition()
        self.handle = wait_future(client.send_goal_async(goal, feedback_callback=self._on_feedback), TIMEOUT, "goal response")
        assert self.handle.accepted, "Nav2 accepts every goal while active"

    def _on_feedback(self, msg: Any) -> None:
        with self._cond:
            self.feedback.append(msg.feedback)
            self._cond.notify_all()

    def seen(self, field: str) -> list[Any]:
        with self._cond:
            return [getattr(f, field) for f in self.feedback]

    def wait_feedback(self, predicate: Any, what: str) -> Any:
        with self._cond:
            assert self._cond.wait_for(lambda: any(predicate(f) for f in self.feedback), TIMEOUT), (
                f"no {what} within {TIMEOUT:g} s; distance_remaining seen: {[round(d, 2) for d in self.seen('distance_remaining')]}"
            )
            return next(f for f in self.feedback if predicate(f))

    def result(self) -> tuple[int, Any]:
        response = wait_future(self.handle.get_result_async(), TIMEOUT, "goal result")
        return response.status, response.result


@pytest.fixture
def nav2(ros_processes: Any, ros_client: Any, ros_namespace: str) -> Any:
    """``nav2(**params)`` starts sim_robot_node with serve:=nav2; returns its two action clients once it serves.

    The clients are the dispatcher's goal-safe ones: Jazzy's rclpy drops a goal answer that arrives
    while send_goal_async is still registering the request (rclpy#1123; "Ignoring unexpected goal
    response", seen here in 1 run of 6); this server answers at once, so the race is often lost."""

    def start(**params: Any) -> tuple[Any, Any]:
        clients = tuple(
            GoalSafeActionClient(ros_client.node, action, name)
            for action, name in ((NavigateToPose, "navigate_to_pose"), (NavigateThroughPoses, "navigate_through_poses"))
        )
        ros_processes.start("sim_robot_node", ros_namespace, {"serve": "nav2", "speed": SPEED, **params})
        try:  # up, and matched with our clients (created before the warm-up, which covers them): the first goal is not lost
            ros_client.wait_for_action_server(NavigateToPose, "navigate_to_pose", UP_TIMEOUT)
            ros_client.wait_for_action_server(NavigateThroughPoses, "navigate_through_poses", UP_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{ros_processes.logs()}") from None
        for client in clients:
            assert client.wait_for_server(timeout_sec=TIMEOUT)
        return clients

    return start


def position(odom: Odometry) -> tuple[float, float]:
    return odom.pose.pose.position.x, odom.pose.pose.position.y


def yaw_of(orientation: Any) -> float:
    return math.atan2(2.0 * orientation.w * orientation.z, 1.0 - 2.0 * orientation.z * orientation.z)


def stamp_ns(msg: Any) -> int:
    return msg.header.stamp.sec * 1_000_000_000 + msg.header.stamp.nanosec


def test_navigate_to_pose_reaches_the_pose_with_nav2_feedback(nav2: Any, ros_client: Any) -> None:
    to_pose_client, _ = nav2()
    odom = ros_client.record(Odometry, "odom")
    odom.wait_for(lambda m: True, TIMEOUT, "odometry")
    goal = Navigation(to_pose_client, to_pose(2.0, 1.5, yaw=1.0))
    status, result = goal.result()
    assert status == GoalStatus.STATUS_SUCCEEDED
    assert (result.error_code, result.error_msg) == (NavigateToPose.Result.NONE, "")
    distances = goal.seen("distance_remaining")
    assert distances[0] == pytest.approx(2.5, abs=0.2), "distance to the goal along the route, from the start"
    assert distances == sorted(distances, reverse=True) and len(set(distances)) > 3, distances
    first, last = goal.feedback[0], goal.feedback[-1]
    assert first.current_pose.header.frame_id == "map" and first.number_of_recoveries == 0
    assert last.navigation_time.sec * 1e9 + last.navigation_time.nanosec > 0
    assert any(f.estimated_time_remaining.sec > 0 or f.estimated_time_remaining.nanosec > 0 for f in goal.feedback)
    # odometry shows the robot there, turned to the goal's heading
    arrived = odom.wait_for(lambda m: position(m) == pytest.approx((2.0, 1.5)), TIMEOUT, "odometry at the goal")
    assert yaw_of(odom.wait_for(lambda m: m.twist.twist.linear.x == 0.0 and position(m) == position(arrived)).pose.pose.orientation) == pytest.approx(1.0)


def test_navigate_through_poses_counts_the_poses_down_to_the_last(nav2: Any) -> None:
    _, through_client = nav2()
    goal = Navigation(through_client, through_poses(stop(1.0, 0.0), stop(1.0, 1.0), stop(0.0, 1.0)))
    status, result = goal.result()
    assert status == GoalStatus.STATUS_SUCCEEDED and result.error_code == NavigateThroughPoses.Result.NONE
    remaining = goal.seen("number_of_poses_remaining")
    assert sorted(set(remaining), reverse=True) == [3, 2, 1] and remaining == sorted(remaining, reverse=True), remaining
    # distance_remaining runs to the LAST pose: 3 m of route at the start, not the 1 m to the first pose
    assert goal.feedback[0].distance_remaining == pytest.approx(3.0, abs=0.2)
    if hasattr(result, "waypoint_statuses"):  # Kilted on
        from nav2_msgs.msg import WaypointStatus

        assert [(s.waypoint_index, s.waypoint_status) for s in result.waypoint_statuses] == [
            (i, WaypointStatus.COMPLETED) for i in range(3)
        ]


def test_cancel_ends_canceled_once_the_robot_stands_still(nav2: Any, ros_client: Any) -> None:
    to_pose_client, _ = nav2()
    odom = ros_client.record(Odometry, "odom")
    goal = Navigation(to_pose_client, to_pose(100.0, 0.0))
    goal.wait_feedback(lambda f: f.distance_remaining < 99.5, "progress")
    cancel = wait_future(goal.handle.cancel_goal_async(), TIMEOUT, "cancel response")
    assert len(cancel.goals_canceling) == 1, "the cancel is accepted"
    status, _ = goal.result()
    assert status == GoalStatus.STATUS_CANCELED
    answered = ros_client.node.get_clock().now().nanoseconds
    later = odom.wait_for_count(lambda m: stamp_ns(m) > answered, 5, TIMEOUT, "odometry after the cancel")
    assert len({position(m) for m in later}) == 1, f"robot still moving after the cancel: {[position(m) for m in later]}"
    assert all(m.twist.twist.linear.x == 0.0 for m in later)


def test_a_new_goal_preempts_the_running_one_which_ends_aborted_with_an_empty_result(nav2: Any, ros_client: Any) -> None:
    to_pose_client, _ = nav2()
    odom = ros_client.record(Odometry, "odom")
    first = Navigation(to_pose_client, to_pose(100.0, 0.0))
    first.wait_feedback(lambda f: f.distance_remaining < 99.0, "progress")
    second = Navigation(to_pose_client, to_pose(0.0, 2.0))
    status, result = first.result()
    assert status == GoalStatus.STATUS_ABORTED
    assert (result.error_code, result.error_msg) == (0, "")
    assert second.result()[0] == GoalStatus.STATUS_SUCCEEDED
    # the robot turned for the new goal from where it was (past x = 1): its route is longer than the 2 m
    # from the start; the first feedback may come a few centimetres under way
    assert second.feedback[0].distance_remaining > 2.05, second.seen("distance_remaining")
    odom.wait_for(lambda m: position(m) == pytest.approx((0.0, 2.0)), TIMEOUT, "odometry at the new goal")


def test_a_goal_on_the_other_action_while_navigating_is_aborted_and_the_running_one_goes_on(nav2: Any) -> None:
    to_pose_client, through_client = nav2()
    running = Navigation(to_pose_client, to_pose(3.0, 0.0))
    running.wait_feedback(lambda f: f.distance_remaining < 2.9, "progress")
    status, result = Navigation(through_client, through_poses(stop(0.0, 1.0), stop(0.0, 2.0))).result()
    assert status == GoalStatus.STATUS_ABORTED and "another navigator is processing" in result.error_msg
    assert running.result()[0] == GoalStatus.STATUS_SUCCEEDED


def test_fail_at_aborts_with_the_error_code_nav2_passes_through(nav2: Any, ros_client: Any) -> None:
    to_pose_client, through_client = nav2(fail_at=0.5)
    status, result = Navigation(to_pose_client, to_pose(2.0, 0.0)).result()
    assert status == GoalStatus.STATUS_ABORTED
    assert (result.error_code, result.error_msg) == (code("FollowPath", "FAILED_TO_MAKE_PROGRESS"), "simulated failure at 50% progress")

    request = SetParameters.Request(parameters=[Parameter("fail_at", value=0.0).to_parameter_msg()])
    assert ros_client.call(SetParameters, "sim_robot/set_parameters", request).results[0].successful
    status, result = Navigation(through_client, through_poses(stop(1.0, 0.0), stop(2.0, 0.0))).result()
    assert status == GoalStatus.STATUS_ABORTED
    assert (result.error_code, result.error_msg) == (code("ComputePathThroughPoses", "NO_VALID_PATH"), "simulated failure at 0% progress")


def test_goals_it_cannot_follow_are_aborted_with_nav2s_codes_and_the_robot_stays_free(nav2: Any) -> None:
    to_pose_client, through_client = nav2()
    status, result = Navigation(to_pose_client, to_pose(1.0, 0.0, frame_id="elsewhere")).result()
    assert status == GoalStatus.STATUS_ABORTED
    # Kilted's navigator code; Jazzy's NavigateToPose defines none (its Nav2 aborts with 0 too)
    assert result.error_code == getattr(NavigateToPose.Result, "TF_ERROR", 0)
    assert "frame_id 'elsewhere'" in result.error_msg
    status, result = Navigation(through_client, through_poses()).result()
    assert status == GoalStatus.STATUS_ABORTED
    assert (result.error_code, result.error_msg) == (code("ComputePathThroughPoses", "NO_VIAPOINTS_GIVEN"), "No viapoints given")
    # odom_frame is the same frame here (map -> odom is the identity)
    assert Navigation(to_pose_client, to_pose(0.3, 0.0, frame_id="odom")).result()[0] == GoalStatus.STATUS_SUCCEEDED


@pytest.mark.parametrize(
    ("setup", "serve", "message"),
    [
        ("sys.modules['nav2_msgs'] = None", "nav2", "serve:=nav2 needs operation_dispatcher_nav2 and nav2_msgs"),
        ("", "nav3", "serve must be one of execute_operation, nav2; got 'nav3'"),
    ],
    ids=["nav2_msgs missing", "unknown mode"],
)
def test_serve_that_cannot_be_served_exits_with_status_2(ros_domain: int, setup: str, serve: str, message: str) -> None:
    script = f"import sys; {setup}\nfrom operation_dispatcher_ros.sim_robot_node import main; sys.exit(main(sys.argv))"
    args = ros_args(params={"serve": serve})
    assert executable_path("sim_robot_node").exists()  # the workspace is built: the failure is the mode's
    run = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=60)
    assert run.returncode == 2, run.stdout + run.stderr
    assert message in run.stderr
