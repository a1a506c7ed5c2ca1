"""A store that cannot write, through the ROS door: STORAGE, nothing changed, then the same add succeeds.

A real ``dispatcher_node`` process keeps its operations in an SQLite file.
The test takes that file's write lock with its own sqlite3 connection
(``BEGIN IMMEDIATE``) and holds it past the node's ``store_busy_timeout``:
an add must then answer success=false, error_code STORAGE and a message
naming SQLite's own cause, and leave nothing behind (not in memory, not in
the file). Once the lock is gone the same add succeeds, and a restart on
the file still has it. A robot result that arrives while the file is locked
is reported again until the store takes it.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.ros

BUSY_TIMEOUT = 0.5


def _ids(ros_client: Any) -> list[str]:
    from operation_dispatcher_interfaces.srv import ListOperations

    listed = ros_client.call(ListOperations, "list_operations", state="")
    assert listed.success, listed.message
    return [s.operation.id for s in listed.operations]


def test_add_answers_storage_while_the_file_is_locked_then_succeeds_and_survives_a_restart(bringup, ros_client, tmp_path):
    from test_e2e_transport import transport

    from operation_dispatcher_interfaces.srv import AddOperations, ListOperations

    store = tmp_path / "dispatcher.db"
    params = {"store_path": str(store), "store_busy_timeout": BUSY_TIMEOUT, "autostart": False}
    procs = bringup(dispatcher=params, business_logic=None, sim_robot=None)
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("before", 0)]).success

    blocker = sqlite3.connect(store, timeout=0, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")  # the write lock, held past the node's busy timeout
        batch = [transport("blocked", 0), transport("plain", 0)]  # a batch is one change: none of it, or all
        refused = ros_client.call(AddOperations, "add_operations", operations=batch, timeout=BUSY_TIMEOUT + 10.0)
        assert not refused.success
        assert refused.error_code == AddOperations.Response.STORAGE, (refused.error_code, refused.message)
        assert "database is locked" in refused.message, refused.message  # SQLite's own cause, not a cover story
        assert list(refused.operation_ids) == [] and list(refused.already_present) == []
        assert _ids(ros_client) == ["before"]  # nothing changed in memory
    finally:
        blocker.rollback()
        blocker.close()
    assert _stored_ids(store) == ["before"]  # nor in the file

    again = ros_client.call(AddOperations, "add_operations", operations=[transport("blocked", 0), transport("plain", 0)])
    assert again.success, again.message
    assert list(again.operation_ids) == ["blocked", "plain"] and list(again.already_present) == [False, False]

    assert procs["dispatcher"].stop() == 0
    bringup(dispatcher=params, business_logic=None, sim_robot=None)  # a new node on the same file
    ros_client.wait_for_service(ListOperations, "list_operations")  # a new server: match the client anew
    assert _ids(ros_client) == ["before", "blocked", "plain"]


def _stored_ids(store: Path) -> list[str]:
    """The operation ids in the file, read by a connection of the test's own."""
    connection = sqlite3.connect(store)
    try:
        return [row[0] for row in connection.execute("SELECT id FROM operations ORDER BY id")]
    finally:
        connection.close()


FAULT_SECONDS = 1.0
"""How long the store stays locked after the robot has finished: the fault being tested, not a settling wait."""


def test_a_result_the_store_refused_is_reported_again_once_it_writes(bringup, ros_client, ros_processes, ros_namespace, tmp_path):
    """The robot finishes while the file is locked: the fact is not dropped. Once the lock is gone the
    operation is COMPLETED (not left RUNNING with an idle robot) and only then does the next one start."""
    from stand_in_robot import ROBOT_LOG_QOS
    from std_msgs.msg import String
    from test_e2e_transport import transport
    from test_fault_late_accept import ROBOT_SCRIPT, RobotLog

    from operation_dispatcher_interfaces.action import ExecuteOperation
    from operation_dispatcher_interfaces.srv import AddOperations, GetOperation

    ros_processes.start_script(ROBOT_SCRIPT, ros_namespace, {"accept_delay": 0.0, "duration": 2.0})
    log = ros_client.record(String, "robot_log", ROBOT_LOG_QOS, RobotLog())
    ros_client.wait_for_action_server(ExecuteOperation, "execute_operation", 40.0)
    store = tmp_path / "dispatcher.db"
    params = {"store_path": str(store), "store_busy_timeout": 0.3, "robot_timeout": 0.0}
    bringup(dispatcher=params, business_logic={"rule": "approve_all"}, sim_robot=None)
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("first", 5), transport("second", 0)]).success
    log.wait_step("executing", "first")

    blocker = sqlite3.connect(store, timeout=5.0, isolation_level=None)
    try:
        blocker.execute("BEGIN IMMEDIATE")
        log.wait_step("succeeded", "first")
        deadline = time.monotonic() + FAULT_SECONDS
        while time.monotonic() < deadline:  # the whole fault: the first stays RUNNING, nothing else starts
            status = ros_client.call(GetOperation, "get_operation", operation_id="first").status
            assert status.state_name == "RUNNING", status
            assert "OPERATION_STARTED" not in events.types_for("second")
    finally:
        blocker.rollback()
        blocker.close()

    completed = events.wait_event("OPERATION_COMPLETED", "first", timeout=15.0)
    started = events.wait_event("OPERATION_STARTED", "second", timeout=15.0)
    assert _seconds(started.stamp) >= _seconds(completed.stamp)
    assert _stored_state(store, "first") == "COMPLETED"


def _seconds(stamp: Any) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def _stored_state(store: Path, operation_id: str) -> str:
    connection = sqlite3.connect(store)
    try:
        (body,) = connection.execute("SELECT body FROM executions WHERE operation_id = ?", (operation_id,)).fetchone()
        return json.loads(body)["state"]
    finally:
        connection.close()
