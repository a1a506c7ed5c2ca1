"""The Nav2 executor: serves the robot side the dispatcher drives and carries each operation out on Nav2.

A thin shell around :class:`~operation_dispatcher_nav2.route.Route` (which
stops, what to send next, progress, status text) and
:func:`~operation_dispatcher_nav2.nav2_errors.failure_reason` (how a Nav2
goal that ended badly reads as the FAILED reason).

Interfaces (relative names; the namespace comes from launch):

- action ``execute_operation`` (operation_dispatcher_interfaces/ExecuteOperation):
  one goal at a time; a malformed payload, or a second goal while busy, is
  rejected in the goal callback (the reason is logged). Feedback: the
  route's progress and status text, ``current_pose`` from Nav2's feedback.
- services ``execute_operation/pause`` and ``execute_operation/resume``
  (std_srvs/Trigger). Nav2 has no pause: pause cancels the Nav2 goal and
  answers once Nav2 confirmed (the stops not reached stay to do); resume
  sends those stops again.
- action clients ``navigate_to_pose`` / ``navigate_through_poses``
  (parameters), relative, so a namespaced Nav2 is found in its namespace.

One stop: NavigateToPose. Several: one NavigateThroughPoses goal, or with
``use_navigate_through_poses`` false one NavigateToPose per stop, in turn.
A cancel of the ExecuteOperation goal cancels the Nav2 goal and ends
CANCELED once Nav2 confirmed. A Nav2 goal aborted, rejected or canceled by
someone else aborts the ExecuteOperation goal with
:func:`failure_reason` as its message (error_code DENIED); Nav2 absent for
``nav2_server_timeout`` aborts it with UNAVAILABLE, naming the action and
the timeout. The dispatcher's FAILED reason then reads
``executor aborted: nav2 NavigateToPose aborted: error 208 (...): ... (error_code 4)``.

Parameters (default, range; "live" = may be changed at runtime, applies to the next operation or wait):

================================= ========================= ============ ===========================================
``navigate_to_pose_action``       "navigate_to_pose"                     NavigateToPose action name
``navigate_through_poses_action`` "navigate_through_poses"               NavigateThroughPoses action name
``use_navigate_through_poses``    true                                   several stops in one goal, live
``frame_id``                      "map"                                  frame of points that name none, live
``nav2_server_timeout``           5.0                       0.1 .. 3600  s for Nav2 to appear, and to answer a goal, live
``nav2_cancel_timeout``           1.5                       0.1 .. 3600  s a pause waits for Nav2 to confirm, live
================================= ========================= ============ ===========================================

``nav2_cancel_timeout`` stays below the dispatcher's ``robot_service_timeout``
(2 s) by default, so a pause Nav2 does not confirm is refused before the
dispatcher gives up on it; the goal Nav2 cancels late is then sent again.

Concurrency: one thread (a SingleThreadedExecutor). The execute callback and
the pause service are coroutines awaiting rclpy futures and timers of the
node, so Nav2's feedback, a cancel or a resume is served while they wait,
and no lock is needed.
"""

from __future__ import annotations

import time
from enum import Enum
from typing import Any

from action_msgs.msg import GoalStatus
from geometry_msgs.msg import Pose
from rcl_interfaces.msg import FloatingPointRange, ParameterDescriptor, SetParametersResult
from rclpy.action import ActionClient, ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.task import Future
from std_srvs.srv import Trigger

from operation_dispatcher_interfaces.action import ExecuteOperation
from operation_dispatcher_ros.node_main import ConfigurationError, run_node
from operation_dispatcher_ros.route_payload import PayloadError

from .nav2_errors import GoalEnd, failure_reason
from .nav2_goals import ACTION_TYPES, goal_message
from .route import NAVIGATE_THROUGH_POSES, NAVIGATE_TO_POSE, Nav2Goal, Route

Result = ExecuteOperation.Result
SERVER_POLL = 0.05
"""Seconds between looks for a Nav2 action server that is not there yet (the graph has no callback)."""

# name: (default, (min, max) or None, description, live)
PARAMETERS: dict[str, tuple[Any, tuple[float, float] | None, str, bool]] = {
    "navigate_to_pose_action": ("navigate_to_pose", None, "Nav2's NavigateToPose action (relative: in this namespace).", False),
    "navigate_through_poses_action": (
        "navigate_through_poses", None, "Nav2's NavigateThroughPoses action (relative: in this namespace).", False,
    ),
    "use_navigate_through_poses": (True, None, "Several stops as one NavigateThroughPoses goal; false: one NavigateToPose per stop.", True),
    "frame_id": ("map", None, "Frame of the payload's points that name none.", True),
    "nav2_server_timeout": (5.0, (0.1, 3600.0), "Seconds for a Nav2 action server to appear, and to answer a goal.", True),
    "nav2_cancel_timeout": (1.5, (0.1, 3600.0), "Seconds a pause waits for Nav2 to confirm the cancel of its goal.", True),
}  # fmt: skip
NAMES = ("navigate_to_pose_action", "navigate_through_poses_action", "frame_id")
"""String parameters that must not be empty."""


