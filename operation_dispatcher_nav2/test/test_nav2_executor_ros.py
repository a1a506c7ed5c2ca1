"""The Nav2 executor between a real dispatcher and a scripted Nav2, as real processes.

dispatcher_node and business_logic_node (``bringup``, no sim robot) drive the
installed ``nav2_executor_node``; Nav2 is the scripted stand-in of
nav2_stand_in.py on a node of the test process, which logs every goal,
cancel and end, so each test can tell what the executor asked of Nav2.
"""

from __future__ import annotations

import json
import math
import signal
import time

import pytest

pytest.importorskip("nav2_msgs", reason="needs nav2_msgs (the stand-in is built by make setup)")

pytestmark = pytest.mark.ros

PICKUP, DROPOFF = {"x": 1.0, "y": 0.0}, {"x": 1.0, "y": 1.0, "yaw": 0.5}


def _operation(op_id: str, payload: dict, priority: int = 0):
    from operation_dispatcher_interfaces.msg import Operation

    return Operation(id=op_id, payload_json=json.dumps(payload), priority=priority)


def _up(bringup, ros_client, start_executor, executor: dict | None = None):
    """Executor, then dispatcher + business logic; the executor's feedback recorded from the start."""
    from operation_dispatcher_interfaces.action import ExecuteOperation

    feedback = ros_client.record(ExecuteOperation.Impl.FeedbackMessage, "execute_operation/_action/feedback")
    proc = start_executor(executor)  # its warm-up covers the feedback subscription made before it
    bringup(business_logic={"rule": "approve_all"}, sim_robot=None)
    return feedback, proc


def _progress(feedback) -> list[float]:
    return [m.feedback.progress for m in feedback.snapshot()]


def test_a_single_goal_completes_on_navigate_to_pose_with_rising_progress(bringup, ros_client, start_executor, scripted_nav2):
    nav2 = scripted_nav2([{"then": "succeed", "ticks": 10}])
    feedback, _ = _up(bringup, ros_client, start_executor)
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("one", {"goal": {"x": 2.0, "y": 0.0, "yaw": 1.0}})])

    done = dispatcher.wait_for("one", "COMPLETED", timeout=30.0)
    assert done.outcome == "arrived at goal (1 of 1)", done
    assert done.progress == pytest.approx(1.0)
    [(action, poses)] = nav2.goals()
    assert action == "NavigateToPose"
    [(x, y, frame, yaw)] = poses
    assert (x, y, frame) == (2.0, 0.0, "map") and yaw == pytest.approx(1.0)

    feedback.wait_for(lambda m: m.feedback.progress == 1.0, 10.0, "the final feedback")
    progress = _progress(feedback)
    assert progress == sorted(progress), progress
    assert len({p for p in progress if 0.0 < p < 1.0}) >= 5, progress  # rising along the way, not one jump
    statuses = [m.feedback.status for m in feedback.snapshot()]
    assert any(s.startswith("driving to goal (1 of 1), ") and s.endswith(" m left") for s in statuses), statuses
    xs = [m.feedback.current_pose.position.x for m in feedback.snapshot()]
    assert 0.0 < max(xs) <= 2.0 and len(set(xs)) > 3, xs  # Nav2's current_pose, passed on


@pytest.mark.parametrize(
    ("through_poses", "expected"),
    [
        (True, [("NavigateThroughPoses", [(1.0, 0.0), (1.0, 1.0)])]),
        (False, [("NavigateToPose", [(1.0, 0.0)]), ("NavigateToPose", [(1.0, 1.0)])]),
    ],
)
def test_pickup_and_dropoff_go_as_one_through_poses_goal_or_one_goal_per_stop(
    bringup, ros_client, start_executor, scripted_nav2, through_poses, expected
):
    nav2 = scripted_nav2()
    feedback, _ = _up(bringup, ros_client, start_executor, {"use_navigate_through_poses": through_poses})
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("transport", {"pickup": PICKUP, "dropoff": DROPOFF})])

    done = dispatcher.wait_for("transport", "COMPLETED", timeout=30.0)
    assert done.outcome == "arrived at dropoff (2 of 2)", done
    assert [(action, [(x, y) for x, y, _f, _yaw in poses]) for action, poses in nav2.goals()] == expected
    last_pose = nav2.goals()[-1][1][-1]
    assert last_pose[2] == "map" and last_pose[3] == pytest.approx(0.5)
    progress = _progress(feedback)
    assert progress == sorted(progress) and progress[-1] == pytest.approx(1.0), progress


def test_pause_cancels_the_nav2_goal_and_resume_sends_only_the_stops_not_reached(bringup, ros_client, start_executor, scripted_nav2):
    # Nav2 reaches the pickup, then drives on (standing) until cancelled; it confirms a cancel 0.5 s late.
    nav2 = scripted_nav2([{"then": "hold", "reach": 1, "ticks": 5, "cancel_delay": 0.5}])
    feedback, _ = _up(bringup, ros_client, start_executor)
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("transport", {"pickup": PICKUP, "dropoff": DROPOFF})])
    nav2.wait_step("reached", 0, count=1)
    feedback.wait_for(lambda m: m.feedback.status.startswith("driving to dropoff (2 of 2)"), 10.0, "the executor past the pickup")

    dispatcher.pause("transport", reason="door closed")
    answered = time.time()
    canceled = nav2.wait_step("canceled", 0, timeout=0.0)  # already there: the pause waited for it
    assert canceled["time"] <= answered
    assert nav2.steps("cancel_requested")[0]["time"] <= canceled["time"] - 0.4  # Nav2's delay was waited out
    assert dispatcher.get("transport").state_name == "PAUSED"
    feedback.wait_for(lambda m: m.feedback.status.startswith("paused on the way to dropoff"), 10.0, "the paused status")
    assert len(nav2.goals()) == 1  # nothing sent while paused

    dispatcher.resume("transport")
    done = dispatcher.wait_for("transport", "COMPLETED", timeout=30.0)
    assert done.outcome == "arrived at dropoff (2 of 2)", done
    goals = nav2.goals()
    assert [action for action, _ in goals] == ["NavigateThroughPoses", "NavigateToPose"], goals
    assert [(x, y) for x, y, _f, _yaw in goals[1][1]] == [(1.0, 1.0)]  # the dropoff only
    progress = _progress(feedback)
    assert progress == sorted(progress), progress


