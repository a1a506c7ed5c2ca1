"""Simulated mobile robot: executes operations by driving in 2D, publishes odometry.

The dispatcher's executor for demos and tests, and a template for a real
robot's adapter: the same action, the same pause / resume services. With
``serve:=nav2`` it stands in for Nav2 instead (see below).

Interfaces (relative names; the namespace comes from launch):

- action ``execute_operation`` (operation_dispatcher_interfaces/ExecuteOperation):
  one goal at a time; a malformed payload, or a second goal while busy, is
  rejected in the goal callback (the reason is logged).
- services ``execute_operation/pause`` and ``execute_operation/resume``
  (std_srvs/Trigger): hold the active goal keeping its progress, continue.
- topics ``odom`` (nav_msgs/Odometry, frame ``odom_frame``, child
  ``base_frame``), ``pose`` (geometry_msgs/PoseStamped) and
  ``battery_state`` (std_msgs/Float32, charge 0.0 .. 1.0), at ``rate_hz``.

Payload (``Operation.payload_json``, see ``sim_robot_motion.parse_task``)::

    {"pickup": {"x": 1.0, "y": 2.0}, "dropoff": {"x": 4.0, "y": 0.5}}
    {"waypoints": [{"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}]}
    ... plus optionally "fail": true (fail at once) or "fail_at": 0.5

Parameters (default, range; "live" = may be changed at runtime):

========================== =========== ============= =========================================================
``rate_hz``                20.0        1.0 .. 200.0  control, feedback and publish rate (Hz)
``speed``                  1.0         0.01 .. 100.0 m/s, live
``initial_x``              0.0         +-1e6         start position (m)
``initial_y``              0.0         +-1e6         start position (m)
``initial_yaw``            0.0         -pi .. pi     start heading (rad)
``battery_initial``        1.0         0.0 .. 1.0    charge at start
``battery_drain_per_m``    0.01        0.0 .. 1.0    charge used per metre driven, live
``battery_recharge_per_s`` 0.02        0.0 .. 1.0    charge gained per second without a goal, live
``fail_at``                -1.0        -1.0 .. 1.0   every goal fails at this progress; negative = never, live
``odom_frame``             "odom"                    frame of odom and pose
``base_frame``             "base_link"               child frame of odom
``serve``                  "execute_operation"       ``execute_operation`` (the above) or ``nav2`` (below)
========================== =========== ============= =========================================================

``serve:=nav2``: instead of the action and the pause / resume services, the
robot serves Nav2's ``navigate_to_pose`` (NavigateToPose) and
``navigate_through_poses`` (NavigateThroughPoses) as bt_navigator does
(preemption, cancel, error codes, feedback; ``fail_at`` aborts with Nav2's
codes), for the nav2_executor. That part lives in
``operation_dispatcher_nav2.sim_nav2_server``, which is imported only then,
so this package never needs nav2_msgs; without it the node exits with
status 2. Its parameters (``global_frame``, the two action names) are
declared only in that mode.

Results: success with error_code NONE; a failure (on demand, or battery
empty) aborts with INTERNAL and the reason in ``message``; a cancel ends
CANCELED with NONE, after the robot has stopped; a shutdown during a goal
aborts it with UNAVAILABLE.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any

from geometry_msgs.msg import Pose, PoseStamped
from nav_msgs.msg import Odometry
from rcl_interfaces.msg import (
    FloatingPointRange,
    ParameterDescriptor,
    SetParametersResult,
)
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import MutuallyExclusiveCallbackGroup, ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from std_msgs.msg import Float32
from std_srvs.srv import Trigger

from operation_dispatcher_interfaces.action import ExecuteOperation

from .node_main import ConfigurationError, RCLError, run_node
from .sim_robot_motion import (
    Mission,
    Outcome,
    PayloadError,
    Point,
    SimRobot,
    parse_task,
)

Result = ExecuteOperation.Result

# name: (default, (min, max) or None, description, live)
PARAMETERS: dict[str, tuple[Any, tuple[float, float] | None, str, bool]] = {
    "rate_hz": (20.0, (1.0, 200.0), "Control, feedback and publish rate (Hz).", False),
    "speed": (1.0, (0.01, 100.0), "Driving speed (m/s).", True),
    "initial_x": (0.0, (-1e6, 1e6), "Start position x (m) in odom_frame.", False),
    "initial_y": (0.0, (-1e6, 1e6), "Start position y (m) in odom_frame.", False),
    "initial_yaw": (0.0, (-math.pi, math.pi), "Start heading (rad).", False),
    "battery_initial": (1.0, (0.0, 1.0), "Battery charge at start (0..1).", False),
    "battery_drain_per_m": (0.01, (0.0, 1.0), "Battery charge used per metre driven.", True),
    "battery_recharge_per_s": (0.02, (0.0, 1.0), "Battery charge gained per second without a goal.", True),
    "fail_at": (-1.0, (-1.0, 1.0), "Every goal fails at this progress (0..1); negative = never.", True),
    "odom_frame": ("odom", None, "Frame of the odom and pose topics.", False),
    "base_frame": ("base_link", None, "Child frame of the odom topic.", False),
    "serve": ("execute_operation", None, "What the robot serves: execute_operation (ExecuteOperation action, pause, resume) or nav2 (Nav2's NavigateToPose and NavigateThroughPoses).", False),
}
SERVE_MODES = ("execute_operation", "nav2")


def _descriptor(description: str, limits: tuple[float, float] | None, live: bool) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=description, read_only=not live)
    if limits is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=limits[0], to_value=limits[1])]
    return descriptor


def _pose(position: Point, yaw: float) -> Pose:
    pose = Pose()
    pose.position.x, pose.position.y = position.x, position.y
    pose.orientation.z, pose.orientation.w = math.sin(yaw / 2.0), math.cos(yaw / 2.0)
    return pose


def _result(success: bool, error_code: int, message: str) -> Any:
    return Result(success=success, error_code=error_code, message=message)


class SimRobotNode(Node):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__("sim_robot", **kwargs)
        for name, (default, limits, description, live) in PARAMETERS.items():
            self.declare_parameter(name, default, _descriptor(description, limits, live))
        value = self._value
        self._rate_hz: float = value("rate_hz")
        self._odom_frame: str = value("odom_frame")
        self._base_frame: str = value("base_frame")
        serve: str = value("serve")
        if serve not in SERVE_MODES:
            raise ConfigurationError(f"serve must be one of {', '.join(SERVE_MODES)}; got {serve!r}")
        # _lock guards the robot and the goal slot: the control timer, the
        # action callbacks and the services run on different executor threads.
        self._lock = threading.Lock()
        self._robot = SimRobot(
            Point(value("initial_x"), value("initial_y")),
            value("initial_yaw"),
            speed=value("speed"),
            battery=value("battery_initial"),
            drain_per_m=value("battery_drain_per_m"),
            recharge_per_s=value("battery_recharge_per_s"),
            fail_at=self._fail_at(value("fail_at")),
        )
        self._goal_slot_taken = False
        self._goal_handle: Any = None  # of the executing goal, for feedback from pause / resume
        self._last_step = time.monotonic()
        self.add_on_set_parameters_callback(self._on_set_parameters)

        self._odom_pub = self.create_publisher(Odometry, "odom", 10)
        self._pose_pub = self.create_publisher(PoseStamped, "pose", 10)
        self._battery_pub = self.create_publisher(Float32, "battery_state", 10)
        if serve == "nav2":
            self._nav2_server = self._serve_nav2()
        else:
            self._serve_execute_operation()
        self.create_timer(1.0 / self._rate_hz, self._on_tick, callback_group=MutuallyExclusiveCallbackGroup())
        self.get_logger().info(
            f"sim robot at {self._robot.position}, speed {self._robot.speed} m/s, battery {self._robot.battery:.0%}"
        )

    def _serve_execute_operation(self) -> None:
        # The execute callback runs for the whole goal; a reentrant group lets
        # goal, cancel and the pause / resume services run next to it, and the
        # control timer has a group of its own so it never waits behind them.
        requests = ReentrantCallbackGroup()
        self._action_server = ActionServer(
            self,
            ExecuteOperation,
            "execute_operation",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _goal: CancelResponse.ACCEPT,
            callback_group=requests,
        )
        self.create_service(Trigger, "execute_operation/pause", self._on_pause, callback_group=requests)
        self.create_service(Trigger, "execute_operation/resume", self._on_resume, callback_group=requests)

    def _serve_nav2(self) -> Any:
        """The Nav2 stand-in, from the one package allowed to need nav2_msgs."""
        try:
            from operation_dispatcher_nav2.sim_nav2_server import SimNav2Server
        except ImportError as exc:
            raise ConfigurationError(f"serve:=nav2 needs operation_dispatcher_nav2 and nav2_msgs ({exc})") from None
        return SimNav2Server(self, self._robot, self._lock, rate_hz=self._rate_hz, odom_frame=self._odom_frame)

    def _value(self, name: str) -> Any:
        return self.get_parameter(name).value

    @staticmethod
    def _fail_at(value: float) -> float | None:
        return value if value >= 0.0 else None

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        # Types, ranges and read-only are enforced by the descriptors before
        # this runs; what is left is to apply the live ones.
        with self._lock:
            for p in parameters:
                if p.name == "speed":
                    self._robot.speed = p.value
                elif p.name == "battery_drain_per_m":
                    self._robot.drain_per_m = p.value
                elif p.name == "battery_recharge_per_s":
                    self._robot.recharge_per_s = p.value
                elif p.name == "fail_at":
                    self._robot.fail_at = self._fail_at(p.value)
        return SetParametersResult(successful=True)

    # -- control loop ---------------------------------------------------------

    def _on_tick(self) -> None:
        now = time.monotonic()
        with self._lock:
            self._robot.step(now - self._last_step)
            self._last_step = now
            pose = _pose(self._robot.position, self._robot.yaw)
            velocity, battery = self._robot.velocity, self._robot.battery
            stamp = self.get_clock().now().to_msg()  # taken with the sample: a stop or hold is never stamped before it
        odom = Odometry()
        odom.header.stamp, odom.header.frame_id = stamp, self._odom_frame
        odom.child_frame_id = self._base_frame
        odom.pose.pose = pose
        odom.twist.twist.linear.x = velocity
        self._odom_pub.publish(odom)
        pose_stamped = PoseStamped(pose=pose)
        pose_stamped.header = odom.header
        self._pose_pub.publish(pose_stamped)
        self._battery_pub.publish(Float32(data=float(battery)))

    # -- action ---------------------------------------------------------------

    def _on_goal(self, goal: Any) -> GoalResponse:
        operation_id = goal.operation.id or "(no id)"
        try:
            parse_task(goal.operation.payload_json)
        except PayloadError as exc:
            self.get_logger().warning(f"rejected operation {operation_id}: {exc}")
            return GoalResponse.REJECT
        with self._lock:
            if self._goal_slot_taken:
                self.get_logger().warning(f"rejected operation {operation_id}: busy with another goal")
                return GoalResponse.REJECT
            self._goal_slot_taken = True
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: Any) -> Any:
        operation = goal_handle.request.operation
        with self._lock:
            mission = self._robot.start(parse_task(operation.payload_json))
            self._goal_handle = goal_handle
        self.get_logger().info(f"executing operation {operation.id}: {mission.total:.2f} m")
        try:
            return self._drive(goal_handle, mission)
        except RCLError:
            if self.context.ok():
                raise
            # The signal's shutdown came between _drive's context check and a feedback or result call.
            return self._abort_at_shutdown(goal_handle)

    def _drive(self, goal_handle: Any, mission: Mission) -> Any:
        """Follow the mission until it ends, is cancelled, or the context is shut down."""
        operation = goal_handle.request.operation
        period = 1.0 / self._rate_hz
        while True:
            with self._lock:
                outcome, progress = mission.outcome, mission.progress
            if not self.context.ok():
                return self._abort_at_shutdown(goal_handle)
            if goal_handle.is_cancel_requested:
                self._release()
                goal_handle.canceled()
                self.get_logger().info(f"cancelled operation {operation.id} at {progress:.0%}")
                return _result(False, Result.NONE, f"cancelled at {progress:.0%} progress")
            self._publish_feedback(goal_handle)
            if outcome is not Outcome.RUNNING:
                return self._finish(goal_handle, mission)
            time.sleep(period)

    def _publish_feedback(self, goal_handle: Any) -> None:
        feedback = ExecuteOperation.Feedback()
        with self._lock:
            mission = self._robot.mission
            if mission is None:
                return
            feedback.progress, feedback.status = mission.progress, mission.status()
            feedback.current_pose = _pose(self._robot.position, self._robot.yaw)
        goal_handle.publish_feedback(feedback)

    def _abort_at_shutdown(self, goal_handle: Any) -> Any:
        self._release()
        try:  # the context is gone: the state changes, its status message cannot go out
            goal_handle.abort()
        except Exception:
            pass
        return _result(False, Result.UNAVAILABLE, "the robot is shutting down")

    def _finish(self, goal_handle: Any, mission: Mission) -> Any:
        self._release()
        if mission.outcome is Outcome.SUCCEEDED:
            goal_handle.succeed()
            return _result(True, Result.NONE, mission.status())
        self.get_logger().warning(f"operation {goal_handle.request.operation.id} failed: {mission.failure}")
        goal_handle.abort()
        return _result(False, Result.INTERNAL, mission.failure)

    def _release(self) -> None:
        """Stop the robot and free the goal slot, before the client hears the result."""
        with self._lock:
            self._robot.finish()
            self._goal_slot_taken = False
            self._goal_handle = None

    # -- pause / resume ---------------------------------------------------------

    def _on_pause(self, _request: Any, response: Any) -> Any:
        return self._hold(response, paused=True)

    def _on_resume(self, _request: Any, response: Any) -> Any:
        return self._hold(response, paused=False)

    def _hold(self, response: Any, paused: bool) -> Any:
        verb = "paused" if paused else "resumed"
        with self._lock:
            mission, goal_handle = self._robot.mission, self._goal_handle
            if mission is None or mission.outcome is not Outcome.RUNNING:
                response.success, response.message = False, f"no active goal to be {verb}"
            elif mission.paused == paused:
                response.success, response.message = True, f"already {verb} at {mission.progress:.0%}"
            else:
                mission.paused = paused
                response.success, response.message = True, f"{verb} at {mission.progress:.0%}"
        if response.success and goal_handle is not None:
            # Tell the client the held progress now, not a control period later.
            self._publish_feedback(goal_handle)
        self.get_logger().info(response.message)
        return response


def main(args: list[str] | None = None) -> int:
    return run_node(SimRobotNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
