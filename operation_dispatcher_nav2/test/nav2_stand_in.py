"""A scripted Nav2 for the executor's tests: NavigateToPose / NavigateThroughPoses on a node of the test process.

Each goal it accepts follows the next plan of its script (then
:data:`DEFAULT_PLAN`), a dict of:

- ``then``: ``"succeed"`` (drive along the poses, then succeed), ``"abort"``
  (after ``ticks`` feedbacks, with ``error_code`` and ``error_msg``) or
  ``"hold"`` (drive until ``reach`` poses are reached, then stand there,
  feedback going on, until cancelled);
- ``ticks``: feedbacks a leg of ``LEG`` metres takes (the robot moves
  ``LEG / ticks`` metres per feedback), one every :data:`STEP` seconds;
- ``cancel_delay``: seconds between a cancel request and its confirmation
  (a robot braking).

Feedback as Nav2's: ``current_pose`` (the robot's position, starting at the
origin), ``distance_remaining`` (along the poses to the last), and for
NavigateThroughPoses ``number_of_poses_remaining`` (the last pose counts
until success, as in Nav2). ``log`` (a :class:`ros_testing.Recorder`) gets a
dict per step: ``{"step": "goal" | "reached" | "cancel_requested" |
"canceled" | "succeeded" | "aborted", "goal": index, "action", "time"
(time.time()), ...}``; a "goal" step carries ``poses`` as
``(x, y, frame_id, yaw)``, a "reached" one ``count``.

Spun by one thread (a :class:`ros_testing.SpunNode`); the execute loops
await timers instead of sleeping.
"""

from __future__ import annotations

import math
import time
from functools import partial
from itertools import pairwise
from typing import Any

from geometry_msgs.msg import Point as PointMsg
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose
from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.task import Future
from ros_testing import Recorder, SpunNode

from operation_dispatcher_nav2.nav2_goals import goal_poses

STEP = 0.05
LEG = 1.0
DEFAULT_PLAN: dict[str, Any] = {"then": "succeed", "ticks": 5, "cancel_delay": 0.0}
ACTIONS = {"NavigateToPose": (NavigateToPose, "navigate_to_pose"), "NavigateThroughPoses": (NavigateThroughPoses, "navigate_through_poses")}


def _yaw(pose: Any) -> float:
    q = pose.pose.orientation
    return 2.0 * math.atan2(q.z, q.w)


class ScriptedNav2(SpunNode):
    def __init__(self, context: Any, namespace: str, script: list[dict[str, Any]], actions: tuple[str, ...] = tuple(ACTIONS)) -> None:
        super().__init__(context, "scripted_nav2", namespace)
        self.script = list(script)
        self.log = Recorder()
        self.position = PointMsg()
        self._goals = 0
        self._group = ReentrantCallbackGroup()
        self._servers = [
            ActionServer(
                self.node, ACTIONS[action][0], ACTIONS[action][1], callback_group=self._group,
                goal_callback=lambda _goal: GoalResponse.ACCEPT, cancel_callback=self._on_cancel,
                execute_callback=partial(self._execute, action),  # a partial of a coroutine function is awaited; a lambda's coroutine is not
            )
            for action in actions
        ]  # fmt: skip
        self.spin_in_background()

    # -- what the tests read ---------------------------------------------------------

    def steps(self, step: str) -> list[dict[str, Any]]:
        return [entry for entry in self.log.snapshot() if entry["step"] == step]

    def wait_step(self, step: str, goal: int | None = None, timeout: float = 20.0, **fields: Any) -> dict[str, Any]:
        def match(entry: dict[str, Any]) -> bool:
            return entry["step"] == step and goal in (None, entry["goal"]) and all(entry.get(k) == v for k, v in fields.items())

        return self.log.wait_for(match, timeout, f"nav2 step {step} (goal {goal}, {fields})")

    def goals(self) -> list[tuple[str, list[tuple[float, float, str, float]]]]:
        """(action, poses) of every goal received, in order."""
        return [(entry["action"], entry["poses"]) for entry in self.steps("goal")]

    # -- serving ----------------------------------------------------------------------

    def _record(self, step: str, goal: int, action: str, **fields: Any) -> None:
        self.log({"step": step, "goal": goal, "action": action, "time": time.time(), **fields})

    def _on_cancel(self, handle: Any) -> CancelResponse:
        index, action = handle.index
        self._record("cancel_requested", index, action)
        return CancelResponse.ACCEPT

    async def _sleep(self, seconds: float) -> None:
        done: Future[None] = Future()
        timer = self.node.create_timer(seconds, lambda: done.done() or done.set_result(None), callback_group=self._group)
        try:
            await done
        finally:
            self.node.destroy_timer(timer)

    async def _execute(self, action: str, handle: Any) -> Any:
        index = self._goals
        self._goals += 1
        handle.index = (index, action)
        plan = {**DEFAULT_PLAN, **(self.script[index] if index < len(self.script) else {})}
        poses = goal_poses(handle.request)
        self._record("goal", index, action, poses=[(p.pose.position.x, p.pose.position.y, p.header.frame_id, _yaw(p)) for p in poses])
        result_type = ACTIONS[action][0].Result
        step = LEG / plan["ticks"]
        reached, ticks = 0, 0
        while True:
            if handle.is_cancel_requested:
                if plan["cancel_delay"] > 0:
                    await self._sleep(plan["cancel_delay"])
                handle.canceled()
                self._record("canceled", index, action)
                return result_type()
            if plan["then"] == "abort" and ticks >= plan["ticks"]:
                handle.abort()
                self._record("aborted", index, action)
                return result_type(error_code=plan["error_code"], error_msg=plan["error_msg"])
            holding = plan["then"] == "hold" and reached >= plan.get("reach", 0)
            if not holding and plan["then"] != "abort":
                reached = self._move(poses, reached, step, index, action)
            if reached == len(poses):
                handle.succeed()
                self._record("succeeded", index, action)
                return result_type()
            self._publish_feedback(action, handle, poses, reached)
            ticks += 1
            await self._sleep(STEP)

    def _move(self, poses: list[Any], reached: int, step: float, index: int, action: str) -> int:
        """Move ``step`` metres towards the next pose; the count of poses reached after it."""
        target = poses[reached].pose.position
        dx, dy = target.x - self.position.x, target.y - self.position.y
        distance = math.hypot(dx, dy)
        if distance <= step:
            self.position.x, self.position.y = target.x, target.y
            self._record("reached", index, action, count=reached + 1)
            return reached + 1
        self.position.x += dx / distance * step
        self.position.y += dy / distance * step
        return reached

    def _publish_feedback(self, action: str, handle: Any, poses: list[Any], reached: int) -> None:
        feedback = ACTIONS[action][0].Feedback()
        feedback.current_pose.header.frame_id = "map"
        feedback.current_pose.pose.position.x, feedback.current_pose.pose.position.y = self.position.x, self.position.y
        points = [self.position] + [p.pose.position for p in poses[reached:]]
        feedback.distance_remaining = float(sum(math.hypot(b.x - a.x, b.y - a.y) for a, b in pairwise(points)))
        if action == "NavigateThroughPoses":
            feedback.number_of_poses_remaining = len(poses) - reached
        handle.publish_feedback(feedback)
