"""Faults on the executor side, with real processes: the robot's action
server is SIGKILLed in the middle of an operation.

The dispatcher cannot hear a result that will never come; its watchdog
(``robot_timeout``) fails the operation with "executor lost: ...", the
next operation is asked for and started, and it runs once a robot serves
the action again. The dispatcher keeps answering its services throughout.
"""

from __future__ import annotations

import time

import pytest
from ros_testing import event_metadata, wait_until
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

EXECUTOR_TIMEOUT = 2.0


def _store(tmp_path) -> dict:
    return {"store_path": str(tmp_path / "dispatcher.db")}


def _progress(ros_client, op_id: str) -> float:
    from operation_dispatcher_interfaces.srv import GetOperation

    response = ros_client.call(GetOperation, "get_operation", operation_id=op_id)
    assert response.success, response.message
    return response.status.progress


def test_robot_killed_mid_operation_fails_it_then_next_runs_on_new_robot(bringup, ros_client, ros_processes, ros_namespace, tmp_path):
    from operation_dispatcher_interfaces.srv import AddOperations, GetEvents, GetOperation

    procs = bringup(
        dispatcher={
            **_store(tmp_path),
            "robot_timeout": EXECUTOR_TIMEOUT,
            "robot_server_timeout": 10.0,
            "robot_goal_timeout": 3.0,
        },
        business_logic={"rule": "approve_all"},
    )
    events = ros_client.record_events()
    ops = [transport("long", 10, dx=200.0), transport("next", 5)]
    assert ros_client.call(AddOperations, "add_operations", operations=ops).success
    events.wait_event("OPERATION_STARTED", "long")
    wait_until(lambda: _progress(ros_client, "long") > 0.01, 10.0, "the robot to make progress")

    assert procs["sim_robot"].kill() == -9  # a crash: no result, no goodbye on the graph
    killed_at = time.monotonic()
    failed = events.wait_event("OPERATION_FAILED", "long", timeout=EXECUTOR_TIMEOUT + 8.0)
    waited = time.monotonic() - killed_at
    reason = event_metadata(failed)["reason"]
    assert reason.startswith("executor lost: "), reason
    assert f"/{ros_namespace}/execute_operation" in reason and f"{EXECUTOR_TIMEOUT:g} s" in reason, reason
    # the watchdog waited for robot_timeout (feedback stopped at the kill), and not much longer
    assert EXECUTOR_TIMEOUT - 0.5 <= waited <= EXECUTOR_TIMEOUT + 6.0, waited
    status = ros_client.call(GetOperation, "get_operation", operation_id="long").status
    assert status.state_name == "FAILED" and status.termination_reason == reason
    assert status.progress > 0.0  # the progress it had made is kept for the record

    # The dispatcher went on: the next operation is started and ends, with the robot gone, in a
    # failure that says why (a killed process stays on the DDS graph until its lease runs out, so
    # the goal may go to the dead robot, unanswered).
    events.wait_event("OPERATION_STARTED", "next", timeout=10.0)
    ended = _ended(events, "next", 30.0)
    if ended.event_type == "OPERATION_FAILED":
        assert _clear_start_failure(event_metadata(ended)["reason"], ros_namespace), event_metadata(ended)
    # A robot is back: dispatch reaches it (the first goals may still meet a half-made DDS match).
    ros_processes.start("sim_robot_node", ros_namespace, {"speed": 5.0})
    _until_one_completes(ros_client, events, ros_namespace, "third")
    kinds = [e.event_type for e in ros_client.call(GetEvents, "get_events", operation_id="long").events]
    assert kinds[-1] == "OPERATION_FAILED" and "OPERATION_COMPLETED" not in kinds


def test_start_while_robot_gone_fails_with_reason_then_starts_once_back(bringup, ros_client, ros_processes, ros_namespace, tmp_path):
    from operation_dispatcher_interfaces.srv import AddOperations

    bringup(
        dispatcher={**_store(tmp_path), "robot_timeout": EXECUTOR_TIMEOUT, "robot_server_timeout": 4.0, "robot_goal_timeout": 3.0},
        business_logic={"rule": "approve_all"},
        sim_robot=None,
    )
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("orphan", 0)]).success
    failed = events.wait_event("OPERATION_FAILED", "orphan", timeout=10.0)
    reason = event_metadata(failed)["reason"]
    assert reason == f"executor could not start: action server /{ros_namespace}/execute_operation not available within 4 s"

    ros_processes.start("sim_robot_node", ros_namespace, {"speed": 5.0})
    from operation_dispatcher_interfaces.action import ExecuteOperation

    assert ros_client.action_client(ExecuteOperation, "execute_operation").wait_for_server(timeout_sec=20.0)
    _until_one_completes(ros_client, events, ros_namespace, "back")


def _ended(events, op_id: str, timeout: float):
    return events.wait_for(
        lambda e: e.operation_id == op_id and e.event_type in ("OPERATION_COMPLETED", "OPERATION_FAILED"), timeout, f"{op_id} to end"
    )


def _clear_start_failure(reason: str, namespace: str) -> bool:
    action = f"/{namespace}/execute_operation"
    return reason.startswith("executor could not start: ") and (
        f"{action} did not accept or reject the goal within" in reason or f"action server {action} not available within" in reason
    )


def _until_one_completes(ros_client, events, namespace: str, prefix: str, attempts: int = 4) -> None:
    """Add operations one at a time until one COMPLETES; each one before it must fail saying why."""
    from operation_dispatcher_interfaces.srv import AddOperations

    reasons = []
    for attempt in range(attempts):
        op_id = f"{prefix}-{attempt}"
        assert ros_client.call(AddOperations, "add_operations", operations=[transport(op_id, 0)]).success
        ended = _ended(events, op_id, 30.0)
        if ended.event_type == "OPERATION_COMPLETED":
            return
        reason = event_metadata(ended)["reason"]
        assert _clear_start_failure(reason, namespace), reason
        reasons.append(reason)
    raise AssertionError(f"no operation completed on the new robot: {reasons}")