def test_cancel_ends_cancelled_once_nav2_confirmed(bringup, ros_client, start_executor, scripted_nav2):
    nav2 = scripted_nav2([{"then": "hold", "cancel_delay": 1.0}])
    _up(bringup, ros_client, start_executor)
    dispatcher = ros_client.dispatcher
    events = ros_client.record_events()
    dispatcher.add([_operation("errand", {"goal": {"x": 3.0, "y": 0.0}})])
    nav2.wait_step("goal", 0)

    dispatcher.cancel("errand", reason="not needed")
    returned = time.time()
    canceled = nav2.wait_step("canceled", 0, timeout=0.0)  # already there: the cancel waited for it
    assert canceled["time"] <= returned
    assert nav2.steps("cancel_requested")[0]["time"] <= canceled["time"] - 0.9
    events.wait_event("OPERATION_CANCELLED", "errand")
    assert dispatcher.get("errand").state_name == "CANCELLED"


def test_a_nav2_abort_is_failed_with_its_error_code_and_message(bringup, ros_client, start_executor, scripted_nav2):
    scripted_nav2([{"then": "abort", "ticks": 3, "error_code": 208, "error_msg": "no valid path found"}])
    _up(bringup, ros_client, start_executor)
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("blocked", {"goal": {"x": 3.0, "y": 0.0}})])

    failed = dispatcher.wait_for("blocked", "FAILED", timeout=30.0)
    reason = failed.termination_reason
    assert "nav2 NavigateToPose aborted: error 208 (ComputePathToPose.NO_VALID_PATH): no valid path found" in reason, reason


def test_nav2_absent_fails_the_start_with_a_clear_reason_and_the_dispatcher_goes_on(
    bringup, ros_client, start_executor, scripted_nav2, ros_namespace
):
    scripted_nav2(actions=("NavigateThroughPoses",))  # no navigate_to_pose server at all
    _up(bringup, ros_client, start_executor, {"nav2_server_timeout": 1.0})
    dispatcher = ros_client.dispatcher
    dispatcher.add([_operation("nowhere", {"goal": {"x": 3.0, "y": 0.0}}, priority=10), _operation("next", {"pickup": PICKUP, "dropoff": DROPOFF})])

    failed = dispatcher.wait_for("nowhere", "FAILED", timeout=30.0)
    reason = failed.termination_reason
    assert f"nav2 NavigateToPose: action server /{ros_namespace}/navigate_to_pose not available within 1 s" in reason, reason
    assert dispatcher.wait_for("next", "COMPLETED", timeout=30.0).outcome == "arrived at dropoff (2 of 2)"


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_the_executor_exits_0_on_a_signal_in_the_middle_of_a_goal(bringup, ros_client, start_executor, scripted_nav2, sig):
    nav2 = scripted_nav2([{"then": "hold"}])
    _, proc = _up(bringup, ros_client, start_executor)
    ros_client.dispatcher.add([_operation("long", {"goal": {"x": 3.0, "y": 0.0}})])
    nav2.wait_step("goal", 0)
    proc.popen.send_signal(sig)
    assert proc.popen.wait(10.0) == 0, proc.log_tail()


def test_goal_messages_carry_the_stops_in_either_distros_shape():
    """Without a graph: poses, frames, yaw as a quaternion, all floats, for NavigateThroughPoses and NavigateToPose."""
    from builtin_interfaces.msg import Time

    from operation_dispatcher_nav2.nav2_goals import goal_message, goal_poses
    from operation_dispatcher_nav2.route import Route

    route = Route.from_payload(json.dumps({"waypoints": [{"x": 1, "y": 0}, {"x": 1, "y": 2, "yaw": math.pi, "frame_id": "odom"}]}))
    msg = goal_message(route.next_goal(), Time(sec=7))
    poses = goal_poses(msg)
    assert [(p.header.frame_id, p.header.stamp.sec, p.pose.position.x, p.pose.position.y) for p in poses] == [
        ("map", 7, 1.0, 0.0),
        ("odom", 7, 1.0, 2.0),
    ]
    assert all(isinstance(p.pose.position.x, float) for p in poses)
    q = poses[1].pose.orientation
    assert (q.x, q.y, q.z) == (0.0, 0.0, pytest.approx(1.0)) and q.w == pytest.approx(0.0, abs=1e-12)
    route.on_feedback(3.0, poses_remaining=1)  # Nav2 reached the first
    route.on_stopped()
    [only] = goal_poses(goal_message(route.next_goal(), Time()))
    assert (only.header.frame_id, only.pose.position.y) == ("odom", 2.0)
