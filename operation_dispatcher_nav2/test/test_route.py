"""The Nav2 executor's route, without a ROS graph: payload to poses, goals to send, reached stops, progress."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from operation_dispatcher_nav2.route import (
    ALMOST_DONE,
    NAVIGATE_THROUGH_POSES,
    NAVIGATE_TO_POSE,
    PlanarPose,
    Route,
    quaternion_from_yaw,
)
from operation_dispatcher_ros.route_payload import PayloadError, Point

ORIGIN = PlanarPose(Point(0.0, 0.0), 0.0, "map")
TRANSPORT = {"pickup": {"x": 3.0, "y": 4.0}, "dropoff": {"x": 3.0, "y": 0.0}}  # 5 m, then 4 m, from the origin
TOUR = {"waypoints": [{"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0}, {"x": 0.0, "y": 1.0}]}  # 1 m legs from the origin


def route(payload: dict, **kwargs: Any) -> Route:
    return Route.from_payload(json.dumps(payload), **kwargs)


def names(stops: tuple) -> list[str]:
    return [s.name for s in stops]


# ------------------------------------------------------------ payload to poses

def test_each_shape_becomes_its_stops_in_order() -> None:
    assert names(route(TRANSPORT).stops) == ["pickup", "dropoff"]
    assert names(route(TOUR).stops) == ["waypoint 1", "waypoint 2", "waypoint 3"]
    (goal,) = route({"goal": {"x": 2, "y": -1}, "task": "inspect"}).stops
    assert (goal.name, goal.pose.point) == ("goal", Point(2.0, -1.0))


def test_frame_is_the_points_own_else_the_default_given_else_map() -> None:
    payload = {"waypoints": [{"x": 1, "y": 0}, {"x": 2, "y": 0, "frame_id": "odom"}]}
    assert [s.pose.frame_id for s in route(payload).stops] == ["map", "odom"]
    assert [s.pose.frame_id for s in route(payload, frame_id="floor_2").stops] == ["floor_2", "odom"]


def test_default_frame_must_be_a_non_empty_string() -> None:
    with pytest.raises(ValueError, match="frame_id must be a non-empty string"):
        route(TRANSPORT, frame_id=" ")


def test_null_yaw_and_frame_id_mean_not_given() -> None:
    (goal,) = route({"goal": {"x": 1, "y": 0, "yaw": None, "frame_id": None}}, start=ORIGIN).stops
    assert (goal.pose.yaw, goal.pose.frame_id) == (0.0, "map")


@pytest.mark.parametrize(
    ("payload_json", "message"),
    [
        ("", "payload needs pickup and dropoff, or waypoints, or a goal"),
        ('{"task": "x"}', "payload needs pickup and dropoff, or waypoints, or a goal"),
        ("not json", "payload_json is not valid JSON"),
        ('["goal"]', "payload_json must be a JSON object"),
        ('{"pickup": {"x": 1, "y": 2}}', "dropoff is missing: a transport needs pickup and dropoff"),
        ('{"goal": {"x": 1, "y": 1}, "waypoints": [{"x": 1, "y": 1}]}', "payload has both waypoints and goal; give one of them"),
        ('{"goal": {"x": 1, "y": 1}, "dropoff": {"x": 1, "y": 1}}', "payload has both pickup/dropoff and goal"),
        (
            '{"goal": {"x": 1, "y": 1}, "pickup": {"x": 1, "y": 1}, "waypoints": []}',
            "payload has waypoints, pickup/dropoff and goal; give one of them",
        ),
        ('{"waypoints": {"x": 1, "y": 1}}', "waypoints must be a non-empty list of points"),
        ('{"goal": [1, 2]}', "goal must be an object like"),
        ('{"waypoints": [{"x": 0, "y": 0}, {"x": 1, "y": 1}, {"y": 2}]}', "waypoints[2].x must be a finite number"),
        ('{"goal": {"x": 1, "y": null}}', "goal.y must be a finite number"),
        ('{"goal": {"x": NaN, "y": 0}}', "goal.x must be a finite number"),
        ('{"goal": {"x": 1e999, "y": 0}}', "goal.x must be a finite number"),
        ('{"pickup": {"x": "1", "y": 2}, "dropoff": {"x": 1, "y": 2}}', "pickup.x must be a finite number"),
        ('{"pickup": {"x": 1, "y": 2}, "dropoff": {"x": 1, "y": false}}', "dropoff.y must be a finite number"),
        ('{"waypoints": [{"x": 0, "y": 0, "yaw": "north"}]}', "waypoints[0].yaw must be a finite number (radians)"),
        ('{"waypoints": [{"x": 0, "y": 0, "yaw": true}]}', "waypoints[0].yaw must be a finite number (radians)"),
        ('{"goal": {"x": 0, "y": 0, "yaw": -Infinity}}', "goal.yaw must be a finite number (radians)"),
        ('{"goal": {"x": 0, "y": 0, "frame_id": ""}}', "goal.frame_id must be a non-empty string"),
        ('{"goal": {"x": 0, "y": 0, "frame_id": "  "}}', "goal.frame_id must be a non-empty string"),
        ('{"waypoints": [{"x": 0, "y": 0}, {"x": 0, "y": 0, "frame_id": 7}]}', "waypoints[1].frame_id must be a non-empty string"),
    ],
)
def test_bad_payload_is_refused_naming_the_field(payload_json: str, message: str) -> None:
    with pytest.raises(PayloadError, match=re.escape(message)):
        Route.from_payload(payload_json)


# ------------------------------------------------------------------------ yaw

@pytest.mark.parametrize(
    ("yaw", "z", "w"),
    [(0.0, 0.0, 1.0), (math.pi / 2, math.sqrt(0.5), math.sqrt(0.5)), (math.pi, 1.0, 0.0), (-math.pi / 2, -math.sqrt(0.5), math.sqrt(0.5))],
)
def test_yaw_becomes_a_rotation_about_z(yaw: float, z: float, w: float) -> None:
    q = quaternion_from_yaw(yaw)
    assert (q.x, q.y) == (0.0, 0.0)
    assert (q.z, q.w) == (pytest.approx(z), pytest.approx(w, abs=1e-12))
    assert q.z**2 + q.w**2 == pytest.approx(1.0)


def test_a_given_yaw_is_kept_and_sent_as_its_quaternion() -> None:
    (goal,) = route({"goal": {"x": 5, "y": 5, "yaw": math.pi / 2}}, start=ORIGIN).stops
    assert goal.pose.yaw == math.pi / 2
    assert (goal.pose.orientation.z, goal.pose.orientation.w) == (pytest.approx(math.sqrt(0.5)), pytest.approx(math.sqrt(0.5)))


def test_a_stop_without_yaw_faces_along_the_leg_towards_it() -> None:
    stops = route(TOUR, start=PlanarPose(Point(0.0, 0.0), 2.0, "map")).stops
    assert [s.pose.yaw for s in stops] == [pytest.approx(0.0), pytest.approx(math.pi / 2), pytest.approx(math.pi)]
    pickup, dropoff = route(TRANSPORT, start=ORIGIN).stops
    assert pickup.pose.yaw == pytest.approx(math.atan2(4, 3))
    assert dropoff.pose.yaw == pytest.approx(-math.pi / 2)


def test_the_first_stop_without_a_start_pose_keeps_yaw_zero() -> None:
    first, second = route({"waypoints": [{"x": -3, "y": -3}, {"x": -3, "y": 0}]}).stops
    assert (first.pose.yaw, second.pose.yaw) == (0.0, pytest.approx(math.pi / 2))


def test_no_leg_to_face_along_keeps_the_heading_the_robot_arrives_with() -> None:
    start = PlanarPose(Point(1.0, 1.0), 0.7, "map")
    same_place, next_one, again, other_frame = route(
        {
            "waypoints": [
                {"x": 1, "y": 1},  # where the robot starts: keeps the start's heading
                {"x": 1, "y": 3, "yaw": 0.3},
                {"x": 1, "y": 3},  # zero-length leg: keeps 0.3
                {"x": 9, "y": 9, "frame_id": "odom"},  # a leg between two frames: keeps 0.3
            ]
        },
        start=start,
    ).stops
    assert [s.pose.yaw for s in (same_place, next_one, again, other_frame)] == [0.7, 0.3, 0.3, 0.3]


# ---------------------------------------------------------- what to send next

def test_several_stops_go_as_one_navigate_through_poses_goal() -> None:
    goal = route(TRANSPORT).next_goal()
    assert (goal.action, names(goal.stops)) == (NAVIGATE_THROUGH_POSES, ["pickup", "dropoff"])


def test_one_stop_goes_as_navigate_to_pose() -> None:
    goal = route({"goal": {"x": 1, "y": 1}}).next_goal()
    assert (goal.action, names(goal.stops)) == (NAVIGATE_TO_POSE, ["goal"])


def test_without_through_poses_each_stop_is_its_own_navigate_to_pose_reached_on_success() -> None:
    r = route(TRANSPORT, through_poses=False)
    first = r.next_goal()
    assert (first.action, names(first.stops)) == (NAVIGATE_TO_POSE, ["pickup"])
    r.on_feedback(distance_remaining=0.5)
    assert r.reached == 0  # close is not there: only a success counts
    r.on_succeeded()
    assert r.reached == 1
    second = r.next_goal()
    assert (second.action, names(second.stops)) == (NAVIGATE_TO_POSE, ["dropoff"])
    r.on_succeeded()
    assert r.finished
    with pytest.raises(RuntimeError, match="nothing left to send"):
        r.next_goal()


def test_through_poses_feedback_reaches_stops_as_the_poses_remaining_drop() -> None:
    r = route(TOUR)
    r.next_goal()
    r.on_feedback(2.5, poses_remaining=3)
    assert r.reached == 0
    r.on_feedback(1.5, poses_remaining=2)
    assert r.reached == 1
    r.on_feedback(0.2, poses_remaining=1)  # Nav2 keeps the last pose in the count until the goal succeeds
    assert (r.reached, r.finished) == (2, False)
    r.on_succeeded()
    assert (r.reached, r.finished) == (3, True)


@pytest.mark.parametrize("poses_remaining", [0, 4, -1])
def test_a_poses_remaining_outside_the_goal_is_no_news(poses_remaining: int) -> None:
    r = route(TOUR)
    r.next_goal()
    r.on_feedback(0.0, poses_remaining=poses_remaining)  # Nav2's feedback before it has goals on its blackboard
    assert r.reached == 0


def test_resume_after_a_pause_sends_only_the_stops_not_reached() -> None:
    r = route(TOUR, start=ORIGIN)
    r.next_goal()
    r.on_feedback(1.5, poses_remaining=2)  # waypoint 1 reached
    r.on_stopped()  # pause: the Nav2 goal is canceled
    assert names(r.remaining) == ["waypoint 2", "waypoint 3"]
    r.on_feedback(0.5, poses_remaining=1)  # late feedback of the canceled goal: ignored
    assert r.reached == 1
    resumed = r.next_goal()
    assert (resumed.action, names(resumed.stops)) == (NAVIGATE_THROUGH_POSES, ["waypoint 2", "waypoint 3"])
    r.on_feedback(1.5, poses_remaining=2)  # counts are of the resumed goal's stops
    assert r.reached == 1
    r.on_feedback(0.7, poses_remaining=1)
    assert r.reached == 2
    r.on_stopped()
    last = r.next_goal()
    assert (last.action, names(last.stops)) == (NAVIGATE_TO_POSE, ["waypoint 3"])
    r.on_succeeded()
    assert r.finished and r.progress == 1.0


def test_resume_one_stop_at_a_time_sends_the_stop_that_was_not_reached_again() -> None:
    r = route(TRANSPORT, through_poses=False)
    r.next_goal()
    r.on_succeeded()
    r.next_goal()
    r.on_feedback(2.0)
    r.on_stopped()
    assert names(r.next_goal().stops) == ["dropoff"]


def test_a_pause_before_any_feedback_sends_every_stop_again() -> None:
    r = route(TRANSPORT)
    r.next_goal()
    r.on_stopped()
    assert names(r.next_goal().stops) == ["pickup", "dropoff"]


# ------------------------------------------------------------------- progress

def test_progress_counts_reached_legs_plus_the_current_legs_covered_part() -> None:
    r = route(TRANSPORT, start=ORIGIN)  # 5 m + 4 m
    r.next_goal()
    assert r.progress == 0.0
    r.on_feedback(9.0, poses_remaining=2)  # distance_remaining of NavigateThroughPoses runs to the last stop
    assert r.progress == 0.0
    r.on_feedback(7.0, poses_remaining=2)
    assert r.progress == pytest.approx(2 / 9)
    r.on_feedback(3.0, poses_remaining=1)
    assert r.progress == pytest.approx(6 / 9)
    r.on_feedback(0.5, poses_remaining=1)
    assert r.progress == pytest.approx(8.5 / 9)
    r.on_feedback(0.01, poses_remaining=1)
    assert r.progress == ALMOST_DONE
    r.on_succeeded()
    assert r.progress == 1.0


def test_one_stop_at_a_time_reads_distance_remaining_as_the_distance_to_that_stop() -> None:
    r = route(TRANSPORT, start=ORIGIN, through_poses=False)
    r.next_goal()
    r.on_feedback(4.0)
    assert r.progress == pytest.approx(1 / 9)
    r.on_succeeded()
    assert r.progress == pytest.approx(5 / 9)
    r.next_goal()
    r.on_feedback(2.0)
    assert r.progress == pytest.approx(7 / 9)


def test_progress_never_goes_down_when_a_replan_lengthens_the_path() -> None:
    r = route(TRANSPORT, start=ORIGIN)
    r.next_goal()
    r.on_feedback(7.0, poses_remaining=2)
    r.on_feedback(11.5, poses_remaining=2)  # a detour around an obstacle
    assert r.progress == pytest.approx(2 / 9)
    r.on_feedback(8.0, poses_remaining=2)  # still behind the best so far
    assert r.progress == pytest.approx(2 / 9)
    r.on_feedback(6.0, poses_remaining=2)
    assert r.progress == pytest.approx(3 / 9)


def test_a_zero_distance_before_nav2_has_a_path_is_no_news() -> None:
    r = route(TRANSPORT, start=ORIGIN)
    r.next_goal()
    r.on_feedback(0.0, poses_remaining=2)
    r.on_feedback(math.nan, poses_remaining=2)
    assert (r.progress, r.status()) == (0.0, "driving to pickup (1 of 2)")


def test_progress_stays_below_one_until_the_last_stop_is_reached() -> None:
    r = route({"waypoints": [{"x": 4, "y": 0}, {"x": 4, "y": 0}]}, start=ORIGIN)  # the last leg has no length
    r.next_goal()
    r.on_feedback(0.001, poses_remaining=2)
    r.on_feedback(0.001, poses_remaining=1)
    assert r.progress == ALMOST_DONE
    r.on_succeeded()
    assert r.progress == 1.0


def test_without_a_start_pose_the_first_leg_is_as_long_as_nav2_first_says() -> None:
    r = route({"goal": {"x": 3, "y": 4}})
    r.next_goal()
    r.on_feedback(10.0)  # a path longer than the straight line from wherever the robot is
    assert r.progress == 0.0
    r.on_feedback(4.0)
    assert r.progress == pytest.approx(0.6)


def test_without_a_start_pose_a_stop_reached_before_any_distance_makes_a_first_leg_of_zero() -> None:
    r = route(TRANSPORT, through_poses=False)
    r.next_goal()
    r.on_succeeded()
    assert r.progress == 0.0  # all of the known length (4 m) is still ahead
    r.next_goal()
    r.on_feedback(1.0)
    assert r.progress == pytest.approx(0.75)


def test_a_route_without_length_counts_stops() -> None:
    r = route({"waypoints": [{"x": 0, "y": 0}, {"x": 0, "y": 0}]}, start=ORIGIN, through_poses=False)
    r.next_goal()
    r.on_succeeded()
    assert r.progress == 0.5


@settings(max_examples=200, deadline=None)
@given(
    through_poses=st.booleans(),
    steps=st.lists(
        st.one_of(
            st.tuples(
                st.just("feedback"),
                st.one_of(st.floats(min_value=-1.0, max_value=50.0), st.just(math.nan), st.just(math.inf)),
                st.integers(min_value=-1, max_value=5),
            ),
            st.tuples(st.sampled_from(["succeeded", "stopped"]), st.just(0.0), st.just(0)),
        ),
        max_size=40,
    ),
)
def test_progress_is_monotonic_within_bounds_and_one_only_when_finished(through_poses: bool, steps: list) -> None:
    r = route(TOUR, start=ORIGIN, through_poses=through_poses)
    r.next_goal()
    seen = 0.0
    for kind, distance, poses in steps:
        if r.finished:
            break
        if kind == "feedback":
            r.on_feedback(distance, poses_remaining=poses if through_poses else None)
        elif kind == "succeeded":
            r.on_succeeded()
        else:
            r.on_stopped()
        if not r.finished and kind != "feedback":
            r.next_goal()
        assert seen <= r.progress <= 1.0
        assert (r.progress == 1.0) == r.finished
        seen = r.progress


# --------------------------------------------------------------------- status

def test_status_names_the_stop_and_the_distance_left_to_it() -> None:
    r = route(TRANSPORT, start=ORIGIN)
    r.next_goal()
    assert r.status() == "driving to pickup (1 of 2)"
    r.on_feedback(7.5, poses_remaining=2)  # 4 m of it are the leg after the pickup
    assert r.status() == "driving to pickup (1 of 2), 3.5 m left"
    r.on_feedback(1.43, poses_remaining=1)
    assert r.status() == "driving to dropoff (2 of 2), 1.4 m left"
    assert r.status(paused=True) == "paused on the way to dropoff (2 of 2)"
    r.on_succeeded()
    assert r.status() == "arrived at dropoff (2 of 2)"
