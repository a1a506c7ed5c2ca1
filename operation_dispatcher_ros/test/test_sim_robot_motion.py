"""The simulated robot's motion, battery and payload parsing, by stepping time by hand (no ROS)."""

from __future__ import annotations

import json
import math

import pytest

from operation_dispatcher_ros.sim_robot_motion import (
    Outcome,
    PayloadError,
    Point,
    SimRobot,
    parse_task,
)

TRANSPORT = {"pickup": {"x": 3.0, "y": 4.0}, "dropoff": {"x": 3.0, "y": 0.0}}  # 5 m + 4 m from the origin


def task(payload: dict) -> object:
    return parse_task(json.dumps(payload))


# ---------------------------------------------------------------- payloads

def test_transport_payload_becomes_pickup_then_dropoff() -> None:
    parsed = parse_task(json.dumps({**TRANSPORT, "task": "pallet 7"}))
    assert [(s.name, s.point) for s in parsed.stops] == [("pickup", Point(3.0, 4.0)), ("dropoff", Point(3.0, 0.0))]
    assert parsed.fail_at is None


def test_waypoints_payload_keeps_order() -> None:
    parsed = task({"waypoints": [{"x": 1, "y": 0}, {"x": 1, "y": 1}, {"x": 0, "y": 1}]})
    assert [s.point for s in parsed.stops] == [Point(1, 0), Point(1, 1), Point(0, 1)]
    assert [s.name for s in parsed.stops] == ["waypoint 1", "waypoint 2", "waypoint 3"]


@pytest.mark.parametrize(
    ("payload_json", "names"),
    [
        ("", "needs pickup and dropoff, or waypoints"),
        ("{}", "needs pickup and dropoff, or waypoints"),
        ("not json", "not valid JSON"),
        ("[1, 2]", "must be a JSON object"),
        ('{"pickup": {"x": 1, "y": 2}}', "dropoff is missing"),
        ('{"pickup": {"x": 1}, "dropoff": {"x": 1, "y": 2}}', "pickup.y must be a finite number"),
        ('{"pickup": {"x": "1", "y": 2}, "dropoff": {"x": 1, "y": 2}}', "pickup.x must be a finite number"),
        ('{"pickup": {"x": true, "y": 2}, "dropoff": {"x": 1, "y": 2}}', "pickup.x must be a finite number"),
        ('{"pickup": [1, 2], "dropoff": {"x": 1, "y": 2}}', "pickup must be an object"),
        ('{"waypoints": []}', "waypoints must be a non-empty list"),
        ('{"waypoints": [{"x": 1, "y": 1}, {"x": 1e999, "y": 0}]}', "waypoints[1].x must be a finite number"),
        ('{"waypoints": [{"x": 1, "y": 1}], "pickup": {"x": 1, "y": 1}}', "both waypoints and pickup/dropoff"),
        ('{"waypoints": [{"x": 1, "y": 1}], "fail_at": 1.5}', "fail_at must be a number from 0.0 to 1.0"),
        ('{"waypoints": [{"x": 1, "y": 1}], "fail": "yes"}', "fail must be true or false"),
    ],
)
def test_malformed_payload_is_refused_naming_the_field(payload_json: str, names: str) -> None:
    with pytest.raises(PayloadError, match=names.replace("[", r"\[").replace("]", r"\]")):
        parse_task(payload_json)


def test_fail_flag_means_fail_at_once() -> None:
    assert task({**TRANSPORT, "fail": True}).fail_at == 0.0
    assert task({**TRANSPORT, "fail_at": 0.25}).fail_at == 0.25


# ------------------------------------------------------------------ motion

def drive(robot: SimRobot, seconds: float, dt: float = 0.05) -> None:
    for _ in range(round(seconds / dt)):
        robot.step(dt)


def test_drives_the_route_in_straight_lines_at_speed() -> None:
    robot = SimRobot(speed=2.0, drain_per_m=0.0)
    mission = robot.start(task(TRANSPORT))
    assert mission.total == pytest.approx(9.0)
    robot.step(1.0)  # 2 m along the first leg, towards (3, 4)
    assert (robot.position.x, robot.position.y) == pytest.approx((1.2, 1.6))
    assert robot.yaw == pytest.approx(math.atan2(4, 3))
    assert robot.velocity == pytest.approx(2.0)
    assert mission.progress == pytest.approx(2 / 9)
    assert "driving to pickup (3.00, 4.00)" in mission.status()
    robot.step(2.0)  # 6 m: past the pickup, 1 m down towards the dropoff
    assert (robot.position.x, robot.position.y) == pytest.approx((3.0, 3.0))
    assert robot.yaw == pytest.approx(-math.pi / 2)
    assert "driving to dropoff" in mission.status()
    robot.step(10.0)  # a long, late step still ends exactly at the dropoff
    assert mission.outcome is Outcome.SUCCEEDED
    assert mission.progress == 1.0
    assert robot.position == Point(3.0, 0.0)
    assert robot.velocity == pytest.approx(3.0 / 10.0)


