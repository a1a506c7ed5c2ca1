"""Parameters of a running dispatcher node change over the standard parameter services, validated."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.ros


def _set(ros_client, name, value):
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters

    if isinstance(value, float):
        pv = ParameterValue(type=ParameterType.PARAMETER_DOUBLE, double_value=value)
    else:
        pv = ParameterValue(type=ParameterType.PARAMETER_STRING, string_value=value)
    response = ros_client.call(SetParameters, "dispatcher/set_parameters", parameters=[Parameter(name=name, value=pv)])
    return response.results[0]


def test_runtime_parameter_changes_are_validated(bringup, ros_client):
    from rcl_interfaces.srv import GetParameters

    bringup(sim_robot=None, business_logic=None)
    assert _set(ros_client, "cooldown_seconds", 0.5).successful
    got = ros_client.call(GetParameters, "dispatcher/get_parameters", names=["cooldown_seconds"])
    assert got.values[0].double_value == 0.5
    refused = _set(ros_client, "default_decision", "maybe")
    assert not refused.successful and "default_decision" in refused.reason
    out_of_range = _set(ros_client, "handshake_timeout", -1.0)
    assert not out_of_range.successful
    read_only = _set(ros_client, "resource_id", "robot_9")
    assert not read_only.successful


def test_the_old_executor_parameter_names_still_apply_with_a_warning(bringup, ros_client, ros_processes):
    """The robot_* parameters were executor_* before: a launch file or yaml of the old release keeps working."""
    from rcl_interfaces.srv import GetParameters
    from ros_testing import wait_until

    bringup(sim_robot=None, business_logic=None, dispatcher={"executor_goal_timeout": 1.5, "executor_cancel_timeout": 4.0,
                                                             "robot_cancel_timeout": 6.0})
    got = ros_client.call(GetParameters, "dispatcher/get_parameters", names=["robot_goal_timeout", "robot_cancel_timeout"])
    assert [v.double_value for v in got.values] == [1.5, 6.0]  # the old name applies; the new one, when given too, wins
    dispatcher = next(p for p in ros_processes.processes if p.executable == "dispatcher_node")
    wait_until(lambda: "executor_goal_timeout is deprecated: use robot_goal_timeout" in dispatcher.log_tail(400), 10.0, "the warning")
    assert _set(ros_client, "executor_cancel_timeout", 3.0).successful  # at runtime too


def test_a_lower_cooldown_applies_to_the_wait_already_running(bringup, ros_client):
    """Issue 11, item 7: cooldown_seconds lowered from 3600 to 0.2 while a denied start waits its hour:
    the next request goes within a second, without a pause / resume."""
    import time

    from ros_testing import event_metadata
    from test_e2e_transport import transport

    bringup(dispatcher={"cooldown_seconds": 3600.0}, business_logic={"rule": "deny_first_n", "deny_count": 1})
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([transport("job", 0)])
    denied = events.wait_event("OPERATION_START_DENIED", "job", timeout=20.0)
    assert event_metadata(denied)["cooldown_seconds"] == 3600.0
    lowered = time.monotonic()
    assert _set(ros_client, "cooldown_seconds", 0.2).successful
    events.wait_event("OPERATION_STARTED", "job", timeout=10.0)
    assert time.monotonic() - lowered < 5.0  # not an hour: the new value applied to the running wait
    dispatcher.wait_for("job", "COMPLETED", timeout=30.0)
    assert not events.of_type("OPERATION_DISPATCHER_RESUMED")
