"""A robot that rejects every goal pauses the dispatcher after ``max_consecutive_failures``
operations failed in a row (issue 11, item 7: 200 operations failed in 1.7 s), with real
processes: the sim robot rejects a payload it cannot read. The rest of the queue waits; the
parameter changes at runtime (0 = never pause); dispatcher/resume clears the streak."""

from __future__ import annotations

import json

import pytest
from ros_testing import event_metadata

pytestmark = pytest.mark.ros


def _unreadable(op_id: str, priority: int):
    from operation_dispatcher_interfaces.msg import Operation

    return Operation(id=op_id, payload_json=json.dumps({"task": "teleport"}), priority=priority)


def _set(ros_client, **values):
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter(k, value=v).to_parameter_msg() for k, v in values.items()])
    return ros_client.call(SetParameters, "dispatcher/set_parameters", request).results[0]


def test_a_robot_rejecting_every_goal_pauses_the_dispatcher(bringup, ros_client):
    bringup(dispatcher={"max_consecutive_failures": 3})
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([_unreadable(f"op-{i}", -i) for i in range(6)])

    paused = events.wait_event("OPERATION_DISPATCHER_PAUSED", timeout=20.0)
    meta = event_metadata(paused)
    assert (meta["automatic"], meta["cause"], meta["consecutive_failures"], meta["operation_id"]) == (True, "failures", 3, "op-2")
    assert meta["reason"].startswith("3 operations failed in a row; last reason: ") and "reject" in meta["reason"]
    state = dispatcher.state()
    assert state.status_name == "PAUSED" and state.paused_reason == meta["reason"]
    assert (state.failed_count, state.queued_count) == (3, 3)

    # Never pause for failures, then resume: the other three fail and the dispatcher runs on.
    assert _set(ros_client, max_consecutive_failures=0).successful
    assert not _set(ros_client, max_consecutive_failures=-1).successful
    dispatcher.resume_dispatcher()
    dispatcher.wait_for("op-5", "FAILED", timeout=20.0)
    state = dispatcher.state()
    assert state.status_name == "RUNNING" and state.failed_count == 6
    assert len(events.of_type("OPERATION_DISPATCHER_PAUSED")) == 1
