"""End to end on real rclpy: cancel, pause / resume, denials and a business
logic that dies and comes back. Three node processes per test, the test's
own rclpy node as the client; every wait is for an event, bounded.
"""

from __future__ import annotations

import json

import pytest
from ros_testing import event_metadata, wait_until
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

UNAVAILABLE = "business logic unavailable, default applied"


def _stamp(event) -> float:
    return event.stamp.sec + event.stamp.nanosec / 1e9


def _odometry_after(odom, event, count: int = 5) -> list:
    """``count`` odometry messages sampled after ``event`` was emitted.

    By stamp, not by arrival: odometry and events come from two processes on
    two topics, so a sample taken before the event may still arrive after it.
    """
    emitted = _stamp(event)
    return odom.wait_for_count(
        lambda m: m.header.stamp.sec + m.header.stamp.nanosec / 1e9 > emitted, count, 5.0, f"odometry stamped after {event.event_type}"
    )


def _progress(ros_client, op_id: str) -> float:
    from operation_dispatcher_interfaces.srv import GetOperation

    response = ros_client.call(GetOperation, "get_operation", operation_id=op_id)
    assert response.success, response.message
    return response.status.progress


def _command(ros_client, service: str, op_id: str, reason: str = ""):
    from operation_dispatcher_interfaces.srv import OperationCommand

    return ros_client.call(OperationCommand, service, operation_id=op_id, reason=reason, timeout=20.0)


def test_cancel_queued_and_active(bringup, ros_client):
    from nav_msgs.msg import Odometry

    from operation_dispatcher_interfaces.srv import AddOperations

    bringup()
    events = ros_client.record_events()
    odom = ros_client.record(Odometry, "odom")
    ops = [transport("long", 10, dx=30.0), transport("queued", 1)]
    assert ros_client.call(AddOperations, "add_operations", operations=ops).success
    events.wait_event("OPERATION_STARTED", "long")
    wait_until(lambda: _progress(ros_client, "long") > 0.02, 10.0, "the robot to make progress")

    response = _command(ros_client, "cancel_operation", "queued", "not needed")
    assert response.success, response.message
    cancelled = events.wait_event("OPERATION_CANCELLED", "queued")
    assert event_metadata(cancelled) == {"reason": "not needed", "was_active": False}

    response = _command(ros_client, "cancel_operation", "long", "stop now")
    assert response.success, response.message
    cancelled = events.wait_event("OPERATION_CANCELLED", "long")
    assert event_metadata(cancelled)["was_active"] is True
    # CANCELLED follows the stop: from the moment it is emitted the robot stands still.
    after = _odometry_after(odom, cancelled)
    assert len({round(m.pose.pose.position.x, 6) for m in after}) == 1
    assert all(m.twist.twist.linear.x == 0.0 for m in after)
    assert "OPERATION_STARTED" not in events.types_for("queued")

    response = _command(ros_client, "cancel_operation", "long")
    assert not response.success and response.error_code == response.INVALID_STATE
    response = _command(ros_client, "cancel_operation", "nope")
    assert not response.success and response.error_code == response.NOT_FOUND


def test_pause_and_resume_keep_progress(bringup, ros_client):
    from nav_msgs.msg import Odometry

    from operation_dispatcher_interfaces.srv import AddOperations, OperationCommand

    bringup()
    events = ros_client.record_events()
    odom = ros_client.record(Odometry, "odom")
    # A trip of about 6 s, paused at 5 %: the pause (handshake + robot) has seconds to land before
    # the trip could end, however loaded the machine; the clients are warm before the trip starts.
    for service in ("pause_operation", "resume_operation"):
        ros_client.wait_for_service(OperationCommand, service)
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("trip", 0, dx=30.0)]).success
    events.wait_event("OPERATION_STARTED", "trip")
    wait_until(lambda: _progress(ros_client, "trip") > 0.05, 10.0, "progress above 0.05")

    assert _command(ros_client, "pause_operation", "trip", "door closed").success
    paused = events.wait_event("OPERATION_PAUSED", "trip")
    held = _progress(ros_client, "trip")
    assert 0.05 < event_metadata(paused)["progress"] <= held < 0.9
    # Held: the robot stands and the progress stays.
    after = _odometry_after(odom, paused)
    assert len({round(m.pose.pose.position.x, 6) for m in after}) == 1
    assert _progress(ros_client, "trip") == pytest.approx(held, abs=0.02)

    assert _command(ros_client, "resume_operation", "trip").success
    events.wait_event("OPERATION_RESUMED", "trip")
    # Resumed from where it was held, not from zero.
    assert _progress(ros_client, "trip") >= held - 0.01
    done = events.wait_event("OPERATION_COMPLETED", "trip", timeout=20.0)
    assert done is not None
    types = events.types_for("trip")
    assert types.index("OPERATION_PAUSED") < types.index("OPERATION_RESUMED") < types.index("OPERATION_COMPLETED")
    response = _command(ros_client, "pause_operation", "trip")
    assert not response.success and response.error_code == response.INVALID_STATE