def _descriptor(description: str, limits: tuple[float, float] | None, live: bool) -> ParameterDescriptor:
    descriptor = ParameterDescriptor(description=description, read_only=not live)
    if limits is not None:
        descriptor.floating_point_range = [FloatingPointRange(from_value=limits[0], to_value=limits[1])]
    return descriptor


class Hold(Enum):
    """Where a pause stands: asked (Nav2's goal is being cancelled) or held (nothing in flight)."""

    PAUSING = "pausing"
    PAUSED = "paused"


class _Run:
    """The operation being executed and what pause, resume and cancel have asked of it."""

    def __init__(self, goal_handle: Any, route: Route) -> None:
        self.goal_handle = goal_handle
        self.route = route
        self.goal: Nav2Goal | None = None  # the Nav2 goal in flight (its feedback is the only one read)
        self.nav2: Any = None  # its ClientGoalHandle, once Nav2 accepted it
        self.stop_sent = False  # this executor asked Nav2 to cancel the goal in flight
        self.cancel_wanted = False  # the dispatcher cancels the operation
        self.hold: Hold | None = None
        self.held: Future[bool] = Future()  # done (True) once PAUSED; False when the pause is withdrawn or the run ends
        self.wake: Future[bool] = Future()  # done when a held run may go on: resumed or cancelled
        self.pose = Pose()  # the robot's pose from Nav2's latest feedback


