"""An operation's route on Nav2, without ROS: the stops as poses, what to send next, progress.

The executor node is a thin shell around :class:`Route`: it turns an
operation's payload into stops (:meth:`Route.from_payload`, the grammar of
``operation_dispatcher_ros.route_payload``, shared with the sim robot), sends
what :meth:`Route.next_goal` names, and hands Nav2's feedback and results
back. Everything that decides which stops are reached, what a resume sends
and how far along the operation is lives here, so it is tested by feeding
Nav2's numbers by hand.

Rules:

- **Yaw.** A stop with ``"yaw"`` gets it. A stop without one faces along the
  leg towards it: from the previous stop, or from the start pose for the
  first stop when one is given. Where there is no such leg (the first stop
  without a start pose, a leg of zero length, a leg between two frames) the
  stop keeps the heading the robot arrives with: the previous stop's yaw,
  the start pose's, or 0.0 for the first stop without a start pose.
- **Reached.** A stop counts as reached only when Nav2 says so: from a
  NavigateThroughPoses goal's feedback (``number_of_poses_remaining`` drops;
  Nav2 keeps the last pose in that count until the goal succeeds), or by a
  goal's success (every stop it carried). A paused or canceled goal reaches
  nothing more; the next goal carries every stop not reached yet.
- **Progress** = (lengths of the legs to the reached stops + the part of the
  current leg covered) / the route's length. Legs are straight lines in the
  plane (x, y; a route that mixes frames gets an approximate figure). The
  current leg's covered part is its length minus Nav2's distance to the
  current stop: ``distance_remaining`` for a goal with one stop; for
  NavigateThroughPoses, whose ``distance_remaining`` runs to the last stop,
  that minus the later legs. Without a start pose the first leg's length is
  the first distance Nav2 reports for it. Progress never goes down (a replan
  that lengthens the path holds it), stays within [0, ``ALMOST_DONE``] until
  the last stop is reached and is 1.0 then. A route of zero length counts
  stops instead.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import pairwise

from operation_dispatcher_ros.route_payload import Point, load_payload, parse_stops

NAVIGATE_TO_POSE = "NavigateToPose"
NAVIGATE_THROUGH_POSES = "NavigateThroughPoses"
DEFAULT_FRAME_ID = "map"
ALMOST_DONE = 0.99
"""The most progress shown before Nav2 reports the last stop reached."""


@dataclass(frozen=True)
class Quaternion:
    x: float
    y: float
    z: float
    w: float


def quaternion_from_yaw(yaw: float) -> Quaternion:
    """A rotation of ``yaw`` radians about z (x = y = 0), as geometry_msgs/Quaternion holds it."""
    return Quaternion(0.0, 0.0, math.sin(yaw / 2.0), math.cos(yaw / 2.0))


@dataclass(frozen=True)
class PlanarPose:
    """A pose on the ground plane: what a geometry_msgs/PoseStamped sent to Nav2 carries."""

    point: Point
    yaw: float
    frame_id: str

    @property
    def orientation(self) -> Quaternion:
        return quaternion_from_yaw(self.yaw)


@dataclass(frozen=True)
class NavStop:
    name: str
    """For status texts: "pickup", "dropoff", "waypoint 2", "goal"."""
    pose: PlanarPose


@dataclass(frozen=True)
class Nav2Goal:
    """One goal for Nav2: the action to call and the stops it carries, in order."""

    action: str
    stops: tuple[NavStop, ...]


def _yaw(point: Point, frame_id: str, given: float | None, previous: PlanarPose | None) -> float:
    if given is not None:
        return given
    if previous is None:
        return 0.0
    if previous.frame_id != frame_id or previous.point == point:
        return previous.yaw
    return previous.point.heading_to(point)


class Route:
    """The stops of one operation and how far Nav2 has taken the robot along them."""

    def __init__(self, stops: tuple[NavStop, ...], *, start: PlanarPose | None = None, through_poses: bool = True) -> None:
        if not stops:
            raise ValueError("a route needs at least one stop")
        self.stops = stops
        self.through_poses = through_poses
        points = [s.pose.point for s in stops]
        self._legs: list[float | None] = [None if start is None else start.point.distance_to(points[0])]
        self._legs += [a.distance_to(b) for a, b in pairwise(points)]
        self.reached = 0
        """How many stops (from the first) Nav2 has reported reached."""
        self._goal: tuple[int, int] | None = None  # the stops [first, end) of the goal in flight
        self._distance_left: float | None = None  # to the current stop, from the latest feedback
        self._progress = 0.0

    @classmethod
    def from_payload(
        cls,
        payload_json: str,
        *,
        frame_id: str = DEFAULT_FRAME_ID,
        start: PlanarPose | None = None,
        through_poses: bool = True,
    ) -> Route:
        """The route of a payload; raise ``PayloadError`` naming the field (the goal is rejected with it).

        ``frame_id`` is the frame of every point that names none.
        """
        if not frame_id.strip():
            raise ValueError("frame_id must be a non-empty string")
        stops: list[NavStop] = []
        previous = start
        for stop in parse_stops(load_payload(payload_json)):
            frame = stop.frame_id or frame_id
            pose = PlanarPose(stop.point, _yaw(stop.point, frame, stop.yaw, previous), frame)
            stops.append(NavStop(stop.name, pose))
            previous = pose
        return cls(tuple(stops), start=start, through_poses=through_poses)

    @property
    def finished(self) -> bool:
        return self.reached == len(self.stops)

    @property
    def remaining(self) -> tuple[NavStop, ...]:
        """The stops not reached yet: what a resume sends again."""
        return self.stops[self.reached :]

    def next_goal(self) -> Nav2Goal:
        """The goal to send now, recorded as the one in flight: every stop not reached
        (NavigateThroughPoses when more than one), or only the next one when
        ``through_poses`` is off; a goal of one stop is a NavigateToPose."""
        if self.finished:
            raise RuntimeError("every stop is reached: nothing left to send")
        end = len(self.stops) if self.through_poses else self.reached + 1
        self._goal = (self.reached, end)
        self._distance_left = None
        stops = self.stops[self.reached : end]
        return Nav2Goal(NAVIGATE_THROUGH_POSES if len(stops) > 1 else NAVIGATE_TO_POSE, stops)

    def on_feedback(self, distance_remaining: float, poses_remaining: int | None = None) -> None:
        """Nav2's feedback for the goal in flight (``poses_remaining`` from NavigateThroughPoses).

        A ``distance_remaining`` of 0.0 (or less, or not finite) is no news:
        Nav2 sends 0.0 until it has a path. A ``poses_remaining`` outside
        1 .. the goal's stop count is no news either.
        """
        if self._goal is None:
            return
        first, end = self._goal
        if poses_remaining is not None and 1 <= poses_remaining <= end - first:
            self._reach(end - poses_remaining)
        if not math.isfinite(distance_remaining) or distance_remaining <= 0.0:
            self._update_progress()
            return
        later_legs = sum(leg or 0.0 for leg in self._legs[self.reached + 1 : end])
        distance = max(0.0, distance_remaining - later_legs)
        if self._legs[0] is None and self.reached == 0 and distance > 0.0:
            self._legs[0] = distance
        self._distance_left = distance
        self._update_progress()

    def on_succeeded(self) -> None:
        """The goal in flight succeeded: Nav2 has reached every stop it carried."""
        if self._goal is not None:
            self._reach(self._goal[1])
            self._goal = None
            self._update_progress()

    def on_stopped(self) -> None:
        """The goal in flight ended without success (paused, canceled, failed): nothing more is reached."""
        self._goal = None
        self._distance_left = None

    def _reach(self, count: int) -> None:
        if count > self.reached:
            self.reached = count
            self._distance_left = None
            if self._legs[0] is None:
                self._legs[0] = 0.0  # reached before Nav2 told how far it was

    def _update_progress(self) -> None:
        legs = [leg or 0.0 for leg in self._legs]
        total = sum(legs)
        if self.finished:
            value = 1.0
        elif total <= 0.0:
            value = self.reached / len(self.stops)
        else:
            leg = legs[self.reached]
            covered = 0.0 if self._distance_left is None else min(leg, max(0.0, leg - self._distance_left))
            value = min(ALMOST_DONE, (sum(legs[: self.reached]) + covered) / total)
        self._progress = max(self._progress, value)

    @property
    def progress(self) -> float:
        """0.0 .. 1.0, never lower than before; 1.0 only when every stop is reached."""
        return self._progress

    def status(self, *, paused: bool = False) -> str:
        """A feedback text naming the stop: "driving to dropoff (2 of 2), 1.4 m left"."""
        count = len(self.stops)
        if self.finished:
            return f"arrived at {self.stops[-1].name} ({count} of {count})"
        where = f"{self.stops[self.reached].name} ({self.reached + 1} of {count})"
        if paused:
            return f"paused on the way to {where}"
        if self._distance_left is None:
            return f"driving to {where}"
        return f"driving to {where}, {self._distance_left:.1f} m left"
