"""dispatch_markers from a real dispatcher_node, read by a real rclpy subscriber: the queued
goals numbered in dispatch order, the started operation's route in their place, the label,
and markers_max_goals changed at runtime (markers.py draws, the node publishes)."""

from __future__ import annotations

from typing import Any

import pytest
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

FRAME = "world"
OFFSET = [1.5, -2.0, 0.5]


def _of(picture: Any, ns: str) -> list[Any]:
    return [m for m in picture.markers if m.ns == ns]


def _numbers(picture: Any) -> list[str]:
    return [m.text for m in _of(picture, "goal_numbers")]


def _label(picture: Any) -> str:
    return next((m.text for m in _of(picture, "robot")), "")


def _describe(picture: Any) -> str:
    return f"{_numbers(picture)} route={[(p.x, p.y) for m in _of(picture, 'route') for p in m.points]} label={_label(picture)!r}"


def test_markers_number_the_queue_then_draw_the_started_route_in_place_of_its_goal(bringup: Any, ros_client: Any, ros_namespace: str) -> None:
    from rcl_interfaces.msg import Parameter, ParameterType, ParameterValue
    from rcl_interfaces.srv import SetParameters
    from ros_testing import STATE_QOS, Recorder
    from visualization_msgs.msg import Marker, MarkerArray

    from operation_dispatcher_interfaces.msg import Operation

    pictures = ros_client.record(MarkerArray, "dispatch_markers", STATE_QOS, Recorder(_describe))
    # slow: the first operation is still on its way to the pickup while the test looks
    bringup(dispatcher={"markers_frame": FRAME, "markers_label_offset": OFFSET}, business_logic={"rule": "approve_all"}, sim_robot={"speed": 0.05})
    dispatcher = ros_client.dispatcher
    dispatcher.pause_dispatcher("loading")  # all four are queued before one starts
    no_route = Operation(id="no-route", payload_json='{"note": "not a route"}', priority=0)
    dispatcher.add([transport("low", 1, dx=1.0), transport("high", 9, dx=2.0), transport("mid", 5, dx=3.0), no_route])

    queued = pictures.wait_for(lambda m: _label(m).endswith("4 queued"), 20.0, "the picture of the four queued")
    assert _numbers(queued) == ["1. high", "2. mid", "3. low"], _describe(queued)  # no-route is the 4th, without a marker
    assert _label(queued) == f"{ros_namespace} PAUSED idle, 4 queued"
    assert queued.markers[0].action == Marker.DELETEALL
    goals = _of(queued, "goals")
    assert [(m.id, m.header.frame_id, m.pose.position.x) for m in goals] == [(1, FRAME, 2.5), (2, FRAME, 3.5), (3, FRAME, 1.5)]  # the dropoffs
    [label] = _of(queued, "robot")
    assert [label.pose.position.x, label.pose.position.y, label.pose.position.z] == OFFSET

    dispatcher.resume_dispatcher()
    running = pictures.wait_for(lambda m: _label(m).startswith(f"{ros_namespace} RUNNING high "), 20.0, "the label of high running")
    assert _numbers(running) == ["1. mid", "2. low"], _describe(running)  # high left the queue: its goal is gone, the rest moved up
    [route] = _of(running, "route")
    assert route.type == Marker.LINE_STRIP and route.header.frame_id == FRAME
    assert [(p.x, p.y) for p in route.points] == [(0.5, 0.0), (2.5, 0.5)]  # high's pickup, then its dropoff
    assert _label(running).endswith(", 3 queued")

    value = ParameterValue(type=ParameterType.PARAMETER_INTEGER, integer_value=1)
    result = ros_client.call(SetParameters, "dispatcher/set_parameters", parameters=[Parameter(name="markers_max_goals", value=value)])
    assert result.results[0].successful, result.results[0].reason
    pictures.wait_for(lambda m: _numbers(m) == ["1. mid"], 10.0, "one goal after markers_max_goals 1")
