"""The nav2_msgs stand-in (test_interfaces/nav2_msgs) matches Nav2's definitions for ROS_DISTRO.

The Nav2 executor talks to a real Nav2 on robots and to the sim robot's Nav2
mode here; both sides only meet on the wire if the stand-in's types are
exactly Nav2's, field order included. The table below is written from Nav2's
own sources, ros-navigation/navigation2:

- jazzy: branch ``jazzy`` at f4108e5b1c2bce804a1aa0c7be6673a8eb4a1501 (tag 1.3.13)
- kilted: branch ``kilted`` at 71a1d84f49dc48e226c96619188ee12054824ff3 (same files as tag 1.4.2)

files nav2_msgs/action/NavigateToPose.action, nav2_msgs/action/NavigateThroughPoses.action
and (kilted) nav2_msgs/msg/WaypointStatus.msg.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ros

pytest.importorskip("rclpy", reason="needs the ROS 2 wheels (make setup)")
nav2_msgs = pytest.importorskip("nav2_msgs", reason="needs the colcon workspace (make setup)")

from ament_index_python.packages import get_package_prefix  # noqa: E402
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose  # noqa: E402

# The file the stand-in installs in share/nav2_msgs, by which it is told from a real one.
STAND_IN_MARK = Path("share", "nav2_msgs", "operation_dispatcher_stand_in")

POSE = "geometry_msgs/PoseStamped"
DURATION = "builtin_interfaces/Duration"
WAYPOINT_STATUSES = ("waypoint_statuses", "sequence<nav2_msgs/WaypointStatus>")
TO_POSE_FEEDBACK = [
    ("current_pose", POSE),
    ("navigation_time", DURATION),
    ("estimated_time_remaining", DURATION),
    ("number_of_recoveries", "int16"),
    ("distance_remaining", "float"),
]
THROUGH_POSES_FEEDBACK = [*TO_POSE_FEEDBACK, ("number_of_poses_remaining", "int16")]
RESULT = [("error_code", "uint16"), ("error_msg", "string")]
# Kilted's error codes: NavigateToPose from 9000, NavigateThroughPoses from 9100.
KILTED_ERRORS = ("UNKNOWN", "FAILED_TO_LOAD_BEHAVIOR_TREE", "TF_ERROR", "TIMEOUT")

# distro -> action -> part -> [(field, type)] in definition order, and the
# result's constants (name -> value).
DEFINITIONS: dict[str, dict[str, dict[str, Any]]] = {
    "jazzy": {
        "NavigateToPose": {
            "Goal": [("pose", POSE), ("behavior_tree", "string")],
            "Result": RESULT,
            "Feedback": TO_POSE_FEEDBACK,
            "constants": {"NONE": 0},
        },
        "NavigateThroughPoses": {
            "Goal": [("poses", f"sequence<{POSE}>"), ("behavior_tree", "string")],
            "Result": RESULT,
            "Feedback": THROUGH_POSES_FEEDBACK,
            "constants": {"NONE": 0},
        },
    },
    "kilted": {
        "NavigateToPose": {
            "Goal": [("pose", POSE), ("behavior_tree", "string")],
            "Result": RESULT,
            "Feedback": TO_POSE_FEEDBACK,
            "constants": {"NONE": 0} | {name: 9000 + i for i, name in enumerate(KILTED_ERRORS)},
        },
        "NavigateThroughPoses": {
            "Goal": [("poses", "nav_msgs/Goals"), ("behavior_tree", "string")],
            "Result": [*RESULT, WAYPOINT_STATUSES],
            "Feedback": [*THROUGH_POSES_FEEDBACK, WAYPOINT_STATUSES],
            "constants": {"NONE": 0} | {name: 9100 + i for i, name in enumerate(KILTED_ERRORS)},
        },
    },
}
KILTED_WAYPOINT_STATUS = {
    "fields": [
        ("waypoint_status", "uint8"),
        ("waypoint_index", "uint32"),
        ("waypoint_pose", POSE),
        ("error_code", "uint16"),
        ("error_msg", "string"),
    ],
    "constants": {"PENDING": 0, "COMPLETED": 1, "SKIPPED": 2, "FAILED": 3},
}
ACTIONS = {"NavigateToPose": NavigateToPose, "NavigateThroughPoses": NavigateThroughPoses}

DISTRO = os.environ.get("ROS_DISTRO", "")
IMPORTED_FROM = Path(nav2_msgs.__file__).parent
# The install prefix the import came from: the nearest parent with share/nav2_msgs (not resolved,
# since a symlink install points into the build folder).
IMPORTED_PREFIX = next((p for p in IMPORTED_FROM.parents if (p / "share" / "nav2_msgs" / "package.xml").is_file()), None)
IS_STAND_IN = IMPORTED_PREFIX is not None and (IMPORTED_PREFIX / STAND_IN_MARK).is_file()

stand_in_only = pytest.mark.skipif(not IS_STAND_IN, reason=f"the real nav2_msgs is in use ({IMPORTED_FROM})")


def constants(message_class: type) -> dict[str, int]:
    """The message's constants: rosidl puts them on the class as upper-case names (SLOT_TYPES is not one)."""
    return {name: getattr(message_class, name) for name in dir(message_class) if name.isupper() and name != "SLOT_TYPES"}