def test_stops_reached_counts_the_stops_passed_and_all_on_arrival() -> None:
    # what the Nav2 stand-in's number_of_poses_remaining is made of
    robot = SimRobot(Point(1.0, 0.0), speed=1.0, drain_per_m=0.0)  # already at the first waypoint
    mission = robot.start(task({"waypoints": [{"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}))
    assert mission.stops_reached == 1
    robot.step(0.5)
    assert mission.stops_reached == 1
    robot.step(0.75)  # 1.25 m: past the second
    assert mission.stops_reached == 2
    robot.step(5.0)
    assert (mission.outcome, mission.stops_reached) == (Outcome.SUCCEEDED, 3)


def test_integration_depends_on_elapsed_time_not_on_step_count() -> None:
    few, many = SimRobot(speed=1.5), SimRobot(speed=1.5)
    few.start(task(TRANSPORT))
    many.start(task(TRANSPORT))
    few.step(0.1)
    few.step(2.9)
    drive(many, 3.0, dt=0.01)
    assert few.position.x == pytest.approx(many.position.x)
    assert few.position.y == pytest.approx(many.position.y)
    assert few.battery == pytest.approx(many.battery)


def test_pause_holds_progress_and_resume_continues_from_it() -> None:
    robot = SimRobot(speed=1.0)
    mission = robot.start(task(TRANSPORT))
    robot.step(2.0)
    mission.paused = True
    held, where = mission.progress, robot.position
    robot.step(5.0)
    assert (mission.progress, robot.position, robot.velocity) == (held, where, 0.0)
    assert "paused on the way to pickup" in mission.status()
    mission.paused = False
    robot.step(1.0)
    assert mission.progress == pytest.approx(3 / 9)


def test_fail_at_stops_exactly_there() -> None:
    robot = SimRobot(speed=1.0, drain_per_m=0.0)
    mission = robot.start(task({**TRANSPORT, "fail_at": 0.5}))
    robot.step(100.0)
    assert mission.outcome is Outcome.FAILED
    assert mission.progress == pytest.approx(0.5)
    assert mission.failure == "simulated failure at 50% progress"


def test_fail_flag_fails_without_moving() -> None:
    robot = SimRobot()
    mission = robot.start(task({**TRANSPORT, "fail": True}))
    robot.step(0.1)
    assert mission.outcome is Outcome.FAILED
    assert robot.position == Point(0.0, 0.0)


def test_robot_wide_fail_at_applies_to_every_mission() -> None:
    robot = SimRobot(fail_at=0.2)
    mission = robot.start(task(TRANSPORT))
    robot.step(100.0)
    assert (mission.outcome, mission.progress) == (Outcome.FAILED, pytest.approx(0.2))


def test_already_at_the_goal_succeeds_at_once() -> None:
    robot = SimRobot(Point(1.0, 1.0))
    mission = robot.start(task({"waypoints": [{"x": 1.0, "y": 1.0}]}))
    robot.step(0.05)
    assert (mission.outcome, mission.progress) == (Outcome.SUCCEEDED, 1.0)


def test_one_mission_at_a_time_and_finish_stops() -> None:
    robot = SimRobot()
    robot.start(task(TRANSPORT))
    with pytest.raises(RuntimeError, match="busy"):
        robot.start(task(TRANSPORT))
    robot.step(1.0)
    robot.finish()
    where = robot.position
    robot.step(1.0)
    assert (robot.busy, robot.position, robot.velocity) == (False, where, 0.0)
    robot.start(task(TRANSPORT))


# ----------------------------------------------------------------- battery

def test_battery_drains_with_distance_and_recharges_while_idle() -> None:
    robot = SimRobot(speed=1.0, battery=0.5, drain_per_m=0.02, recharge_per_s=0.1)
    robot.start(task(TRANSPORT))
    robot.step(4.0)
    assert robot.battery == pytest.approx(0.5 - 4 * 0.02)
    robot.finish()
    robot.step(2.0)
    assert robot.battery == pytest.approx(0.42 + 0.2)
    robot.step(100.0)
    assert robot.battery == 1.0


def test_paused_robot_does_not_recharge() -> None:
    robot = SimRobot(battery=0.5)
    mission = robot.start(task(TRANSPORT))
    mission.paused = True
    robot.step(10.0)
    assert robot.battery == 0.5


def test_empty_battery_fails_the_mission_where_it_ran_out() -> None:
    robot = SimRobot(speed=1.0, battery=0.3, drain_per_m=0.1)
    mission = robot.start(task(TRANSPORT))
    robot.step(100.0)
    robot.step(0.1)
    assert mission.outcome is Outcome.FAILED
    assert mission.done == pytest.approx(3.0)
    assert robot.battery == 0.0
    assert mission.failure.startswith("battery empty at 33%")