class Nav2ExecutorNode(Node):
    executor_threads = 1
    """Spun by a SingleThreadedExecutor (see node_main): every wait is an awaited future."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__("nav2_executor", **kwargs)
        for name, (default, limits, description, live) in PARAMETERS.items():
            self.declare_parameter(name, default, _descriptor(description, limits, live))
        for name in NAMES:
            if not str(self._value(name)).strip():
                raise ConfigurationError(f"{name} must be a non-empty string")
        self.add_on_set_parameters_callback(self._on_set_parameters)
        self._run: _Run | None = None
        self._busy = False  # the goal slot: taken from acceptance until the execute callback returns
        self._wakeup = self.create_guard_condition(lambda: None)  # see _settle
        self._group = ReentrantCallbackGroup()  # coroutines that await in it hold nothing
        self._nav2: dict[str, ActionClient] = {
            NAVIGATE_TO_POSE: ActionClient(self, ACTION_TYPES[NAVIGATE_TO_POSE], self._value("navigate_to_pose_action"), callback_group=self._group),
            NAVIGATE_THROUGH_POSES: ActionClient(
                self, ACTION_TYPES[NAVIGATE_THROUGH_POSES], self._value("navigate_through_poses_action"), callback_group=self._group
            ),
        }  # fmt: skip
        self._server = ActionServer(
            self,
            ExecuteOperation,
            "execute_operation",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=self._on_cancel,
            callback_group=self._group,
        )
        self.create_service(Trigger, "execute_operation/pause", self._on_pause, callback_group=self._group)
        self.create_service(Trigger, "execute_operation/resume", self._on_resume, callback_group=self._group)
        self.get_logger().info(
            f"nav2 executor: {self._action_name(NAVIGATE_TO_POSE)}, {self._action_name(NAVIGATE_THROUGH_POSES)}, frame {self._value('frame_id')}"
        )

    def _value(self, name: str) -> Any:
        return self.get_parameter(name).value

    def _action_name(self, action: str) -> str:
        name = self._value("navigate_to_pose_action" if action == NAVIGATE_TO_POSE else "navigate_through_poses_action")
        return self.resolve_topic_name(name)

    def _on_set_parameters(self, parameters: list[Parameter]) -> SetParametersResult:
        # Types, ranges and read-only are enforced by the descriptors; the values are read where used.
        for p in parameters:
            if p.name in NAMES and not str(p.value).strip():
                return SetParametersResult(successful=False, reason=f"{p.name} must be a non-empty string")
        return SetParametersResult(successful=True)

    # -- the ExecuteOperation goal ----------------------------------------------

    def _route(self, goal: Any) -> Route:
        return Route.from_payload(
            goal.operation.payload_json,
            frame_id=self._value("frame_id"),
            through_poses=self._value("use_navigate_through_poses"),
        )

    def _on_goal(self, goal: Any) -> GoalResponse:
        operation_id = goal.operation.id or "(no id)"
        try:
            self._route(goal)
        except (PayloadError, ValueError) as exc:
            self.get_logger().warning(f"rejected operation {operation_id}: {exc}")
            return GoalResponse.REJECT
        if self._busy:
            self.get_logger().warning(f"rejected operation {operation_id}: busy with another goal")
            return GoalResponse.REJECT
        self._busy = True
        return GoalResponse.ACCEPT

    def _on_cancel(self, goal_handle: Any) -> CancelResponse:
        run = self._run
        if run is not None and run.goal_handle is goal_handle:
            run.cancel_wanted = True
            self._stop_nav2(run)
            self._settle(run.wake, True)
        return CancelResponse.ACCEPT

    async def _execute(self, goal_handle: Any) -> Any:
        operation = goal_handle.request.operation
        run = _Run(goal_handle, self._route(goal_handle.request))
        self._run = run
        self.get_logger().info(f"executing operation {operation.id}: {len(run.route.stops)} stop(s)")
        try:
            return await self._carry_out(run)
        finally:
            self._run = None
            self._busy = False
            if self.context.ok():  # not at shutdown: the guard condition that _settle triggers is gone
                self._settle(run.held, False)

    async def _carry_out(self, run: _Run) -> Any:
        """Send the route's goals until every stop is reached, the operation is cancelled or Nav2 fails it."""
        route = run.route
        while True:
            if run.cancel_wanted:
                run.goal_handle.canceled()
                self.get_logger().info(f"cancelled at {route.progress:.0%}: {route.status()}")
                return Result(success=False, error_code=Result.NONE, message=f"cancelled at {route.progress:.0%} progress")
            if run.hold is Hold.PAUSING:
                run.hold = Hold.PAUSED
                self._settle(run.held, True)
            if run.hold is Hold.PAUSED:
                self._publish_feedback(run)
                await run.wake
                run.wake = Future()
                continue
            failure = await self._navigate(run, route.next_goal())
            if failure is not None:
                if run.cancel_wanted:
                    continue  # the robot has stopped, as the cancel asked
                error_code, reason = failure
                self.get_logger().warning(f"operation {run.goal_handle.request.operation.id} failed: {reason}")
                run.goal_handle.abort()
                return Result(success=False, error_code=error_code, message=reason)
            if route.finished:
                run.goal_handle.succeed()
                return Result(success=True, error_code=Result.NONE, message=route.status())

    async def _navigate(self, run: _Run, goal: Nav2Goal) -> tuple[int, str] | None:
        """Carry ``goal`` out on Nav2 until it ends; the failure (error code, reason), or None.

        None also when the goal was stopped on purpose (pause, cancel, a
        pause withdrawn): the caller looks at the run to see what comes next."""
        route, client, timeout = run.route, self._nav2[goal.action], self._value("nav2_server_timeout")
        name = self._action_name(goal.action)
        run.goal, run.nav2, run.stop_sent = goal, None, False
        try:
            ready = await self._server_ready(client, timeout, run)
            if run.cancel_wanted or run.hold is not None:
                route.on_stopped()  # asked while Nav2 was looked for: nothing was sent
                return None
            if not ready:
                route.on_stopped()
                return Result.UNAVAILABLE, f"nav2 {goal.action}: action server {name} not available within {timeout:g} s"
            self._publish_feedback(run)
            sent = client.send_goal_async(
                goal_message(goal, self.get_clock().now().to_msg()), feedback_callback=lambda fb: self._on_nav2_feedback(run, goal, fb)
            )
            if not await self._within(sent, timeout):
                route.on_stopped()
                return Result.UNAVAILABLE, f"nav2 {goal.action}: no answer to the goal from {name} within {timeout:g} s"
            handle: Any = sent.result()
            if not handle.accepted:
                route.on_stopped()
                return Result.DENIED, failure_reason(goal.action, GoalEnd.REJECTED)
            run.nav2 = handle
            if run.cancel_wanted or run.hold is Hold.PAUSING:
                self._stop_nav2(run)  # asked while the goal was on its way
            response: Any = await handle.get_result_async()
        finally:
            run.goal, run.nav2 = None, None
        return self._ended(run, goal, response.status, response.result)

    def _ended(self, run: _Run, goal: Nav2Goal, status: int, result: Any) -> tuple[int, str] | None:
        route = run.route
        if status == GoalStatus.STATUS_SUCCEEDED:
            route.on_succeeded()
            self._publish_feedback(run)
            return None
        route.on_stopped()
        if status == GoalStatus.STATUS_CANCELED and run.stop_sent:
            return None
        if status == GoalStatus.STATUS_CANCELED:
            return Result.DENIED, failure_reason(goal.action, GoalEnd.CANCELED)
        if status == GoalStatus.STATUS_ABORTED:
            return Result.DENIED, failure_reason(goal.action, GoalEnd.ABORTED, int(result.error_code), str(result.error_msg))
        return Result.INTERNAL, f"nav2 {goal.action} ended with goal status {status}"

    def _stop_nav2(self, run: _Run) -> None:
        """Ask Nav2 to cancel the goal in flight (once); its result confirms the stop."""
        if run.nav2 is not None and not run.stop_sent:
            run.stop_sent = True
            run.nav2.cancel_goal_async()

    def _on_nav2_feedback(self, run: _Run, goal: Nav2Goal, message: Any) -> None:
        if run.goal is not goal:
            return  # a late feedback of a goal that has ended
        feedback = message.feedback
        poses_remaining = int(feedback.number_of_poses_remaining) if goal.action == NAVIGATE_THROUGH_POSES else None
        run.route.on_feedback(float(feedback.distance_remaining), poses_remaining)
        run.pose = feedback.current_pose.pose
        self._publish_feedback(run)

    def _publish_feedback(self, run: _Run) -> None:
        feedback = ExecuteOperation.Feedback(
            progress=float(run.route.progress), status=run.route.status(paused=run.hold is Hold.PAUSED), current_pose=run.pose
        )
        run.goal_handle.publish_feedback(feedback)

    # -- pause / resume ---------------------------------------------------------

    async def _on_pause(self, _request: Any, response: Any) -> Any:
        run = self._run
        if run is None or run.cancel_wanted:
            response.success, response.message = False, "no active goal to be paused"
        elif run.hold is Hold.PAUSED:
            response.success, response.message = True, f"already paused at {run.route.progress:.0%}"
        else:
            if run.hold is None:
                run.hold, run.held = Hold.PAUSING, Future()
                self._stop_nav2(run)
            timeout = self._value("nav2_cancel_timeout")
            held = run.held
            if await self._within(held, timeout) and held.result():
                response.success, response.message = True, f"paused at {run.route.progress:.0%}: {run.route.status(paused=True)}"
            elif self._run is not run:
                response.success, response.message = False, "not paused: the operation has ended"
            else:
                if run.hold is Hold.PAUSING:
                    run.hold = None  # withdrawn: the goal Nav2 cancels late is sent again
                response.success = False
                response.message = f"not paused: Nav2 did not confirm the cancel of its goal within {timeout:g} s"
        self.get_logger().info(response.message)
        return response

    def _on_resume(self, _request: Any, response: Any) -> Any:
        run = self._run
        if run is None or run.cancel_wanted:
            response.success, response.message = False, "no active goal to be resumed"
        elif run.hold is None:
            response.success, response.message = True, f"already resumed at {run.route.progress:.0%}"
        else:
            if run.hold is Hold.PAUSING:
                self._settle(run.held, False)  # the pause waiting for Nav2 is withdrawn
            run.hold = None
            self._settle(run.wake, True)
            left = len(run.route.remaining)
            response.success, response.message = True, f"resumed at {run.route.progress:.0%}: {left} stop(s) to go"
        self.get_logger().info(response.message)
        return response

    # -- waits that leave the executor free -----------------------------------------

    async def _server_ready(self, client: ActionClient, timeout: float, run: _Run) -> bool:
        """Whether ``client``'s server is there within ``timeout``; the wait ends early when the run is paused or cancelled."""
        deadline = time.monotonic() + timeout
        while not client.server_is_ready():
            if time.monotonic() >= deadline or run.cancel_wanted or run.hold is not None:
                return False
            await self._sleep(SERVER_POLL)
        return True

    async def _sleep(self, seconds: float) -> None:
        done: Future[None] = Future()
        timer = self.create_timer(seconds, lambda: self._settle(done, None), callback_group=self._group)
        try:
            await done
        finally:
            self.destroy_timer(timer)

    def _settle(self, future: Future[Any], value: Any) -> None:
        """Finish ``future`` (once) and wake the executor: a coroutine awaiting it is resumed on the
        executor's next pass, which, when the future is finished by another coroutine, might
        otherwise wait for the next message or timer."""
        if not future.done():
            future.set_result(value)
            self._wakeup.trigger()

    async def _within(self, future: Future[Any], timeout: float) -> bool:
        """Whether ``future`` is done within ``timeout`` seconds (it is not cancelled either way)."""
        if future.done():
            return True
        either: Future[bool] = Future()
        future.add_done_callback(lambda _f: self._settle(either, True))
        timer = self.create_timer(timeout, lambda: self._settle(either, False), callback_group=self._group)
        try:
            return bool(await either)
        finally:
            self.destroy_timer(timer)


def main(args: list[str] | None = None) -> int:
    return run_node(Nav2ExecutorNode, args)


if __name__ == "__main__":
    raise SystemExit(main())
