"""SIGKILL the dispatcher mid-goal: the goal the robot still drives is cancelled before the requeued one goes out.

A dispatcher killed while its robot executes a goal leaves the robot
driving it; restarted on the same store, it requeues the interrupted
operation ("interrupted ones: requeue") and sends its goal again. The sim
robot serves one goal at a time, so it used to reject that goal "busy with
another goal", then the next two: three operations FAILED within
milliseconds while the robot drove work nobody followed. Now the restarted
runner recognises the goal an earlier run of its dispatcher sent (the goal
id carries the dispatcher's lineage), cancels it and waits for the robot's
stop before its first goal:

- the sim robot (slow, so the goal still runs at the restart): the orphan is
  CANCELED before any new goal is accepted (the action's status topic, and
  the robot's log: its "cancelled" before the second "executing"), nothing
  is rejected, and all three operations end COMPLETED, each once;
- the stand-in robot refusing every cancel: nothing is sent over the orphan
  (the robot never receives another goal), each start asks once and fails
  with a reason naming the orphan and the refusal.

Real processes; the kill and every wait are picked by events, topics and
logs, with timeouts.
"""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
from ros_testing import FAST_DISPATCHER_PARAMS, Recorder, RosClient, wait_future, wait_until
from test_crash_ros import _wait_serving
from test_fault_late_accept import ROBOT_SCRIPT, RobotLog

pytestmark = pytest.mark.ros

OPS = ["long-0", "long-1", "long-2"]
SLOW, FAST = 0.2, 5.0  # m/s: the orphan drives 3 m for 15 s, far longer than a restart (3 s here); then on at speed
PAYLOAD = json.dumps({"pickup": {"x": 1.0, "y": 0.0}, "dropoff": {"x": 3.0, "y": 0.0}})
STATUS_TOPIC = "execute_operation/_action/status"


def _operations() -> list[Any]:
    from operation_dispatcher_interfaces.msg import Operation

    return [Operation(id=op_id, priority=10 - i, payload_json=PAYLOAD) for i, op_id in enumerate(OPS)]


def _dispatcher(store: str) -> dict[str, Any]:
    # The restarted node's first handshakes may find the business logic not yet discovered (denied,
    # asked again): neither those nor a slow 2-core machine may pause it.
    return {**FAST_DISPATCHER_PARAMS, "store_path": store, "handshake_timeout": 10.0, "max_retries": 1000}


def _running(status_msg: Any) -> dict[bytes, int]:
    """Goal id -> status of the goals a GoalStatusArray shows accepted, executing or canceling."""
    return {bytes(s.goal_info.goal_id.uuid): s.status for s in status_msg.status_list if s.status in (1, 2, 3)}


def _shows_canceled(status_msg: Any, goal: bytes) -> bool:
    return any(bytes(s.goal_info.goal_id.uuid) == goal and s.status == 5 for s in status_msg.status_list)  # CANCELED


class StatusLog(Recorder):
    """The action's GoalStatusArray messages, and when each arrived (monotonic)."""

    def __init__(self) -> None:
        super().__init__(lambda m: str({g.hex(): s for g, s in _running(m).items()}))
        self.arrived: dict[int, float] = {}

    def __call__(self, msg: Any) -> None:
        self.arrived[id(msg)] = time.monotonic()
        super().__call__(msg)


def _set_speed(client: RosClient, speed: float) -> None:
    from rcl_interfaces.srv import SetParameters
    from rclpy.parameter import Parameter

    request = SetParameters.Request(parameters=[Parameter("speed", value=speed).to_parameter_msg()])
    assert client.call(SetParameters, "sim_robot/set_parameters", request).results[0].successful


