"""Boot order (issue 10, defect 1), with real processes: the robot comes up 9 s after the rest.

The dispatcher and the reference business logic (rule battery_threshold)
start with work queued; the sim robot, the only publisher of
``battery_state``, starts 9 s later. Until its first reading the business
logic answers "not ready", which is no denial: the denial budget
(max_retries 5, cooldown 0.2 s, spent in about a second by denials) stays
untouched, the dispatcher never pauses itself, nobody calls resume, and the
first operation starts within about a second of the first battery message.
"""

from __future__ import annotations

import re
import threading
import time
from typing import Any

import pytest
from ros_testing import FAST_SIM_ROBOT_PARAMS, Recorder, event_metadata
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

ROBOT_DELAY = 9.0
OPERATIONS = ("first", "second", "third")


def test_a_robot_up_9_s_late_finds_the_dispatcher_running_and_all_work_done(
    bringup, ros_client, ros_processes, ros_namespace, tmp_path
):
    from rclpy.qos import qos_profile_sensor_data
    from std_msgs.msg import Float32

    from operation_dispatcher_interfaces.srv import AddOperations, GetDispatcherState, GetOperation

    procs = bringup(
        sim_robot=None,
        business_logic={"rule": "battery_threshold", "battery_threshold": 0.2},
        dispatcher={"store_path": str(tmp_path / "dispatcher.db"), "max_retries": 5, "cooldown_seconds": 0.2},
    )
    events = ros_client.record_events()
    battery = Recorder()  # (wall-clock time of receipt, message)
    ros_client.node.create_subscription(Float32, "battery_state", lambda m: battery((time.time(), m)), qos_profile_sensor_data)
    added = time.monotonic()
    operations = [transport(op_id, 10 - i) for i, op_id in enumerate(OPERATIONS)]
    assert ros_client.call(AddOperations, "add_operations", operations=operations).success

    # no robot yet: the start is deferred, again and again (recorded thrice, then counted), and nothing is denied
    events.wait_event("OPERATION_START_DEFERRED", "first", timeout=10.0)
    events.wait_for_count(lambda e: e.event_type == "OPERATION_START_DEFERRED", 3, timeout=10.0, what="3 deferrals")
    # the scenario's delay (the robot boots slowly), not a wait for something to settle
    threading.Event().wait(max(ROBOT_DELAY - (time.monotonic() - added), 0.0))
    assert not events.of_type("OPERATION_START_DENIED") and not events.of_type("OPERATION_DISPATCHER_PAUSED")
    deferred = event_metadata(events.of_type("OPERATION_START_DEFERRED")[-1])
    assert deferred["reason"] == "battery level unknown: no reading on battery_state yet", deferred
    assert deferred["retry_in_seconds"] <= 0.5 and deferred["not_ready_streak"] == 3 and deferred["retry_count"] == 0

    ros_processes.start("sim_robot_node", ros_namespace, dict(FAST_SIM_ROBOT_PARAMS))
    first_reading, _ = battery.wait_for(lambda _: True, 30.0, "the robot's first battery_state")
    started = events.wait_event("OPERATION_STARTED", "first", timeout=30.0)
    # From the business logic's own first reading: its subscription discovers the new robot in its own
    # time (a participant that misses the robot's first announcements waits for the next, up to 3 s
    # later: seen in CI, 2.5 s after this test's reading), and that is DDS's, not the dispatcher's.
    readings = [line for line in procs["business_logic"].log_tail(400).splitlines() if "battery_state: first reading" in line]
    assert len(readings) == 1, readings
    decided_from = float(re.search(r"\[(\d+\.\d+)\]", readings[0]).group(1))
    latency = _stamp(started) - decided_from
    print(f"\nfirst operation started {latency * 1000:.0f} ms after the business logic's first battery reading, "
          f"{(_stamp(started) - first_reading) * 1000:.0f} ms after this test's "
          f"({len(events.of_type('OPERATION_START_DEFERRED'))} deferrals before)")
    assert latency < 1.5, latency  # ~1 s promised (asked again every 0.5 s at most, then the handshake)
    assert event_metadata(started)["unrecorded_repeats"] >= 6  # asked all along, every 0.5 s at most

    for op_id in OPERATIONS:
        events.wait_event("OPERATION_COMPLETED", op_id, timeout=60.0)
    state = ros_client.call(GetDispatcherState, "get_dispatcher_state").state
    assert (state.status_name, state.consecutive_denials, state.completed_count) == ("RUNNING", 0, 3)
    assert not events.of_type("OPERATION_START_DENIED") and not events.of_type("OPERATION_DISPATCHER_PAUSED")
    assert not events.of_type("OPERATION_DISPATCHER_RESUMED")  # nobody called resume
    for op_id in OPERATIONS:
        status = ros_client.call(GetOperation, "get_operation", operation_id=op_id).status
        assert (status.state_name, status.retry_count, status.attempts) == ("COMPLETED", 0, 1), op_id


def _stamp(event: Any) -> float:
    return event.stamp.sec + event.stamp.nanosec / 1e9
