"""Paged listings at the ROS door (issue 13): ListOperations' limit / cursor / next_cursor / total.

A real dispatcher node (configured, inactive: adds queue, nothing starts)
and the reference business logic approving every cancel. The test pages
through QUEUED over ``list_operations`` and, between its pages, adds more
operations at every priority and cancels queued ones, seen and not yet
seen: every operation that stays queued throughout is on exactly one page,
none is on two. ``limit`` 0 without a cursor is still the whole listing in
one answer, as before paging existed.
"""

from __future__ import annotations

import random

import pytest

pytestmark = pytest.mark.ros


def test_pages_of_the_queue_see_each_operation_that_stays_once_while_others_come_and_go(bringup, ros_client):
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, ListOperations, OperationCommand

    bringup(sim_robot=None, business_logic={"rule": "approve_all"}, dispatcher={"autostart": False})
    rng = random.Random(7)
    for b in range(4):
        batch = [Operation(id=f"op-{b}-{i:02d}", priority=rng.randrange(3)) for i in range(100)]
        assert ros_client.call(AddOperations, "add_operations", operations=batch, timeout=30.0).success

    def listing(**fields):  # type: ignore[no-untyped-def]
        response = ros_client.call(ListOperations, "list_operations", timeout=15.0, **fields)
        assert response.success, response.message
        return response

    whole = listing()
    assert len(whole.operations) == whole.total == 400 and whole.next_cursor == ""
    stayed = {s.operation.id for s in whole.operations}

    seen: list[str] = []
    cursor, added, pages = "", 0, 0
    while True:
        page = listing(state="QUEUED", limit=25, cursor=cursor)
        assert len(page.operations) <= 25 and page.total == 400 + added - (400 - len(stayed))
        assert all(s.state_name == "QUEUED" for s in page.operations)
        seen += [s.operation.id for s in page.operations]
        pages += 1
        if not page.next_cursor:
            break
        cursor = page.next_cursor
        more = [Operation(id=f"new-{added + k}", priority=rng.randrange(3)) for k in range(4)]
        assert ros_client.call(AddOperations, "add_operations", operations=more).success
        added += 4
        for gone in rng.sample(sorted(stayed), 2):
            cancelled = ros_client.call(OperationCommand, "cancel_operation", operation_id=gone, timeout=15.0)
            assert cancelled.success, cancelled.message
            stayed.discard(gone)
    assert pages >= 16
    assert len(seen) == len(set(seen)), "an operation is on two pages"
    assert stayed <= set(seen), sorted(stayed - set(seen))[:5]

    refused = ros_client.call(ListOperations, "list_operations", state="COMPLETED", limit=5, cursor=listing(state="QUEUED", limit=5).next_cursor)
    assert not refused.success and refused.error_code == refused.VALIDATION and "cursor" in refused.message


def test_one_operations_events_page_with_after_sequence_and_limit(bringup, ros_client):
    """GetEvents pages like GetEventLog: after_sequence and limit; limit 0 is all of them, as before."""
    from operation_dispatcher_interfaces.msg import Operation
    from operation_dispatcher_interfaces.srv import AddOperations, GetEvents, OperationCommand

    bringup(sim_robot=None, business_logic={"rule": "approve_all"}, dispatcher={"autostart": False})
    assert ros_client.call(AddOperations, "add_operations", operations=[Operation(id="x")]).success
    cancelled = ros_client.call(OperationCommand, "cancel_operation", operation_id="x", reason="withdrawn", timeout=30.0)
    assert cancelled.success, cancelled.message

    def events(**fields):  # type: ignore[no-untyped-def]
        response = ros_client.call(GetEvents, "get_events", operation_id="x", **fields)
        assert response.success, response.message
        return [(e.event_type, e.sequence) for e in response.events]

    whole = events()
    assert [t for t, _ in whole] == ["OPERATION_ADDED", "OPERATION_CANCEL_REQUESTED", "OPERATION_CANCELLED"], whole
    paged, after = [], 0
    while page := events(after_sequence=after, limit=1):
        paged += page
        after = page[-1][1]
    assert paged == whole
    refused = ros_client.call(GetEvents, "get_events", operation_id="x", limit=GetEvents.Request.LIMIT_MAX + 1)
    assert not refused.success and refused.error_code == GetEvents.Response.VALIDATION and "limit" in refused.message
