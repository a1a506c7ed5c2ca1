"""End to end on real rclpy: dispatcher + business logic + sim robot as three
processes, driven by the test's own rclpy node.

Three transport operations run in priority order, each with ADDED,
START_REQUESTED, STARTED and COMPLETED, while the robot's odometry moves;
a malformed payload is refused with VALIDATION and changes nothing.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.ros

LIFECYCLE = ["OPERATION_ADDED", "OPERATION_START_REQUESTED", "OPERATION_STARTED", "OPERATION_COMPLETED"]


def transport(op_id: str, priority: int, dx: float = 1.0, **extra: object):
    from operation_dispatcher_interfaces.msg import Operation

    payload = {"pickup": {"x": 0.5, "y": 0.0}, "dropoff": {"x": 0.5 + dx, "y": 0.5}, **extra}
    return Operation(id=op_id, payload_json=json.dumps(payload), priority=priority)


def test_three_transports_run_in_priority_order_with_moving_odometry(bringup, ros_client):
    """Driven through the package's DispatcherClient, as a user's script would."""
    from nav_msgs.msg import Odometry

    bringup()
    dispatcher = ros_client.dispatcher
    events = ros_client.record_events()
    odom = ros_client.record(Odometry, "odom")
    odom.wait_for(lambda m: True, 20.0, "the first odometry (matched before the robot moves)")
    # Pause first so that all three are queued before any starts: the order is then the priority order.
    assert dispatcher.pause_dispatcher("loading").status_name == "PAUSED"
    added = dispatcher.add([transport("low", 1), transport("high", 10), transport("mid", 5)])
    assert [(a.operation_id, a.added) for a in added] == [("low", True), ("high", True), ("mid", True)]
    dispatcher.resume_dispatcher()

    for op_id in ("high", "mid", "low"):
        assert dispatcher.wait_for(op_id, "COMPLETED", timeout=30.0).progress == pytest.approx(1.0)
    for op_id in ("high", "mid", "low"):
        recorded = dispatcher.get_events(op_id)
        assert [e.event_type for e in recorded if e.event_type in LIFECYCLE] == LIFECYCLE
        events.wait_event("OPERATION_COMPLETED", op_id, timeout=20.0)
        assert [t for t in events.types_for(op_id) if t in LIFECYCLE[2:]] == LIFECYCLE[2:]
    started = [e.operation_id for e in events.of_type("OPERATION_STARTED")]
    assert started == ["high", "mid", "low"]
    completed_order = [e.operation_id for e in events.of_type("OPERATION_COMPLETED")]
    assert completed_order == ["high", "mid", "low"]

    xs = [m.pose.pose.position.x for m in odom.snapshot()]
    assert xs and max(xs) - min(xs) > 0.5, f"odometry did not move: {xs[:5]}..{xs[-5:]}"

    history = dispatcher.history(limit=10)
    assert [s.operation.id for s in history] == ["low", "mid", "high"]
    assert all(s.state_name == "COMPLETED" and s.progress == pytest.approx(1.0) for s in history)


def test_malformed_payload_is_refused_and_changes_nothing(bringup, ros_client):
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, ListOperations

    bringup(sim_robot=None, business_logic=None, dispatcher={"autostart": False})
    good = transport("good", 1)
    for bad_payload, field in (('{"pickup": ', "operations[1].payload_json"), ("[1, 2]", "operations[1].payload_json"),
                               ('{"x": NaN}', "operations[1].payload_json")):
        bad = Operation(id="bad", payload_json=bad_payload)
        response = ros_client.call(AddOperations, "add_operations", operations=[good, bad])
        assert not response.success
        assert response.error_code == AddOperations.Response.VALIDATION
        assert field in response.message
        assert list(response.operation_ids) == []
    listed = ros_client.call(ListOperations, "list_operations", state="")
    assert listed.success and list(listed.operations) == []


def test_the_state_topic_carries_the_robots_progress_while_it_drives(bringup, ros_client):
    """Progress alone (no event) reaches dispatcher_state again and again during a goal: a
    one-shot timer armed by the robot's reports, none while nothing moves."""
    from operation_dispatcher_interfaces.msg import DispatcherState
    from operation_dispatcher_ros.qos import STATE_QOS

    bringup(sim_robot={"speed": 1.0})  # a trip of about 4 s: some twenty progress states at 5 Hz
    states = ros_client.record(DispatcherState, "dispatcher_state", STATE_QOS)
    states.wait_for(lambda m: True, 20.0, "the latched dispatcher state")
    dispatcher = ros_client.dispatcher
    dispatcher.add([transport("trip", 1, dx=4.0)])
    mid_goal = states.wait_for_count(
        lambda m: m.current_operation_id == "trip" and 0.0 < m.current_progress < 1.0, 3, 30.0, "three mid-goal progress states"
    )
    progress = [m.current_progress for m in mid_goal]
    assert progress == sorted(progress) and len(set(progress)) == 3, progress
    assert dispatcher.wait_for("trip", "COMPLETED", timeout=30.0).progress == pytest.approx(1.0)
