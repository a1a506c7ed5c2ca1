"""A robot slow to accept its goal: no goal may run that the dispatcher does not follow.

The robot is a stand-in process (``stand_in_robot.py``) whose goal callback
answers only after ``accept_delay`` seconds and which publishes every step
it takes (received, accepted, executing, canceled, succeeded) on
``robot_log``. What it did is judged from that log, not from the
dispatcher's word:

- a cancel that arrives while the start still waits for the acceptance is
  kept and applied on acceptance; the cancel returns (and the operation is
  CANCELLED) only after the robot has stopped;
- a start that gives its goal up, because it was cancelled (the core
  abandons it) or the robot did not answer within ``goal_timeout`` (the
  operation is FAILED), leaves nothing running: the late acceptance is
  cancelled the moment it arrives.

First on the runner itself (a node of this process, a real
``ActionOperationRunner`` on its own asyncio loop, the robot in its own
process), then through a real ``dispatcher_node`` process.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from ros_testing import Recorder, SpunNode, event_metadata

pytestmark = pytest.mark.ros

ROBOT_SCRIPT = Path(__file__).with_name("stand_in_robot.py")
ACCEPT_DELAY = 2.0
PROMPT_STOP = 1.0
"""Seconds a late or cancelled goal may execute before it stops (the robot checks every 50 ms)."""


# ------------------------------------------------------------------ the robot

class RobotLog(Recorder):
    """The stand-in robot's ``robot_log``: what it really did, step by step."""

    def __init__(self) -> None:
        super().__init__(lambda m: m.data)

    def wait_step(self, step: str, operation_id: str, timeout: float = 15.0) -> dict[str, Any]:
        msg = self.wait_for(lambda m: _step(m) == (step, operation_id), timeout, f"robot step {step} of {operation_id}")
        return json.loads(msg.data)

    def steps(self, operation_id: str) -> list[str]:
        return [s for s, op in map(_step, self.snapshot()) if op == operation_id]


def _step(msg: Any) -> tuple[str, str]:
    entry = json.loads(msg.data)
    return entry["step"], entry["operation_id"]


def start_robot(ros_processes: Any, ros_client: Any, namespace: str, accept_delay: float = ACCEPT_DELAY) -> RobotLog:
    from stand_in_robot import ROBOT_LOG_QOS
    from std_msgs.msg import String

    from operation_dispatcher_interfaces.action import ExecuteOperation

    ros_processes.start_script(ROBOT_SCRIPT, namespace, {"accept_delay": accept_delay, "duration": 30.0})
    log = ros_client.record(String, "robot_log", ROBOT_LOG_QOS, RobotLog())
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
    return log


def assert_stopped_promptly(log: RobotLog, op_id: str) -> dict[str, Any]:
    """The robot accepted ``op_id``, then canceled it within PROMPT_STOP of executing, and never finished it."""
    canceled = log.wait_step("canceled", op_id)
    assert canceled["executed"] < PROMPT_STOP, canceled
    assert log.steps(op_id) == ["received", "accepted", "executing", "canceled"], log.steps(op_id)
    return canceled


# ------------------------------------------------------------------ the runner alone