def test_denial_reason_retry_after_cooldown_then_start(bringup, ros_client):
    from operation_dispatcher_interfaces.srv import AddOperations

    cooldown = 0.5
    bringup(business_logic={"rule": "deny_first_n", "deny_count": 2}, dispatcher={"cooldown_seconds": cooldown})
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("job", 0)]).success
    done = events.wait_event("OPERATION_COMPLETED", "job", timeout=20.0)
    assert done is not None
    from operation_dispatcher_interfaces.srv import GetEvents

    trail = ros_client.call(GetEvents, "get_events", operation_id="job").events  # the dispatcher's own record
    kinds = [e.event_type for e in trail]
    assert kinds[:6] == [
        "OPERATION_ADDED",
        "OPERATION_START_REQUESTED",
        "OPERATION_START_DENIED",
        "OPERATION_START_REQUESTED",
        "OPERATION_START_DENIED",
        "OPERATION_START_REQUESTED",
    ]
    denials = [e for e in trail if e.event_type == "OPERATION_START_DENIED"]
    for denial in denials:
        meta = event_metadata(denial)
        assert meta["reason"], "a denial carries the business logic's reason"
        assert meta["cooldown_seconds"] == cooldown
    assert [event_metadata(d)["retry_count"] for d in denials] == [1, 2]
    # Each retry waits for the cooldown.
    requests = [e for e in trail if e.event_type == "OPERATION_START_REQUESTED"]
    for denial, retry in zip(denials, requests[1:], strict=False):
        assert _stamp(retry) - _stamp(denial) >= cooldown - 0.05


def test_too_many_denials_pause_the_dispatcher(bringup, ros_client):
    from ros_testing import STATE_QOS

    from operation_dispatcher_interfaces.msg import DispatcherState
    from operation_dispatcher_interfaces.srv import AddOperations, GetDispatcherState

    bringup(business_logic={"rule": "deny_first_n", "deny_count": 1000}, dispatcher={"max_retries": 3}, sim_robot=None)
    events = ros_client.record_events()
    states = ros_client.record(DispatcherState, "dispatcher_state", STATE_QOS)
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("job", 0)]).success
    paused = events.wait_event("OPERATION_DISPATCHER_PAUSED", timeout=15.0)
    meta = event_metadata(paused)
    assert meta["automatic"] is True and meta["operation_id"] == "job"
    assert "3 start requests denied in a row" in meta["reason"]
    assert len(events.of_type("OPERATION_START_DENIED")) == 3
    state = ros_client.call(GetDispatcherState, "get_dispatcher_state").state
    assert state.status == state.PAUSED and state.consecutive_denials == 3 and "denied in a row" in state.paused_reason
    states.wait_for(lambda s: s.status == s.PAUSED, 5.0, "a latched PAUSED state")


def test_business_logic_dies_default_applies_then_restart_continues(bringup, ros_client, ros_processes, ros_namespace):
    from operation_dispatcher_interfaces.srv import AddOperations

    procs = bringup(dispatcher={"handshake_timeout": 0.5, "default_decision": "deny", "max_retries": 1000,
                                "cooldown_seconds": 0.2})
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("before", 0)]).success
    events.wait_event("OPERATION_COMPLETED", "before", timeout=20.0)

    procs["business_logic"].kill()  # a crash: no goodbye on the graph
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("after", 0)]).success
    denial = events.wait_for(
        lambda e: e.event_type == "OPERATION_START_DENIED" and UNAVAILABLE in e.metadata_json, 10.0, "a default denial"
    )
    meta = event_metadata(denial)
    assert meta["reason"].startswith(f"{UNAVAILABLE} (deny)")
    assert meta["data"]["business_logic"] == UNAVAILABLE

    ros_processes.start("business_logic_node", ros_namespace)
    # The killed one's entry stays on the graph until its DDS lease runs out (Fast DDS: 20 s from its
    # last announcement); meanwhile two servers show and nobody decides (a deferral, not a denial).
    events.wait_event("OPERATION_STARTED", "after", timeout=45.0)
    events.wait_event("OPERATION_COMPLETED", "after", timeout=20.0)


def test_business_logic_absent_default_approve_says_so(bringup, ros_client):
    from operation_dispatcher_interfaces.srv import AddOperations

    bringup(business_logic=None, dispatcher={"handshake_timeout": 0.3, "default_decision": "approve"})
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("solo", 0)]).success
    started = events.wait_event("OPERATION_STARTED", "solo", timeout=20.0)
    assert event_metadata(started)["data"]["business_logic"] == UNAVAILABLE
    events.wait_event("OPERATION_COMPLETED", "solo", timeout=20.0)
    assert json.loads(started.metadata_json)["data"]["default_decision"] == "approve"
