"""The event log at the REST and MCP doors (issue 13): the same pages as the core's ``events_after``.

A real uvicorn server on loopback, the MCP SDK's own client over streamable
HTTP. A reader pages from 0 while operations keep being added and finished
(the loop runs): it ends with every event exactly once, in order, the same
as the dispatcher's own log.
"""

from __future__ import annotations

import threading

import doors_testing
from doors_testing import op, wait_until
from mcp import Client
from test_mcp_server import structured, tool_error

start_server = doors_testing.start_server  # the fixture, shared by the door tests


def read_all_rest(http, limit: int) -> list[dict]:  # type: ignore[no-untyped-def]
    events, after = [], 0
    while True:
        page = http.get("/events/log", params={"after": after, "limit": limit})
        assert page.status_code == 200, page.text
        body = page.json()
        assert set(body) == {"events", "next_after", "last_sequence"}
        events += body["events"]
        if body["next_after"] >= body["last_sequence"]:
            return events
        after = body["next_after"]


def test_rest_pages_give_every_event_once_in_order_while_work_goes_on(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server()
    d = live.dispatcher
    adding_done = threading.Event()

    def add_and_finish() -> None:
        for i in range(40):
            d.add(op(f"op-{i}"))
            wait_until(lambda i=i: d.get(f"op-{i}").execution.state.value == "RUNNING", what=f"op-{i} to start")
            d.complete(f"op-{i}")
        adding_done.set()

    worker = threading.Thread(target=add_and_finish)
    with live.client() as http:
        worker.start()
        read_while_busy = read_all_rest(http, limit=3)
        worker.join(30)
        assert adding_done.is_set()
        final = read_all_rest(http, limit=1000)
        first = http.get("/events/log", params={"after": 5, "limit": 2}).json()
    numbers = [e["sequence"] for e in final]
    assert numbers == list(range(1, len(numbers) + 1)), numbers
    assert final[: len(read_while_busy)] == read_while_busy  # what was read while busy is the log's start, as it stays
    assert [e["id"] for e in final] == [e.id for e in d.events_after(0, 1000).events]
    assert [e["sequence"] for e in first["events"]] == [6, 7] and first["next_after"] == 7


def test_rest_refuses_a_bad_after_naming_it(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    with live.client() as http:
        for params, field in (({"after": -1}, "after"), ({"after": "x"}, "after"), ({"limit": 0}, "limit"), ({"limit": 1001}, "limit")):
            refused = http.get("/events/log", params=params)
            assert refused.status_code == 422, (params, refused.text)
            assert refused.json()["error"]["details"]["field"] == field, refused.json()
        assert http.get("/events/log").json() == {"events": [], "next_after": 0, "last_sequence": 0}


async def test_mcp_reads_the_log_a_small_page_at_a_time(start_server) -> None:  # type: ignore[no-untyped-def]
    live = start_server(run_dispatcher=False)
    live.dispatcher.add([op(f"op-{i}") for i in range(60)])
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        page = structured(await client.call_tool("get_event_log", {}))
        assert len(page["events"]) == 50 and (page["next_after"], page["last_sequence"]) == (50, 60)  # an agent's page
        rest = structured(await client.call_tool("get_event_log", {"after": page["next_after"]}))
        assert [e["sequence"] for e in rest["events"]] == list(range(51, 61))
        for bad in ({"after": -1}, {"after": True}, {"after": "3"}, {"limit": 0}):
            refused = tool_error(await client.call_tool("get_event_log", bad))
            assert refused["code"] == "VALIDATION" and refused["details"]["field"] == next(iter(bad)), (bad, refused)


async def test_one_operations_events_page_at_rest_and_mcp_as_in_the_core(start_server) -> None:  # type: ignore[no-untyped-def]
    """``after`` and ``limit`` reach the core's ``events`` (whose paging test_event_log.py checks);
    a bad one is refused naming it; without them REST lists all of them, as the seed does."""
    live = start_server(run_dispatcher=False)
    live.dispatcher.add([op("a"), op("b")])
    live.dispatcher.pause("hold")  # a dispatcher event: not one of a's
    with live.client() as http:
        whole = http.get("/operations/a/events").json()
        assert [e["event_type"] for e in whole] == ["OPERATION_ADDED"]
        assert http.get("/operations/a/events", params={"limit": 1}).json() == whole
        assert http.get("/operations/a/events", params={"after": whole[0]["sequence"]}).json() == []
        for params, field in (({"after": -1}, "after"), ({"limit": 0}, "limit"), ({"limit": 1001}, "limit")):
            refused = http.get("/operations/a/events", params=params)
            assert refused.status_code == 422 and refused.json()["error"]["details"]["field"] == field, (params, refused.text)
    async with Client(f"{live.url}/mcp", read_timeout_seconds=20) as client:
        events = structured(await client.call_tool("get_operation_events", {"operation_id": "a"}))
        assert [e["sequence"] for e in events] == [e["sequence"] for e in whole]
        later = structured(await client.call_tool("get_operation_events", {"operation_id": "a", "after": whole[0]["sequence"]}))
        assert later == []
        refused = tool_error(await client.call_tool("get_operation_events", {"operation_id": "a", "limit": 0}))
        assert refused["code"] == "VALIDATION" and refused["details"]["field"] == "limit", refused
