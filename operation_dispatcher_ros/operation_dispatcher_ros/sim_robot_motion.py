"""The simulated robot's world, without ROS: payload parsing, 2D motion, battery.

``sim_robot_node`` is a thin ROS shell around :class:`SimRobot`; everything
that decides where the robot is, how far along a task it is and when it fails
lives here so that it can be unit-tested by stepping time by hand.

Motion is integrated from elapsed time (``step(dt)``), not from tick counts,
so a loaded machine that fires the control timer late still moves the robot
by ``speed * dt``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from itertools import pairwise
from typing import Any

from .route_payload import PayloadError, Point, Stop, load_payload, parse_stops

__all__ = ["Mission", "Outcome", "PayloadError", "Point", "SimRobot", "Stop", "Task", "parse_task"]

ORIGIN = Point(0.0, 0.0)


@dataclass(frozen=True)
class Task:
    """A parsed payload: where to drive, and whether to fail on the way."""

    stops: tuple[Stop, ...]
    fail_at: float | None = None
    """Progress (0..1) at which the task fails on demand; None = never."""


def _fail_at(payload: dict[str, Any]) -> float | None:
    fail = payload.get("fail", False)
    if not isinstance(fail, bool):
        raise PayloadError("fail must be true or false")
    if "fail_at" not in payload:
        return 0.0 if fail else None
    value = payload["fail_at"]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise PayloadError("fail_at must be a number from 0.0 to 1.0")
    return 0.0 if fail else float(value)


def parse_task(payload_json: str) -> Task:
    """Read a route payload (``route_payload``); raise :class:`PayloadError` naming the field.

    Shapes: ``pickup`` + ``dropoff``, ``waypoints`` or a single ``goal``
    (see :mod:`.route_payload`; a point's ``yaw`` and ``frame_id`` are checked
    but this robot drives in one plane and ignores them), each optionally with
    ``"fail": true`` (fail at once) or ``"fail_at": 0.5`` (fail at that progress).
    """
    payload = load_payload(payload_json)
    return Task(stops=parse_stops(payload), fail_at=_fail_at(payload))


class Outcome(Enum):
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


class Mission:
    """A task being driven from a start point: legs, distance done, outcome."""

    def __init__(self, start: Point, task: Task) -> None:
        self.task = task
        points = [start] + [s.point for s in task.stops]
        self._legs = list(pairwise(points))
        self._leg_lengths = [a.distance_to(b) for a, b in self._legs]
        self.total = sum(self._leg_lengths)
        self.done = 0.0
        self.paused = False
        self.outcome = Outcome.RUNNING
        self.failure = ""

    @property
    def progress(self) -> float:
        return 1.0 if self.total == 0.0 else min(1.0, self.done / self.total)

    @property
    def remaining(self) -> float:
        return max(0.0, self.total - self.done)

    @property
    def stops_reached(self) -> int:
        """How many of the task's stops the robot has passed: every one once it arrived."""
        return len(self.task.stops) if self.done >= self.total else self._leg_index()

    def _leg_index(self) -> int:
        travelled = self.done
        for i, length in enumerate(self._leg_lengths):
            if travelled < length:
                return i
            travelled -= length
        return len(self._legs) - 1

    def position(self) -> tuple[Point, float | None]:
        """Where the robot is along the route, and the heading of its current leg."""
        travelled = self.done
        for (a, b), length in zip(self._legs, self._leg_lengths, strict=True):
            if travelled < length:
                f = travelled / length
                return Point(a.x + f * (b.x - a.x), a.y + f * (b.y - a.y)), a.heading_to(b)
            travelled -= length
        last_a, last_b = self._legs[-1]
        heading = last_a.heading_to(last_b) if last_a != last_b else None
        return last_b, heading

    def status(self) -> str:
        if self.outcome is Outcome.SUCCEEDED:
            return f"arrived at {self.task.stops[-1].name} {self.task.stops[-1].point}"
        if self.outcome is Outcome.FAILED:
            return self.failure
        target = self.task.stops[self._leg_index()]
        verb = "paused on the way to" if self.paused else "driving to"
        return f"{verb} {target.name} {target.point} ({self.progress:.0%})"


class SimRobot:
    """A point robot on a plane that drives missions in straight lines at ``speed``.

    ``battery`` is 0..1; it drains with distance driven (``drain_per_m``) and
    recharges while no mission is active (``recharge_per_s``). A mission
    fails when the battery runs empty or when its task's ``fail_at`` (or the
    robot-wide ``fail_at``) progress is reached.
    """

    def __init__(
        self,
        position: Point = ORIGIN,
        yaw: float = 0.0,
        *,
        speed: float = 1.0,
        battery: float = 1.0,
        drain_per_m: float = 0.01,
        recharge_per_s: float = 0.02,
        fail_at: float | None = None,
    ) -> None:
        self.position = position
        self.yaw = yaw
        self.speed = speed
        self.battery = min(1.0, max(0.0, battery))
        self.drain_per_m = drain_per_m
        self.recharge_per_s = recharge_per_s
        self.fail_at = fail_at
        self.velocity = 0.0
        """Linear speed during the last step (m/s), for odometry."""
        self.mission: Mission | None = None

    @property
    def busy(self) -> bool:
        return self.mission is not None

    def start(self, task: Task) -> Mission:
        if self.mission is not None:
            raise RuntimeError("the robot is busy with another mission")
        self.mission = Mission(self.position, task)
        return self.mission

    def finish(self) -> Mission | None:
        """Forget the current mission (done, failed or cancelled) and stand still."""
        mission, self.mission = self.mission, None
        self.velocity = 0.0
        return mission

    def _fail_distance(self, mission: Mission) -> float | None:
        limits = [f for f in (mission.task.fail_at, self.fail_at) if f is not None]
        return min(limits) * mission.total if limits else None

    def step(self, dt: float) -> None:
        """Advance the world by ``dt`` seconds of elapsed time."""
        mission = self.mission
        self.velocity = 0.0
        if dt <= 0.0:
            return
        if mission is None:
            self.battery = min(1.0, self.battery + self.recharge_per_s * dt)
            return
        if mission.outcome is not Outcome.RUNNING or mission.paused:
            return
        fail_distance = self._fail_distance(mission)
        if fail_distance is not None and mission.done >= fail_distance:
            self._fail(mission, f"simulated failure at {mission.progress:.0%} progress")
            return
        if self.battery <= 0.0:
            self._fail(mission, f"battery empty at {mission.progress:.0%} progress")
            return
        target = mission.total if fail_distance is None else min(mission.total, fail_distance)
        distance = min(self.speed * dt, target - mission.done)
        if self.drain_per_m > 0.0 and distance >= self.battery / self.drain_per_m:
            distance, self.battery = self.battery / self.drain_per_m, 0.0
        else:
            self.battery = max(0.0, self.battery - distance * self.drain_per_m)
        mission.done += distance
        self.velocity = distance / dt
        self.position, heading = mission.position()
        if heading is not None:
            self.yaw = heading
        if fail_distance is not None and mission.done >= fail_distance:
            self._fail(mission, f"simulated failure at {mission.progress:.0%} progress")
        elif mission.done >= mission.total:
            mission.outcome = Outcome.SUCCEEDED
        elif self.battery <= 0.0:
            self._fail(mission, f"battery empty at {mission.progress:.0%} progress")

    @staticmethod
    def _fail(mission: Mission, reason: str) -> None:
        mission.outcome = Outcome.FAILED
        mission.failure = reason

