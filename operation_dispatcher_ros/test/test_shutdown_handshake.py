"""A dispatcher stopped during a start handshake records no denial (issue 10, defect 3(b)).

Real processes: a dispatcher with an SQLite store is asking for a start and
gets SIGINT or SIGTERM meanwhile, while the business logic is

- ``slow``: a service in this test process that answers far later than the
  stop (the dispatcher waits for the answer), or
- ``absent``: not running yet (the dispatcher waits for the service to
  appear, checking the graph; once rclpy has shut the context down, that
  check raises RCLError "context is invalid", which the dispatcher used to
  record as a denial).

rclpy shuts the context down first, so the handshake in flight fails; that
is no verdict of the business logic and must become neither a denial nor
the default decision (here: deny). Restarted on the same store, the
operation is QUEUED with retry_count 0 and its log holds no
OPERATION_START_DENIED.
"""

from __future__ import annotations

import json
import signal

import pytest
from lifecycle_testing import configure
from ros_testing import FAST_DISPATCHER_PARAMS, wait_until
from test_e2e_transport import transport
from test_fault_handshake import hung_business_logic  # noqa: F401 (fixture)

pytestmark = pytest.mark.ros


@pytest.mark.parametrize("business_logic", ["slow", "absent"])
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_stop_during_a_start_handshake_leaves_the_operation_queued_uncounted(
    request, bringup, ros_client, ros_processes, ros_namespace, tmp_path, sig, business_logic
):
    from operation_dispatcher_interfaces.srv import AddOperations, GetEvents, GetOperation, Handshake

    params = {
        "store_path": str(tmp_path / "dispatcher.db"),
        "handshake_timeout": 30.0,  # the handshake is still in flight when the signal comes
        "default_decision": "deny",  # a failed call turned into the default would be a denial
        "max_retries": 1,
    }
    slow = request.getfixturevalue("hung_business_logic") if business_logic == "slow" else None
    dispatcher = bringup(business_logic=None, sim_robot=None, dispatcher=params)["dispatcher"]
    events = ros_client.record_events()
    if slow is not None:
        ros_client.wait_for_service(Handshake, "handshake/start")
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("first", 0)]).success
    events.wait_event("OPERATION_START_REQUESTED", "first", timeout=15.0)
    if slow is not None:
        wait_until(lambda: "first" in slow.requests, 15.0, "the start handshake to reach the business logic")

    dispatcher.popen.send_signal(sig)
    code = dispatcher.popen.wait(20.0)
    print(f"\ndispatcher exited {code} after {sig.name} during the handshake")
    assert code == 0, ros_processes.logs()

    ros_processes.start("dispatcher_node", ros_namespace, {**FAST_DISPATCHER_PARAMS, **params, "autostart": False})
    configure(ros_client)  # inactive: the store recovered, nothing dispatched
    for srv_type, name in ((GetOperation, "get_operation"), (GetEvents, "get_events")):
        ros_client.wait_for_service(srv_type, name, 20.0)  # a new server: warm the clients anew
    status = ros_client.call(GetOperation, "get_operation", operation_id="first").status
    assert (status.state_name, status.retry_count, status.attempts) == ("QUEUED", 0, 0)
    trail = ros_client.call(GetEvents, "get_events", operation_id="first").events
    types = [e.event_type for e in trail]
    print(f"events of the operation after the restart: {types}")
    assert "OPERATION_START_REQUESTED" in types and "OPERATION_START_DENIED" not in types, types
    assert "OPERATION_STARTED" not in types, types
    for event in trail:  # a deferral, if one was recorded, says why and counted nothing
        if event.event_type == "OPERATION_START_DEFERRED":
            meta = json.loads(event.metadata_json)
            assert meta["data"]["shutdown"] is True and meta["retry_count"] == 0, meta
