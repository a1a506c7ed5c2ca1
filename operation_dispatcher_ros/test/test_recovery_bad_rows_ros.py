"""A store with rows this version cannot load, through the ROS door (issue 11, item 1).

Reproduced before the fix: a store row whose payload is nested 250 deep
(accepted before the depth limit existed) made the restarted
``dispatcher_node`` exit 1 in recovery, and the file stayed unusable.

A real ``dispatcher_node`` writes its operations to an SQLite file (over
``add_operations``) and is stopped; the test then damages two rows with
sqlite3 directly: ``victim``'s payload nested 250 deep, ``weird``'s state
one this version does not know. The node started again on the file, as a
bring-up starts it (autostart), comes up: its services answer, it does not
exit 1. Its log names both rows, ``list_operations`` holds every other
operation (``child``, which waited for ``victim``, CANCELLED naming it),
``victim`` is NOT_FOUND, and the OPERATION_DISPATCHER_STARTED it writes
counts and names the rows set aside. The node exits 0, a second restart
finds the same, and the damaged rows are still in the file as the test
left them.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path
from typing import Any

import pytest
from ros_testing import NodeProcess, RosClient, wait_until

pytestmark = pytest.mark.ros

DEEP = 250
CAUSES = {"victim": "recursion limit", "weird": "'WAITING'"}


def _operation(op_id: str, *after: str) -> Any:
    from operation_dispatcher_interfaces.msg import Dependency, Operation

    deps = [Dependency(operation_id=a, type=Dependency.FINISH_TO_START) for a in after]
    return Operation(id=op_id, payload_json=json.dumps({"task": op_id}), dependencies=deps)


def _damage(store: Path) -> dict[str, tuple[Any, ...]]:
    """victim's payload 250 deep, weird's state unknown; returns the damaged rows as the file holds them."""
    deep: dict[str, Any] = {}
    for _ in range(DEEP - 1):
        deep = {"a": deep}
    conn = sqlite3.connect(store)
    try:
        with conn:
            (body,) = conn.execute("SELECT body FROM operations WHERE id = 'victim'").fetchone()
            conn.execute("UPDATE operations SET body = ? WHERE id = 'victim'", (json.dumps({**json.loads(body), "payload": deep}),))
            conn.execute("UPDATE executions SET body = json_set(body, '$.state', 'WAITING') WHERE operation_id = 'weird'")
    finally:
        conn.close()
    return _rows(store)


def _rows(store: Path) -> dict[str, tuple[Any, ...]]:
    """The two damaged rows, as the file holds them."""
    conn = sqlite3.connect(store)
    try:
        return {
            "victim": conn.execute("SELECT * FROM operations WHERE id = 'victim'").fetchone(),
            "weird": conn.execute("SELECT * FROM executions WHERE operation_id = 'weird'").fetchone(),
        }
    finally:
        conn.close()


def _serving(client: RosClient, proc: NodeProcess, timeout: float = 30.0) -> None:
    """Until the (re)started node answers a query; fails at once if the node exited meanwhile."""
    from operation_dispatcher_interfaces.srv import GetDispatcherState

    deadline = time.monotonic() + timeout
    while True:
        assert proc.alive(), f"the dispatcher exited with {proc.popen.returncode}:\n{proc.log_tail()}"
        try:
            client.call(GetDispatcherState, "get_dispatcher_state", timeout=2.0)
            return
        except AssertionError:
            if time.monotonic() > deadline:
                raise


def _wait_log(proc: NodeProcess, words: list[str], timeout: float = 10.0) -> str:
    """The node's log once it holds a line with all of ``words`` (stderr is written as it comes)."""
    deadline = time.monotonic() + timeout
    while True:
        text = proc.log_path.read_text(errors="replace")
        if any(all(w in line for w in words) for line in text.splitlines()):
            return text
        assert time.monotonic() < deadline, f"no log line with {words}:\n{proc.log_tail()}"
        time.sleep(0.05)


def _check_recovered(client: RosClient, proc: NodeProcess) -> None:
    from operation_dispatcher_interfaces.srv import GetOperation, ListOperations

    for op_id, cause in CAUSES.items():
        _wait_log(proc, ["set aside", repr(op_id), cause])
    listed = client.call(ListOperations, "list_operations", state="")
    assert listed.success, listed.message
    states = {s.operation.id: s.state_name for s in listed.operations}
    assert states == {"good-1": "QUEUED", "good-2": "QUEUED", "child": "CANCELLED"}
    child = next(s for s in listed.operations if s.operation.id == "child")
    assert "'victim' was set aside at recovery" in child.termination_reason
    missing = client.call(GetOperation, "get_operation", operation_id="victim")
    assert not missing.success and missing.error_code == GetOperation.Response.NOT_FOUND


def _starts(store: Path) -> list[dict[str, Any]]:
    """The metadata of every OPERATION_DISPATCHER_STARTED in the file, oldest first (read with a
    connection of the test's own: the node's store holds a lock file, not the database)."""
    conn = sqlite3.connect(store)
    try:
        rows = conn.execute(
            "SELECT json_extract(body, '$.metadata') FROM events "
            "WHERE json_extract(body, '$.event_type') = 'OPERATION_DISPATCHER_STARTED' ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    return [json.loads(metadata) for (metadata,) in rows]


def test_a_node_on_a_store_with_unloadable_rows_comes_up_names_them_and_keeps_them(
    bringup, ros_client, ros_processes, ros_context, ros_namespace, tmp_path
):
    from operation_dispatcher_interfaces.srv import AddOperations

    store = tmp_path / "dispatcher.db"
    params = {"store_path": str(store), "resource_id": ros_namespace}
    procs = bringup(dispatcher={**params, "autostart": False}, business_logic=None, sim_robot=None)
    added = ros_client.call(
        AddOperations, "add_operations",
        operations=[_operation("good-1"), _operation("victim"), _operation("child", "victim"), _operation("weird"), _operation("good-2")],
    )  # fmt: skip
    assert added.success, added.message
    assert procs["dispatcher"].stop() == 0
    damaged = _damage(store)

    for restart in range(2):
        # A namespace of its own (the resource and the file stay): the stopped node lingers on the
        # graph for a while, and its stale entry would answer the graph queries that warm clients.
        # Started as a robot's bring-up starts it (autostart): no business logic, so it denies
        # whatever it asks to start, and good-1 stays queued.
        namespace = f"{ros_namespace}_restart{restart}"
        proc = ros_processes.start("dispatcher_node", namespace, {**params, "max_retries": 1000})
        client = RosClient(ros_context, name="recovery_check", namespace=namespace)
        try:
            _serving(client, proc)
            _check_recovered(client, proc)
            from diagnostic_msgs.msg import DiagnosticStatus

            status = client.diagnostic_status(f"/{namespace}/dispatcher", "recovery_skipped", "2")
            assert status.level == DiagnosticStatus.WARN and "2 store row(s) set aside" in status.message, status
            # The events topic keeps no history and the node starts the moment it is up: its start is read from the file.
            started = wait_until(lambda n=restart: _starts(store)[n:], 20.0, "the restarted node's OPERATION_DISPATCHER_STARTED")[0]
        finally:
            client.close()
        assert proc.stop() == 0, proc.log_tail()
        assert started["recovery_skipped"] == 2
        assert {(r["table"], r["row_id"]) for r in started["recovery_skipped_rows"]} == {("operations", i) for i in CAUSES}
        assert _rows(store) == damaged  # left as the test left them
