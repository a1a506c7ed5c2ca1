"""A stand-in robot that misbehaves on demand, run as its own process by the tests.

    python stand_in_robot.py --ros-args -r __ns:=/ns -p accept_delay:=3.0 -p duration:=30.0 -p stop_delay:=0.0 \
        -p refuse_cancel:=false -p bad_progress:=false -p succeed:=true -p message_length:=0

It serves ``execute_operation`` (ExecuteOperation) like a robot whose goal
callback is slow: it decides on a goal only ``accept_delay`` seconds after
it arrived (then accepts it), executes it for ``duration`` seconds with
feedback every 50 ms, and honours a cancel ``stop_delay`` seconds after it
was asked (a heavy robot braking; 0 = within 50 ms), or, with
``refuse_cancel``, refuses every cancel (its cancel callback answers
REJECT, as a robot that must not stop mid-manoeuvre would) and drives on. With
``bad_progress``, every other feedback's progress is out of range (5.0,
-3.0: a robot with a units bug). With ``succeed`` false, a goal that runs
its ``duration`` ends as a failure (``success`` false); ``message_length``
> 0 makes its result message that many characters long (a robot that puts
a whole log in it).
Everything it does is published on ``robot_log`` (std_msgs/String, one
JSON object per step: ``{"step": "received" | "accepted" | "executing" |
"stopping" | "cancel_refused" | "canceled" | "succeeded", "operation_id",
"time" (wall clock, s), "executed" (seconds spent executing)}``;
"stopping", with a stop_delay, when it first sees the cancel), latched
(:data:`ROBOT_LOG_QOS`), so a test can tell what the robot really did and when.

Spun by one thread: the slow goal callback and the execute loop await
timers of the node (in one reentrant group) instead of blocking it, so a
cancel is heard while they wait.
"""

from __future__ import annotations

import json
import time
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from rclpy.task import Future
from std_msgs.msg import String

from operation_dispatcher_interfaces.action import ExecuteOperation
from operation_dispatcher_ros.node_main import run_node

ROBOT_LOG_QOS = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
STEP = 0.05


class StandInRobot(Node):
    def __init__(self) -> None:
        super().__init__("stand_in_robot")
        self.accept_delay = float(self.declare_parameter("accept_delay", 0.0).value)
        self.duration = float(self.declare_parameter("duration", 30.0).value)
        self.stop_delay = float(self.declare_parameter("stop_delay", 0.0).value)
        self.bad_progress = bool(self.declare_parameter("bad_progress", False).value)
        self.refuse_cancel = bool(self.declare_parameter("refuse_cancel", False).value)
        self.succeed = bool(self.declare_parameter("succeed", True).value)
        self.message_length = int(self.declare_parameter("message_length", 0).value)
        self._log = self.create_publisher(String, "robot_log", ROBOT_LOG_QOS)
        # Reentrant: a goal callback or execute loop awaiting its timer holds its group meanwhile.
        self._group = ReentrantCallbackGroup()
        self._server = ActionServer(
            self, ExecuteOperation, "execute_operation", callback_group=self._group,
            execute_callback=self._execute, goal_callback=self._decide, cancel_callback=self._answer_cancel,
        )

    def publish_step(self, step: str, operation_id: str, executed: float = 0.0) -> None:
        text = json.dumps({"step": step, "operation_id": operation_id, "time": time.time(), "executed": round(executed, 3)})
        self._log.publish(String(data=text))
        self.get_logger().info(text)

    async def _sleep(self, seconds: float) -> None:
        """Wait without blocking the executor's thread."""
        done = Future()
        timer = self.create_timer(seconds, lambda: done.done() or done.set_result(None), callback_group=self._group)
        try:
            await done
        finally:
            self.destroy_timer(timer)

    async def _decide(self, goal: Any) -> GoalResponse:
        self.publish_step("received", goal.operation.id)
        if self.accept_delay > 0:
            await self._sleep(self.accept_delay)
        self.publish_step("accepted", goal.operation.id)
        return GoalResponse.ACCEPT

    def _answer_cancel(self, goal_handle: Any) -> CancelResponse:
        if not self.refuse_cancel:
            return CancelResponse.ACCEPT
        self.publish_step("cancel_refused", goal_handle.request.operation.id)
        return CancelResponse.REJECT

    async def _execute(self, goal_handle: Any) -> Any:
        op_id = goal_handle.request.operation.id
        began = time.monotonic()
        stop_asked: float | None = None
        sent = 0
        self.publish_step("executing", op_id)
        while True:
            executed = time.monotonic() - began
            if goal_handle.is_cancel_requested and stop_asked is None:
                stop_asked = time.monotonic()
                if self.stop_delay > 0:
                    self.publish_step("stopping", op_id, executed)
            if stop_asked is not None:
                if time.monotonic() - stop_asked >= self.stop_delay:
                    goal_handle.canceled()
                    self.publish_step("canceled", op_id, executed)
                    return ExecuteOperation.Result(success=False, message="canceled")
            elif executed >= self.duration:
                goal_handle.succeed()
                self.publish_step("succeeded", op_id, executed)
                message = "x" * self.message_length if self.message_length > 0 else "done" if self.succeed else "failed"
                return ExecuteOperation.Result(success=self.succeed, message=message)
            feedback = ExecuteOperation.Feedback()
            feedback.progress = float(min(executed / self.duration, 1.0)) if self.duration > 0 else 1.0
            if self.bad_progress:  # every other message out of range, alternately above and below
                sent += 1
                feedback.progress = (5.0 if sent % 4 == 1 else -3.0) if sent % 2 else feedback.progress
            goal_handle.publish_feedback(feedback)
            await self._sleep(STEP)


def main() -> int:
    return run_node(StandInRobot, num_threads=1)  # the package's Fast DDS profile, like the nodes it stands in for


if __name__ == "__main__":
    raise SystemExit(main())