class RunnerUnderTest:
    """A real ActionOperationRunner on a node of this process, its methods run on its own asyncio loop.

    Its dispatcher knows no operation: the runner's reports (progress,
    results) are refused and ignored, which leaves the robot's log as the
    one judge of what ran."""

    def __init__(self, context: Any, namespace: str, **settings: Any) -> None:
        from operation_dispatcher import OperationDispatcher
        from operation_dispatcher_ros.action_runner import ActionOperationRunner, RobotSettings

        self.spun = SpunNode(context, "runner_under_test", namespace)
        self.runner = ActionOperationRunner(self.spun.node, RobotSettings(**settings))
        self.runner.dispatcher = OperationDispatcher("r1")
        self.spun.spin_in_background()
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="runner-asyncio", daemon=True)
        self._thread.start()

    async def _wind_down(self) -> None:
        """Cancel the watchdogs and let every task of the loop end before it stops."""
        self.runner.cancel_watchdogs()
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*others, return_exceptions=True)

    def run(self, method: str, op_id: str) -> concurrent.futures.Future[Any]:
        """Call ``runner.<method>(operation)`` on the loop; the future also notes when it ended (``ended_at``, wall clock)."""
        from operation_dispatcher import Operation

        operation = Operation(id=op_id, resource_id="r1", payload={})
        future = asyncio.run_coroutine_threadsafe(getattr(self.runner, method)(operation), self.loop)
        future.add_done_callback(lambda f: setattr(f, "ended_at", time.time()))
        return future

    def start_task(self, op_id: str) -> tuple[asyncio.Task[None], concurrent.futures.Future[bool]]:
        """start() as a task of the loop (so the test can cancel it, as the core may), and
        a future of whether it ended cancelled (set once the task has ended)."""
        from operation_dispatcher import Operation

        operation = Operation(id=op_id, resource_id="r1", payload={})
        created: concurrent.futures.Future[asyncio.Task[None]] = concurrent.futures.Future()
        ended_cancelled: concurrent.futures.Future[bool] = concurrent.futures.Future()

        def begin() -> None:
            task = self.loop.create_task(self.runner.start(operation))
            task.add_done_callback(lambda t: ended_cancelled.set_result(t.cancelled()))
            created.set_result(task)

        self.loop.call_soon_threadsafe(begin)
        return created.result(5.0), ended_cancelled

    def cancel_task(self, task: asyncio.Task[None]) -> None:
        self.loop.call_soon_threadsafe(task.cancel)

    def close(self) -> None:
        asyncio.run_coroutine_threadsafe(self._wind_down(), self.loop).result(5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(5.0)
        self.runner.destroy()
        self.spun.close()


@pytest.fixture
def runner_under_test(ros_context: Any, ros_namespace: str):
    made: list[RunnerUnderTest] = []

    def make(**settings: Any) -> RunnerUnderTest:
        made.append(RunnerUnderTest(ros_context, ros_namespace, **settings))
        return made[-1]

    yield make
    for harness in made:
        harness.close()


def test_runner_keeps_a_cancel_that_comes_before_the_acceptance(runner_under_test, ros_client, ros_processes, ros_namespace):
    harness = runner_under_test(goal_timeout=10.0, cancel_timeout=10.0)
    log = start_robot(ros_processes, ros_client, ros_namespace)  # after the runner: its warm-up covers the runner's client
    started = harness.run("start", "op-1")
    log.wait_step("received", "op-1")
    cancelled = harness.run("cancel", "op-1")  # the robot has not answered yet: no goal handle exists

    cancelled.result(ACCEPT_DELAY + 10.0)  # returns (does not raise) ...
    canceled = assert_stopped_promptly(log, "op-1")
    assert canceled["time"] <= cancelled.ended_at  # ... and only once the robot had stopped
    assert log.wait_step("accepted", "op-1")["time"] - log.wait_step("received", "op-1")["time"] >= ACCEPT_DELAY - 0.1
    started.result(1.0)  # the start went through: the goal was accepted (and stopped)


def test_runner_cancels_the_late_acceptance_of_an_abandoned_start(runner_under_test, ros_client, ros_processes, ros_namespace):
    harness = runner_under_test(goal_timeout=10.0, cancel_timeout=10.0)
    log = start_robot(ros_processes, ros_client, ros_namespace)
    task, ended_cancelled = harness.start_task("op-2")
    log.wait_step("received", "op-2")
    harness.cancel_task(task)  # the core gives the start up while the robot still decides
    assert ended_cancelled.result(5.0) is True  # CancelledError went through the start
    assert "accepted" not in log.steps("op-2")
    # A cancel after the abandoned start returns once the late acceptance has been stopped.
    cancelled = harness.run("cancel", "op-2")
    cancelled.result(ACCEPT_DELAY + 10.0)
    canceled = assert_stopped_promptly(log, "op-2")
    assert canceled["time"] <= cancelled.ended_at


def test_runner_cancel_after_an_abandoned_start_to_a_mute_robot_gives_up_without_failing(
    runner_under_test, ros_client, ros_processes, ros_namespace
):
    """A robot that never answers: the cancel returns after cancel_timeout (nothing runs), it does not fail."""
    harness = runner_under_test(goal_timeout=60.0, cancel_timeout=1.0)
    log = start_robot(ros_processes, ros_client, ros_namespace, accept_delay=120.0)
    task, ended_cancelled = harness.start_task("op-4")
    log.wait_step("received", "op-4")
    harness.cancel_task(task)
    assert ended_cancelled.result(5.0) is True
    began = time.monotonic()
    harness.run("cancel", "op-4").result(10.0)  # no RuntimeError
    assert time.monotonic() - began >= 1.0 - 0.1  # it did wait for an answer, up to cancel_timeout
    assert log.steps("op-4") == ["received"]


def test_runner_cancels_an_acceptance_that_comes_after_the_goal_timeout(runner_under_test, ros_client, ros_processes, ros_namespace):
    harness = runner_under_test(goal_timeout=ACCEPT_DELAY / 2)
    log = start_robot(ros_processes, ros_client, ros_namespace)
    started = harness.run("start", "op-3")
    with pytest.raises(RuntimeError, match=f"did not accept or reject the goal within {ACCEPT_DELAY / 2:g} s"):
        started.result(ACCEPT_DELAY + 5.0)
    assert "accepted" not in log.steps("op-3")  # the start gave up first
    assert_stopped_promptly(log, "op-3")  # issue 11 item 4: no longer driven unseen


# ------------------------------------------------------------------ through the dispatcher node

def _bring_up(bringup: Any, ros_client: Any, ros_processes: Any, ros_namespace: str, **dispatcher: Any) -> tuple[RobotLog, Any]:
    log = start_robot(ros_processes, ros_client, ros_namespace)
    bringup(dispatcher={"robot_timeout": 0.0, **dispatcher}, business_logic={"rule": "approve_all"}, sim_robot=None)
    return log, ros_client.record_events()


def test_cancel_during_a_slow_acceptance_ends_only_after_the_robot_stopped(bringup, ros_client, ros_processes, ros_namespace):
    from test_e2e_transport import transport

    from operation_dispatcher_interfaces.srv import AddOperations, GetOperation, OperationCommand

    log, events = _bring_up(bringup, ros_client, ros_processes, ros_namespace, robot_goal_timeout=10.0)
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("slow", 0)]).success
    log.wait_step("received", "slow")

    answer = ros_client.call(OperationCommand, "cancel_operation", operation_id="slow", reason="withdrawn", timeout=30.0)
    assert answer.success, answer.message
    canceled = assert_stopped_promptly(log, "slow")
    cancelled = events.wait_event("OPERATION_CANCELLED", "slow")
    assert canceled["time"] <= cancelled.stamp.sec + cancelled.stamp.nanosec * 1e-9, (canceled, cancelled.stamp)
    status = ros_client.call(GetOperation, "get_operation", operation_id="slow").status
    assert status.state_name == "CANCELLED" and status.termination_reason == "withdrawn"


def test_a_goal_accepted_after_the_goal_timeout_is_cancelled_on_arrival_before_the_next_goal_goes(
    bringup, ros_client, ros_processes, ros_namespace
):
    """The next operation's goal goes out only once the robot has stopped the late one: it used to
    go the moment the first FAILED, a second before the robot accepted (then drove) the first."""
    from test_e2e_transport import transport

    from operation_dispatcher_interfaces.srv import AddOperations

    goal_timeout = ACCEPT_DELAY / 2
    log, events = _bring_up(bringup, ros_client, ros_processes, ros_namespace, robot_goal_timeout=goal_timeout)
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("late", 0), transport("next", 0)]).success
    failed = events.wait_event("OPERATION_FAILED", "late", timeout=ACCEPT_DELAY + 10.0)
    assert f"did not accept or reject the goal within {goal_timeout:g} s" in event_metadata(failed)["reason"]
    canceled = assert_stopped_promptly(log, "late")  # FAILED, and the robot does not drive it unseen
    received = log.wait_step("received", "next", timeout=ACCEPT_DELAY + 15.0)
    assert received["time"] >= canceled["time"], (log.steps("late"), received, canceled)
