"""The dispatcher as a managed node, with real processes and the lifecycle_msgs services.

- ``autostart: false`` leaves it unconfigured (the store file not even opened);
  configure makes it inactive (every service answers, nothing dispatched),
  activate dispatches; deactivate mid-queue lets the operation on the robot
  finish and starts nothing new (the loop STOPPED, the queue kept, reads and
  adds answered, ``dispatcher/start`` refused); activate again runs the rest;
  shutdown ends the process with status 0.
- A configure that cannot open the store (held by another dispatcher) fails
  with the reason in the log; the node stays unconfigured and configures
  once the store is free.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from lifecycle_testing import activate, change_state, configure, get_state
from ros_testing import FAST_DISPATCHER_PARAMS, wait_until
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

ROBOT_SPEED = 1.0
"""Slow enough (about 1.5 s per transport) that a deactivate lands while operations are queued."""
IDS = ["op-1", "op-2", "op-3", "op-4"]


def _states(client: Any) -> dict[str, str]:
    from operation_dispatcher_interfaces.srv import ListOperations

    listed = client.call(ListOperations, "list_operations", state="")
    assert listed.success, listed.message
    return {s.operation.id: s.state_name for s in listed.operations}


def test_unconfigured_until_told_then_deactivate_keeps_the_queue_and_activate_finishes_it(
    bringup: Any, ros_processes: Any, ros_client: Any, ros_namespace: str, tmp_path: Path
) -> None:
    from operation_dispatcher_interfaces.srv import AddOperations, DispatcherCommand, GetDispatcherState

    store = tmp_path / "lifecycle.db"
    bringup(dispatcher=None, sim_robot={"speed": ROBOT_SPEED})
    params = {**FAST_DISPATCHER_PARAMS, "store_path": str(store), "autostart": False}
    dispatcher = ros_processes.start("dispatcher_node", ros_namespace, params)

    assert get_state(ros_client) == "unconfigured"
    assert not store.exists(), "an unconfigured dispatcher opened (and locked) its store"
    configure(ros_client)
    assert get_state(ros_client) == "inactive"
    ros_client.wait_for_service(AddOperations, "add_operations")
    events = ros_client.record_events()
    added = ros_client.call(AddOperations, "add_operations", operations=[transport(i, 10 - n) for n, i in enumerate(IDS)])
    assert added.success, added.message
    assert ros_client.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "STOPPED"

    activate(ros_client)
    events.wait_event("OPERATION_COMPLETED", "op-1", timeout=60.0)
    assert change_state(ros_client, "deactivate")
    assert get_state(ros_client) == "inactive"
    events.wait_event("OPERATION_DISPATCHER_STOPPED", timeout=10.0)  # after any STARTED of the loop's last step
    started = [e.operation_id for e in events.of_type("OPERATION_STARTED")]
    assert started[0] == "op-1" and len(started) <= 2, started  # op-2 may have started before the deactivate
    for op_id in started:  # the one on the robot finishes
        events.wait_event("OPERATION_COMPLETED", op_id, timeout=60.0)

    # inactive: reads answer, an add queues, the loop stays stopped and nothing new starts
    late = ros_client.call(AddOperations, "add_operations", operations=[transport("op-5", 0)])
    assert late.success, late.message
    refused = ros_client.call(DispatcherCommand, "dispatcher/start")
    assert not refused.success and refused.error_code == DispatcherCommand.Response.INVALID_STATE
    assert "inactive" in refused.message
    state = ros_client.call(GetDispatcherState, "get_dispatcher_state").state
    assert state.status_name == "STOPPED" and state.queue_length == len(IDS) + 1 - len(started), state
    assert [e.operation_id for e in events.of_type("OPERATION_STARTED")] == started
    queued = {i for i, s in _states(ros_client).items() if s == "QUEUED"}
    assert queued == {*IDS, "op-5"} - set(started)

    activate(ros_client)
    for op_id in sorted(queued):
        events.wait_event("OPERATION_COMPLETED", op_id, timeout=60.0)
    assert set(_states(ros_client).values()) == {"COMPLETED"}

    assert change_state(ros_client, "shutdown")
    assert dispatcher.popen.wait(30.0) == 0
    assert "finalized" in dispatcher.log_tail()


def test_configure_fails_while_another_dispatcher_holds_the_store_then_succeeds_once_free(
    ros_processes: Any, ros_client: Any, ros_namespace: str, tmp_path: Path
) -> None:
    from operation_dispatcher_interfaces.srv import GetDispatcherState

    store = str(tmp_path / "shared.db")
    holder = ros_processes.start("dispatcher_node", f"{ros_namespace}_holder", {"store_path": store})
    ros_client.wait_for_service(GetDispatcherState, f"/{ros_namespace}_holder/get_dispatcher_state", 30.0)  # configured: store held
    waiting = ros_processes.start("dispatcher_node", ros_namespace, {"store_path": store, "autostart": False})

    assert get_state(ros_client) == "unconfigured"
    assert not change_state(ros_client, "configure")
    assert get_state(ros_client) == "unconfigured"
    wait_until(lambda: "configure failed: store_path:" in waiting.log_tail(), 10.0, "the reason in the log")
    assert f"{store} is in use by another dispatcher process" in waiting.log_tail()

    assert holder.stop() == 0
    configure(ros_client)
    assert get_state(ros_client) == "inactive"
    ros_client.wait_for_service(GetDispatcherState, "get_dispatcher_state")
    assert ros_client.call(GetDispatcherState, "get_dispatcher_state").state.status_name == "STOPPED"
    assert change_state(ros_client, "shutdown")
    assert waiting.popen.wait(30.0) == 0
