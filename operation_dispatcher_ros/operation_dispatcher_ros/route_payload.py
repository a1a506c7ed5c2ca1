"""The route grammar of a mobile robot's payload, without ROS: one parser for every executor.

The sim robot (``sim_robot_motion``) and the Nav2 executor
(``operation_dispatcher_nav2.route``) both read an operation's
``payload_json`` with :func:`parse_stops`, so a payload one of them accepts
the other accepts too, and a bad one is refused by both with the same text.

Shapes (other keys are left to the business logic and ignored here)::

    {"pickup": {"x": 1.0, "y": 2.0}, "dropoff": {"x": 4.0, "y": 0.5}}
    {"waypoints": [{"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0, "yaw": 1.57}]}
    {"goal": {"x": 3.0, "y": 1.0, "frame_id": "map"}}

Each point may carry ``"yaw"`` (radians, finite) and ``"frame_id"`` (a
non-empty string); an executor that has no use for them (the sim robot
drives in one plane) still checks them, so a payload is valid or not
whichever robot gets it.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any


class PayloadError(ValueError):
    """The payload is not a route this robot can drive; the message names the field."""


@dataclass(frozen=True)
class Point:
    x: float
    y: float

    def distance_to(self, other: Point) -> float:
        return math.hypot(other.x - self.x, other.y - self.y)

    def heading_to(self, other: Point) -> float:
        """The direction (rad, -pi .. pi) from here towards ``other``."""
        return math.atan2(other.y - self.y, other.x - self.x)

    def __str__(self) -> str:
        return f"({self.x:.2f}, {self.y:.2f})"


@dataclass(frozen=True)
class Stop:
    """One point of a route, with a name for status texts ("pickup", "waypoint 2", "goal")."""

    name: str
    point: Point
    yaw: float | None = None
    """Heading wanted at the stop (rad); None = the payload gave none."""
    frame_id: str | None = None
    """Frame of the point; None = the payload gave none (the executor's default applies)."""



def load_payload(payload_json: str) -> dict[str, Any]:
    """Parse ``payload_json`` into its JSON object; an empty text is an empty object."""
    try:
        payload = json.loads(payload_json) if payload_json.strip() else {}
    except ValueError as exc:
        raise PayloadError(f"payload_json is not valid JSON: {exc}") from None
    if not isinstance(payload, dict):
        raise PayloadError("payload_json must be a JSON object")
    return payload


def _finite(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(value)


def _stop(name: str, value: Any, field: str) -> Stop:
    if not isinstance(value, dict):
        raise PayloadError(f"{field} must be an object like {{\"x\": 1.0, \"y\": 2.0}}")
    for axis in ("x", "y"):
        if not _finite(value.get(axis)):
            raise PayloadError(f"{field}.{axis} must be a finite number")
    yaw = value.get("yaw")
    if yaw is not None and not _finite(yaw):
        raise PayloadError(f"{field}.yaw must be a finite number (radians)")
    frame_id = value.get("frame_id")
    if frame_id is not None and (not isinstance(frame_id, str) or not frame_id.strip()):
        raise PayloadError(f"{field}.frame_id must be a non-empty string")
    return Stop(
        name,
        Point(float(value["x"]), float(value["y"])),
        None if yaw is None else float(yaw),
        frame_id,
    )


def parse_stops(payload: dict[str, Any]) -> tuple[Stop, ...]:
    """The stops of a payload object, in driving order; raise :class:`PayloadError` naming the field."""
    present = {
        "waypoints": "waypoints" in payload,
        "pickup/dropoff": "pickup" in payload or "dropoff" in payload,
        "goal": "goal" in payload,
    }
    given = [shape for shape, here in present.items() if here]
    if len(given) > 1:
        listed = ", ".join(given[:-1]) + " and " + given[-1]
        raise PayloadError(f"payload has {'both ' if len(given) == 2 else ''}{listed}; give one of them")
    if not given:
        raise PayloadError("payload needs pickup and dropoff, or waypoints, or a goal")
    if given[0] == "pickup/dropoff":
        for field in ("pickup", "dropoff"):
            if field not in payload:
                raise PayloadError(f"{field} is missing: a transport needs pickup and dropoff")
        return tuple(_stop(field, payload[field], field) for field in ("pickup", "dropoff"))
    if given[0] == "goal":
        return (_stop("goal", payload["goal"], "goal"),)
    waypoints = payload["waypoints"]
    if not isinstance(waypoints, list) or not waypoints:
        raise PayloadError("waypoints must be a non-empty list of points")
    return tuple(_stop(f"waypoint {i + 1}", p, f"waypoints[{i}]") for i, p in enumerate(waypoints))
