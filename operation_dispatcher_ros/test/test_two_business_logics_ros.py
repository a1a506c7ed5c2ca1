"""Two business logics serving one handshake service (issue 11, item 6): each got every request and
the first reply won, silently (20 starts went through after 9 denials). Now the dispatcher sees more
than one server on the graph and decides nothing on a split answer: it warns and records the start as
not ready (OPERATION_START_DEFERRED naming the count; never a denial, so a respawned business logic
beside its killed one's stale graph entry cannot make the dispatcher pause itself); once one of the
two is gone, the one left decides.

Real processes: dispatcher, an approving and a denying business logic in one namespace.
"""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.ros


def test_two_servers_on_one_handshake_service_decide_nothing(bringup, ros_client, ros_processes, ros_namespace):
    from ros_testing import FAST_BUSINESS_LOGIC_PARAMS, wait_until

    procs = bringup(sim_robot=None, business_logic={"rule": "approve_all"},
                    dispatcher={"default_decision": "deny", "max_retries": 1})
    second = ros_processes.start("business_logic_node", ros_namespace,
                                 {**FAST_BUSINESS_LOGIC_PARAMS, "rule": "deny_first_n", "deny_count": 1000},
                                 node_name="business_logic_2")
    wait_until(lambda: ros_client.node.count_services("handshake/start") == 2, 20.0, "two handshake servers")
    # ... and the dispatcher's own graph shows both (discovery reaches each process in its own time): it says so
    split = ros_client.diagnostic_status(f"/{ros_namespace}/dispatcher", "business_logic_servers", "2")
    assert "2 business logics serve" in split.message, split.message
    events = ros_client.record_events()
    dispatcher = ros_client.dispatcher
    dispatcher.add([{"id": "split", "payload": {}}])
    deferred = events.wait_event("OPERATION_START_DEFERRED", "split", timeout=30.0)
    metadata = json.loads(deferred.metadata_json)
    assert "2 business logics serve" in metadata["reason"] and metadata["data"]["servers"] == 2
    assert "2 business logics serve" in procs["dispatcher"].log_tail(400)
    assert not events.of_type("OPERATION_START_DENIED") and not events.of_type("OPERATION_STARTED")

    second.stop()  # the approving one is left: it decides again
    dispatcher.wait_for("split", "RUNNING", timeout=60.0)
    assert dispatcher.get("split").retry_count == 0 and dispatcher.state().status_name == "RUNNING"

