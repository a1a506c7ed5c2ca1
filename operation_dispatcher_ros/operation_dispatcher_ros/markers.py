"""What the dispatcher knows, drawn for RViz: one ``visualization_msgs/MarkerArray``.

Published on ``dispatch_markers`` (latched, see dispatcher_node). Each
message is the whole picture, in this order:

- one DELETEALL first, then everything anew. Removing only what left
  (DELETE per id) would need the node to remember what it sent, and a
  subscriber that came late (the latched message) or missed one would keep
  stale markers; with DELETEALL every message stands alone. RViz applies a
  MarkerArray as one update, so nothing flickers. The topic is this
  dispatcher's own, so clearing the display clears nobody else's markers.
- ``goals`` / ``goal_numbers``, id = the number: a sphere at the goal (the
  last stop) of each queued operation and its number in dispatch order
  (1 = the next to start), as the core's queue orders them (released ones
  by priority and age, then those waiting for their release date, then
  those waiting for dependencies). A payload that is not a route keeps its
  number but gets no marker, so the numbers stay the order of starts. Only
  the first ``max_goals`` queued operations are read and drawn: a long
  queue costs its first page, not its length.
- ``route`` / ``route_stops``, id 0: the active operation's stops in driving
  order (route_payload.parse_stops), as a line (two stops or more) and as
  points.
- ``robot``, id 0: a label with the dispatcher's state, e.g.
  ``robot_1 RUNNING op-42 40%, 3 queued``. The dispatcher does not know
  where the robot is, so the label does not pretend to: it stands at the
  origin of ``frame`` plus ``label_offset``, a status board that a fleet
  places apart per robot.

Frames: a stop's own ``frame_id``, else ``frame``. The dispatcher has no TF,
so the route is drawn in its first stop's frame and leaves out any stop
given in another. Stamps are zero (RViz then uses the latest transform), so
the latched message still shows minutes later.

The queue's order can also change without an event (a release date
passing); the picture follows at the next change. Pure functions: nothing
here needs a running graph.
"""

from __future__ import annotations

from collections.abc import Sequence

from geometry_msgs.msg import Point as PointMsg
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from operation_dispatcher import DispatcherSnapshot, OperationDispatcher, OperationRecord, OperationState

from .route_payload import PayloadError, Stop, parse_stops

PERIOD = 0.5
"""Least seconds between two messages: changes within it go out together (at most 2 Hz)."""

NS_GOALS, NS_GOAL_NUMBERS, NS_ROUTE, NS_ROUTE_STOPS, NS_LABEL = "goals", "goal_numbers", "route", "route_stops", "robot"

GOAL_SIZE = 0.3  # m: the goal sphere's diameter
TEXT_SIZE = 0.3  # m: height of a capital letter
LINE_WIDTH = 0.05  # m
Color = tuple[float, float, float, float]  # r, g, b, a
GOAL_COLOR: Color = (1.0, 0.55, 0.0, 0.9)
ROUTE_COLOR: Color = (0.1, 0.8, 0.2, 0.9)
TEXT_COLOR: Color = (1.0, 1.0, 1.0, 1.0)


def from_dispatcher(
    dispatcher: OperationDispatcher, frame: str, max_goals: int, label_offset: Sequence[float]
) -> MarkerArray:
    """The markers of ``dispatcher`` now: its state, its active operation, the first ``max_goals`` queued ones."""
    current = dispatcher.current()
    queued = dispatcher.page_operations(OperationState.QUEUED, limit=max_goals).operations if max_goals else []
    return build(dispatcher.snapshot(), current, queued, frame=frame, max_goals=max_goals, label_offset=label_offset)


def build(
    snapshot: DispatcherSnapshot,
    current: OperationRecord | None,
    queued: Sequence[OperationRecord],
    *,
    frame: str,
    max_goals: int,
    label_offset: Sequence[float],
) -> MarkerArray:
    """The whole picture (see the module's docstring); ``queued`` in dispatch order, from its head."""
    markers = [Marker(action=Marker.DELETEALL)]
    markers[0].header.frame_id = frame
    for number, record in enumerate(queued[:max_goals], start=1):
        stops = route(record)
        if stops:
            goal = stops[-1]
            markers.append(_marker(NS_GOALS, number, Marker.SPHERE, _frame(goal, frame), GOAL_COLOR, GOAL_SIZE, [_point(goal)]))
            text = _marker(NS_GOAL_NUMBERS, number, Marker.TEXT_VIEW_FACING, _frame(goal, frame), TEXT_COLOR, TEXT_SIZE, [_point(goal, GOAL_SIZE + TEXT_SIZE)])
            text.text = f"{number}. {record.operation.id}"
            markers.append(text)
    stops = route(current) if current is not None else ()
    if stops:
        route_frame = _frame(stops[0], frame)
        points = [_point(s) for s in stops if _frame(s, frame) == route_frame]
        if len(points) > 1:
            markers.append(_marker(NS_ROUTE, 0, Marker.LINE_STRIP, route_frame, ROUTE_COLOR, LINE_WIDTH, points))
        markers.append(_marker(NS_ROUTE_STOPS, 0, Marker.SPHERE_LIST, route_frame, ROUTE_COLOR, GOAL_SIZE / 2, points))
    x, y, z = (float(v) for v in label_offset)
    label = _marker(NS_LABEL, 0, Marker.TEXT_VIEW_FACING, frame, TEXT_COLOR, TEXT_SIZE, [PointMsg(x=x, y=y, z=z)])
    label.text = label_text(snapshot, current)
    markers.append(label)
    return MarkerArray(markers=markers)


def route(record: OperationRecord) -> tuple[Stop, ...]:
    """The stops of an operation's payload; () when it is not a route (never an exception)."""
    try:
        return parse_stops(record.operation.payload)
    except PayloadError:
        return ()


def label_text(snapshot: DispatcherSnapshot, current: OperationRecord | None) -> str:
    """``<resource> <status> <operation> [PAUSED ]<progress>%, <n> queued`` (``idle`` without one)."""
    doing = "idle"
    if current is not None:
        paused = " PAUSED" if current.execution.state is OperationState.PAUSED else ""
        doing = f"{current.operation.id}{paused} {round(current.execution.progress * 100)}%"
    return f"{snapshot.resource_id} {snapshot.status.value} {doing}, {snapshot.queue_length} queued"


def _frame(stop: Stop, default: str) -> str:
    return stop.frame_id or default


def _point(stop: Stop, z: float = GOAL_SIZE / 2) -> PointMsg:
    return PointMsg(x=stop.point.x, y=stop.point.y, z=z)


def _marker(ns: str, marker_id: int, kind: int, frame: str, color: Color, size: float, points: list[PointMsg]) -> Marker:
    """One marker; a single-point kind (sphere, text) stands at its point, the others draw ``points``."""
    r, g, b, a = color
    marker = Marker(ns=ns, id=marker_id, type=kind, action=Marker.ADD, color=ColorRGBA(r=r, g=g, b=b, a=a))
    marker.header.frame_id = frame
    marker.pose.orientation.w = 1.0
    marker.scale.x = marker.scale.y = marker.scale.z = size
    if kind in (Marker.SPHERE, Marker.TEXT_VIEW_FACING):
        marker.pose.position = points[0]
    else:
        marker.points = points
    return marker
