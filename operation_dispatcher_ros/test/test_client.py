"""DispatcherClient against a real dispatcher_node process (and the sim robot or the stand-in robot).

Most tests give the client a namespace, so it owns its context, node and
spin thread as a user's script would; one gives it the test's own node
(spun by the harness). Every wait is an event or a bounded call.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ros

ROBOT_SCRIPT = Path(__file__).with_name("stand_in_robot.py")
NO_BUSINESS_LOGIC = {"business_logic": None, "dispatcher": {"default_decision": "approve", "handshake_timeout": 0.3}}
"""The dispatcher approves every handshake itself, 0.3 s after finding no business logic: these tests are about the client."""


def transport(op_id: str, priority: int = 0, dx: float = 1.0) -> dict[str, Any]:
    """An operation in the REST shape: the client turns it into the message."""
    return {"id": op_id, "priority": priority, "payload": {"pickup": {"x": 0.5, "y": 0.0}, "dropoff": {"x": 0.5 + dx, "y": 0.5}}}


@pytest.fixture
def client(ros_domain: int, ros_namespace: str) -> Any:
    from operation_dispatcher_ros.client import DispatcherClient

    with DispatcherClient(ros_namespace, timeout=20.0) as c:
        yield c


def test_add_then_wait_for_completed_and_the_repeat_adds_nothing(bringup, client):
    from operation_dispatcher import Operation

    bringup(**NO_BUSINESS_LOGIC)
    second = Operation(id="second", resource_id=client.state().resource_id, payload=transport("x")["payload"])
    outcomes = client.add([transport("first"), second])
    assert [(o.operation_id, o.added) for o in outcomes] == [("first", True), ("second", True)]
    for op_id in ("first", "second"):  # in either order: same priority, and the model was created first
        done = client.wait_for(op_id, "COMPLETED", timeout=30.0)
        assert done.state_name == "COMPLETED" and done.progress == pytest.approx(1.0)
    assert [o.added for o in client.add([transport("first")])] == [False]
    assert {s.operation.id for s in client.list("completed")} == {"first", "second"}
    assert len(client.history(limit=1)) == 1
    first_page = client.list_page("completed", limit=1)
    last_page = client.list_page("completed", limit=1, cursor=first_page.next_cursor)
    assert (first_page.total, last_page.next_cursor) == (2, "")
    assert {s.operation.id for s in [*first_page.operations, *last_page.operations]} == {"first", "second"}


def test_events_iterator_receives_the_life_cycle_in_order(bringup, client):
    bringup(**NO_BUSINESS_LOGIC)
    seen: list[str] = []
    undo = client.on_event(lambda e: seen.append(e.event_type) if e.operation_id == "trip" else None)
    with client.events(operation_id="trip", timeout=20.0) as stream:
        client.add([transport("trip")])
        types = []
        for event in stream:
            types.append(event.event_type)
            if event.event_type == "OPERATION_COMPLETED":
                break
    expected = ["OPERATION_ADDED", "OPERATION_START_REQUESTED", "OPERATION_STARTED", "OPERATION_COMPLETED"]
    assert types == expected
    assert [e.event_type for e in client.get_events("trip")] == expected  # the dispatcher's own record agrees
    undo()
    assert seen == expected  # the callback saw the same, in the same order


def test_cancel_a_queued_and_the_active_operation(bringup, client):
    from operation_dispatcher import InvalidStateError

    bringup(**NO_BUSINESS_LOGIC)
    client.add([transport("long", 10, dx=30.0), transport("queued", 1)])
    client.wait_for("long", "RUNNING", timeout=20.0)
    client.cancel("queued", "not needed")
    assert client.get("queued").state_name == "CANCELLED"
    client.cancel("long", "stop now")  # returns once the robot has stopped
    status = client.wait_for("long", "CANCELLED", timeout=1.0)
    assert status.termination_reason == "stop now"
    with pytest.raises(InvalidStateError):
        client.cancel("long")
    with pytest.raises(InvalidStateError, match="ended CANCELLED"):
        client.wait_for("long", "COMPLETED", timeout=5.0)


def test_pause_and_resume_the_active_operation(bringup, client):
    from operation_dispatcher import InvalidStateError

    bringup(**NO_BUSINESS_LOGIC)
    client.add([transport("trip", dx=30.0)])
    client.wait_for("trip", "RUNNING", timeout=20.0)
    client.pause("trip", "door closed")
    held = client.wait_for("trip", "PAUSED", timeout=1.0)
    assert client.get("").operation.id == "trip"  # "" = the current one, PAUSED counts
    client.resume("trip")
    assert client.wait_for("trip", "RUNNING", timeout=5.0).progress >= held.progress - 0.01
    client.wait_for("trip", "COMPLETED", timeout=30.0)
    with pytest.raises(InvalidStateError):
        client.pause("trip")


def test_a_refused_add_raises_validation_error_naming_the_field(bringup, client):
    from operation_dispatcher import ValidationError

    bringup(sim_robot=None, **NO_BUSINESS_LOGIC)
    with pytest.raises(ValidationError) as refused:  # refused by the dispatcher node
        client.add([transport("twin"), transport("twin")])
    assert refused.value.field == "operations[1].id" and "appears twice" in refused.value.message
    with pytest.raises(ValidationError) as refused:  # refused here, by the core's own rules, before sending
        client.add([transport("ok"), {**transport("bad"), "priority": "high"}])
    assert refused.value.field == "operations[1].priority"
    with pytest.raises(ValidationError) as refused:
        client.list("SLEEPING")
    assert refused.value.field == "state"
    assert client.list() == []  # nothing of the refused adds stayed


def test_a_missing_id_raises_not_found(bringup, client):
    from operation_dispatcher import InvalidStateError, NotFoundError

    bringup(sim_robot=None, **NO_BUSINESS_LOGIC)
    for call in (client.get, client.cancel, client.pause, client.resume, client.get_events):
        with pytest.raises(NotFoundError) as missing:
            call("nope")
        assert missing.value.operation_id == "nope"
    with pytest.raises(NotFoundError):
        client.wait_for("nope", "COMPLETED", timeout=5.0)
    with pytest.raises(InvalidStateError, match="none is RUNNING or PAUSED"):
        client.get("")


def test_no_dispatcher_gives_a_clear_error_within_the_timeout(client, ros_namespace):
    from operation_dispatcher import UnavailableError

    for call in (lambda: client.state(timeout=1.0), lambda: client.add([transport("x")], timeout=1.0), lambda: client.cancel("x", timeout=1.0)):
        began = time.monotonic()
        with pytest.raises(UnavailableError, match=f"no dispatcher serves /{ros_namespace}/") as unavailable:
            call()
        assert time.monotonic() - began < 5.0
        assert "ROS_DOMAIN_ID" in unavailable.value.message


def test_on_the_callers_node_with_the_stand_in_robot_and_dispatcher_control(bringup, ros_processes, ros_client, ros_namespace):
    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_ros.client import DispatcherClient

    bringup(sim_robot=None, **NO_BUSINESS_LOGIC)
    ros_processes.start_script(ROBOT_SCRIPT, ros_namespace, {"duration": 0.3})
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
    with DispatcherClient(ros_client.node, timeout=20.0) as client:  # the harness spins this node
        assert client.pause_dispatcher("maintenance").status_name == "PAUSED"
        client.add([transport("held")])
        assert client.wait_for("held", "QUEUED", timeout=1.0).attempts == 0  # not started while paused
        assert client.resume_dispatcher().status_name == "RUNNING"
        client.wait_for("held", "COMPLETED", timeout=20.0)
        assert client.stop_dispatcher().status_name == "STOPPED"
        assert client.start_dispatcher().status_name == "RUNNING"


def test_error_codes_become_the_cores_exceptions():
    pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
    pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")
    from operation_dispatcher import ERROR_TABLE
    from operation_dispatcher_interfaces.srv import OperationCommand
    from operation_dispatcher_ros.client import error_from_response

    for name, kind in ERROR_TABLE.items():
        if name == "NONE":
            continue
        error = error_from_response(OperationCommand.Response(success=False, error_code=kind.number, message="operation_id: bad"), "x")
        assert error.code == name
    unknown = error_from_response(OperationCommand.Response(success=False, error_code=99, message="?"))
    assert unknown.code == "INTERNAL"
