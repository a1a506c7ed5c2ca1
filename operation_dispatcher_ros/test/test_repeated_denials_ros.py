"""Identical denials of one operation are counted, not recorded, after the first few (issue 11,
item 7: cooldown 0 and a denying business logic gave one operation 24,686 events in 41 s), at the
ROS door with real processes: the dispatcher in its own process, the business logic a Handshake
server on the test's node that denies every start alike and counts what it is asked."""

from __future__ import annotations

import json
import threading

import pytest
from ros_testing import wait_until

from operation_dispatcher._repeats import RECORDED_REPEATS

pytestmark = pytest.mark.ros



class DenyingLogic:
    """Denies alike until ``approve``; ``asked`` counts requests (one sent again, when the first reply
    is slow, has the same event id and counts once)."""

    def __init__(self) -> None:
        self.approve = False
        self._ids: set[str] = set()
        self._lock = threading.Lock()

    @property
    def asked(self) -> int:
        with self._lock:
            return len(self._ids)

    def __call__(self, request, response):
        with self._lock:
            self._ids.add(request.event.id)
        response.approved = self.approve
        response.reason = "" if self.approve else "loading bay closed"
        return response


def test_identical_denials_are_counted_not_recorded(bringup, ros_client):
    from operation_dispatcher_interfaces.srv import Handshake

    logic = DenyingLogic()
    ros_client.node.create_service(Handshake, "handshake/start", logic)  # the node is in the namespace
    bringup(business_logic=None, sim_robot=None, dispatcher={"cooldown_seconds": 0.0, "max_retries": 100000})
    dispatcher, events = ros_client.dispatcher, ros_client.record_events()
    dispatcher.add([{"id": "job", "payload": {}}])

    wait_until(lambda: logic.asked >= 15, 30.0, "15 start requests")
    recorded = [e.event_type for e in dispatcher.get_events("job")]
    assert recorded.count("OPERATION_START_DENIED") == RECORDED_REPEATS, recorded
    assert recorded.count("OPERATION_START_REQUESTED") == RECORDED_REPEATS, recorded
    status, state = dispatcher.get("job"), dispatcher.state()
    assert status.retry_count >= 15 - 1 and state.consecutive_denials >= 15 - 1

    logic.approve = True
    started = events.wait_event("OPERATION_STARTED", "job", timeout=20.0)
    denials = logic.asked - 1
    assert json.loads(started.metadata_json)["unrecorded_repeats"] == denials - RECORDED_REPEATS
    recorded = [e.event_type for e in dispatcher.get_events("job")]
    assert recorded[-2:] == ["OPERATION_START_REQUESTED", "OPERATION_STARTED"], recorded
    assert dispatcher.get("job").retry_count == denials
