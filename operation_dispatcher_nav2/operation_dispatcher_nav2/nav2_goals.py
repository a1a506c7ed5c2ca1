"""A route's next goal as the nav2_msgs goal message of the distro in use, without a graph.

The two distros this runs on define NavigateThroughPoses differently:
Jazzy's goal holds ``geometry_msgs/PoseStamped[] poses``, Kilted's
``nav_msgs/Goals poses`` (a header and ``goals``, the PoseStamped list).
The goal is built by reading the generated type's field types, so one
executor talks to whichever nav2_msgs is installed (the robot's real one, or
the stand-in ``test_interfaces/nav2_msgs`` here).

Every float field is filled with a Python ``float``: rosidl takes an ``int``
into a float64 field silently unless ``ROS_PYTHON_CHECK_FIELDS=1`` and
sends its raw bits (see ROS2_ON_PYPI.md).
"""

from __future__ import annotations

from typing import Any

from builtin_interfaces.msg import Time
from geometry_msgs.msg import PoseStamped
from nav2_msgs.action import NavigateThroughPoses, NavigateToPose

from .route import NAVIGATE_THROUGH_POSES, NAVIGATE_TO_POSE, Nav2Goal, PlanarPose

ACTION_TYPES: dict[str, Any] = {NAVIGATE_TO_POSE: NavigateToPose, NAVIGATE_THROUGH_POSES: NavigateThroughPoses}
"""The nav2_msgs action type of each action name a :class:`Nav2Goal` carries."""

POSES_AS_GOALS = NavigateThroughPoses.Goal.get_fields_and_field_types()["poses"] == "nav_msgs/Goals"
"""True where NavigateThroughPoses takes ``nav_msgs/Goals`` (Kilted on), False for a PoseStamped list (Jazzy)."""


def pose_stamped(pose: PlanarPose, stamp: Time) -> PoseStamped:
    msg = PoseStamped()
    msg.header.frame_id = pose.frame_id
    msg.header.stamp = stamp
    msg.pose.position.x = float(pose.point.x)
    msg.pose.position.y = float(pose.point.y)
    q = pose.orientation
    msg.pose.orientation.x, msg.pose.orientation.y = float(q.x), float(q.y)
    msg.pose.orientation.z, msg.pose.orientation.w = float(q.z), float(q.w)
    return msg


def goal_message(goal: Nav2Goal, stamp: Time) -> Any:
    """The goal of ``goal.action`` carrying ``goal.stops``, every pose stamped ``stamp``."""
    poses = [pose_stamped(stop.pose, stamp) for stop in goal.stops]
    if goal.action == NAVIGATE_TO_POSE:
        return NavigateToPose.Goal(pose=poses[0])
    msg = NavigateThroughPoses.Goal()
    if POSES_AS_GOALS:
        msg.poses.header = poses[0].header
        msg.poses.goals = poses
    else:
        msg.poses = poses
    return msg


def goal_poses(msg: Any) -> list[PoseStamped]:
    """The poses a NavigateToPose or NavigateThroughPoses goal carries, in order (either distro's shape)."""
    if isinstance(msg, NavigateToPose.Goal):
        return [msg.pose]
    return list(msg.poses.goals if POSES_AS_GOALS else msg.poses)
