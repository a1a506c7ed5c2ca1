"""A robot that takes most of ``robot_cancel_timeout`` to stop, cancelled
while it still decides on the goal: the cancel service waits for all of it.

The cancel first waits for the start in flight (the robot accepts only after
``accept_delay``), then for the robot to stop (``stop_delay``, most of
``robot_cancel_timeout``). Both waits are within their timeouts, so the
cancel succeeds and the operation ends CANCELLED. The service's deadline
used to be handshake + cancel timeout + 5 s, shorter than these two waits:
the service then answered TIMEOUT, its command was cut short, and the
robot's late CANCELED result FAILED the operation. Now the deadline is
derived from every wait a command can meet (``DispatcherNode.command_deadline``).

The robot is the stand-in process (``stand_in_robot.py``), which publishes
what it really did on ``robot_log``.
"""

from __future__ import annotations

import time

import pytest
from test_e2e_transport import transport
from test_fault_late_accept import ROBOT_SCRIPT, RobotLog

pytestmark = pytest.mark.ros

HANDSHAKE_TIMEOUT = 1.0
GOAL_TIMEOUT = 15.0
ACCEPT_DELAY = 10.0
CANCEL_TIMEOUT = 6.0
STOP_DELAY = 5.0  # most of CANCEL_TIMEOUT
OLD_DEADLINE = HANDSHAKE_TIMEOUT + CANCEL_TIMEOUT + 5.0


def test_cancel_waits_for_a_slow_acceptance_then_a_slow_stop_and_ends_cancelled(bringup, ros_client, ros_processes, ros_namespace):
    from stand_in_robot import ROBOT_LOG_QOS
    from std_msgs.msg import String

    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_interfaces.srv import AddOperations, GetOperation, OperationCommand

    ros_processes.start_script(ROBOT_SCRIPT, ros_namespace, {"accept_delay": ACCEPT_DELAY, "duration": 120.0, "stop_delay": STOP_DELAY})
    log = ros_client.record(String, "robot_log", ROBOT_LOG_QOS, RobotLog())
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
    bringup(
        dispatcher={
            "handshake_timeout": HANDSHAKE_TIMEOUT,
            "robot_goal_timeout": GOAL_TIMEOUT,
            "robot_cancel_timeout": CANCEL_TIMEOUT,
            "robot_timeout": 0.0,  # the watchdog is not what is tested
        },
        business_logic={"rule": "approve_all"},
        sim_robot=None,
    )
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("heavy", 0)]).success
    log.wait_step("received", "heavy")

    began = time.monotonic()
    answer = ros_client.call(OperationCommand, "cancel_operation", operation_id="heavy", reason="withdrawn", timeout=90.0)
    took = time.monotonic() - began
    assert answer.success, answer.message
    assert took > OLD_DEADLINE, f"{took:.1f} s: the case no longer exceeds the old deadline of {OLD_DEADLINE:g} s"

    stopping, canceled = log.wait_step("stopping", "heavy"), log.wait_step("canceled", "heavy")
    assert canceled["time"] - stopping["time"] >= STOP_DELAY - 0.1, (stopping, canceled)  # it did take most of the timeout
    assert log.steps("heavy") == ["received", "accepted", "executing", "stopping", "canceled"], log.steps("heavy")
    cancelled = events.wait_event("OPERATION_CANCELLED", "heavy")
    assert canceled["time"] <= cancelled.stamp.sec + cancelled.stamp.nanosec * 1e-9  # CANCELLED once the robot had stopped
    status = ros_client.call(GetOperation, "get_operation", operation_id="heavy").status
    assert status.state_name == "CANCELLED" and status.termination_reason == "withdrawn", status
    assert "OPERATION_FAILED" not in events.types_for("heavy"), events.types_for("heavy")
