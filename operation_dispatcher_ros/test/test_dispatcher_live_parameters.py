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