def _kill_mid_goal(bringup: Any, ros_client: RosClient, store: str, sim_robot: dict[str, Any] | None) -> tuple[StatusLog, bytes, Any]:
    """Bring up with a store, queue the three, kill -9 the dispatcher while the robot executes long-0's goal.
    Returns the status log, the orphan's goal id and the processes."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    procs = bringup(dispatcher=_dispatcher(store), business_logic={"rule": "approve_all"}, sim_robot=sim_robot)
    statuses = ros_client.record(GoalStatusArray, STATUS_TOPIC, qos_profile_action_status_default, StatusLog())
    ros_client.dispatcher.add(_operations())
    executing = statuses.wait_for(lambda m: 2 in _running(m).values(), 30.0, "long-0's goal executing")
    assert ros_client.dispatcher.get("long-0").state_name == "RUNNING"
    (orphan,) = _running(executing)
    assert procs["dispatcher"].kill() == -9
    return statuses, orphan, procs


def test_a_goal_left_running_by_a_killed_dispatcher_is_cancelled_before_its_operation_runs_again(
    bringup, ros_client, ros_processes, ros_context, ros_namespace, tmp_path
):
    store = str(tmp_path / "dispatcher.db")
    statuses, orphan, procs = _kill_mid_goal(bringup, ros_client, store, {"speed": SLOW})
    robot = procs["sim_robot"]

    restarted_at = time.monotonic()
    dispatcher = ros_processes.start("dispatcher_node", ros_namespace, _dispatcher(store))
    check = RosClient(ros_context, name="orphan_check", namespace=ros_namespace)  # fresh client for the new server
    try:
        # The first status that shows a goal other than the orphan running (the new goal of long-0) shows
        # the orphan stopped already: the robot had stopped it when it accepted the new goal.
        first_new = statuses.wait_for(lambda m: set(_running(m)) - {orphan}, 30.0, "a new goal accepted after the restart")
        assert orphan not in _running(first_new), "the new goal was accepted while the orphan still ran"
        assert _shows_canceled(first_new, orphan), "the orphan did not end CANCELED"
        canceled = next(m for m in statuses.snapshot() if _shows_canceled(m, orphan))
        at = statuses.arrived
        print(
            f"\norphan CANCELED {at[id(canceled)] - restarted_at:.2f} s after the dispatcher was started again; "
            f"the new goal accepted {at[id(first_new)] - at[id(canceled)]:.3f} s after that"
        )
        _wait_serving(check)
        _set_speed(check, FAST)
        for op_id in OPS:
            assert check.dispatcher.wait_for(op_id, "COMPLETED", timeout=60.0).progress == pytest.approx(1.0)
        for op_id in OPS:
            kinds = [e.event_type for e in check.dispatcher.get_events(op_id)]
            assert kinds.count("OPERATION_COMPLETED") == 1 and kinds[-1] == "OPERATION_COMPLETED", (op_id, kinds)
            assert kinds.count("OPERATION_STARTED") == (2 if op_id == "long-0" else 1), (op_id, kinds)
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- sim robot:\n{robot.log_tail(30)}\n--- dispatcher:\n{dispatcher.log_tail(30)}") from None
    finally:
        check.close()

    # The robot's own word: long-0 cancelled before it executed long-0 again; nothing rejected.
    lines = robot.log_path.read_text().splitlines()
    executing = [i for i, line in enumerate(lines) if "executing operation long-0" in line]
    cancelled = [i for i, line in enumerate(lines) if "cancelled operation long-0" in line]
    assert len(executing) == 2 and len(cancelled) == 1 and executing[0] < cancelled[0] < executing[1], "\n".join(lines[-30:])
    assert not [line for line in lines if "rejected operation" in line], "\n".join(lines[-30:])
    said = dispatcher.log_path.read_text()
    assert f"goal {orphan.hex()}, left running by an earlier run of this dispatcher: canceled" in said, said[-3000:]


def test_an_orphan_the_robot_refuses_to_cancel_gets_no_goal_sent_over_it(
    bringup, ros_client, ros_processes, ros_context, ros_namespace, tmp_path
):
    from stand_in_robot import ROBOT_LOG_QOS
    from std_msgs.msg import String

    from operation_dispatcher_interfaces.action import ExecuteOperation

    store = str(tmp_path / "dispatcher.db")
    ros_processes.start_script(ROBOT_SCRIPT, ros_namespace, {"duration": 120.0, "refuse_cancel": True})
    log = ros_client.record(String, "robot_log", ROBOT_LOG_QOS, RobotLog())
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 20.0)
    _, orphan, _ = _kill_mid_goal(bringup, ros_client, store, None)
    assert log.steps("long-0") == ["received", "accepted", "executing"], log.steps("long-0")

    dispatcher = ros_processes.start("dispatcher_node", ros_namespace, _dispatcher(store))
    check = RosClient(ros_context, name="orphan_check", namespace=ros_namespace)
    try:
        _wait_serving(check)
        failed = [check.dispatcher.wait_for(op_id, "FAILED", timeout=60.0) for op_id in OPS]
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n--- dispatcher:\n{dispatcher.log_tail(30)}") from None
    finally:
        check.close()
    for status in failed:
        reason = status.termination_reason
        assert f"the robot refused to cancel goal {orphan.hex()} (return code 0: " in reason, reason
        assert "left running by an earlier run of this dispatcher; no goal is sent over it" in reason, reason
    # One cancel asked per start, and no goal ever sent over the orphan: the robot received nothing more.
    wait_until(lambda: log.steps("long-0").count("cancel_refused") == 3, 10.0, "three refused cancels")
    assert log.steps("long-0") == ["received", "accepted", "executing"] + ["cancel_refused"] * 3, log.steps("long-0")
    assert log.steps("long-1") == log.steps("long-2") == []


def test_a_robot_busy_with_another_clients_goal_is_left_alone_and_the_rejection_says_so(bringup, ros_client):
    """Another client's goal is not this dispatcher's to cancel (its id does not carry the dispatcher's
    lineage): the robot rejects ours, and the failure names the goal it was busy with."""
    from action_msgs.msg import GoalStatusArray
    from rclpy.qos import qos_profile_action_status_default

    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_interfaces.msg import Operation

    bringup(business_logic={"rule": "approve_all"}, sim_robot={"speed": SLOW})
    statuses = ros_client.record(GoalStatusArray, STATUS_TOPIC, qos_profile_action_status_default, StatusLog())
    other = ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 20.0)
    goal = ExecuteOperation.Goal(operation=Operation(id="someone-else", payload_json=PAYLOAD))
    handle = wait_future(other.send_goal_async(goal), 10.0, "the other client's goal accepted")
    assert handle.accepted
    theirs = bytes(handle.goal_id.uuid)
    statuses.wait_for(lambda m: _running(m).get(theirs) == 2, 10.0, "the other client's goal executing")

    ros_client.dispatcher.add(_operations()[:1])
    failed = ros_client.dispatcher.wait_for("long-0", "FAILED", timeout=30.0)
    assert failed.termination_reason.endswith(
        f"goal rejected by /{ros_client.namespace}/execute_operation while it was executing a goal this dispatcher "
        f"did not send: {theirs.hex()} (from another client)"
    ), failed.termination_reason
    assert _running(statuses.snapshot()[-1]).get(theirs) == 2, "the other client's goal was touched"
    wait_future(handle.cancel_goal_async(), 10.0, "the other client's cancel")
