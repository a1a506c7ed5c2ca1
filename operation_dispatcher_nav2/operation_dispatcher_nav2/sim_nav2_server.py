"""A Nav2 stand-in for the simulated robot: NavigateToPose and NavigateThroughPoses served as bt_navigator does.

``sim_robot_node`` loads this module only with ``serve:=nav2`` (the robot
package never depends on nav2_msgs) and hands it its :class:`SimRobot` and
the lock that guards it; the node keeps driving the motion, odometry, pose
and battery. So the chain dispatcher -> nav2_executor -> "Nav2" runs on a
machine without Nav2.

How Nav2 behaves where it matters to an executor, and this server with it
(read in navigation2's jazzy and kilted branches: nav2_util
simple_action_server.hpp, nav2_behavior_tree bt_action_server_impl.hpp,
nav2_bt_navigator navigators/navigate_to_pose.cpp and
navigate_through_poses.cpp, nav2_core behavior_tree_navigator.hpp,
nav2_planner planner_server.cpp, RemovePassedGoals):

- **Goals** are all accepted (Nav2 rejects only while inactive); one it
  cannot follow is aborted at once with the code Nav2 gives it: a frame
  other than ``global_frame`` or ``odom_frame`` (the two coincide here, as
  if TF held map -> odom as identity) is the navigator's ``TF_ERROR``; a
  ``behavior_tree`` (this robot has none) ``FAILED_TO_LOAD_BEHAVIOR_TREE``;
  NavigateThroughPoses without poses the planner's ``NO_VIAPOINTS_GIVEN``;
  a non-finite coordinate ``GOAL_OUTSIDE_MAP``. Jazzy's navigators define no
  codes of their own: there the first two abort with 0 and the error_msg.
- **Preemption**: a new goal on the action that is navigating replaces the
  running goal, which ends ABORTED with an empty result (error_code 0,
  error_msg ""; SimpleActionServer::accept_pending_goal); the robot heads
  for the new goal from where it is and navigation_time starts again. A new
  goal that cannot be followed is aborted and the running goal goes on
  (onPreempt, terminatePendingGoal). A goal on the other action while one
  navigates is aborted (error_code 0: "another navigator is processing")
  and the running goal goes on.
- **Cancel** is accepted; the robot stops, then the goal ends CANCELED.
- **Failure** (the sim robot's ``fail_at`` parameter, or an empty battery)
  aborts with the code of the behavior-tree node that failed, which
  bt_navigator passes through: at the start the planner's
  ``NO_VALID_PATH``, under way the controller's ``FAILED_TO_MAKE_PROGRESS``;
  ``error_msg`` says what happened.
- **Feedback** every control period (``rate_hz``): ``current_pose`` in
  ``global_frame``, ``distance_remaining`` along the route to the goal's
  LAST pose, ``number_of_poses_remaining`` (poses not passed yet; the last
  one counts until success, as RemovePassedGoals never removes it; here a
  pose is passed when reached, not within Nav2's viapoint radius),
  ``estimated_time_remaining`` (distance / speed when faster than 1 cm/s
  with more than 10 cm to go, else 0), ``navigation_time``,
  ``number_of_recoveries`` 0 (the sim has no recoveries). Kilted's
  ``waypoint_statuses``: passed poses COMPLETED, the others PENDING; in the
  result the others COMPLETED on success, else FAILED.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass
from functools import partial
from typing import Any

from geometry_msgs.msg import PoseStamped
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionServer, CancelResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.duration import Duration
from rclpy.node import Node
from rclpy.time import Time

from operation_dispatcher_ros.node_main import ConfigurationError, RCLError
from operation_dispatcher_ros.route_payload import Point, Stop
from operation_dispatcher_ros.sim_robot_motion import Mission, Outcome, SimRobot, Task

from .nav2_errors import ERROR_CODES
from .nav2_goals import goal_poses
from .route import NAVIGATE_THROUGH_POSES, NAVIGATE_TO_POSE

# name: (default, description); all read-only strings
PARAMETERS: dict[str, tuple[str, str]] = {
    "global_frame": ("map", "Frame of the goals (odom_frame is taken too: the two coincide) and of the feedback's current_pose."),
    "navigate_to_pose_action": ("navigate_to_pose", "Name of the NavigateToPose action served (relative)."),
    "navigate_through_poses_action": ("navigate_through_poses", "Name of the NavigateThroughPoses action served (relative)."),
}


def _code(action: str, name: str) -> int:
    return next(code for code, named in ERROR_CODES[action].items() if named == name)


@dataclass(frozen=True)
class _Action:
    """One of the two Nav2 actions, with the planner whose codes its failures carry."""

    type: Any
    name: str
    planner: str

    def own_code(self, name: str) -> int:
        """The navigator's own constant from the generated Result (Kilted), or NONE where the distro has none (Jazzy)."""
        result = self.type.Result
        return int(getattr(result, name, result.NONE))


