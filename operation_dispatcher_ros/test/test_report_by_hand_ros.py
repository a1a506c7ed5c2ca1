"""complete_operation / fail_operation while the robot executes the operation (issue 11, item 5):
refused with INVALID_STATE naming the live goal, nothing changed, the robot's own result still ends
it. Before, the operation was marked finished while the robot kept driving it, and the next start
was rejected "busy". For a robot without the action (nothing live), they still end the operation.

Real processes: dispatcher, business logic, a slow sim robot.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.ros


def test_reporting_by_hand_an_operation_the_robot_executes_is_refused(bringup, ros_client):
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import OperationCommand
    from operation_dispatcher_ros.conversions import ERROR_CODES

    bringup(sim_robot={"speed": 0.5})
    dispatcher = ros_client.dispatcher
    payload = {"pickup": {"x": 0.5, "y": 0.0}, "dropoff": {"x": 2.0, "y": 0.0}}
    dispatcher.add([Operation(id="drive", payload_json=json.dumps(payload))])
    dispatcher.wait_for("drive", "RUNNING", timeout=30.0)
    for service in ("complete_operation", "fail_operation"):
        for operation_id in ("drive", ""):  # "" = the current one
            answer = ros_client.call(OperationCommand, service, operation_id=operation_id, reason="by hand")
            assert not answer.success and answer.error_code == ERROR_CODES["INVALID_STATE"], answer.message
            assert "'drive'" in answer.message and "the robot is executing it (goal " in answer.message
            assert dispatcher.get("drive").state_name == "RUNNING"
    done = dispatcher.wait_for("drive", "COMPLETED", timeout=60.0)
    assert "arrived at dropoff" in done.outcome  # the robot's own report, not "by hand"


def test_without_a_live_goal_the_report_by_hand_still_ends_the_operation(bringup, ros_client):
    """A robot without the action (no action server: the start fails) is the case these services serve;
    here the dispatcher is inactive and the robot absent, so the check must not get in the way of a
    report about an operation nobody executes."""
    from operation_dispatcher_interfaces.srv import OperationCommand

    bringup(sim_robot=None, business_logic=None, dispatcher={"autostart": False})
    answer = ros_client.call(OperationCommand, "complete_operation", operation_id="nothing-runs", reason="by hand")
    assert not answer.success and "by hand" not in answer.message  # the core's own refusal (not found), not the goal check
