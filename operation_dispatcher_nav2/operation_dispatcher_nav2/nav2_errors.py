"""How a Nav2 goal that ended badly reads as the FAILED operation's reason, without ROS.

A NavigateToPose / NavigateThroughPoses result's ``error_code`` is either
the navigator's own (Kilted: 9000s / 9100s; Jazzy defines none) or, far more
often, the code of the behavior-tree node that failed, passed through by
bt_navigator (the lowest non-zero code among its ``error_code_names`` /
``error_code_name_prefixes``: follow_path, compute_path, spin, backup, ...).
Nav2 gives each action its own range of codes, so one table names them all.

``ERROR_CODES`` copies the constants of nav2_msgs/action/*.action on
Nav2's kilted branch (a superset of jazzy's, with the same numbers), for
the actions whose codes bt_navigator passes through in Kilted's defaults and
nav2_bringup's nav2_params.yaml (Jazzy's default: follow_path and
compute_path only). A code two actions share (docking, routes) names both.
"""

from __future__ import annotations

from enum import Enum

ERROR_CODES: dict[str, dict[int, str]] = {
    "NavigateToPose": {9000: "UNKNOWN", 9001: "FAILED_TO_LOAD_BEHAVIOR_TREE", 9002: "TF_ERROR", 9003: "TIMEOUT"},
    "NavigateThroughPoses": {9100: "UNKNOWN", 9101: "FAILED_TO_LOAD_BEHAVIOR_TREE", 9102: "TF_ERROR", 9103: "TIMEOUT"},
    "FollowPath": {
        100: "UNKNOWN", 101: "INVALID_CONTROLLER", 102: "TF_ERROR", 103: "INVALID_PATH",
        104: "PATIENCE_EXCEEDED", 105: "FAILED_TO_MAKE_PROGRESS", 106: "NO_VALID_CONTROL", 107: "CONTROLLER_TIMED_OUT",
    },
    "ComputePathToPose": {
        200: "UNKNOWN", 201: "INVALID_PLANNER", 202: "TF_ERROR", 203: "START_OUTSIDE_MAP", 204: "GOAL_OUTSIDE_MAP",
        205: "START_OCCUPIED", 206: "GOAL_OCCUPIED", 207: "TIMEOUT", 208: "NO_VALID_PATH",
    },
    "ComputePathThroughPoses": {
        300: "UNKNOWN", 301: "INVALID_PLANNER", 302: "TF_ERROR", 303: "START_OUTSIDE_MAP", 304: "GOAL_OUTSIDE_MAP",
        305: "START_OCCUPIED", 306: "GOAL_OCCUPIED", 307: "TIMEOUT", 308: "NO_VALID_PATH", 309: "NO_VIAPOINTS_GIVEN",
    },
    "ComputeRoute": {
        400: "UNKNOWN", 401: "TF_ERROR", 402: "NO_VALID_GRAPH", 403: "INDETERMINANT_NODES_ON_GRAPH", 404: "TIMEOUT",
        405: "NO_VALID_ROUTE", 407: "INVALID_EDGE_SCORER_USE",
    },
    "ComputeAndTrackRoute": {
        400: "UNKNOWN", 401: "TF_ERROR", 402: "NO_VALID_GRAPH", 403: "INDETERMINANT_NODES_ON_GRAPH", 404: "TIMEOUT",
        405: "NO_VALID_ROUTE", 406: "OPERATION_FAILED", 407: "INVALID_EDGE_SCORER_USE",
    },
    "SmoothPath": {
        500: "UNKNOWN", 501: "INVALID_SMOOTHER", 502: "TIMEOUT", 503: "SMOOTHED_PATH_IN_COLLISION",
        504: "FAILED_TO_SMOOTH_PATH", 505: "INVALID_PATH",
    },
    "Spin": {700: "UNKNOWN", 701: "TIMEOUT", 702: "TF_ERROR", 703: "COLLISION_AHEAD"},
    "BackUp": {710: "UNKNOWN", 711: "TIMEOUT", 712: "TF_ERROR", 713: "INVALID_INPUT", 714: "COLLISION_AHEAD"},
    "DriveOnHeading": {720: "UNKNOWN", 721: "TIMEOUT", 722: "TF_ERROR", 723: "COLLISION_AHEAD", 724: "INVALID_INPUT"},
    "AssistedTeleop": {730: "UNKNOWN", 731: "TIMEOUT", 732: "TF_ERROR"},
    "Wait": {740: "UNKNOWN", 741: "TIMEOUT"},
    "DockRobot": {
        901: "DOCK_NOT_IN_DB", 902: "DOCK_NOT_VALID", 903: "FAILED_TO_STAGE", 904: "FAILED_TO_DETECT_DOCK",
        905: "FAILED_TO_CONTROL", 906: "FAILED_TO_CHARGE", 907: "TIMEOUT", 999: "UNKNOWN",
    },
    "UndockRobot": {902: "DOCK_NOT_VALID", 905: "FAILED_TO_CONTROL", 907: "TIMEOUT", 999: "UNKNOWN"},
}  # fmt: skip


class GoalEnd(Enum):
    """How a Nav2 goal ended without success, as the reason says it."""

    ABORTED = "aborted"
    REJECTED = "rejected the goal"
    CANCELED = "canceled the goal at someone else's request"
    """CANCELED while this executor had not asked for a cancel."""


def error_code_name(action: str, code: int) -> str:
    """The constant's name: ``TIMEOUT`` for the action's own code, ``FollowPath.PATIENCE_EXCEEDED``
    for one passed through from another action, ``unknown`` for a code no table holds."""
    own = ERROR_CODES.get(action, {}).get(code)
    if own is not None:
        return own
    others = [f"{name}.{codes[code]}" for name, codes in ERROR_CODES.items() if code in codes]
    return " or ".join(others) if others else "unknown"


def failure_reason(action: str, end: GoalEnd, error_code: int = 0, error_msg: str = "") -> str:
    """The FAILED reason for a Nav2 goal, e.g.
    ``nav2 NavigateToPose aborted: error 208 (ComputePathToPose.NO_VALID_PATH): no valid path found``."""
    reason = f"nav2 {action} {end.value}"
    if error_code:
        reason += f": error {error_code} ({error_code_name(action, error_code)})"
    elif end is GoalEnd.ABORTED:
        reason += " without an error code"
    if error_msg.strip():
        reason += f": {error_msg.strip()}"
    return reason