TO_POSE = _Action(NavigateToPose, NAVIGATE_TO_POSE, "ComputePathToPose")
THROUGH_POSES = _Action(NavigateThroughPoses, NAVIGATE_THROUGH_POSES, "ComputePathThroughPoses")
CONTROLLER_FAILED = _code("FollowPath", "FAILED_TO_MAKE_PROGRESS")


def _yaw(pose: Any) -> float:
    q = pose.orientation
    return math.atan2(2.0 * (q.w * q.z + q.x * q.y), 1.0 - 2.0 * (q.y * q.y + q.z * q.z))


class _Navigation:
    """One goal being driven: its handle, poses and mission, and whether a newer goal replaced it."""

    def __init__(self, action: _Action, handle: Any, poses: list[Any], mission: Mission, started: Time) -> None:
        self.action = action
        self.handle = handle
        self.poses = poses
        self.mission = mission
        self.started = started
        self.preempted = False


class SimNav2Server:
    """Serves Nav2's two navigation actions on ``node``, driving ``robot`` (guarded by ``lock``)."""

    def __init__(self, node: Node, robot: SimRobot, lock: threading.Lock, *, rate_hz: float, odom_frame: str) -> None:
        self._node = node
        self._robot = robot
        self._lock = lock
        self._period = 1.0 / rate_hz
        names: dict[str, str] = {}
        for name, (default, description) in PARAMETERS.items():
            value: Any = node.declare_parameter(name, default, ParameterDescriptor(description=description, read_only=True)).value
            if not isinstance(value, str) or not value.strip():
                raise ConfigurationError(f"{name} must be a non-empty string; got {value!r}")
            names[name] = value
        self._global_frame = names["global_frame"]
        self._frames = {self._global_frame, odom_frame}
        self._active: _Navigation | None = None  # guarded by lock
        # Each execute callback runs for its whole goal; a reentrant group lets
        # a preempting goal and cancels run next to it.
        group = ReentrantCallbackGroup()
        self._servers = [
            ActionServer(
                node,
                action.type,
                names[parameter],
                execute_callback=partial(self._execute, action),
                cancel_callback=lambda _handle: CancelResponse.ACCEPT,
                callback_group=group,
            )
            for action, parameter in ((TO_POSE, "navigate_to_pose_action"), (THROUGH_POSES, "navigate_through_poses_action"))
        ]
        node.get_logger().info(f"serving Nav2's {names['navigate_to_pose_action']} and {names['navigate_through_poses_action']}")

    # -- goals ------------------------------------------------------------------

    def _execute(self, action: _Action, handle: Any) -> Any:
        try:
            return self._navigate(action, handle)
        except RCLError:
            if self._node.context.ok():
                raise
            return self._end_at_shutdown(handle, action)  # the signal's shutdown came during a feedback or result call

    def _unreadable(self, action: _Action, goal: Any, poses: list[Any]) -> tuple[int, str] | None:
        """Why Nav2 could not follow this goal, as (error_code, error_msg); None if it can."""
        if goal.behavior_tree:
            code = action.own_code("FAILED_TO_LOAD_BEHAVIOR_TREE")
            return code, f"Error loading XML file: {goal.behavior_tree}. Navigation canceled. (the sim robot has no behavior trees)"
        for i, pose in enumerate(poses):
            if pose.header.frame_id not in self._frames:
                return action.own_code("TF_ERROR"), (
                    f"Failed to transform a goal pose ({i}) provided with frame_id '{pose.header.frame_id}' "
                    f"to the global frame '{self._global_frame}'."
                )
            if not all(math.isfinite(v) for v in (pose.pose.position.x, pose.pose.position.y, _yaw(pose.pose))):
                return _code(action.planner, "GOAL_OUTSIDE_MAP"), f"goal pose ({i}) is not finite"
        if not poses:
            return _code(action.planner, "NO_VIAPOINTS_GIVEN"), "No viapoints given"
        return None

    def _navigate(self, action: _Action, handle: Any) -> Any:
        poses = goal_poses(handle.request)
        problem = self._unreadable(action, handle.request, poses)
        if problem is not None:
            return self._abort(handle, action, *problem)
        task = Task(
            tuple(
                Stop(f"pose {i + 1}", Point(p.pose.position.x, p.pose.position.y), _yaw(p.pose), p.header.frame_id)
                for i, p in enumerate(poses)
            )
        )
        with self._lock:
            running = self._active
            if running is not None and running.action is not action:
                other = running.action.name
            else:
                other = None
                if running is not None:
                    running.preempted = True
                self._robot.finish()
                mission = self._robot.start(task)
                navigation = self._active = _Navigation(action, handle, poses, mission, self._node.get_clock().now())
                start = self._robot.position
        if other is not None:
            return self._abort(handle, action, 0, f"{other} is navigating: another navigator is processing")
        last = task.stops[-1].point
        self._node.get_logger().info(f"{action.name}: begin navigating from {start} through {len(poses)} pose(s) to {last}")
        return self._drive(navigation)

    def _drive(self, navigation: _Navigation) -> Any:
        """Feedback every period until the goal ends: success, failure, cancel, preemption or shutdown."""
        handle, action = navigation.handle, navigation.action
        deadline = time.monotonic()
        while True:
            with self._lock:
                preempted, outcome = navigation.preempted, navigation.mission.outcome
                canceled = handle.is_cancel_requested and not preempted
                if canceled or not self._node.context.ok():
                    self._stop(navigation)
            if not self._node.context.ok():
                return self._end_at_shutdown(handle, action)
            if preempted:
                handle.abort()
                self._node.get_logger().info(f"{action.name}: goal preempted by a newer one")
                return action.type.Result()
            if canceled:
                handle.canceled()
                self._node.get_logger().info(f"{action.name}: goal canceled")
                return self._result(navigation, final="FAILED")
            handle.publish_feedback(self._feedback(navigation))
            if outcome is not Outcome.RUNNING:
                return self._finish(navigation)
            deadline += self._period
            time.sleep(max(0.0, deadline - time.monotonic()))

    def _finish(self, navigation: _Navigation) -> Any:
        handle, action, mission = navigation.handle, navigation.action, navigation.mission
        with self._lock:
            if mission.outcome is Outcome.SUCCEEDED:
                self._robot.yaw = _yaw(navigation.poses[-1].pose)  # Nav2's goal checker turns to the goal's heading
            self._stop(navigation)
        if mission.outcome is Outcome.SUCCEEDED:
            handle.succeed()
            self._node.get_logger().info(f"{action.name}: goal succeeded")
            return self._result(navigation, final="COMPLETED")
        code = _code(action.planner, "NO_VALID_PATH") if mission.done == 0.0 else CONTROLLER_FAILED
        self._node.get_logger().warning(f"{action.name}: goal failed error_code:{code} error_msg:'{mission.failure}'")
        handle.abort()
        result = self._result(navigation, final="FAILED")
        result.error_code, result.error_msg = code, mission.failure
        return result

    def _abort(self, handle: Any, action: _Action, error_code: int, error_msg: str) -> Any:
        self._node.get_logger().warning(f"{action.name}: goal aborted, error_code:{error_code} error_msg:'{error_msg}'")
        handle.abort()
        return action.type.Result(error_code=error_code, error_msg=error_msg)

    def _end_at_shutdown(self, handle: Any, action: _Action) -> Any:
        try:  # the context is gone: the state changes, its status message cannot go out
            handle.abort()
        except Exception:
            pass
        return action.type.Result(error_msg="the robot is shutting down")

    def _stop(self, navigation: _Navigation) -> None:
        """Stand still, if this goal is still the one driving (the lock is held)."""
        if self._active is navigation:
            self._robot.finish()
            self._active = None

    # -- messages ---------------------------------------------------------------

    def _feedback(self, navigation: _Navigation) -> Any:
        feedback = navigation.action.type.Feedback()
        with self._lock:
            mission = navigation.mission
            remaining, reached = mission.remaining, mission.stops_reached
            speed = abs(self._robot.velocity) if self._active is navigation else 0.0
            feedback.current_pose = self._current_pose()
        now = self._node.get_clock().now()
        feedback.navigation_time = (now - navigation.started).to_msg()
        feedback.distance_remaining = float(remaining)
        if speed > 0.01 and remaining > 0.1:
            feedback.estimated_time_remaining = Duration(nanoseconds=int(remaining / speed * 1e9)).to_msg()
        feedback.number_of_recoveries = 0
        if navigation.action is THROUGH_POSES:
            feedback.number_of_poses_remaining = max(1, len(navigation.poses) - reached)
            if hasattr(feedback, "waypoint_statuses"):
                feedback.waypoint_statuses = self._waypoint_statuses(navigation, reached, rest="PENDING")
        return feedback

    def _current_pose(self) -> PoseStamped:
        pose = PoseStamped()
        pose.header.frame_id = self._global_frame
        pose.header.stamp = self._node.get_clock().now().to_msg()
        pose.pose.position.x, pose.pose.position.y = self._robot.position.x, self._robot.position.y
        yaw = self._robot.yaw
        pose.pose.orientation.z, pose.pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
        return pose

    def _result(self, navigation: _Navigation, final: str) -> Any:
        """The result of a goal that ended: Kilted's waypoint statuses, passed poses COMPLETED and the rest ``final``."""
        result = navigation.action.type.Result()
        if navigation.action is THROUGH_POSES and hasattr(result, "waypoint_statuses"):
            reached = navigation.mission.stops_reached
            result.waypoint_statuses = self._waypoint_statuses(navigation, reached, rest=final)
        return result

    @staticmethod
    def _waypoint_statuses(navigation: _Navigation, reached: int, rest: str) -> list[Any]:
        from nav2_msgs.msg import WaypointStatus  # Kilted on; only called where the field exists

        passed = min(reached, len(navigation.poses) - 1)  # the last pose is never "passed", only completed by success
        statuses = []
        for i, pose in enumerate(navigation.poses):
            status = WaypointStatus(waypoint_index=i, waypoint_pose=pose)
            status.waypoint_status = WaypointStatus.COMPLETED if i < passed else getattr(WaypointStatus, rest)
            statuses.append(status)
        return statuses
