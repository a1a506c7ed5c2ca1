"""markers.py without a graph: the picture of a real core's queue, the active route, the label,
what is left out, and the rate limit the node publishes it with (dispatcher_node.Coalesced)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
pytest.importorskip("visualization_msgs", reason="needs visualization_msgs (make setup)")
pytest.importorskip("operation_dispatcher_interfaces", reason="needs the colcon workspace (make setup)")

from visualization_msgs.msg import Marker

from operation_dispatcher import (
    DispatcherSnapshot,
    DispatcherStatus,
    Operation,
    OperationDispatcher,
    OperationExecution,
    OperationRecord,
    OperationState,
)
from operation_dispatcher_ros import markers
from operation_dispatcher_ros.dispatcher_node import Coalesced

OFFSET = (0.0, 0.0, 1.0)
TRANSPORT = {"pickup": {"x": 1, "y": 2}, "dropoff": {"x": 4.0, "y": 0.5}}


def _goal(x: float, y: float, **extra: Any) -> dict[str, Any]:
    return {"goal": {"x": x, "y": y, **extra}}


def _picture(dispatcher: OperationDispatcher, max_goals: int = 50) -> Any:
    return markers.from_dispatcher(dispatcher, "map", max_goals, OFFSET)


def _of(picture: Any, ns: str) -> list[Marker]:
    return [m for m in picture.markers if m.ns == ns]


def _numbers(picture: Any) -> list[str]:
    return [m.text for m in _of(picture, markers.NS_GOAL_NUMBERS)]


def _record(op_id: str, payload: dict[str, Any], state: OperationState = OperationState.RUNNING, progress: float = 0.0) -> OperationRecord:
    return OperationRecord(
        operation=Operation(id=op_id, resource_id="robot_1", payload=payload),
        execution=OperationExecution(operation_id=op_id, state=state, progress=progress),
    )


def _snapshot(current: str | None = None, queued: int = 0, status: DispatcherStatus = DispatcherStatus.RUNNING) -> DispatcherSnapshot:
    return DispatcherSnapshot(
        resource_id="robot_1", status=status, running=status is not DispatcherStatus.STOPPED, paused=status is DispatcherStatus.PAUSED,
        current_operation_id=current, queue_length=queued, counts={}, consecutive_denials=0,
    )


def _build(current: OperationRecord | None = None, queued: list[OperationRecord] = [], max_goals: int = 50) -> Any:  # noqa: B006 (read only)
    return markers.build(
        _snapshot(current.operation.id if current else None, len(queued)), current, queued, frame="map", max_goals=max_goals, label_offset=OFFSET
    )


def test_goals_are_numbered_in_the_cores_dispatch_order_priority_first_then_age():
    dispatcher = OperationDispatcher("robot_1")
    dispatcher.add([
        {"id": "low", "payload": _goal(1, 0), "priority": 1},
        {"id": "high", "payload": _goal(2, 0), "priority": 9},
        {"id": "mid-1", "payload": _goal(3, 0), "priority": 5},
        {"id": "mid-2", "payload": _goal(4, 0), "priority": 5},
    ])
    picture = _picture(dispatcher)
    assert _numbers(picture) == ["1. high", "2. mid-1", "3. mid-2", "4. low"]
    goals = _of(picture, markers.NS_GOALS)
    assert [(m.id, m.type, m.pose.position.x) for m in goals] == [(1, Marker.SPHERE, 2.0), (2, Marker.SPHERE, 3.0), (3, Marker.SPHERE, 4.0), (4, Marker.SPHERE, 1.0)]
    assert [m.id for m in _of(picture, markers.NS_GOAL_NUMBERS)] == [1, 2, 3, 4]  # a number and its sphere share the id


def test_the_goal_is_the_last_stop_in_its_own_frame_else_markers_frame():
    queued = [
        _record("t", TRANSPORT, OperationState.QUEUED),
        _record("w", {"waypoints": [{"x": 1, "y": 1}, {"x": 7, "y": 8, "frame_id": "odom"}]}, OperationState.QUEUED),
    ]
    goals = _of(_build(queued=queued), markers.NS_GOALS)
    assert [(m.header.frame_id, m.pose.position.x, m.pose.position.y) for m in goals] == [("map", 4.0, 0.5), ("odom", 7.0, 8.0)]
    assert all(isinstance(m.pose.position.x, float) for m in goals)  # JSON ints became floats


def test_the_active_operations_route_is_a_line_through_its_stops_in_driving_order():
    current = _record("op-42", {"waypoints": [{"x": 0, "y": 0}, {"x": 1, "y": 0}, {"x": 1, "y": 2}]})
    picture = _build(current)
    [line] = _of(picture, markers.NS_ROUTE)
    assert (line.type, line.id, line.header.frame_id) == (Marker.LINE_STRIP, 0, "map")
    assert [(p.x, p.y) for p in line.points] == [(0.0, 0.0), (1.0, 0.0), (1.0, 2.0)]
    [stops] = _of(picture, markers.NS_ROUTE_STOPS)
    assert stops.type == Marker.SPHERE_LIST and len(stops.points) == 3
    assert not _of(picture, markers.NS_GOALS)  # the active operation is not queued


def test_a_one_stop_route_is_a_point_and_stops_in_another_frame_are_left_out():
    assert not _of(_build(_record("g", _goal(3, 1))), markers.NS_ROUTE)  # a line needs two points
    assert len(_of(_build(_record("g", _goal(3, 1))), markers.NS_ROUTE_STOPS)[0].points) == 1
    mixed = _record("m", {"waypoints": [{"x": 1, "y": 0, "frame_id": "odom"}, {"x": 5, "y": 5}, {"x": 2, "y": 0, "frame_id": "odom"}]})
    [line] = _of(_build(mixed), markers.NS_ROUTE)
    assert line.header.frame_id == "odom" and [p.x for p in line.points] == [1.0, 2.0]  # no TF: (5, 5) in map is not drawn


def test_the_label_shows_the_resource_the_state_the_operation_and_its_progress():
    assert markers.label_text(_snapshot("op-42", 3), _record("op-42", TRANSPORT, progress=0.4)) == "robot_1 RUNNING op-42 40%, 3 queued"
    paused = _record("op-42", TRANSPORT, OperationState.PAUSED, progress=0.655)
    assert markers.label_text(_snapshot("op-42", 0), paused) == "robot_1 RUNNING op-42 PAUSED 66%, 0 queued"
    assert markers.label_text(_snapshot(None, 2, DispatcherStatus.PAUSED), None) == "robot_1 PAUSED idle, 2 queued"
    [label] = _of(_build(), markers.NS_LABEL)
    assert (label.type, label.id, label.header.frame_id) == (Marker.TEXT_VIEW_FACING, 0, "map")
    assert (label.pose.position.x, label.pose.position.y, label.pose.position.z) == OFFSET  # the frame's origin + offset, not a guessed pose


@pytest.mark.parametrize(
    "payload",
    [{}, {"battery": 3}, {"goal": 5}, {"goal": {"x": "1", "y": 0}}, {"waypoints": "here"}, {"waypoints": []},
     {"pickup": {"x": 1, "y": 1}}, {"goal": {"x": 1, "y": 1}, "waypoints": [{"x": 1, "y": 1}]}, {"goal": {"x": 1, "y": 1, "frame_id": 7}}],
)
def test_a_payload_that_is_not_a_route_gets_no_marker_and_keeps_its_number(payload):
    queued = [_record("a", _goal(1, 1), OperationState.QUEUED), _record("odd", payload, OperationState.QUEUED), _record("b", _goal(2, 2), OperationState.QUEUED)]
    picture = _build(_record("active", payload), queued)
    assert _numbers(picture) == ["1. a", "3. b"]  # b is still the third to start
    assert not _of(picture, markers.NS_ROUTE) and not _of(picture, markers.NS_ROUTE_STOPS)
    assert _of(picture, markers.NS_LABEL)[0].text.startswith("robot_1 RUNNING active 0%")


def test_goals_are_capped_and_only_the_head_of_a_long_queue_is_read():
    dispatcher = OperationDispatcher("robot_1")
    dispatcher.add([{"id": f"op-{i}", "payload": _goal(i, 0), "priority": i % 3} for i in range(2000)])
    picture = _picture(dispatcher, max_goals=5)
    assert _numbers(picture) == ["1. op-2", "2. op-5", "3. op-8", "4. op-11", "5. op-14"]
    assert len(picture.markers) == 1 + 2 * 5 + 1  # DELETEALL, five goals with numbers, the label
    assert _of(picture, markers.NS_LABEL)[0].text == "robot_1 STOPPED idle, 2000 queued"
    assert _numbers(_picture(dispatcher, max_goals=0)) == []
    assert len(_build(queued=[_record(f"q{i}", _goal(i, 0), OperationState.QUEUED) for i in range(9)], max_goals=3).markers) == 1 + 2 * 3 + 1


async def test_every_picture_clears_first_so_an_operation_that_left_the_queue_disappears():
    dispatcher = OperationDispatcher("robot_1", default_decision=True)
    dispatcher.add([{"id": "a", "payload": _goal(1, 0), "priority": 2}, {"id": "b", "payload": _goal(2, 0), "priority": 1}])
    before = _picture(dispatcher)
    await dispatcher.cancel("a")
    after = _picture(dispatcher)
    for picture in (before, after):
        assert picture.markers[0].action == Marker.DELETEALL
        assert all(m.action == Marker.ADD for m in picture.markers[1:])
        keys = [(m.ns, m.id) for m in picture.markers[1:]]
        assert len(keys) == len(set(keys))  # unique: RViz replaces, never piles up
    assert _numbers(before) == ["1. a", "2. b"] and _numbers(after) == ["1. b"]


async def test_coalesced_publishes_once_per_period_however_often_it_is_asked():
    loop = asyncio.get_running_loop()
    published: list[float] = []
    out = Coalesced(loop, 0.05, lambda: published.append(loop.time()))
    first = loop.time()
    for _ in range(100):
        out.ask()
    await asyncio.sleep(0.15)
    assert len(published) == 1 and published[0] - first >= 0.05
    out.ask()  # a change after it fired arms it again
    await asyncio.sleep(0.15)
    assert len(published) == 2


def test_coalesced_on_a_closed_loop_does_nothing():
    # what a late progress report or event meets while the node is cleaning up
    loop = asyncio.new_event_loop()
    loop.close()
    out = Coalesced(loop, 0.01, lambda: pytest.fail("published on a closed loop"))
    out.ask()
    out.ask()