def expected(action: str) -> dict[str, Any]:
    if DISTRO not in DEFINITIONS:
        pytest.fail(f"ROS_DISTRO is {DISTRO!r}: the table has Nav2's definitions only for {sorted(DEFINITIONS)}")
    return DEFINITIONS[DISTRO][action]


@stand_in_only
@pytest.mark.parametrize("part", ["Goal", "Result", "Feedback"])
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_fields_are_nav2s_for_the_distro(action: str, part: str) -> None:
    fields = getattr(ACTIONS[action], part).get_fields_and_field_types()
    assert list(fields.items()) == expected(action)[part], f"{action}.{part} on {DISTRO}"


@stand_in_only
@pytest.mark.parametrize("action", sorted(ACTIONS))
def test_error_codes_are_nav2s_for_the_distro(action: str) -> None:
    assert constants(ACTIONS[action].Result) == expected(action)["constants"], f"{action}.Result on {DISTRO}"
    for part in ("Goal", "Feedback"):
        assert constants(getattr(ACTIONS[action], part)) == {}, f"{action}.{part} on {DISTRO}"


@stand_in_only
def test_waypoint_status_is_nav2s_on_kilted_and_absent_on_jazzy() -> None:
    expected("NavigateThroughPoses")  # fails on a distro the table lacks
    if DISTRO == "jazzy":
        with pytest.raises(ImportError):
            from nav2_msgs.msg import WaypointStatus  # noqa: F401
        return
    from nav2_msgs.msg import WaypointStatus

    assert list(WaypointStatus.get_fields_and_field_types().items()) == KILTED_WAYPOINT_STATUS["fields"]
    assert constants(WaypointStatus) == KILTED_WAYPOINT_STATUS["constants"]


@stand_in_only
def test_stand_in_was_built_for_this_distro() -> None:
    assert IMPORTED_PREFIX is not None
    assert f"ROS_DISTRO={DISTRO}\n" in (IMPORTED_PREFIX / STAND_IN_MARK).read_text(encoding="utf-8")


def test_stand_in_only_where_no_real_nav2_msgs_exists() -> None:
    """The import and the ament index name the same nav2_msgs, and a stand-in never hides a real one."""
    assert IMPORTED_PREFIX is not None, f"{IMPORTED_FROM} has no share/nav2_msgs/package.xml above it"
    assert Path(get_package_prefix("nav2_msgs")) == IMPORTED_PREFIX
    if not IS_STAND_IN:
        return
    real = [
        prefix
        for prefix in os.environ.get("AMENT_PREFIX_PATH", "").split(os.pathsep)
        if prefix
        and (Path(prefix) / "share" / "nav2_msgs" / "package.xml").is_file()
        and not (Path(prefix) / STAND_IN_MARK).is_file()
    ]
    assert real == [], f"the stand-in at {IMPORTED_PREFIX} is in use although a real nav2_msgs exists at {real}"
