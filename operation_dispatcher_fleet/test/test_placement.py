"""Placement policies: who takes an operation added to the fleet without a robot (no ROS)."""

from __future__ import annotations

import pytest

from operation_dispatcher import Operation
from operation_dispatcher_fleet.placement import Candidate, least_queued, load_policy, nearest_idle


def _op(payload: dict | None = None) -> Operation:
    return Operation(resource_id="fleet", payload=payload or {})


ROBOTS = [
    Candidate("robot_1", work=2, pose=(0.0, 0.0)),
    Candidate("robot_2", work=0, pose=(10.0, 0.0)),
    Candidate("robot_3", work=0, pose=(20.0, 0.0)),
]


def test_least_queued_takes_the_robot_with_least_work_ties_by_name() -> None:
    assert least_queued(_op(), ROBOTS) == "robot_2"
    assert least_queued(_op(), [Candidate("b", 1, None), Candidate("a", 1, None)]) == "a"


@pytest.mark.parametrize(("pickup", "expected"), [({"x": 19.0, "y": 1.0}, "robot_3"), ({"x": 9.0, "y": -1.0}, "robot_2")])
def test_nearest_idle_takes_the_idle_robot_nearest_the_pickup(pickup: dict, expected: str) -> None:
    assert nearest_idle(_op({"pickup": pickup}), ROBOTS) == expected


def test_a_busy_robot_is_never_nearest_idle_however_near() -> None:
    assert nearest_idle(_op({"pickup": {"x": 0.1, "y": 0.0}}), ROBOTS) == "robot_2"


@pytest.mark.parametrize(
    "payload",
    [{}, {"pickup": "dock"}, {"pickup": {"x": 1.0}}, {"pickup": {"x": True, "y": 0.0}}, {"pickup": {"x": "1", "y": 0.0}}],
)
def test_without_a_usable_pickup_nearest_idle_is_least_queued(payload: dict) -> None:
    assert nearest_idle(_op(payload), ROBOTS) == least_queued(_op(), ROBOTS)


def test_without_an_idle_robot_with_a_pose_nearest_idle_is_least_queued() -> None:
    robots = [Candidate("robot_1", 3, (0.0, 0.0)), Candidate("robot_2", 1, (9.0, 0.0)), Candidate("robot_3", 0, None)]
    assert nearest_idle(_op({"pickup": {"x": 9.0, "y": 0.0}}), robots) == "robot_3"


def test_policies_load_by_name_or_module_function_and_bad_names_say_what_is_wrong() -> None:
    assert load_policy("least_queued") is least_queued
    assert load_policy("operation_dispatcher_fleet.placement:nearest_idle") is nearest_idle
    for name, words in [("closest", "neither"), ("no_such_module:f", "cannot load"), ("operation_dispatcher_fleet.placement:nope", "cannot load"),
                        ("operation_dispatcher_fleet.placement:DEFAULT_POLICY", "not a function")]:
        with pytest.raises(ValueError, match=words) as refused:
            load_policy(name)
        assert str(refused.value).startswith("placement:")
