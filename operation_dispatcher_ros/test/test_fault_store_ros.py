"""A store that cannot write, through the ROS door: STORAGE, nothing changed, then the same add succeeds.

A real ``dispatcher_node`` process keeps its operations in an SQLite file.
The test takes that file's write lock with its own sqlite3 connection
(``BEGIN IMMEDIATE``) and holds it past the node's ``store_busy_timeout``:
an add must then answer success=false, error_code STORAGE and a message
naming SQLite's own cause, and leave nothing behind (not in memory, not in
the file). Once the lock is gone the same add succeeds, and a restart on
the file still has it.
"""

from __future__ import annotations

import sqlite3
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
        refused = ros_client.call(AddOperations, "add_operations", operations=[transport("blocked", 0)], timeout=BUSY_TIMEOUT + 10.0)
        assert not refused.success
        assert refused.error_code == AddOperations.Response.STORAGE, (refused.error_code, refused.message)
        assert "database is locked" in refused.message, refused.message  # SQLite's own cause, not a cover story
        assert list(refused.operation_ids) == [] and list(refused.already_present) == []
        assert _ids(ros_client) == ["before"]  # nothing changed in memory
    finally:
        blocker.rollback()
        blocker.close()
    assert _stored_ids(store) == ["before"]  # nor in the file

    again = ros_client.call(AddOperations, "add_operations", operations=[transport("blocked", 0)])
    assert again.success, again.message
    assert list(again.operation_ids) == ["blocked"] and list(again.already_present) == [False]

    assert procs["dispatcher"].stop() == 0
    bringup(dispatcher=params, business_logic=None, sim_robot=None)  # a new node on the same file
    ros_client.wait_for_service(ListOperations, "list_operations")  # a new server: match the client anew
    assert _ids(ros_client) == ["before", "blocked"]


def _stored_ids(store: Path) -> list[str]:
    """The operation ids in the file, read by a connection of the test's own."""
    connection = sqlite3.connect(store)
    try:
        return [row[0] for row in connection.execute("SELECT id FROM operations ORDER BY id")]
    finally:
        connection.close()
