"""Faults on the business-logic side, with real processes: the handshake
service is there but hangs.

The business logic here is a real rclpy service in the test process whose
callback hangs far longer than the dispatcher's ``handshake_timeout``. The
dispatcher must apply ``default_decision`` after the timeout, say so in the
event, keep serving its own services meanwhile, and dispatch normally once
the business logic answers in time again.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from ros_testing import Hold, SpunNode, event_metadata
from test_e2e_transport import transport

pytestmark = pytest.mark.ros

UNAVAILABLE = "business logic unavailable, default applied"
HANDSHAKE_TIMEOUT = 2.0  # short, yet the recovered stand-in (in this busy test process) answers well within it


class HungBusinessLogic(SpunNode):
    """Serves handshake/start on its own node and executor; every call hangs until :meth:`recover`.

    A call hangs by awaiting a Hold (its callback is a coroutine), so the one
    thread of a SingleThreadedExecutor takes every request the dispatcher
    sends, however many hang, and no MultiThreadedExecutor spins hot in this
    process next to the nodes under test (see RosClient)."""

    def __init__(self, context: Any, namespace: str) -> None:
        from rclpy.callback_groups import ReentrantCallbackGroup

        from operation_dispatcher_interfaces.srv import Handshake

        super().__init__(context, "hung_business_logic", namespace)
        self._hanging = True
        self.requests: list[str] = []
        self._hold = Hold(self.node)  # "recovered" ends every hanging call (recover, teardown)
        self.node.create_service(Handshake, "handshake/start", self._on_request, callback_group=ReentrantCallbackGroup())
        self.spin_in_background()

    async def _on_request(self, request: Any, response: Any) -> Any:
        self.requests.append(request.event.operation_id)
        if self._hanging:
            await self._hold.wait("recovered", 30.0)  # far beyond handshake_timeout: the answer comes too late, or never
        response.approved, response.reason = True, "fine by me"
        return response

    def recover(self) -> None:
        """Answer at once from now on (the hung calls return too, long after the dispatcher gave up on them)."""
        self._hanging = False
        self._hold.release("recovered")

    def close(self) -> None:
        self._hold.release("recovered")
        super().close()


@pytest.fixture
def hung_business_logic(ros_context, ros_namespace):
    server = HungBusinessLogic(ros_context, ros_namespace)
    try:
        yield server
    finally:
        server.close()


@pytest.mark.parametrize("default_decision", ["deny", "approve"])
def test_hung_business_logic_times_out_to_the_default_and_dispatch_goes_on(
    bringup, ros_client, hung_business_logic, default_decision, tmp_path
):
    from operation_dispatcher_interfaces.srv import AddOperations, GetDispatcherState, GetEvents, Handshake

    bringup(
        business_logic=None,
        dispatcher={
            "store_path": str(tmp_path / "dispatcher.db"),
            "handshake_timeout": HANDSHAKE_TIMEOUT,
            "default_decision": default_decision,
            "cooldown_seconds": 0.2,
            "max_retries": 1000,
        },
    )
    ros_client.wait_for_service(Handshake, "handshake/start")
    events = ros_client.record_events()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("first", 0)]).success

    if default_decision == "deny":
        decided = events.wait_event("OPERATION_START_DENIED", "first", timeout=10.0)
    else:
        decided = events.wait_event("OPERATION_STARTED", "first", timeout=10.0)
    meta = event_metadata(decided)
    detail = f"no answer from handshake/start within {HANDSHAKE_TIMEOUT:g} s"
    if default_decision == "deny":
        assert meta["reason"] == f"{UNAVAILABLE} (deny): {detail}", meta
    assert meta["data"] == {"business_logic": UNAVAILABLE, "default_decision": default_decision, "detail": detail}
    assert hung_business_logic.requests[:1] == ["first"]  # it was asked: hung, not absent
    # the request to decide waited handshake_timeout, not the business logic's 30 s
    trail = ros_client.call(GetEvents, "get_events", operation_id="first").events
    asked = next(e for e in trail if e.event_type == "OPERATION_START_REQUESTED")
    waited = _stamp(decided) - _stamp(asked)
    assert HANDSHAKE_TIMEOUT - 0.05 <= waited <= HANDSHAKE_TIMEOUT + 1.5, waited

    # while a handshake hangs, the dispatcher's own services answer at once
    started = time.monotonic()
    assert ros_client.call(GetDispatcherState, "get_dispatcher_state", timeout=5.0).success
    assert time.monotonic() - started < 2.0

    # the business logic recovers: the next request is answered in time and dispatch goes on
    hung_business_logic.recover()
    assert ros_client.call(AddOperations, "add_operations", operations=[transport("second", 0)]).success
    events.wait_event("OPERATION_COMPLETED", "first", timeout=20.0)
    events.wait_event("OPERATION_COMPLETED", "second", timeout=20.0)
    approved = [e for e in ros_client.call(GetEvents, "get_events", operation_id="second").events if e.event_type == "OPERATION_STARTED"]
    assert event_metadata(approved[0]).get("data") in (None, {}), "answered by the business logic, not the default"


def _stamp(event: Any) -> float:
    return event.stamp.sec + event.stamp.nanosec / 1e9
