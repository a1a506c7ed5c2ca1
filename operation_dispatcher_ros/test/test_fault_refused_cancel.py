"""A robot that refuses to cancel: the refusal is reported at once, and the robot is still followed.

The robot is the stand-in process (``stand_in_robot.py``) with
``refuse_cancel``: its cancel callback answers REJECT, which rclpy's action
server sends as ERROR_NONE with an empty ``goals_canceling``. The runner
used to look at the return code only and then wait the whole
``robot_cancel_timeout`` for a stop that never came ("did not stop within
N s", issue 11 item 8). Now it reads the goal list: the cancel is DENIED
"executor could not cancel: the robot refused to cancel goal <id> ..." at
once, and the operation stays RUNNING, as after any cancel the executor
could not carry out (the core's rule): the robot drives on, the dispatcher
follows its feedback, and its result completes the operation.

The answer's reading is also checked without a graph (:func:`cancel_refusal`):
a goal that ended as the cancel was asked is no refusal.
"""

from __future__ import annotations

import time
import uuid

import pytest
from test_e2e_transport import transport
from test_fault_late_accept import ROBOT_SCRIPT, RobotLog

pytestmark = pytest.mark.ros

CANCEL_TIMEOUT = 20.0  # long, so that waiting it out cannot pass for a prompt refusal
DURATION = 12.0  # the robot drives on this long after it was asked to stop, then succeeds


def test_a_refused_cancel_is_denied_at_once_and_the_robot_is_still_followed(bringup, ros_client, ros_processes, ros_namespace):
    from stand_in_robot import ROBOT_LOG_QOS
    from std_msgs.msg import String

    from operation_dispatcher import DeniedError
    from operation_dispatcher_interfaces.action import ExecuteOperation

    ros_processes.start_script(ROBOT_SCRIPT, ros_namespace, {"duration": DURATION, "refuse_cancel": True})
    log = ros_client.record(String, "robot_log", ROBOT_LOG_QOS, RobotLog())
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
    bringup(dispatcher={"robot_cancel_timeout": CANCEL_TIMEOUT}, business_logic={"rule": "approve_all"}, sim_robot=None)
    events = ros_client.record_events()
    dispatcher = ros_client.dispatcher
    dispatcher.add([transport("stubborn", 0)])
    log.wait_step("executing", "stubborn")

    began = time.monotonic()
    with pytest.raises(DeniedError) as refused:
        dispatcher.cancel("stubborn", reason="withdrawn", timeout=CANCEL_TIMEOUT + 30.0)
    took = time.monotonic() - began
    assert took < CANCEL_TIMEOUT / 2, f"the refusal took {took:.1f} s (robot_cancel_timeout {CANCEL_TIMEOUT:g} s)"
    message = refused.value.message
    assert "executor could not cancel: the robot refused to cancel goal " in message, message
    assert "(return code 0: the goal is not among those it is canceling)" in message, message  # rclpy's answer to REJECT
    assert log.wait_step("cancel_refused", "stubborn")

    status = dispatcher.get("stubborn")
    assert status.state_name == "RUNNING", status  # the robot drives it: not CANCELLED, not FAILED
    denied = events.wait_event("OPERATION_CANCEL_DENIED", "stubborn")
    assert "refused to cancel goal" in denied.metadata_json, denied.metadata_json

    finished = dispatcher.wait_for("stubborn", "COMPLETED", timeout=DURATION + 20.0)  # followed to its end
    assert finished.outcome == "done", finished
    assert log.steps("stubborn") == ["received", "accepted", "executing", "cancel_refused", "succeeded"], log.steps("stubborn")
    assert "OPERATION_CANCELLED" not in events.types_for("stubborn"), events.types_for("stubborn")


# ------------------------------------------------------------------ the answer, without a graph

def _answer(return_code: int, *goal_ids: bytes):
    from action_msgs.msg import GoalInfo
    from action_msgs.srv import CancelGoal
    from unique_identifier_msgs.msg import UUID

    listed = [GoalInfo(goal_id=UUID(uuid=list(g))) for g in goal_ids]
    return CancelGoal.Response(return_code=return_code, goals_canceling=listed)


@pytest.mark.parametrize(
    ("code_name", "listed", "refused_with"),
    [
        ("ERROR_NONE", "ours", None),  # canceling: wait for the stop
        ("ERROR_NONE", "none", "return code 0: the goal is not among those it is canceling"),  # rclpy's REJECT
        ("ERROR_NONE", "other", "return code 0: the goal is not among those it is canceling"),
        ("ERROR_REJECTED", "none", "return code 1: rejected"),  # rclcpp's REJECT
        ("ERROR_UNKNOWN_GOAL_ID", "none", "return code 2: unknown goal id"),
        ("ERROR_GOAL_TERMINATED", "none", None),  # it ended as the cancel was asked: its result is on its way
    ],
)
def test_cancel_refusal_reads_the_goal_list_not_only_the_return_code(code_name, listed, refused_with):
    from action_msgs.srv import CancelGoal
    from unique_identifier_msgs.msg import UUID

    from operation_dispatcher_ros.action_runner import cancel_refusal

    ours, other = uuid.uuid4().bytes, uuid.uuid4().bytes
    goal_ids = {"ours": (other, ours), "none": (), "other": (other,)}[listed]
    refusal = cancel_refusal(_answer(getattr(CancelGoal.Response, code_name), *goal_ids), UUID(uuid=list(ours)))
    if refused_with is None:
        assert refusal is None
    else:
        assert refusal == f"the robot refused to cancel goal {ours.hex()} ({refused_with})"
